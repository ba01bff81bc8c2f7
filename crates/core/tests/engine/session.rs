//! Signing up, in and back: the challenge, the phases, what a sign-in stores, and which
//! failed sign-ins keep the credentials.

use merpati_core::{ConnectionPhase, Engine, Event, StoreWrite, StoredState, e2e::CryptoRecordKey};
use merpati_protocol::{
    ClientFrame, Epoch, ErrorCode, PROTOCOL_VERSION, ServerFrame,
    auth::{AuthPurpose, challenge_message},
    frames::AuthMethod,
};
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

use crate::support::alice::{
    ALICE, alice_key, caught_up_alice, challenged_alice, member, name, reconnect, stored_account,
    take_frames,
};

/// Opens a new connection and answers its challenge: the frames the engine sends back.
fn next_connection(engine: &mut Engine) -> Vec<ClientFrame> {
    engine.on_disconnected();
    engine.on_connecting();
    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [3; 32],
        epoch: Epoch(7),
    });
    take_frames(engine)
}

/// An engine restored from alice's stored account: its next connection resumes the session.
fn restored_alice() -> Engine {
    let mut engine = Engine::new();
    engine.restore(StoredState {
        account: Some(stored_account()),
        ..StoredState::default()
    });
    engine
}

fn refuse_sign_in(engine: &mut Engine, code: ErrorCode) -> Vec<Event> {
    refused_sign_in(engine, code).0
}

/// The step after the sign-in's refusal: what the engine says, and what it sends.
fn refused_sign_in(engine: &mut Engine, code: ErrorCode) -> (Vec<Event>, Vec<ClientFrame>) {
    engine.handle_frame(ServerFrame::Error {
        request: None,
        code,
        detail: String::new(),
    });
    let step = engine.take_step();
    (step.events, step.frames)
}

fn resumes_with(frames: &[ClientFrame]) -> Option<[u8; 32]> {
    match frames {
        [
            ClientFrame::Authenticate {
                method: AuthMethod::Resume { session_token },
                ..
            },
        ] => Some(*session_token),
        _ => None,
    }
}

#[test]
fn sign_up_answers_the_challenge_with_a_verifiable_signature() {
    let mut engine = Engine::new();
    let key = alice_key("correct horse battery");
    engine.sign_up(name("alice"), &key, None);
    engine.on_connected();
    assert_eq!(engine.connection_phase(), ConnectionPhase::Connecting);
    let nonce = [42; 32];
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce,
        epoch: Epoch(1),
    });
    let frames = take_frames(&mut engine);
    let [ClientFrame::Authenticate { version, method }] = frames.as_slice() else {
        panic!("expected an Authenticate frame: {frames:?}");
    };
    assert_eq!(*version, PROTOCOL_VERSION);
    let AuthMethod::Register {
        username,
        public_key,
        signature,
    } = method
    else {
        panic!("expected Register");
    };
    let public_key = Ed25519PublicKey::from_slice(public_key).expect("a valid key");
    let signature = Ed25519Signature::from_slice(signature).expect("a valid signature");
    let signed = challenge_message(AuthPurpose::Register, username, &nonce);
    assert!(public_key.verify(&signed, &signature).is_ok());
    let other = challenge_message(AuthPurpose::Login, username, &nonce);
    assert!(
        public_key.verify(&other, &signature).is_err(),
        "purpose is bound"
    );
}

#[test]
fn the_phase_follows_the_connection_from_opening_to_online_and_back() {
    let mut engine = Engine::new();
    let key = alice_key("correct horse battery");
    engine.sign_in(name("alice"), &key);
    assert_eq!(engine.connection_phase(), ConnectionPhase::Offline);
    engine.on_connecting();
    assert_eq!(engine.connection_phase(), ConnectionPhase::Connecting);
    engine.on_disconnected();
    assert_eq!(
        engine.connection_phase(),
        ConnectionPhase::Offline,
        "the socket did not open"
    );
    engine.on_connecting();
    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [1; 32],
        epoch: Epoch(7),
    });
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: None,
    });
    assert_eq!(
        engine.connection_phase(),
        ConnectionPhase::Connecting,
        "still catching up"
    );
    engine.handle_frame(ServerFrame::SyncDone);
    assert_eq!(engine.connection_phase(), ConnectionPhase::Online);
    engine.on_disconnected();
    assert_eq!(engine.connection_phase(), ConnectionPhase::Offline);
}

#[test]
fn welcome_stores_the_session_and_asks_to_sync() {
    let mut engine = challenged_alice("correct horse battery");
    let _ = engine.take_step();
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    // One step: the event on which the shell opens the account's store, the writes that go
    // in it, and the frames that go out once they are stored.
    let step = engine.take_step();
    assert_eq!(step.events, vec![Event::SignedIn(member(ALICE, "alice"))]);
    assert!(step.writes.iter().any(|write| matches!(
        write,
        StoreWrite::PutAccount(account) if account.session_token == [5; 32]
    )));
    assert!(
        step.writes
            .iter()
            .any(|write| matches!(write, StoreWrite::PutCrypto(record) if record.key == CryptoRecordKey::Account)),
        "the new device's keys are stored"
    );
    // The device's keys first, so that keys queued for it arrive before the messages. No
    // privacy settings: nothing was changed here, the sync says what the account's are.
    assert!(
        matches!(step.frames.as_slice(), [
            ClientFrame::PublishKeys { device, device_proof: Some(_), one_time_keys, fallback_key: Some(_) },
            ClientFrame::Sync { epoch: Some(Epoch(7)), positions },
        ] if device.user == ALICE && !one_time_keys.is_empty() && positions.is_empty()),
        "{:?}",
        step.frames
    );
    engine.handle_frame(ServerFrame::SyncDone);
    assert_eq!(engine.connection_phase(), ConnectionPhase::Online);
}

#[test]
fn a_wrong_passphrase_is_reported_and_not_tried_again() {
    let mut engine = challenged_alice("not the passphrase");
    assert_eq!(
        refuse_sign_in(&mut engine, ErrorCode::WrongPassphrase),
        vec![Event::AuthFailed(ErrorCode::WrongPassphrase)]
    );
    assert!(!engine.has_credentials());
    assert!(
        next_connection(&mut engine).is_empty(),
        "nothing to authenticate with"
    );
}

#[test]
fn a_busy_server_keeps_the_session_and_the_next_connection_resumes_it() {
    let mut engine = restored_alice();
    assert_eq!(resumes_with(&next_connection(&mut engine)), Some([5; 32]));

    assert_eq!(
        refuse_sign_in(&mut engine, ErrorCode::ServerBusy),
        vec![Event::AuthDeferred(ErrorCode::ServerBusy)],
        "the shell hears it may try again"
    );
    assert!(engine.has_credentials());
    // The shell closes this connection and reconnects after backoff.
    assert_eq!(
        resumes_with(&next_connection(&mut engine)),
        Some([5; 32]),
        "the same session"
    );
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: None,
    });
    assert_eq!(
        engine.take_step().events,
        vec![Event::SignedIn(member(ALICE, "alice"))]
    );
}

#[test]
fn every_transient_refusal_keeps_the_session() {
    for code in [
        ErrorCode::ServerBusy,
        ErrorCode::ShuttingDown,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
    ] {
        assert!(code.is_transient());
        let mut engine = restored_alice();
        let _ = next_connection(&mut engine);
        assert_eq!(
            refuse_sign_in(&mut engine, code),
            vec![Event::AuthDeferred(code)]
        );
        assert_eq!(
            resumes_with(&next_connection(&mut engine)),
            Some([5; 32]),
            "after {code:?}"
        );
    }
}

#[test]
fn an_expired_session_is_dropped() {
    let mut engine = restored_alice();
    let _ = next_connection(&mut engine);
    assert_eq!(
        refuse_sign_in(&mut engine, ErrorCode::SessionExpired),
        vec![Event::SessionExpired]
    );
    assert!(!engine.has_credentials());
    assert!(next_connection(&mut engine).is_empty(), "not resumed again");
}

/// A server of another protocol version refuses the stored session: the app is out of date,
/// not the session. The credentials stay (the shell keeps the store, and the next app resumes
/// the same session); the shell is told it is the version, not that the sign-in failed.
#[test]
fn a_server_of_another_version_leaves_the_session_to_the_next_app() {
    let mut engine = restored_alice();
    let _ = next_connection(&mut engine);
    assert_eq!(
        refuse_sign_in(&mut engine, ErrorCode::UnsupportedVersion),
        vec![Event::OutOfDate]
    );
    assert!(engine.has_credentials());
    assert_eq!(
        resumes_with(&next_connection(&mut engine)),
        Some([5; 32]),
        "the same session"
    );
}

#[test]
fn a_sign_up_the_server_could_not_finish_is_tried_again_with_the_same_keys() {
    let mut engine = Engine::new();
    engine.sign_up(name("alice"), &alice_key("correct horse battery"), None);
    let registers_with = |frames: &[ClientFrame]| match frames {
        [
            ClientFrame::Authenticate {
                method: AuthMethod::Register { public_key, .. },
                ..
            },
        ] => Some(*public_key),
        _ => None,
    };
    let first = registers_with(&next_connection(&mut engine)).expect("a sign-up");
    assert_eq!(
        refuse_sign_in(&mut engine, ErrorCode::Internal),
        vec![Event::AuthDeferred(ErrorCode::Internal)]
    );
    assert_eq!(
        registers_with(&next_connection(&mut engine)),
        Some(first),
        "the passphrase is not asked for again"
    );
    // "Taken", after a try that may have made the account: whose it is, a sign-in with the
    // same keys finds out. Refused, the name is someone else's, and that is final.
    let (events, frames) = refused_sign_in(&mut engine, ErrorCode::UsernameTaken);
    assert_eq!(events, vec![]);
    assert!(
        matches!(frames.as_slice(), [ClientFrame::Authenticate {
            method: AuthMethod::Login { username, .. },
            ..
        }] if username.as_str() == "alice"),
        "a sign-in on the same connection"
    );
    assert_eq!(
        refuse_sign_in(&mut engine, ErrorCode::WrongPassphrase),
        vec![Event::AuthFailed(ErrorCode::UsernameTaken)],
        "the person hears the name is taken"
    );
    assert!(next_connection(&mut engine).is_empty());
}

/// The account was made, and the connection dropped before its `Welcome`: the sign-up tried
/// again hears the name is taken — by itself. It signs in with the same keys instead of
/// telling the person to choose another name.
#[test]
fn a_sign_up_whose_answer_was_lost_signs_in_to_the_account_it_made() {
    let mut engine = Engine::new();
    engine.sign_up(name("alice"), &alice_key("correct horse battery"), None);
    let _ = next_connection(&mut engine);
    // The server made the account; its answer is lost with the connection.
    let _ = next_connection(&mut engine);
    let (events, frames) = refused_sign_in(&mut engine, ErrorCode::UsernameTaken);
    assert_eq!(events, vec![]);
    let signature = match frames.as_slice() {
        [
            ClientFrame::Authenticate {
                method: AuthMethod::Login { signature, .. },
                ..
            },
        ] => signature.clone(),
        other => panic!("a sign-in, not {other:?}"),
    };
    let key = alice_key("correct horse battery").auth_key();
    let message = challenge_message(AuthPurpose::Login, &name("alice"), &[3; 32]);
    let signature = Ed25519Signature::from_slice(&signature).expect("a signature");
    assert!(
        key.public_key().verify(&message, &signature).is_ok(),
        "with the sign-up's keys, for this connection's challenge"
    );
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    assert_eq!(
        engine.take_step().events,
        vec![Event::SignedIn(member(ALICE, "alice"))]
    );
}

/// A sign-up that went out once and hears "taken" is someone else's name: said at once.
#[test]
fn a_first_sign_up_refused_as_taken_is_final() {
    let mut engine = Engine::new();
    engine.sign_up(name("alice"), &alice_key("correct horse battery"), None);
    let _ = next_connection(&mut engine);
    let (events, frames) = refused_sign_in(&mut engine, ErrorCode::UsernameTaken);
    assert_eq!(events, vec![Event::AuthFailed(ErrorCode::UsernameTaken)]);
    assert!(frames.is_empty(), "no sign-in tried");
    assert!(!engine.has_credentials());
}

#[test]
fn a_new_tab_of_a_signed_in_browser_becomes_a_device_of_its_own() {
    // The first tab signed in with the passphrase; the store keeps the account record.
    let mut first = challenged_alice("correct horse battery");
    first.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    let account = first
        .take_step()
        .writes
        .into_iter()
        .find_map(|write| match write {
            StoreWrite::PutAccount(account) => Some(account),
            _ => None,
        })
        .expect("the account is stored");
    let first_device = first.device_crypto().expect("a device").device();

    // A second tab restores the account but none of the first tab's device keys.
    let mut second = Engine::new();
    second.restore(StoredState {
        account: Some(account),
        ..StoredState::default()
    });
    assert!(second.take_step().events.is_empty(), "no passphrase needed");
    reconnect(&mut second, Epoch(7));
    let published = take_frames(&mut second)
        .into_iter()
        .find_map(|frame| match frame {
            ClientFrame::PublishKeys { device, .. } => Some(device),
            _ => None,
        })
        .expect("the tab publishes a device");
    assert_eq!(published.user, ALICE);
    assert_ne!(published.device, first_device.device, "its own device");
    // Vouched for by the account key, like a device signed in with the passphrase.
    let account_key = alice_key("correct horse battery").auth_key().public_key();
    let signature = Ed25519Signature::from_slice(&published.signature).expect("64 bytes");
    assert!(
        account_key
            .verify(
                &merpati_protocol::keys::device_keys_message(
                    ALICE,
                    &published.device,
                    &published.ed25519
                ),
                &signature
            )
            .is_ok()
    );
}

#[test]
fn a_session_ended_from_another_device_signs_this_one_out() {
    let mut engine = caught_up_alice();
    let _ = engine.take_step();
    engine.handle_frame(ServerFrame::Goodbye {
        code: ErrorCode::SessionExpired,
        retry_after_ms: None,
    });
    let step = engine.take_step();
    assert!(
        step.events.contains(&Event::SessionExpired),
        "{:?}",
        step.events
    );
}

#[test]
fn a_token_rotated_on_resume_is_stored_and_resumed_with_from_then_on() {
    let mut engine = restored_alice();
    assert_eq!(resumes_with(&next_connection(&mut engine)), Some([5; 32]));
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([6; 32]),
    });
    let stored = engine
        .take_step()
        .writes
        .into_iter()
        .find_map(|write| match write {
            StoreWrite::PutAccount(account) => Some(account.session_token),
            _ => None,
        });
    assert_eq!(stored, Some([6; 32]), "the rotated token is stored");
    assert_eq!(resumes_with(&next_connection(&mut engine)), Some([6; 32]));
}

#[test]
fn a_tab_resumes_with_the_token_another_tab_stored_after_a_rotation() {
    let mut engine = restored_alice();
    let mut rotated = stored_account();
    rotated.session_token = [8; 32];
    engine.adopt_stored_session_token(&rotated);
    assert_eq!(resumes_with(&next_connection(&mut engine)), Some([8; 32]));
    // Another account's record (another sign-in replaced this browser's) is not adopted.
    let mut foreign = stored_account();
    foreign.me = member(merpati_protocol::UserId(2), "bob");
    foreign.session_token = [9; 32];
    engine.adopt_stored_session_token(&foreign);
    assert_eq!(resumes_with(&next_connection(&mut engine)), Some([8; 32]));
}

#[test]
fn signing_out_offline_hands_the_shell_the_sessions_sign_out_proof_and_sends_nothing() {
    let mut engine = caught_up_alice();
    let _ = engine.take_step();
    engine.on_disconnected();
    let proof = engine.sign_out();
    assert_eq!(
        proof,
        Some(merpati_protocol::auth::sign_out_proof(&[5; 32])),
        "the proof of the session's token"
    );
    assert_ne!(proof, Some([5; 32]), "not the token itself");
    assert!(!engine.has_credentials());
    assert!(engine.take_step().frames.is_empty());
    assert_eq!(engine.sign_out(), None, "no session left to sign out of");
}

#[test]
fn a_sync_refused_for_now_is_asked_again_later_and_the_connection_catches_up() {
    let syncs = |frames: &[ClientFrame]| {
        frames
            .iter()
            .filter(|frame| matches!(frame, ClientFrame::Sync { .. }))
            .count()
    };
    let mut engine = challenged_alice("correct horse battery");
    engine.advance_clock(1_000);
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    assert_eq!(syncs(&take_frames(&mut engine)), 1);
    // The device's publish went first, and is answered first.
    engine.handle_frame(ServerFrame::KeysPublished {
        one_time_keys: merpati_core::e2e::ONE_TIME_KEY_TARGET,
    });
    // The account's syncs cost more than it has left: refused, not served.
    engine.handle_frame(ServerFrame::Error {
        request: None,
        code: ErrorCode::TooManyRequests,
        detail: "too many syncs; try again in 3 s".to_owned(),
    });
    assert_eq!(syncs(&take_frames(&mut engine)), 0, "not again at once");
    assert_eq!(engine.connection_phase(), ConnectionPhase::Connecting);
    let retry_at = engine
        .next_clock_change_ms()
        .expect("asked again at a time");
    engine.advance_clock(retry_at - 1);
    assert_eq!(syncs(&take_frames(&mut engine)), 0);
    engine.advance_clock(retry_at);
    assert_eq!(syncs(&take_frames(&mut engine)), 1, "asked again");
    engine.handle_frame(ServerFrame::SyncDone);
    assert_eq!(engine.connection_phase(), ConnectionPhase::Online);
}

#[test]
fn a_sign_up_with_a_random_salt_tells_the_server_the_salt() {
    let mut engine = Engine::new();
    let salt = merpati_core::crypto::AccountKey::new_kdf_salt().expect("random");
    let key = merpati_core::crypto::AccountKey::derive(
        &name("alice"),
        "correct horse battery",
        Some(&salt),
        merpati_core::crypto::KdfParams::FAST_INSECURE,
    )
    .expect("derives");
    engine.sign_up(name("alice"), &key, Some(salt));
    match next_connection(&mut engine).as_slice() {
        [
            ClientFrame::Authenticate {
                method:
                    AuthMethod::RegisterWithSalt {
                        public_key,
                        kdf_salt,
                        ..
                    },
                ..
            },
        ] => {
            assert_eq!(*kdf_salt, salt);
            assert_eq!(public_key, key.auth_key().public_key().as_bytes());
        }
        other => panic!("expected a sign-up with the salt, got {other:?}"),
    }
}
