use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::tuf::cjson;
use crate::tuf::fixtures::{self, Fixture, TestKey};
use crate::tuf::key::PublicKey;
use crate::tuf::role::RoleName;
use crate::tuf::verify::verify_threshold;

fn parsed_roots(set: &str) -> Vec<Signed<Root>> {
    let mut roots: Vec<Signed<Root>> = fixtures::all()
        .iter()
        .filter(|f| f.set == set && f.role == "root")
        .map(|f| parse(&f.bytes).expect("root parses"))
        .collect();
    roots.sort_by_key(|r| r.signed.version);
    roots
}

/// The newest root whose `role` lists the key that made `doc`'s first signature.
fn root_for<'a, T>(roots: &'a [Signed<Root>], doc: &Signed<T>, role: &str) -> &'a Root {
    let keyid = &doc.signatures[0].keyid;
    roots
        .iter()
        .rev()
        .map(|r| &r.signed)
        .find(|r| r.role(role).is_some_and(|k| k.keyids.contains(keyid)))
        .expect("some root lists the signer")
}

fn check_fixture(fixture: &Fixture, roots: &[Signed<Root>], all: &[Fixture]) {
    let role = RoleName::parse(&fixture.role).expect("fixture role names are valid");
    let version = match fixture.role.as_str() {
        "root" => {
            let root: Signed<Root> = parse(&fixture.bytes).expect("parses");
            root.signed.check_structure().expect("structure");
            let own = root.signed.role("root").expect("root role");
            verify_threshold(&root, "root", &root.signed.keys, &own.keyids, own.threshold)
                .expect("self-signed");
            if let Some(previous) = roots
                .iter()
                .find(|r| r.signed.version + 1 == root.signed.version)
            {
                let old = previous.signed.role("root").expect("root role");
                verify_threshold(
                    &root,
                    "root",
                    &previous.signed.keys,
                    &old.keyids,
                    old.threshold,
                )
                .expect("signed by the previous root");
            }
            root.signed.version
        }
        "snapshot" | "timestamp" => {
            let (version, doc_role) = if fixture.role == "snapshot" {
                let doc: Signed<Snapshot> = parse(&fixture.bytes).expect("parses");
                doc.signed.check_structure().expect("structure");
                let root = root_for(roots, &doc, "snapshot");
                let keys = root.role("snapshot").expect("role");
                verify_threshold(&doc, "snapshot", &root.keys, &keys.keyids, keys.threshold)
                    .expect("verifies");
                (doc.signed.version, doc.signed.meta)
            } else {
                let doc: Signed<Timestamp> = parse(&fixture.bytes).expect("parses");
                doc.signed.check_structure().expect("structure");
                let root = root_for(roots, &doc, "timestamp");
                let keys = root.role("timestamp").expect("role");
                verify_threshold(&doc, "timestamp", &root.keys, &keys.keyids, keys.threshold)
                    .expect("verifies");
                (doc.signed.version, doc.signed.meta)
            };
            // Every listed file is one of the fixtures, byte for byte, length included.
            for (name, meta) in &doc_role {
                let found = all
                    .iter()
                    .filter(|f| f.set == fixture.set && &f.role == name)
                    .any(|f| meta.check(&f.bytes, true).is_ok());
                assert!(
                    found,
                    "{}/{}.{} lists a {name} not in the fixtures",
                    fixture.set, version, fixture.role
                );
            }
            version
        }
        _ => {
            let doc: Signed<Targets> = parse(&fixture.bytes).expect("parses");
            doc.signed.check_structure(&role).expect("structure");
            match role.parent() {
                None => {
                    let root = root_for(roots, &doc, "targets");
                    let keys = root.role("targets").expect("role");
                    verify_threshold(&doc, "targets", &root.keys, &keys.keyids, keys.threshold)
                        .expect("verifies");
                }
                Some(parent) => {
                    let verified = all
                        .iter()
                        .filter(|f| f.set == fixture.set && f.role == parent.as_str())
                        .map(|f| parse::<Targets>(&f.bytes).expect("parent parses").signed)
                        .filter_map(|p| {
                            p.delegation(&role)
                                .cloned()
                                .map(|d| (p.delegations.keys, d))
                        })
                        .any(|(keys, d)| {
                            verify_threshold(&doc, role.as_str(), &keys, &d.keyids, d.threshold)
                                .is_ok()
                        });
                    assert!(
                        verified,
                        "{}/{} not verified by its parent",
                        fixture.set, fixture.role
                    );
                }
            }
            doc.signed.version
        }
    };
    assert_eq!(version, fixture.version, "{}/{}", fixture.set, fixture.role);
}

#[test]
fn every_fixture_parses_checks_and_verifies_with_its_role_keys() {
    let all = fixtures::all();
    for set in fixtures::SETS {
        let roots = parsed_roots(set);
        for fixture in all.iter().filter(|f| f.set == set) {
            check_fixture(fixture, &roots, &all);
        }
    }
    assert_eq!(parsed_roots("rotations").len(), 4);
}

#[test]
fn a_parse_records_the_sha256_of_its_bytes() {
    for fixture in fixtures::all().iter().filter(|f| f.role == "timestamp") {
        let parsed: Signed<Timestamp> = parse(&fixture.bytes).expect("parses");
        let digest = ring::digest::digest(&ring::digest::SHA256, &fixture.bytes);
        assert_eq!(parsed.source_sha256().as_slice(), digest.as_ref());
    }
    // Two files with the same content but other bytes: other digests.
    let bytes = fixtures::read("plain", 2, "timestamp");
    let spaced = [b" ".as_slice(), &bytes].concat();
    let a: Signed<Timestamp> = parse(&bytes).expect("parses");
    let b: Signed<Timestamp> = parse(&spaced).expect("parses");
    assert_eq!(a.canonical_signed(), b.canonical_signed());
    assert_ne!(a.source_sha256(), b.source_sha256());
}

#[test]
fn fixture_details() {
    let root = fixtures::root("plain", 1);
    assert_eq!(
        root.signed.expires.as_str(),
        "2036-11-19T21:40:59.349675996Z"
    );
    assert!(!root.signed.consistent_snapshot);
    assert_eq!(root.signed.keys.len(), 4);
    let qa: Signed<Targets> = parse(&fixtures::read("delegations", 5, "targets")).expect("parses");
    let entry = qa
        .signed
        .delegation(&RoleName::parse("targets/qa").expect("valid"))
        .expect("listed");
    assert_eq!(entry.paths.as_deref(), Some(&["qa/".to_owned()][..]));
    assert_eq!(qa.signatures[0].method, "ecdsa");
    let plain: Signed<Targets> = parse(&fixtures::read("plain", 7, "targets")).expect("parses");
    assert!(plain.signed.targets.contains_key("tag<with>&html"));
    assert!(plain
        .signed
        .targets
        .contains_key("with \"quotes\" and \\\\ backslash"));
}

fn root_text() -> String {
    String::from_utf8(fixtures::read("plain", 1, "root")).expect("UTF-8")
}

fn parse_root(text: &str) -> Result<Signed<Root>, Error> {
    parse(text.as_bytes())
}

#[test]
fn refuses_wrong_type_and_case_folded_or_duplicate_fields() {
    let bytes = fixtures::read("plain", 1, "root");
    assert!(matches!(
        parse::<Targets>(&bytes),
        Err(Error::WrongType {
            expected: "Targets",
            ..
        })
    ));
    let text = root_text();
    for (from, to) in [
        (r#""version":1}"#, r#""version":1,"Version":9}"#),
        (r#""version":1}"#, r#""version":1,"version":1}"#),
        (r#""_type":"Root""#, r#""_type":"root""#),
        (r#""_type":"Root""#, r#""_TYPE":"Root""#),
        (r#"{"keyid":"cc82"#, r#"{"KeyID":"x","keyid":"cc82"#),
        (r#"{"keyid":"cc82"#, r#"{"\u212Aeyid":"x","keyid":"cc82"#),
        (r#""threshold":1}"#, r#""threshold":1,"Threshold":2}"#),
        (
            r#""keyval":{"private":null"#,
            r#""keyval":{"Private":"AAAA","private":null"#,
        ),
        (r#"{"signed":"#, r#"{"Signed":{},"signed":"#),
    ] {
        assert!(text.contains(from), "{from}");
        let changed = text.replacen(from, to, 1);
        assert!(parse_root(&changed).is_err(), "{to} must be refused");
    }
}

#[test]
fn unknown_fields_are_allowed_and_signed() {
    let changed = root_text().replacen(
        r#""version":1}"#,
        r#""version":1,"zz_extra":{"b":1,"a":[true]}}"#,
        1,
    );
    let root = parse_root(&changed).expect("unknown fields are fine");
    let canonical = String::from_utf8(root.canonical_signed().to_vec()).expect("UTF-8");
    assert!(
        canonical.ends_with(r#""version":1,"zz_extra":{"a":[true],"b":1}}"#),
        "{canonical}"
    );
}

#[test]
fn refuses_bad_values() {
    let text = root_text();
    for (from, to) in [
        (r#""version":1}"#, r#""version":0}"#),
        (r#""version":1}"#, r#""version":"1"}"#),
        (r#""version":1}"#, r#""version":1.0}"#),
        (r#""version":1}"#, r#""version":-1}"#),
        (r#""version":1}"#, r#""version":1,"custom":0.5}"#),
        (r#""expires":"2036"#, r#""expires":"x2036"#),
        (r#""sig":"2Rzc"#, r#""sig":"!Rzc"#),
        (r#""keyid":"cc82"#, r#""keyid":"CC82"#),
        (r#""keytype":"ecdsa""#, r#""keytype":"dsa""#),
        (r#""threshold":1}"#, r#""threshold":-1}"#),
        (r#""cc825333035d005454cb"#, r#""dd825333035d005454cb"#),
        (
            r#""private":null,"public":"i2ic"#,
            r#""private":"AAAA","public":"i2ic"#,
        ),
        ("}]}", "}]}x"),
    ] {
        assert!(text.contains(from), "{from}");
        let changed = text.replacen(from, to, 1);
        assert!(parse_root(&changed).is_err(), "{to} must be refused");
    }
    let mismatch = text.replacen(r#""cc825333035d005454cb"#, r#""dd825333035d005454cb"#, 1);
    let err = parse_root(&mismatch)
        .expect_err("listed under another ID")
        .to_string();
    assert!(err.contains("key ID is not valid for key content"), "{err}");
}

#[test]
fn signatures_absent_null_or_upper_case() {
    let text = root_text();
    let start = text.rfind(r#","signatures":"#).expect("layout");
    let unsigned = format!("{}}}", &text[..start]);
    assert!(parse_root(&unsigned).expect("parses").signatures.is_empty());
    let null = format!("{},\"signatures\":null}}", &text[..start]);
    assert!(parse_root(&null).expect("parses").signatures.is_empty());
    let upper = text.replacen(r#""method":"ecdsa""#, r#""method":"ECDSA""#, 1);
    assert_eq!(
        parse_root(&upper).expect("parses").signatures[0].method,
        "ecdsa"
    );
}

#[test]
fn structure_rules() {
    let root = fixtures::root("plain", 1).signed;
    let mut missing = root.clone();
    missing.roles.remove("timestamp");
    assert!(missing.check_structure().is_err());
    let mut zero = root.clone();
    zero.roles.get_mut("targets").expect("role").threshold = 0;
    assert!(zero.check_structure().is_err());
    let mut unknown = root;
    let some_id = unknown.roles["targets"].keyids[0].clone();
    unknown.keys.remove(&some_id);
    let err = unknown
        .check_structure()
        .expect_err("keyid without key")
        .to_string();
    assert!(err.contains("without corresponding key"), "{err}");

    let targets = parse::<Targets>(&fixtures::read("delegations", 5, "targets"))
        .expect("parses")
        .signed;
    let top = RoleName::targets();
    targets.check_structure(&top).expect("valid");
    assert!(
        targets
            .check_structure(&RoleName::parse("targets/qa").expect("valid"))
            .is_err(),
        "wrong parent"
    );
    assert!(targets.check_structure(&RoleName::root()).is_err());
    let mut dup = targets.clone();
    dup.delegations.roles.push(dup.delegations.roles[0].clone());
    assert!(dup.check_structure(&top).is_err());
    let mut nested = targets.clone();
    nested.delegations.roles[0].name = RoleName::parse("targets/releases/x").expect("valid");
    assert!(nested.check_structure(&top).is_err());
    let mut zero = targets.clone();
    zero.delegations.roles[0].threshold = 0;
    assert!(zero.check_structure(&top).is_err());
    let mut no_key = targets.clone();
    no_key.delegations.keys.clear();
    assert!(no_key.check_structure(&top).is_err());
    let mut empty_keyids = targets;
    empty_keyids.delegations.roles[0].keyids.clear();
    empty_keyids
        .check_structure(&top)
        .expect("a delegation with no keys left is legitimate");

    let snapshot = parse::<Snapshot>(&fixtures::read("plain", 2, "snapshot"))
        .expect("parses")
        .signed;
    snapshot.check_structure().expect("valid");
    let mut no_targets = snapshot.clone();
    no_targets.meta.remove("targets");
    assert!(no_targets.check_structure().is_err());
    let mut short = snapshot.clone();
    short
        .meta
        .get_mut("root")
        .expect("root")
        .hashes
        .insert("sha256", &[0; 31]);
    assert!(short.check_structure().is_err());
    let mut long512 = snapshot.clone();
    long512
        .meta
        .get_mut("root")
        .expect("root")
        .hashes
        .insert("sha512", &[0; 65]);
    assert!(long512.check_structure().is_err());
    let mut no512 = snapshot;
    no512
        .meta
        .get_mut("root")
        .expect("root")
        .hashes
        .remove("sha512");
    no512.check_structure().expect("sha512 is optional");

    let timestamp = parse::<Timestamp>(&fixtures::read("plain", 2, "timestamp"))
        .expect("parses")
        .signed;
    timestamp.check_structure().expect("valid");
    let mut empty = timestamp;
    empty.meta.clear();
    assert!(empty.check_structure().is_err());
}

#[test]
fn every_snapshot_entry_and_target_entry_is_verifiable() {
    let snapshot = parse::<Snapshot>(&fixtures::read("delegations", 8, "snapshot"))
        .expect("parses")
        .signed;
    let refused = |change: &dyn Fn(&mut FileMeta)| {
        let mut damaged = snapshot.clone();
        change(damaged.meta.get_mut("targets/qa/nightly").expect("listed"));
        damaged.check_structure().expect_err("refused").to_string()
    };
    assert_eq!(
        refused(&|m| {
            m.hashes.remove("sha256");
        }),
        "invalid snapshot metadata: missing targets/qa/nightly sha256 checksum information"
    );
    assert_eq!(
        refused(&|m| {
            let short = m.sha256().expect("listed")[..31].to_vec();
            m.hashes.insert("sha256", &short);
        }),
        "invalid snapshot metadata: invalid targets/qa/nightly sha256 checksum information"
    );
    let mut no512 = snapshot;
    for meta in no512.meta.values_mut() {
        meta.hashes.remove("sha512");
    }
    no512.check_structure().expect("sha512 is optional");

    let mut negative = parse::<Targets>(&fixtures::read("plain", 4, "targets"))
        .expect("parses")
        .signed;
    let (name, entry) = negative.targets.iter_mut().next().expect("a target");
    entry.length = -1;
    let name = name.clone();
    assert_eq!(
        negative
            .check_structure(&RoleName::targets())
            .expect_err("refused")
            .to_string(),
        format!("invalid targets metadata: target {name:?}: length -1 is negative")
    );
}

#[test]
fn server_generated_snapshot_and_timestamp_round_trip() {
    let key = TestKey::ed25519();
    let expires = Expires::parse("2029-11-21T21:41:05.241487922Z").expect("valid");
    let root_bytes = fixtures::read("plain", 1, "root");
    let meta = BTreeMap::from([
        ("root".to_owned(), FileMeta::of(&root_bytes)),
        (
            "targets".to_owned(),
            FileMeta::of(&fixtures::read("plain", 2, "targets")),
        ),
        ("targets/x".to_owned(), FileMeta::of(b"x")),
    ]);
    let canonical = cjson::encode(&snapshot_value(9, &expires, &meta)).expect("encodes");
    let bytes = envelope_bytes(&canonical, &[key.signature(&canonical)]);
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    assert!(text.starts_with(r#"{"signed":{"_type":"Snapshot","expires":"2029-11-21T21:41:05.241487922Z","meta":{"root":{"hashes":{"sha256":""#));
    assert!(text.ends_with(r#"=="}]}"#), "{text}");
    assert!(
        text.contains(r#","signatures":[{"keyid":""#)
            && text.contains(r#"","method":"eddsa","sig":""#)
    );

    let snapshot: Signed<Snapshot> = parse(&bytes).expect("parses");
    assert_eq!(snapshot.canonical_signed(), canonical.as_slice());
    assert_eq!(snapshot.signed.meta, meta);
    assert_eq!(snapshot.signed.version, 9);
    assert_eq!(snapshot.signed.expires, expires);
    snapshot.signed.check_structure().expect("structure");
    let public: PublicKey = key.public();
    let keys = BTreeMap::from([(public.id(), public.clone())]);
    verify_threshold(&snapshot, "snapshot", &keys, &[public.id()], 1).expect("verifies");

    let ts_canonical =
        cjson::encode(&timestamp_value(4, &expires, &FileMeta::of(&bytes))).expect("encodes");
    let ts_bytes = envelope_bytes(&ts_canonical, &[key.signature(&ts_canonical)]);
    let timestamp: Signed<Timestamp> = parse(&ts_bytes).expect("parses");
    timestamp.signed.check_structure().expect("structure");
    timestamp.signed.meta["snapshot"]
        .check(&bytes, true)
        .expect("lists the snapshot bytes");
    verify_threshold(&timestamp, "timestamp", &keys, &[public.id()], 1).expect("verifies");
}

#[test]
fn reference_snapshot_body_is_what_snapshot_value_builds() {
    // Rebuild delegations/9.snapshot (server-made) from its parsed fields: same canonical bytes.
    let snapshot: Signed<Snapshot> =
        parse(&fixtures::read("delegations", 9, "snapshot")).expect("parses");
    let rebuilt = snapshot_value(
        snapshot.signed.version,
        &snapshot.signed.expires,
        &snapshot.signed.meta,
    );
    assert_eq!(
        cjson::encode(&rebuilt).expect("encodes"),
        snapshot.canonical_signed()
    );
    let timestamp: Signed<Timestamp> =
        parse(&fixtures::read("delegations", 9, "timestamp")).expect("parses");
    let rebuilt = timestamp_value(
        timestamp.signed.version,
        &timestamp.signed.expires,
        &timestamp.signed.meta["snapshot"],
    );
    assert_eq!(
        cjson::encode(&rebuilt).expect("encodes"),
        timestamp.canonical_signed()
    );
}

proptest! {
    /// Arbitrary bytes never make metadata parsing panic.
    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse::<Root>(&bytes);
        let _ = parse::<Targets>(&bytes);
    }

    /// Nor does a fixture with one byte changed.
    #[test]
    fn mutated_fixtures_never_panic(index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = fixtures::read("delegations", 5, "targets");
        let at = index.index(bytes.len());
        bytes[at] = byte;
        let _ = parse::<Targets>(&bytes);
        let mut root = fixtures::read("rotations", 4, "root");
        let at = index.index(root.len());
        root[at] = byte;
        if let Ok(parsed) = parse::<Root>(&root) {
            let _ = parsed.signed.check_structure();
        }
    }
}

/// A digest handed to the check counts as the file's SHA-256: a wrong one is a mismatch, and the
/// listed SHA-512 is still computed and checked from the bytes.
#[test]
fn a_given_digest_is_checked_like_a_computed_one() {
    let bytes = b"some file".as_slice();
    let meta = FileMeta::of(bytes);
    let mut right = [0; 32];
    right.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    assert!(meta.check_digested(bytes, || right, true).is_ok());
    assert!(matches!(
        meta.check_digested(bytes, || [0; 32], true),
        Err(Error::ChecksumMismatch {
            algorithm: "sha256",
            ..
        })
    ));
    // The right SHA-256 of other bytes of the same length: the SHA-512 tells them apart.
    let other = b"some fil3".as_slice();
    let mut other_sha = [0; 32];
    other_sha.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, other).as_ref());
    let listed_for_other = FileMeta::of(other);
    assert!(matches!(
        listed_for_other.check_digested(bytes, || other_sha, true),
        Err(Error::ChecksumMismatch {
            algorithm: "sha512",
            ..
        })
    ));
}

/// A parse of shared bytes knows them again by identity, and nothing else: not a copy of the
/// same bytes, not a part of them; a parse of a plain slice knows no bytes that way.
#[test]
fn a_shared_parse_knows_only_its_own_bytes() {
    let bytes = bytes::Bytes::from(fixtures::read("plain", 2, "timestamp"));
    let shared: Signed<Timestamp> = parse_shared(&bytes).expect("parses");
    assert!(shared.is_parse_of(&bytes));
    let again = bytes.clone();
    drop(bytes);
    assert!(shared.is_parse_of(&again), "a clone shares the bytes");
    let bytes = again;
    let copy = bytes.to_vec();
    assert!(
        !shared.is_parse_of(&copy),
        "equal bytes elsewhere are hashed, not assumed"
    );
    assert!(!shared.is_parse_of(&bytes[..bytes.len() - 1]));
    let plain: Signed<Timestamp> = parse(&bytes).expect("parses");
    assert!(!plain.is_parse_of(&bytes));
    assert_eq!(plain.source_sha256(), shared.source_sha256());
}
