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
//! [`MAX_UPLOAD_PART_BYTES`] at exactly that offset, and `GET` serves a complete blob. Each
//! request carries the session's token as `Authorization: Bearer <hex>`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
