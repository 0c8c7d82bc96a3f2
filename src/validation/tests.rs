//! The validator against updates the real client made (every fixture set, replayed in order),
//! the same updates damaged at random (no input panics, and no damaged update is accepted with
//! a meaning other than the client's), and the rules the reference lacks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{validate_update, Current, ErrorKind, HeldKeys, Loaded, ValidationError};
use crate::gun::Gun;
use crate::tuf::fixtures::{self, Fixture};
use crate::tuf::metadata::{self, FileMeta, Snapshot, Targets, Timestamp};
use crate::tuf::role::RoleName;

const SET: &str = "plain";

/// The snapshots the Go server generated (it held the snapshot key), by set and version.
const SERVER_SNAPSHOTS: [(&str, u64); 2] = [("delegations", 9), ("delegations", 10)];

/// A moment when every fixture is valid (they were made on 2026-11-22).
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

/// The fixture of `role` in `set` whose exact bytes `meta` lists.
fn listed(all: &[Fixture], set: &str, role: &str, meta: &FileMeta) -> Bytes {
    all.iter()
        .find(|f| f.set == set && f.role == role && meta.check(&f.bytes, true).is_ok())
        .map(|f| Bytes::from(f.bytes.clone()))
        .unwrap_or_else(|| panic!("{set}: no {role} fixture as listed"))
}

/// The entries of `set`'s snapshot `version` (none before the first, version 2).
fn snapshot_meta(set: &str, version: u64) -> BTreeMap<String, FileMeta> {
    if version < 2 {
        return BTreeMap::new();
    }
    metadata::parse::<Snapshot>(&fixtures::read(set, version, "snapshot"))
        .expect("fixture")
        .signed
        .meta
}

/// The repository as the server stored it while `set`'s snapshot `version` was current.
fn stored_at(all: &[Fixture], set: &str, version: u64) -> Current {
    if version < 2 {
        return Current::default();
    }
    let snapshot = Bytes::from(fixtures::read(set, version, "snapshot"));
    let mut current = Current::default();
    for (name, meta) in snapshot_meta(set, version) {
        let file = listed(all, set, &name, &meta);
        if name == "root" {
            current.root = Some(Loaded::parse(file).expect("fixture"));
        } else {
            let role = RoleName::parse(&name).expect("fixture role");
            current
                .targets
                .insert(role, Loaded::parse(file).expect("fixture"));
        }
    }
    let timestamp = all
        .iter()
        .filter(|f| f.set == set && f.role == "timestamp")
        .find(|f| {
            metadata::parse::<Timestamp>(&f.bytes)
                .expect("fixture")
                .signed
                .meta["snapshot"]
                .check(&snapshot, true)
                .is_ok()
        })
        .expect("a timestamp lists the snapshot");
    current.timestamp = Some(Loaded::parse(Bytes::from(timestamp.bytes.clone())).expect("fixture"));
    current.snapshot = Some(Loaded::parse(snapshot).expect("fixture"));
    current
}

/// What the client uploaded to make `set`'s snapshot `version`: every role whose entry changed,
/// and the snapshot itself unless the server generated it.
fn update_to(all: &[Fixture], set: &str, version: u64) -> BTreeMap<RoleName, Bytes> {
    let before = snapshot_meta(set, version - 1);
    let mut update = BTreeMap::new();
    for (name, meta) in snapshot_meta(set, version) {
        if before.get(&name) != Some(&meta) {
            let role = RoleName::parse(&name).expect("fixture role");
            update.insert(role, listed(all, set, &name, &meta));
        }
    }
    if !SERVER_SNAPSHOTS.contains(&(set, version)) {
        let snapshot = Bytes::from(fixtures::read(set, version, "snapshot"));
        update.insert(RoleName::snapshot(), snapshot);
    }
    update
}

/// The keys the Go server held for `set`: every timestamp key, and the snapshot keys that
/// signed the snapshots it generated.
fn held_in(all: &[Fixture], set: &str) -> HeldKeys {
    let mut held = HeldKeys::default();
    for f in all.iter().filter(|f| f.set == set && f.role == "root") {
        let root = metadata::parse::<metadata::Root>(&f.bytes).expect("fixture");
        held.timestamp
            .extend(root.signed.roles["timestamp"].keyids.iter().cloned());
    }
    for (_, version) in SERVER_SNAPSHOTS.iter().filter(|(s, _)| *s == set) {
        let snapshot = metadata::parse::<Snapshot>(&fixtures::read(set, *version, "snapshot"))
            .expect("fixture");
        held.snapshot
            .extend(snapshot.signatures.iter().map(|s| s.keyid.clone()));
    }
    held
}

fn gun_of(set: &str) -> Gun {
    Gun::parse(&fixtures::gun(set)).expect("fixture GUN")
}

#[test]
fn every_real_client_update_is_accepted_in_order() {
    let all = fixtures::all();
    for set in fixtures::SETS {
        let held = held_in(&all, set);
        let last = all
            .iter()
            .filter(|f| f.set == set && f.role == "snapshot")
            .map(|f| f.version)
            .max()
            .expect("snapshots");
        for version in 2..=last {
            let update = update_to(&all, set, version);
            let uploaded: BTreeSet<RoleName> = update.keys().cloned().collect();
            let plan = validate_update(
                &gun_of(set),
                &stored_at(&all, set, version - 1),
                update,
                &held,
                now(),
            )
            .unwrap_or_else(|e| panic!("{set}, snapshot {version}: {e}"));
            let planned: BTreeSet<RoleName> = plan.files.iter().map(|f| f.role.clone()).collect();
            assert_eq!(planned, uploaded, "{set}, snapshot {version}");
            match plan.snapshot {
                Some(generated) => {
                    // What the Go server generated, entry for entry.
                    assert_eq!(
                        generated.meta,
                        snapshot_meta(set, version),
                        "{set} {version}"
                    );
                    assert_eq!(generated.version, version);
                }
                None => assert!(!SERVER_SNAPSHOTS.contains(&(set, version))),
            }
            assert_eq!(
                plan.timestamp.version,
                version - 1,
                "{set}, snapshot {version}"
            );
        }
    }
}

/// The message of the refusal of `update` to `set`'s repository, which must be of `kind`.
fn refusal(
    set: &str,
    current: &Current,
    update: BTreeMap<RoleName, Bytes>,
    held: &HeldKeys,
    kind: ErrorKind,
) -> String {
    match validate_update(&gun_of(set), current, update, held, now()) {
        Err(ValidationError {
            kind: k, message, ..
        }) if k == kind => message,
        Err(e) => panic!("refused as {e}, expected {}", kind.go_name()),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn a_delegation_the_client_snapshot_does_not_list_is_refused() {
    let all = fixtures::all();
    let set = "delegations";
    // Snapshot 4 added targets/releases; the (stored) snapshot 3 does not list it.
    let update = BTreeMap::from([
        (
            RoleName::parse("targets/releases").expect("valid"),
            Bytes::from(fixtures::read(set, 1, "targets/releases")),
        ),
        (
            RoleName::snapshot(),
            Bytes::from(fixtures::read(set, 3, "snapshot")),
        ),
    ]);
    let message = refusal(
        set,
        &stored_at(&all, set, 3),
        update,
        &held_in(&all, set),
        ErrorKind::BadSnapshot,
    );
    assert_eq!(message, "snapshot missing metadata for targets/releases");
}

#[test]
fn a_generated_snapshot_lists_only_entries_with_a_sha256() {
    let all = fixtures::all();
    let set = "delegations";
    // Snapshot 9 as if its targets/qa/nightly entry had only a sha512: that role is then
    // unreachable, so not among the current roles either.
    let mut current = stored_at(&all, set, 9);
    let nightly = RoleName::parse("targets/qa/nightly").expect("valid");
    current.targets.remove(&nightly);
    let stored = current.snapshot.take().expect("stored");
    let mut snapshot = (*stored.signed).clone();
    let entry = snapshot
        .signed
        .meta
        .get_mut(nightly.as_str())
        .expect("listed");
    entry.hashes.remove("sha256");
    current.snapshot = Some(Loaded {
        signed: Arc::new(snapshot),
        bytes: stored.bytes,
    });
    let update = BTreeMap::from([(
        RoleName::targets(),
        Bytes::from(fixtures::read(set, 5, "targets")),
    )]);
    let plan = validate_update(&gun_of(set), &current, update, &held_in(&all, set), now())
        .expect("accepted");
    let meta = plan.snapshot.expect("generated").meta;
    let mut expected = snapshot_meta(set, 10);
    expected.remove(nightly.as_str());
    assert_eq!(meta, expected);
}

/// A change to one target entry's JSON.
type EntryChange = dyn Fn(&mut Value);

/// The `plain` publish of targets 4 with its first target entry changed by `change`: the
/// refusal's message, and the entry's name.
fn target_entry_refusal(change: impl Fn(&mut Value)) -> (String, String) {
    let mut update = next_update(3);
    let mut doc: Value = serde_json::from_slice(&update[&RoleName::targets()]).expect("json");
    let targets = doc["signed"]["targets"].as_object_mut().expect("targets");
    let (name, entry) = targets.iter_mut().next().expect("a target");
    change(entry);
    let name = name.clone();
    let damaged = serde_json::to_vec(&doc).expect("json");
    update.insert(RoleName::targets(), Bytes::from(damaged));
    let message = refusal(SET, &current(3), update, &held(), ErrorKind::BadTargets);
    (message, name)
}

#[test]
fn target_entries_no_client_can_verify_are_refused() {
    fn sha(bytes: usize) -> Value {
        json!(base64_of(&vec![7; bytes]))
    }
    let cases: [(&EntryChange, &str); 5] = [
        (&|e| e["length"] = json!(-1), "length -1 is negative"),
        (
            &|e| e["hashes"]["sha256"] = sha(31),
            "sha256 checksum invalid: 31 bytes, expected 32",
        ),
        (
            &|e| e["hashes"]["sha512"] = sha(32),
            "sha512 checksum invalid: 32 bytes, expected 64",
        ),
        (
            &|e| e["hashes"] = json!({"md5": base64_of(&[7; 16])}),
            "no checksums for supported algorithms were provided",
        ),
        (
            &|e| e["hashes"] = json!({}),
            "no checksums for supported algorithms were provided",
        ),
    ];
    for (change, reason) in cases {
        let (message, name) = target_entry_refusal(change);
        assert_eq!(
            message,
            format!("invalid targets metadata: target {name:?}: {reason}")
        );
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
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
