//! A file's own encryption, before it is uploaded and after it is downloaded.
//!
//! Each file gets a fresh random key ([`FileKey`]), so one key never seals two files and the
//! nonce can simply count: the plaintext is cut into chunks of
//! [`merpati_protocol::blobs::CHUNK_PLAIN_BYTES`], and chunk `i` is sealed under the nonce
//! [`chunk_nonce`]: `i` (eight bytes, big-endian), three zero bytes, then a byte that is 1 for
//! the last chunk and 0 otherwise. Each sealed chunk is its ciphertext followed by its 16-byte
//! tag. So a chunk cannot be moved, dropped or repeated, and a blob cut short does not open as
//! a shorter file (its last chunk would not say it is the last). The SHA-256 of the plaintext
//! travels in the message beside the key and is checked after decrypting ([`open`]): the file
//! a person saves is the file that was sent.
//!
//! Two ciphers seal chunks this way ([`merpati_protocol::content::FileCipher`]). Apps send
//! files sealed with AES-256-GCM, which the browser's WebCrypto runs natively: the engine
//! worker calls it chunk by chunk with this crate's [`chunk_nonce`] and [`chunk_plain_len`]
//! (`src/services/files/aes_gcm.rs`). Files sent earlier were sealed with
//! ChaCha20-Poly1305, done here: [`FileOpener`] opens them as they download ([`FileSealer`]
//! and [`seal`] make them, for tests and for any client without WebCrypto). The streaming
//! halves leave the hash to their caller: a browser has SHA-256 of its own, several times
//! faster than any in WebAssembly (bench/NOTES.md, "The file's hash by the browser").

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use merpati_protocol::blobs::{CHUNK_PLAIN_BYTES, CHUNK_TAG_BYTES, chunk_count, ciphertext_len};
use merpati_protocol::content::FileKey;
use sha2::{Digest, Sha256};

/// Why a downloaded file was not handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// The blob is not as long as the file it should hold.
    #[error("the file is incomplete")]
    WrongLength,
    /// A chunk did not authenticate: the bytes were changed, or are not this file's.
    #[error("the file was changed on its way")]
    Tampered,
    /// It opened, but is not the file the message names.
    #[error("the file is not the one that was sent")]
    WrongHash,
}

/// A file sealed for upload: its ciphertext and its plaintext's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFile {
    /// What the server stores: [`ciphertext_len`] bytes.
    pub ciphertext: Vec<u8>,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
}

/// The SHA-256 of a file's bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Encrypts `plaintext` under `key` (a fresh one per file: see the module documentation).
pub fn seal(key: &FileKey, plaintext: &[u8]) -> SealedFile {
    let len = u64::try_from(plaintext.len()).unwrap_or(u64::MAX);
    let mut sealer = FileSealer::new(key, len);
    let mut ciphertext = Vec::with_capacity(usize::try_from(ciphertext_len(len)).unwrap_or(0));
    sealer.feed(plaintext, &mut ciphertext);
    sealer.seal_if_whole(&mut ciphertext);
    SealedFile {
        ciphertext,
        sha256: sha256(plaintext),
    }
}

/// A file sealed as it is read: each chunk is encrypted as soon as all of it has
/// been read, so the sender never holds the whole file in memory, and the work comes in many
/// calls (a browser's engine optimises a function that is called often, not one long call).
pub struct FileSealer {
    cipher: ChaCha20Poly1305,
    size: u64,
    /// Bytes given so far.
    given: u64,
    /// Chunks the blob holds, and the index of the one being read.
    count: u64,
    index: u64,
    /// The chunk being read, so far.
    held: Vec<u8>,
}

impl std::fmt::Debug for FileSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSealer")
            .field("size", &self.size)
            .field("given", &self.given)
            .finish_non_exhaustive()
    }
}

impl FileSealer {
    /// Seals a file of `size` bytes under `key`.
    pub fn new(key: &FileKey, size: u64) -> FileSealer {
        FileSealer {
            cipher: ChaCha20Poly1305::new((&key.0).into()),
            size,
            given: 0,
            count: chunk_count(size),
            index: 0,
            held: Vec::new(),
        }
    }

    /// The file's next bytes; answers the blob's bytes for every chunk now whole. More bytes
    /// than the file's size is [`FileError::WrongLength`] (the file changed while read).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, FileError> {
        self.given = self
            .given
            .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        if self.given > self.size {
            return Err(FileError::WrongLength);
        }
        let mut sealed = Vec::new();
        self.feed(bytes, &mut sealed);
        Ok(sealed)
    }

    /// The blob's last bytes, once all `size` bytes were given. (The file's SHA-256 is the
    /// caller's to take, of the same bytes it gave.)
    pub fn finish(mut self) -> Result<Vec<u8>, FileError> {
        let mut sealed = Vec::new();
        // An empty file is one empty chunk, whole before any byte is given.
        self.seal_if_whole(&mut sealed);
        if self.index != self.count {
            return Err(FileError::WrongLength);
        }
        Ok(sealed)
    }

    /// Takes `bytes` (no more than the file has left), sealing onto `sealed` each chunk they
    /// make whole.
    fn feed(&mut self, mut bytes: &[u8], sealed: &mut Vec<u8>) {
        while !bytes.is_empty() {
            let wanted = self.plain_len(self.index) - self.held.len();
            let (now, rest) = bytes.split_at(wanted.min(bytes.len()));
            self.held.extend_from_slice(now);
            bytes = rest;
            self.seal_if_whole(sealed);
        }
    }

    /// How many bytes of the file chunk `index` holds.
    fn plain_len(&self, index: u64) -> usize {
        usize::try_from(chunk_plain_len(self.size, index)).unwrap_or(usize::MAX)
    }

    /// Seals the chunk held onto `sealed` if all of it is here.
    fn seal_if_whole(&mut self, sealed: &mut Vec<u8>) {
        if self.index == self.count || self.held.len() != self.plain_len(self.index) {
            return;
        }
        let nonce = chunk_nonce(self.index, self.index + 1 == self.count).into();
        // Sealed where it lies in the blob: no buffer per chunk. Encrypting in memory cannot
        // fail but for a plaintext over ChaCha20's 256 GiB limit, and a chunk is 64 KiB.
        let start = sealed.len();
        sealed.extend_from_slice(&self.held);
        let buffer = &mut sealed[start..];
        if let Ok(tag) = self
            .cipher
            .encrypt_inout_detached(&nonce, b"", buffer.into())
        {
            sealed.extend_from_slice(&tag);
        }
        self.held.clear();
        self.index += 1;
    }
}

/// How many bytes of a file of `size` bytes chunk `index` holds: a whole chunk's, but for the
/// last, which holds the rest (none for an empty file).
pub fn chunk_plain_len(size: u64, index: u64) -> u64 {
    if index + 1 >= chunk_count(size) {
        size.saturating_sub(index * CHUNK_PLAIN_BYTES)
    } else {
        CHUNK_PLAIN_BYTES
    }
}

/// Decrypts a downloaded blob of a file of `size` bytes and checks it against `sha256`.
pub fn open(
    key: &FileKey,
    size: u64,
    sha256_expected: &[u8; 32],
    ciphertext: &[u8],
) -> Result<Vec<u8>, FileError> {
    let mut opener = FileOpener::new(key, size);
    let plaintext = opener.push(ciphertext)?;
    opener.finish()?;
    if sha256(&plaintext) != *sha256_expected {
        return Err(FileError::WrongHash);
    }
    Ok(plaintext)
}

/// A file opened as its blob arrives: each chunk is decrypted as soon as all of it is here, so
/// a download's decryption overlaps its transfer and little is left to do after the last
/// byte, and the opened bytes are handed back as they come (the caller keeps them outside its
/// own memory). Refuses as early as it can tell: a changed chunk at once, a blob longer than
/// the file's at the first byte too many. Nothing it handed back is the file until
/// [`FileOpener::finish`] says the whole blob came and the caller has checked the bytes
/// against the SHA-256 the message names.
pub struct FileOpener {
    cipher: ChaCha20Poly1305,
    size: u64,
    /// Chunks the blob holds, and the index of the one arriving.
    count: u64,
    index: u64,
    /// The arriving chunk's bytes so far.
    held: Vec<u8>,
}

impl std::fmt::Debug for FileOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileOpener")
            .field("size", &self.size)
            .field("chunk", &self.index)
            .field("of", &self.count)
            .finish_non_exhaustive()
    }
}

impl FileOpener {
    /// Opens a file of `size` bytes sealed under `key`.
    pub fn new(key: &FileKey, size: u64) -> FileOpener {
        FileOpener {
            cipher: ChaCha20Poly1305::new((&key.0).into()),
            size,
            count: chunk_count(size),
            index: 0,
            held: Vec::new(),
        }
    }

    /// The next bytes of the blob, as they came; answers the file's bytes of every chunk they
    /// made whole.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<u8>, FileError> {
        let mut opened = Vec::new();
        while !bytes.is_empty() {
            if self.index == self.count {
                return Err(FileError::WrongLength);
            }
            let sealed_len = self.sealed_len(self.index);
            let wanted = sealed_len - self.held.len();
            let (now, rest) = bytes.split_at(wanted.min(bytes.len()));
            self.held.extend_from_slice(now);
            bytes = rest;
            if self.held.len() == sealed_len {
                self.open_held(&mut opened)?;
            }
        }
        Ok(opened)
    }

    /// Whether every byte of the blob has come, each chunk opened: then the bytes handed back
    /// are the whole of what was sealed, still to be checked against the message's SHA-256.
    pub fn finish(self) -> Result<(), FileError> {
        if self.index != self.count {
            return Err(FileError::WrongLength);
        }
        Ok(())
    }

    /// How many bytes chunk `index` takes in the blob.
    fn sealed_len(&self, index: u64) -> usize {
        usize::try_from(chunk_plain_len(self.size, index) + CHUNK_TAG_BYTES).unwrap_or(usize::MAX)
    }

    /// Decrypts the chunk now held whole, in place, onto `opened`.
    fn open_held(&mut self, opened: &mut Vec<u8>) -> Result<(), FileError> {
        let nonce: Nonce = chunk_nonce(self.index, self.index + 1 == self.count).into();
        self.cipher
            .decrypt_in_place(&nonce, b"", &mut self.held)
            .map_err(|_| FileError::Tampered)?;
        opened.extend_from_slice(&self.held);
        self.held.clear();
        self.index += 1;
        Ok(())
    }
}

/// The nonce chunk `index` is sealed under, `last` if it is the file's last chunk.
pub fn chunk_nonce(index: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: FileKey = FileKey([9; 32]);

    fn file(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn sizes() -> [usize; 6] {
        let chunk = CHUNK_PLAIN_BYTES as usize;
        [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 17]
    }

    #[test]
    fn a_sealed_file_opens_to_itself_at_every_size_around_a_chunk() {
        for len in sizes() {
            let plaintext = file(len);
            let sealed = seal(&KEY, &plaintext);
            assert_eq!(sealed.ciphertext.len() as u64, ciphertext_len(len as u64));
            let opened = open(&KEY, len as u64, &sealed.sha256, &sealed.ciphertext);
            assert_eq!(opened, Ok(plaintext), "{len} bytes");
        }
    }

    #[test]
    fn the_ciphertext_holds_no_run_of_the_plaintext() {
        let plaintext = file(200_000);
        let sealed = seal(&KEY, &plaintext);
        assert!(
            !sealed
                .ciphertext
                .windows(32)
                .any(|window| window == &plaintext[1000..1032])
        );
    }

    #[test]
    fn a_changed_byte_another_key_or_swapped_chunks_do_not_open() {
        let plaintext = file(3 * CHUNK_PLAIN_BYTES as usize);
        let sealed = seal(&KEY, &plaintext);
        let size = plaintext.len() as u64;

        let mut changed = sealed.ciphertext.clone();
        changed[70_000] ^= 1;
        assert_eq!(
            open(&KEY, size, &sealed.sha256, &changed),
            Err(FileError::Tampered)
        );
        assert_eq!(
            open(&FileKey([8; 32]), size, &sealed.sha256, &sealed.ciphertext),
            Err(FileError::Tampered)
        );
        let sealed_chunk = (CHUNK_PLAIN_BYTES + CHUNK_TAG_BYTES) as usize;
        let mut swapped = sealed.ciphertext.clone();
        let (first, rest) = swapped.split_at_mut(sealed_chunk);
        first.swap_with_slice(&mut rest[..sealed_chunk]);
        assert_eq!(
            open(&KEY, size, &sealed.sha256, &swapped),
            Err(FileError::Tampered)
        );
    }

    #[test]
    fn a_blob_cut_at_a_chunk_boundary_does_not_open_as_a_shorter_file() {
        let plaintext = file(2 * CHUNK_PLAIN_BYTES as usize);
        let sealed = seal(&KEY, &plaintext);
        let first = &sealed.ciphertext[..(CHUNK_PLAIN_BYTES + CHUNK_TAG_BYTES) as usize];
        let shorter = &plaintext[..CHUNK_PLAIN_BYTES as usize];
        // Even told the shorter size and hash, the first chunk does not say it is the last.
        assert_eq!(
            open(&KEY, shorter.len() as u64, &sha256(shorter), first),
            Err(FileError::Tampered)
        );
        assert_eq!(
            open(&KEY, plaintext.len() as u64, &sealed.sha256, first),
            Err(FileError::WrongLength)
        );
    }

    #[test]
    fn a_blob_arriving_in_pieces_of_any_size_opens_as_it_comes() {
        for len in sizes() {
            let plaintext = file(len);
            let sealed = seal(&KEY, &plaintext);
            for piece in [1, 7, 16, 4096, CHUNK_PLAIN_BYTES as usize + 3] {
                let mut opener = FileOpener::new(&KEY, len as u64);
                let mut opened = Vec::new();
                for part in sealed.ciphertext.chunks(piece) {
                    opened.extend(opener.push(part).expect("opens"));
                }
                assert_eq!(opener.finish(), Ok(()), "{len} bytes in {piece}s");
                assert_eq!(opened, plaintext, "{len} bytes in {piece}s");
            }
        }
    }

    #[test]
    fn a_file_sealed_as_it_is_read_in_pieces_of_any_size_is_the_same_blob() {
        for len in sizes() {
            let plaintext = file(len);
            let whole = seal(&KEY, &plaintext);
            for piece in [1, 7, 4096, CHUNK_PLAIN_BYTES as usize + 3] {
                let mut sealer = FileSealer::new(&KEY, len as u64);
                let mut ciphertext = Vec::new();
                for part in plaintext.chunks(piece) {
                    ciphertext.extend(sealer.push(part).expect("within the size"));
                }
                ciphertext.extend(sealer.finish().expect("every byte given"));
                assert_eq!(ciphertext, whole.ciphertext, "{len} bytes in {piece}s");
            }
        }
    }

    #[test]
    fn a_file_that_grew_or_shrank_while_read_is_not_sealed() {
        let mut sealer = FileSealer::new(&KEY, 10);
        assert!(sealer.push(&[1; 10]).is_ok());
        assert_eq!(sealer.push(&[1]), Err(FileError::WrongLength));
        let mut sealer = FileSealer::new(&KEY, 10);
        assert!(sealer.push(&[1; 9]).is_ok());
        assert_eq!(sealer.finish(), Err(FileError::WrongLength));
    }

    #[test]
    fn a_piece_refuses_as_soon_as_it_shows_a_changed_chunk_or_a_byte_too_many() {
        let plaintext = file(3 * CHUNK_PLAIN_BYTES as usize);
        let sealed = seal(&KEY, &plaintext);
        let size = plaintext.len() as u64;
        let sealed_chunk = (CHUNK_PLAIN_BYTES + CHUNK_TAG_BYTES) as usize;

        let mut changed = sealed.ciphertext.clone();
        changed[10] ^= 1;
        let mut opener = FileOpener::new(&KEY, size);
        assert_eq!(
            opener.push(&changed[..sealed_chunk]),
            Err(FileError::Tampered),
            "the first chunk is refused before the rest arrives"
        );

        let mut opener = FileOpener::new(&KEY, size);
        assert_eq!(opener.push(&sealed.ciphertext), Ok(plaintext));
        assert_eq!(opener.push(&[0]), Err(FileError::WrongLength));
    }

    #[test]
    fn a_file_that_opens_but_is_not_the_one_named_is_refused() {
        let sealed = seal(&KEY, b"the real file");
        assert_eq!(
            open(&KEY, 13, &sha256(b"another file!"), &sealed.ciphertext),
            Err(FileError::WrongHash)
        );
    }
}
