//! Server-managed timestamp and snapshot keys: creation, lookup, rotation and signing.
//!
//! Keys made here are Ed25519 (what notary-server's local signer makes). Keys carried over
//! from a notary-signer by `notarium import` keep their algorithm: Ed25519, ECDSA P-256 or RSA.
//! Every key is scoped to one GUN and role, stored sealed under the KEK, and opened only here.
//! Large messages are signed on the blocking pool, off the async runtime.
//!
//! [`pair`] holds opened keys and the signing algorithms, [`import`] seals carried-over keys,
//! [`keys`] runs the lifecycle of the server's own keys, [`kek`] seals at rest and [`admin`] is
//! the operators' view. Private key bytes are kept only in buffers wiped when dropped.

pub mod admin;
mod import;
pub mod kek;
mod keys;
mod pair;

use crate::storage::{StorageError, StoredKey};
use crate::tuf::key::PublicKey;
pub use import::{seal_imported, ImportedKey};
pub use kek::Kek;
pub use keys::{ServerKeys, OPENED_KEYS_MAX};
pub use pair::{algorithm, sign_all, SigningKey};

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

/// The associated data a key is sealed with: its identity, so a sealed key moved to another
/// row does not open.
fn aad(gun: &str, role: &str, key_id: &str) -> Vec<u8> {
    format!("notarium-key\0{gun}\0{role}\0{key_id}").into_bytes()
}

/// The public half of a stored key, as metadata lists it.
fn public_key(stored: &StoredKey) -> PublicKey {
    PublicKey::new(pair::key_type(&stored.algorithm), stored.public.clone())
}

#[cfg(test)]
mod tests;
