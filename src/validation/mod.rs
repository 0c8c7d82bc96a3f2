//! Validation of an atomic update against the current state of a repository: pure, no I/O.
//!
//! Follows notary-server's order (docs/protocol.md §3), one module per step: [`root`], then
//! [`targets`] roles parents first, then the uploaded snapshot or the plan to generate one
//! ([`snapshot`]), then the [`timestamp`] plan. The result is a [`Plan`]: the files to store and
//! what the server must sign. Nothing here writes anything.

mod error;
mod plan;
mod root;
mod snapshot;
mod state;
mod targets;
mod timestamp;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::gun::Gun;
use crate::tuf::key::KeyId;
use crate::tuf::metadata::{Root, Targets};
use crate::tuf::role::RoleName;
pub use error::{ErrorKind, ValidationError};
pub use plan::{GeneratedSnapshot, GeneratedTimestamp, HeldKeys, Plan, PlannedFile};
pub use state::{Current, Loaded};
pub use targets::{MAX_DELEGATIONS_PER_ROLE, MAX_DELEGATION_DEPTH};

/// Validates `uploads` (role → exact bytes) for `gun` against `current` at time `now`.
pub fn validate_update(
    gun: &Gun,
    current: &Current,
    mut uploads: BTreeMap<RoleName, Bytes>,
    held: &HeldKeys,
    now: DateTime<Utc>,
) -> Result<Plan, ValidationError> {
    let mut files = Vec::new();
    // Only the server makes timestamps. notary-server drops an uploaded one silently; no real
    // client sends one, so it is refused rather than half-applied.
    if uploads.contains_key(&RoleName::timestamp()) {
        return Err(ValidationError::new(
            ErrorKind::Validation,
            "the server signs the timestamp: clients may not upload timestamp.json",
        ));
    }

    // Step 2: root.
    let new_root = match uploads.remove(&RoleName::root()) {
        Some(bytes) => {
            let root = root::check_root(gun, current, &bytes, now)?;
            files.push(PlannedFile {
                role: RoleName::root(),
                version: root.signed.version,
                bytes: bytes.clone(),
            });
            Some(Loaded {
                signed: Arc::new(root),
                bytes,
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
    // Every role this update writes: what its snapshot must list.
    let mut updated: BTreeSet<RoleName> = targets_roles.iter().map(|(r, _)| r.clone()).collect();
    if new_root.is_some() {
        updated.insert(RoleName::root());
    }
    // The uploaded targets roles, and the stored parents read to verify them.
    let mut uploaded_and_parents: BTreeMap<RoleName, Loaded<Targets>> = BTreeMap::new();
    for (role, bytes) in targets_roles {
        let targets =
            targets::check_targets(&role, &bytes, root, current, &mut uploaded_and_parents, now)?;
        files.push(PlannedFile {
            role: role.clone(),
            version: targets.signed.version,
            bytes: bytes.clone(),
        });
        uploaded_and_parents.insert(
            role,
            Loaded {
                signed: Arc::new(targets),
                bytes,
            },
        );
    }

    // Step 4: snapshot.
    let snapshot = match snapshot_bytes {
        Some(bytes) => {
            let snapshot = snapshot::check_snapshot(
                &bytes,
                root,
                current,
                &uploaded_and_parents,
                &updated,
                now,
            )?;
            files.push(PlannedFile {
                role: RoleName::snapshot(),
                version: snapshot.signed.version,
                bytes,
            });
            None
        }
        None => Some(snapshot::plan_snapshot(
            root,
            current,
            &uploaded_and_parents,
            &updated,
            held,
        )?),
    };

    // Step 5: timestamp.
    let timestamp = timestamp::plan_timestamp(root, current, held)?;
    Ok(Plan {
        files,
        snapshot,
        timestamp,
        parsed_root: new_root,
        parsed_targets: uploaded_and_parents,
    })
}

/// The key IDs `root` lists for the top-level `role`.
fn role_keys<'a>(root: &'a Root, role: &str) -> &'a [KeyId] {
    root.roles.get(role).map_or(&[], |r| r.keyids.as_slice())
}

/// Checks `signed` against the keys and threshold `root` lists for the top-level `role`.
fn verify_by_root<T>(
    signed: &crate::tuf::metadata::Signed<T>,
    role: &str,
    root: &Root,
) -> Result<(), crate::tuf::Error> {
    let threshold = root.roles.get(role).map_or(1, |k| k.threshold);
    crate::tuf::verify::verify_threshold(signed, role, &root.keys, role_keys(root, role), threshold)
}

/// The key IDs `root` lists for the top-level `role` whose private keys the server holds.
fn held_role_keys(root: &Root, role: &str, held: &BTreeSet<KeyId>) -> Vec<KeyId> {
    role_keys(root, role)
        .iter()
        .filter(|id| held.contains(*id))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
