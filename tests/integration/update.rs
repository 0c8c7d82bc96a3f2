//! The atomic update: client flows that must be accepted, and one rejected case per rule.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::kit::{self, Repo, TestKey};
use crate::{initialised, TestApp, GUN};

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
    let (repo, root, _) = initialised(&app).await;
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
async fn root_rotation_signed_by_old_and_new_keys() {
    let app = TestApp::new().await;
    let (mut repo, _root, targets) = initialised(&app).await;
    let old_root = std::mem::replace(&mut repo.root, TestKey::root_cert(GUN));
    let both = kit::sign(&repo.root_signed(2), &[&old_root, &repo.root]);
    let s = repo.snapshot_file(3, &[("root", &both), ("targets", &targets)]);
    let r = app.publish(GUN, &[("root", &both), ("snapshot", &s)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let served = app.get(&format!("/v2/{GUN}/_trust/tuf/root.json")).await;
    assert_eq!(served.body, both);
}

#[tokio::test]
async fn delegated_publish_is_stored_as_uploaded() {
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
    let r = app
        .publish(GUN, &[("targets", &t3), ("snapshot", &s3)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let inside = kit::sign(
        &Repo::targets_signed(
            1,
            json!({"app/v1": kit::target(b"1")}),
            json!({"keys":{}, "roles":[]}),
        ),
        &[&releases],
    );
    let s4 = repo.snapshot_file(
        4,
        &[
            ("root", &root),
            ("targets", &t3),
            ("targets/releases", &inside),
        ],
    );
    let r = app
        .publish(GUN, &[("targets/releases", &inside), ("snapshot", &s4)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
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

/// Background renewal: no client reads, yet a timestamp close to expiry is replaced, once, and
/// a repository that is not due is left alone.
#[tokio::test]
async fn background_renewal_needs_no_client() {
    use notarium::clock::Clock as _;
    use std::sync::Arc;

    let app = TestApp::new().await;
    let _ = initialised(&app).await;
    let now = notarium::clock::SystemClock.now();
    let state = app
        .state_with_clock(Arc::new(notarium::clock::FixedClock(now)))
        .await;
    assert_eq!(
        state.repos.renew_all().await,
        (1, 0),
        "one repository, nothing due"
    );
    let feed = app.get("/v2/_trust/changefeed?records=10").await.json();
    assert_eq!(feed["count"], 1, "nothing written when nothing is due");

    let later = now + chrono::Duration::hours(13 * 24 + 12);
    let state = app
        .state_with_clock(Arc::new(notarium::clock::FixedClock(later)))
        .await;
    assert_eq!(state.repos.renew_all().await, (1, 0));
    assert_eq!(
        state.repos.renew_all().await,
        (1, 0),
        "a second pass finds nothing due"
    );
    let feed = app.get("/v2/_trust/changefeed?records=10").await.json();
    assert_eq!(feed["count"], 2, "one renewal, recorded");
    let served = app
        .get(&format!("/v2/{GUN}/_trust/tuf/2.timestamp.json"))
        .await;
    assert_eq!(
        served.status,
        axum::http::StatusCode::OK,
        "version 2 was written without a read"
    );
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

/// `notarium keys`: listing, export, and rotating the key-encryption key in one transaction;
/// a wrong current KEK changes nothing, and keys re-sealed twice still sign.
#[tokio::test]
async fn key_encryption_key_rotation_keeps_keys_usable() {
    use base64::Engine as _;
    use notarium::signing::{admin, Kek};
    use std::sync::Arc;

    let kek = |b: u8| {
        Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([b; 32])).expect("kek")
    };
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let state = app
        .state_with_clock(Arc::new(notarium::clock::SystemClock))
        .await;
    let store = state.repos.store().clone();
    let listed = admin::list(&store, Some(GUN)).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].role.as_str(), listed[0].generation),
        ("timestamp", 0)
    );
    let exported = admin::export(&store, None).await.expect("export");
    assert_eq!(exported[0]["key_id"], listed[0].key_id.as_str());
    assert_eq!(exported[0]["key"]["keytype"], "ed25519");
    assert!(
        !exported.to_string().contains("sealed"),
        "no private material"
    );

    // The test application's KEK is [9; 32].
    assert_eq!(
        admin::rotate_kek(&store, &kek(9), &kek(7))
            .await
            .expect("rotate"),
        1
    );
    let before = store.all_keys().await.expect("keys");
    assert!(
        admin::rotate_kek(&store, &kek(9), &kek(5)).await.is_err(),
        "old KEK no longer opens"
    );
    let after = store.all_keys().await.expect("keys");
    assert_eq!(
        before
            .iter()
            .map(|k| k.sealed_private.clone())
            .collect::<Vec<_>>(),
        after
            .iter()
            .map(|k| k.sealed_private.clone())
            .collect::<Vec<_>>(),
        "a failed rotation changes nothing"
    );
    assert_eq!(
        admin::rotate_kek(&store, &kek(7), &kek(9))
            .await
            .expect("back"),
        1
    );

    // A server started now (nothing opened yet) signs with the twice re-sealed key.
    let fresh = notarium::router(
        app.state_with_clock(Arc::new(notarium::clock::SystemClock))
            .await,
    );
    let targets3 = repo.targets_file(3, json!({"v1": kit::target(b"one")}));
    let snapshot3 = repo.snapshot_file(3, &[("root", &root), ("targets", &targets3)]);
    let (content_type, body) =
        crate::multipart(&[("targets", &targets3), ("snapshot", &snapshot3)]);
    let r = crate::send(
        fresh,
        axum::http::Method::POST,
        &format!("/v2/{GUN}/_trust/tuf/"),
        Some(&content_type),
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}
