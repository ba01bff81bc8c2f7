//! An account's sessions: `ListSessions` (where it is signed in) and `EndSession` (sign out
//! somewhere else — a lost phone, a browser one no longer trusts).

use merpati_protocol::sessions::{SessionInfo, SessionRef};
use merpati_protocol::{Member, RequestId, ServerFrame};

use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;

/// The first half of a token hash: how the account names its sessions.
pub(super) fn session_ref(token_hash: &[u8; 32]) -> SessionRef {
    let mut half = [0; 16];
    half.copy_from_slice(&token_hash[..16]);
    SessionRef(half)
}

impl<S: FrameSocket> Session<S> {
    /// Answers `ListSessions`.
    pub(super) async fn list_sessions(
        &mut self,
        me: &Member,
        request: RequestId,
    ) -> Result<Flow, Gone> {
        let current = self
            .signed_in
            .as_ref()
            .map(|signed_in| signed_in.token_hash);
        match self.gateway.storage.sessions_of(me.id).await {
            Ok(rows) => {
                // Those with a connection here are in use now (on a cluster, those connected
                // to another process are listed as last stored: when they signed in, rotated
                // or last closed a connection).
                let online = self.gateway.fanout.sessions_online_of(me.id);
                let now_ms = crate::storage::now_ms();
                let sessions = rows
                    .into_iter()
                    .map(|row| SessionInfo {
                        session: session_ref(&row.token_hash),
                        device: row
                            .device
                            .and_then(|device| <[u8; 32]>::try_from(device).ok())
                            .map(merpati_protocol::keys::DeviceKey),
                        created_ms: u64::try_from(row.created_ms).unwrap_or(0),
                        last_used_ms: if online.contains(&row.token_hash) {
                            now_ms
                        } else {
                            u64::try_from(row.last_used_ms).unwrap_or(0)
                        },
                        current: Some(row.token_hash) == current,
                        client: row.client,
                    })
                    .collect();
                self.write_frame(&ServerFrame::Sessions { request, sessions })
                    .await?;
            }
            Err(error) => self.write_error(Some(request), &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Answers `EndSession`: the session's token is deleted (refused from now on), its device
    /// leaves the directory, and its open connections are told `Goodbye { SessionExpired }`
    /// and closed.
    pub(super) async fn end_session(
        &mut self,
        me: &Member,
        request: RequestId,
        session: SessionRef,
    ) -> Result<Flow, Gone> {
        match self.gateway.storage.end_session(me.id, session.0).await {
            Ok(ended) => {
                if let Some(ended) = ended {
                    tracing::info!("a session ended by its account");
                    self.gateway.session_ended(me.id, ended.token_hash);
                    if !ended.deleted_devices.is_empty() {
                        self.gateway.devices_changed(me.id, self.id).await;
                    }
                }
                self.write_frame(&ServerFrame::SessionEnded { request })
                    .await?;
            }
            Err(error) => self.write_error(Some(request), &error).await?,
        }
        Ok(Flow::Continue)
    }
}
