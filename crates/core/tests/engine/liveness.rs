//! A server gone without a word: the engine asks a silent server whether it is there (sooner
//! while it owes an answer), takes any frame for a yes, and gives up a connection whose
//! question goes unanswered — once, for the shell to connect again.

use merpati_core::{ANSWER_MS, Engine, Event, IDLE_PROBE_MS, OWED_PROBE_MS};
use merpati_protocol::{ClientFrame, Epoch, ServerFrame};

use crate::support::alice::{BOB, CHAT, alice_key, name, online_alice, published_alice, sent_ids};

/// When the connection's clock is first told.
const T0: u64 = 1_000_000;

fn pings(engine: &mut Engine) -> usize {
    engine
        .take_step()
        .frames
        .iter()
        .filter(|frame| matches!(frame, ClientFrame::Ping))
        .count()
}

fn lost(engine: &mut Engine) -> usize {
    engine
        .take_step()
        .events
        .iter()
        .filter(|event| matches!(event, Event::ConnectionLost))
        .count()
}

#[test]
fn a_silent_server_is_asked_and_a_connection_that_stays_silent_is_given_up_once() {
    let mut engine = online_alice();
    engine.advance_clock(T0);
    assert_eq!(engine.next_clock_change_ms(), Some(T0 + IDLE_PROBE_MS));
    engine.advance_clock(T0 + IDLE_PROBE_MS - 1);
    assert_eq!(pings(&mut engine), 0, "not yet");
    engine.advance_clock(T0 + IDLE_PROBE_MS);
    assert_eq!(pings(&mut engine), 1, "asked");
    let asked = T0 + IDLE_PROBE_MS;
    assert_eq!(engine.next_clock_change_ms(), Some(asked + ANSWER_MS));
    engine.advance_clock(asked + ANSWER_MS - 1);
    assert_eq!(lost(&mut engine), 0, "still waiting for the answer");
    engine.advance_clock(asked + ANSWER_MS);
    assert_eq!(lost(&mut engine), 1, "given up");
    engine.advance_clock(asked + 10 * ANSWER_MS);
    let step = engine.take_step();
    assert!(
        step.events.is_empty() && step.frames.is_empty(),
        "said once"
    );
    assert_eq!(engine.next_clock_change_ms(), None);

    // The shell closes it and connects again: a new connection is timed afresh.
    engine.on_disconnected();
    engine.on_connected();
    engine.advance_clock(asked + 11 * ANSWER_MS);
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [3; 32],
        epoch: Epoch(7),
    });
    assert_eq!(lost(&mut engine), 0);
}

#[test]
fn any_frame_is_an_answer_and_the_silence_counts_again_from_it() {
    let mut engine = online_alice();
    engine.advance_clock(T0);
    engine.advance_clock(T0 + IDLE_PROBE_MS);
    assert_eq!(pings(&mut engine), 1);
    let heard = T0 + IDLE_PROBE_MS + 500;
    engine.advance_clock(heard);
    engine.handle_frame(ServerFrame::Typing {
        chat_id: CHAT,
        user: BOB,
    });
    engine.advance_clock(T0 + IDLE_PROBE_MS + ANSWER_MS);
    assert_eq!(lost(&mut engine), 0, "it answered");
    assert_eq!(
        engine.next_clock_change_ms().map(|at| at >= heard),
        Some(true)
    );
    engine.advance_clock(heard + IDLE_PROBE_MS);
    assert_eq!(pings(&mut engine), 1, "asked again after another silence");
    engine.handle_frame(ServerFrame::Pong);
    engine.advance_clock(heard + IDLE_PROBE_MS + ANSWER_MS);
    assert_eq!(lost(&mut engine), 0, "a pong answers too");
}

/// A message sent and not acknowledged: the server owes an answer, and silence is asked
/// about sooner.
#[test]
fn a_message_waiting_for_its_acknowledgement_is_asked_about_sooner() {
    let (mut engine, mut net) = published_alice();
    engine.advance_clock(T0);
    let id = engine.send_text(CHAT, "halo?", T0).expect("queued");
    let sent = net.serve(&mut engine);
    assert_eq!(sent_ids(&sent.frames), [id]);
    assert_eq!(engine.next_clock_change_ms(), Some(T0 + OWED_PROBE_MS));
    engine.advance_clock(T0 + OWED_PROBE_MS);
    assert_eq!(pings(&mut engine), 1);
}

/// Before the sign-in is through nothing is asked (an unknown frame would be a refused
/// sign-in): a challenge or welcome that never comes gives the connection up.
#[test]
fn a_sign_in_never_answered_gives_the_connection_up_without_asking() {
    let mut engine = Engine::new();
    engine.sign_in(name("alice"), &alice_key("correct horse battery"));
    engine.on_connected();
    engine.advance_clock(T0);
    engine.advance_clock(T0 + ANSWER_MS - 1);
    assert_eq!(lost(&mut engine), 0);
    engine.advance_clock(T0 + ANSWER_MS);
    let step = engine.take_step();
    assert!(step.frames.is_empty(), "nothing asked: {:?}", step.frames);
    assert_eq!(step.events, [Event::ConnectionLost]);
}
