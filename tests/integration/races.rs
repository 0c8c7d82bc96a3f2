//! Races on a multi-threaded runtime: requests are spawned as tasks, so they run in parallel on
//! several worker threads against one SQLite file, as concurrent clients would.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::kit;
use crate::{initialised, multipart, send, TestApp, TestResponse, GUN};

/// Runs every request of `requests` (method, path, content type, body) at once.
async fn all_at_once(
    app: &TestApp,
    requests: Vec<(Method, String, Option<String>, Vec<u8>)>,
) -> Vec<TestResponse> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(method, path, ct, body)| {
            let router = app.router.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                send(router, method, &path, ct.as_deref(), body).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("no request panics"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_publishes_of_one_version() {
    let app = TestApp::new().await;
    let (repo, root, _) = initialised(&app).await;
    let updates: Vec<(Vec<u8>, Vec<u8>)> = (0..20)
        .map(|i| {
            let t = repo.targets_file(3, json!({format!("racer-{i}"): kit::target(b"x")}));
            let s = repo.snapshot_file(3, &[("root", &root), ("targets", &t)]);
            (t, s)
        })
        .collect();
    let requests = updates
        .iter()
        .map(|(t, s)| {
            let (ct, body) = multipart(&[("targets", t), ("snapshot", s)]);
            (
                Method::POST,
                format!("/v2/{GUN}/_trust/tuf/"),
                Some(ct),
                body,
            )
        })
        .collect();
    let responses = all_at_once(&app, requests).await;
    let accepted: Vec<usize> = (0..responses.len())
        .filter(|&i| responses[i].status == StatusCode::OK)
        .collect();
    assert_eq!(
        accepted.len(),
        1,
        "exactly one of the racing publishes wins"
    );
    for (i, r) in responses.iter().enumerate() {
        if i != accepted[0] {
            assert_eq!(
                (r.status, r.error_code().as_str()),
                (StatusCode::BAD_REQUEST, "VERSION"),
                "the others get notary's conflict error: {}",
                r.text()
            );
        }
    }
    // The final state is the winner's, whole and consistent.
    let (winner_t, winner_s) = &updates[accepted[0]];
    let current = |role: &str| format!("/v2/{GUN}/_trust/tuf/{role}.json");
    assert_eq!(&app.get(&current("targets")).await.body, winner_t);
    assert_eq!(&app.get(&current("snapshot")).await.body, winner_s);
    let ts = app.get(&current("timestamp")).await.json();
    assert_eq!(ts["signed"]["version"], 2, "one new timestamp");
    assert_eq!(ts["signed"]["meta"]["snapshot"], kit::file_meta(winner_s));
    // And the repository moves on from there.
    let t = repo.targets_file(4, json!({}));
    let s = repo.snapshot_file(4, &[("root", &root), ("targets", &t)]);
    assert_eq!(
        app.publish(GUN, &[("targets", &t), ("snapshot", &s)])
            .await
            .status,
        StatusCode::OK
    );
}

/// GETs of `role`.key for `guns`, `per_gun` times each, all at once; returns GUN → bodies.
async fn key_storm(
    app: &TestApp,
    guns: &[String],
    role: &str,
    per_gun: usize,
) -> BTreeMap<String, BTreeSet<Vec<u8>>> {
    let mut requests = Vec::new();
    for gun in guns {
        for _ in 0..per_gun {
            let path = format!("/v2/{gun}/_trust/tuf/{role}.key");
            requests.push((Method::GET, path, None, Vec::new()));
        }
    }
    let responses = all_at_once(app, requests).await;
    let mut keys: BTreeMap<String, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for (i, r) in responses.into_iter().enumerate() {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        keys.entry(guns[i / per_gun].clone())
            .or_default()
            .insert(r.body);
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_new_repositories_ask_for_keys_at_once() {
    let app = TestApp::new().await;
    let guns: Vec<String> = (0..100)
        .map(|i| format!("example.com/storm/repo-{i}"))
        .collect();
    for role in ["timestamp", "snapshot"] {
        let keys = key_storm(&app, &guns, role, 2).await;
        assert_eq!(keys.len(), guns.len());
        assert!(
            keys.values().all(|k| k.len() == 1),
            "exactly one {role} key per repository"
        );
        let distinct: BTreeSet<&Vec<u8>> = keys.values().flatten().collect();
        assert_eq!(
            distinct.len(),
            guns.len(),
            "no two repositories share a key"
        );
        // What was handed out is what the server keeps.
        let again = key_storm(&app, &guns[..5], role, 1).await;
        for (gun, key) in again {
            assert_eq!(keys[&gun], key, "{gun}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_ask_one_gun_for_its_key() {
    let app = TestApp::new().await;
    let guns = vec![GUN.to_owned()];
    for role in ["timestamp", "snapshot"] {
        let keys = key_storm(&app, &guns, role, 200).await;
        assert_eq!(keys[GUN].len(), 1, "200 clients at once get one {role} key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_racing_a_publish_leaves_a_usable_repository() {
    let app = TestApp::new().await;
    for round in 0..20 {
        let (repo, root, _) = initialised(&app).await;
        let t = repo.targets_file(3, json!({"x": kit::target(b"x")}));
        let s = repo.snapshot_file(3, &[("root", &root), ("targets", &t)]);
        let (ct, body) = multipart(&[("targets", &t), ("snapshot", &s)]);
        let path = format!("/v2/{GUN}/_trust/tuf/");
        let responses = all_at_once(
            &app,
            vec![
                (Method::POST, path.clone(), Some(ct), body),
                (Method::DELETE, path, None, Vec::new()),
            ],
        )
        .await;
        assert!(
            [StatusCode::OK, StatusCode::BAD_REQUEST].contains(&responses[0].status),
            "round {round}: publish got {} {}",
            responses[0].status,
            responses[0].text()
        );
        assert_eq!(responses[1].status, StatusCode::OK, "round {round}: delete");
        // Whatever the order, the repository is either gone or whole: never half there.
        let ts = app
            .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.json"))
            .await;
        let targets = app.get(&format!("/v2/{GUN}/_trust/tuf/targets.json")).await;
        assert!(
            (ts.status, targets.status) == (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
                || (ts.status, targets.status) == (StatusCode::OK, StatusCode::OK),
            "round {round}: timestamp {} targets {}",
            ts.status,
            targets.status
        );
        let r = app
            .request(
                Method::DELETE,
                &format!("/v2/{GUN}/_trust/tuf/"),
                None,
                Vec::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
}
