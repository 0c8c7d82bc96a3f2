//! Token authentication (docs/protocol.md §8) over the whole router: challenges, scopes, and every way a
//! token can be wrong. Tokens are minted here with `jsonwebtoken` from certificates made with
//! rcgen, as a registry's token service would (x5c chain or libtrust `kid`).

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use notarium::auth::token::libtrust_key_id;
use notarium::clock::SystemClock;
use notarium::config::Config;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::json;

use crate::TestResponse;

const REALM: &str = "https://auth.example.com/token";
const SERVICE: &str = "notarium.example.com";
const ISSUER: &str = "test-issuer";
const GUN: &str = "example.com/org/app";

/// A token service's signing material: a CA in the trusted bundle and a leaf it signed.
struct Issuer {
    ca: CertifiedIssuer<'static, KeyPair>,
    leaf_der: Vec<u8>,
    leaf_key: KeyPair,
}

impl Issuer {
    fn new(name: &str) -> Issuer {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, name);
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} signer"));
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = params.signed_by(&leaf_key, &ca).expect("leaf");
        Issuer {
            leaf_der: leaf.der().to_vec(),
            ca,
            leaf_key,
        }
    }

    fn bundle(&self) -> String {
        self.ca.pem()
    }

    /// A token with `access`, valid from a minute ago for `lifetime` seconds, naming its key by
    /// an x5c chain.
    fn token(
        &self,
        access: serde_json::Value,
        issuer: &str,
        audience: &str,
        lifetime: i64,
    ) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(vec![
            base64::engine::general_purpose::STANDARD.encode(&self.leaf_der),
            base64::engine::general_purpose::STANDARD.encode(self.ca.der()),
        ]);
        self.sign(header, access, issuer, audience, lifetime)
    }

    fn sign(
        &self,
        header: Header,
        access: serde_json::Value,
        issuer: &str,
        audience: &str,
        lifetime: i64,
    ) -> String {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let claims = json!({
            "iss": issuer, "sub": "alice", "aud": audience,
            "iat": now - 60, "nbf": now - 60, "exp": now + lifetime,
            "jti": "test", "access": access,
        });
        let key = EncodingKey::from_ec_der(&self.leaf_key.serialize_der());
        encode(&header, &claims, &key).expect("token")
    }
}

fn pull_push(gun: &str, actions: &[&str]) -> serde_json::Value {
    json!([{"type": "repository", "name": gun, "actions": actions}])
}

async fn app(bundle: &str) -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle_path = dir.path().join("bundle.pem");
    std::fs::write(&bundle_path, bundle).expect("bundle");
    let auth = notarium::auth::TokenAuth::new(
        REALM,
        SERVICE,
        ISSUER,
        &std::fs::read(&bundle_path).expect("read"),
    )
    .expect("auth config");
    let config = Config {
        auth: Some(std::sync::Arc::new(auth)),
        auth_users: None,
        ..crate::TestApp::config_on(dir.path())
    };
    let state = notarium::cli::serve::build_state(&config, std::sync::Arc::new(SystemClock))
        .await
        .expect("state");
    (notarium::router(state), dir)
}

async fn get(router: &axum::Router, path: &str, token: Option<&str>) -> TestResponse {
    request(router, Method::GET, path, token).await
}

async fn request(
    router: &axum::Router,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> TestResponse {
    let mut builder = axum::http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    let request = builder.body(axum::body::Body::empty()).expect("request");
    crate::send_request(router.clone(), request).await
}

fn challenge(r: &TestResponse) -> String {
    r.headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn requests_without_a_token_are_challenged() {
    let issuer = Issuer::new("token CA");
    let (router, _dir) = app(&issuer.bundle()).await;
    let r = get(&router, "/v2/", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&r),
        format!("Bearer realm=\"{REALM}\",service=\"{SERVICE}\",scope=\"registry:catalog:*\"")
    );
    assert_eq!(r.error_code(), "UNAUTHORIZED");
    let r = get(
        &router,
        &format!("/v2/{GUN}/_trust/tuf/timestamp.json"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(challenge(&r).ends_with(&format!("scope=\"repository:{GUN}:pull\"")));
    assert_eq!(
        r.json()["errors"][0]["detail"],
        json!([{"Type": "repository", "Class": "", "Name": GUN, "Action": "pull"}])
    );
    let r = get(
        &router,
        &format!("/v2/{GUN}/_trust/tuf/timestamp.key"),
        None,
    )
    .await;
    assert!(challenge(&r).ends_with(&format!("scope=\"repository:{GUN}:push,pull\"")));
    let r = request(
        &router,
        Method::DELETE,
        &format!("/v2/{GUN}/_trust/tuf/"),
        None,
    )
    .await;
    assert!(challenge(&r).ends_with(&format!("scope=\"repository:{GUN}:*\"")));
    let r = get(&router, "/_notary_server/health", None).await;
    assert_eq!(r.status, StatusCode::OK, "health is never authenticated");
}

#[tokio::test]
async fn a_valid_token_grants_exactly_its_scope() {
    let issuer = Issuer::new("token CA");
    let (router, _dir) = app(&issuer.bundle()).await;
    let pull = issuer.token(pull_push(GUN, &["pull"]), ISSUER, SERVICE, 300);
    let r = get(
        &router,
        &format!("/v2/{GUN}/_trust/tuf/timestamp.json"),
        Some(&pull),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "through the check: nothing published yet"
    );
    let r = get(
        &router,
        &format!("/v2/{GUN}/_trust/tuf/timestamp.key"),
        Some(&pull),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&r).ends_with(",error=\"insufficient_scope\""),
        "{}",
        challenge(&r)
    );
    let other = get(
        &router,
        "/v2/example.com/org/other/_trust/tuf/timestamp.json",
        Some(&pull),
    )
    .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED, "another GUN");
    let push = issuer.token(pull_push(GUN, &["pull", "push"]), ISSUER, SERVICE, 300);
    let r = get(
        &router,
        &format!("/v2/{GUN}/_trust/tuf/timestamp.key"),
        Some(&push),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = request(
        &router,
        Method::DELETE,
        &format!("/v2/{GUN}/_trust/tuf/"),
        Some(&push),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "delete needs *");
    let all = issuer.token(pull_push(GUN, &["*"]), ISSUER, SERVICE, 300);
    let r = request(
        &router,
        Method::DELETE,
        &format!("/v2/{GUN}/_trust/tuf/"),
        Some(&all),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let catalog = issuer.token(
        json!([{"type": "registry", "name": "catalog", "actions": ["*"]}]),
        ISSUER,
        SERVICE,
        300,
    );
    assert_eq!(
        get(&router, "/v2/", Some(&catalog)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_tokens_are_invalid() {
    let issuer = Issuer::new("token CA");
    let stranger = Issuer::new("someone else");
    let (router, _dir) = app(&issuer.bundle()).await;
    let path = format!("/v2/{GUN}/_trust/tuf/timestamp.json");
    let access = pull_push(GUN, &["pull"]);
    let cases = [
        (
            "expired",
            issuer.token(access.clone(), ISSUER, SERVICE, -120),
        ),
        (
            "wrong issuer",
            issuer.token(access.clone(), "other-issuer", SERVICE, 300),
        ),
        (
            "wrong audience",
            issuer.token(access.clone(), ISSUER, "other-service", 300),
        ),
        (
            "untrusted signer",
            stranger.token(access.clone(), ISSUER, SERVICE, 300),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
        ("altered", {
            let t = issuer.token(access.clone(), ISSUER, SERVICE, 300);
            let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
            parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                json!({"iss": ISSUER, "aud": SERVICE, "exp": 4_000_000_000u64,
                       "access": pull_push(GUN, &["*"])})
                .to_string(),
            );
            parts.join(".")
        }),
    ];
    for (what, token) in cases {
        let r = get(&router, &path, Some(&token)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            challenge(&r).ends_with(",error=\"invalid_token\""),
            "{what}: {}",
            challenge(&r)
        );
    }
    // A stranger's chain that ends at a trusted certificate only by claim: its CA is not ours.
    let mut header = Header::new(Algorithm::ES256);
    header.x5c = Some(vec![
        base64::engine::general_purpose::STANDARD.encode(&stranger.leaf_der),
        base64::engine::general_purpose::STANDARD.encode(issuer.ca.der()),
    ]);
    let forged = stranger.sign(header, access, ISSUER, SERVICE, 300);
    assert_eq!(
        get(&router, &path, Some(&forged)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_kid_names_a_bundle_key() {
    // The bundle holds the signing certificate itself; the token names its key by libtrust ID.
    let issuer = Issuer::new("token CA");
    let leaf_pem = pem_of(&issuer.leaf_der);
    let (router, _dir) = app(&leaf_pem).await;
    let (_, leaf) = x509_parser::parse_x509_certificate(&issuer.leaf_der).expect("leaf");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(libtrust_key_id(leaf.public_key().raw));
    let token = issuer.sign(header, pull_push(GUN, &["pull"]), ISSUER, SERVICE, 300);
    let r = get(
        &router,
        &format!("/v2/{GUN}/_trust/tuf/timestamp.json"),
        Some(&token),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "accepted: {:?}",
        challenge(&r)
    );
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("AAAA:BBBB".into());
    let token = issuer.sign(header, pull_push(GUN, &["pull"]), ISSUER, SERVICE, 300);
    let r = get(
        &router,
        &format!("/v2/{GUN}/_trust/tuf/timestamp.json"),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

fn pem_of(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

#[test]
fn libtrust_ids_have_twelve_groups_of_four() {
    let id = libtrust_key_id(b"any key bytes");
    let groups: Vec<&str> = id.split(':').collect();
    assert_eq!(groups.len(), 12, "{id}");
    assert!(groups.iter().all(|g| g.len() == 4
        && g.chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))));
}

/// RS256 tokens, from an RSA signing certificate made with the openssl CLI (ring, under rcgen,
/// cannot generate RSA keys).
#[tokio::test]
async fn rs256_tokens_are_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-subj",
        "/CN=rsa token signer",
        "-days",
        "2",
    ]);
    run(&[
        "rsa",
        "-in",
        "key.pem",
        "-outform",
        "DER",
        "-traditional",
        "-out",
        "key.der",
    ]);
    run(&[
        "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
    ]);
    let cert_pem = std::fs::read_to_string(dir.path().join("cert.pem")).expect("cert");
    let key_der = std::fs::read(dir.path().join("key.der")).expect("key");
    let cert_der = std::fs::read(dir.path().join("cert.der")).expect("cert der");
    let (router, _app_dir) = app(&cert_pem).await;
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let mut header = Header::new(Algorithm::RS256);
    header.x5c = Some(vec![
        base64::engine::general_purpose::STANDARD.encode(&cert_der)
    ]);
    let claims = json!({
        "iss": ISSUER, "aud": SERVICE, "nbf": now - 60, "exp": now + 300,
        "access": pull_push(GUN, &["pull"]),
    });
    let token = encode(&header, &claims, &EncodingKey::from_rsa_der(&key_der)).expect("token");
    let r = get(
        &router,
        &format!("/v2/{GUN}/_trust/tuf/timestamp.json"),
        Some(&token),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "accepted: {}",
        challenge(&r)
    );
    // The same key under the ES256 name is refused.
    let mut header = Header::new(Algorithm::ES256);
    header.x5c = Some(vec![
        base64::engine::general_purpose::STANDARD.encode(&cert_der)
    ]);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[0] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&header).expect("header"));
    let r = get(
        &router,
        &format!("/v2/{GUN}/_trust/tuf/timestamp.json"),
        Some(&parts.join(".")),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// The built-in token service on a fresh database, with one user `alice` (password `s3cret`)
/// hashed at `cost`.
async fn built_in(cost: u32) -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users");
    let hash = bcrypt::hash("s3cret", cost).expect("hash");
    std::fs::write(&users, format!("alice:{hash}\n")).expect("users");
    let config = Config {
        auth: None,
        auth_users: Some(notarium::config::BuiltInAuth {
            users,
            realm: None,
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
        }),
        ..crate::TestApp::config_on(dir.path())
    };
    let state = notarium::cli::serve::build_state(&config, std::sync::Arc::new(SystemClock))
        .await
        .expect("state");
    (notarium::router(state), dir)
}

/// `GET /auth/token` with HTTP Basic credentials, as Docker asks.
fn token_request(user: &str, password: &str) -> axum::http::Request<axum::body::Body> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    axum::http::Request::builder()
        .uri(format!(
            "/auth/token?service={SERVICE}&scope=repository:{GUN}:pull"
        ))
        .header("authorization", format!("Basic {basic}"))
        .body(axum::body::Body::empty())
        .expect("request")
}

/// The answer to a token request and how long it took.
async fn timed(router: &axum::Router, user: &str, password: &str) -> (TestResponse, f64) {
    let started = std::time::Instant::now();
    let r = crate::send_request(router.clone(), token_request(user, password)).await;
    (r, started.elapsed().as_secs_f64())
}

#[tokio::test]
async fn an_unknown_user_is_refused_as_a_wrong_password_is() {
    let (router, _dir) = built_in(10).await;
    let (ok, _) = timed(&router, "alice", "s3cret").await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let (mut wrong, mut unknown) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let (w, wrong_took) = timed(&router, "alice", "guess").await;
        let (u, unknown_took) = timed(&router, "mallory", "guess").await;
        assert_eq!(w.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            (u.status, &u.body, u.headers.get("www-authenticate")),
            (w.status, &w.body, w.headers.get("www-authenticate")),
            "the same answer for both"
        );
        wrong = wrong.min(wrong_took);
        unknown = unknown.min(unknown_took);
    }
    // Both pay one bcrypt verification at the file's cost; without the stand-in hash an
    // unknown user is answered in well under a millisecond.
    assert!(
        unknown * 2.0 >= wrong,
        "unknown user {unknown:.4} s, wrong password {wrong:.4} s"
    );
}

/// On a single-threaded runtime, a request arriving while a password is being checked is
/// answered first: the check is not on the runtime's only worker.
#[tokio::test(flavor = "current_thread")]
async fn password_checks_run_off_the_runtime_workers() {
    let (router, _dir) = built_in(10).await;
    let started = std::time::Instant::now();
    let token_router = router.clone();
    let token = tokio::spawn(async move {
        let r = crate::send_request(token_router, token_request("alice", "s3cret")).await;
        (r, started.elapsed())
    });
    // Let the token request start (and, were bcrypt on this thread, run to its end).
    tokio::task::yield_now().await;
    let health = get(&router, "/_notary_server/health", None).await;
    let health_at = started.elapsed();
    let (r, token_at) = token.await.expect("token task");
    assert_eq!((health.status, r.status), (StatusCode::OK, StatusCode::OK));
    assert!(
        health_at < token_at,
        "health answered after {health_at:?}, the token after {token_at:?}"
    );
}
