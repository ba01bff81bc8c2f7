//! Arbitrary text into the parsers of names: usernames (`Username::parse`, which the server
//! also runs on every stored username it reads back, and the `Username` wire decoder), message
//! ids as the page writes them into the document (`ClientMsgId::from_hex`), and the keys of
//! end-to-end records as the client's store spells them (`CryptoRecordKey::from_stored`).
//!
//! None may panic. A parsed username is its own normal form (parsing it again gives it back)
//! and the wire decoder reads a name exactly as `parse` does; a parsed message id
//! spells the same hex digits as its input; a parsed record key is spelt exactly as its
//! input (the store finds records by a hash of that spelling).

#![no_main]

use libfuzzer_sys::fuzz_target;
use merpati_core::e2e::CryptoRecordKey;
use merpati_protocol::{ClientMsgId, Username, decode, encode};

fuzz_target!(|data: &[u8]| {
    // The wire decoder reads a length and bytes: any bytes reach it, text or not.
    if let Ok(name) = decode::<Username>(data) {
        assert_eq!(Username::parse(name.as_str()).as_ref(), Ok(&name));
        assert_eq!(decode::<Username>(&encode(&name)).ok(), Some(name));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let parsed = Username::parse(text);
    if let Ok(name) = &parsed {
        assert_eq!(Username::parse(name.as_str()).as_ref(), Ok(name));
    }
    assert_eq!(
        decode::<Username>(&encode(&text.to_owned())).ok(),
        parsed.ok(),
        "the wire decoder reads a name as parse does"
    );

    if let Some(id) = ClientMsgId::from_hex(text) {
        assert_eq!(
            id.to_hex(),
            text.to_ascii_lowercase(),
            "a message id is read from its 32 hex digits only"
        );
    }

    if let Ok(key) = CryptoRecordKey::from_stored(text) {
        assert_eq!(key.to_stored(), text);
    }
});
