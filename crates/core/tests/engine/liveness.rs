//! A server gone without a word: the engine asks a silent server whether it is there (sooner
//! while it owes an answer), takes any frame for a yes, and gives up a connection whose
//! question goes unanswered — once, for the shell to connect again. Only time the shell spends
//! listening counts; a server too old to know the question is not asked again.

use merpati_core::{ANSWER_MS, Engine, Event, IDLE_PROBE_MS, OWED_PROBE_MS};
use merpati_protocol::{ClientFrame, Epoch, ErrorCode, ServerFrame};

use crate::support::alice::{BOB, CHAT, alice_key, name, online_alice, published_alice, sent_ids};

/// When the shell first listens on the connection.
const T0: u64 = 1_000_000;

/// The shell's socket loop at `now_ms`: checks, and takes the step it made.
fn check(engine: &mut Engine, now_ms: u64) -> merpati_core::Step {
    engine.check_liveness(now_ms);
    engine.take_step()
}

fn pings(step: &merpati_core::Step) -> usize {
    step.frames
        .iter()
        .filter(|frame| matches!(frame, ClientFrame::Ping))
        .count()
}

fn lost(step: &merpati_core::Step) -> usize {
    step.events
        .iter()
        .filter(|event| matches!(event, Event::ConnectionLost))
        .count()
}

/// Alice online, the shell listening since `T0`.
fn listening_alice() -> Engine {
    let mut engine = online_alice();
    engine.listening(T0);
    engine
}

#[test]
fn a_silent_server_is_asked_and_a_connection_that_stays_silent_is_given_up_once() {
    let mut engine = listening_alice();
    assert_eq!(engine.liveness_due_ms(), Some(T0 + IDLE_PROBE_MS));
    assert_eq!(
        engine.next_clock_change_ms(),
        None,
        "timed apart, by the socket loop"
    );
    assert_eq!(
        pings(&check(&mut engine, T0 + IDLE_PROBE_MS - 1)),
        0,
        "not yet"
    );
    assert_eq!(pings(&check(&mut engine, T0 + IDLE_PROBE_MS)), 1, "asked");
    // The question went out a moment later, once the step was stored.
    let asked = T0 + IDLE_PROBE_MS + 50;
    engine.listening(asked);
    assert_eq!(engine.liveness_due_ms(), Some(asked + ANSWER_MS));
    assert_eq!(lost(&check(&mut engine, asked + ANSWER_MS - 1)), 0);
    assert_eq!(lost(&check(&mut engine, asked + ANSWER_MS)), 1, "given up");
    let step = check(&mut engine, asked + 10 * ANSWER_MS);
    assert!(
        step.events.is_empty() && step.frames.is_empty(),
        "said once"
    );
    assert_eq!(engine.liveness_due_ms(), None);

    // The shell closes it and connects again: a new connection is timed afresh.
    engine.on_disconnected();
    engine.on_connected();
    let again = asked + 11 * ANSWER_MS;
    engine.listening(again);
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [3; 32],
        epoch: Epoch(7),
    });
    assert_eq!(lost(&check(&mut engine, again + 1)), 0);
}

#[test]
fn any_frame_is_an_answer_and_silence_counts_only_from_when_the_shell_listens_again() {
    let mut engine = listening_alice();
    assert_eq!(pings(&check(&mut engine, T0 + IDLE_PROBE_MS)), 1);
    engine.handle_frame(ServerFrame::Typing {
        chat_id: CHAT,
        user: BOB,
    });
    // Storing what came took a minute: that is not the server's silence.
    let listening = T0 + IDLE_PROBE_MS + 60_000;
    engine.listening(listening);
    assert_eq!(lost(&check(&mut engine, listening)), 0, "it answered");
    assert_eq!(engine.liveness_due_ms(), Some(listening + IDLE_PROBE_MS));
    assert_eq!(
        pings(&check(&mut engine, listening + IDLE_PROBE_MS)),
        1,
        "asked again"
    );
    engine.handle_frame(ServerFrame::Pong);
    engine.listening(listening + IDLE_PROBE_MS + 10);
    assert_eq!(
        lost(&check(
            &mut engine,
            listening + IDLE_PROBE_MS + ANSWER_MS + 10
        )),
        0,
        "a pong answers too"
    );
}

/// A message sent and not acknowledged: the server owes an answer, and silence is asked
/// about sooner.
#[test]
fn a_message_waiting_for_its_acknowledgement_is_asked_about_sooner() {
    let (mut engine, mut net) = published_alice();
    engine.listening(T0);
    let id = engine.send_text(CHAT, "halo?", T0).expect("queued");
    let sent = net.serve(&mut engine);
    assert_eq!(sent_ids(&sent.frames), [id]);
    assert_eq!(engine.liveness_due_ms(), Some(T0 + OWED_PROBE_MS));
    assert_eq!(pings(&check(&mut engine, T0 + OWED_PROBE_MS)), 1);
}

/// Before the sign-in is through nothing is asked (an unknown frame would be a refused
/// sign-in): a challenge or welcome that never comes gives the connection up.
#[test]
fn a_sign_in_never_answered_gives_the_connection_up_without_asking() {
    let mut engine = Engine::new();
    engine.sign_in(name("alice"), &alice_key("correct horse battery"));
    engine.on_connected();
    engine.listening(T0);
    assert_eq!(lost(&check(&mut engine, T0 + ANSWER_MS - 1)), 0);
    let step = check(&mut engine, T0 + ANSWER_MS);
    assert!(step.frames.is_empty(), "nothing asked: {:?}", step.frames);
    assert_eq!(step.events, [Event::ConnectionLost]);
}

/// A server too old to know `Ping` answers it `Malformed` (an answer: the connection is
/// there) and closes a connection after a few of them: it is not asked again.
#[test]
fn a_server_that_does_not_know_the_question_is_not_asked_again() {
    let mut engine = listening_alice();
    assert_eq!(pings(&check(&mut engine, T0 + IDLE_PROBE_MS)), 1);
    engine.handle_frame(ServerFrame::Error {
        request: None,
        code: ErrorCode::Malformed,
        detail: "cannot decode the frame".to_owned(),
    });
    engine.listening(T0 + IDLE_PROBE_MS + 10);
    assert_eq!(engine.liveness_due_ms(), None);
    let step = check(&mut engine, T0 + 10 * IDLE_PROBE_MS);
    assert_eq!((pings(&step), lost(&step)), (0, 0));
}
