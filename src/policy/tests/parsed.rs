//! Trust data handed over with its parse (the local source): the same verdict as the bytes
//! alone, and a parse that is not of the bytes given is never used.

use std::sync::Arc;

use super::*;
use crate::tuf::metadata::{Root, Signed};

/// The parse of every file of `data`, as the local source hands it over.
fn parse_of(data: &TrustData) -> Parsed {
    let mut targets = BTreeMap::new();
    targets.insert(
        RoleName::targets(),
        Arc::new(metadata::parse(&data.targets).expect("targets")),
    );
    for (role, bytes) in &data.delegations {
        targets.insert(
            role.clone(),
            Arc::new(metadata::parse(bytes).expect("delegation")),
        );
    }
    Parsed {
        roots: data
            .roots
            .iter()
            .map(|r| Arc::new(metadata::parse(r).expect("root")))
            .collect(),
        timestamp: Some(Arc::new(
            metadata::parse(&data.timestamp).expect("timestamp"),
        )),
        snapshot: Some(Arc::new(metadata::parse(&data.snapshot).expect("snapshot"))),
        targets,
    }
}

/// Everything a verification answers, as text: what the trusted roles hold, who signed, what
/// is remembered, or why it was refused.
fn outcome(result: Result<Trusted, Refusal>) -> String {
    format!("{result:?}")
}

/// Both paths on one case of the set `set`; answers the outcome.
fn same_both_ways(
    set: &str,
    root: &RootTrust,
    data: &TrustData,
    parsed: &Parsed,
    seen: &Seen,
) -> String {
    let gun = fixtures::gun(set);
    let bytes = outcome(verify(&gun, root, data, seen, now()));
    let given = outcome(verify_parsed(&gun, root, data, parsed, seen, now()));
    assert_eq!(bytes, given, "the parsed path differs from the bytes path");
    bytes
}

#[test]
fn the_parsed_path_gives_the_verdict_of_the_bytes_path() {
    let tofu = RootTrust {
        tofu: true,
        ..RootTrust::default()
    };
    for set in fixtures::SETS {
        let data = trust_data(set);
        let parsed = parse_of(&data);
        let pins = [
            tofu.clone(),
            pinned(vec![root_key(set, 1)]),
            pinned(vec![KeyId::parse(&"ab".repeat(32)).expect("id")]),
            RootTrust::default(),
        ];
        for root in &pins {
            let first = same_both_ways(set, root, &data, &parsed, &Seen::default());
            // Again from what the first verification remembers (the newest root).
            if let Ok(trusted) = verify(&fixtures::gun(set), root, &data, &Seen::default(), now()) {
                assert!(first.starts_with("Ok"), "{first}");
                let again = same_both_ways(set, root, &data, &parsed, &trusted.seen);
                assert!(again.starts_with("Ok"), "{again}");
            }
        }
        // Only some of the files parsed: the rest are parsed from their bytes.
        let partly = Parsed {
            timestamp: None,
            targets: BTreeMap::new(),
            ..parsed.clone()
        };
        assert!(same_both_ways(set, &tofu, &data, &partly, &Seen::default()).starts_with("Ok"));
        // A file that does not match what its parent lists is refused either way.
        let tampered = TrustData {
            targets: data.snapshot.clone(),
            ..data.clone()
        };
        assert!(
            same_both_ways(set, &tofu, &tampered, &parsed, &Seen::default()).starts_with("Err")
        );
    }
    // A rotation walked from a remembered root, with the remembered root among the given.
    let data = trust_data("rotations");
    let seen = Seen {
        root: Some(fixtures::read("rotations", 2, "root").into()),
        ..Seen::default()
    };
    let later = TrustData {
        roots: data.roots[2..].to_vec(),
        ..data.clone()
    };
    let root = RootTrust::default();
    assert!(same_both_ways("rotations", &root, &later, &parse_of(&data), &seen).starts_with("Ok"));
    assert!(same_both_ways("rotations", &root, &later, &parse_of(&later), &seen).starts_with("Ok"));
    // The root given is the listed one with a byte added after it: its signatures still verify
    // (they cover the canonical form), but its digest (the parse's, on the parsed path) is not
    // the one the snapshot lists, and it is refused either way.
    let data = trust_data("plain");
    let mut padded = data.roots[data.roots.len() - 1].to_vec();
    padded.push(b'\n');
    let other_root = TrustData {
        roots: vec![padded.into()],
        ..data
    };
    let tofu = RootTrust {
        tofu: true,
        ..RootTrust::default()
    };
    let refused = same_both_ways(
        "plain",
        &tofu,
        &other_root,
        &parse_of(&other_root),
        &Seen::default(),
    );
    assert!(
        refused.contains("root does not match what snapshot lists"),
        "{refused}"
    );
}

#[test]
fn a_parse_of_other_bytes_is_never_used() {
    let data = trust_data("plain");
    let current: metadata::Targets = metadata::read_stored(&data.targets).expect("targets");
    let (tag, _) = current.targets.iter().next().expect("a signed tag");
    // Parses of older files of the same repository, as a stale cache would hold them.
    let stale_targets: Signed<metadata::Targets> =
        metadata::parse(&fixtures::read("plain", 2, "targets")).expect("targets 2");
    assert!(
        stale_targets.signed.targets.is_empty(),
        "version 2 signs no tag"
    );
    let stale = Parsed {
        roots: vec![Arc::new(
            metadata::parse::<Root>(&fixtures::read("rotations", 1, "root")).expect("root"),
        )],
        timestamp: Some(Arc::new(
            metadata::parse(&fixtures::read("plain", 2, "timestamp")).expect("timestamp 2"),
        )),
        snapshot: Some(Arc::new(
            metadata::parse(&fixtures::read("plain", 2, "snapshot")).expect("snapshot 2"),
        )),
        targets: [(RoleName::targets(), Arc::new(stale_targets))].into(),
    };
    let tofu = RootTrust {
        tofu: true,
        ..RootTrust::default()
    };
    let gun = fixtures::gun("plain");
    let trusted = verify_parsed(&gun, &tofu, &data, &stale, &Seen::default(), now())
        .expect("the bytes verify");
    assert!(
        trusted.roles[&RoleName::targets()]
            .targets
            .targets
            .contains_key(tag),
        "the tag the current targets signs is found"
    );
    let by_bytes = verify(&gun, &tofu, &data, &Seen::default(), now()).expect("verifies");
    assert_eq!(trusted.seen, by_bytes.seen);
    assert_eq!(outcome(Ok(trusted)), outcome(Ok(by_bytes)));
}
