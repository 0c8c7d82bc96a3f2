//! Server-managed timestamp and snapshot keys: creation, lookup, rotation and signing.
//!
//! Keys made here are Ed25519 (what notary-server's local signer makes). Keys carried over
//! from a notary-signer by `notarium import` keep their algorithm: Ed25519, ECDSA P-256 or RSA.
//! Every key is scoped to one GUN and role, stored sealed under the KEK, and opened only here.
//! Large messages are signed on the blocking pool, off the async runtime.

pub mod admin;
pub mod kek;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PSS_SHA256,
};

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

/// An opened private key of one of the algorithms the server signs with.
enum Pair {
    Ed25519(Ed25519KeyPair),
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// The algorithm names stored with each key (notary-signer's names for them).
pub mod algorithm {
    /// Sealed: ring's PKCS#8 (made here) or the 64-byte seed ‖ public key (notary's form);
    /// public: the raw 32 bytes.
    pub const ED25519: &str = "ed25519";
    /// Sealed: PKCS#8 of a P-256 key; public: DER SubjectPublicKeyInfo.
    pub const ECDSA: &str = "ecdsa";
    /// Sealed: PKCS#1 DER; public: DER SubjectPublicKeyInfo.
    pub const RSA: &str = "rsa";
}

/// Opens stored private bytes of `algorithm` (see [`algorithm`]).
fn open_pair(algorithm: &str, secret: &[u8]) -> Result<Pair, SigningError> {
    match algorithm {
        algorithm::ED25519 if secret.len() == 64 => {
            Ed25519KeyPair::from_seed_and_public_key(&secret[..32], &secret[32..])
                .map(Pair::Ed25519)
                .map_err(|_| SigningError::Key("stored ed25519 key did not parse"))
        }
        algorithm::ED25519 => Ed25519KeyPair::from_pkcs8_maybe_unchecked(secret)
            .map(Pair::Ed25519)
            .map_err(|_| SigningError::Key("stored ed25519 key did not parse")),
        algorithm::ECDSA => EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            secret,
            &SystemRandom::new(),
        )
        .map(Pair::Ecdsa)
        .map_err(|_| SigningError::Key("stored ecdsa key did not parse")),
        algorithm::RSA => RsaKeyPair::from_der(secret)
            .map(Pair::Rsa)
            .map_err(|_| SigningError::Key("stored rsa key did not parse")),
        _ => Err(SigningError::Key("stored key has an unknown algorithm")),
    }
}

fn key_type(algorithm: &str) -> KeyType {
    match algorithm {
        algorithm::ECDSA => KeyType::Ecdsa,
        algorithm::RSA => KeyType::Rsa,
        _ => KeyType::Ed25519,
    }
}

/// A private key opened for signing. Its `Debug` shows only the key ID.
pub struct SigningKey {
    key_id: KeyId,
    pair: Pair,
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

    /// Signs canonical bytes with notary's method for the key: `eddsa`, `ecdsa` (r ‖ s) or
    /// `rsapss` (SHA-256).
    pub fn sign(&self, canonical: &[u8]) -> Result<Signature, SigningError> {
        let failed = |_| SigningError::Key("signing failed");
        let (method, sig) = match &self.pair {
            Pair::Ed25519(pair) => ("eddsa", pair.sign(canonical).as_ref().to_vec()),
            Pair::Ecdsa(pair) => (
                "ecdsa",
                pair.sign(&SystemRandom::new(), canonical)
                    .map_err(failed)?
                    .as_ref()
                    .to_vec(),
            ),
            Pair::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PSS_SHA256, &SystemRandom::new(), canonical, &mut sig)
                    .map_err(failed)?;
                ("rsapss", sig)
            }
        };
        Ok(Signature {
            keyid: self.key_id.clone(),
            method: method.to_owned(),
            sig,
        })
    }
}

/// Messages up to this size are signed in place: an Ed25519 signature over a few KiB takes
/// microseconds, less than a hop to the blocking pool.
const SIGN_INLINE_MAX: usize = 16 << 10;

/// Signs `canonical` with every key; large messages, and any RSA key, on the blocking pool.
pub async fn sign_all(
    keys: Vec<Arc<SigningKey>>,
    canonical: Vec<u8>,
) -> Result<Vec<Signature>, SigningError> {
    let slow = keys.iter().any(|k| matches!(k.pair, Pair::Rsa(_)));
    if canonical.len() <= SIGN_INLINE_MAX && !slow {
        return keys.iter().map(|k| k.sign(&canonical)).collect();
    }
    let task = tokio::task::spawn_blocking(move || {
        keys.iter()
            .map(|k| k.sign(&canonical))
            .collect::<Result<Vec<_>, _>>()
    });
    task.await
        .map_err(|_| SigningError::Key("the signing task failed"))?
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
    PublicKey::new(key_type(&stored.algorithm), stored.public.clone())
}

/// A private key carried over from another server, before it is sealed.
pub struct ImportedKey {
    /// `timestamp` or `snapshot`.
    pub role: ServerRole,
    /// One of [`algorithm`].
    pub algorithm: String,
    /// The public key as the metadata lists it.
    pub public: Vec<u8>,
    /// The private key in the stored form of its algorithm (see [`algorithm`]).
    pub private: Vec<u8>,
    /// When the other server made it.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for ImportedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedKey")
            .field("role", &self.role)
            .field("algorithm", &self.algorithm)
            .field("private", &"<redacted>")
            .finish()
    }
}

/// Checks that `key` opens and signs as its public half says, and seals it under `kek` as
/// generation `generation` of `gun`'s role. Returns the key's ID with it.
pub fn seal_imported(
    kek: &Kek,
    gun: &Gun,
    generation: i64,
    key: &ImportedKey,
) -> Result<(KeyId, StoredKey), SigningError> {
    let public = PublicKey::new(key_type(&key.algorithm), key.public.clone());
    let key_id = public.id();
    let opened = SigningKey {
        key_id: key_id.clone(),
        pair: open_pair(&key.algorithm, &key.private)?,
    };
    let probe = b"notarium import: the private key matches its public key";
    let sig = opened.sign(probe)?;
    public
        .verify(&sig.method, probe, &sig.sig)
        .map_err(|_| SigningError::Key("the private key does not match its public key"))?;
    let sealed = kek.seal(
        &key.private,
        &aad(gun.as_str(), key.role.as_str(), key_id.as_str()),
    )?;
    Ok((
        key_id.clone(),
        StoredKey {
            gun: gun.as_str().to_owned(),
            role: key.role.as_str().to_owned(),
            generation,
            key_id: key_id.as_str().to_owned(),
            algorithm: key.algorithm.clone(),
            public: key.public.clone(),
            sealed_private: sealed,
            created_at: key.created_at,
        },
    ))
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
    /// every such GET; one pending key per GUN and role is the compatible improvement (docs/protocol.md
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
            algorithm: algorithm::ED25519.to_owned(),
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
            let key = Arc::new(SigningKey {
                key_id: id.clone(),
                pair: open_pair(&stored.algorithm, &pkcs8)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair};

    fn kek() -> Kek {
        Kek::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").expect("kek")
    }

    fn imported(algorithm: &str, public: Vec<u8>, private: Vec<u8>) -> ImportedKey {
        ImportedKey {
            role: ServerRole::Timestamp,
            algorithm: algorithm.to_owned(),
            public,
            private,
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    /// Carried-over keys are checked against their public half, sealed for their GUN and
    /// role, and sign with notary's method for their algorithm.
    #[test]
    fn imported_keys_seal_open_and_sign() {
        let rng = SystemRandom::new();
        let gun = Gun::parse("example.com/app").expect("gun");
        let ecdsa_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("ecdsa key");
        let ecdsa =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ecdsa_pkcs8.as_ref(), &rng)
                .expect("ecdsa pair");
        let ecdsa_spki = crate::tuf::fixtures::p256_spki(ecdsa.public_key().as_ref());
        // notary's Ed25519 form: the 32-byte seed followed by the public key.
        let seed = [42u8; 32];
        let ed = Ed25519KeyPair::from_seed_unchecked(&seed).expect("ed25519");
        let ed_public = ed.public_key().as_ref().to_vec();
        let cases = [
            (
                algorithm::ECDSA,
                ecdsa_spki,
                ecdsa_pkcs8.as_ref().to_vec(),
                "ecdsa",
            ),
            (
                algorithm::ED25519,
                ed_public.clone(),
                [&seed[..], &ed_public].concat(),
                "eddsa",
            ),
        ];
        for (algorithm, public, private, method) in cases {
            let key = imported(algorithm, public.clone(), private.clone());
            let (id, stored) = seal_imported(&kek(), &gun, 3, &key).expect("imports");
            assert_eq!(stored.generation, 3);
            assert_eq!(id.as_str(), stored.key_id);
            assert!(stored.sealed_private != private, "sealed, not in clear");
            let opened = kek()
                .open(
                    &stored.sealed_private,
                    &aad(gun.as_str(), "timestamp", &stored.key_id),
                )
                .expect("opens under its GUN and role");
            let signer = SigningKey {
                key_id: id,
                pair: open_pair(algorithm, &opened).expect("opens"),
            };
            let sig = signer.sign(b"canonical").expect("signs");
            assert_eq!(sig.method, method);
            public_key(&stored)
                .verify(&sig.method, b"canonical", &sig.sig)
                .expect("verifies with the listed public key");
        }
        // A private key that is not the listed key's is refused.
        let other = imported(
            algorithm::ED25519,
            vec![1; 32],
            [&seed[..], &ed_public].concat(),
        );
        assert!(seal_imported(&kek(), &gun, 0, &other).is_err());
        let garbage = imported(algorithm::ECDSA, vec![1; 91], vec![0; 40]);
        assert!(seal_imported(&kek(), &gun, 0, &garbage).is_err());
    }
}
