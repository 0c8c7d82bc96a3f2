//! Integration tests: the whole application over `Router::oneshot`, a real SQLite file, and
//! metadata signed by a kit independent of the server's TUF code.

mod api;
mod kit;
mod update;

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

    /// The same database and keys served with another clock, as after a restart.
    pub async fn with_clock(&self, clock: Arc<dyn Clock>) -> TestApp {
        let router = TestApp::router_on(self.dir.path(), clock).await;
        let dir = tempfile::tempdir().expect("tempdir");
        TestApp { router, dir }
    }

    async fn router_on(dir: &std::path::Path, clock: Arc<dyn Clock>) -> Router {
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.to_owned(),
            database_url: format!("sqlite://{}", dir.join("test.db").display()),
            transport: Transport::Plain,
            kek: KekSource::Inline(base64::engine::general_purpose::STANDARD.encode([9u8; 32])),
            log_format: LogFormat::Human,
            cache: CacheConfig::default(),
        };
        let state = notarium::cli::serve::build_state(&config, clock)
            .await
            .expect("application state");
        notarium::router(state)
    }

    pub async fn request(
        &self,
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
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
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

    /// Every role of a GUN at every version 1..=20, for before/after comparisons.
    pub async fn dump(&self, gun: &str) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for role in [
            "root",
            "targets",
            "snapshot",
            "timestamp",
            "targets/releases",
        ] {
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
