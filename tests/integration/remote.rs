//! The remote trust source against a real Notarium over TLS (with and without its own token
//! service), and against a small in-test server that serves doctored files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use notarium::clock::SystemClock;
use notarium::policy::{RootTrust, Seen};
use notarium::remote::{CachedRepo, Credentials, Remote, RemoteConfig, RemoteError, TrustCache};
use notarium::tuf::role::RoleName;

use crate::kit::{self, Repo, TestKey};
use crate::{initialised, TestApp, GUN};

const SERVICE: &str = "notarium-remote-test";

/// A Notarium serving one data directory over TLS, and a router on the same directory
/// without authentication to publish through.
struct Served {
    app: TestApp,
    /// The router behind the socket (its own state and metrics).
    router: axum::Router,
    url: String,
    ca: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Holds an update at the socket when armed.
    gate: Gate,
}

/// Holds the next update (`POST …/_trust/tuf/`) that reaches the socket, once armed, until
/// the test releases it: what another publisher landing between a client's read and its
/// upload looks like, made to happen every time rather than by a race.
#[derive(Clone, Default)]
struct Gate {
    armed: Arc<std::sync::atomic::AtomicBool>,
    arrived: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

impl Gate {
    /// Holds an update when armed; answers at once otherwise.
    async fn hold(&self, update: bool) {
        if update && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.arrived.notify_one();
            self.release.notified().await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves a fresh data directory over TLS, with the fixture published when `fixture` is set;
/// with `users`, as its own token service for that htpasswd text. Without users, `app`
/// publishes through the served router itself; with them, the fixture is published before
/// the served state starts, so that no cache of it predates the fixture.
async fn served(users: Option<&str>, fixture: bool) -> (Served, Option<Published>) {
    let mut app = TestApp::new().await;
    let mut published = None;
    if users.is_some() && fixture {
        published = Some(publish(&app).await);
    }
    let listener = notarium::server::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let url = format!("https://127.0.0.1:{port}");
    let mut config = TestApp::config_on(app.dir.path());
    if let Some(users) = users {
        let file = app.dir.path().join("htpasswd");
        std::fs::write(&file, users).expect("htpasswd");
        config.auth_users = Some(notarium::config::BuiltInAuth {
            users: file,
            realm: Some(format!("{url}/auth/token")),
            service: SERVICE.to_owned(),
            issuer: SERVICE.to_owned(),
        });
    }
    let state = notarium::cli::serve::build_state(&config, Arc::new(SystemClock))
        .await
        .expect("state");
    let kek = notarium::signing::Kek::from_base64(&B64.encode([9u8; 32])).expect("kek");
    let names = notarium::tls::certificate_names(&[]);
    let (ca, _) = notarium::tls::LocalCa::ensure(app.dir.path(), &names, &kek).expect("local CA");
    let tls = notarium::tls::server_config(&ca.server_cert, &ca.server_key).expect("TLS");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = notarium::router(state);
    let gate = Gate::default();
    let held = gate.clone();
    let gated = router.clone().layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let held = held.clone();
            let update = request.method() == axum::http::Method::POST
                && request.uri().path().ends_with("/_trust/tuf/");
            async move {
                held.hold(update).await;
                next.run(request).await
            }
        },
    ));
    tokio::spawn(notarium::server::serve(listener, gated, Some(tls), async {
        let _ = stopped.await;
    }));
    if users.is_none() {
        app.router = router.clone();
        if fixture {
            published = Some(publish(&app).await);
        }
    }
    let served = Served {
        app,
        router,
        url,
        ca: ca.ca_cert,
        stop: Some(stop),
        gate,
    };
    (served, published)
}

impl Served {
    fn config(&self) -> RemoteConfig {
        RemoteConfig {
            server: self.url.clone(),
            ca: Some(self.ca.clone()),
            credentials: None,
            // An empty directory: the machine's own Docker config must not take part.
            docker_config: Some(self.app.dir.path().join("no-docker-config")),
            timeout: Duration::from_secs(20),
        }
    }

    fn remote(&self) -> Remote {
        Remote::new(self.config()).expect("remote")
    }

    /// Requests the server answered so far, by operation (metric label `route`) and by
    /// answer status (`status`).
    async fn requests(&self) -> HashMap<String, u64> {
        let metrics = crate::send(
            self.router.clone(),
            axum::http::Method::GET,
            "/metrics",
            None,
            Vec::new(),
        )
        .await
        .text();
        let mut counts = HashMap::new();
        for line in metrics.lines() {
            let Some(labels) = line.strip_prefix("notarium_http_requests_total{") else {
                continue;
            };
            let route = labels
                .split("route=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default();
            let count: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0.0);
            let status = labels
                .split("status=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default();
            *counts.entry(route.to_owned()).or_default() += count as u64;
            *counts.entry(format!("status {status}")).or_default() += count as u64;
        }
        counts
    }
}

/// What was published: roots 1 to 3, targets delegating `targets/releases`, and its file.
struct Published {
    repo: Repo,
    roots: Vec<Vec<u8>>,
    targets: Vec<u8>,
    releases: Vec<u8>,
    snapshot_version: u64,
}

impl Published {
    /// Publishes root `version` (same keys) with a new snapshot.
    async fn next_root(&mut self, app: &TestApp) {
        let version = self.roots.len() as u64 + 1;
        let root = self.repo.root_file(version);
        self.snapshot_version += 1;
        let snapshot = self.repo.snapshot_file(
            self.snapshot_version,
            &[
                ("root", &root),
                ("targets", &self.targets),
                ("targets/releases", &self.releases),
            ],
        );
        let r = app
            .publish(GUN, &[("root", &root), ("snapshot", &snapshot)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "root {version}: {}", r.text());
        self.roots.push(root);
    }
}

async fn publish(app: &TestApp) -> Published {
    let (repo, root1, targets2) = initialised(app).await;
    let mut roots = vec![root1];
    let mut snapshot_version = 2;
    for version in [2, 3] {
        let root = repo.root_file(version);
        snapshot_version += 1;
        let s = repo.snapshot_file(snapshot_version, &[("root", &root), ("targets", &targets2)]);
        let r = app.publish(GUN, &[("root", &root), ("snapshot", &s)]).await;
        assert_eq!(r.status, StatusCode::OK, "root {version}: {}", r.text());
        roots.push(root);
    }
    let root = roots.last().expect("root").clone();
    let releases_key = TestKey::ecdsa();
    let delegations = json!({
        "keys": {releases_key.id(): releases_key.public_json()},
        "roles": [{"keyids": [releases_key.id()], "name": "targets/releases", "paths": [""], "threshold": 1}],
    });
    let targets = kit::sign(
        &Repo::targets_signed(3, json!({}), delegations),
        &[&repo.targets],
    );
    snapshot_version += 1;
    let s = repo.snapshot_file(snapshot_version, &[("root", &root), ("targets", &targets)]);
    let r = app
        .publish(GUN, &[("targets", &targets), ("snapshot", &s)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "targets: {}", r.text());
    let releases = kit::sign(
        &Repo::targets_signed(
            1,
            json!({"v1": kit::target(b"image")}),
            json!({"keys": {}, "roles": []}),
        ),
        &[&releases_key],
    );
    snapshot_version += 1;
    let s = repo.snapshot_file(
        snapshot_version,
        &[
            ("root", &root),
            ("targets", &targets),
            ("targets/releases", &releases),
        ],
    );
    let r = app
        .publish(GUN, &[("targets/releases", &releases), ("snapshot", &s)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "releases: {}", r.text());
    Published {
        repo,
        roots,
        targets,
        releases,
        snapshot_version,
    }
}

/// The versions of root files.
fn versions(roots: &[bytes::Bytes]) -> Vec<u64> {
    roots
        .iter()
        .map(|r| {
            notarium::tuf::metadata::read_stored::<notarium::tuf::metadata::Root>(r)
                .expect("a root")
                .version
        })
        .collect()
}

fn wanted() -> Vec<RoleName> {
    vec![RoleName::releases()]
}

fn tofu() -> RootTrust {
    RootTrust {
        tofu: true,
        ..RootTrust::default()
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    use notarium::clock::Clock as _;
    SystemClock.now()
}

#[tokio::test]
async fn a_published_repository_is_read_whole_then_warm_from_the_cache() {
    let (server, published) = served(None, true).await;
    let mut published = published.expect("published");
    let remote = server.remote();

    // Cold: the whole root chain from 1, by version and checksum.
    let data = remote
        .fetch(GUN, &wanted(), &CachedRepo::default())
        .await
        .expect("fetch");
    assert_eq!(versions(&data.roots), [1, 2, 3], "the root chain from 1");
    assert!(data
        .roots
        .iter()
        .zip(&published.roots)
        .all(|(a, b)| a.as_ref() == b.as_slice()));
    assert_eq!(data.targets.as_ref(), published.targets.as_slice());
    assert_eq!(
        data.delegations
            .get(&RoleName::releases())
            .map(|b| b.as_ref()),
        Some(published.releases.as_slice())
    );
    let snapshot = server
        .app
        .get(&format!("/v2/{GUN}/_trust/tuf/snapshot.json"))
        .await;
    assert!(data.snapshot.as_ref() == snapshot.body.as_slice());
    let trusted = notarium::policy::verify(GUN, &tofu(), &data, &Seen::default(), now())
        .expect("what was read verifies");

    // Warm: the cache holds every file and the root; only the timestamp is downloaded.
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = TrustCache::new(dir.path().to_owned());
    cache.store(GUN, &trusted.seen, &data).expect("store");
    let cached = cache.load(GUN).expect("load");
    let before = server.requests().await;
    let warm = remote
        .fetch(GUN, &wanted(), &cached)
        .await
        .expect("warm fetch");
    let after = server.requests().await;
    let delta = |route: &str| {
        after.get(route).copied().unwrap_or(0) - before.get(route).copied().unwrap_or(0)
    };
    assert_eq!(
        (
            delta("GetRole"),
            delta("GetRoleByHash"),
            delta("GetRoleByVersion")
        ),
        (1, 0, 0),
        "a warm read downloads the timestamp only"
    );
    assert_eq!(versions(&warm.roots), [3], "the remembered root alone");
    assert!(warm.roots[0].as_ref() == published.roots[2].as_slice());
    assert!(warm.targets == data.targets);

    // Two rotations later: roots 4 and 5, the first by version, the newest by checksum.
    published.next_root(&server.app).await;
    published.next_root(&server.app).await;
    let before = server.requests().await;
    let rotated = remote
        .fetch(GUN, &wanted(), &cached)
        .await
        .expect("rotated fetch");
    let after = server.requests().await;
    let delta = |route: &str| {
        after.get(route).copied().unwrap_or(0) - before.get(route).copied().unwrap_or(0)
    };
    assert_eq!(
        versions(&rotated.roots),
        [4, 5],
        "from the remembered root's next version to the newest"
    );
    assert!(rotated.roots[1].as_ref() == published.roots[4].as_slice());
    assert_eq!(
        (
            delta("GetRole"),
            delta("GetRoleByHash"),
            delta("GetRoleByVersion")
        ),
        (1, 2, 1),
        "timestamp; snapshot and root 5 by checksum; root 4 by version; targets cached"
    );
    notarium::policy::verify(GUN, &tofu(), &rotated, &trusted.seen, now())
        .expect("the rotation verifies from the remembered root");
}

#[tokio::test]
async fn an_unknown_repository_is_not_found() {
    let (server, _) = served(None, false).await;
    let err = server
        .remote()
        .fetch(
            "example.com/nothing/here",
            &wanted(),
            &CachedRepo::default(),
        )
        .await
        .expect_err("nothing published");
    assert!(
        matches!(&err, RemoteError::NotFound(gun) if gun == "example.com/nothing/here"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unlisted_delegation_is_simply_absent() {
    let (server, _) = served(None, false).await;
    let _ = initialised(&server.app).await;
    let data = server
        .remote()
        .fetch(GUN, &wanted(), &CachedRepo::default())
        .await
        .expect("fetch");
    assert!(data.delegations.is_empty());
    assert_eq!(data.roots.len(), 1);
}

#[tokio::test]
async fn a_server_outside_the_ca_bundle_is_refused() {
    let (server, _) = served(None, false).await;
    let other = tempfile::tempdir().expect("tempdir");
    let kek = notarium::signing::Kek::from_base64(&B64.encode([7u8; 32])).expect("kek");
    let (ca, _) =
        notarium::tls::LocalCa::ensure(other.path(), &notarium::tls::certificate_names(&[]), &kek)
            .expect("another CA");
    let remote = Remote::new(RemoteConfig {
        ca: Some(ca.ca_cert),
        ..server.config()
    })
    .expect("remote");
    let err = remote
        .fetch(GUN, &wanted(), &CachedRepo::default())
        .await
        .expect_err("untrusted certificate");
    assert!(matches!(err, RemoteError::Fetch(_)), "{err:?}");
    assert!(err.to_string().contains("timestamp.json"), "{err}");
}

// --- Token auth against Notarium's own token service ---------------------------------------

/// A served Notarium with user `alice` (password `s3cret`) and the fixture published.
async fn with_users() -> (Served, Published) {
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let (server, published) = served(Some(&format!("alice:{hash}\n")), true).await;
    (server, published.expect("published"))
}

fn alice(password: &str) -> Credentials {
    Credentials {
        username: "alice".to_owned(),
        password: zeroize::Zeroizing::new(password.to_owned()),
    }
}

#[tokio::test]
async fn token_auth_with_explicit_credentials_and_with_a_docker_config() {
    let (server, published) = with_users().await;

    // Explicit credentials, as from NOTARY_AUTH or flags.
    let remote = Remote::new(RemoteConfig {
        credentials: Some(alice("s3cret")),
        ..server.config()
    })
    .expect("remote");
    let data = remote
        .fetch(GUN, &wanted(), &CachedRepo::default())
        .await
        .expect("fetch with explicit credentials");
    assert!(data.targets.as_ref() == published.targets.as_slice());
    // The token is kept: a second read sends it at once and meets no challenge.
    let before = server.requests().await;
    remote
        .fetch(GUN, &wanted(), &CachedRepo::default())
        .await
        .expect("second fetch with the kept token");
    let after = server.requests().await;
    let delta =
        |key: &str| after.get(key).copied().unwrap_or(0) - before.get(key).copied().unwrap_or(0);
    assert_eq!(
        (delta("status 401"), delta("status 200")),
        (0, 7),
        "timestamp, snapshot, root 3 by checksum, roots 1 and 2, targets, releases; no challenge"
    );

    // A Docker config.json keyed by the trust server's host:port.
    let docker = tempfile::tempdir().expect("tempdir");
    let host = server.url.trim_start_matches("https://");
    std::fs::write(
        docker.path().join("config.json"),
        json!({"auths": {(format!("https://{host}")): {"auth": B64.encode("alice:s3cret")}}})
            .to_string(),
    )
    .expect("config.json");
    let remote = Remote::new(RemoteConfig {
        docker_config: Some(docker.path().to_owned()),
        ..server.config()
    })
    .expect("remote");
    let data = remote
        .fetch(GUN, &wanted(), &CachedRepo::default())
        .await
        .expect("fetch with Docker config credentials");
    assert_eq!(data.roots.len(), 3);
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_clear_errors_without_the_password() {
    let (server, _) = with_users().await;
    let remote = Remote::new(RemoteConfig {
        credentials: Some(alice("not-the-password")),
        ..server.config()
    })
    .expect("remote");
    let err = remote
        .fetch(GUN, &wanted(), &CachedRepo::default())
        .await
        .expect_err("wrong password");
    let text = err.to_string();
    assert!(matches!(err, RemoteError::Fetch(_)), "{err:?}");
    assert!(
        text.contains("refused") && text.contains("\"alice\"") && text.contains("/auth/token"),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");

    let err = server
        .remote()
        .fetch(GUN, &wanted(), &CachedRepo::default())
        .await
        .expect_err("no credentials");
    let text = err.to_string();
    assert!(
        text.contains("401") && text.contains("no credentials were found"),
        "{text}"
    );
}

// --- Doctored files ----------------------------------------------------------------------

/// A plain-HTTP server answering each path from `files` (404 otherwise), recording paths.
async fn doctored(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    doctored_behind(files, None).await
}

/// [`doctored`], answering only requests with `Authorization: {basic}` when given, and
/// others with a 401 and a `Basic` challenge.
async fn doctored_behind(
    files: HashMap<String, Vec<u8>>,
    basic: Option<String>,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let basic = Arc::new(basic);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let files = Arc::new(files);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let files = Arc::clone(&files);
            let log = Arc::clone(&log);
            let basic = Arc::clone(&basic);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                log.lock().expect("log").push(path.clone());
                let authorized = basic.as_deref().is_none_or(|expected| {
                    head.lines().any(|line| {
                        line.split_once(':').is_some_and(|(name, value)| {
                            name.eq_ignore_ascii_case("authorization") && value.trim() == expected
                        })
                    })
                });
                let (status, body) = match files.get(&path) {
                    _ if !authorized => (
                        "401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"doctored, test\"",
                        Vec::new(),
                    ),
                    Some(body) => ("200 OK", body.clone()),
                    None => (
                        "404 Not Found",
                        b"{\"errors\":[{\"code\":\"METADATA_NOT_FOUND\",\"message\":\"nothing\"}]}"
                            .to_vec(),
                    ),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    (base, seen)
}

/// A timestamp listing `snapshot` (by sha256 and `length`).
fn timestamp_listing(snapshot: &[u8], length: usize) -> Vec<u8> {
    let mut meta = kit::file_meta(snapshot);
    meta["length"] = json!(length);
    serde_json::to_vec(&json!({
        "signed": {"_type": "Timestamp", "expires": kit::expires_in(1), "meta": {"snapshot": meta}, "version": 1},
        "signatures": [],
    }))
    .expect("json")
}

fn doctored_config(base: &str) -> RemoteConfig {
    RemoteConfig {
        server: base.to_owned(),
        ca: None,
        credentials: None,
        docker_config: Some(PathBuf::from("/nonexistent/docker-config")),
        timeout: Duration::from_secs(10),
    }
}

fn doctored_remote(base: &str) -> Remote {
    Remote::new(doctored_config(base)).expect("remote")
}

fn tuf_path(gun: &str, file: &str) -> String {
    format!("/v2/{gun}/_trust/tuf/{file}")
}

#[tokio::test]
async fn a_snapshot_that_does_not_match_the_timestamp_is_refused() {
    let listed = br#"{"signed":{"_type":"Snapshot"},"signatures":[]}"#.to_vec();
    let served = br#"{"signed":{"_type":"Snapshop"},"signatures":[]}"#.to_vec();
    let hex = hex::encode(ring::digest::digest(&ring::digest::SHA256, &listed));
    let files = HashMap::from([
        (
            tuf_path("a.example/wrong", "timestamp.json"),
            timestamp_listing(&listed, listed.len()),
        ),
        (
            tuf_path("a.example/wrong", &format!("snapshot.{hex}.json")),
            served.clone(),
        ),
        // Listed as 10 bytes, served as more: refused before the body is read past 10.
        (
            tuf_path("a.example/long", "timestamp.json"),
            timestamp_listing(&listed, 10),
        ),
        (
            tuf_path("a.example/long", &format!("snapshot.{hex}.json")),
            listed.clone(),
        ),
    ]);
    let (base, requests) = doctored(files).await;
    let remote = doctored_remote(&base);

    let err = remote
        .fetch("a.example/wrong", &wanted(), &CachedRepo::default())
        .await
        .expect_err("doctored snapshot");
    let text = err.to_string();
    assert!(text.contains(&format!("snapshot.{hex}.json")), "{text}");
    assert!(
        text.contains("does not match what the timestamp lists"),
        "{text}"
    );

    let err = remote
        .fetch("a.example/long", &wanted(), &CachedRepo::default())
        .await
        .expect_err("longer than listed");
    assert!(
        err.to_string().contains("larger than the 10 bytes"),
        "{err}"
    );

    // Nothing was read past the snapshot.
    let requests = requests.lock().expect("log").clone();
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(requests
        .iter()
        .all(|p| p.contains("timestamp.json") || p.contains("snapshot.")));
}

#[tokio::test]
async fn a_cached_file_is_used_only_when_it_matches() {
    let listed = br#"{"signed":{"_type":"Snapshot"},"signatures":[]}"#.to_vec();
    let hex = hex::encode(ring::digest::digest(&ring::digest::SHA256, &listed));
    let files = HashMap::from([(
        tuf_path("a.example/app", "timestamp.json"),
        timestamp_listing(&listed, listed.len()),
    )]);
    let (base, requests) = doctored(files).await;
    // A cache entry under the right name with other bytes is not taken for the snapshot.
    let mut cached = CachedRepo::default();
    cached
        .files
        .insert(hex.clone(), bytes::Bytes::from_static(b"{}"));
    let err = doctored_remote(&base)
        .fetch("a.example/app", &wanted(), &cached)
        .await
        .expect_err("the server has no snapshot");
    assert!(err.to_string().contains("404"), "{err}");
    let requests = requests.lock().expect("log").clone();
    assert_eq!(
        requests,
        [
            tuf_path("a.example/app", "timestamp.json"),
            tuf_path("a.example/app", &format!("snapshot.{hex}.json"))
        ]
    );
}

#[tokio::test]
async fn a_basic_challenge_is_answered_with_the_credentials() {
    let listed = br#"{"signed":{"_type":"Snapshot"},"signatures":[]}"#.to_vec();
    let files = HashMap::from([(
        tuf_path("a.example/app", "timestamp.json"),
        timestamp_listing(&listed, listed.len()),
    )]);
    let expected = format!("Basic {}", B64.encode("alice:s3cret"));
    let (base, requests) = doctored_behind(files, Some(expected)).await;

    let err = doctored_remote(&base)
        .fetch("a.example/app", &wanted(), &CachedRepo::default())
        .await
        .expect_err("no credentials");
    assert!(
        err.to_string().contains("asks for a user and password"),
        "{err}"
    );

    let remote = Remote::new(RemoteConfig {
        credentials: Some(alice("s3cret")),
        ..doctored_config(&base)
    })
    .expect("remote");
    let err = remote
        .fetch("a.example/app", &wanted(), &CachedRepo::default())
        .await
        .expect_err("the snapshot is missing");
    // Past the timestamp (so the retry with credentials was answered) to the snapshot.
    assert!(err.to_string().contains("snapshot."), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
    let requests = requests.lock().expect("log").clone();
    // One refused read; then the challenge, its answer, and the snapshot sent with the
    // credentials at once.
    assert_eq!(requests.len(), 1 + 3, "{requests:?}");

    let remote = Remote::new(RemoteConfig {
        credentials: Some(alice("wrong")),
        ..doctored_config(&base)
    })
    .expect("remote");
    let err = remote
        .fetch("a.example/app", &wanted(), &CachedRepo::default())
        .await
        .expect_err("wrong password");
    let text = err.to_string();
    assert!(text.contains("401") && text.contains("\"alice\""), "{text}");
    assert!(!text.contains("wrong"), "{text}");
}

/// An enforcer of one rule reading `served` remotely and following its changefeed.
fn following_enforcer(served: &Served) -> notarium::enforce::Enforcer {
    use notarium::policy::{Mode, Policy, Rule};
    let rule = Rule {
        pattern: "**".to_owned(),
        server: Some(served.url.clone()),
        ca: Some(served.ca.clone()),
        root: tofu(),
        signers: Vec::new(),
        threshold: None,
        mode: Mode::Enforce,
        break_glass: false,
    };
    let settings = notarium::enforce::Settings {
        docker_config: Some(served.app.dir.path().join("no-docker-config")),
        trust_dir: Some(served.app.dir.path().join("verifier-trust")),
        follow_changes: true,
        ..notarium::enforce::Settings::default()
    };
    notarium::enforce::Enforcer::new(
        notarium::enforce::LoadedPolicy::new(Policy { rules: vec![rule] }, "test"),
        None,
        settings,
        Arc::new(SystemClock),
    )
}

#[tokio::test]
async fn decisions_on_a_remote_are_kept_until_its_changefeed_reports_a_change() {
    let (served, published) = served(None, true).await;
    let published = published.expect("published");
    let enforcer = following_enforcer(&served);
    let v2 = format!("{GUN}:v2");
    let first = enforcer.check(&v2).await;
    assert!(!first.verdict.allowed, "{first:?}");
    // Once the feed has been read, a decision is kept: asking again reads nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    enforcer.check(&v2).await;
    let before = served.requests().await;
    for _ in 0..5 {
        assert!(!enforcer.check(&v2).await.verdict.allowed);
    }
    assert_eq!(
        served.requests().await.get("GetRole"),
        before.get("GetRole"),
        "a kept decision was read again"
    );

    // Sign v2 in top-level targets: the feed reports it, and the next decision reads again.
    let mut targets: serde_json::Value =
        serde_json::from_slice(&published.targets).expect("targets");
    let signed = &mut targets["signed"];
    signed["targets"] = json!({"v2": kit::target(b"image two")});
    signed["version"] = json!(4);
    let targets = kit::sign(signed, &[&published.repo.targets]);
    let root = published.roots.last().expect("root");
    let snapshot = published.repo.snapshot_file(
        published.snapshot_version + 1,
        &[
            ("root", root),
            ("targets", &targets),
            ("targets/releases", &published.releases),
        ],
    );
    let r = served
        .app
        .publish(GUN, &[("targets", &targets), ("snapshot", &snapshot)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut allowed = false;
    for _ in 0..40 {
        if enforcer.check(&v2).await.verdict.allowed {
            allowed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(allowed, "the publish was not picked up within 8 s");
}

/// `notarium sign`'s publish path against a real Notarium: a repository made with `init`
/// (server-held snapshot), a second tag, root pins right and wrong, a publish held at the
/// socket while another lands (refused with VERSION, then redone on top), two signs at once
/// (one may lose the race and redo its change), each read back and verified; then a revoke.
#[tokio::test]
async fn sign_initialises_signs_races_and_revokes() {
    use notarium::clock::Clock as _;
    use notarium::remote::keystore::KeyStore;
    use notarium::remote::publish::{target_meta, Edit, PublishError, PublishRequest};
    use notarium::tuf::key::KeyId;

    let (served, _) = served(None, false).await;
    let remote = served.remote();
    let trust = tempfile::tempdir().expect("tempdir");
    // The only test that sets these variables.
    std::env::set_var("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "sign root pass");
    std::env::set_var(
        "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
        "sign repo pass",
    );
    let keys = KeyStore::new(trust.path());
    let gun = "example.com/sign/app";
    let request = |tag: &str, byte: u8, init: bool| PublishRequest {
        gun,
        edit: Edit::Add {
            name: tag.to_owned(),
            meta: target_meta(&[byte; 32], 500 + u64::from(byte)),
        },
        signer: Some("ci"),
        keys: &keys,
        init,
        root_keys: &[],
        root_anchor: None,
        now: SystemClock.now(),
    };
    let wrong_pin = [KeyId::parse(&"ab".repeat(32)).expect("id")];

    // A pinned root cannot be made by --init: refused, nothing created.
    let err = remote
        .publish(&PublishRequest {
            root_keys: &wrong_pin,
            ..request("v1", 1, true)
        })
        .await
        .expect_err("a pin and no repository");
    assert!(
        err.to_string().contains("--root-key pins the root"),
        "{err}"
    );
    assert!(keys.list().is_empty(), "no key made");

    let err = remote
        .publish(&request("v1", 1, false))
        .await
        .expect_err("no trust data");
    assert!(matches!(err, PublishError::NotInitialized(_)), "{err:?}");
    let first = remote.publish(&request("v1", 1, true)).await.expect("init");
    assert!(first.initialized);
    assert_eq!(first.signed_roles, ["targets/ci", "targets/releases"]);
    assert_eq!(keys.list().len(), 3, "root, targets and the signer's key");
    let second = remote
        .publish(&request("v2", 2, true))
        .await
        .expect("second");
    assert!(
        !second.initialized,
        "an existing repository is not made again"
    );
    assert_eq!(
        second.roles,
        ["targets/ci", "targets/releases"],
        "the server holds the snapshot: only the changed roles go up"
    );

    // Pinned: a root key that signed the root lets the publish through; any other refuses it
    // and nothing is published.
    let root_id = {
        let data = remote
            .fetch(gun, &[], &CachedRepo::default())
            .await
            .expect("read");
        let root: notarium::tuf::metadata::Root =
            notarium::tuf::metadata::read_stored(data.roots.last().expect("a root")).expect("root");
        root.role("root").expect("root role").keyids[0].clone()
    };
    let err = remote
        .publish(&PublishRequest {
            root_keys: &wrong_pin,
            ..request("pinned", 9, false)
        })
        .await
        .expect_err("a pin that did not sign the root");
    assert!(err.to_string().contains("pinned root key"), "{err}");
    let pinned = [root_id];
    remote
        .publish(&PublishRequest {
            root_keys: &pinned,
            ..request("pinned", 9, false)
        })
        .await
        .expect("the pinned root key signed the root");

    // Another publish lands between this one's read and its upload: the server answers
    // VERSION, and the publish reads again and redoes its change on top.
    served
        .gate
        .armed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let held = request("held", 7, false);
    let racing = request("racing", 8, false);
    let (held, ()) = tokio::join!(remote.publish(&held), async {
        served.gate.arrived.notified().await;
        let racing = remote.publish(&racing).await.expect("the racing publish");
        assert_eq!(racing.attempts, 1, "the racing publish went straight in");
        served.gate.release.notify_one();
    });
    let held = held.expect("the held publish, redone");
    assert_eq!(
        held.attempts, 2,
        "one upload refused with VERSION, one accepted"
    );

    let (v3, v4) = (request("v3", 3, false), request("v4", 4, false));
    let (a, b) = tokio::join!(remote.publish(&v3), remote.publish(&v4));
    let (a, b) = (a.expect("v3"), b.expect("v4"));
    assert!(a.attempts >= 1 && b.attempts >= 1);

    let wanted = [
        RoleName::releases(),
        RoleName::parse("targets/ci").expect("role"),
    ];
    let read_back = || async {
        let data = remote
            .fetch(gun, &wanted, &CachedRepo::default())
            .await
            .expect("read");
        let trusted = notarium::policy::verify(
            gun,
            &RootTrust {
                tofu: true,
                ..RootTrust::default()
            },
            &data,
            &Seen::default(),
            SystemClock.now(),
        )
        .expect("verifies");
        trusted.roles[&RoleName::releases()].targets.targets.clone()
    };
    let releases = read_back().await;
    for (tag, byte) in [
        ("v1", 1u8),
        ("v2", 2),
        ("v3", 3),
        ("v4", 4),
        ("pinned", 9),
        ("held", 7),
        ("racing", 8),
    ] {
        let meta = releases.get(tag).unwrap_or_else(|| panic!("{tag} signed"));
        assert_eq!(meta.sha256(), Some(&[byte; 32][..]), "{tag}");
        assert_eq!(meta.length, 500 + i64::from(byte), "{tag}");
    }

    let revoke = PublishRequest {
        edit: Edit::Remove {
            name: "v2".to_owned(),
        },
        ..request("v2", 2, false)
    };
    remote.publish(&revoke).await.expect("revoked");
    let releases = read_back().await;
    assert!(!releases.contains_key("v2"));
    assert!(releases.contains_key("v1"));
    let err = remote
        .publish(&revoke)
        .await
        .expect_err("nothing left to revoke");
    assert!(
        err.to_string().contains("is not signed in any role"),
        "{err}"
    );

    std::env::set_var("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "not it");
    let err = remote
        .publish(&request("v5", 5, false))
        .await
        .expect_err("wrong passphrase");
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    assert!(!err.to_string().contains("not it"), "{err}");
    std::env::remove_var("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE");
    std::env::remove_var("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE");
}
