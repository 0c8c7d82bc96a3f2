//! Validation of an atomic update against the current state of a repository: pure, no I/O.
//!
//! Follows notary-server's order (docs/protocol.md §3): root, then targets roles parents first, then the
//! uploaded snapshot or the plan to generate one, then the timestamp plan. The result is a
//! [`Plan`]: the files to store and what the server must sign. Nothing here writes anything.

mod error;
mod state;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::gun::Gun;
use crate::tuf::cert::{self, ExpiryCheck};
use crate::tuf::key::{KeyId, PublicKey};
use crate::tuf::metadata::{self, FileMeta, Root, Signed, Snapshot, Targets};
use crate::tuf::role::RoleName;
use crate::tuf::verify::verify_threshold;
pub use error::{ErrorKind, ValidationError};
pub use state::{Current, Loaded};

/// The most levels of delegation below `targets` accepted (`targets/a/b/c/d` is 4).
pub const MAX_DELEGATION_DEPTH: usize = 8;
/// The most delegations one targets-type role may declare.
pub const MAX_DELEGATIONS_PER_ROLE: usize = 256;

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

/// Validates `uploads` (role → exact bytes) for `gun` against `current` at time `now`.
pub fn validate_update(
    gun: &Gun,
    current: &Current,
    uploads: BTreeMap<RoleName, Bytes>,
    held: &HeldKeys,
    now: DateTime<Utc>,
) -> Result<Plan, ValidationError> {
    let mut files = Vec::new();
    let mut uploads = uploads;
    // Only the server makes timestamps. notary-server drops an uploaded one silently; no real
    // client sends one, so it is refused rather than half-applied.
    if uploads.contains_key(&RoleName::timestamp()) {
        return Err(ValidationError::new(
            ErrorKind::Validation,
            "the server signs the timestamp: clients may not upload timestamp.json",
        ));
    }

    // Step 2: root.
    let root_bytes = uploads.remove(&RoleName::root());
    let new_root = match &root_bytes {
        Some(bytes) => {
            let root = check_root(gun, current, bytes, now)?;
            files.push(PlannedFile {
                role: RoleName::root(),
                version: root.signed.version,
                bytes: bytes.clone(),
            });
            Some(Loaded {
                signed: std::sync::Arc::new(root),
                bytes: bytes.clone(),
            })
        }
        None => None,
    };
    let root: &Loaded<Root> = match (&new_root, &current.root) {
        (Some(new), _) => new,
        (None, Some(stored)) => stored,
        (None, None) => {
            return Err(ValidationError::new(
                ErrorKind::Validation,
                "no pre-existing root and no root provided in update.",
            ))
        }
    };

    // Step 3: targets roles, parents first.
    let snapshot_bytes = uploads.remove(&RoleName::snapshot());
    let mut targets_roles: Vec<(RoleName, Bytes)> = uploads.into_iter().collect();
    targets_roles.sort_by(|(a, _), (b, _)| a.depth().cmp(&b.depth()).then_with(|| a.cmp(b)));
    let mut loaded: BTreeMap<RoleName, Loaded<Targets>> = BTreeMap::new();
    for (role, bytes) in targets_roles {
        let targets = check_targets(&role, &bytes, root, current, &mut loaded, now)?;
        files.push(PlannedFile {
            role: role.clone(),
            version: targets.signed.version,
            bytes: bytes.clone(),
        });
        loaded.insert(
            role,
            Loaded {
                signed: std::sync::Arc::new(targets),
                bytes,
            },
        );
    }
    let uploaded_roles: BTreeSet<RoleName> = loaded.keys().cloned().collect();

    // Step 4: snapshot.
    let snapshot_keys = role_keys(&root.signed.signed, "snapshot");
    let snapshot = match snapshot_bytes {
        Some(bytes) => {
            let snapshot = check_snapshot(&bytes, root, current, &loaded, now)?;
            files.push(PlannedFile {
                role: RoleName::snapshot(),
                version: snapshot.signed.version,
                bytes,
            });
            None
        }
        None => {
            let keys: Vec<KeyId> = snapshot_keys
                .iter()
                .filter(|id| held.snapshot.contains(*id))
                .cloned()
                .collect();
            if keys.is_empty() {
                return Err(ValidationError::hierarchy(
                    "no snapshot was included in update and server does not hold current \
                     snapshot key for repository",
                ));
            }
            let mut meta = match &current.snapshot {
                Some(s) => s.signed.signed.meta.clone(),
                None => {
                    if !uploaded_roles.contains(&RoleName::targets())
                        && !current.targets.contains_key(&RoleName::targets())
                    {
                        return Err(ValidationError::new(
                            ErrorKind::Validation,
                            "no snapshot is stored and no targets were uploaded",
                        ));
                    }
                    BTreeMap::new()
                }
            };
            meta.insert("root".to_owned(), FileMeta::of(&root.bytes));
            for (role, file) in loaded.iter() {
                meta.insert(role.as_str().to_owned(), FileMeta::of(&file.bytes));
            }
            if !meta.contains_key("targets") {
                if let Some(t) = current.targets.get(&RoleName::targets()) {
                    meta.insert("targets".to_owned(), FileMeta::of(&t.bytes));
                }
            }
            Some(GeneratedSnapshot {
                version: current
                    .snapshot
                    .as_ref()
                    .map_or(1, |s| s.signed.signed.version + 1),
                meta,
                keys,
            })
        }
    };

    // Step 5: timestamp.
    let timestamp_keys: Vec<KeyId> = role_keys(&root.signed.signed, "timestamp")
        .iter()
        .filter(|id| held.timestamp.contains(*id))
        .cloned()
        .collect();
    if timestamp_keys.is_empty() {
        return Err(ValidationError::new(
            ErrorKind::BadRoot,
            "no timestamp keys exist on the server",
        ));
    }
    let timestamp = GeneratedTimestamp {
        version: current
            .timestamp
            .as_ref()
            .map_or(1, |t| t.signed.signed.version + 1),
        keys: timestamp_keys,
    };
    Ok(Plan {
        files,
        snapshot,
        timestamp,
        parsed_root: new_root.clone(),
        parsed_targets: loaded,
    })
}

fn role_keys<'a>(root: &'a Root, role: &str) -> &'a [KeyId] {
    root.roles.get(role).map_or(&[], |r| r.keyids.as_slice())
}

/// docs/protocol.md §3 step 2.
fn check_root(
    gun: &Gun,
    current: &Current,
    bytes: &Bytes,
    now: DateTime<Utc>,
) -> Result<Signed<Root>, ValidationError> {
    let bad = |msg: String| ValidationError::new(ErrorKind::BadRoot, msg);
    let root: Signed<Root> = metadata::parse(bytes).map_err(|e| bad(e.to_string()))?;
    let stored_version = current.root.as_ref().map_or(1, |r| r.signed.signed.version);
    let version = root.signed.version;
    if version != stored_version && version != stored_version + 1 {
        return Err(bad(format!(
            "Root modifications must increment the version. Current {stored_version}, new {version}"
        )));
    }
    root.signed
        .check_structure()
        .map_err(|e| bad(e.to_string()))?;

    // Only certificate keys for this GUN count as root keys.
    let usable = |r: &Root, expiry: ExpiryCheck| -> BTreeMap<KeyId, PublicKey> {
        r.keys
            .iter()
            .filter(|(id, key)| {
                role_keys(r, "root").contains(id)
                    && cert::usable_root_key(key, gun.as_str(), now, expiry).is_ok()
            })
            .map(|(id, key)| (id.clone(), key.clone()))
            .collect()
    };
    let new_usable = usable(&root.signed, ExpiryCheck::Enforce);
    if new_usable.is_empty() {
        return Err(bad(
            "could not validate the path to a trusted root: unable to retrieve valid leaf certificates".to_owned(),
        ));
    }
    if let Some(old) = &current.root {
        let old_root = &old.signed.signed;
        let old_usable = usable(old_root, ExpiryCheck::Ignore);
        let old_role = old_root.roles.get("root");
        let threshold = old_role.map_or(1, |r| r.threshold);
        verify_threshold(&root, "root", &old_usable, role_keys(old_root, "root"), threshold).map_err(|_| {
            bad("could not rotate trust to a new trusted root: failed to validate data with current trusted certificates".to_owned())
        })?;
    }
    let threshold = root.signed.roles.get("root").map_or(1, |r| r.threshold);
    verify_threshold(&root, "root", &new_usable, role_keys(&root.signed, "root"), threshold).map_err(|e| {
        bad(format!("could not validate the path to a trusted root: failed to validate integrity of roots: {e}"))
    })?;
    if root.signed.expires.at() < now {
        return Err(bad(format!(
            "root expired at {}",
            root.signed.expires.as_str()
        )));
    }
    Ok(root)
}

/// docs/protocol.md §3 step 3, plus the path rule of §10.3.2 for names new in this upload.
fn check_targets(
    role: &RoleName,
    bytes: &Bytes,
    root: &Loaded<Root>,
    current: &Current,
    loaded: &mut BTreeMap<RoleName, Loaded<Targets>>,
    now: DateTime<Utc>,
) -> Result<Signed<Targets>, ValidationError> {
    let bad = |msg: String| ValidationError::new(ErrorKind::BadTargets, msg);
    if role.depth() > MAX_DELEGATION_DEPTH + 1 {
        return Err(bad(format!(
            "delegation {role} is nested deeper than {MAX_DELEGATION_DEPTH} levels"
        )));
    }
    let targets: Signed<Targets> = metadata::parse(bytes).map_err(|e| bad(e.to_string()))?;
    targets
        .signed
        .check_structure(role)
        .map_err(|e| bad(e.to_string()))?;
    if targets.signed.delegations.roles.len() > MAX_DELEGATIONS_PER_ROLE {
        return Err(bad(format!(
            "{role} declares more than {MAX_DELEGATIONS_PER_ROLE} delegations"
        )));
    }

    if let Some(parent) = role.parent() {
        // A delegation: its keys come from the entry in its parent (uploaded or stored).
        if !loaded.contains_key(&parent) {
            let stored = current.targets.get(&parent).ok_or_else(|| {
                bad(format!(
                    "tuf: invalid role {role}. delegation does not exist"
                ))
            })?;
            loaded.insert(parent.clone(), stored.clone());
        }
        let parent_targets = &loaded[&parent].signed.signed;
        let entry = parent_targets
            .delegations
            .roles
            .iter()
            .find(|d| &d.name == role)
            .ok_or_else(|| {
                bad(format!(
                    "tuf: invalid role {role}. delegation does not exist"
                ))
            })?;
        for id in &entry.keyids {
            if let Some(key) = parent_targets.delegations.keys.get(id) {
                cert::check_delegation_key(key).map_err(|e| bad(e.to_string()))?;
            }
        }
        verify_threshold(
            &targets,
            role.as_str(),
            &parent_targets.delegations.keys,
            &entry.keyids,
            entry.threshold,
        )
        .map_err(|e| bad(e.to_string()))?;
        // A name must be under the paths of this delegation and of every delegation above it.
        // A name outside them is tolerated only unchanged from the stored version: a narrowed
        // delegation keeps its old targets, and clients upload them again as they were.
        let mut chain: Vec<&[String]> = vec![entry.paths.as_deref().unwrap_or(&[])];
        let mut above = parent.clone();
        while let Some(grandparent) = above.parent() {
            let entry = loaded
                .get(&grandparent)
                .or_else(|| current.targets.get(&grandparent))
                .and_then(|t| {
                    t.signed
                        .signed
                        .delegations
                        .roles
                        .iter()
                        .find(|d| d.name == above)
                })
                .ok_or_else(|| {
                    bad(format!(
                        "tuf: invalid role {above}. delegation does not exist"
                    ))
                })?;
            chain.push(entry.paths.as_deref().unwrap_or(&[]));
            above = grandparent;
        }
        let before = current.targets.get(role);
        for (name, meta) in &targets.signed.targets {
            let unchanged = before
                .and_then(|b| b.signed.signed.targets.get(name))
                .is_some_and(|old| old == meta);
            let allowed = chain
                .iter()
                .all(|paths| paths.iter().any(|p| name.starts_with(p.as_str())));
            if !unchanged && !allowed {
                return Err(bad(format!(
                    "target {name:?} is outside the paths delegated to {role}"
                )));
            }
        }
    } else {
        let r = &root.signed.signed;
        let threshold = r.roles.get("targets").map_or(1, |k| k.threshold);
        verify_threshold(
            &targets,
            "targets",
            &r.keys,
            role_keys(r, "targets"),
            threshold,
        )
        .map_err(|e| bad(e.to_string()))?;
    }
    if targets.signed.expires.at() < now {
        return Err(bad(format!(
            "{role} expired at {}",
            targets.signed.expires.as_str()
        )));
    }
    Ok(targets)
}

/// docs/protocol.md §3 step 4a, with the stricter checks of §10.3.2: lengths, and every listed role is
/// uploaded or stored with that content.
fn check_snapshot(
    bytes: &Bytes,
    root: &Loaded<Root>,
    current: &Current,
    loaded: &BTreeMap<RoleName, Loaded<Targets>>,
    now: DateTime<Utc>,
) -> Result<Signed<Snapshot>, ValidationError> {
    let bad = |msg: String| ValidationError::new(ErrorKind::BadSnapshot, msg);
    let snapshot: Signed<Snapshot> = metadata::parse(bytes).map_err(|e| bad(e.to_string()))?;
    let r = &root.signed.signed;
    let threshold = r.roles.get("snapshot").map_or(1, |k| k.threshold);
    verify_threshold(
        &snapshot,
        "snapshot",
        &r.keys,
        role_keys(r, "snapshot"),
        threshold,
    )
    .map_err(|e| bad(e.to_string()))?;
    snapshot
        .signed
        .check_structure()
        .map_err(|e| bad(e.to_string()))?;
    if snapshot.signed.expires.at() < now {
        return Err(bad(format!(
            "snapshot expired at {}",
            snapshot.signed.expires.as_str()
        )));
    }
    for (name, meta) in &snapshot.signed.meta {
        let content: Option<&Bytes> = if name == "root" {
            Some(&root.bytes)
        } else {
            match RoleName::parse(name) {
                Ok(role) => loaded
                    .get(&role)
                    .or_else(|| current.targets.get(&role))
                    .map(|l| &l.bytes),
                Err(_) => None,
            }
        };
        match content {
            Some(content) => meta
                .check(content, true)
                .map_err(|e| bad(format!("{name}: {e}")))?,
            None => {
                // Off-spec: notary stores a snapshot listing a role that does not exist, after
                // which the repository cannot be read. Such an entry must at least be the one
                // the current snapshot already lists.
                let previous = current
                    .snapshot
                    .as_ref()
                    .and_then(|s| s.signed.signed.meta.get(name));
                if previous.is_none_or(|p| p.sha256() != meta.sha256()) {
                    return Err(bad(format!(
                        "snapshot lists {name}, which is neither in this update nor stored"
                    )));
                }
            }
        }
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests;
