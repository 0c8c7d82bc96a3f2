//! Server-managed timestamp and snapshot keys: creation, lookup, rotation and signing.
//!
//! Keys are Ed25519 (what notary-server's local signer makes), scoped to one GUN and role,
//! stored sealed under the KEK, and opened only here. Signing is CPU work and runs on the
//! blocking pool, off the async runtime.

pub mod kek;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use crate::clock::SharedClock;
use crate::gun::Gun;
use crate::storage::{SharedStore, StorageError, StoredKey};
use crate::tuf::key::{KeyId, KeyType, PublicKey};
use crate::tuf::metadata::Signature;
pub use kek::Kek;

/// The roles whose keys the server may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerRole {
    /// The snapshot role, when a client hands it to the server.
    Snapshot,
    /// The timestamp role, always server-held.
    Timestamp,
}

impl ServerRole {
    /// The role name in metadata and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerRole::Snapshot => "snapshot",
            ServerRole::Timestamp => "timestamp",
        }
    }
}

/// Failures of key management.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Sealing or opening failed.
    #[error(transparent)]
    Kek(#[from] kek::KekError),
    /// Key generation or a stored key's encoding failed.
    #[error("key material error: {0}")]
    Key(&'static str),
    /// Concurrent creators kept colliding.
    #[error("could not create a key after repeated conflicts")]
    Contention,
}

/// A private key opened for signing. Its `Debug` shows only the key ID.
pub struct SigningKey {
    key_id: KeyId,
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_id)
    }
}

impl SigningKey {
    /// The ID of the public half.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Signs canonical bytes with `eddsa`, notary's method name for Ed25519.
    pub fn sign(&self, canonical: &[u8]) -> Signature {
        Signature {
            keyid: self.key_id.clone(),
            method: "eddsa".to_owned(),
            sig: self.pair.sign(canonical).as_ref().to_vec(),
        }
    }
}

/// Messages up to this size are signed in place: an Ed25519 signature over a few KiB takes
/// microseconds, less than a hop to the blocking pool.
const SIGN_INLINE_MAX: usize = 16 << 10;

/// Signs `canonical` with every key; large messages on the blocking pool.
pub async fn sign_all(keys: Vec<Arc<SigningKey>>, canonical: Vec<u8>) -> Vec<Signature> {
    if canonical.len() <= SIGN_INLINE_MAX {
        return keys.iter().map(|k| k.sign(&canonical)).collect();
    }
    let task = tokio::task::spawn_blocking(move || {
        keys.iter().map(|k| k.sign(&canonical)).collect::<Vec<_>>()
    });
    // A signing task only panics if ring does, which would be a bug, not input-driven.
    task.await.expect("signing task does not panic")
}

/// The server's keys for every GUN.
pub struct ServerKeys {
    store: SharedStore,
    kek: Kek,
    clock: SharedClock,
    opened: Mutex<HashMap<(String, String), Arc<SigningKey>>>,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeys").finish_non_exhaustive()
    }
}

fn aad(gun: &str, role: &str, key_id: &str) -> Vec<u8> {
    format!("notarium-key\0{gun}\0{role}\0{key_id}").into_bytes()
}

fn public_key(stored: &StoredKey) -> PublicKey {
    PublicKey::new(KeyType::Ed25519, stored.public.clone())
}

impl ServerKeys {
    /// Key management over `store`, sealing with `kek`.
    pub fn new(store: SharedStore, kek: Kek, clock: SharedClock) -> ServerKeys {
        ServerKeys {
            store,
            kek,
            clock,
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The public key a client should put into root for `role` (`GET …/{role}.key`).
    ///
    /// If the current root lists a key we hold, that one (repeated GETs agree). Otherwise the
    /// newest key made for this GUN and role, created on first use. Notary makes a new key on
    /// every such GET; one pending key per GUN and role is the compatible improvement (brief
    /// §10.3.4) and makes concurrent first GETs agree.
    pub async fn current_or_pending(
        &self,
        gun: &Gun,
        role: ServerRole,
        listed: Option<&[KeyId]>,
    ) -> Result<PublicKey, SigningError> {
        let keys = self.store.keys(gun, role.as_str()).await?;
        if let Some(listed) = listed {
            if let Some(k) = keys
                .iter()
                .rev()
                .find(|k| listed.iter().any(|id| id.as_str() == k.key_id))
            {
                return Ok(public_key(k));
            }
        }
        match keys.last() {
            Some(newest) => Ok(public_key(newest)),
            None => self.create(gun, role, 0).await,
        }
    }

    /// Makes a new key for `role` (`POST …/{role}.key`). It signs nothing until a root that
    /// lists it is accepted.
    pub async fn rotate(&self, gun: &Gun, role: ServerRole) -> Result<PublicKey, SigningError> {
        for _ in 0..8 {
            let keys = self.store.keys(gun, role.as_str()).await?;
            let next = keys.last().map_or(0, |k| k.generation + 1);
            match self.create_exact(gun, role, next).await {
                Err(SigningError::Storage(StorageError::Conflict)) => continue,
                other => return other,
            }
        }
        Err(SigningError::Contention)
    }

    /// Creates generation `generation`, or returns the key a racing creator stored there.
    async fn create(
        &self,
        gun: &Gun,
        role: ServerRole,
        generation: i64,
    ) -> Result<PublicKey, SigningError> {
        match self.create_exact(gun, role, generation).await {
            Err(SigningError::Storage(StorageError::Conflict)) => {
                let keys = self.store.keys(gun, role.as_str()).await?;
                keys.last().map(public_key).ok_or(SigningError::Contention)
            }
            other => other,
        }
    }

    async fn create_exact(
        &self,
        gun: &Gun,
        role: ServerRole,
        generation: i64,
    ) -> Result<PublicKey, SigningError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| SigningError::Key("ed25519 key generation failed"))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| SigningError::Key("generated ed25519 key did not parse"))?;
        let public = PublicKey::new(KeyType::Ed25519, pair.public_key().as_ref().to_vec());
        let key_id = public.id();
        let sealed = self.kek.seal(
            pkcs8.as_ref(),
            &aad(gun.as_str(), role.as_str(), key_id.as_str()),
        )?;
        let stored = StoredKey {
            gun: gun.as_str().to_owned(),
            role: role.as_str().to_owned(),
            generation,
            key_id: key_id.as_str().to_owned(),
            algorithm: "ed25519".to_owned(),
            public: pair.public_key().as_ref().to_vec(),
            sealed_private: sealed,
            created_at: self.clock.now(),
        };
        self.store.insert_key(&stored).await?;
        tracing::info!(gun = %gun, role = role.as_str(), key_id = %key_id, "created server key");
        Ok(public)
    }

    /// The key IDs this server holds for `gun` and `role`.
    pub async fn held_ids(
        &self,
        gun: &Gun,
        role: ServerRole,
    ) -> Result<BTreeSet<KeyId>, SigningError> {
        let keys = self.store.keys(gun, role.as_str()).await?;
        Ok(keys.iter().map(|k| public_key(k).id()).collect())
    }

    /// Opens the held keys among `wanted` for signing.
    pub async fn signers(
        &self,
        gun: &Gun,
        role: ServerRole,
        wanted: &[KeyId],
    ) -> Result<Vec<Arc<SigningKey>>, SigningError> {
        let mut out = Vec::new();
        let mut missing = Vec::new();
        {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            for id in wanted {
                match opened.get(&(gun.as_str().to_owned(), id.as_str().to_owned())) {
                    Some(k) => out.push(Arc::clone(k)),
                    None => missing.push(id.clone()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        for stored in self.store.keys(gun, role.as_str()).await? {
            let Some(id) = missing.iter().find(|id| id.as_str() == stored.key_id) else {
                continue;
            };
            let pkcs8 = self.kek.open(
                &stored.sealed_private,
                &aad(&stored.gun, &stored.role, &stored.key_id),
            )?;
            let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
                .map_err(|_| SigningError::Key("stored ed25519 key did not parse"))?;
            let key = Arc::new(SigningKey {
                key_id: id.clone(),
                pair,
            });
            self.opened
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    (gun.as_str().to_owned(), id.as_str().to_owned()),
                    Arc::clone(&key),
                );
            out.push(key);
        }
        Ok(out)
    }
}
