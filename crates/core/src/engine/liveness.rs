//! Whether the connection is still there. A connection whose other end went away without a
//! word — a NAT or proxy that dropped its state, a laptop that slept and woke on another
//! network, a server host that died — stays open and silent: the browser never learns, the
//! app shows "online" while nothing arrives and what it sends waits forever. A browser cannot
//! send WebSocket pings, so the engine asks in the protocol ([`ClientFrame::Ping`]) once it
//! has heard nothing for a while, sooner while the server owes it an answer, and takes the
//! connection for lost ([`Event::ConnectionLost`]) when the question goes unanswered too. Any
//! frame counts as hearing from the server, not only the `Pong`.
//!
//! Timed by the shell's clock ([`Engine::advance_clock`]), which the shell advances as the
//! connection opens, before each frame and when [`Engine::next_clock_change_ms`] comes; a tab
//! frozen for an hour wakes to a question, not to a connection given up at once.

use merpati_protocol::ClientFrame;

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

/// What the engine knows of the connection's liveness.
#[derive(Debug, Default)]
pub(super) struct Liveness {
    /// When the server was last heard from on this connection (the shell's clock); `None`
    /// until the clock is first told after the connection opened (it may have stood still
    /// while the shell waited to reconnect).
    heard_ms: Option<u64>,
    /// When the question went out, while it is unanswered.
    asked_ms: Option<u64>,
    /// The connection was said to be lost: said once.
    lost: bool,
}

impl Engine {
    /// A connection opened: nothing heard on it yet.
    pub(super) fn liveness_connected(&mut self) {
        self.liveness = Liveness::default();
    }

    /// A frame came: the server is there. (Before the clock is first told on this
    /// connection, the silence is counted from that moment instead.)
    pub(super) fn heard_from_server(&mut self) {
        if self.liveness.heard_ms.is_some() {
            self.liveness.heard_ms = Some(self.now_ms);
        }
        self.liveness.asked_ms = None;
    }

    /// The clock moved: asks whether the server is there, or gives the connection up.
    pub(super) fn check_liveness(&mut self) {
        if !self.is_connected() || self.liveness.lost {
            return;
        }
        let now = self.now_ms;
        if self.liveness.heard_ms.is_none() {
            // The first time told since the connection opened: the silence counts from now.
            self.liveness.heard_ms = Some(now);
            return;
        }
        if self.liveness_due_ms().is_none_or(|due| now < due) {
            return;
        }
        // Before the sign-in is through, an unknown frame is a refused sign-in, so nothing is
        // asked: the challenge and the welcome are the answers owed.
        if self.liveness.asked_ms.is_some() || !self.is_authenticated() {
            self.liveness.lost = true;
            self.events.push(Event::ConnectionLost);
        } else {
            self.liveness.asked_ms = Some(now);
            self.frames.push(ClientFrame::Ping);
        }
    }

    /// When the engine next asks, or gives the connection up; `None` while no connection is
    /// open, or before the clock is told on it (the shell tells it as the connection opens).
    pub(super) fn liveness_due_ms(&self) -> Option<u64> {
        if !self.is_connected() || self.liveness.lost {
            return None;
        }
        if let Some(asked) = self.liveness.asked_ms {
            return Some(asked.saturating_add(ANSWER_MS));
        }
        let heard = self.liveness.heard_ms?;
        let silence = if !self.is_authenticated() {
            ANSWER_MS
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

    /// Whether the server owes this connection something: the end of the sync, an answer to
    /// a request, the acknowledgement of a message sent on it.
    fn server_owes_an_answer(&self) -> bool {
        self.phase == Phase::Syncing
            || !self.pending_requests.is_empty()
            || self.outbox.iter().any(|entry| {
                self.sent_this_connection
                    .contains(&entry.record.client_msg_id)
            })
    }
}
