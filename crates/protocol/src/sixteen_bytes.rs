//! Sixteen bytes (the ids of messages, files and sessions) written and read exactly as serde
//! writes and reads a `[u8; 16]` — a tuple of sixteen `u8`s, so the same bytes on the wire in
//! every format — but by a loop: serde's own reading is sixteen copies of its step, one per
//! element, and the browser's modules carry whatever code they link (`#[serde(with)]`).

use std::fmt;

use serde::de::{Error, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserializer, Serializer};

/// Writes `bytes` as serde writes a `[u8; 16]`.
pub(crate) fn serialize<S: Serializer>(bytes: &[u8; 16], serializer: S) -> Result<S::Ok, S::Error> {
    let mut tuple = serializer.serialize_tuple(16)?;
    for byte in bytes {
        tuple.serialize_element(byte)?;
    }
    tuple.end()
}

/// Reads what [`serialize`] (or serde's `[u8; 16]`) wrote.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<[u8; 16], D::Error> {
    deserializer.deserialize_tuple(16, SixteenBytes)
}

struct SixteenBytes;

impl<'de> Visitor<'de> for SixteenBytes {
    type Value = [u8; 16];

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("16 bytes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; 16], A::Error> {
        let mut bytes = [0; 16];
        for (at, byte) in bytes.iter_mut().enumerate() {
            *byte = seq
                .next_element()?
                .ok_or_else(|| A::Error::invalid_length(at, &self))?;
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Looped(#[serde(with = "super")] [u8; 16]);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Serdes([u8; 16]);

    const BYTES: [u8; 16] = [
        0, 1, 2, 127, 128, 200, 255, 9, 10, 11, 12, 13, 14, 15, 16, 17,
    ];

    #[test]
    fn the_same_bytes_on_the_wire_as_serdes_own_array() {
        let looped = postcard::to_allocvec(&Looped(BYTES)).expect("encodes");
        assert_eq!(
            looped,
            postcard::to_allocvec(&Serdes(BYTES)).expect("encodes")
        );
        assert_eq!(
            postcard::from_bytes::<Looped>(&looped).expect("decodes"),
            Looped(BYTES)
        );
    }

    #[test]
    fn fewer_than_sixteen_are_refused() {
        assert!(postcard::from_bytes::<Looped>(&[1, 2, 3]).is_err());
    }
}
