//! The one error type of key management.

use super::kek::KekError;
use crate::storage::StorageError;

/// Failures of key management.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Sealing or opening failed.
    #[error(transparent)]
    Kek(#[from] KekError),
    /// Key generation or a stored key's encoding failed.
    #[error("key material error: {0}")]
    Key(&'static str),
    /// Concurrent creators kept colliding.
    #[error("could not create a key after repeated conflicts")]
    Contention,
}
