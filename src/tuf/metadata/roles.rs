//! The `signed` objects of the four role types and their structural rules (docs/protocol.md §3, §4.4–4.7).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer};

use crate::tuf::error::{excerpt, Error};
use crate::tuf::key::{deserialize_key_map, KeyId, PublicKey};
use crate::tuf::metadata::{Expires, FileMeta};
use crate::tuf::role::RoleName;

/// TUF root / notary `data.Root` (docs/protocol.md §4.4): every key of the four top-level roles and which
/// keys sign for each role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Root {
    /// Always `false` from notary clients; ignored by the server.
    #[serde(default)]
    pub consistent_snapshot: bool,
    /// When this root stops being trusted.
    pub expires: Expires,
    /// Key ID → key; every map key was checked against the key's computed ID.
    #[serde(deserialize_with = "deserialize_key_map")]
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// Role name (`root`, `targets`, `snapshot`, `timestamp`, extras tolerated) → its keys.
    pub roles: BTreeMap<String, RoleKeys>,
    /// 1 at init, +1 per change.
    #[serde(deserialize_with = "deserialize_version")]
    pub version: u64,
}

/// TUF "keyids + threshold" of one role (`data.RootRole`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoleKeys {
    /// Keys allowed to sign for the role.
    #[serde(default, deserialize_with = "null_as_default")]
    pub keyids: Vec<KeyId>,
    /// Distinct valid signatures required.
    pub threshold: u32,
}

/// TUF targets / notary `data.Targets` (docs/protocol.md §4.5); also the body of every delegation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Targets {
    /// Delegations declared by this role (always present from notary clients).
    #[serde(default)]
    pub delegations: Delegations,
    /// When this role's metadata stops being trusted.
    pub expires: Expires,
    /// Target name → file meta.
    #[serde(deserialize_with = "null_as_default")]
    pub targets: BTreeMap<String, FileMeta>,
    /// Version of this role's metadata.
    #[serde(deserialize_with = "deserialize_version")]
    pub version: u64,
}

/// The `delegations` object: keys and the delegated roles that use them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Delegations {
    /// Key ID → key for the delegated roles; map keys checked against computed IDs.
    #[serde(default, deserialize_with = "deserialize_key_map")]
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// The delegated roles, in file order. The Go client writes `null` once the last
    /// delegation is removed (a nil slice).
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<DelegatedRole>,
}

/// One delegation entry: `{"keyids":[…],"name":"targets/x","paths":[…],"threshold":n}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DelegatedRole {
    /// The delegated role's name (validated).
    pub name: RoleName,
    /// Keys allowed to sign for it (may be empty: a delegation whose last signer was removed).
    #[serde(default, deserialize_with = "null_as_default")]
    pub keyids: Vec<KeyId>,
    /// Distinct valid signatures required.
    pub threshold: u32,
    /// Target-name prefixes it may sign; absent when empty, `[""]` means all paths.
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

/// TUF snapshot / notary `data.Snapshot` (docs/protocol.md §4.6): hashes of the current root, targets and
/// delegation files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Snapshot {
    /// When this snapshot stops being trusted.
    pub expires: Expires,
    /// Role name → file meta of its exact stored bytes.
    pub meta: BTreeMap<String, FileMeta>,
    /// Version of the snapshot.
    #[serde(deserialize_with = "deserialize_version")]
    pub version: u64,
}

/// TUF timestamp / notary `data.Timestamp` (docs/protocol.md §4.7): the hash of the current snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Timestamp {
    /// When this timestamp stops being trusted.
    pub expires: Expires,
    /// `snapshot` → file meta of the exact snapshot bytes.
    pub meta: BTreeMap<String, FileMeta>,
    /// Version of the timestamp.
    #[serde(deserialize_with = "deserialize_version")]
    pub version: u64,
}

/// Go encodes nil slices and maps as `null`; read those as empty.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

const BASE_ROLES: [&str; 4] = ["root", "targets", "snapshot", "timestamp"];

impl Root {
    /// Notary's `isValidRootStructure` (docs/protocol.md §3 step 2.2): the four base roles are present, each
    /// with threshold ≥ 1 and only key IDs found in `keys`. Extra roles are tolerated.
    pub fn check_structure(&self) -> Result<(), Error> {
        for name in BASE_ROLES {
            let role = self
                .roles
                .get(name)
                .ok_or_else(|| structure("root", format!("missing {name} role specification")))?;
            check_role_keys("root", name, &role.keyids, role.threshold, &self.keys)?;
        }
        Ok(())
    }

    /// The keys and threshold of `role`, if the root defines it.
    pub fn role(&self, role: &str) -> Option<&RoleKeys> {
        self.roles.get(role)
    }
}

impl Targets {
    /// Notary's `isValidTargetsStructure` (docs/protocol.md §3 step 3.2) for the metadata of
    /// `role`: every delegation is a valid name whose parent is exactly `role`, has threshold ≥ 1
    /// and lists only key IDs present in `delegations.keys`. Stricter than the reference: no
    /// delegation name twice, and every target entry is one a client can verify
    /// ([`FileMeta::check_verifiable`]).
    pub fn check_structure(&self, role: &RoleName) -> Result<(), Error> {
        if role != &RoleName::targets() && !role.is_delegation() {
            return Err(structure(role.as_str(), "not a targets role".to_owned()));
        }
        for (name, meta) in &self.targets {
            meta.check_verifiable().map_err(|reason| {
                structure(
                    role.as_str(),
                    format!("target {:?}: {reason}", excerpt(name)),
                )
            })?;
        }
        let mut seen = BTreeSet::new();
        for delegation in &self.delegations.roles {
            let name = &delegation.name;
            if name.parent().as_ref() != Some(role) {
                return Err(structure(
                    role.as_str(),
                    format!("delegation role {name} invalid"),
                ));
            }
            if !seen.insert(name) {
                return Err(structure(
                    role.as_str(),
                    format!("delegation role {name} listed twice"),
                ));
            }
            check_role_keys(
                role.as_str(),
                name.as_str(),
                &delegation.keyids,
                delegation.threshold,
                &self.delegations.keys,
            )?;
        }
        Ok(())
    }

    /// The delegation entry named `name`, if this role declares it.
    pub fn delegation(&self, name: &RoleName) -> Option<&DelegatedRole> {
        self.delegations.roles.iter().find(|d| &d.name == name)
    }
}

impl Snapshot {
    /// Notary's `IsValidSnapshotStructure` (docs/protocol.md §3 step 4a): `meta.root` and
    /// `meta.targets` each list a 32-byte `sha256`, and a `sha512`, if listed, of 64 bytes.
    /// Stricter than the reference, every other entry must too: roles are looked up by the
    /// `sha256` their snapshot lists, so an entry without one names a file no reader can get.
    pub fn check_structure(&self) -> Result<(), Error> {
        for name in ["root", "targets"] {
            check_listed_hashes("snapshot", name, self.meta.get(name))?;
        }
        for (name, meta) in &self.meta {
            check_listed_hashes("snapshot", &excerpt(name), Some(meta))?;
        }
        Ok(())
    }
}

impl Timestamp {
    /// Notary's `IsValidTimestampStructure`: `meta.snapshot` lists a 32-byte `sha256` (and a
    /// `sha512`, if listed, of 64 bytes).
    pub fn check_structure(&self) -> Result<(), Error> {
        check_listed_hashes("timestamp", "snapshot", self.meta.get("snapshot"))
    }
}

fn check_listed_hashes(container: &str, name: &str, meta: Option<&FileMeta>) -> Result<(), Error> {
    let sha256 = meta.and_then(FileMeta::sha256);
    match sha256 {
        None => {
            return Err(structure(
                container,
                format!("missing {name} sha256 checksum information"),
            ))
        }
        Some(h) if h.len() != 32 => {
            return Err(structure(
                container,
                format!("invalid {name} sha256 checksum information"),
            ))
        }
        Some(_) => {}
    }
    if meta
        .and_then(FileMeta::sha512)
        .is_some_and(|h| h.len() != 64)
    {
        return Err(structure(
            container,
            format!("invalid {name} sha512 checksum information"),
        ));
    }
    Ok(())
}

/// Notary's `isValidRootRoleStructure`.
fn check_role_keys(
    container: &str,
    name: &str,
    keyids: &[KeyId],
    threshold: u32,
    keys: &BTreeMap<KeyId, PublicKey>,
) -> Result<(), Error> {
    if threshold < 1 {
        return Err(structure(
            container,
            format!("invalid threshold specified for {name}: {threshold}"),
        ));
    }
    if let Some(missing) = keyids.iter().find(|id| !keys.contains_key(*id)) {
        return Err(structure(
            container,
            format!("key ID {missing} specified in {name} without corresponding key"),
        ));
    }
    Ok(())
}

fn structure(role: &str, reason: String) -> Error {
    Error::Structure {
        role: role.to_owned(),
        reason,
    }
}

/// `version`: an integer ≥ 1 that fits Go's `int` (int64).
fn deserialize_version<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let version = u64::deserialize(deserializer)?;
    if version == 0 || version > i64::MAX as u64 {
        return Err(serde::de::Error::custom(format!(
            "version {version} out of range: must be at least 1"
        )));
    }
    Ok(version)
}
