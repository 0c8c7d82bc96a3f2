//! The pure half of mirroring: whether an earlier version of a role is what the source's own
//! keys signed, which roles' keys only the source holds, and what the owner must run. No I/O.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::tuf::key::{KeyId, PublicKey};
use crate::tuf::metadata::{self, Root, Signed, Snapshot, Targets, Timestamp};
use crate::tuf::verify::verify_threshold;

/// Keys that may sign a role, as one root or one parent version lists them.
#[derive(Debug, Clone)]
pub struct Signers {
    /// Key ID → key.
    pub keys: BTreeMap<KeyId, PublicKey>,
    /// The role's key IDs.
    pub keyids: Vec<KeyId>,
    /// How many of them must sign.
    pub threshold: u32,
}

/// What signs `role` in each root of the chain (top-level roles only).
pub fn root_signers(roots: &[Root], role: &str) -> Vec<Signers> {
    roots
        .iter()
        .filter_map(|root| {
            let listed = root.roles.get(role)?;
            Some(Signers {
                keys: root.keys.clone(),
                keyids: listed.keyids.clone(),
                threshold: listed.threshold,
            })
        })
        .collect()
}

/// What signs the delegation `role` in each version of its parent that delegates to it.
pub fn delegation_signers(parents: &[Targets], role: &str) -> Vec<Signers> {
    parents
        .iter()
        .filter_map(|parent| {
            let listed = parent
                .delegations
                .roles
                .iter()
                .find(|d| d.name.as_str() == role)?;
            Some(Signers {
                keys: parent.delegations.keys.clone(),
                keyids: listed.keyids.clone(),
                threshold: listed.threshold,
            })
        })
        .collect()
}

/// The kind of file a role's versions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `timestamp`.
    Timestamp,
    /// `snapshot`.
    Snapshot,
    /// `targets` or a delegation.
    Targets,
}

impl Kind {
    /// The kind of `role`'s files.
    pub fn of(role: &str) -> Kind {
        match role {
            "timestamp" => Kind::Timestamp,
            "snapshot" => Kind::Snapshot,
            _ => Kind::Targets,
        }
    }
}

/// Checks that `bytes`, served as version `version` of `role`, is a file of that role at that
/// version, signed to threshold by one of `signers` (expiry is not checked: history may have
/// expired). Returns the parsed targets for a targets file, to check its delegations' history.
pub fn check_version(
    role: &str,
    version: u64,
    bytes: &Bytes,
    signers: &[Signers],
) -> Result<Option<Targets>, String> {
    fn signed_by<T>(signed: &Signed<T>, role: &str, signers: &[Signers]) -> Result<(), String> {
        let mut last = format!("no key listed for {role}");
        for s in signers {
            match verify_threshold(signed, role, &s.keys, &s.keyids, s.threshold) {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("not signed by {role}'s keys: {last}"))
    }
    let unreadable =
        |e: crate::tuf::error::Error| format!("version {version} of {role} is not readable: {e}");
    let (served, targets) = match Kind::of(role) {
        Kind::Timestamp => {
            let signed = metadata::parse::<Timestamp>(bytes).map_err(unreadable)?;
            signed_by(&signed, role, signers)?;
            (signed.signed.version, None)
        }
        Kind::Snapshot => {
            let signed = metadata::parse::<Snapshot>(bytes).map_err(unreadable)?;
            signed_by(&signed, role, signers)?;
            (signed.signed.version, None)
        }
        Kind::Targets => {
            let signed = metadata::parse::<Targets>(bytes).map_err(unreadable)?;
            signed_by(&signed, role, signers)?;
            (signed.signed.version, Some(signed.signed))
        }
    };
    if served != version {
        return Err(format!(
            "served as version {version} of {role}, but it is version {served}"
        ));
    }
    Ok(targets)
}

/// Whether the key the source answers for `GET snapshot.key` is the snapshot key `root`
/// lists: then the source signs snapshots, and the snapshot key moves in the handover too.
pub fn source_holds_snapshot(root: &Root, served_key: Option<&[u8]>) -> bool {
    let Some(key) = served_key.and_then(|b| serde_json::from_slice::<PublicKey>(b).ok()) else {
        return false;
    };
    let id = key.id();
    root.roles
        .get("snapshot")
        .is_some_and(|r| r.keyids.contains(&id))
}

/// The commands the owner (holding the root key) runs to move `roles` of `gun` from `source`
/// to `server`, in order. The notary client rotates one role per root, and this server can
/// sign neither role until the root lists its key for it, so a snapshot key the source holds
/// is first taken into the owner's hands on the source (a root listing a client snapshot key
/// and the source's timestamp key, which the mirror follows); then the timestamp key moves
/// here, and the snapshot key may follow.
pub fn handover_commands(server: &str, source: &str, gun: &str, roles: &[String]) -> Vec<String> {
    let has = |role: &str| roles.iter().any(|r| r == role);
    let mut commands = Vec::new();
    if has("snapshot") {
        commands.push(format!("notary -s {source} key rotate {gun} snapshot"));
        commands.push(format!("notarium mirror --from {source} --gun {gun}"));
    }
    if has("timestamp") {
        commands.push(format!("notary -s {server} key rotate {gun} timestamp -r"));
    }
    if has("snapshot") {
        commands.push(format!("notary -s {server} key rotate {gun} snapshot -r"));
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_held_snapshot_key_is_taken_by_the_owner_first() {
        let roles = vec!["snapshot".to_owned(), "timestamp".to_owned()];
        assert_eq!(
            handover_commands("https://n:4443", "https://old", "example.com/app", &roles),
            vec![
                "notary -s https://old key rotate example.com/app snapshot",
                "notarium mirror --from https://old --gun example.com/app",
                "notary -s https://n:4443 key rotate example.com/app timestamp -r",
                "notary -s https://n:4443 key rotate example.com/app snapshot -r",
            ]
        );
        assert_eq!(
            handover_commands("https://n", "https://old", "a/b", &roles[1..]),
            vec!["notary -s https://n key rotate a/b timestamp -r"]
        );
        assert!(handover_commands("https://n", "https://old", "a/b", &[]).is_empty());
    }

    #[test]
    fn a_file_that_does_not_parse_is_refused_with_its_version() {
        let err = check_version("targets", 3, &Bytes::from_static(b"{}"), &[]).unwrap_err();
        assert!(err.contains("version 3 of targets"), "{err}");
    }
}
