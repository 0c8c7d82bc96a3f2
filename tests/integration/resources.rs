//! Server-wide resources: the upload budget, and connection slots under a flood of sockets
//! that never send a byte.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use rustls::pki_types::pem::PemObject as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use notarium::clock::SystemClock;
use notarium::http::upload_budget::UploadBudget;

use crate::{initialised, multipart, send_request, TestApp, GUN};

/// A POST to [`GUN`]'s update route whose body sends `first` bytes and then stalls, declaring
/// `declared` bytes when given.
fn stalled_upload(declared: Option<usize>, first: usize) -> Request<Body> {
    let chunk = Bytes::from(vec![b' '; first]);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(chunk) })
        .chain(futures_util::stream::pending());
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(format!("/v2/{GUN}/_trust/tuf/"))
        .header("content-type", "multipart/form-data; boundary=x");
    if let Some(n) = declared {
        builder = builder.header("content-length", n);
    }
    builder.body(Body::from_stream(stream)).expect("request")
}

async fn wait_for_use(budget: &UploadBudget, at_least: usize) {
    for _ in 0..500 {
        if budget.in_use() >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the stalled upload never reserved its bytes");
}

#[tokio::test]
async fn uploads_over_the_budget_get_503_while_small_ones_pass() {
    let mut app = TestApp::new().await;
    let mut state = app.state_with_clock(Arc::new(SystemClock)).await;
    let budget = UploadBudget::new(256 << 20);
    state.uploads = Arc::clone(&budget);
    app.router = notarium::router(state);
    let (repo, root, _) = initialised(&app).await;

    // A 20 MiB upload in flight, its body still arriving, holds what large updates may
    // use of the budget (7/8 of it).
    let stalled = tokio::spawn(send_request(
        app.router.clone(),
        stalled_upload(Some(20 << 20), 1 << 20),
    ));
    wait_for_use(&budget, 224 << 20).await;

    // Another 20 MiB upload does not fit: after a short wait it is refused, in notary's
    // envelope, with Retry-After, and nothing changes.
    let big = vec![b' '; 20 << 20];
    let (ct, body) = multipart(&[("targets", &big)]);
    let r = crate::refused(
        &app,
        &ct,
        body,
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
    )
    .await;
    assert_eq!(r.json()["errors"][0]["message"], "service unavailable");
    assert!(
        r.headers.get("retry-after").is_some(),
        "a 503 says when to retry"
    );

    // A chunked body is bounded too: it cannot grow past what is left.
    let chunked = tokio::time::timeout(
        Duration::from_secs(10),
        send_request(app.router.clone(), stalled_upload(None, 16 << 20)),
    )
    .await
    .expect("a chunked upload that does not fit is answered, not left waiting");
    assert_eq!(
        (chunked.status, chunked.error_code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
        "{}",
        chunked.text()
    );

    // A small publish still passes while the large one holds its share.
    let targets = repo.targets_file(3, serde_json::json!({}));
    let snapshot = repo.snapshot_file(3, &[("root", &root), ("targets", &targets)]);
    let r = app
        .publish(GUN, &[("targets", &targets), ("snapshot", &snapshot)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    stalled.abort();
    let _ = stalled.await;
    wait_for_none(&budget).await;
}

async fn wait_for_none(budget: &UploadBudget) {
    for _ in 0..500 {
        if budget.in_use() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("an abandoned upload did not give its budget back");
}

/// Sockets opened and never written to: more than the server's connection slots.
const FLOOD: usize = 4200;

fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(usize::MAX)
}

const HEALTH: &[u8] =
    b"GET /_notary_server/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// Sends `GET /_notary_server/health` on `io` and answers the status line.
async fn health<I>(mut io: I) -> String
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    io.write_all(HEALTH).await.expect("write");
    let mut response = Vec::new();
    let _ = io.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// One TLS connection and `GET /_notary_server/health`; the status line.
async fn health_over_tls(
    addr: std::net::SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> String {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    health(connector.connect(name, tcp).await.expect("TLS handshake")).await
}

/// Serves `app` on a fresh loopback listener until the sender is used or dropped.
fn start(
    app: &TestApp,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    assert!(
        open_files_limit() >= 2 * FLOOD + 1000,
        "this test needs `ulimit -n` of at least {}",
        2 * FLOOD + 1000
    );
    let listener = notarium::server::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(notarium::server::serve(
        listener,
        app.router.clone(),
        tls,
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop, server)
}

/// Opens [`FLOOD`] sockets that never speak, then checks that `request` is answered 200 three
/// times while they stay open. With every slot held by a socket that never speaks, a real
/// client waited for one of them to time out (10 s); 5 s is a generous bound on loopback.
async fn answered_through_a_flood<F, Fut>(addr: std::net::SocketAddr, request: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    assert!(request().await.contains(" 200 "));
    let mut silent = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        silent.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let status = tokio::time::timeout(Duration::from_secs(5), request())
            .await
            .expect("a real client is answered while the silent sockets are open");
        assert!(status.contains(" 200 "), "{status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_client_is_served_while_thousands_of_sockets_stay_silent() {
    let app = TestApp::new().await;
    let kek = notarium::signing::Kek::from_base64(
        &base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
    )
    .expect("kek");
    let names = notarium::tls::certificate_names(&[]);
    let (ca, _) = notarium::tls::LocalCa::ensure(app.dir.path(), &names, &kek).expect("local CA");
    let tls = notarium::tls::server_config(&ca.server_cert, &ca.server_key).expect("TLS");
    let (addr, stop, server) = start(&app, Some(tls));

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&ca.ca_cert).expect("CA file");
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    answered_through_a_flood(addr, || health_over_tls(addr, &connector)).await;
    let _ = stop.send(());
    let _ = server.await;
}

/// Over plain HTTP a silent socket that took a slot would keep it until the request head
/// deadline (10 s), with no TLS handshake deadline to cut it short: the sharpest form of the
/// check above. Readiness is reported for every socket when it is registered, so waiting for
/// "readable" let each silent socket take a slot; the server must wait for a real first byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_take_no_slot_over_plain_http() {
    let app = TestApp::new().await;
    let (addr, stop, server) = start(&app, None);
    answered_through_a_flood(addr, || async move {
        health(tokio::net::TcpStream::connect(addr).await.expect("connect")).await
    })
    .await;
    let _ = stop.send(());
    let _ = server.await;
}
