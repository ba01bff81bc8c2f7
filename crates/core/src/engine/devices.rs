//! Where the account is signed in: the server's sessions of it, for the devices screen, and
//! ending one of them from here.
//!
//! The list is asked for when the screen opens ([`Engine::list_devices`]) and kept as the
//! server gave it, newest use first; ending a session asks for it again once the server
//! says the session is gone. The session ended is signed out at once wherever it is open:
//! the server closes its connections with `Goodbye { SessionExpired }`, and its token is
//! refused from then on.

use merpati_protocol::sessions::{SessionInfo, SessionRef};
use merpati_protocol::{ClientFrame, RequestId};

use super::{Engine, Event, RequestError};

impl Engine {
    /// Asks the server where this account is signed in; [`Engine::devices`] has the answer
    /// and [`Event::RequestDone`] follows it.
    pub fn list_devices(&mut self) -> Result<RequestId, RequestError> {
        self.request(|request| ClientFrame::ListSessions { request })
    }

    /// Ends one of the account's sessions (another browser's): it is signed out at once.
    /// [`Event::RequestDone`] follows, and the list is asked for again.
    pub fn end_device(&mut self, session: SessionRef) -> Result<RequestId, RequestError> {
        self.request(|request| ClientFrame::EndSession { request, session })
    }

    /// The account's sessions as the server last listed them, newest use first; `None`
    /// until asked.
    pub fn devices(&self) -> Option<&[SessionInfo]> {
        self.devices.as_deref()
    }

    pub(super) fn on_sessions(&mut self, request: RequestId, sessions: Vec<SessionInfo>) {
        self.devices = Some(sessions);
        self.views_changed = true;
        self.request_answered(request);
    }

    pub(super) fn on_session_ended(&mut self, request: RequestId) {
        if self.request_answered(request) {
            // Whatever became of the list meanwhile, the server's is the one to show.
            let _ = self.list_devices();
        }
    }

    /// Marks one of the person's requests answered; whether it was one.
    fn request_answered(&mut self, request: RequestId) -> bool {
        if !self.pending_requests.contains(&request) {
            return false;
        }
        self.pending_requests.retain(|pending| *pending != request);
        self.events.push(Event::RequestDone { request });
        true
    }
}
