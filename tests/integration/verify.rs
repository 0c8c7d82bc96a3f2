//! `POST /v1/verify` on `serve --policy`: verdicts on the local store, the decision cache
//! invalidated by a publish, a policy replaced at run time, hostile bodies.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::kit;
use crate::{initialised, TestApp, GUN};

pub(crate) async fn app_with_policy(yaml: &str) -> (TestApp, std::path::PathBuf) {
    let app = TestApp::new().await;
    let path = app.dir.path().join("policy.yaml");
    std::fs::write(&path, yaml).expect("policy written");
    let mut config = TestApp::config_on(app.dir.path());
    config.policy = Some(path.clone());
    let state = notarium::cli::serve::build_state(
        &config,
        std::sync::Arc::new(notarium::clock::SystemClock),
    )
    .await
    .expect("state with a policy");
    (
        TestApp {
            router: notarium::router(state),
            dir: app.dir,
        },
        path,
    )
}

/// Publishes top-level targets `version` listing `tags` (name → content), with a snapshot.
pub(crate) async fn publish_targets(
    app: &TestApp,
    repo: &kit::Repo,
    root: &[u8],
    version: u64,
    tags: Value,
) {
    let targets = repo.targets_file(version, tags);
    let snapshot = repo.snapshot_file(version, &[("root", root), ("targets", &targets)]);
    let r = app
        .publish(GUN, &[("targets", &targets), ("snapshot", &snapshot)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn verify(app: &TestApp, images: &[&str]) -> Vec<Value> {
    let body = json!({ "images": images }).to_string().into_bytes();
    let r = app
        .request(Method::POST, "/v1/verify", Some("application/json"), body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["results"].as_array().expect("results").clone()
}

const TOFU: &str = "rules:\n  - match: \"example.com/**\"\n    root:\n      tofu: true\n";

#[tokio::test]
async fn verdicts_follow_publishes_at_once() {
    let (app, _) = app_with_policy(TOFU).await;
    let (repo, root, _) = initialised(&app).await;
    let image = format!("{GUN}:v1");
    let results = verify(&app, &[&image]).await;
    assert_eq!(results[0]["allowed"], false, "{results:?}");
    assert!(results[0]["reasons"][0]
        .as_str()
        .unwrap_or("")
        .contains("is not signed"));

    // Publish v1: the cached denial must not survive the new timestamp.
    let content = b"image manifest v1";
    publish_targets(&app, &repo, &root, 3, json!({ "v1": kit::target(content) })).await;
    let results = verify(&app, &[&image, &format!("{GUN}:nope"), "not a reference"]).await;
    let digest = format!("sha256:{}", notarium::storage::sha256_hex(content));
    assert_eq!(results[0]["allowed"], true, "{results:?}");
    assert_eq!(results[0]["digest"], digest.as_str());
    assert_eq!(results[0]["pinned"], format!("{image}@{digest}").as_str());
    assert_eq!(results[0]["signers"][0]["role"], "targets");
    assert!(results[0]["expires"].is_string());
    assert_eq!(results[1]["allowed"], false);
    assert_eq!(results[2]["allowed"], false);
    assert!(results[2]["reasons"][0]
        .as_str()
        .unwrap_or("")
        .contains("invalid image reference"));

    // Revoke it: the cached allow goes with the next timestamp.
    publish_targets(&app, &repo, &root, 4, json!({})).await;
    let results = verify(&app, &[&image]).await;
    assert_eq!(results[0]["allowed"], false, "{results:?}");
}

#[tokio::test]
async fn a_pin_that_does_not_match_denies_and_no_rule_denies() {
    let pinned = format!(
        "rules:\n  - match: \"example.com/org/*\"\n    root:\n      keys: [\"{}\"]\n",
        "ab".repeat(32)
    );
    let (app, _) = app_with_policy(&pinned).await;
    initialised(&app).await;
    let results = verify(&app, &[&format!("{GUN}:v1"), "other.example/x:1"]).await;
    assert_eq!(results[0]["allowed"], false);
    assert!(
        results[0]["reasons"][0]
            .as_str()
            .unwrap_or("")
            .contains("pinned root key"),
        "{results:?}"
    );
    assert!(results[1]["reasons"][0]
        .as_str()
        .unwrap_or("")
        .contains("no rule"));
}

#[tokio::test]
async fn hostile_bodies_get_notarys_envelope() {
    let (app, _) = app_with_policy(TOFU).await;
    for (body, code) in [
        (b"{".to_vec(), "MALFORMED_JSON"),
        (br#"{"images": "x"}"#.to_vec(), "MALFORMED_JSON"),
        (br#"{"images": [], "extra": 1}"#.to_vec(), "MALFORMED_JSON"),
        (br#"{"images": []}"#.to_vec(), "INVALID_PARAMETERS"),
        (
            json!({ "images": vec!["a"; 257] }).to_string().into_bytes(),
            "INVALID_PARAMETERS",
        ),
        (
            json!({ "images": ["a".repeat(600)] })
                .to_string()
                .into_bytes(),
            "INVALID_PARAMETERS",
        ),
    ] {
        let r = app
            .request(Method::POST, "/v1/verify", Some("application/json"), body)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert_eq!(r.error_code(), code, "{}", r.text());
    }
    let huge = vec![b' '; 300 * 1024];
    let r = app
        .request(Method::POST, "/v1/verify", Some("application/json"), huge)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
}

#[tokio::test]
async fn without_a_policy_there_is_no_such_route() {
    let app = TestApp::new().await;
    let r = app
        .request(
            Method::POST,
            "/v1/verify",
            Some("application/json"),
            br#"{"images":["a"]}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
}

#[tokio::test]
async fn a_policy_that_does_not_load_stops_serve_with_the_reason() {
    let app = TestApp::new().await;
    let path = app.dir.path().join("bad.yaml");
    std::fs::write(&path, "rules:\n  - match: \"a/*\"\n    threshold: 2\n").expect("written");
    let mut config = TestApp::config_on(app.dir.path());
    config.policy = Some(path);
    let e = notarium::cli::serve::build_state(
        &config,
        std::sync::Arc::new(notarium::clock::SystemClock),
    )
    .await
    .expect_err("a bad policy is refused at start");
    assert!(e.to_string().contains("bad.yaml"), "{e}");
}
