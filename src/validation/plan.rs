//! What validation hands back: the files an accepted update writes and what the server signs.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::Loaded;
use crate::tuf::key::KeyId;
use crate::tuf::metadata::{FileMeta, Root, Targets};
use crate::tuf::role::RoleName;

/// Key IDs the server holds private keys for, for one GUN.
#[derive(Debug, Clone, Default)]
pub struct HeldKeys {
    /// Held snapshot keys.
    pub snapshot: BTreeSet<KeyId>,
    /// Held timestamp keys.
    pub timestamp: BTreeSet<KeyId>,
}

/// What an accepted update writes.
#[derive(Debug)]
pub struct Plan {
    /// Uploaded files to store as they are: root, targets roles, snapshot.
    pub files: Vec<PlannedFile>,
    /// A snapshot for the server to generate and sign, when none was uploaded.
    pub snapshot: Option<GeneratedSnapshot>,
    /// The timestamp the server generates and signs.
    pub timestamp: GeneratedTimestamp,
    /// The uploaded root, parsed, for the service to keep.
    pub parsed_root: Option<Loaded<Root>>,
    /// Uploaded targets roles (and stored parents read for them), parsed, for the same.
    pub parsed_targets: BTreeMap<RoleName, Loaded<Targets>>,
}

/// One uploaded file that passed validation.
#[derive(Debug)]
pub struct PlannedFile {
    /// Its role.
    pub role: RoleName,
    /// Its version.
    pub version: u64,
    /// The bytes exactly as uploaded.
    pub bytes: Bytes,
}

/// A snapshot the server must produce.
#[derive(Debug)]
pub struct GeneratedSnapshot {
    /// The new version.
    pub version: u64,
    /// Every entry, computed from exact stored or uploaded bytes.
    pub meta: BTreeMap<String, FileMeta>,
    /// Held keys of the root's snapshot role to sign with.
    pub keys: Vec<KeyId>,
}

/// A timestamp the server must produce.
#[derive(Debug)]
pub struct GeneratedTimestamp {
    /// The new version.
    pub version: u64,
    /// Held keys of the root's timestamp role to sign with.
    pub keys: Vec<KeyId>,
}
