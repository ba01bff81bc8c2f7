//! Keys derived from a passphrase, and the cipher that seals everything stored in the browser.
//!
//! A person's username and passphrase go through Argon2id, on their own machine, into an
//! [`AccountKey`]. HKDF splits it into two independent keys:
//! - the Ed25519 *auth key*, whose public half is all the server keeps (it verifies signed
//!   challenges; a sign-up costs the server one signature check);
//! - the *wrapping key*, which seals the random [`StoreCipher`] key so that the same account
//!   can open its local store after a lock, and never leaves the device.
//!
//! [`StoreCipher`] seals stored values with XChaCha20-Poly1305 (random 192-bit nonces, so no
//! counter has to survive reloads) and makes keyed hashes for index keys that must not reveal
//! ids. `Debug` never prints key material.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use merpati_protocol::Username;
use sha2::Sha256;
use vodozemac::Ed25519SecretKey;

/// The shortest passphrase the app accepts, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The passphrase is shorter than [`MIN_PASSPHRASE_CHARS`].
    #[error("A passphrase needs at least {MIN_PASSPHRASE_CHARS} characters")]
    PassphraseTooShort,
    /// The key derivation parameters were rejected.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// A sealed value did not open: wrong key, or the bytes were changed.
    #[error("sealed data could not be opened (wrong key or tampered data)")]
    Unseal,
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// A sealed value held something this version cannot decode.
    #[error("sealed value has an unexpected layout: {0}")]
    Layout(#[from] postcard::Error),
}

/// How hard Argon2id works. [`KdfParams::INTERACTIVE`] in the app; tests use
/// [`KdfParams::FAST_INSECURE`] so that debug builds stay quick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes: about 0.2 s in WASM on a modest laptop, paid by the person's machine,
    /// never by the server.
    pub const INTERACTIVE: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
    };
    /// For tests only: trivially cheap, so offers no protection.
    pub const FAST_INSECURE: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
    };
}

/// Checks the passphrase rules before any expensive derivation.
pub fn check_passphrase(passphrase: &str) -> Result<(), CryptoError> {
    merpati_protocol::passphrase::check_passphrase(passphrase)
        .map_err(|_| CryptoError::PassphraseTooShort)
}

/// The secret derived from username and passphrase. Only ever held on the person's device.
pub struct AccountKey([u8; 32]);

impl AccountKey {
    /// Runs Argon2id over the passphrase, salted with the username and the account's random
    /// `kdf_salt` — made at sign-up, kept by the server (`LookUpSalt`) so that every browser
    /// derives the same key, and random so that a guess at one account's passphrase is of no
    /// use against any other account of that name anywhere. `None`: an account from before
    /// salts, salted with its name alone.
    pub fn derive(
        username: &Username,
        passphrase: &str,
        kdf_salt: Option<&[u8; 16]>,
        params: KdfParams,
    ) -> Result<AccountKey, CryptoError> {
        check_passphrase(passphrase)?;
        let argon_params = Params::new(params.memory_kib, params.iterations, 1, Some(32))
            .map_err(|error| CryptoError::Kdf(error.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
        let mut salt = format!("merpati/account/v1/{username}").into_bytes();
        if let Some(random) = kdf_salt {
            salt.push(0);
            salt.extend_from_slice(random);
        }
        let mut key = [0u8; 32];
        argon
            .hash_password_into(passphrase.as_bytes(), &salt, &mut key)
            .map_err(|error| CryptoError::Kdf(error.to_string()))?;
        Ok(AccountKey(key))
    }

    /// A fresh random salt for a new account.
    pub fn new_kdf_salt() -> Result<[u8; 16], CryptoError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|error| CryptoError::Random(error.to_string()))?;
        Ok(salt)
    }

    fn expand(&self, purpose: &str) -> [u8; 32] {
        let hkdf = Hkdf::<Sha256>::new(None, &self.0);
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expansion cannot fail.
        let _ = hkdf.expand(purpose.as_bytes(), &mut out);
        out
    }

    /// The Ed25519 key that proves the account to the server.
    pub fn auth_key(&self) -> Ed25519SecretKey {
        Ed25519SecretKey::from_slice(&self.expand("merpati/auth-key/v1"))
    }

    /// The key that wraps the local store key.
    pub fn wrapping_key(&self) -> WrappingKey {
        WrappingKey(self.expand("merpati/wrapping-key/v1"))
    }

    /// The key that seals the account's end-to-end key backup on the server.
    pub fn backup_key(&self) -> [u8; 32] {
        self.expand("merpati/key-backup/v1")
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(…)")
    }
}

/// Wraps (seals) a [`StoreCipher`]'s key; derived from the passphrase.
pub struct WrappingKey([u8; 32]);

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WrappingKey(…)")
    }
}

/// Seals and opens stored values under one random 256-bit key.
#[derive(Clone)]
pub struct StoreCipher {
    key: [u8; 32],
}

impl fmt::Debug for StoreCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreCipher(…)")
    }
}

const NONCE_BYTES: usize = 24;

impl StoreCipher {
    /// A cipher with a fresh random key.
    pub fn generate() -> Result<StoreCipher, CryptoError> {
        Ok(StoreCipher {
            key: random_bytes()?,
        })
    }

    /// The raw key, for wrapping by a key the platform keeps (e.g. a non-extractable WebCrypto
    /// key). Handle with care.
    pub fn export_key(&self) -> [u8; 32] {
        self.key
    }

    /// Rebuilds a cipher from a raw key produced by [`StoreCipher::export_key`].
    pub fn import_key(key: [u8; 32]) -> StoreCipher {
        StoreCipher { key }
    }

    /// Seals this cipher's key under a passphrase-derived wrapping key.
    pub fn wrap(&self, wrapping: &WrappingKey) -> Result<Vec<u8>, CryptoError> {
        seal_with(&wrapping.0, b"merpati/store-key", &self.key)
    }

    /// Opens a key sealed by [`StoreCipher::wrap`]; fails with the wrong wrapping key.
    pub fn unwrap_with(wrapping: &WrappingKey, wrapped: &[u8]) -> Result<StoreCipher, CryptoError> {
        let key = open_with(&wrapping.0, b"merpati/store-key", wrapped)?;
        let key: [u8; 32] = key.try_into().map_err(|_| CryptoError::Unseal)?;
        Ok(StoreCipher { key })
    }

    /// Seals bytes: `nonce || ciphertext || tag`. `context` (e.g. the object store's name) is
    /// authenticated, so a sealed value cannot be moved to another place unnoticed.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.key, context, plaintext)
    }

    /// Opens bytes sealed by [`StoreCipher::seal`] with the same context.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.key, context, sealed)
    }

    /// Encodes and seals a value.
    pub fn seal_value<T: serde::Serialize>(
        &self,
        context: &[u8],
        value: &T,
    ) -> Result<Vec<u8>, CryptoError> {
        self.seal(context, &postcard::to_allocvec(value)?)
    }

    /// Opens and decodes a value sealed by [`StoreCipher::seal_value`].
    pub fn open_value<T: serde::de::DeserializeOwned>(
        &self,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<T, CryptoError> {
        Ok(postcard::from_bytes(&self.open(context, sealed)?)?)
    }

    /// A keyed hash (HMAC-SHA256 under a key derived from the store key), for index keys that
    /// must be stable but must not reveal what they index.
    pub fn keyed_hash(&self, context: &[u8], data: &[u8]) -> [u8; 32] {
        let hkdf = Hkdf::<Sha256>::new(None, &self.key);
        let mut hash_key = [0u8; 32];
        let _ = hkdf.expand(b"merpati/index-hash/v1", &mut hash_key);
        // HMAC accepts keys of any length, so construction cannot fail.
        let Ok(mut mac) = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&hash_key) else {
            return [0; 32];
        };
        mac.update(context);
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

fn seal_with(key: &[u8; 32], context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    let nonce: [u8; NONCE_BYTES] = random_bytes()?;
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .map_err(|_| CryptoError::Unseal)?;
    let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open_with(key: &[u8; 32], context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_BYTES {
        return Err(CryptoError::Unseal);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| CryptoError::Unseal)?;
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: context,
            },
        )
        .map_err(|_| CryptoError::Unseal)
}

/// Fills an array from the operating system's (or the browser's) random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| CryptoError::Random(error.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Username {
        Username::parse("alice").expect("valid")
    }

    #[test]
    fn short_passphrases_are_refused_before_deriving() {
        assert!(matches!(
            AccountKey::derive(&alice(), "short", None, KdfParams::FAST_INSECURE),
            Err(CryptoError::PassphraseTooShort)
        ));
    }

    #[test]
    fn the_same_credentials_derive_the_same_auth_key() {
        let one = AccountKey::derive(&alice(), "correct horse", None, KdfParams::FAST_INSECURE);
        let two = AccountKey::derive(&alice(), "correct horse", None, KdfParams::FAST_INSECURE);
        let other = AccountKey::derive(&alice(), "correct horsf", None, KdfParams::FAST_INSECURE);
        let public = |key: Result<AccountKey, CryptoError>| {
            key.expect("derives").auth_key().public_key().to_base64()
        };
        let one = public(one);
        assert_eq!(one, public(two));
        assert_ne!(one, public(other));
    }

    #[test]
    fn the_accounts_random_salt_changes_the_key_and_the_same_salt_derives_it_again() {
        let public = |salt: Option<&[u8; 16]>| {
            AccountKey::derive(&alice(), "correct horse", salt, KdfParams::FAST_INSECURE)
                .expect("derives")
                .auth_key()
                .public_key()
                .to_base64()
        };
        let salt = AccountKey::new_kdf_salt().expect("random");
        let another = AccountKey::new_kdf_salt().expect("random");
        assert_ne!(salt, another);
        assert_eq!(public(Some(&salt)), public(Some(&salt)));
        assert_ne!(public(Some(&salt)), public(Some(&another)));
        assert_ne!(
            public(Some(&salt)),
            public(None),
            "a salted account is not the legacy one"
        );
    }

    #[test]
    fn a_wrapped_store_key_opens_only_with_the_right_passphrase() {
        let cipher = StoreCipher::generate().expect("random");
        let right = AccountKey::derive(&alice(), "correct horse", None, KdfParams::FAST_INSECURE)
            .expect("derives");
        let wrong = AccountKey::derive(&alice(), "wrong horse!", None, KdfParams::FAST_INSECURE)
            .expect("derives");
        let wrapped = cipher.wrap(&right.wrapping_key()).expect("wraps");
        let opened = StoreCipher::unwrap_with(&right.wrapping_key(), &wrapped).expect("opens");
        assert_eq!(opened.export_key(), cipher.export_key());
        assert!(StoreCipher::unwrap_with(&wrong.wrapping_key(), &wrapped).is_err());
    }

    #[test]
    fn sealed_values_hide_their_content_and_detect_tampering() {
        let cipher = StoreCipher::generate().expect("random");
        let sealed = cipher.seal(b"messages", b"secret text").expect("seals");
        assert!(!sealed.windows(6).any(|window| window == b"secret"));
        assert_eq!(
            cipher.open(b"messages", &sealed).expect("opens"),
            b"secret text"
        );
        assert!(
            cipher.open(b"chats", &sealed).is_err(),
            "context is authenticated"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(cipher.open(b"messages", &tampered).is_err());
        assert!(cipher.open(b"messages", &sealed[..10]).is_err());
    }

    #[test]
    fn keyed_hashes_are_stable_per_key_and_differ_across_keys() {
        let one = StoreCipher::generate().expect("random");
        let two = StoreCipher::generate().expect("random");
        assert_eq!(one.keyed_hash(b"chat", b"1"), one.keyed_hash(b"chat", b"1"));
        assert_ne!(one.keyed_hash(b"chat", b"1"), one.keyed_hash(b"chat", b"2"));
        assert_ne!(one.keyed_hash(b"chat", b"1"), two.keyed_hash(b"chat", b"1"));
    }

    #[test]
    fn debug_output_hides_keys() {
        let cipher = StoreCipher::import_key([0x41; 32]);
        assert_eq!(format!("{cipher:?}"), "StoreCipher(…)");
    }
}
