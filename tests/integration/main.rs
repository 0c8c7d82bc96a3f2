//! Integration tests: the whole application over `Router::oneshot`, a real SQLite file, and
//! metadata signed by a kit independent of the server's TUF code.
//!
//! - `api`: routes, headers, keys, the changefeed;
//! - `auth`: token authentication, challenges and scopes;
//! - `update`: client flows that must be accepted;
//! - `attacks`: every refused update, each leaving the stored state byte-identical;
//! - `races`: parallel publishes and key requests on a multi-threaded runtime;
//! - `resources`: the upload budget, and connection slots under a flood of silent sockets;
//! - `deploy`: the Kubernetes manifests, read into their `k8s-openapi` types, and their invariants;
//! - `crash`: the real binary killed with SIGKILL in the middle of publishes;
//! - `ops`: a panic of the SQLite writer, and what `serve` logs at start;
//! - `remote`: the remote trust source reading from a served Notarium and from doctored files;
//! - `storage`: the storage contract on SQLite and on PostgreSQL.

mod admission;
mod api;
mod attacks;
mod auth;
mod crash;
mod deploy;
mod kit;
mod ops;
mod races;
mod remote;
mod resources;
mod storage;
mod update;
mod verify;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use notarium::clock::{Clock, SystemClock};
use notarium::config::{Config, KekSource, LogFormat, Transport};
use notarium::http::CacheConfig;

/// A running application on a fresh database.
pub struct TestApp {
    pub router: Router,
    dir: tempfile::TempDir,
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text, for assertion messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The notary error code of an error envelope.
    pub fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

impl TestApp {
    pub async fn new() -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let router = TestApp::router_on(dir.path(), Arc::new(SystemClock)).await;
        TestApp { router, dir }
    }

    /// The SQLite file the application stores in, for tests that break it under the server.
    pub fn database(&self) -> std::path::PathBuf {
        self.dir.path().join("test.db")
    }

    /// The same database and keys served with another clock, as after a restart.
    pub async fn with_clock(&self, clock: Arc<dyn Clock>) -> TestApp {
        let router = TestApp::router_on(self.dir.path(), clock).await;
        let dir = tempfile::tempdir().expect("tempdir");
        TestApp { router, dir }
    }

    /// The application state on the same database and keys, with another clock.
    pub async fn state_with_clock(&self, clock: Arc<dyn Clock>) -> notarium::AppState {
        notarium::cli::serve::build_state(&TestApp::config_on(self.dir.path()), clock)
            .await
            .expect("application state")
    }

    async fn router_on(dir: &std::path::Path, clock: Arc<dyn Clock>) -> Router {
        let state = notarium::cli::serve::build_state(&TestApp::config_on(dir), clock)
            .await
            .expect("application state");
        notarium::router(state)
    }

    /// The configuration every in-process test app starts from: SQLite in `dir`, plain HTTP,
    /// a fixed KEK, no authentication.
    pub fn config_on(dir: &std::path::Path) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.to_owned(),
            database_url: format!("sqlite://{}", dir.join("test.db").display()),
            pool: notarium::storage::PoolSettings::default(),
            transport: Transport::Plain,
            kek: KekSource::Inline(base64::engine::general_purpose::STANDARD.encode([9u8; 32])),
            log_format: LogFormat::Human,
            cache: CacheConfig::default(),
            auth: None,
            auth_users: None,
            renew_interval: std::time::Duration::ZERO,
            tls_san: Vec::new(),
            upload_budget: notarium::http::upload_budget::DEFAULT_UPLOAD_BUDGET,
            policy: None,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> TestResponse {
        send(self.router.clone(), method, path, content_type, body).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, None, Vec::new()).await
    }

    /// `POST /v2/{gun}/_trust/tuf/` with one part per (filename, bytes).
    pub async fn publish(&self, gun: &str, parts: &[(&str, &[u8])]) -> TestResponse {
        let (content_type, body) = multipart(parts);
        self.request(
            Method::POST,
            &format!("/v2/{gun}/_trust/tuf/"),
            Some(&content_type),
            body,
        )
        .await
    }

    /// `GET …/timestamp.key` (or snapshot.key) as metadata key JSON.
    pub async fn server_key(&self, gun: &str, role: &str) -> Value {
        let response = self.get(&format!("/v2/{gun}/_trust/tuf/{role}.key")).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{role}.key: {:?}",
            response
        );
        let key = response.json();
        kit::key_json(
            key["keytype"].as_str().expect("keytype"),
            key["keyval"]["public"].as_str().expect("public"),
        )
    }

    /// Every role of a GUN at every version 1..=20, and the current file of each, for
    /// before/after comparisons.
    pub async fn dump(&self, gun: &str) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for role in [
            "root",
            "targets",
            "snapshot",
            "timestamp",
            "targets/releases",
            "targets/a",
            "targets/a/b",
        ] {
            let r = self.get(&format!("/v2/{gun}/_trust/tuf/{role}.json")).await;
            if r.status == StatusCode::OK {
                out.push((format!("current {role}"), r.body));
            }
            for version in 1..=20 {
                let r = self
                    .get(&format!("/v2/{gun}/_trust/tuf/{version}.{role}.json"))
                    .await;
                if r.status == StatusCode::OK {
                    out.push((format!("{version}.{role}"), r.body));
                }
            }
        }
        out
    }
}

/// One request to a router, read whole (usable from spawned tasks).
pub async fn send(
    router: Router,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> TestResponse {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    let request = builder.body(Body::from(body)).expect("request");
    send_request(router, request).await
}

/// One prepared request to a router, read whole.
pub async fn send_request(router: Router, request: Request<Body>) -> TestResponse {
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    TestResponse {
        status,
        headers,
        body,
    }
}

/// The GUN most tests use.
pub const GUN: &str = "example.com/org/app";

/// A repository initialised as `notary init -p` does: root v1, targets v2, snapshot v2.
pub async fn initialised(app: &TestApp) -> (kit::Repo, Vec<u8>, Vec<u8>) {
    let timestamp = app.server_key(GUN, "timestamp").await;
    let repo = kit::Repo::new(GUN, timestamp);
    let root = repo.root_file(1);
    let targets = repo.targets_file(2, serde_json::json!({}));
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
    assert_eq!(r.status, StatusCode::OK, "init publish: {}", r.text());
    (repo, root, targets)
}

/// Asserts a 400 `INVALID_UPDATE` whose detail names the Go error `name` and whose message
/// mentions `needle`, small enough for the Go client to read whole.
pub fn assert_invalid(r: &TestResponse, name: &str, needle: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
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

/// Publishes `parts` to [`GUN`], asserts an `INVALID_UPDATE` rejection, and checks that every
/// stored role is byte-identical afterwards.
pub async fn rejected(app: &TestApp, parts: &[(&str, &[u8])], name: &str, needle: &str) {
    let before = app.dump(GUN).await;
    let r = app.publish(GUN, parts).await;
    assert_invalid(&r, name, needle);
    assert_eq!(
        app.dump(GUN).await,
        before,
        "a rejected update must change nothing"
    );
}

/// POSTs a raw body to [`GUN`]'s update route, asserts `status` and the notary error `code`,
/// and checks that nothing changed. Returns the response for further checks.
pub async fn refused(
    app: &TestApp,
    content_type: &str,
    body: Vec<u8>,
    status: StatusCode,
    code: &str,
) -> TestResponse {
    let before = app.dump(GUN).await;
    let r = app
        .request(
            Method::POST,
            &format!("/v2/{GUN}/_trust/tuf/"),
            Some(content_type),
            body,
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (status, code),
        "{}",
        r.text()
    );
    assert_eq!(
        app.dump(GUN).await,
        before,
        "a refused request must change nothing"
    );
    r
}

/// A multipart body as the Go client builds it.
pub fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
