//! [`OutboxRecord`]: a message of the outbox as the device keeps it, read back from what an
//! earlier version kept too.

use merpati_protocol::{ChatId, ClientMsgId, ErrorCode};
use serde::{Deserialize, Serialize};

/// A message written on this device and not yet acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRecord {
    /// Where it goes.
    pub chat_id: ChatId,
    /// Its name, kept across resends so the server stores it once.
    pub client_msg_id: ClientMsgId,
    /// The encoded content.
    pub body: Vec<u8>,
    /// When the person wrote it, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Sending order on this device: outbox entries go out by ascending `order`.
    pub order: u64,
    /// The server refused it for good, and why: it waits, shown failed, for the person to
    /// send it again, across reloads too. Last, and read as `None` from a record kept before
    /// it was ([`OutboxRecord`]'s `Deserialize`).
    pub failure: Option<ErrorCode>,
    /// It went out on a connection, once or more: the server may hold it, so a deletion
    /// follows it rather than taking it back. Read as `true` from a record kept before it
    /// was (nothing said then whether it had left).
    pub sent: bool,
}

/// Reads the fields in order, as derived, except that a record ending before `failure` or
/// `sent` (kept by an earlier version, which had no such fields) reads as not refused, and as
/// perhaps sent.
impl<'de> Deserialize<'de> for OutboxRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = OutboxRecord;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an outbox record")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OutboxRecord, A::Error> {
                let missing = |index| serde::de::Error::invalid_length(index, &"7 fields");
                Ok(OutboxRecord {
                    chat_id: seq.next_element()?.ok_or_else(|| missing(0))?,
                    client_msg_id: seq.next_element()?.ok_or_else(|| missing(1))?,
                    body: seq.next_element()?.ok_or_else(|| missing(2))?,
                    created_ms: seq.next_element()?.ok_or_else(|| missing(3))?,
                    order: seq.next_element()?.ok_or_else(|| missing(4))?,
                    // The end of an earlier version's record is an error here, not `None`:
                    // its fields are counted by the type, not in the bytes.
                    failure: seq.next_element().ok().flatten().flatten(),
                    sent: seq.next_element().ok().flatten().unwrap_or(true),
                })
            }
        }
        const FIELDS: [&str; 7] = [
            "chat_id",
            "client_msg_id",
            "body",
            "created_ms",
            "order",
            "failure",
            "sent",
        ];
        deserializer.deserialize_struct("OutboxRecord", &FIELDS, Fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outbox record as versions before `failure` kept it.
    #[derive(Serialize)]
    struct Earlier {
        chat_id: ChatId,
        client_msg_id: ClientMsgId,
        body: Vec<u8>,
        created_ms: u64,
        order: u64,
    }

    #[test]
    fn a_record_kept_before_refusals_were_reads_as_not_refused_and_perhaps_sent() {
        let earlier = Earlier {
            chat_id: ChatId(4),
            client_msg_id: ClientMsgId([9; 16]),
            body: b"halo".to_vec(),
            created_ms: 1_700_000_000_000,
            order: 3,
        };
        let earlier = postcard::to_allocvec(&earlier).expect("encoded");
        let read: OutboxRecord = postcard::from_bytes(&earlier).expect("read");
        let mut record = OutboxRecord {
            chat_id: ChatId(4),
            client_msg_id: ClientMsgId([9; 16]),
            body: b"halo".to_vec(),
            created_ms: 1_700_000_000_000,
            order: 3,
            failure: None,
            sent: true,
        };
        assert_eq!(read, record);

        record.failure = Some(ErrorCode::Blocked);
        record.sent = false;
        let bytes = postcard::to_allocvec(&record).expect("encoded");
        assert_eq!(postcard::from_bytes::<OutboxRecord>(&bytes), Ok(record));
        // A record cut short within the fields it always had is refused, not guessed.
        let cut = &earlier[..earlier.len() - 1];
        assert!(postcard::from_bytes::<OutboxRecord>(cut).is_err());
    }
}
