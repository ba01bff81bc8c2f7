//! Sessions: a token one rotation old still resumes its session, so its sign-out proof
//! still ends it.

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
