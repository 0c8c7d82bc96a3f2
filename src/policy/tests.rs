//! The engine on trust data the real notary 0.7 client made (`tests/data/notary-0.7`): roots
//! pinned and not, rotations followed, rollbacks and expiry refused, Docker's pull rule,
//! signers with thresholds, paths and pinned keys.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::tuf::fixtures;
use crate::tuf::key::KeyId;
use crate::tuf::metadata::{self, Snapshot, Timestamp};
use crate::tuf::role::RoleName;

/// Before the fixtures' timestamps expire (2026-12-06).
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0)
        .single()
        .expect("time")
}

fn sha_hex(bytes: &[u8]) -> String {
    crate::storage::sha256_hex(bytes)
}

/// The consistent set of `set` that its newest timestamp (whose snapshot exists) points to,
/// with every root version up to the current one and every delegation the snapshot lists.
fn trust_data(set: &str) -> TrustData {
    let files = fixtures::all()
        .into_iter()
        .filter(|f| f.set == set)
        .collect::<Vec<_>>();
    let by_sha: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|f| (sha_hex(&f.bytes), f.bytes.clone()))
        .collect();
    let mut timestamps: Vec<_> = files.iter().filter(|f| f.role == "timestamp").collect();
    timestamps.sort_by_key(|f| std::cmp::Reverse(f.version));
    for ts in timestamps {
        let parsed: Timestamp = metadata::read_stored(&ts.bytes).expect("timestamp");
        let snap_sha = hex::encode(parsed.meta["snapshot"].sha256().expect("sha256"));
        let Some(snapshot) = by_sha.get(&snap_sha) else {
            continue;
        };
        let snap: Snapshot = metadata::read_stored(snapshot).expect("snapshot");
        let get = |role: &str| {
            let sha = hex::encode(snap.meta[role].sha256().expect("sha256"));
            Bytes::from(by_sha.get(&sha).expect("listed file is a fixture").clone())
        };
        let root = get("root");
        let root_version = metadata::read_stored::<metadata::Root>(&root)
            .expect("root")
            .version;
        let mut roots: Vec<Bytes> = (1..root_version)
            .map(|v| Bytes::from(fixtures::read(set, v, "root")))
            .collect();
        roots.push(root);
        let delegations = snap
            .meta
            .keys()
            .filter(|name| name.starts_with("targets/"))
            .map(|name| (RoleName::parse(name).expect("role"), get(name)))
            .collect();
        return TrustData {
            roots,
            timestamp: Bytes::from(ts.bytes.clone()),
            snapshot: Bytes::from(snapshot.clone()),
            targets: get("targets"),
            delegations,
        };
    }
    panic!("no consistent set in {set}");
}

/// The root key ID (as root metadata lists it) of `set`'s root `version`.
fn root_key(set: &str, version: u64) -> KeyId {
    fixtures::root(set, version).signed.roles["root"].keyids[0].clone()
}

fn pinned(keys: Vec<KeyId>) -> RootTrust {
    RootTrust {
        key_ids: keys,
        ..RootTrust::default()
    }
}

fn rule(root: RootTrust, signers: &[&str], threshold: Option<u32>) -> Rule {
    Rule {
        pattern: "**".to_owned(),
        server: None,
        ca: None,
        root,
        signers: signers
            .iter()
            .map(|name| Signer {
                name: (*name).to_owned(),
                role: RoleName::parse(&format!("targets/{name}")).expect("role"),
                key_ids: Vec::new(),
            })
            .collect(),
        threshold,
        mode: Mode::Enforce,
        break_glass: false,
    }
}

fn image(set: &str, tag: &str) -> ImageRef {
    ImageRef::parse(&format!("{}:{tag}", fixtures::gun(set)))
        .unwrap_or_else(|_| ImageRef::with_target_name(&fixtures::gun(set), tag))
}

fn decide_now(
    image: &ImageRef,
    rule: &Rule,
    data: &TrustData,
    seen: &Seen,
) -> (Verdict, Option<Seen>) {
    decide(image, rule, data, seen, now())
}

fn deleg_rule(signers: &[&str], threshold: Option<u32>) -> Rule {
    rule(pinned(vec![root_key("delegations", 1)]), signers, threshold)
}

fn digest_of(set: &str, version: u64, role: &str, tag: &str) -> Digest {
    let t: metadata::Targets =
        metadata::read_stored(&fixtures::read(set, version, role)).expect("targets");
    Digest(
        t.targets[tag]
            .sha256()
            .expect("sha256")
            .try_into()
            .expect("32 bytes"),
    )
}

fn assert_denied(verdict: &Verdict, needle: &str) {
    assert!(!verdict.allowed, "expected a denial, got {verdict:?}");
    assert!(
        verdict.reasons.iter().any(|r| r.contains(needle)),
        "no reason mentions {needle:?}: {:?}",
        verdict.reasons
    );
}

#[test]
fn docker_pull_rule_reads_releases_then_targets() {
    let data = trust_data("delegations");
    let r = deleg_rule(&[], None);
    let (v, seen) = decide_now(&image("delegations", "rel-1"), &r, &data, &Seen::default());
    assert!(v.allowed, "{v:?}");
    assert_eq!(
        v.digest,
        Some(digest_of("delegations", 1, "targets-releases", "rel-1"))
    );
    assert_eq!(v.signers.len(), 1);
    assert_eq!(v.signers[0].role, "targets/releases");
    assert_eq!(
        v.pinned.as_deref(),
        Some(
            format!(
                "{}:rel-1@{}",
                fixtures::gun("delegations"),
                v.digest.expect("digest")
            )
            .as_str()
        )
    );
    let seen = seen.expect("trusted data is remembered");
    assert_eq!(seen.versions["root"], 2);
    assert!(seen.root.is_some());
    // A tag only top-level targets holds.
    let (v, _) = decide_now(&image("delegations", "v2"), &r, &data, &Seen::default());
    assert!(v.allowed, "{v:?}");
    assert_eq!(v.signers[0].role, "targets");
    // A tag nobody signed.
    let (v, _) = decide_now(&image("delegations", "nope"), &r, &data, &Seen::default());
    assert_denied(&v, "is not signed");
}

#[test]
fn a_root_pin_must_match_and_is_required() {
    let data = trust_data("delegations");
    let wrong = KeyId::parse(&"ab".repeat(32)).expect("id");
    let (v, seen) = decide_now(
        &image("delegations", "rel-1"),
        &rule(pinned(vec![wrong]), &[], None),
        &data,
        &Seen::default(),
    );
    assert_denied(&v, "signed by a pinned root key");
    assert!(seen.is_none());
    let (v, _) = decide_now(
        &image("delegations", "rel-1"),
        &rule(RootTrust::default(), &[], None),
        &data,
        &Seen::default(),
    );
    assert_denied(&v, "trust on first use is off");
    // Trust on first use, said explicitly.
    let tofu = RootTrust {
        tofu: true,
        ..RootTrust::default()
    };
    let (v, _) = decide_now(
        &image("delegations", "rel-1"),
        &rule(tofu, &[], None),
        &data,
        &Seen::default(),
    );
    assert!(v.allowed, "{v:?}");
}

#[test]
fn a_pin_by_canonical_id_or_certificate_matches_too() {
    let data = trust_data("delegations");
    let root = fixtures::root("delegations", 2);
    let id = &root.signed.roles["root"].keyids[0];
    let key = &root.signed.keys[id];
    let canonical = key.canonical_id().expect("canonical id");
    assert_ne!(&canonical, id);
    let (v, _) = decide_now(
        &image("delegations", "rel-1"),
        &rule(pinned(vec![canonical]), &[], None),
        &data,
        &Seen::default(),
    );
    assert!(v.allowed, "{v:?}");
    let pem = RootTrust {
        keys: vec![crate::tuf::key::PublicKey::from_pem(key.public_bytes()).expect("pem")],
        ..RootTrust::default()
    };
    let (v, _) = decide_now(
        &image("delegations", "rel-1"),
        &rule(pem, &[], None),
        &data,
        &Seen::default(),
    );
    assert!(v.allowed, "{v:?}");
}

#[test]
fn root_rotations_are_followed_from_a_pinned_or_remembered_root() {
    let data = trust_data("rotations");
    assert_eq!(data.roots.len(), 4);
    let old = root_key("rotations", 1);
    let new = root_key("rotations", 4);
    assert_ne!(old, new);
    for pin in [old.clone(), new] {
        let (v, seen) = decide_now(
            &image("rotations", "v1"),
            &rule(pinned(vec![pin]), &[], None),
            &data,
            &Seen::default(),
        );
        assert!(v.allowed, "{v:?}");
        assert_eq!(seen.expect("seen").versions["root"], 4);
    }
    // Remembered at version 2: the data after it is walked.
    let (_, seen2) = decide_now(
        &image("rotations", "v1"),
        &rule(pinned(vec![old]), &[], None),
        &TrustData {
            roots: data.roots[..2].to_vec(),
            ..data.clone()
        },
        &Seen::default(),
    );
    // Root 2 is not the one the snapshot lists: refused, but only for that reason.
    assert!(seen2.is_none());
    let seen = Seen {
        root: Some(fixtures::read("rotations", 2, "root").into()),
        ..Seen::default()
    };
    let later = TrustData {
        roots: data.roots[2..].to_vec(),
        ..data.clone()
    };
    let (v, _) = decide_now(
        &image("rotations", "v1"),
        &rule(RootTrust::default(), &[], None),
        &later,
        &seen,
    );
    assert!(v.allowed, "{v:?}");
    // A gap after the remembered root is refused.
    let gap = TrustData {
        roots: data.roots[3..].to_vec(),
        ..data.clone()
    };
    let (v, _) = decide_now(
        &image("rotations", "v1"),
        &rule(RootTrust::default(), &[], None),
        &gap,
        &seen,
    );
    assert_denied(&v, "missing");
    // A root older than the remembered one: a rollback.
    let remembered_new = Seen {
        root: Some(fixtures::read("rotations", 4, "root").into()),
        ..Seen::default()
    };
    let older = TrustData {
        roots: data.roots[..3].to_vec(),
        ..data.clone()
    };
    let (v, _) = decide_now(
        &image("rotations", "v1"),
        &rule(RootTrust::default(), &[], None),
        &older,
        &remembered_new,
    );
    assert_denied(&v, "rolled back");
}

#[test]
fn rollback_and_expiry_are_refused() {
    let data = trust_data("delegations");
    let r = deleg_rule(&[], None);
    let (_, seen) = decide_now(&image("delegations", "rel-1"), &r, &data, &Seen::default());
    let mut seen = seen.expect("seen");
    for role in ["timestamp", "snapshot", "targets", "targets/releases"] {
        let mut ahead = seen.clone();
        *ahead.versions.get_mut(role).expect("version kept") += 1;
        let (v, next) = decide_now(&image("delegations", "rel-1"), &r, &data, &ahead);
        assert_denied(&v, "rolled back");
        if role != "targets/releases" {
            assert!(next.is_none(), "{role}");
        }
    }
    seen.versions.clear();
    let later = Utc
        .with_ymd_and_hms(2026, 12, 7, 0, 0, 0)
        .single()
        .expect("time");
    let (v, _) = decide(&image("delegations", "rel-1"), &r, &data, &seen, later);
    assert_denied(&v, "timestamp expired");
}

#[test]
fn files_must_be_the_ones_their_parents_list() {
    let data = trust_data("delegations");
    let r = deleg_rule(&[], None);
    let mut tampered = data.clone();
    let mut targets = tampered.targets.to_vec();
    targets.push(b'\n');
    tampered.targets = Bytes::from(targets);
    let (v, _) = decide_now(&image("delegations", "v2"), &r, &tampered, &Seen::default());
    assert_denied(&v, "targets does not match what snapshot lists");
    let mut tampered = data;
    let releases = RoleName::releases();
    let mut bytes = tampered.delegations[&releases].to_vec();
    bytes.push(b' ');
    tampered.delegations.insert(releases, Bytes::from(bytes));
    let (v, _) = decide_now(
        &image("delegations", "rel-1"),
        &r,
        &tampered,
        &Seen::default(),
    );
    assert_denied(&v, "targets/releases is not trusted");
}

#[test]
fn signers_thresholds_and_paths() {
    let data = trust_data("delegations");
    let (v, _) = decide_now(
        &image("delegations", "qa/build-7"),
        &deleg_rule(&["qa"], None),
        &data,
        &Seen::default(),
    );
    assert!(v.allowed, "{v:?}");
    assert_eq!(v.signers[0].role, "targets/qa");
    // Nested: targets → targets/qa → targets/qa/nightly.
    let (v, _) = decide_now(
        &image("delegations", "qa/nightly/n1"),
        &deleg_rule(&["qa/nightly"], None),
        &data,
        &Seen::default(),
    );
    assert!(v.allowed, "{v:?}");
    // A required signer never falls back to targets: v2 is in targets only.
    let (v, _) = decide_now(
        &image("delegations", "v2"),
        &deleg_rule(&["releases"], None),
        &data,
        &Seen::default(),
    );
    assert_denied(&v, "has not signed");
    // All of two, one of two.
    let both = deleg_rule(&["releases", "qa"], None);
    let (v, _) = decide_now(
        &image("delegations", "rel-1"),
        &both,
        &data,
        &Seen::default(),
    );
    assert_denied(&v, "signed by 1 of the 2 required signers (2 needed)");
    let one = deleg_rule(&["releases", "qa"], Some(1));
    let (v, _) = decide_now(
        &image("delegations", "rel-1"),
        &one,
        &data,
        &Seen::default(),
    );
    assert!(v.allowed, "{v:?}");
    // qa may sign only under qa/: a name outside its paths is not its to sign.
    let (v, _) = decide_now(
        &image("delegations", "rel-1"),
        &deleg_rule(&["qa"], None),
        &data,
        &Seen::default(),
    );
    assert_denied(&v, "has not signed");
    // A signer the repository does not delegate to.
    let (v, _) = decide_now(
        &image("delegations", "rel-1"),
        &deleg_rule(&["bob"], None),
        &data,
        &Seen::default(),
    );
    assert_denied(&v, "no delegation targets/bob");
}

#[test]
fn pinned_signer_keys() {
    let data = trust_data("delegations");
    let targets: metadata::Targets = metadata::read_stored(&data.targets).expect("targets");
    let releases = targets
        .delegation(&RoleName::releases())
        .expect("delegated");
    let right = releases.keyids[0].clone();
    let wrong = KeyId::parse(&"cd".repeat(32)).expect("id");
    for (key, ok) in [(right, true), (wrong, false)] {
        let mut r = deleg_rule(&["releases"], None);
        r.signers[0].key_ids = vec![key];
        let (v, _) = decide_now(&image("delegations", "rel-1"), &r, &data, &Seen::default());
        assert_eq!(v.allowed, ok, "{v:?}");
        if !ok {
            assert_denied(&v, "not signed by the pinned key");
        }
    }
}

#[test]
fn digests_given_with_or_without_a_tag() {
    let data = trust_data("delegations");
    let r = deleg_rule(&[], None);
    let digest = digest_of("delegations", 1, "targets-releases", "rel-1");
    let gun = fixtures::gun("delegations");
    let by_digest = ImageRef::parse(&format!("{gun}@{digest}")).expect("ref");
    let (v, _) = decide_now(&by_digest, &r, &data, &Seen::default());
    assert!(v.allowed, "{v:?}");
    assert_eq!(v.pinned, Some(format!("{gun}@{digest}")));
    let both = ImageRef::parse(&format!("{gun}:rel-1@{digest}")).expect("ref");
    assert!(decide_now(&both, &r, &data, &Seen::default()).0.allowed);
    let other = Digest([7; 32]);
    let wrong = ImageRef::parse(&format!("{gun}:rel-1@{other}")).expect("ref");
    assert_denied(
        &decide_now(&wrong, &r, &data, &Seen::default()).0,
        "not the requested",
    );
    let unknown = ImageRef::parse(&format!("{gun}@{other}")).expect("ref");
    assert_denied(
        &decide_now(&unknown, &r, &data, &Seen::default()).0,
        "is not signed",
    );
}

#[test]
fn needed_roles_lists_parents_first() {
    let r = rule(RootTrust::default(), &["qa/nightly", "alice"], None);
    let names: Vec<String> = needed_roles(&r).iter().map(ToString::to_string).collect();
    assert_eq!(names, ["targets/alice", "targets/qa", "targets/qa/nightly"]);
    assert_eq!(
        needed_roles(&rule(RootTrust::default(), &[], None)),
        vec![RoleName::releases()]
    );
}

mod parsed;
