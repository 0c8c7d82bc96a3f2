//! The atomic update: client flows that must be accepted, and one rejected case per rule.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::kit::{self, Repo, TestKey};
use crate::{TestApp, TestResponse};

const GUN: &str = "example.com/org/app";

/// A repository initialised as `notary init -p` does: root v1, targets v2, snapshot v2.
async fn initialised(app: &TestApp) -> (Repo, Vec<u8>, Vec<u8>) {
    let timestamp = app.server_key(GUN, "timestamp").await;
    let repo = Repo::new(GUN, timestamp);
    let root = repo.root_file(1);
    let targets = repo.targets_file(2, json!({}));
    let snapshot = repo.snapshot_file(2, &[("root", &root), ("targets", &targets)]);
    let r = app
        .publish(
            GUN,
            &[
                ("root", &root),
                ("targets", &targets),
                ("snapshot", &snapshot),
            ],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "init publish: {}",
        String::from_utf8_lossy(&r.body)
    );
    (repo, root, targets)
}

fn assert_invalid(r: &TestResponse, name: &str, needle: &str) {
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    assert_eq!(body["errors"][0]["code"], "INVALID_UPDATE", "{body}");
    assert_eq!(body["errors"][0]["detail"]["Name"], name, "{body}");
    let msg = body["errors"][0]["detail"]["Error"]["Msg"]
        .as_str()
        .unwrap_or("");
    assert!(
        msg.contains(needle),
        "message {msg:?} should mention {needle:?}"
    );
    assert!(
        r.body.len() < 1024,
        "the Go client reads at most 1 KiB of an error"
    );
}

/// Publishes, asserts the rejection, and checks that nothing changed.
async fn rejected(app: &TestApp, parts: &[(&str, &[u8])], name: &str, needle: &str) {
    let before = app.dump(GUN).await;
    let r = app.publish(GUN, parts).await;
    assert_invalid(&r, name, needle);
    assert_eq!(
        app.dump(GUN).await,
        before,
        "a rejected update must change nothing"
    );
}

#[tokio::test]
async fn init_publish_then_read_back() {
    let app = TestApp::new().await;
    let (_repo, root, targets) = initialised(&app).await;
    let served = app.get(&format!("/v2/{GUN}/_trust/tuf/root.json")).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, root, "root is served byte for byte");
    assert!(served.headers["cache-control"]
        .to_str()
        .unwrap_or("")
        .contains("must-revalidate"));
    assert_eq!(
        app.get(&format!("/v2/{GUN}/_trust/tuf/1.root.json"))
            .await
            .body,
        root
    );
    assert_eq!(
        app.get(&format!("/v2/{GUN}/_trust/tuf/2.targets.json"))
            .await
            .body,
        targets
    );

    // The server-made timestamp lists the exact snapshot bytes and verifies with the key the
    // server handed out.
    let ts = app
        .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.json"))
        .await;
    assert_eq!(ts.status, StatusCode::OK);
    let ts_json = ts.json();
    assert_eq!(ts_json["signed"]["_type"], "Timestamp");
    assert_eq!(ts_json["signed"]["version"], 1);
    let snapshot = app
        .get(&format!("/v2/{GUN}/_trust/tuf/snapshot.json"))
        .await;
    assert_eq!(
        ts_json["signed"]["meta"]["snapshot"],
        kit::file_meta(&snapshot.body)
    );
    let sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, &snapshot.body));
    let by_hash = app
        .get(&format!("/v2/{GUN}/_trust/tuf/snapshot.{sha}.json"))
        .await;
    assert_eq!(by_hash.body, snapshot.body);
    assert!(!by_hash.headers["cache-control"]
        .to_str()
        .unwrap_or("")
        .contains("must-revalidate"));
    let upper = sha.to_uppercase();
    assert_eq!(
        app.get(&format!("/v2/{GUN}/_trust/tuf/snapshot.{upper}.json"))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "checksums are compared in lowercase, as notary does"
    );
    let wrong_role = app
        .get(&format!("/v2/{GUN}/_trust/tuf/root.{sha}.json"))
        .await;
    assert_eq!(
        wrong_role.status,
        StatusCode::NOT_FOUND,
        "a checksum only finds its own role"
    );

    // Repeated key requests agree with the root.
    let key_again = app.server_key(GUN, "timestamp").await;
    let root_json: Value = serde_json::from_slice(&root).expect("root json");
    let listed = root_json["signed"]["roles"]["timestamp"]["keyids"][0]
        .as_str()
        .expect("id");
    assert_eq!(kit::key_id(&key_again), listed);
}

#[tokio::test]
async fn successive_publishes_and_conflicts() {
    let app = TestApp::new().await;
    let (repo, root, targets2) = initialised(&app).await;
    let targets3 = repo.targets_file(3, json!({"v1": kit::target(b"one")}));
    let snapshot3 = repo.snapshot_file(3, &[("root", &root), ("targets", &targets3)]);
    let r = app
        .publish(GUN, &[("targets", &targets3), ("snapshot", &snapshot3)])
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let current = app.get(&format!("/v2/{GUN}/_trust/tuf/targets.json")).await;
    assert_eq!(current.body, targets3);

    // Replaying the same update, or an older one, is a version conflict and changes nothing.
    let before = app.dump(GUN).await;
    let replay = app
        .publish(GUN, &[("targets", &targets3), ("snapshot", &snapshot3)])
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.error_code(), "VERSION");
    let snapshot_old = repo.snapshot_file(3, &[("root", &root), ("targets", &targets2)]);
    let rollback = app
        .publish(GUN, &[("targets", &targets2), ("snapshot", &snapshot_old)])
        .await;
    assert_eq!(
        rollback.error_code(),
        "VERSION",
        "rollback to an older version"
    );
    assert_eq!(app.dump(GUN).await, before);

    // Several publishes in a row; each makes a new timestamp.
    for v in 4..8u64 {
        let t = repo.targets_file(v, json!({format!("tag{v}"): kit::target(b"x")}));
        let s = repo.snapshot_file(v, &[("root", &root), ("targets", &t)]);
        let r = app.publish(GUN, &[("targets", &t), ("snapshot", &s)]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let ts = app
        .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.json"))
        .await
        .json();
    assert_eq!(ts["signed"]["version"], 6);

    // The changefeed has one update per timestamp.
    let feed = app
        .get(&format!("/v2/{GUN}/_trust/changefeed?records=100"))
        .await
        .json();
    assert_eq!(feed["count"], 6);
    assert_eq!(feed["records"][5]["Version"], 6);
    assert_eq!(feed["records"][0]["Category"], "update");
    assert!(feed["records"][0]["ID"].is_string());
}

#[tokio::test]
async fn uploaded_timestamp_is_ignored() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let mine = TestKey::ed25519();
    let fake = kit::sign(
        &json!({"_type":"Timestamp","expires":kit::expires_in(14),"meta":{},"version":9}),
        &[&mine],
    );
    let t = repo.targets_file(3, json!({}));
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &t)]);
    let r = app
        .publish(
            GUN,
            &[("targets", &t), ("snapshot", &s), ("timestamp", &fake)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let ts = app
        .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.json"))
        .await;
    assert_ne!(ts.body, fake, "a client timestamp is never stored");
    assert_eq!(ts.json()["signed"]["version"], 2);
}

#[tokio::test]
async fn server_held_snapshot_flow() {
    let app = TestApp::new().await;
    let (mut repo, _root, _) = initialised(&app).await;
    // `notary key rotate GUN snapshot -r`: POST snapshot.key, then a root listing it.
    let r = app
        .request(
            axum::http::Method::POST,
            &format!("/v2/{GUN}/_trust/tuf/snapshot.key"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let key = r.json();
    repo.server_snapshot = Some(kit::key_json(
        key["keytype"].as_str().expect("keytype"),
        key["keyval"]["public"].as_str().expect("public"),
    ));
    let root2 = repo.root_file(2);
    let r = app.publish(GUN, &[("root", &root2)]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // Now a targets-only update gets a snapshot from the server.
    let t = repo.targets_file(3, json!({"latest": kit::target(b"img")}));
    let r = app.publish(GUN, &[("targets", &t)]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let snapshot = app
        .get(&format!("/v2/{GUN}/_trust/tuf/snapshot.json"))
        .await
        .json();
    assert_eq!(snapshot["signed"]["meta"]["targets"], kit::file_meta(&t));
    assert_eq!(snapshot["signed"]["meta"]["root"], kit::file_meta(&root2));
    assert_eq!(snapshot["signatures"][0]["method"], "eddsa");
    assert_eq!(
        app.get(&format!("/v2/{GUN}/_trust/tuf/targets.json"))
            .await
            .body,
        t
    );
}

#[tokio::test]
async fn root_rotation_needs_old_and_new_keys() {
    let app = TestApp::new().await;
    let (mut repo, _root, targets) = initialised(&app).await;
    let old_root = std::mem::replace(&mut repo.root, TestKey::root_cert(GUN));
    let signed = repo.root_signed(2);
    let with_snapshot =
        |root: &[u8]| repo.snapshot_file(3, &[("root", root), ("targets", &targets)]);
    let only_new = kit::sign(&signed, &[&repo.root]);
    let s = with_snapshot(&only_new);
    rejected(
        &app,
        &[("root", &only_new), ("snapshot", &s)],
        "ErrBadRoot",
        "could not rotate trust",
    )
    .await;
    let only_old = kit::sign(&signed, &[&old_root]);
    let s = with_snapshot(&only_old);
    rejected(
        &app,
        &[("root", &only_old), ("snapshot", &s)],
        "ErrBadRoot",
        "integrity of roots",
    )
    .await;
    let both = kit::sign(&signed, &[&old_root, &repo.root]);
    let s = with_snapshot(&both);
    let r = app.publish(GUN, &[("root", &both), ("snapshot", &s)]).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

#[tokio::test]
async fn each_root_rule_rejects() {
    let app = TestApp::new().await;
    let (repo, _, _) = initialised(&app).await;
    // Version must advance by exactly one.
    rejected(
        &app,
        &[("root", &repo.root_file(3))],
        "ErrBadRoot",
        "must increment the version",
    )
    .await;
    // Every base role present.
    let mut missing = repo.root_signed(2);
    missing["roles"]
        .as_object_mut()
        .expect("roles")
        .remove("snapshot");
    rejected(
        &app,
        &[("root", &kit::sign(&missing, &[&repo.root]))],
        "ErrBadRoot",
        "snapshot",
    )
    .await;
    // Expired root.
    let mut expired = repo.root_signed(2);
    expired["expires"] = json!("2001-01-01T00:00:00Z");
    rejected(
        &app,
        &[("root", &kit::sign(&expired, &[&repo.root]))],
        "ErrBadRoot",
        "expired",
    )
    .await;
}

#[tokio::test]
async fn root_key_must_be_a_certificate_for_this_gun() {
    let app = TestApp::new().await;
    let timestamp = app.server_key(GUN, "timestamp").await;
    let mut repo = Repo::new(GUN, timestamp.clone());
    // A certificate for another GUN.
    repo.root = TestKey::root_cert("example.com/other");
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
    // A plain key.
    repo.root = TestKey::ecdsa();
    let root = repo.root_file(1);
    let s = repo.snapshot_file(2, &[("root", &root), ("targets", &t)]);
    rejected(
        &app,
        &[("root", &root), ("targets", &t), ("snapshot", &s)],
        "ErrBadRoot",
        "leaf certificates",
    )
    .await;
    // An expired certificate.
    repo.root = TestKey::cert(GUN, 30, 10);
    let root = repo.root_file(1);
    let s = repo.snapshot_file(2, &[("root", &root), ("targets", &t)]);
    rejected(
        &app,
        &[("root", &root), ("targets", &t), ("snapshot", &s)],
        "ErrBadRoot",
        "leaf certificates",
    )
    .await;
    // No root at all on a new GUN.
    rejected(
        &app,
        &[("targets", &t)],
        "ErrValidation",
        "no pre-existing root",
    )
    .await;
}

#[tokio::test]
async fn each_targets_and_snapshot_rule_rejects() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let good_t = repo.targets_file(3, json!({"a": kit::target(b"a")}));

    // Targets signed by a key that is not the targets key.
    let stranger = TestKey::ecdsa();
    let bad_t = kit::sign(
        &Repo::targets_signed(3, json!({}), json!({"keys":{}, "roles":[]})),
        &[&stranger],
    );
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &bad_t)]);
    rejected(
        &app,
        &[("targets", &bad_t), ("snapshot", &s)],
        "ErrBadTargets",
        "threshold",
    )
    .await;
    // Targets with no signatures.
    let unsigned = kit::sign(
        &Repo::targets_signed(3, json!({}), json!({"keys":{}, "roles":[]})),
        &[],
    );
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &unsigned)]);
    rejected(
        &app,
        &[("targets", &unsigned), ("snapshot", &s)],
        "ErrBadTargets",
        "no signatures",
    )
    .await;
    // Expired targets.
    let mut old = Repo::targets_signed(3, json!({}), json!({"keys":{}, "roles":[]}));
    old["expires"] = json!("2001-01-01T00:00:00Z");
    let old = kit::sign(&old, &[&repo.targets]);
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &old)]);
    rejected(
        &app,
        &[("targets", &old), ("snapshot", &s)],
        "ErrBadTargets",
        "expired",
    )
    .await;
    // A bit flipped after signing.
    let mut tampered = good_t.clone();
    let pos = tampered
        .windows(3)
        .position(|w| w == b"\"a\"")
        .expect("target name");
    tampered[pos + 1] = b'b';
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &tampered)]);
    rejected(
        &app,
        &[("targets", &tampered), ("snapshot", &s)],
        "ErrBadTargets",
        "threshold",
    )
    .await;

    // Snapshot with a wrong hash (mix-and-match), a wrong length, a wrong key, a missing role.
    let s_wrong = repo.snapshot_file(3, &[("root", &root), ("targets", b"other bytes")]);
    rejected(
        &app,
        &[("targets", &good_t), ("snapshot", &s_wrong)],
        "ErrBadSnapshot",
        "targets",
    )
    .await;
    let mut meta = kit::file_meta(&good_t);
    meta["length"] = json!(good_t.len() + 1);
    let signed = json!({"_type":"Snapshot","expires":kit::expires_in(30),"meta":{"root":kit::file_meta(&root),"targets":meta},"version":3});
    let s_len = kit::sign(&signed, &[&repo.snapshot]);
    rejected(
        &app,
        &[("targets", &good_t), ("snapshot", &s_len)],
        "ErrBadSnapshot",
        "length",
    )
    .await;
    let signed = json!({"_type":"Snapshot","expires":kit::expires_in(30),"meta":{"root":kit::file_meta(&root),"targets":kit::file_meta(&good_t)},"version":3});
    let s_key = kit::sign(&signed, &[&stranger]);
    rejected(
        &app,
        &[("targets", &good_t), ("snapshot", &s_key)],
        "ErrBadSnapshot",
        "threshold",
    )
    .await;
    let s_extra = repo.snapshot_file(
        3,
        &[
            ("root", &root),
            ("targets", &good_t),
            ("targets/ghost", b"{}"),
        ],
    );
    rejected(
        &app,
        &[("targets", &good_t), ("snapshot", &s_extra)],
        "ErrBadSnapshot",
        "targets/ghost",
    )
    .await;

    // No snapshot, and the server does not hold the snapshot key.
    rejected(
        &app,
        &[("targets", &good_t)],
        "ErrBadHierarchy",
        "no snapshot was included",
    )
    .await;
    let r = app.publish(GUN, &[("targets", &good_t)]).await;
    assert_eq!(
        r.json()["errors"][0]["detail"]["Error"]["Missing"],
        "snapshot"
    );

    // All or nothing: a good targets with a bad snapshot leaves targets unchanged (checked by
    // `rejected`), and the good pair is still accepted afterwards.
    let s = repo.snapshot_file(3, &[("root", &root), ("targets", &good_t)]);
    assert_eq!(
        app.publish(GUN, &[("targets", &good_t), ("snapshot", &s)])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn delegation_rules() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let releases = TestKey::ecdsa();
    let delegations = json!({
        "keys": {releases.id(): releases.public_json()},
        "roles": [{"keyids": [releases.id()], "name": "targets/releases", "paths": ["app/"], "threshold": 1}],
    });
    let t3 = kit::sign(
        &Repo::targets_signed(3, json!({}), delegations),
        &[&repo.targets],
    );
    let s3 = repo.snapshot_file(3, &[("root", &root), ("targets", &t3)]);
    assert_eq!(
        app.publish(GUN, &[("targets", &t3), ("snapshot", &s3)])
            .await
            .status,
        StatusCode::OK
    );

    let empty = json!({"keys":{}, "roles":[]});
    let inside = kit::sign(
        &Repo::targets_signed(1, json!({"app/v1": kit::target(b"1")}), empty.clone()),
        &[&releases],
    );
    let outside = kit::sign(
        &Repo::targets_signed(1, json!({"other/v1": kit::target(b"1")}), empty.clone()),
        &[&releases],
    );
    let wrong_key = kit::sign(
        &Repo::targets_signed(1, json!({"app/v1": kit::target(b"1")}), empty.clone()),
        &[&repo.targets],
    );
    let unknown = kit::sign(
        &Repo::targets_signed(1, json!({}), empty.clone()),
        &[&releases],
    );

    let s = |name: &str, bytes: &[u8]| {
        repo.snapshot_file(4, &[("root", &root), ("targets", &t3), (name, bytes)])
    };
    rejected(
        &app,
        &[
            ("targets/releases", &outside),
            ("snapshot", &s("targets/releases", &outside)),
        ],
        "ErrBadTargets",
        "outside the paths",
    )
    .await;
    rejected(
        &app,
        &[
            ("targets/releases", &wrong_key),
            ("snapshot", &s("targets/releases", &wrong_key)),
        ],
        "ErrBadTargets",
        "threshold",
    )
    .await;
    rejected(
        &app,
        &[
            ("targets/qa", &unknown),
            ("snapshot", &s("targets/qa", &unknown)),
        ],
        "ErrBadTargets",
        "delegation does not exist",
    )
    .await;
    let r = app
        .publish(
            GUN,
            &[
                ("targets/releases", &inside),
                ("snapshot", &s("targets/releases", &inside)),
            ],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let served = app
        .get(&format!("/v2/{GUN}/_trust/tuf/targets/releases.json"))
        .await;
    assert_eq!(served.body, inside);
}

#[tokio::test]
async fn stale_timestamp_is_renewed_on_read() {
    use std::sync::Arc;

    let app = TestApp::new().await;
    let _ = initialised(&app).await;
    let first = app
        .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.json"))
        .await
        .json();
    // Thirteen and a half days later the timestamp is within a day of expiry.
    use notarium::clock::Clock as _;
    let later = notarium::clock::SystemClock.now() + chrono::Duration::hours(13 * 24 + 12);
    let app2 = app
        .with_clock(Arc::new(notarium::clock::FixedClock(later)))
        .await;
    let renewed = app2
        .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.json"))
        .await
        .json();
    assert_eq!(
        renewed["signed"]["version"], 2,
        "a fresh timestamp is issued"
    );
    assert_eq!(
        renewed["signed"]["meta"], first["signed"]["meta"],
        "for the same snapshot"
    );
    let again = app2
        .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.json"))
        .await
        .json();
    assert_eq!(again["signed"]["version"], 2, "and only once");
    let feed = app2.get("/v2/_trust/changefeed?records=10").await.json();
    assert_eq!(feed["count"], 2, "the renewal is in the changefeed");
}

#[tokio::test]
async fn delete_then_init_again() {
    let app = TestApp::new().await;
    let _ = initialised(&app).await;
    let r = app
        .request(
            axum::http::Method::DELETE,
            &format!("/v2/{GUN}/_trust/tuf/"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/v2/{GUN}/_trust/tuf/root.json"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/v2/{GUN}/_trust/tuf/1.root.json"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let feed = app
        .get(&format!("/v2/{GUN}/_trust/changefeed?records=10"))
        .await
        .json();
    assert_eq!(feed["records"][1]["Category"], "deletion");
    assert_eq!(feed["records"][1]["SHA256"], "");
    let _ = initialised(&app).await;
}

#[tokio::test]
async fn racing_publishes_of_one_version_accept_exactly_one() {
    let app = TestApp::new().await;
    let app = &app;
    let (repo, root, _) = initialised(app).await;
    let updates: Vec<(Vec<u8>, Vec<u8>)> = (0..20)
        .map(|i| {
            let t = repo.targets_file(3, json!({format!("racer-{i}"): kit::target(b"x")}));
            let s = repo.snapshot_file(3, &[("root", &root), ("targets", &t)]);
            (t, s)
        })
        .collect();
    let responses =
        futures_util::future::join_all(updates.iter().map(|(t, s)| async move {
            app.publish(GUN, &[("targets", t), ("snapshot", s)]).await
        }))
        .await;
    let accepted: Vec<usize> = (0..20)
        .filter(|i| responses[*i].status == StatusCode::OK)
        .collect();
    assert_eq!(accepted.len(), 1, "exactly one racer wins");
    for r in responses.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!(
            r.error_code(),
            "VERSION",
            "the others get notary's conflict error"
        );
    }
    let winner = &updates[accepted[0]].0;
    assert_eq!(
        &app.get(&format!("/v2/{GUN}/_trust/tuf/targets.json"))
            .await
            .body,
        winner
    );
    let ts = app
        .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.json"))
        .await
        .json();
    assert_eq!(
        ts["signed"]["version"], 2,
        "one timestamp per accepted update"
    );
}

#[tokio::test]
async fn concurrent_first_key_requests_agree() {
    let app = TestApp::new().await;
    let app = &app;
    for role in ["timestamp", "snapshot"] {
        let keys =
            futures_util::future::join_all((0..16).map(|_| async move {
                app.get(&format!("/v2/{GUN}/_trust/tuf/{role}.key")).await
            }))
            .await;
        assert!(keys.iter().all(|k| k.status == StatusCode::OK));
        assert!(
            keys.iter().all(|k| k.body == keys[0].body),
            "one key per GUN and role, however many clients ask at once"
        );
    }
}
