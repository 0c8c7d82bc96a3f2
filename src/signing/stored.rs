//! What every stored server key shares: the role it is for, the associated data it is sealed
//! with, and its public half.

use super::pair::key_type;
use crate::storage::StoredKey;
use crate::tuf::key::PublicKey;

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

/// The associated data a key is sealed with: its identity, so a sealed key moved to another
/// row does not open.
pub(super) fn aad(gun: &str, role: &str, key_id: &str) -> Vec<u8> {
    format!("notarium-key\0{gun}\0{role}\0{key_id}").into_bytes()
}

/// The public half of a stored key, as metadata lists it.
pub(super) fn public_key(stored: &StoredKey) -> PublicKey {
    PublicKey::new(key_type(&stored.algorithm), stored.public.clone())
}
