//! Key custody for operators (`notarium keys`): listing the server-managed keys, exporting their
//! public halves, and rotating the key-encryption key.
//!
//! Rotating the KEK opens every sealed key with the old KEK and seals it with the new one, and
//! writes them all in one transaction: a failure leaves every key under the old KEK. Private
//! keys exist in clear only inside [`rotate_kek`], between opening and sealing.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::error::SigningError;
use super::kek::Kek;
use super::stored::{aad, public_key};
use crate::storage::SharedStore;

/// One server key as an operator sees it: never the private half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Owning GUN.
    pub gun: String,
    /// `timestamp` or `snapshot`.
    pub role: String,
    /// Order of creation for the GUN and role.
    pub generation: i64,
    /// Key ID.
    pub key_id: String,
    /// Algorithm.
    pub algorithm: String,
    /// When it was made (or carried over).
    pub created_at: DateTime<Utc>,
}

/// Every server key, optionally of one GUN.
pub async fn list(store: &SharedStore, gun: Option<&str>) -> Result<Vec<KeyInfo>, SigningError> {
    Ok(store
        .all_keys()
        .await?
        .into_iter()
        .filter(|k| gun.is_none_or(|g| g == k.gun))
        .map(|k| KeyInfo {
            gun: k.gun,
            role: k.role,
            generation: k.generation,
            key_id: k.key_id,
            algorithm: k.algorithm,
            created_at: k.created_at,
        })
        .collect())
}

/// The public keys, as `GET …/{role}.key` would answer them, keyed by GUN, role and key ID.
pub async fn export(store: &SharedStore, gun: Option<&str>) -> Result<Value, SigningError> {
    let mut out = Vec::new();
    for k in store.all_keys().await? {
        if gun.is_some_and(|g| g != k.gun) {
            continue;
        }
        let public = public_key(&k);
        let key: Value = serde_json::from_slice(&public.to_response_json())
            .map_err(|_| SigningError::Key("public key JSON"))?;
        out.push(json!({
            "gun": k.gun, "role": k.role, "generation": k.generation,
            "key_id": k.key_id, "created_at": k.created_at.to_rfc3339(), "key": key,
        }));
    }
    Ok(Value::Array(out))
}

/// Re-seals every key from `old` to `new` in one transaction; returns how many.
pub async fn rotate_kek(store: &SharedStore, old: &Kek, new: &Kek) -> Result<usize, SigningError> {
    let mut keys = store.all_keys().await?;
    for key in &mut keys {
        let aad = aad(&key.gun, &key.role, &key.key_id);
        let plain = old.open(&key.sealed_private, &aad)?;
        key.sealed_private = new.seal(&plain, &aad)?;
    }
    store.reseal_keys(&keys).await?;
    Ok(keys.len())
}
