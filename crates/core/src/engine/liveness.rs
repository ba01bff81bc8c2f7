//! Whether the connection is still there. A connection whose other end went away without a
//! word — a NAT or proxy that dropped its state, a laptop that slept and woke on another
//! network, a server host that died — stays open and silent: the browser never learns, the
//! app shows "online" while nothing arrives and what it sends waits forever. A browser cannot
//! send WebSocket pings, so the engine asks in the protocol ([`ClientFrame::Ping`]) once it
//! has heard nothing for a while, sooner while the server owes it an answer, and takes the
//! connection for lost ([`Event::ConnectionLost`]) when the question goes unanswered too. Any
//! frame counts as hearing from the server, not only the `Pong`.
//!
//! Only time the shell spends listening counts as silence. The shell's socket loop times it
//! ([`Engine::liveness_due_ms`], [`Engine::check_liveness`]) and says when it listens again
//! ([`Engine::listening`]) after the frames it read are handled and their writes stored, and
//! after a question went out: a store that takes a minute to write, or a tab frozen while
//! frames waited unread, is not the server's silence — the loop reads what waits before it
//! looks at the time. Before the sign-in is through, nothing is asked (an unknown frame is a
//! refused sign-in there): the challenge and the welcome are the answers owed.
//!
//! A server too old to know `Ping` answers it `Malformed`, which is an answer; but it closes
//! a connection after a few malformed frames, so the engine asks such a server no more on
//! that connection.

use merpati_protocol::{ClientFrame, ErrorCode};

use super::session::Phase;
use super::{Engine, Event};

/// Silence on a connection that owes nothing, after which the engine asks.
pub const IDLE_PROBE_MS: u64 = 30_000;
/// Silence while the server owes an answer (a message not yet acknowledged, a request, the
/// sync), after which the engine asks.
pub const OWED_PROBE_MS: u64 = 15_000;
/// How long a question may go unanswered, or the sign-in's challenge and welcome take,
/// before the connection is taken for lost. Generous: a server under load answers late, and
/// a connection given up for nothing costs it a new sign-in and sync.
pub const ANSWER_MS: u64 = 20_000;

/// What the engine knows of the connection's liveness, on the shell's socket-loop clock.
#[derive(Debug, Default)]
pub(super) struct Liveness {
    /// Since when the shell has been listening without hearing from the server; `None` until
    /// it first listens on the connection.
    heard_ms: Option<u64>,
    /// When the question went out, while it is unanswered.
    asked_ms: Option<u64>,
    /// A question went out on this connection.
    pinged: bool,
    /// The server does not know `Ping` (it answered one `Malformed`): not asked again.
    no_ping: bool,
    /// The connection was said to be lost: said once.
    lost: bool,
}

impl Engine {
    /// A connection opened: nothing heard on it yet.
    pub(super) fn liveness_connected(&mut self) {
        self.liveness = Liveness::default();
    }

    /// A frame came: the server is there. (The silence counts again from when the shell
    /// listens after handling it.)
    pub(super) fn heard_from_server(&mut self) {
        self.liveness.asked_ms = None;
    }

    /// A request-less refusal came: `Malformed` on a connection that asked is the server too
    /// old to know `Ping` — it is not asked again on this connection.
    pub(super) fn liveness_refused(&mut self, code: ErrorCode) {
        if code == ErrorCode::Malformed && self.liveness.pinged {
            self.liveness.no_ping = true;
        }
    }

    /// The shell listens on the connection again (it opened, or what came was handled and
    /// stored, or a question went out): silence, or the wait for the answer, counts from
    /// `now_ms`.
    pub fn listening(&mut self, now_ms: u64) {
        if !self.is_connected() {
            return;
        }
        match self.liveness.asked_ms {
            Some(_) => self.liveness.asked_ms = Some(now_ms),
            None => self.liveness.heard_ms = Some(now_ms),
        }
    }

    /// The shell's socket loop reached [`Engine::liveness_due_ms`]: asks whether the server is
    /// there, or gives the connection up ([`Event::ConnectionLost`]).
    pub fn check_liveness(&mut self, now_ms: u64) {
        if self.liveness_due_ms().is_none_or(|due| now_ms < due) {
            return;
        }
        if self.liveness.asked_ms.is_some() || !self.is_authenticated() {
            self.liveness.lost = true;
            self.events.push(Event::ConnectionLost);
        } else {
            self.liveness.asked_ms = Some(now_ms);
            self.liveness.pinged = true;
            self.frames.push(ClientFrame::Ping);
        }
    }

    /// When the shell's socket loop is to call [`Engine::check_liveness`], on the clock it
    /// tells [`Engine::listening`]; `None` while no connection is open, before it first
    /// listens, after the connection was given up, or when nothing is to be asked.
    pub fn liveness_due_ms(&self) -> Option<u64> {
        if !self.is_connected() || self.liveness.lost {
            return None;
        }
        if let Some(asked) = self.liveness.asked_ms {
            return Some(asked.saturating_add(ANSWER_MS));
        }
        let heard = self.liveness.heard_ms?;
        let silence = if !self.is_authenticated() {
            ANSWER_MS
        } else if self.liveness.no_ping {
            return None;
        } else if self.server_owes_an_answer() {
            OWED_PROBE_MS
        } else {
            IDLE_PROBE_MS
        };
        Some(heard.saturating_add(silence))
    }

    /// A socket is open (signing in, or signed in).
    fn is_connected(&self) -> bool {
        !matches!(self.phase, Phase::Offline | Phase::Opening)
    }

    /// Whether the server owes this connection something: the end of the sync (unless a
    /// refused sync waits to be asked again), an answer to a request, the acknowledgement of
    /// a message sent on it.
    fn server_owes_an_answer(&self) -> bool {
        (self.phase == Phase::Syncing && !self.sync_retry.is_waiting())
            || !self.pending_requests.is_empty()
            || self.outbox.iter().any(|entry| {
                self.sent_this_connection
                    .contains(&entry.record.client_msg_id)
            })
    }
}
