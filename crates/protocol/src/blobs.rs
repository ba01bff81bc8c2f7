//! Files: what the client and the server agree on about an attachment's ciphertext (a
//! *blob*), uploaded and downloaded over HTTP beside the WebSocket.
//!
//! A file is encrypted on the sending device with a fresh random key, in chunks of
//! [`CHUNK_PLAIN_BYTES`], each sealed with its own tag ([`CHUNK_TAG_BYTES`]), so the blob is
//! [`ciphertext_len`] bytes and can be checked as it is read. The key, the plaintext's hash,
//! name, type and size travel only inside the end-to-end encrypted message
//! (`content::Attachment`); the server stores bytes it cannot open.
//!
//! The HTTP side (`docs/protocol.md`, "Files"): `PUT /blobs/{id}` with [`UPLOAD_LENGTH`]
//! creates an upload (or answers where an existing one of the same account stands),
//! `HEAD` says how far it got ([`UPLOAD_OFFSET`]), `PATCH` appends at most
//! [`MAX_UPLOAD_PART_BYTES`] at exactly that offset, and `GET` serves a complete blob, or
//! the part of it a `Range` asks for ([`range_asked`]), so a download cut short goes on from
//! where it stopped ([`range_from`]). Each request carries the session's token as
//! `Authorization: Bearer <hex>`.

/// The largest file a person may send, in bytes (before encryption). The app refuses a
/// bigger one before it reads it; the server refuses an upload longer than
/// [`MAX_BLOB_BYTES`].
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

/// The plaintext bytes of each encrypted chunk (the last may be shorter).
pub const CHUNK_PLAIN_BYTES: u64 = 64 * 1024;

/// The authentication tag each chunk adds.
pub const CHUNK_TAG_BYTES: u64 = 16;

/// The largest blob the server accepts: a [`MAX_FILE_BYTES`] file, encrypted.
pub const MAX_BLOB_BYTES: u64 = ciphertext_len(MAX_FILE_BYTES);

/// The most bytes one `PATCH` may carry; the server refuses more with 413. The server writes
/// a part as it arrives, so this bounds what one request can cost, not what it holds in
/// memory.
pub const MAX_UPLOAD_PART_BYTES: u64 = 8 * 1024 * 1024;

/// The request header that declares a new upload's total length (`PUT`), and the response
/// header that repeats it (`HEAD`).
pub const UPLOAD_LENGTH: &str = "upload-length";

/// The header that says where an upload stands: how many bytes the server holds (answers to
/// `PUT`, `HEAD` and `PATCH`), or where a `PATCH`'s bytes go (its request).
pub const UPLOAD_OFFSET: &str = "upload-offset";

/// How many encrypted chunks a file of `plain_len` bytes is sealed in: at least one, so an
/// empty file is a single tag that still proves it is complete.
pub const fn chunk_count(plain_len: u64) -> u64 {
    if plain_len == 0 {
        1
    } else {
        plain_len.div_ceil(CHUNK_PLAIN_BYTES)
    }
}

/// The length of a file of `plain_len` bytes once encrypted.
pub const fn ciphertext_len(plain_len: u64) -> u64 {
    plain_len + chunk_count(plain_len) * CHUNK_TAG_BYTES
}

/// The `Range` a download cut short asks with to go on from its `offset`th byte (RFC 9110,
/// section 14.1.2).
pub fn range_from(offset: u64) -> String {
    format!("bytes={offset}-")
}

/// What a `GET`'s `Range` asks of a blob of some length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsked {
    /// No range, or one the server does not serve and so ignores, as RFC 9110 lets it: not
    /// in bytes, malformed, or several ranges. Answered 200 with the whole blob.
    Whole,
    /// The bytes `first..=last`, both within the blob: answered 206 with them.
    Part { first: u64, last: u64 },
    /// A range wholly past the blob's end: answered 416.
    Unsatisfiable,
}

/// Reads a `Range` header's `value` against a blob of `length` bytes: one range of the forms
/// `bytes=first-last`, `bytes=first-` and `bytes=-suffix`, a `last` past the end meaning the
/// end.
pub fn range_asked(value: Option<&str>, length: u64) -> RangeAsked {
    let Some(spec) = value.and_then(|value| value.trim().strip_prefix("bytes=")) else {
        return RangeAsked::Whole;
    };
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsked::Whole;
    };
    let number = |text: &str| -> Option<u64> {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    let end = length.saturating_sub(1);
    // A malformed end makes the whole range malformed, to be ignored, even past the blob.
    if !last.trim().is_empty() && number(last).is_none() {
        return RangeAsked::Whole;
    }
    match (first.trim().is_empty(), number(first), number(last)) {
        // The last `suffix` bytes.
        (true, _, Some(suffix)) if suffix == 0 || length == 0 => RangeAsked::Unsatisfiable,
        (true, _, Some(suffix)) => RangeAsked::Part {
            first: length.saturating_sub(suffix),
            last: end,
        },
        (false, Some(first), _) if first >= length => RangeAsked::Unsatisfiable,
        (false, Some(first), None) if last.trim().is_empty() => {
            RangeAsked::Part { first, last: end }
        }
        (false, Some(first), Some(last)) if first <= last => RangeAsked::Part {
            first,
            last: last.min(end),
        },
        _ => RangeAsked::Whole,
    }
}

/// The `Content-Range` of a 206 carrying bytes `first..=last` of a blob of `length`.
pub fn content_range(first: u64, last: u64, length: u64) -> String {
    format!("bytes {first}-{last}/{length}")
}

/// The first byte a 206's `Content-Range` says its body starts at; `None` if it does not read
/// as [`content_range`] writes it.
pub fn content_range_first(value: &str) -> Option<u64> {
    let (first, _) = value.trim().strip_prefix("bytes ")?.split_once('-')?;
    first.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_from_an_offset_asks_for_the_rest_and_says_where_it_starts() {
        let asked = range_asked(Some(&range_from(1000)), 5000);
        assert_eq!(
            asked,
            RangeAsked::Part {
                first: 1000,
                last: 4999
            }
        );
        assert_eq!(
            content_range_first(&content_range(1000, 4999, 5000)),
            Some(1000)
        );
        assert_eq!(content_range_first("bytes */5000"), None);
    }

    #[test]
    fn each_form_of_one_range_is_read_and_its_end_kept_within_the_blob() {
        let part = |first, last| RangeAsked::Part { first, last };
        assert_eq!(range_asked(Some("bytes=0-99"), 5000), part(0, 99));
        assert_eq!(range_asked(Some("bytes=4000-9999"), 5000), part(4000, 4999));
        assert_eq!(range_asked(Some("bytes=-100"), 5000), part(4900, 4999));
        assert_eq!(range_asked(Some("bytes=-9999"), 5000), part(0, 4999));
        assert_eq!(range_asked(Some(" bytes= 10 - 20 "), 5000), part(10, 20));
    }

    #[test]
    fn a_range_past_the_end_is_unsatisfiable_and_one_not_served_asks_for_the_whole() {
        assert_eq!(
            range_asked(Some("bytes=5000-"), 5000),
            RangeAsked::Unsatisfiable
        );
        assert_eq!(
            range_asked(Some("bytes=-0"), 5000),
            RangeAsked::Unsatisfiable
        );
        for ignored in [
            None,
            Some("bytes=0-10,20-30"),
            Some("bytes=30-20"),
            Some("bytes=-"),
            Some("bytes=+5-"),
            Some("bytes=x-"),
            Some("bytes=5000-abc"),
            Some("bytes=10-abc"),
            Some("items=0-10"),
            Some("bytes 0-10"),
        ] {
            assert_eq!(range_asked(ignored, 5000), RangeAsked::Whole, "{ignored:?}");
        }
    }

    #[test]
    fn each_chunk_adds_one_tag_and_an_empty_file_is_one_tag() {
        assert_eq!(ciphertext_len(0), 16);
        assert_eq!(ciphertext_len(1), 17);
        assert_eq!(ciphertext_len(CHUNK_PLAIN_BYTES), CHUNK_PLAIN_BYTES + 16);
        assert_eq!(
            ciphertext_len(CHUNK_PLAIN_BYTES + 1),
            CHUNK_PLAIN_BYTES + 1 + 32
        );
        assert_eq!(MAX_BLOB_BYTES, MAX_FILE_BYTES + 1600 * 16);
    }
}
