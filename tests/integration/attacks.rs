//! The attack suite: every way an update can be bad, each sent on its own. Every case must get
//! a 4xx with notary's error code, and every stored role (each version and the current file)
//! must be byte-identical before and after (`rejected` and `refused` compare them).

use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::kit::{self, Repo, TestKey};
use crate::{initialised, multipart, refused, rejected, TestApp, GUN};

fn no_delegations() -> Value {
    json!({"keys": {}, "roles": []})
}

/// Targets `version` signed by `keys`, and a snapshot of the same version listing it.
fn targets_and_snapshot(
    repo: &Repo,
    root: &[u8],
    version: u64,
    signed: &Value,
    keys: &[&TestKey],
) -> (Vec<u8>, Vec<u8>) {
    let targets = kit::sign(signed, keys);
    let snapshot = repo.snapshot_file(version, &[("root", root), ("targets", &targets)]);
    (targets, snapshot)
}

/// A root `signed` (version 1) whose targets role is `keys` with `threshold`.
fn root_with_targets_keys(repo: &Repo, keys: &[&TestKey], threshold: u32) -> Value {
    let mut signed = repo.root_signed(1);
    let ids: Vec<String> = keys.iter().map(|k| k.id()).collect();
    for (key, id) in keys.iter().zip(&ids) {
        signed["keys"][id] = key.public_json();
    }
    signed["roles"]["targets"] = json!({"keyids": ids, "threshold": threshold});
    signed
}

/// Publishes a new repository with `root_signed` and targets v2 signed by `targets_keys`.
async fn init_with(
    app: &TestApp,
    repo: &Repo,
    root_signed: &Value,
    targets_keys: &[&TestKey],
) -> Vec<u8> {
    let root = kit::sign(root_signed, &[&repo.root]);
    let (t, s) = targets_and_snapshot(
        repo,
        &root,
        2,
        &Repo::targets_signed(2, json!({}), no_delegations()),
        targets_keys,
    );
    let r = app
        .publish(GUN, &[("root", &root), ("targets", &t), ("snapshot", &s)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    root
}

/// Top-level targets `version` adding a target, signed by `key` (not the targets key): refused.
async fn targets_by_wrong_key_rejected(
    app: &TestApp,
    repo: &Repo,
    root: &[u8],
    version: u64,
    key: &TestKey,
) {
    let signed = Repo::targets_signed(
        version,
        json!({"evil": kit::target(b"x")}),
        no_delegations(),
    );
    let (t, s) = targets_and_snapshot(repo, root, version, &signed, &[key]);
    rejected(
        app,
        &[("targets", &t), ("snapshot", &s)],
        "ErrBadTargets",
        "did not meet threshold",
    )
    .await;
}

/// A repository with `targets/releases` (paths `app/`) declared in targets v3.
async fn with_releases(app: &TestApp) -> (Repo, Vec<u8>, Vec<u8>, TestKey) {
    let (repo, root, _) = initialised(app).await;
    let releases = TestKey::ecdsa();
    let delegations = json!({
        "keys": {releases.id(): releases.public_json()},
        "roles": [{"keyids": [releases.id()], "name": "targets/releases", "paths": ["app/"], "threshold": 1}],
    });
    let (t3, s3) = targets_and_snapshot(
        &repo,
        &root,
        3,
        &Repo::targets_signed(3, json!({}), delegations),
        &[&repo.targets],
    );
    let r = app
        .publish(GUN, &[("targets", &t3), ("snapshot", &s3)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    (repo, root, t3, releases)
}

/// A delegated role file and a snapshot v4 listing it beside root and targets.
fn delegated_update(
    repo: &Repo,
    root: &[u8],
    t3: &[u8],
    role: &str,
    targets: Value,
    key: &TestKey,
) -> (Vec<u8>, Vec<u8>) {
    let file = kit::sign(&Repo::targets_signed(1, targets, no_delegations()), &[key]);
    let snapshot = repo.snapshot_file(4, &[("root", root), ("targets", t3), (role, &file)]);
    (file, snapshot)
}

/// Replaces the first `from` in `bytes` by `to` (same length).
fn patched(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let pos = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = bytes.to_vec();
    out[pos..pos + from.len()].copy_from_slice(to);
    out
}

#[tokio::test]
async fn bad_signature() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let good = repo.targets_file(3, json!({"a": kit::target(b"a")}));
    // The signed part changed after signing.
    let tampered = patched(&good, b"\"a\"", b"\"b\"");
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &tampered)]);
    rejected(
        &app,
        &[("targets", &tampered), ("snapshot", &s)],
        "ErrBadTargets",
        "did not meet threshold",
    )
    .await;
    // The signature bytes changed.
    let mut doc: Value = serde_json::from_slice(&good).expect("json");
    let mut sig = B64
        .decode(doc["signatures"][0]["sig"].as_str().expect("sig"))
        .expect("base64");
    sig[10] ^= 0x01;
    doc["signatures"][0]["sig"] = json!(B64.encode(&sig));
    let forged = serde_json::to_vec(&doc).expect("json");
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &forged)]);
    rejected(
        &app,
        &[("targets", &forged), ("snapshot", &s)],
        "ErrBadTargets",
        "did not meet threshold",
    )
    .await;
    // No signatures at all.
    let (unsigned, s) = targets_and_snapshot(
        &repo,
        &root,
        3,
        &Repo::targets_signed(3, json!({}), no_delegations()),
        &[],
    );
    rejected(
        &app,
        &[("targets", &unsigned), ("snapshot", &s)],
        "ErrBadTargets",
        "no signatures",
    )
    .await;
}

#[tokio::test]
async fn signature_by_unknown_key() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    targets_by_wrong_key_rejected(&app, &repo, &root, 3, &TestKey::ecdsa()).await;
}

#[tokio::test]
async fn below_threshold() {
    let app = TestApp::new().await;
    let timestamp = app.server_key(GUN, "timestamp").await;
    let repo = Repo::new(GUN, timestamp);
    let (k1, k2) = (TestKey::ecdsa(), TestKey::ecdsa());
    let root = init_with(
        &app,
        &repo,
        &root_with_targets_keys(&repo, &[&k1, &k2], 2),
        &[&k1, &k2],
    )
    .await;
    let signed = Repo::targets_signed(3, json!({"a": kit::target(b"a")}), no_delegations());
    let (t, s) = targets_and_snapshot(&repo, &root, 3, &signed, &[&k1]);
    rejected(
        &app,
        &[("targets", &t), ("snapshot", &s)],
        "ErrBadTargets",
        "did not meet threshold",
    )
    .await;
    // Both keys: accepted, so the refusal above was the threshold and nothing else.
    let (t, s) = targets_and_snapshot(&repo, &root, 3, &signed, &[&k1, &k2]);
    let r = app.publish(GUN, &[("targets", &t), ("snapshot", &s)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn same_signature_twice_counts_once() {
    let app = TestApp::new().await;
    let timestamp = app.server_key(GUN, "timestamp").await;
    let repo = Repo::new(GUN, timestamp);
    let (k1, k2) = (TestKey::ecdsa(), TestKey::ecdsa());
    let root = init_with(
        &app,
        &repo,
        &root_with_targets_keys(&repo, &[&k1, &k2], 2),
        &[&k1, &k2],
    )
    .await;
    let signed = Repo::targets_signed(3, json!({"a": kit::target(b"a")}), no_delegations());
    // Two different (randomised) signatures by one key.
    let (t, s) = targets_and_snapshot(&repo, &root, 3, &signed, &[&k1, &k1]);
    rejected(
        &app,
        &[("targets", &t), ("snapshot", &s)],
        "ErrBadTargets",
        "did not meet threshold",
    )
    .await;
    // The very same signature object twice.
    let once = kit::sign(&signed, &[&k1]);
    let mut doc: Value = serde_json::from_slice(&once).expect("json");
    let sig = doc["signatures"][0].clone();
    doc["signatures"] = json!([sig.clone(), sig]);
    let twice = serde_json::to_vec(&doc).expect("json");
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &twice)]);
    rejected(
        &app,
        &[("targets", &twice), ("snapshot", &s)],
        "ErrBadTargets",
        "did not meet threshold",
    )
    .await;
}

#[tokio::test]
async fn one_key_under_two_key_ids() {
    let app = TestApp::new().await;
    let timestamp = app.server_key(GUN, "timestamp").await;
    let repo = Repo::new(GUN, timestamp);
    // The same private key as a plain key and inside a certificate: two valid, different IDs.
    let (plain, cert) = TestKey::ecdsa_plain_and_cert("targets");
    assert_ne!(plain.id(), cert.id());
    let root = kit::sign(
        &root_with_targets_keys(&repo, &[&plain, &cert], 2),
        &[&repo.root],
    );
    let (t, s) = targets_and_snapshot(
        &repo,
        &root,
        2,
        &Repo::targets_signed(2, json!({}), no_delegations()),
        &[&plain, &cert],
    );
    rejected(
        &app,
        &[("root", &root), ("targets", &t), ("snapshot", &s)],
        "ErrBadTargets",
        "did not meet threshold",
    )
    .await;
    // A key listed under an ID that is not its own.
    let mut signed = repo.root_signed(1);
    let fake_id = "ab".repeat(32);
    signed["keys"][&fake_id] = repo.targets.public_json();
    let root = kit::sign(&signed, &[&repo.root]);
    let (t, s) = targets_and_snapshot(
        &repo,
        &root,
        2,
        &Repo::targets_signed(2, json!({}), no_delegations()),
        &[&repo.targets],
    );
    rejected(
        &app,
        &[("root", &root), ("targets", &t), ("snapshot", &s)],
        "ErrBadRoot",
        "key ID",
    )
    .await;
}

#[tokio::test]
async fn rollback_to_older_version() {
    let app = TestApp::new().await;
    let (repo, root, targets2) = initialised(&app).await;
    let t3 = repo.targets_file(3, json!({"v": kit::target(b"3")}));
    let s3 = repo.snapshot_file(3, &[("root", &root), ("targets", &t3)]);
    assert_eq!(
        app.publish(GUN, &[("targets", &t3), ("snapshot", &s3)])
            .await
            .status,
        StatusCode::OK
    );
    // The whole previous update again.
    let s2 = repo.snapshot_file(2, &[("root", &root), ("targets", &targets2)]);
    let (ct, body) = multipart(&[("targets", &targets2), ("snapshot", &s2)]);
    refused(&app, &ct, body, StatusCode::BAD_REQUEST, "VERSION").await;
    // An older targets under a newer snapshot.
    let s4 = repo.snapshot_file(4, &[("root", &root), ("targets", &targets2)]);
    let (ct, body) = multipart(&[("targets", &targets2), ("snapshot", &s4)]);
    refused(&app, &ct, body, StatusCode::BAD_REQUEST, "VERSION").await;
    // Replaying the accepted update.
    let (ct, body) = multipart(&[("targets", &t3), ("snapshot", &s3)]);
    refused(&app, &ct, body, StatusCode::BAD_REQUEST, "VERSION").await;
}

#[tokio::test]
async fn same_version_other_content() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let t3 = repo.targets_file(3, json!({"v": kit::target(b"3")}));
    let s3 = repo.snapshot_file(3, &[("root", &root), ("targets", &t3)]);
    assert_eq!(
        app.publish(GUN, &[("targets", &t3), ("snapshot", &s3)])
            .await
            .status,
        StatusCode::OK
    );
    let other = repo.targets_file(3, json!({"v": kit::target(b"other")}));
    let s4 = repo.snapshot_file(4, &[("root", &root), ("targets", &other)]);
    let (ct, body) = multipart(&[("targets", &other), ("snapshot", &s4)]);
    refused(&app, &ct, body, StatusCode::BAD_REQUEST, "VERSION").await;
}

#[tokio::test]
async fn client_uploaded_timestamp() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let mine = TestKey::ed25519();
    let fake = kit::sign(
        &json!({"_type":"Timestamp","expires":kit::expires_in(14),"meta":{},"version":9}),
        &[&mine],
    );
    let t = repo.targets_file(3, json!({}));
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &t)]);
    rejected(
        &app,
        &[("targets", &t), ("snapshot", &s), ("timestamp", &fake)],
        "ErrValidation",
        "clients may not upload timestamp",
    )
    .await;
}

#[tokio::test]
async fn snapshot_mix_and_match_hash() {
    let app = TestApp::new().await;
    let (repo, root, targets2) = initialised(&app).await;
    let t3 = repo.targets_file(3, json!({"a": kit::target(b"a")}));
    // A snapshot listing other bytes than the uploaded targets.
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", b"other bytes")]);
    rejected(
        &app,
        &[("targets", &t3), ("snapshot", &s)],
        "ErrBadSnapshot",
        "targets",
    )
    .await;
    // New targets with a snapshot that still lists the old targets.
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &targets2)]);
    rejected(
        &app,
        &[("targets", &t3), ("snapshot", &s)],
        "ErrBadSnapshot",
        "targets",
    )
    .await;
    // A snapshot alone, listing a targets file the server never stored.
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &t3)]);
    rejected(&app, &[("snapshot", &s)], "ErrBadSnapshot", "targets").await;
    // A snapshot listing a role that does not exist.
    let s = repo.snapshot_file(
        3,
        &[("root", &root), ("targets", &t3), ("targets/ghost", b"{}")],
    );
    rejected(
        &app,
        &[("targets", &t3), ("snapshot", &s)],
        "ErrBadSnapshot",
        "targets/ghost",
    )
    .await;
    // A snapshot signed by a key that is not the snapshot key.
    let signed = json!({"_type":"Snapshot","expires":kit::expires_in(30),"meta":{"root":kit::file_meta(&root),"targets":kit::file_meta(&t3)},"version":3});
    let s = kit::sign(&signed, &[&TestKey::ecdsa()]);
    rejected(
        &app,
        &[("targets", &t3), ("snapshot", &s)],
        "ErrBadSnapshot",
        "did not meet threshold",
    )
    .await;
}

#[tokio::test]
async fn snapshot_wrong_length() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let t3 = repo.targets_file(3, json!({"a": kit::target(b"a")}));
    for length in [t3.len() + 1, t3.len() - 1, 0] {
        let mut meta = kit::file_meta(&t3);
        meta["length"] = json!(length);
        let signed = json!({"_type":"Snapshot","expires":kit::expires_in(30),"meta":{"root":kit::file_meta(&root),"targets":meta},"version":3});
        let s = kit::sign(&signed, &[&repo.snapshot]);
        rejected(
            &app,
            &[("targets", &t3), ("snapshot", &s)],
            "ErrBadSnapshot",
            "length",
        )
        .await;
    }
}

#[tokio::test]
async fn targets_signed_by_delegation_key() {
    let app = TestApp::new().await;
    let (repo, root, _, releases) = with_releases(&app).await;
    targets_by_wrong_key_rejected(&app, &repo, &root, 4, &releases).await;
}

#[tokio::test]
async fn delegated_target_outside_paths() {
    let app = TestApp::new().await;
    let (repo, root, t3, releases) = with_releases(&app).await;
    for name in ["other/v1", "ap/v1", "App/v1", "/app/v1"] {
        let (file, s) = delegated_update(
            &repo,
            &root,
            &t3,
            "targets/releases",
            json!({name: kit::target(b"1")}),
            &releases,
        );
        rejected(
            &app,
            &[("targets/releases", &file), ("snapshot", &s)],
            "ErrBadTargets",
            "outside the paths",
        )
        .await;
    }
}

#[tokio::test]
async fn delegation_signed_by_wrong_key() {
    let app = TestApp::new().await;
    let (repo, root, t3, _) = with_releases(&app).await;
    for key in [&repo.targets, &TestKey::ecdsa()] {
        let (file, s) = delegated_update(
            &repo,
            &root,
            &t3,
            "targets/releases",
            json!({"app/v1": kit::target(b"1")}),
            key,
        );
        rejected(
            &app,
            &[("targets/releases", &file), ("snapshot", &s)],
            "ErrBadTargets",
            "did not meet threshold",
        )
        .await;
    }
    // A delegation that targets never declared.
    let (file, s) = delegated_update(&repo, &root, &t3, "targets/qa", json!({}), &repo.targets);
    rejected(
        &app,
        &[("targets/qa", &file), ("snapshot", &s)],
        "ErrBadTargets",
        "delegation does not exist",
    )
    .await;
}

#[tokio::test]
async fn root_rotation_not_signed_by_old_root() {
    let app = TestApp::new().await;
    let (mut repo, _root, targets) = initialised(&app).await;
    let old_root = std::mem::replace(&mut repo.root, TestKey::root_cert(GUN));
    let signed = repo.root_signed(2);
    let only_new = kit::sign(&signed, &[&repo.root]);
    let s = repo.snapshot_file(3, &[("root", &only_new), ("targets", &targets)]);
    rejected(
        &app,
        &[("root", &only_new), ("snapshot", &s)],
        "ErrBadRoot",
        "could not rotate trust",
    )
    .await;
    // Signed by the old root only: the new root's own keys must sign it too.
    let only_old = kit::sign(&signed, &[&old_root]);
    let s = repo.snapshot_file(3, &[("root", &only_old), ("targets", &targets)]);
    rejected(
        &app,
        &[("root", &only_old), ("snapshot", &s)],
        "ErrBadRoot",
        "integrity of roots",
    )
    .await;
    // A version jump.
    let jump = kit::sign(&repo.root_signed(3), &[&old_root, &repo.root]);
    let s = repo.snapshot_file(3, &[("root", &jump), ("targets", &targets)]);
    rejected(
        &app,
        &[("root", &jump), ("snapshot", &s)],
        "ErrBadRoot",
        "must increment the version",
    )
    .await;
    // A root without a base role.
    let mut missing = repo.root_signed(2);
    missing["roles"]
        .as_object_mut()
        .expect("roles")
        .remove("snapshot");
    let missing = kit::sign(&missing, &[&old_root, &repo.root]);
    rejected(&app, &[("root", &missing)], "ErrBadRoot", "snapshot").await;
}

/// A new repository whose root key is `root_key`: refused with `ErrBadRoot`.
async fn new_repo_with_root_key(root_key: TestKey) {
    let app = TestApp::new().await;
    let timestamp = app.server_key(GUN, "timestamp").await;
    let mut repo = Repo::new(GUN, timestamp);
    repo.root = root_key;
    let root = repo.root_file(1);
    let t = repo.targets_file(2, json!({}));
    let s = repo.snapshot_file(2, &[("root", &root), ("targets", &t)]);
    rejected(
        &app,
        &[("root", &root), ("targets", &t), ("snapshot", &s)],
        "ErrBadRoot",
        "leaf certificates",
    )
    .await;
}

#[tokio::test]
async fn root_certificate_expired() {
    new_repo_with_root_key(TestKey::cert(GUN, 30, 10)).await;
    // Not valid yet.
    new_repo_with_root_key(TestKey::cert(GUN, -10, 30)).await;
}

#[tokio::test]
async fn root_certificate_for_another_gun() {
    new_repo_with_root_key(TestKey::root_cert("example.com/org/other")).await;
    new_repo_with_root_key(TestKey::root_cert("example.com/org/app/sub")).await;
    // A bare key where notary requires a certificate.
    new_repo_with_root_key(TestKey::ecdsa()).await;
}

#[tokio::test]
async fn expired_metadata() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let past = json!("2001-01-01T00:00:00Z");
    let mut expired_root = repo.root_signed(2);
    expired_root["expires"] = past.clone();
    rejected(
        &app,
        &[("root", &kit::sign(&expired_root, &[&repo.root]))],
        "ErrBadRoot",
        "expired",
    )
    .await;
    let mut targets = Repo::targets_signed(3, json!({}), no_delegations());
    targets["expires"] = past.clone();
    let (t, s) = targets_and_snapshot(&repo, &root, 3, &targets, &[&repo.targets]);
    rejected(
        &app,
        &[("targets", &t), ("snapshot", &s)],
        "ErrBadTargets",
        "expired",
    )
    .await;
    let t = repo.targets_file(3, json!({}));
    let signed = json!({"_type":"Snapshot","expires":past,"meta":{"root":kit::file_meta(&root),"targets":kit::file_meta(&t)},"version":3});
    let s = kit::sign(&signed, &[&repo.snapshot]);
    rejected(
        &app,
        &[("targets", &t), ("snapshot", &s)],
        "ErrBadSnapshot",
        "expired",
    )
    .await;
}

#[tokio::test]
async fn malformed_json() {
    let app = TestApp::new().await;
    let _ = initialised(&app).await;
    for bad in [
        &b""[..],
        b"{",
        b"[]",
        b"null",
        b"{\"signed\":1,\"signatures\":[]}",
        b"{\"signed\":{},\"signatures\":{}}",
        b"\xff\xfe",
        b"{\"signed\":{\"a\":\"\\ud800\"},\"signatures\":[]}",
        b"{\"signed\":{},\"signatures\":[]} trailing",
    ] {
        let (ct, body) = multipart(&[("targets", bad)]);
        refused(&app, &ct, body, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;
    }
}

#[tokio::test]
async fn non_canonical_encodings() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let t = repo.targets_file(3, json!({"a": kit::target(b"a")}));
    let text = String::from_utf8(t.clone()).expect("utf-8");
    // Two members with one name: Go keeps the last, other readers the first.
    for dup in [
        text.replacen("\"version\":3", "\"version\":3,\"version\":4", 1),
        text.replacen(
            "\"targets\":{",
            "\"targets\":{\"a\":{\"hashes\":{},\"length\":1},",
            1,
        ),
    ] {
        let s = repo.snapshot_file(3, &[("root", &root), ("targets", dup.as_bytes())]);
        let (ct, body) = multipart(&[("targets", dup.as_bytes()), ("snapshot", &s)]);
        let r = refused(&app, &ct, body, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;
        assert!(r.text().contains("duplicate member name"), "{}", r.text());
    }
    // A field whose name differs only in case, which Go's decoder would fold onto `version`.
    let mut folded = Repo::targets_signed(3, json!({}), no_delegations());
    folded["Version"] = json!(4);
    let (f, s) = targets_and_snapshot(&repo, &root, 3, &folded, &[&repo.targets]);
    rejected(
        &app,
        &[("targets", &f), ("snapshot", &s)],
        "ErrBadTargets",
        "Version",
    )
    .await;
    // Numbers canonical JSON cannot carry: a float version, a fractional length.
    let mut float = Repo::targets_signed(3, json!({}), no_delegations());
    float["version"] = json!(3.0);
    let (f, s) = targets_and_snapshot(&repo, &root, 3, &float, &[&repo.targets]);
    rejected(
        &app,
        &[("targets", &f), ("snapshot", &s)],
        "ErrBadTargets",
        "floating point",
    )
    .await;
    let mut fraction = Repo::targets_signed(3, json!({"a": kit::target(b"a")}), no_delegations());
    fraction["targets"]["a"]["length"] = json!(1.5);
    let (f, s) = targets_and_snapshot(&repo, &root, 3, &fraction, &[&repo.targets]);
    rejected(
        &app,
        &[("targets", &f), ("snapshot", &s)],
        "ErrBadTargets",
        "unsupported value",
    )
    .await;
    // A signature made over pretty-printed bytes instead of the canonical form.
    let signed = Repo::targets_signed(3, json!({"a": kit::target(b"a")}), no_delegations());
    let pretty = serde_json::to_vec_pretty(&signed).expect("json");
    let sig = repo.targets.sign(&pretty);
    let file = serde_json::to_vec(&json!({"signed": signed, "signatures": [sig]})).expect("json");
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &file)]);
    rejected(
        &app,
        &[("targets", &file), ("snapshot", &s)],
        "ErrBadTargets",
        "did not meet threshold",
    )
    .await;
}

#[tokio::test]
async fn body_of_50_mib() {
    let app = TestApp::new().await;
    let _ = initialised(&app).await;
    let big = vec![b' '; 50 << 20];
    let (ct, body) = multipart(&[("targets", &big)]);
    refused(
        &app,
        &ct,
        body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "MALFORMED_UPLOAD",
    )
    .await;
}

#[tokio::test]
async fn deeply_nested_json() {
    let app = TestApp::new().await;
    let _ = initialised(&app).await;
    for depth in [65, 10_000, 1_000_000] {
        let deep = format!(
            "{{\"signed\":{}{},\"signatures\":[]}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let (ct, body) = multipart(&[("targets", deep.as_bytes())]);
        refused(&app, &ct, body, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;
    }
}

#[tokio::test]
async fn unknown_role_names() {
    let app = TestApp::new().await;
    let (repo, _, _) = initialised(&app).await;
    let t = repo.targets_file(3, json!({}));
    for name in [
        "targets/../root",
        "owner",
        "Targets",
        "targets/",
        "targets//a",
        "targets/a b",
        "root/x",
        "snapshot.key",
    ] {
        let (ct, body) = multipart(&[(name, &t)]);
        let r = refused(&app, &ct, body, StatusCode::BAD_REQUEST, "INVALID_ROLE").await;
        assert_eq!(r.json()["errors"][0]["detail"], name);
    }
}

#[tokio::test]
async fn missing_multipart_parts() {
    let app = TestApp::new().await;
    // A new repository without a root.
    let timestamp = app.server_key(GUN, "timestamp").await;
    let repo = Repo::new(GUN, timestamp);
    let t = repo.targets_file(2, json!({}));
    rejected(
        &app,
        &[("targets", &t)],
        "ErrValidation",
        "no pre-existing root",
    )
    .await;
    // A new repository and no parts at all.
    rejected(&app, &[], "ErrValidation", "no pre-existing root").await;
    // Targets without the snapshot the client must sign.
    let (repo, root, _) = initialised(&app).await;
    let t = repo.targets_file(3, json!({}));
    rejected(
        &app,
        &[("targets", &t)],
        "ErrBadHierarchy",
        "no snapshot was included",
    )
    .await;
    let r = app.publish(GUN, &[("targets", &t)]).await;
    assert_eq!(
        r.json()["errors"][0]["detail"]["Error"]["Missing"],
        "snapshot"
    );
    // A part with no file name, and a body that is not multipart or ends early.
    let field =
        "--b0undary\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--b0undary--\r\n";
    refused(
        &app,
        "multipart/form-data; boundary=b0undary",
        field.into(),
        StatusCode::BAD_REQUEST,
        "NO_FILENAME",
    )
    .await;
    refused(
        &app,
        "application/json",
        b"{}".to_vec(),
        StatusCode::BAD_REQUEST,
        "MALFORMED_UPLOAD",
    )
    .await;
    refused(
        &app,
        "multipart/form-data",
        b"x".to_vec(),
        StatusCode::BAD_REQUEST,
        "MALFORMED_UPLOAD",
    )
    .await;
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &t)]);
    let (ct, body) = multipart(&[("targets", &t), ("snapshot", &s)]);
    let truncated = body[..body.len() - 40].to_vec();
    refused(
        &app,
        &ct,
        truncated,
        StatusCode::BAD_REQUEST,
        "MALFORMED_UPLOAD",
    )
    .await;
    // Two parts for one role: which one would count is ambiguous.
    let other = repo.targets_file(3, json!({"x": kit::target(b"x")}));
    let (ct, body) = multipart(&[("targets", &t), ("targets", &other), ("snapshot", &s)]);
    let r = refused(&app, &ct, body, StatusCode::BAD_REQUEST, "MALFORMED_UPLOAD").await;
    assert!(r.text().contains("two parts for targets"), "{}", r.text());
}

#[tokio::test]
async fn hostile_guns() {
    let app = TestApp::new().await;
    let (repo, _, _) = initialised(&app).await;
    let t = repo.targets_file(3, json!({}));
    let (ct, body) = multipart(&[("targets", &t)]);
    for gun in [
        "a%0Ab",
        "a%20b",
        "a%2F_trust",
        "a%3Cb%3E",
        "a/%2E%2E/b",
        "a%00b",
        &"a".repeat(300),
    ] {
        for (method, path, body) in [
            (
                Method::GET,
                format!("/v2/{gun}/_trust/tuf/timestamp.key"),
                vec![],
            ),
            (
                Method::GET,
                format!("/v2/{gun}/_trust/tuf/root.json"),
                vec![],
            ),
            (Method::POST, format!("/v2/{gun}/_trust/tuf/"), body.clone()),
            (Method::DELETE, format!("/v2/{gun}/_trust/tuf/"), vec![]),
        ] {
            let r = app.request(method.clone(), &path, Some(&ct), body).await;
            assert!(
                r.status == StatusCode::BAD_REQUEST && r.error_code() == "INVALID_GUN"
                    || r.status == StatusCode::MOVED_PERMANENTLY,
                "{method} {path}: {} {}",
                r.status,
                r.text()
            );
        }
    }
    // Dot segments are cleaned by a redirect, never served or written.
    let r = app.get("/v2/a/../b/_trust/tuf/root.json").await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert!(app.dump("a/b").await.is_empty() && app.dump("b").await.is_empty());
    // A GUN that contains the route's own separator never reaches a handler.
    let r = app.get("/v2/a/_trust/tuf/b/_trust/tuf/timestamp.key").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn too_many_delegations() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let key = TestKey::ecdsa();
    let roles: Vec<Value> = (0..257)
        .map(|i| json!({"keyids": [key.id()], "name": format!("targets/d{i}"), "paths": [""], "threshold": 1}))
        .collect();
    let delegations = json!({"keys": {key.id(): key.public_json()}, "roles": roles});
    let (t, s) = targets_and_snapshot(
        &repo,
        &root,
        3,
        &Repo::targets_signed(3, json!({}), delegations),
        &[&repo.targets],
    );
    rejected(
        &app,
        &[("targets", &t), ("snapshot", &s)],
        "ErrBadTargets",
        "more than 256 delegations",
    )
    .await;
}

#[tokio::test]
async fn delegation_chain_too_deep() {
    let app = TestApp::new().await;
    let (repo, root, t3, releases) = with_releases(&app).await;
    let deep = format!("targets/releases{}", "/x".repeat(8));
    let (file, s) = delegated_update(&repo, &root, &t3, &deep, json!({}), &releases);
    rejected(
        &app,
        &[(&deep, &file), ("snapshot", &s)],
        "ErrBadTargets",
        "nested deeper than 8 levels",
    )
    .await;
}

#[tokio::test]
async fn role_over_its_size_limit() {
    let app = TestApp::new().await;
    let (repo, _, _) = initialised(&app).await;
    // A root just over 1 MiB, padded with whitespace (which JSON allows).
    let mut root = repo.root_file(2);
    root.splice(1..1, std::iter::repeat_n(b' ', 1 << 20));
    let (ct, body) = multipart(&[("root", &root)]);
    let r = refused(
        &app,
        &ct,
        body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "MALFORMED_UPLOAD",
    )
    .await;
    assert!(r.text().contains("root is larger than"), "{}", r.text());
}

#[tokio::test]
async fn too_many_parts() {
    let app = TestApp::new().await;
    let _ = initialised(&app).await;
    let names: Vec<String> = (0..1025).map(|i| format!("targets/p{i}")).collect();
    let parts: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), &b"{\"signed\":{},\"signatures\":[]}"[..]))
        .collect();
    let (ct, body) = multipart(&parts);
    let r = refused(&app, &ct, body, StatusCode::BAD_REQUEST, "MALFORMED_UPLOAD").await;
    assert!(r.text().contains("more than 1024 parts"), "{}", r.text());
}

#[tokio::test]
async fn nested_delegation_outside_its_ancestors_paths() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let (a_key, b_key) = (TestKey::ecdsa(), TestKey::ecdsa());
    let delegation = |key: &TestKey, name: &str, paths: Value| {
        json!({
            "keys": {key.id(): key.public_json()},
            "roles": [{"keyids": [key.id()], "name": name, "paths": paths, "threshold": 1}],
        })
    };
    let t3 = kit::sign(
        &Repo::targets_signed(3, json!({}), delegation(&a_key, "targets/a", json!(["a/"]))),
        &[&repo.targets],
    );
    // targets/a delegates to targets/a/b with every path: broader than its own a/.
    let a1 = kit::sign(
        &Repo::targets_signed(1, json!({}), delegation(&b_key, "targets/a/b", json!([""]))),
        &[&a_key],
    );
    let s3 = repo.snapshot_file(3, &[("root", &root), ("targets", &t3), ("targets/a", &a1)]);
    let r = app
        .publish(
            GUN,
            &[("targets", &t3), ("targets/a", &a1), ("snapshot", &s3)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let publish_b = |targets: Value| {
        let b1 = kit::sign(
            &Repo::targets_signed(1, targets, no_delegations()),
            &[&b_key],
        );
        let s4 = repo.snapshot_file(
            4,
            &[
                ("root", &root),
                ("targets", &t3),
                ("targets/a", &a1),
                ("targets/a/b", &b1),
            ],
        );
        (b1, s4)
    };
    let (b1, s4) = publish_b(json!({"x/evil": kit::target(b"x")}));
    rejected(
        &app,
        &[("targets/a/b", &b1), ("snapshot", &s4)],
        "ErrBadTargets",
        "outside the paths delegated to targets/a/b",
    )
    .await;
    let (b1, s4) = publish_b(json!({"a/fine": kit::target(b"x")}));
    let r = app
        .publish(GUN, &[("targets/a/b", &b1), ("snapshot", &s4)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn narrowed_delegation_keeps_old_targets_unchanged_only() {
    let app = TestApp::new().await;
    let (repo, root, t3, releases) = with_releases(&app).await;
    let (r1, s4) = delegated_update(
        &repo,
        &root,
        &t3,
        "targets/releases",
        json!({"app/v1": kit::target(b"1")}),
        &releases,
    );
    let r = app
        .publish(GUN, &[("targets/releases", &r1), ("snapshot", &s4)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // The administrator narrows targets/releases to new/.
    let narrowed = json!({
        "keys": {releases.id(): releases.public_json()},
        "roles": [{"keyids": [releases.id()], "name": "targets/releases", "paths": ["new/"], "threshold": 1}],
    });
    let t5 = kit::sign(
        &Repo::targets_signed(5, json!({}), narrowed),
        &[&repo.targets],
    );
    let s5 = repo.snapshot_file(
        5,
        &[("root", &root), ("targets", &t5), ("targets/releases", &r1)],
    );
    let r = app
        .publish(GUN, &[("targets", &t5), ("snapshot", &s5)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let next = |targets: Value| {
        let file = kit::sign(
            &Repo::targets_signed(2, targets, no_delegations()),
            &[&releases],
        );
        let s = repo.snapshot_file(
            6,
            &[
                ("root", &root),
                ("targets", &t5),
                ("targets/releases", &file),
            ],
        );
        (file, s)
    };
    // The old name with another digest is a new claim outside the paths.
    let (file, s) = next(json!({"app/v1": kit::target(b"changed"), "new/a": kit::target(b"a")}));
    rejected(
        &app,
        &[("targets/releases", &file), ("snapshot", &s)],
        "ErrBadTargets",
        "\"app/v1\" is outside the paths",
    )
    .await;
    // Unchanged, it is carried along.
    let (file, s) = next(json!({"app/v1": kit::target(b"1"), "new/a": kit::target(b"a")}));
    let r = app
        .publish(GUN, &[("targets/releases", &file), ("snapshot", &s)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn signature_flood() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let signed = Repo::targets_signed(3, json!({"a": kit::target(b"a")}), no_delegations());
    let good = kit::sign(&signed, &[&repo.targets]);
    let mut doc: Value = serde_json::from_slice(&good).expect("json");
    let mut bogus = doc["signatures"][0].clone();
    bogus["sig"] = json!(B64.encode([7u8; 64]));
    // 33 signatures naming the targets key: more than any client writes.
    doc["signatures"] = Value::Array(vec![bogus; 33]);
    let flood = serde_json::to_vec(&doc).expect("json");
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &flood)]);
    rejected(
        &app,
        &[("targets", &flood), ("snapshot", &s)],
        "ErrBadTargets",
        "more than the 32 accepted",
    )
    .await;
}

#[tokio::test]
async fn delegation_not_listed_by_its_snapshot() {
    let app = TestApp::new().await;
    let (repo, root, t3, releases) = with_releases(&app).await;
    let (file, listed) = delegated_update(
        &repo,
        &root,
        &t3,
        "targets/releases",
        json!({"app/v1": kit::target(b"1")}),
        &releases,
    );
    // A client-signed snapshot that lists root and targets but not the uploaded delegation.
    let unlisted = repo.snapshot_file(4, &[("root", &root), ("targets", &t3)]);
    rejected(
        &app,
        &[("targets/releases", &file), ("snapshot", &unlisted)],
        "ErrBadSnapshot",
        "snapshot missing metadata for targets/releases",
    )
    .await;
    // Its version was not spent: the same file with a snapshot listing it is accepted.
    let r = app
        .publish(GUN, &[("targets/releases", &file), ("snapshot", &listed)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let served = app
        .get(&format!("/v2/{GUN}/_trust/tuf/targets/releases.json"))
        .await;
    assert_eq!(served.body, file);
}

#[tokio::test]
async fn snapshot_entry_with_only_sha512() {
    let app = TestApp::new().await;
    let (repo, root, t3, releases) = with_releases(&app).await;
    let (file, _) = delegated_update(
        &repo,
        &root,
        &t3,
        "targets/releases",
        json!({"app/v1": kit::target(b"1")}),
        &releases,
    );
    let mut entry = kit::file_meta(&file);
    entry["hashes"]
        .as_object_mut()
        .expect("hashes")
        .remove("sha256");
    let signed = json!({"_type": "Snapshot", "expires": kit::expires_in(30), "meta": {
        "root": kit::file_meta(&root),
        "targets": kit::file_meta(&t3),
        "targets/releases": entry,
    }, "version": 4});
    let s = kit::sign(&signed, &[&repo.snapshot]);
    rejected(
        &app,
        &[("targets/releases", &file), ("snapshot", &s)],
        "ErrBadSnapshot",
        "invalid snapshot metadata: missing targets/releases sha256 checksum information",
    )
    .await;
}

/// Makes the server hold the snapshot key (`notary key rotate GUN snapshot -r`): a new key,
/// then root v2 listing it. Returns root v2.
async fn server_takes_snapshot(app: &TestApp, repo: &mut Repo) -> Vec<u8> {
    let r = app
        .request(
            Method::POST,
            &format!("/v2/{GUN}/_trust/tuf/snapshot.key"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let key = r.json();
    repo.server_snapshot = Some(kit::key_json(
        key["keytype"].as_str().expect("keytype"),
        key["keyval"]["public"].as_str().expect("public"),
    ));
    let root2 = repo.root_file(2);
    let r = app.publish(GUN, &[("root", &root2)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    root2
}

#[tokio::test]
async fn server_generated_snapshot_lists_every_uploaded_role() {
    let app = TestApp::new().await;
    let (mut repo, _, _) = initialised(&app).await;
    let _root2 = server_takes_snapshot(&app, &mut repo).await;
    let releases = TestKey::ecdsa();
    let delegations = json!({
        "keys": {releases.id(): releases.public_json()},
        "roles": [{"keyids": [releases.id()], "name": "targets/releases", "paths": ["app/"], "threshold": 1}],
    });
    let t3 = kit::sign(
        &Repo::targets_signed(3, json!({}), delegations),
        &[&repo.targets],
    );
    let file = kit::sign(
        &Repo::targets_signed(1, json!({"app/v1": kit::target(b"1")}), no_delegations()),
        &[&releases],
    );
    // A delegation its parent does not declare: the server cannot list what it cannot place.
    let stray = kit::sign(
        &Repo::targets_signed(1, json!({}), no_delegations()),
        &[&releases],
    );
    rejected(
        &app,
        &[("targets", &t3), ("targets/qa", &stray)],
        "ErrBadTargets",
        "tuf: invalid role targets/qa. delegation does not exist",
    )
    .await;
    // Declared and uploaded together, without a snapshot: the server's snapshot lists both.
    let r = app
        .publish(GUN, &[("targets", &t3), ("targets/releases", &file)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let snapshot = app
        .get(&format!("/v2/{GUN}/_trust/tuf/snapshot.json"))
        .await
        .json();
    assert_eq!(snapshot["signed"]["meta"]["targets"], kit::file_meta(&t3));
    assert_eq!(
        snapshot["signed"]["meta"]["targets/releases"],
        kit::file_meta(&file)
    );
    let served = app
        .get(&format!("/v2/{GUN}/_trust/tuf/targets/releases.json"))
        .await;
    assert_eq!(served.body, file);
}

#[tokio::test]
async fn target_entries_no_client_can_verify() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let digest = |bytes: usize| json!(B64.encode(vec![7u8; bytes]));
    let good = kit::target(b"a");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut entry = good.clone();
        change(&mut entry);
        entry
    };
    let cases = [
        (with(&|e| e["length"] = json!(-1)), "length -1 is negative"),
        (
            with(&|e| e["hashes"]["sha256"] = digest(31)),
            "sha256 checksum invalid: 31 bytes, expected 32",
        ),
        (
            with(&|e| e["hashes"]["sha512"] = digest(32)),
            "sha512 checksum invalid: 32 bytes, expected 64",
        ),
        (
            with(&|e| e["hashes"] = json!({"md5": B64.encode([7u8; 16])})),
            "no checksums for supported algorithms were provided",
        ),
    ];
    for (entry, reason) in cases {
        let signed = Repo::targets_signed(3, json!({"a": entry}), no_delegations());
        let (t, s) = targets_and_snapshot(&repo, &root, 3, &signed, &[&repo.targets]);
        rejected(
            &app,
            &[("targets", &t), ("snapshot", &s)],
            "ErrBadTargets",
            &format!("invalid targets metadata: target \"a\": {reason}"),
        )
        .await;
    }
}

#[tokio::test]
async fn delegated_target_entry_no_client_can_verify() {
    let app = TestApp::new().await;
    let (repo, root, t3, releases) = with_releases(&app).await;
    let mut entry = kit::target(b"1");
    entry["length"] = json!(-5);
    let (file, s) = delegated_update(
        &repo,
        &root,
        &t3,
        "targets/releases",
        json!({"app/v1": entry}),
        &releases,
    );
    rejected(
        &app,
        &[("targets/releases", &file), ("snapshot", &s)],
        "ErrBadTargets",
        "invalid targets/releases metadata: target \"app/v1\": length -5 is negative",
    )
    .await;
}
