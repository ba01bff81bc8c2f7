//! Sessions: a token one rotation old still resumes its session, so its sign-out proof
//! still ends it; a session's use until a connection of it closed is stored.

use merpati_protocol::auth::sign_out_proof;

use super::*;

/// How long ago, in milliseconds, a token is made to have rotated: more than a day.
const TWO_DAYS_MS: i64 = 2 * 24 * 60 * 60 * 1000;

pub(super) async fn the_proof_of_a_token_one_rotation_old_ends_its_session(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let first = [0x11; 32];
    storage
        .create_session(alice.id, SessionKeys::of(&first), None)
        .await
        .unwrap();
    seed(
        storage,
        vec![(
            "UPDATE sessions SET rotated_ms = rotated_ms - $1 WHERE token_hash = $2",
            vec![
                Value::Int(TWO_DAYS_MS),
                Value::Bytes(crate::auth::token_hash(&first).to_vec()),
            ],
        )],
    )
    .await;
    let second = storage
        .resume_session(first)
        .await
        .unwrap()
        .and_then(|resumed| resumed.new_token)
        .expect("a token two days old rotates");

    // The tab that still holds the first token signs out.
    let proof_hash = crate::auth::sign_out_hash(&sign_out_proof(&first));
    assert!(storage.sign_out(proof_hash).await.unwrap().is_some());
    assert!(storage.resume_session(second).await.unwrap().is_none());
    assert!(storage.resume_session(first).await.unwrap().is_none());
    // Heard twice (the answer was lost): nothing more to end.
    assert!(storage.sign_out(proof_hash).await.unwrap().is_none());
}

pub(super) async fn a_sessions_use_until_a_connection_closed_is_stored(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let token = [0x22; 32];
    storage
        .create_session(alice.id, SessionKeys::of(&token), None)
        .await
        .unwrap();
    let name = crate::auth::token_hash(&token);
    let other = [0x33; 32];
    storage
        .create_session(alice.id, SessionKeys::of(&other), None)
        .await
        .unwrap();
    let other_name = crate::auth::token_hash(&other);
    let used_at = |session: [u8; 32]| async move {
        let sessions = storage.sessions_of(alice.id).await.unwrap();
        let found = sessions.iter().find(|row| row.token_hash == session);
        found.map(|row| row.last_used_ms).expect("the session")
    };
    // Written in the background: read until it is (each request writes every use waiting).
    let stored_as = |session: [u8; 32], at_ms: u64| async move {
        for _ in 0..2_000 {
            if used_at(session).await == i64::try_from(at_ms).unwrap() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("never stored as used at {at_ms}");
    };
    let signed_in = u64::try_from(used_at(name).await).unwrap();
    // A connection of it closes an hour later.
    let closed = signed_in + 60 * 60 * 1000;
    storage.record_session_used(name, closed);
    stored_as(name, closed).await;
    // An earlier close heard late moves nothing back: once a later use of the other session,
    // recorded after it, is stored, so is whatever it wrote.
    storage.record_session_used(name, closed - 1);
    storage.record_session_used(other_name, closed + 1);
    stored_as(other_name, closed + 1).await;
    assert_eq!(used_at(name).await, i64::try_from(closed).unwrap());
}
