//! Arbitrary bytes into the one frame decoder (`merpati_protocol::decode`), both directions:
//! what the server reads from every WebSocket message (`ClientFrame`) and what the app reads
//! (`ServerFrame`). It must return an error or a frame, never panic, and a decoded frame must
//! encode to bytes that decode to the same frame and encode to the same bytes again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use merpati_protocol::{ClientFrame, ServerFrame, decode, encode};

fn round_trips<T>(data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let Ok(frame) = decode::<T>(data) else {
        return;
    };
    let bytes = encode(&frame);
    let again: T = decode(&bytes).expect("a re-encoded frame decodes");
    assert_eq!(again, frame);
    assert_eq!(encode(&again), bytes, "re-encoding is stable");
}

fuzz_target!(|data: &[u8]| {
    round_trips::<ClientFrame>(data);
    round_trips::<ServerFrame>(data);
});
