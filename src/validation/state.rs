//! The current, trusted state of a repository as validation sees it.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::tuf::error::Error;
use crate::tuf::metadata::{self, RoleType, Root, Signed, Snapshot, Targets, Timestamp};
use crate::tuf::role::RoleName;

/// A parsed role together with the exact bytes it came from. Cloning is cheap (shared), so the
/// service can keep parsed roles between updates instead of parsing them again.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The parsed file.
    pub signed: Arc<Signed<T>>,
    /// The stored bytes; hashes are computed from these.
    pub bytes: Bytes,
}

impl<T> Clone for Loaded<T> {
    fn clone(&self) -> Loaded<T> {
        Loaded {
            signed: Arc::clone(&self.signed),
            bytes: self.bytes.clone(),
        }
    }
}

impl<T: RoleType> Loaded<T> {
    /// Works out now the digests every verification of this file asks its parse for (see
    /// [`Signed`]), and what it asks of the keys the file lists ([`RoleType::warm`]): for a
    /// parse about to be kept, so the first verification after a publish does not pay for them.
    pub fn warm_digests(&self) {
        self.signed.canonical_sha256();
        self.signed
            .source_sha512(&self.bytes, self.signed.source_sha256());
        self.signed.signed.warm();
        self.signed.adopt_remembered_checks();
    }
}

impl<T: RoleType + serde::de::DeserializeOwned> Loaded<T> {
    /// Parses stored `bytes` (which were validated when they were accepted).
    pub fn parse(bytes: Bytes) -> Result<Loaded<T>, Error> {
        Ok(Loaded {
            signed: Arc::new(metadata::parse_shared(&bytes)?),
            bytes,
        })
    }
}

/// What is stored now: the consistent set that the current timestamp points to.
#[derive(Debug, Clone, Default)]
pub struct Current {
    /// The current root.
    pub root: Option<Loaded<Root>>,
    /// The snapshot the current timestamp lists.
    pub snapshot: Option<Loaded<Snapshot>>,
    /// The current timestamp.
    pub timestamp: Option<Loaded<Timestamp>>,
    /// `targets` and every delegation, at the versions the current snapshot lists.
    pub targets: BTreeMap<RoleName, Loaded<Targets>>,
}
