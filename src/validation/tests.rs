//! The validator against updates the real client made (the `plain` fixture set), and the same
//! updates damaged at random: no input panics, and no damaged update is accepted with a
//! meaning other than the client's.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::{validate_update, Current, HeldKeys, Loaded};
use crate::gun::Gun;
use crate::tuf::fixtures;
use crate::tuf::metadata::{self, Targets};
use crate::tuf::role::RoleName;

const SET: &str = "plain";

/// A moment when every `plain` fixture is valid (they were made on 2026-11-22).
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
        .expect("valid time")
        .with_timezone(&Utc)
}

fn bytes(version: u64, role: &str) -> Bytes {
    Bytes::from(fixtures::read(SET, version, role))
}

/// The repository as the server stored it after the client's publish of `version`.
fn current(version: u64) -> Current {
    let mut targets = BTreeMap::new();
    targets.insert(
        RoleName::targets(),
        Loaded::parse(bytes(version, "targets")).expect("fixture"),
    );
    Current {
        root: Some(Loaded::parse(bytes(1, "root")).expect("fixture")),
        snapshot: Some(Loaded::parse(bytes(version, "snapshot")).expect("fixture")),
        timestamp: Some(Loaded::parse(bytes(version - 1, "timestamp")).expect("fixture")),
        targets,
    }
}

/// The timestamp key the fixture root lists, as if the server held it.
fn held() -> HeldKeys {
    let root = fixtures::root(SET, 1);
    HeldKeys {
        timestamp: root.signed.roles["timestamp"]
            .keyids
            .iter()
            .cloned()
            .collect(),
        ..HeldKeys::default()
    }
}

/// The client's next publish on top of `current(version)`: targets and snapshot.
fn next_update(version: u64) -> BTreeMap<RoleName, Bytes> {
    BTreeMap::from([
        (RoleName::targets(), bytes(version + 1, "targets")),
        (RoleName::snapshot(), bytes(version + 1, "snapshot")),
    ])
}

fn gun() -> Gun {
    Gun::parse(&fixtures::gun(SET)).expect("fixture GUN")
}

#[test]
fn every_real_client_publish_is_accepted_in_order() {
    for version in 2..7 {
        let plan = validate_update(
            &gun(),
            &current(version),
            next_update(version),
            &held(),
            now(),
        )
        .unwrap_or_else(|e| panic!("publish of version {}: {e}", version + 1));
        assert_eq!(plan.files.len(), 2);
        assert!(plan.snapshot.is_none(), "the client signed the snapshot");
    }
}

/// The canonical `signed` bytes of a targets file, if it parses.
fn meaning(bytes: &[u8]) -> Option<Vec<u8>> {
    metadata::parse::<Targets>(bytes)
        .ok()
        .map(|t| t.canonical_signed().to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A real update with one byte changed, or a range cut out, is refused or means exactly
    /// what the client signed (an equivalent escape, a byte in a signature that still verifies
    /// is impossible, so in practice: refused).
    #[test]
    fn damaged_updates_are_refused_or_unchanged(
        version in 2u64..7,
        which in 0usize..2,
        at in any::<prop::sample::Index>(),
        len in 0usize..4,
        byte in any::<u8>(),
    ) {
        let mut update = next_update(version);
        let role = if which == 0 { RoleName::targets() } else { RoleName::snapshot() };
        let original = update[&role].clone();
        let mut damaged = original.to_vec();
        let start = at.index(damaged.len());
        if len == 0 {
            damaged[start] = byte;
        } else {
            let end = (start + len).min(damaged.len());
            damaged.drain(start..end);
        }
        update.insert(role.clone(), Bytes::from(damaged.clone()));
        if let Ok(plan) = validate_update(&gun(), &current(version), update, &held(), now()) {
            let stored = plan.files.iter().find(|f| f.role == role).expect("planned");
            prop_assert_eq!(&stored.bytes[..], &damaged[..]);
            if role == RoleName::targets() {
                prop_assert_eq!(meaning(&damaged), meaning(&original));
            } else {
                prop_assert_eq!(damaged.len(), original.len());
            }
        }
    }

    /// Arbitrary bytes as any role never make the validator panic.
    #[test]
    fn arbitrary_uploads_never_panic(
        role in prop::sample::select(vec!["root", "targets", "snapshot", "targets/releases", "targets/a/b"]),
        data in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let role = RoleName::parse(role).expect("valid role name");
        let update = BTreeMap::from([(role, Bytes::from(data))]);
        let _ = validate_update(&gun(), &current(4), update.clone(), &held(), now());
        let _ = validate_update(&gun(), &Current::default(), update, &HeldKeys::default(), now());
    }
}
