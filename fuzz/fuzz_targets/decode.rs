//! Arbitrary bytes into the one frame decoder, both directions: it must return an error or a
//! frame, never panic, and a decoded frame must encode back to a frame that decodes the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use merpati_protocol::{ClientFrame, ServerFrame, decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode::<ClientFrame>(data) {
        let again: ClientFrame = decode(&encode(&frame)).expect("a re-encoded frame decodes");
        assert_eq!(again, frame);
    }
    if let Ok(frame) = decode::<ServerFrame>(data) {
        let again: ServerFrame = decode(&encode(&frame)).expect("a re-encoded frame decodes");
        assert_eq!(again, frame);
    }
});
