//! One WebSocket connection per session: from the challenge to the last frame.
//!
//! A session sends `Challenge`, waits for `Authenticate`, and once signed in serves requests
//! and forwards what [`FanOut`] delivers to it. One task does all of it with one `select!`:
//! the shutdown signal, eviction (too slow), delivered frames, received frames and an idle
//! timer. Requests are answered on the socket directly, in order; a request the protocol
//! refuses gets an `Error` (or `SendFailed`) frame and the session goes on. Nothing a peer
//! sends can panic it: every input is decoded, bounded and checked.
//!
//! Sends are paced by the session's token bucket: a `Send` that finds it empty is held, and
//! the socket is not read again until the bucket allows that `Send` — TCP then slows the
//! sender down. A session held back without a break for longer than the configured limit is
//! told `Goodbye { RateLimited }` and closed.
//!
//! The session talks over any [`FrameSocket`](socket::FrameSocket), a `Sink` and `Stream` of
//! WebSocket messages: the server's own `WebSocket` (crate::websocket), in-memory channels in the tests.
//!
//! # Layout
//! - this file: [`Gateway`], what every session shares (storage, fan-out, shutdown,
//!   admission), with the lookups several kinds of request need.
//! - `session`: one connection's state and its event loop, the send rate (backpressure), and
//!   [`Admitted`], what a connection holds while it runs.
//! - `socket`: writing to the peer: frames, errors, `Goodbye`, the closing handshake.
//! - `dispatch`: decoding what the peer sends and handing each frame to its handler, boxed.
//! - `allowance`: what a request costs of the account's allowance (`limits`), a chat's
//!   look-up included, and the answer to one past it (`refusals`: when that closes).
//! - `sessions`: the account's sessions: `ListSessions`, `EndSession`.
//! - `sign_in`: `Authenticate` (register, log in, resume) and `Logout`; `attempts`: failed
//!   sign-ins throttled per source address and per account.
//! - `in_flight`: the writes a session waits for, in order: messages and receipts.
//! - `chats`: `CreateChat`, `AddMember`, `RemoveMember`, `RenameGroup`, `SetAdmin`, and
//!   pushing changed chats with the lines the changes wrote into groups.
//! - `messages`: `Send` and `SendDeletion`: appending, waiting for the commit, `Ack` and
//!   fan-out.
//! - `sync`: catching up: `Sync`, `Fetch`, `History`.
//! - `receipts`: `MarkDelivered`, `MarkRead`, and pushing `Receipt` to whom it concerns.
//! - `presence`: `Typing`, `WatchPresence`, `SetPrivacy`.
//! - `blocking`: `SetBlocked`.
//! - `keys`: end-to-end encryption: the key directory, to-device messages and the key backup
//!   (the server only stores and forwards public keys and ciphertext for them); `limits`:
//!   how fast one account may claim keys, and one device's one-time keys be handed out;
//!   `quotas`: the bytes one account may store per day, the accounts one network may make.
//! - `tests`: the dispatch specified over in-memory sockets, on real storage.

mod allowance;
mod attempts;
mod blocking;
mod chats;
mod dispatch;
mod in_flight;
mod keys;
mod limits;
mod messages;
mod presence;
mod quotas;
mod receipts;
mod refusals;
mod session;
mod sessions;
mod sign_in;
mod socket;
mod sync;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::Bytes;
use merpati_protocol::keys::DeviceRef;
use merpati_protocol::{ChatId, MessageFrame, Seq, ServerFrame, UserId, Username};

use crate::Error;
use crate::admission::AdmissionControl;
use crate::cluster::Cluster;
use crate::fanout::{ChatMembers, FanOut};
use crate::metrics::Counters;
use crate::shutdown::Shutdown;
use crate::storage::{Account, Storage, no_such_user};

pub(crate) use limits::RequestLimits;
pub(crate) use quotas::Quotas;
pub(crate) use session::Admitted;

/// What every session shares: storage, the fan-out registry, the shutdown signal and
/// admission control.
#[derive(Debug)]
pub(crate) struct Gateway {
    storage: Storage,
    fanout: FanOut,
    shutdown: Shutdown,
    admission: AdmissionControl,
    sign_in_attempts: attempts::SignInAttempts,
    limits: RequestLimits,
    quotas: quotas::Quotas,
    /// The other server processes on the same database, if there are any.
    cluster: Option<Cluster>,
}

impl Gateway {
    pub(crate) fn new(
        storage: Storage,
        fanout: FanOut,
        shutdown: Shutdown,
        admission: AdmissionControl,
        quotas: quotas::Quotas,
        limits: RequestLimits,
    ) -> Gateway {
        Gateway {
            storage,
            fanout,
            shutdown,
            admission,
            sign_in_attempts: attempts::SignInAttempts::default(),
            limits,
            quotas,
            cluster: None,
        }
    }

    /// Tells the other server processes of what this one commits (and has them tell it).
    pub(crate) fn with_cluster(mut self, cluster: Cluster) -> Gateway {
        self.cluster = Some(cluster);
        self
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }

    pub(crate) fn fanout(&self) -> &FanOut {
        &self.fanout
    }

    /// Pushes a `Chat` frame to `account`'s sessions but `skip` — on a cluster, to its
    /// sessions on the other processes too, which then follow the chat from `from` on (the
    /// head before the lines the change wrote: those are fanned out after).
    fn push_to_account(
        &self,
        account: UserId,
        frame: Bytes,
        skip: Option<crate::fanout::SessionId>,
        from: Seq,
    ) {
        self.fanout.deliver(&[account], &frame, skip);
        if let Some(cluster) = &self.cluster {
            cluster.tell_now(crate::cluster::Event::Pushed {
                account,
                frame,
                from,
            });
        }
    }

    /// Hands `frame` to `accounts`' sessions but `skip` — on a cluster, on every process.
    fn deliver_to_accounts(
        &self,
        accounts: &[UserId],
        frame: Bytes,
        skip: Option<crate::fanout::SessionId>,
    ) {
        self.fanout.deliver(accounts, &frame, skip);
        if let Some(cluster) = &self.cluster {
            cluster.tell_now(crate::cluster::Event::ToAccounts {
                accounts: accounts.to_vec(),
                frame,
            });
        }
    }

    /// Closes the connections of `account`'s session named `token_hash` (ended: signed out)
    /// — on a cluster, on every process.
    fn session_ended(&self, account: UserId, token_hash: [u8; 32]) {
        self.fanout.end_session(account, &token_hash);
        if let Some(cluster) = &self.cluster {
            cluster.tell_now(crate::cluster::Event::SessionEnded {
                account,
                token_hash,
            });
        }
    }

    /// Hands `frame` to `device`'s sessions — on a cluster, on every process.
    fn deliver_to_device(&self, device: &DeviceRef, frame: Bytes) {
        self.fanout.deliver_to_device(device, &frame);
        if let Some(cluster) = &self.cluster {
            cluster.tell_now(crate::cluster::Event::ToDevice {
                device: *device,
                frame,
            });
        }
    }

    pub(crate) fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    pub(crate) fn admission(&self) -> &AdmissionControl {
        &self.admission
    }

    pub(crate) fn counters(&self) -> &Counters {
        self.admission.counters()
    }

    /// The members of a chat, from the cache or storage (cached either way): for a chat known
    /// to exist, such as one a message was just committed to. A request about a chat asks
    /// `Session::chat_as_member` instead, which caches nothing for a stranger.
    async fn members_of(&self, chat: ChatId) -> Result<Arc<ChatMembers>, Error> {
        self.members_as_of(chat, Seq(0)).await
    }

    /// The members of a chat whose members last changed at the line `changed_at`: a list
    /// cached as of an older head is read again. The change's own session sets the list it
    /// committed only once it runs again, and a message committed just after the change (in
    /// the same group commit, or just after it) may be fanned out first: with the list from
    /// before, it would reach a member just removed, or miss one just added.
    async fn members_as_of(
        &self,
        chat: ChatId,
        changed_at: Seq,
    ) -> Result<Arc<ChatMembers>, Error> {
        if let Some(members) = self.fanout.members().cached(chat)
            && members.as_of() >= changed_at
        {
            return Ok(members);
        }
        let ticket = self.fanout.members().ticket(chat);
        let members = ChatMembers::read(self.storage.members_joined(chat).await?);
        Ok(self.fanout.members().remember(chat, members, ticket))
    }

    /// The account called `username`, or a `NoSuchUser` refusal.
    async fn existing_account(&self, username: &Username) -> Result<Account, Error> {
        self.storage
            .account_by_name(username.clone())
            .await?
            .ok_or_else(|| no_such_user(username))
    }
}

/// Encodes a frame for the socket.
pub(crate) fn encode(frame: &ServerFrame) -> Bytes {
    Bytes::from(merpati_protocol::encode(frame))
}

/// Encodes a `Message` frame and hands the message back, without copying its body (up to
/// `MAX_BODY_BYTES`) as a clone would: every stored message goes through here.
pub(crate) fn encode_message(message: MessageFrame) -> (MessageFrame, Bytes) {
    let frame = ServerFrame::Message(message);
    let bytes = encode(&frame);
    match frame {
        ServerFrame::Message(message) => (message, bytes),
        _ => unreachable!("built as a Message just above"),
    }
}
