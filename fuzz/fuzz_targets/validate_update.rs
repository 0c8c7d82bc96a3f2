//! The update validator on top of a repository the real client made (`plain` fixtures at
//! version 4): the first input byte picks a role, the rest is that role's upload, the other
//! roles of the client's real next publish go with it. Never panics.
#![no_main]

use std::collections::BTreeMap;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use notarium::gun::Gun;
use notarium::tuf::metadata::Root;
use notarium::tuf::role::RoleName;
use notarium::validation::{validate_update, Current, HeldKeys, Loaded};

macro_rules! fixture {
    ($name:literal) => {
        Bytes::from_static(include_bytes!(concat!(
            "../../tests/data/notary-0.7/plain/",
            $name
        )))
    };
}

const ROLES: [&str; 5] = [
    "root",
    "targets",
    "snapshot",
    "targets/releases",
    "targets/a/b",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, upload)) = data.split_first() else {
        return;
    };
    let root: Loaded<Root> = Loaded::parse(fixture!("1.root.json")).expect("fixture");
    let held = HeldKeys {
        timestamp: root.signed.signed.roles["timestamp"]
            .keyids
            .iter()
            .cloned()
            .collect(),
        ..HeldKeys::default()
    };
    let current = Current {
        root: Some(root),
        snapshot: Some(Loaded::parse(fixture!("4.snapshot.json")).expect("fixture")),
        timestamp: Some(Loaded::parse(fixture!("3.timestamp.json")).expect("fixture")),
        targets: BTreeMap::from([(
            RoleName::targets(),
            Loaded::parse(fixture!("4.targets.json")).expect("fixture"),
        )]),
    };
    let mut update = BTreeMap::from([
        (RoleName::targets(), fixture!("5.targets.json")),
        (RoleName::snapshot(), fixture!("5.snapshot.json")),
    ]);
    let role = RoleName::parse(ROLES[usize::from(selector) % ROLES.len()]).expect("role name");
    update.insert(role, Bytes::copy_from_slice(upload));
    let gun = Gun::parse("fixtures.example.com/plain/app6089").expect("GUN");
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T00:00:00Z")
        .expect("time")
        .to_utc();
    let _ = validate_update(&gun, &current, update, &held, now);
});
