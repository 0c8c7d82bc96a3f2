//! Step 4: the uploaded snapshot (docs/protocol.md §3 step 4a, with the stricter checks of
//! §10.3.2), or the plan for the one the server generates (step 4b).
//!
//! Either way the snapshot must list every role the update writes, by a `sha256` of its exact
//! bytes: readers reach a role only through its snapshot entry, looked up by that hash. A role
//! stored without one could never be read, and its version number would be spent.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{
    held_role_keys, verify_by_root, Current, ErrorKind, GeneratedSnapshot, HeldKeys, Loaded,
    ValidationError,
};
use crate::tuf::metadata::{self, FileMeta, Root, Signed, Snapshot, Targets};
use crate::tuf::role::RoleName;

fn bad(msg: String) -> ValidationError {
    ValidationError::new(ErrorKind::BadSnapshot, msg)
}

/// The rule of notary-server's `checkSnapshotEntries` (`server/handlers/validation.go`): every
/// role of the update is listed (its content is then checked against the entry by the caller);
/// stricter, listed with a `sha256`.
fn check_lists_update(
    meta: &BTreeMap<String, FileMeta>,
    updated: &BTreeSet<RoleName>,
) -> Result<(), ValidationError> {
    for role in updated {
        match meta.get(role.as_str()) {
            None => return Err(bad(format!("snapshot missing metadata for {role}"))),
            Some(entry) if entry.sha256().is_none() => {
                return Err(bad(format!("snapshot missing sha256 checksum for {role}")))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Checks an uploaded snapshot: signed by the root's snapshot keys, notary's structure (every
/// entry with a `sha256`), not expired, listing every role in `updated`, and every entry naming
/// exactly the uploaded or stored bytes of its role, length included.
pub(super) fn check_snapshot(
    bytes: &Bytes,
    root: &Loaded<Root>,
    current: &Current,
    uploaded_and_parents: &BTreeMap<RoleName, Loaded<Targets>>,
    updated: &BTreeSet<RoleName>,
    now: DateTime<Utc>,
) -> Result<Signed<Snapshot>, ValidationError> {
    let snapshot: Signed<Snapshot> =
        metadata::parse_shared(bytes).map_err(|e| bad(e.to_string()))?;
    verify_by_root(&snapshot, "snapshot", &root.signed.signed).map_err(|e| bad(e.to_string()))?;
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
    check_lists_update(&snapshot.signed.meta, updated)?;
    for (name, meta) in &snapshot.signed.meta {
        let content: Option<&Bytes> = if name == "root" {
            Some(&root.bytes)
        } else {
            match RoleName::parse(name) {
                Ok(role) => uploaded_and_parents
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

/// The snapshot the server signs when none was uploaded: the current entries, with the root
/// and every role of `uploaded_and_parents` listed from their exact bytes. A current entry
/// without a `sha256` (accepted before that was required, or imported) names nothing a reader
/// can get, and is not carried on.
pub(super) fn plan_snapshot(
    root: &Loaded<Root>,
    current: &Current,
    uploaded_and_parents: &BTreeMap<RoleName, Loaded<Targets>>,
    updated: &BTreeSet<RoleName>,
    held: &HeldKeys,
) -> Result<GeneratedSnapshot, ValidationError> {
    let keys = held_role_keys(&root.signed.signed, "snapshot", &held.snapshot);
    if keys.is_empty() {
        return Err(ValidationError::hierarchy(
            "no snapshot was included in update and server does not hold current snapshot key \
             for repository",
        ));
    }
    let mut meta = match &current.snapshot {
        Some(s) => s.signed.signed.meta.clone(),
        None => {
            if !uploaded_and_parents.contains_key(&RoleName::targets())
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
    meta.retain(|_, entry| entry.sha256().is_some());
    meta.insert("root".to_owned(), FileMeta::of(&root.bytes));
    for (role, file) in uploaded_and_parents {
        meta.insert(role.as_str().to_owned(), FileMeta::of(&file.bytes));
    }
    if !meta.contains_key("targets") {
        if let Some(t) = current.targets.get(&RoleName::targets()) {
            meta.insert("targets".to_owned(), FileMeta::of(&t.bytes));
        }
    }
    // Holds by construction today; checked so that a change to the above cannot make the
    // server sign a snapshot that hides a role it stores.
    check_lists_update(&meta, updated)?;
    Ok(GeneratedSnapshot {
        version: current
            .snapshot
            .as_ref()
            .map_or(1, |s| s.signed.signed.version + 1),
        meta,
        keys,
    })
}
