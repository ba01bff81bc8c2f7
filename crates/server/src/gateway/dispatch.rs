//! From a received WebSocket message to the handler of its frame.
//!
//! A message is decoded (binary only; the protocol has no text frames), bounded and checked
//! before anything acts on it: a frame that does not decode gets a `Malformed` error and the
//! session goes on, until [`MAX_MALFORMED`] of them close it. Before sign-in only
//! `Authenticate` is served. Each frame kind's handler lives with its domain (`sign_in`,
//! `chats`, `messages`, `sync`, `receipts`, `presence`, `blocking`, `keys`); this file only
//! routes.
//!
//! Every request runs boxed, in a box as large as its own handler needs: the session's future
//! is held by each connection while its request waits for storage, and a surge of sign-ups
//! has thousands waiting at once (the peak heap is what the process keeps afterwards).

use crate::websocket::{Message, close_code};
use merpati_protocol::{
    ClientFrame, DecodeError, ErrorCode, MAX_FRAME_BYTES, Member, RequestId, ServerFrame,
};
use tokio::time::Instant;

use super::session::{Flow, Gone, HeldSend, Session};
use super::socket::FrameSocket;
use crate::Error;
use crate::storage::{Position, Refers};

/// Malformed frames tolerated in one session; the last one closes it.
const MAX_MALFORMED: u32 = 10;

/// The least time between two `Ping`s answered on a connection.
const PONG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The request id a client frame carries, if any.
fn request_of(frame: &ClientFrame) -> Option<RequestId> {
    match frame {
        ClientFrame::CreateChat { request, .. }
        | ClientFrame::AddMember { request, .. }
        | ClientFrame::QueryKeys { request, .. }
        | ClientFrame::ClaimKeys { request, .. }
        | ClientFrame::SendToDevice { request, .. }
        | ClientFrame::PutBackup { request, .. }
        | ClientFrame::FetchBackup { request, .. }
        | ClientFrame::RemoveMember { request, .. }
        | ClientFrame::RenameGroup { request, .. }
        | ClientFrame::SetAdmin { request, .. }
        | ClientFrame::SetBlocked { request, .. }
        | ClientFrame::ListSessions { request }
        | ClientFrame::EndSession { request, .. } => Some(*request),
        ClientFrame::Authenticate { .. }
        | ClientFrame::Send { .. }
        | ClientFrame::Sync { .. }
        | ClientFrame::Fetch { .. }
        | ClientFrame::History { .. }
        | ClientFrame::MarkRead { .. }
        | ClientFrame::Logout
        | ClientFrame::PublishKeys { .. }
        | ClientFrame::ToDeviceDone { .. }
        | ClientFrame::MarkDelivered { .. }
        | ClientFrame::Typing { .. }
        | ClientFrame::WatchPresence { .. }
        | ClientFrame::SetPrivacy { .. }
        | ClientFrame::SendDeletion { .. }
        | ClientFrame::LookUpSalt { .. }
        | ClientFrame::Ping => None,
    }
}

impl<S: FrameSocket> Session<S> {
    /// Runs a received message's handler in a box as large as that handler needs.
    pub(super) async fn on_message(&mut self, message: Message) -> Result<Flow, Gone> {
        match message {
            Message::Binary(bytes) => match merpati_protocol::decode::<ClientFrame>(&bytes) {
                Ok(frame) => Box::pin(self.on_frame(frame)).await,
                Err(DecodeError::TooLarge(_)) => Box::pin(self.too_large()).await,
                Err(DecodeError::Malformed(error)) => {
                    Box::pin(self.malformed(format!("cannot decode the frame: {error}"))).await
                }
            },
            Message::Text(_) => {
                Box::pin(
                    self.malformed("text frames are not part of the protocol; send binary".into()),
                )
                .await
            }
            Message::Ping(_) | Message::Pong(_) => Ok(Flow::Continue),
            // The WebSocket layer answers a Close by itself; the next receive ends the stream.
            Message::Close(_) => Ok(Flow::Continue),
        }
    }

    /// Hands a decoded frame to its handler, boxed (see the module documentation).
    async fn on_frame(&mut self, frame: ClientFrame) -> Result<Flow, Gone> {
        let Some(me) = self.member().cloned() else {
            return match frame {
                ClientFrame::Authenticate { version, method } => {
                    Box::pin(self.authenticate(version, method)).await
                }
                ClientFrame::LookUpSalt { username } => Box::pin(self.look_up_salt(username)).await,
                other => {
                    let request = request_of(&other);
                    Box::pin(self.refuse(request, ErrorCode::NotAuthenticated, "sign in first"))
                        .await
                }
            };
        };
        let request = request_of(&frame);
        if let Some(flow) = Box::pin(self.charge(&me, &frame, request)).await? {
            return Ok(flow);
        }
        // A message is charged where it is queued (`append_message`): a resend gets it back.
        if let Err(refusal) = self.gateway.quotas.take_stored(me.id, &frame) {
            return Box::pin(self.refuse(request, refusal.code(), refusal.client_detail())).await;
        }
        match frame {
            ClientFrame::Authenticate { .. } => {
                Box::pin(self.refuse(None, ErrorCode::Malformed, "already signed in")).await
            }
            ClientFrame::CreateChat { request, chat } => {
                let created = Box::pin(self.gateway.create_chat(&me, chat)).await;
                if created.is_err() {
                    self.gateway.quotas.give_back_chat(me.id);
                }
                Box::pin(self.answer_chat(&me, request, created)).await
            }
            ClientFrame::AddMember {
                request,
                chat_id,
                username,
            } => {
                let changed = Box::pin(self.gateway.add_member(&me, chat_id, username)).await;
                Box::pin(self.answer_chat(&me, request, changed)).await
            }
            ClientFrame::Send {
                chat_id,
                client_msg_id,
                body,
                attachment,
            } => {
                let send = HeldSend {
                    chat_id,
                    client_msg_id,
                    body,
                    refers: attachment.map_or(Refers::Nothing, Refers::Carries),
                };
                Box::pin(self.send(&me, send)).await
            }
            ClientFrame::SendDeletion {
                chat_id,
                client_msg_id,
                body,
                target,
            } => {
                let send = HeldSend {
                    chat_id,
                    client_msg_id,
                    body,
                    refers: Refers::Deletes(target),
                };
                Box::pin(self.send(&me, send)).await
            }
            ClientFrame::Sync { epoch, positions } => {
                Box::pin(self.sync(&me, epoch, positions)).await
            }
            ClientFrame::Fetch {
                chat_id,
                after,
                limit,
            } => Box::pin(self.fetch(&me, chat_id, after, limit)).await,
            ClientFrame::History {
                chat_id,
                before,
                limit,
            } => Box::pin(self.history(&me, chat_id, before, limit)).await,
            ClientFrame::MarkRead { chat_id, seq } => {
                Box::pin(self.mark(&me, chat_id, seq, Position::Read)).await
            }
            ClientFrame::MarkDelivered { chat_id, seq } => {
                Box::pin(self.mark(&me, chat_id, seq, Position::Delivered)).await
            }
            ClientFrame::Typing { chat_id } => Box::pin(self.typing(&me, chat_id)).await,
            ClientFrame::WatchPresence { user } => Box::pin(self.watch_presence(&me, user)).await,
            ClientFrame::SetPrivacy {
                share_read_receipts,
                share_presence,
            } => Box::pin(self.set_privacy(&me, share_read_receipts, share_presence)).await,
            ClientFrame::RenameGroup {
                request,
                chat_id,
                title,
            } => Box::pin(self.rename_group(&me, request, chat_id, title)).await,
            ClientFrame::SetAdmin {
                request,
                chat_id,
                user,
                admin,
            } => Box::pin(self.set_admin(&me, request, chat_id, user, admin)).await,
            ClientFrame::SetBlocked {
                request,
                user,
                blocked,
            } => Box::pin(self.set_blocked(&me, request, user, blocked)).await,
            ClientFrame::Logout => Box::pin(self.logout()).await,
            ClientFrame::Ping => Box::pin(self.pong()).await,
            ClientFrame::RemoveMember {
                request,
                chat_id,
                user,
            } => Box::pin(self.remove_member(&me, request, chat_id, user)).await,
            ClientFrame::PublishKeys {
                device,
                device_proof,
                one_time_keys,
                fallback_key,
            } => {
                Box::pin(self.publish_keys(&me, device, device_proof, one_time_keys, fallback_key))
                    .await
            }
            ClientFrame::QueryKeys { request, users } => {
                Box::pin(self.query_keys(&me, request, users)).await
            }
            ClientFrame::ListSessions { request } => {
                Box::pin(self.list_sessions(&me, request)).await
            }
            ClientFrame::LookUpSalt { username } => Box::pin(self.look_up_salt(username)).await,
            ClientFrame::EndSession { request, session } => {
                Box::pin(self.end_session(&me, request, session)).await
            }
            ClientFrame::ClaimKeys { request, devices } => {
                Box::pin(self.claim_keys(&me, request, devices)).await
            }
            ClientFrame::SendToDevice { request, messages } => {
                Box::pin(self.relay_to_devices(&me, request, messages)).await
            }
            ClientFrame::ToDeviceDone { ids } => Box::pin(self.acknowledge_to_device(ids)).await,
            ClientFrame::PutBackup { request, entries } => {
                Box::pin(self.put_backup(&me, request, entries)).await
            }
            ClientFrame::FetchBackup { request, after } => {
                Box::pin(self.fetch_backup(&me, request, after)).await
            }
        }
    }

    /// Answers `Ping` — at most once a second on a connection: one asked sooner (the app asks
    /// after 15 s of silence at the soonest) goes unanswered, so that a client cannot have
    /// the server write to it as fast as it sends. Touches no storage and costs no allowance:
    /// refused, it would be taken for the refusal of something else.
    async fn pong(&mut self) -> Result<Flow, Gone> {
        let now = Instant::now();
        if self
            .ponged_at
            .is_some_and(|at| now.duration_since(at) < PONG_INTERVAL)
        {
            return Ok(Flow::Continue);
        }
        self.ponged_at = Some(now);
        self.write_frame(&ServerFrame::Pong).await?;
        Ok(Flow::Continue)
    }

    /// Appends a `Send` or `SendDeletion` if the send rate allows it now, else holds it.
    async fn send(&mut self, me: &Member, send: HeldSend) -> Result<Flow, Gone> {
        let now = Instant::now();
        if self.take_send_token(now) {
            let HeldSend {
                chat_id,
                client_msg_id,
                body,
                refers,
            } = send;
            self.append_message(me, chat_id, client_msg_id, body, refers)
                .await
        } else {
            self.hold_send(Box::new(send), now);
            Ok(Flow::Continue)
        }
    }

    /// Refuses a frame over the size limit and closes: the rest of it cannot be trusted.
    pub(super) async fn too_large(&mut self) -> Result<Flow, Gone> {
        self.write_error(
            None,
            &Error::refused(
                ErrorCode::FrameTooLarge,
                format!("a frame may have at most {MAX_FRAME_BYTES} bytes"),
            ),
        )
        .await?;
        Ok(Flow::Close(close_code::SIZE, "frame too large"))
    }

    /// Refuses a frame that does not decode; the last one tolerated closes the session.
    async fn malformed(&mut self, detail: String) -> Result<Flow, Gone> {
        self.malformed_request(None, detail).await
    }

    /// Refuses a request the protocol does not allow (a list longer than it may be), counted
    /// with the frames that do not decode: the last one tolerated closes the session.
    pub(super) async fn malformed_request(
        &mut self,
        request: Option<RequestId>,
        detail: String,
    ) -> Result<Flow, Gone> {
        self.malformed_frames += 1;
        tracing::debug!(count = self.malformed_frames, %detail, "malformed frame");
        self.write_error(request, &Error::refused(ErrorCode::Malformed, detail))
            .await?;
        if self.malformed_frames >= MAX_MALFORMED {
            return Ok(Flow::Close(close_code::POLICY, "too many malformed frames"));
        }
        Ok(Flow::Continue)
    }
}
