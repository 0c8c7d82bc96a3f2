//! Step 3: uploaded targets and delegations (docs/protocol.md §3 step 3, and the path rule of
//! §10.3.2 for names new in this upload).

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{verify_by_root, Current, ErrorKind, Loaded, ValidationError};
use crate::tuf::cert;
use crate::tuf::metadata::{self, Root, Signed, Targets};
use crate::tuf::role::RoleName;
use crate::tuf::verify::verify_threshold;

/// The most levels of delegation below `targets` accepted (`targets/a/b/c/d` is 4).
pub const MAX_DELEGATION_DEPTH: usize = 8;
/// The most delegations one targets-type role may declare.
pub const MAX_DELEGATIONS_PER_ROLE: usize = 256;

fn bad(msg: String) -> ValidationError {
    ValidationError::new(ErrorKind::BadTargets, msg)
}

fn no_such_delegation(role: &RoleName) -> ValidationError {
    bad(format!(
        "tuf: invalid role {role}. delegation does not exist"
    ))
}

/// Checks the uploaded targets-type `role`. Its parent must be in `uploaded_and_parents` (the
/// roles of this update checked so far, parents first, and the stored parents read for them) or
/// stored; a stored parent read here is added to it.
pub(super) fn check_targets(
    role: &RoleName,
    bytes: &Bytes,
    root: &Loaded<Root>,
    current: &Current,
    uploaded_and_parents: &mut BTreeMap<RoleName, Loaded<Targets>>,
    now: DateTime<Utc>,
) -> Result<Signed<Targets>, ValidationError> {
    if role.depth() > MAX_DELEGATION_DEPTH + 1 {
        return Err(bad(format!(
            "delegation {role} is nested deeper than {MAX_DELEGATION_DEPTH} levels"
        )));
    }
    let targets: Signed<Targets> = metadata::parse_shared(bytes).map_err(|e| bad(e.to_string()))?;
    targets
        .signed
        .check_structure(role)
        .map_err(|e| bad(e.to_string()))?;
    if targets.signed.delegations.roles.len() > MAX_DELEGATIONS_PER_ROLE {
        return Err(bad(format!(
            "{role} declares more than {MAX_DELEGATIONS_PER_ROLE} delegations"
        )));
    }
    match role.parent() {
        Some(parent) => {
            if !uploaded_and_parents.contains_key(&parent) {
                let stored = current
                    .targets
                    .get(&parent)
                    .ok_or_else(|| no_such_delegation(role))?;
                uploaded_and_parents.insert(parent.clone(), stored.clone());
            }
            check_delegation(role, &parent, &targets, current, uploaded_and_parents)?;
        }
        None => {
            verify_by_root(&targets, "targets", &root.signed.signed)
                .map_err(|e| bad(e.to_string()))?;
        }
    }
    if targets.signed.expires.at() < now {
        return Err(bad(format!(
            "{role} expired at {}",
            targets.signed.expires.as_str()
        )));
    }
    Ok(targets)
}

/// A delegation: its keys come from the entry in its parent (uploaded or stored), and its new
/// target names must lie under the paths of that entry and of every delegation above it.
fn check_delegation(
    role: &RoleName,
    parent: &RoleName,
    targets: &Signed<Targets>,
    current: &Current,
    uploaded_and_parents: &BTreeMap<RoleName, Loaded<Targets>>,
) -> Result<(), ValidationError> {
    let parent_targets = &uploaded_and_parents[parent].signed.signed;
    let entry = parent_targets
        .delegation(role)
        .ok_or_else(|| no_such_delegation(role))?;
    for id in &entry.keyids {
        if let Some(key) = parent_targets.delegations.keys.get(id) {
            cert::check_delegation_key(key).map_err(|e| bad(e.to_string()))?;
        }
    }
    verify_threshold(
        targets,
        role.as_str(),
        &parent_targets.delegations.keys,
        &entry.keyids,
        entry.threshold,
    )
    .map_err(|e| bad(e.to_string()))?;
    let mut chain: Vec<&[String]> = vec![entry.paths.as_deref().unwrap_or(&[])];
    let mut above = parent.clone();
    while let Some(grandparent) = above.parent() {
        let entry = uploaded_and_parents
            .get(&grandparent)
            .or_else(|| current.targets.get(&grandparent))
            .and_then(|t| t.signed.signed.delegation(&above))
            .ok_or_else(|| no_such_delegation(&above))?;
        chain.push(entry.paths.as_deref().unwrap_or(&[]));
        above = grandparent;
    }
    // A name outside the paths is tolerated only unchanged from the stored version: a narrowed
    // delegation keeps its old targets, and clients upload them again as they were.
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
    Ok(())
}
