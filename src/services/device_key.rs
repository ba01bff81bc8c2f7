//! The two wrappings of the store key, kept in the `keys` object store.
//!
//! The random [`StoreCipher`] key that seals every record is kept twice, never in the clear:
//! - wrapped by the passphrase-derived [`WrappingKey`] (`store-key/passphrase`): the
//!   passphrase can always reopen the store;
//! - wrapped by a *device key* (`store-key/device`): a WebCrypto AES-GCM 256 key generated
//!   with `extractable: false` and stored as the `CryptoKey` object itself (`device-key`), so
//!   the browser can use it but no script can read its bytes. A reload unwraps the store key
//!   with it and opens the store without asking for the passphrase.
//!
//! What this protects, honestly: a copy of the profile folder (a backup, a stolen disk image)
//! holds only sealed records and wrapped keys; the device key lives in the browser's own key
//! storage and the passphrase wrapping costs an Argon2id guess per try. It does **not** protect
//! against anyone who can run script in this origin or use this unlocked browser: they can ask
//! WebCrypto to unwrap exactly as the app does. Signing out deletes the whole database, and
//! with it the device wrapping.

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use merpati_core::crypto::{StoreCipher, WrappingKey, random_bytes};
use merpati_protocol::UserId;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, AesKeyGenParams, CryptoKey, SubtleCrypto};

use super::idb_store::{KEYS, StoreError};

/// `keys` entry: the store key wrapped by the passphrase-derived key.
pub const PASSPHRASE_WRAPPED: &str = "store-key/passphrase";
/// `keys` entry: the store key wrapped by the device key (`iv || AES-GCM ciphertext`).
pub const DEVICE_WRAPPED: &str = "store-key/device";
/// `keys` entry: the non-extractable WebCrypto device key.
pub const DEVICE_KEY: &str = "device-key";
/// `keys` entry: which account the store key was made for, as a keyed hash under it (a tab
/// signing in joins a store made for its account, even before its account record is stored).
pub const OWNER: &str = "store-key/owner";

const IV_BYTES: usize = 12;

/// Wraps `cipher`'s key both ways and stores both wrappings, a new device key and the account
/// the store is for (`owner`), in one transaction.
pub async fn protect(
    db: &Database,
    cipher: &StoreCipher,
    wrapping: &WrappingKey,
    owner: UserId,
) -> Result<(), StoreError> {
    let passphrase_wrapped = cipher.wrap(wrapping)?;
    let device_key = generate_device_key().await?;
    let device_wrapped = device_encrypt(&device_key, &cipher.export_key()).await?;
    let tx = db
        .transaction(KEYS)
        .with_mode(TransactionMode::Readwrite)
        .build()?;
    let store = tx.object_store(KEYS)?;
    let _request = store
        .put(bytes_value(&passphrase_wrapped))
        .with_key(PASSPHRASE_WRAPPED)
        .without_key_type()
        .primitive()?;
    let _request = store
        .put(JsValue::from(device_key))
        .with_key(DEVICE_KEY)
        .without_key_type()
        .primitive()?;
    let _request = store
        .put(bytes_value(&device_wrapped))
        .with_key(DEVICE_WRAPPED)
        .without_key_type()
        .primitive()?;
    let _request = store
        .put(bytes_value(&owner_mark(cipher, owner)))
        .with_key(OWNER)
        .without_key_type()
        .primitive()?;
    tx.commit().await?;
    Ok(())
}

/// Whether the store key `cipher` was made for the account `owner` (by [`protect`]).
pub async fn made_for(
    db: &Database,
    cipher: &StoreCipher,
    owner: UserId,
) -> Result<bool, StoreError> {
    let tx = db.transaction(KEYS).build()?;
    let store = tx.object_store(KEYS)?;
    let mark: Option<JsValue> = store.get(OWNER).primitive()?.await?;
    Ok(match mark {
        Some(mark) => value_bytes(&mark)? == owner_mark(cipher, owner),
        None => false,
    })
}

fn owner_mark(cipher: &StoreCipher, owner: UserId) -> [u8; 32] {
    cipher.keyed_hash(b"store-owner", &owner.0.to_be_bytes())
}

/// Opens the store key with the device key, as a reload does; `None` when this browser holds
/// no device wrapping (never signed in, or signed out).
pub async fn unlock_with_device(db: &Database) -> Result<Option<StoreCipher>, StoreError> {
    let (device_key, wrapped) = {
        let tx = db.transaction(KEYS).build()?;
        let store = tx.object_store(KEYS)?;
        // Both requests go out before either is awaited: one round trip, one snapshot.
        let device_key = store.get::<JsValue, _, _>(DEVICE_KEY).primitive()?;
        let wrapped = store.get::<JsValue, _, _>(DEVICE_WRAPPED).primitive()?;
        (device_key.await?, wrapped.await?)
    };
    let (Some(device_key), Some(wrapped)) = (device_key, wrapped) else {
        return Ok(None);
    };
    let device_key: CryptoKey = device_key
        .dyn_into()
        .map_err(|_| StoreError::Corrupt(KEYS))?;
    let wrapped = value_bytes(&wrapped)?;
    let raw = device_decrypt(&device_key, &wrapped).await?;
    let key: [u8; 32] = raw.try_into().map_err(|_| StoreError::Corrupt(KEYS))?;
    Ok(Some(StoreCipher::import_key(key)))
}

/// Opens the store key with the passphrase-derived key; `None` when no wrapping is stored.
pub async fn unlock_with_passphrase(
    db: &Database,
    wrapping: &WrappingKey,
) -> Result<Option<StoreCipher>, StoreError> {
    let tx = db.transaction(KEYS).build()?;
    let store = tx.object_store(KEYS)?;
    let wrapped: Option<JsValue> = store.get(PASSPHRASE_WRAPPED).primitive()?.await?;
    let Some(wrapped) = wrapped else {
        return Ok(None);
    };
    Ok(Some(StoreCipher::unwrap_with(
        wrapping,
        &value_bytes(&wrapped)?,
    )?))
}

fn bytes_value(bytes: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(bytes).into()
}

fn value_bytes(value: &JsValue) -> Result<Vec<u8>, StoreError> {
    value
        .dyn_ref::<js_sys::Uint8Array>()
        .map(js_sys::Uint8Array::to_vec)
        .ok_or(StoreError::Corrupt(KEYS))
}

/// The browser's WebCrypto, of the page or of the engine worker.
pub(crate) fn subtle() -> Result<SubtleCrypto, StoreError> {
    // `crypto` of the window or of the engine worker's global scope: the same object.
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .ok()
        .filter(|crypto| crypto.is_object())
        .ok_or_else(|| webcrypto("no crypto"))?;
    Ok(crypto.unchecked_into::<web_sys::Crypto>().subtle())
}

fn webcrypto(what: impl std::fmt::Display) -> StoreError {
    StoreError::WebCrypto(what.to_string())
}

fn js_error(error: JsValue) -> StoreError {
    webcrypto(error.as_string().unwrap_or_else(|| format!("{error:?}")))
}

async fn generate_device_key() -> Result<CryptoKey, StoreError> {
    let usages = js_sys::Array::of2(&"encrypt".into(), &"decrypt".into());
    let promise = subtle()?
        .generate_key_with_object(&AesKeyGenParams::new("AES-GCM", 256), false, &usages)
        .map_err(js_error)?;
    JsFuture::from(promise)
        .await
        .map_err(js_error)?
        .dyn_into()
        .map_err(js_error)
}

async fn device_encrypt(key: &CryptoKey, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
    let iv: [u8; IV_BYTES] = random_bytes()?;
    let params = AesGcmParams::new("AES-GCM", &js_sys::Uint8Array::from(iv.as_slice()));
    let promise = subtle()?
        .encrypt_with_object_and_u8_array(&params, key, plaintext)
        .map_err(js_error)?;
    let ciphertext = JsFuture::from(promise).await.map_err(js_error)?;
    let mut out = iv.to_vec();
    out.extend(js_sys::Uint8Array::new(&ciphertext).to_vec());
    Ok(out)
}

async fn device_decrypt(key: &CryptoKey, wrapped: &[u8]) -> Result<Vec<u8>, StoreError> {
    if wrapped.len() <= IV_BYTES {
        return Err(StoreError::Corrupt(KEYS));
    }
    let (iv, ciphertext) = wrapped.split_at(IV_BYTES);
    let params = AesGcmParams::new("AES-GCM", &js_sys::Uint8Array::from(iv));
    let promise = subtle()?
        .decrypt_with_object_and_u8_array(&params, key, ciphertext)
        .map_err(js_error)?;
    let plaintext = JsFuture::from(promise).await.map_err(js_error)?;
    Ok(js_sys::Uint8Array::new(&plaintext).to_vec())
}
