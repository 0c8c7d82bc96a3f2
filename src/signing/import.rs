//! Sealing keys carried over from a notary-signer (`notarium import`).

use zeroize::{Zeroize, Zeroizing};

use super::error::SigningError;
use super::kek::Kek;
use super::pair::{key_type, SigningKey};
use super::stored::{aad, ServerRole};
use crate::gun::Gun;
use crate::storage::StoredKey;
use crate::tuf::key::{KeyId, PublicKey};

/// A private key carried over from another server, before it is sealed. The private bytes are
/// wiped when it is dropped.
pub struct ImportedKey {
    /// `timestamp` or `snapshot`.
    pub role: ServerRole,
    /// One of [`super::algorithm`].
    pub algorithm: String,
    /// The public key as the metadata lists it.
    pub public: Vec<u8>,
    /// The private key in the stored form of its algorithm (see [`super::algorithm`]).
    pub private: Vec<u8>,
    /// When the other server made it.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Drop for ImportedKey {
    fn drop(&mut self) {
        self.private.zeroize();
    }
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
    let opened = SigningKey::open(
        key_id.clone(),
        &key.algorithm,
        Zeroizing::new(key.private.clone()),
    )?;
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
