//! The current, trusted state of a repository as validation sees it.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::tuf::error::Error;
use crate::tuf::metadata::{self, RoleType, Root, Signed, Snapshot, Targets, Timestamp};
use crate::tuf::role::RoleName;

/// A parsed role together with the exact bytes it came from.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The parsed file.
    pub signed: Signed<T>,
    /// The stored bytes; hashes are computed from these.
    pub bytes: Bytes,
}

impl<T: RoleType + serde::de::DeserializeOwned> Loaded<T> {
    /// Parses stored `bytes` (which were validated when they were accepted).
    pub fn parse(bytes: Bytes) -> Result<Loaded<T>, Error> {
        Ok(Loaded {
            signed: metadata::parse(&bytes)?,
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
