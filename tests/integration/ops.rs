//! Operations: what a panic of the SQLite writer thread does to writes and to the health
//! check; what the real `serve` logs at start, and its generated certificate re-issued for new
//! names.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use base64::Engine as _;

use notarium::clock::{SharedClock, SystemClock};
use notarium::service::Repos;
use notarium::signing::{Kek, ServerKeys};
use notarium::storage::sqlite::SqliteStore;
use notarium::storage::SharedStore;

use crate::kit::Repo;
use crate::{TestApp, GUN};

/// An application on a fresh database whose SQLite store the test also holds.
async fn app_with_store() -> (TestApp, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TestApp::config_on(dir.path());
    let clock: SharedClock = Arc::new(SystemClock);
    let mut state = notarium::cli::serve::build_state(&config, Arc::clone(&clock))
        .await
        .expect("application state");
    let store = Arc::new(
        SqliteStore::open(&config.database_url)
            .await
            .expect("open the store"),
    );
    let shared: SharedStore = store.clone();
    let kek = Kek::from_base64(&base64::engine::general_purpose::STANDARD.encode([9u8; 32]))
        .expect("kek");
    let keys = ServerKeys::new(Arc::clone(&shared), kek, Arc::clone(&clock));
    state.repos = Arc::new(Repos::new(shared, keys, clock));
    let app = TestApp {
        router: notarium::router(state),
        dir,
    };
    (app, store)
}

#[tokio::test]
async fn a_writer_panic_refuses_writes_and_turns_health_red() {
    let (app, store) = app_with_store().await;
    assert_eq!(
        app.get("/_notary_server/health").await.status,
        StatusCode::OK
    );
    // Fetching the timestamp key writes it; done before the panic is armed.
    let repo = Repo::new(GUN, app.server_key(GUN, "timestamp").await);
    let root = repo.root_file(1);
    let targets = repo.targets_file(2, serde_json::json!({}));
    let snapshot = repo.snapshot_file(2, &[("root", &root), ("targets", &targets)]);
    let parts: [(&str, &[u8]); 3] = [
        ("root", &root),
        ("targets", &targets),
        ("snapshot", &snapshot),
    ];

    store.panic_in_next_write();
    let r = app.publish(GUN, &parts).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    assert!(
        !r.error_code().is_empty(),
        "notary's error envelope: {}",
        r.text()
    );
    assert!(
        app.dump(GUN).await.is_empty(),
        "the panicked transaction was rolled back"
    );

    let health = app.get("/_notary_server/health").await;
    assert_eq!(
        health.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        health.text()
    );
    assert!(
        health.json()["DB operational"].is_string(),
        "{}",
        health.text()
    );

    // Later writes are refused at once rather than hanging; reads still answer.
    let again = tokio::time::timeout(Duration::from_secs(10), app.publish(GUN, &parts))
        .await
        .expect("refused without waiting");
    assert_eq!(
        again.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        again.text()
    );
    let delete = app
        .request(
            Method::DELETE,
            &format!("/v2/{GUN}/_trust/tuf/"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(
        delete.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        delete.text()
    );
    let read = app.get(&format!("/v2/{GUN}/_trust/tuf/root.json")).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.text());
    assert_eq!(
        app.get("/_notary_server/health").await.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the writer stays stopped"
    );
}

/// Runs `notarium serve` with `args` and `env` (no other `NOTARIUM_*` variable), and returns
/// its log once a line contains `until` or the process ends (then stopped, either way).
fn serve_log(args: &[&str], env: &[(&str, &str)], until: &str) -> String {
    use std::io::BufRead as _;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_notarium"));
    for (name, _) in std::env::vars() {
        if name.starts_with("NOTARIUM_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env(
            "NOTARIUM_KEY_ENCRYPTION_KEY",
            base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
        )
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start notarium");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match received.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if line.contains(until) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

fn free_loopback() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    format!("127.0.0.1:{port}")
}

#[test]
fn the_start_up_log_names_the_storage_without_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("n.db");
    let data = dir.path().to_str().expect("utf-8 path");
    let addr = free_loopback();
    let url = format!("sqlite://{}", db.display());
    let log = serve_log(
        &[
            "--plain-http",
            "--listen",
            &addr,
            "--data-dir",
            data,
            "--database-url",
            &url,
        ],
        &[],
        "serving on",
    );
    assert!(
        log.contains(&format!("storage: sqlite at {}", db.display())),
        "{log}"
    );
    assert!(log.contains("serving on"), "{log}");
    assert!(
        !log.contains("WARN"),
        "nothing to warn of on loopback: {log}"
    );

    // The environment beats the file; the URL's password shows nowhere, though the database
    // cannot be reached and the start fails.
    let file = dir.path().join("notarium.toml");
    std::fs::write(&file, format!("database_url = \"{url}\"\n")).expect("config");
    let postgres = "postgres://notarium:s3cret-pw@127.0.0.1:1/trust?password=other-secret";
    let log = serve_log(
        &[
            "--listen",
            &addr,
            "--data-dir",
            data,
            "--database-acquire-timeout",
            "1",
        ],
        &[
            ("NOTARIUM_CONFIG", file.to_str().expect("utf-8 path")),
            ("NOTARIUM_DATABASE_URL", postgres),
        ],
        "could not open database",
    );
    assert!(
        log.contains("storage: postgres at 127.0.0.1:1/trust"),
        "{log}"
    );
    assert!(!log.contains("s3cret-pw"), "{log}");
}

#[test]
fn new_certificate_names_reissue_from_the_same_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let addr = free_loopback();
    let log = serve_log(&["--listen", &addr, "--data-dir", data], &[], "serving on");
    assert!(log.contains("generated a local CA"), "{log}");
    let ca = std::fs::read(dir.path().join("tls/ca.crt")).expect("ca.crt");
    let first = std::fs::read(dir.path().join("tls/server.crt")).expect("server.crt");

    let log = serve_log(
        &["--listen", &addr, "--data-dir", data],
        &[("NOTARIUM_TLS_SAN", "notary.example.com,192.0.2.7")],
        "serving on",
    );
    assert!(log.contains("re-issued the server certificate"), "{log}");
    assert!(log.contains("notary.example.com, 192.0.2.7"), "{log}");
    assert!(log.contains("serving on"), "{log}");
    assert_eq!(
        std::fs::read(dir.path().join("tls/ca.crt")).expect("ca"),
        ca
    );
    assert_ne!(
        std::fs::read(dir.path().join("tls/server.crt")).expect("server.crt"),
        first
    );

    let log = serve_log(
        &[
            "--listen",
            &addr,
            "--data-dir",
            data,
            "--tls-san",
            "notary.example.com",
        ],
        &[],
        "serving on",
    );
    assert!(
        !log.contains("re-issued"),
        "covered names issue nothing: {log}"
    );
}
