//! The lifecycle of the server's own keys: created on first use, rotated on request, opened for
//! signing.

use std::collections::BTreeSet;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::error::SigningError;
use super::kek::Kek;
use super::pair::{algorithm, generate_ed25519, SigningKey};
use super::stored::{aad, public_key, ServerRole};
use crate::clock::SharedClock;
use crate::gun::Gun;
use crate::storage::{SharedStore, StorageError, StoredKey};
use crate::tuf::key::{KeyId, KeyType, PublicKey};

/// At most this many opened keys are kept (quick_cache's eviction picks which go).
///
/// Each holds a few hundred bytes of private key, wiped when it goes. A miss costs a read of
/// the GUN's keys (kept in memory by the SQLite store) and an AES-GCM open, microseconds; the
/// bound only has to cover the repositories signed for at once, not every repository that
/// ever signed. A power of two, so quick_cache's shards split it exactly.
pub const OPENED_KEYS_MAX: usize = 1024;

/// A cache key: GUN and key ID.
type Opened = (String, String);

/// Looks up an [`Opened`] key without allocating; hashes as the tuple does.
#[derive(Hash)]
struct Lookup<'a>(&'a str, &'a str);

impl quick_cache::Equivalent<Opened> for Lookup<'_> {
    fn equivalent(&self, key: &Opened) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// The server's keys for every GUN.
pub struct ServerKeys {
    store: SharedStore,
    kek: Kek,
    clock: SharedClock,
    opened: quick_cache::sync::Cache<Opened, Arc<SigningKey>>,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeys").finish_non_exhaustive()
    }
}

impl ServerKeys {
    /// Key management over `store`, sealing with `kek`.
    pub fn new(store: SharedStore, kek: Kek, clock: SharedClock) -> ServerKeys {
        ServerKeys::with_opened_max(store, kek, clock, OPENED_KEYS_MAX)
    }

    fn with_opened_max(
        store: SharedStore,
        kek: Kek,
        clock: SharedClock,
        opened_max: usize,
    ) -> ServerKeys {
        ServerKeys {
            store,
            kek,
            clock,
            opened: quick_cache::sync::Cache::new(opened_max),
        }
    }

    /// The public key a client should put into root for `role` (`GET …/{role}.key`).
    ///
    /// If the current root lists a key we hold, that one (repeated GETs agree). Otherwise the
    /// newest key made for this GUN and role, created on first use. Notary makes a new key on
    /// every such GET; one pending key per GUN and role is the compatible improvement
    /// (docs/protocol.md §10.3.4) and makes concurrent first GETs agree.
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
        let (pkcs8, raw_public) = generate_ed25519()?;
        let public = PublicKey::new(KeyType::Ed25519, raw_public.clone());
        let key_id = public.id();
        let sealed = self
            .kek
            .seal(&pkcs8, &aad(gun.as_str(), role.as_str(), key_id.as_str()))?;
        drop(pkcs8);
        let stored = StoredKey {
            gun: gun.as_str().to_owned(),
            role: role.as_str().to_owned(),
            generation,
            key_id: key_id.as_str().to_owned(),
            algorithm: algorithm::ED25519.to_owned(),
            public: raw_public,
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
        for id in wanted {
            match self.opened.get(&Lookup(gun.as_str(), id.as_str())) {
                Some(k) => out.push(k),
                None => missing.push(id.clone()),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        for stored in self.store.keys(gun, role.as_str()).await? {
            let Some(id) = missing.iter().find(|id| id.as_str() == stored.key_id) else {
                continue;
            };
            let secret: Zeroizing<Vec<u8>> = self.kek.open(
                &stored.sealed_private,
                &aad(&stored.gun, &stored.role, &stored.key_id),
            )?;
            let key = Arc::new(SigningKey::open(id.clone(), &stored.algorithm, secret)?);
            self.opened.insert(
                (gun.as_str().to_owned(), id.as_str().to_owned()),
                Arc::clone(&key),
            );
            out.push(key);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> Kek {
        Kek::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").expect("kek")
    }

    /// Signing for more repositories than the bound keeps at most the bound opened, and a key
    /// opened again after it was dropped still signs.
    #[tokio::test]
    async fn opened_keys_are_bounded_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let store = crate::storage::open(&url, Default::default())
            .await
            .expect("store");
        let clock: SharedClock = Arc::new(crate::clock::SystemClock);
        let max = 32;
        let keys = ServerKeys::with_opened_max(store, kek(), clock, max);
        let mut signed = Vec::new();
        for i in 0..3 * max {
            let gun = Gun::parse(&format!("example.com/app{i}")).expect("gun");
            let public = keys
                .current_or_pending(&gun, ServerRole::Timestamp, None)
                .await
                .expect("key");
            let signers = keys
                .signers(&gun, ServerRole::Timestamp, &[public.id()])
                .await
                .expect("opens");
            assert_eq!(signers.len(), 1);
            assert!(keys.opened.len() <= max, "{} opened", keys.opened.len());
            signed.push((gun, public));
        }
        assert!(keys.opened.len() <= max);
        let evicted = signed
            .iter()
            .filter(|(g, k)| {
                !keys
                    .opened
                    .contains_key(&Lookup(g.as_str(), k.id().as_str()))
            })
            .count();
        assert!(evicted >= 2 * max, "{evicted} of {} were dropped", 3 * max);
        // Opened again after they were dropped, keys still sign.
        for (gun, public) in signed.iter().take(max) {
            let signers = keys
                .signers(gun, ServerRole::Timestamp, &[public.id()])
                .await
                .expect("reopens");
            let sig = signers[0].sign(b"canonical").expect("signs");
            public
                .verify(&sig.method, b"canonical", &sig.sig)
                .expect("verifies");
        }
        assert!(keys.opened.len() <= max);
    }
}
