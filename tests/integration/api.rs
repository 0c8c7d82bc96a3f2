//! Routes, status codes, headers and the error envelope, including hostile requests.

use axum::http::{Method, StatusCode};

use crate::{TestApp, GUN};

#[tokio::test]
async fn base_health_and_unknown_routes() {
    let app = TestApp::new().await;
    let r = app.get("/v2/").await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &b"{}"[..]));
    let r = app.get("/_notary_server/health").await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &b"{}"[..]));
    let r = app.get("/nothing/here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "METADATA_NOT_FOUND");
    assert!(
        r.json()["errors"][0].get("detail").is_none(),
        "no detail on an unrouted path"
    );
    assert!(r.body.ends_with(b"\n"));
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    let r = app.request(Method::PATCH, "/v2/", None, vec![]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.body.is_empty());
    let r = app.get(&format!("/v2/{GUN}/_trust/tuf/root.json")).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "an unknown GUN's root is 404, so clients init"
    );
    assert_eq!(r.json()["errors"][0]["detail"], serde_json::json!({}));
    let r = app.get("/v2/a/../b/_trust/tuf/root.json").await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers["location"], "/v2/b/_trust/tuf/root.json");
    let r = app
        .request(
            Method::HEAD,
            &format!("/v2/{GUN}/_trust/tuf/root.json"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn keys_are_stable_per_gun_and_rotate() {
    let app = TestApp::new().await;
    let first = app.server_key(GUN, "timestamp").await;
    assert_eq!(
        app.server_key(GUN, "timestamp").await,
        first,
        "one pending key per GUN and role"
    );
    assert_ne!(
        app.server_key("example.com/other", "timestamp").await,
        first,
        "keys are per GUN"
    );
    let r = app
        .get(&format!("/v2/{GUN}/_trust/tuf/timestamp.key"))
        .await;
    let text = String::from_utf8(r.body).expect("utf-8");
    assert!(
        text.starts_with("{\"keytype\":\"ed25519\",\"keyval\":{\"public\":"),
        "{text}"
    );
    assert!(text.ends_with(",\"private\":null}}"), "{text}");
    let r = app
        .request(
            Method::POST,
            &format!("/v2/{GUN}/_trust/tuf/timestamp.key"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(
        r.json()["keyval"]["public"],
        first["keyval"]["public"],
        "rotation makes a new key"
    );
    assert_eq!(
        app.get(&format!("/v2/{GUN}/_trust/tuf/root.key"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn changefeed_parameters() {
    let app = TestApp::new().await;
    let r = app.get("/v2/_trust/changefeed").await;
    assert_eq!(r.error_code(), "INVALID_PARAMETERS");
    let r = app.get("/v2/_trust/changefeed?records=x").await;
    assert_eq!(r.error_code(), "INVALID_PARAMETERS");
    let r = app
        .get("/v2/_trust/changefeed?records=10&change_id=x")
        .await;
    assert_eq!(r.error_code(), "INVALID_PARAMETERS");
    let r = app.get("/v2/_trust/changefeed?records=-5").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({"count": 0, "records": []}));
}

#[tokio::test]
async fn delete_of_unknown_gun_is_ok() {
    let app = TestApp::new().await;
    let r = app
        .request(
            Method::DELETE,
            &format!("/v2/{GUN}/_trust/tuf/"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    let feed = app.get("/v2/_trust/changefeed?records=10").await.json();
    assert_eq!(feed["count"], 0, "deleting nothing records nothing");
}

/// `/metrics` counts requests by route and status, updates by result and reason, and shows the
/// pool; it is plain Prometheus text.
#[tokio::test]
async fn metrics_count_requests_updates_and_the_pool() {
    let app = crate::TestApp::new().await;
    let _ = crate::initialised(&app).await;
    let garbage = app
        .publish(crate::GUN, &[("targets", b"{not json".as_slice())])
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    let ts = app
        .get(&format!("/v2/{}/_trust/tuf/timestamp.json", crate::GUN))
        .await;
    assert_eq!(ts.status, StatusCode::OK);
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain; version=0.0.4"));
    let text = metrics.text();
    for line in [
        "notarium_http_requests_total{route=\"GetRole\",status=\"200\"} 1",
        "notarium_http_requests_total{route=\"UpdateTUF\",status=\"200\"} 1",
        "notarium_http_requests_total{route=\"UpdateTUF\",status=\"400\"} 1",
        "notarium_updates_total{reason=\"\",result=\"accepted\"} 1",
        "notarium_updates_total{reason=\"MALFORMED_JSON\",result=\"rejected\"} 1",
        "notarium_http_request_duration_seconds_count{route=\"GetRole\"} 1",
    ] {
        assert!(text.contains(line), "metrics lack {line:?}:\n{text}");
    }
    assert!(
        text.contains("notarium_db_pool_connections{state=\"open\"}"),
        "{text}"
    );
}

/// Every answer carries a request ID: the caller's when it is a plain token, else a new one.
#[tokio::test]
async fn answers_carry_a_request_id() {
    let app = crate::TestApp::new().await;
    let ask = |id: Option<&'static str>| {
        let router = app.router.clone();
        async move {
            let mut builder = axum::http::Request::builder().uri("/v2/");
            if let Some(id) = id {
                builder = builder.header("x-request-id", id);
            }
            let request = builder.body(axum::body::Body::empty()).expect("request");
            let r = crate::send_request(router, request).await;
            r.headers["x-request-id"]
                .to_str()
                .expect("ascii")
                .to_owned()
        }
    };
    assert_eq!(ask(Some("proxy-42.a")).await, "proxy-42.a");
    let fresh = ask(None).await;
    assert_eq!(fresh.len(), 16, "{fresh}");
    assert!(fresh.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(ask(None).await, fresh, "a new ID per request");
    let replaced = ask(Some("has space")).await;
    assert_ne!(replaced, "has space", "only plain tokens are kept");
}

/// A server failure is 500 with notary's code for the operation, `UPDATING` while applying an
/// update and `UNKNOWN` for everything else (notary server/handlers/default.go), and its cause
/// stays in the log: the body is notary's envelope and nothing more.
#[tokio::test]
async fn storage_failures_are_updating_in_updates_and_unknown_elsewhere() {
    let app = crate::TestApp::new().await;
    let (_, _, targets) = crate::initialised(&app).await;
    // The files and the changefeed vanish under the running server.
    rusqlite::Connection::open(app.database())
        .expect("open")
        .execute_batch(
            "ALTER TABLE tuf_files RENAME TO gone_files;
             ALTER TABLE changefeed RENAME TO gone_changes;",
        )
        .expect("rename");
    let unknown = r#"{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}"#;
    let updating = r#"{"errors":[{"code":"UPDATING","message":"An error has occurred while updating the TUF repository."}]}"#;
    let cases = [
        (
            "update",
            app.publish(GUN, &[("targets", &targets)]).await,
            updating,
        ),
        (
            "role by version",
            app.get(&format!("/v2/{GUN}/_trust/tuf/1.root.json")).await,
            unknown,
        ),
        (
            "current role",
            app.get("/v2/example.com/org/other/_trust/tuf/root.json")
                .await,
            unknown,
        ),
        (
            "server key",
            app.get("/v2/example.com/org/other/_trust/tuf/timestamp.key")
                .await,
            unknown,
        ),
        (
            "changefeed",
            app.get("/v2/_trust/changefeed?records=10").await,
            unknown,
        ),
        (
            "delete",
            app.request(
                Method::DELETE,
                &format!("/v2/{GUN}/_trust/tuf/"),
                None,
                vec![],
            )
            .await,
            unknown,
        ),
    ];
    for (what, r, body) in cases {
        assert_eq!(
            (r.status, r.text().trim_end()),
            (StatusCode::INTERNAL_SERVER_ERROR, body),
            "{what}"
        );
    }
}

/// notary creates the key on the first `GET …/timestamp.key` of a repository nobody has
/// published (GetKeyHandler → GetOrCreateTimestampKey): never a 404.
#[tokio::test]
async fn a_key_of_an_unknown_repository_is_created_not_missing() {
    let app = crate::TestApp::new().await;
    for role in ["timestamp", "snapshot"] {
        let r = app
            .get(&format!("/v2/example.com/org/new/_trust/tuf/{role}.key"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{role}: {}", r.text());
        assert!(r.json()["keyval"]["public"].is_string(), "{role}");
    }
}

/// Every log line of this test binary at `ERROR`, kept in memory (set once, for the process:
/// the store writes from its own thread, which a thread-local subscriber would not see).
fn error_log() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOG: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> =
        std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static std::sync::Mutex<Vec<u8>> =
            Box::leak(Box::new(std::sync::Mutex::new(Vec::new())));
        struct Sink(&'static std::sync::Mutex<Vec<u8>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("log").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::ERROR)
            .with_ansi(false)
            .with_writer(move || Sink(log))
            .init();
        log
    })
}

/// A commit that fails is logged once, by the request that answers it, with the whole chain
/// of causes down to the database's message; the client sees none of it.
#[tokio::test]
async fn a_failed_commit_is_logged_once_with_its_causes() {
    let log = error_log();
    let app = crate::TestApp::new().await;
    let (repo, root, _) = crate::initialised(&app).await;
    rusqlite::Connection::open(app.database())
        .expect("open")
        .execute_batch(
            // Not a constraint (that would be a version conflict): a table that is not there.
            "CREATE TRIGGER refuse BEFORE INSERT ON tuf_files
             BEGIN INSERT INTO fire_7f3a VALUES (1); END;",
        )
        .expect("trigger");
    let targets = repo.targets_file(3, serde_json::json!({}));
    let snapshot = repo.snapshot_file(3, &[("root", &root), ("targets", &targets)]);
    let r = app
        .publish(GUN, &[("targets", &targets), ("snapshot", &snapshot)])
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    assert_eq!(r.error_code(), "UPDATING");
    assert!(!r.text().contains("fire_7f3a"), "{}", r.text());
    let text = String::from_utf8(log.lock().expect("log").clone()).expect("utf-8");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("fire_7f3a")).collect();
    assert_eq!(lines.len(), 1, "one line for one failure: {lines:#?}");
    assert!(
        lines[0].contains("UPDATING")
            && lines[0].contains(
                "the update could not be applied: storage failed: the group commit failed: \
                 database error: no such table: main.fire_7f3a"
            ),
        "{}",
        lines[0]
    );
}
