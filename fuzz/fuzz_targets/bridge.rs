//! Arbitrary bytes into both directions of the page/worker bridge (`merpati_bridge::decode`):
//! the `Command`s the worker reads from the page and the `Update`s the page reads from the
//! worker, and the page's `RowsChange::apply`, which turns the rows it holds into the ones an
//! update describes.
//!
//! None may panic. A decoded message must encode to bytes that decode and encode to the same
//! bytes again (bytes, not values: a view carries an `f64`, and NaN is not equal to itself);
//! applying a row change must leave at most the rows held plus the rows it adds (or, for
//! `All`, the rows it carries).

#![no_main]

use libfuzzer_sys::fuzz_target;
use merpati_bridge::{Command, MessageRow, RowsChange, Update, decode, encode};

fn stable<T>(data: &[u8]) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let message: T = decode(data).ok()?;
    let bytes = encode(&message);
    let again: T = decode(&bytes).expect("a re-encoded message decodes");
    assert_eq!(encode(&again), bytes, "re-encoding is stable");
    Some(message)
}

/// Rows a page holds: the ids the seeds' changes name, and one they do not.
fn held() -> Vec<MessageRow> {
    ["00fe", "00ff", "0100", "0a"]
        .into_iter()
        .map(|id| MessageRow {
            id: id.to_owned(),
            text: format!("row {id}"),
            ..MessageRow::default()
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    stable::<Command>(data);
    let Some(Update::View { rows: change, .. }) = stable::<Update>(data) else {
        return;
    };
    let mut rows = held();
    let most = match &change {
        RowsChange::Same => rows.len(),
        RowsChange::All(all) => all.len(),
        RowsChange::Patch { before, after, .. } => rows.len() + before.len() + after.len(),
    };
    change.apply(&mut rows);
    assert!(rows.len() <= most);
});
