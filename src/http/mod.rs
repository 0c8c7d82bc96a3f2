//! The HTTP surface: notary-server's routes, status codes, headers and error envelope.
//!
//! One file per notary operation; this module holds the route dispatch and the state.

mod auth;
mod changefeed;
mod delete;
pub mod error;
mod health;
mod k8s;
mod key;
pub mod metrics;
mod role;
pub mod routes;
mod update;
pub mod upload_budget;
mod verify;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use percent_encoding::percent_decode_str;

use crate::gun::Gun;
use crate::service::Repos;
use error::ApiError;
pub use k8s::admission_router;
use routes::Route;

/// Cache lifetimes for metadata responses (docs/protocol.md §1.2), in seconds.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// `GET …/{role}.json`; notary's default 300.
    pub current: u32,
    /// By version or checksum; notary's default 30 days.
    pub consistent: u32,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig {
            current: 300,
            consistent: 2_592_000,
        }
    }
}

/// Request-wide limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: update::MAX_REQUEST_BODY,
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The repository service.
    pub repos: Arc<Repos>,
    /// Cache-Control lifetimes.
    pub cache: CacheConfig,
    /// Size limits.
    pub limits: Limits,
    /// Token authentication, when configured.
    pub auth: Option<Arc<crate::auth::TokenAuth>>,
    /// The built-in token service, when this server is its own (`/auth/token`).
    pub issuer: Option<Arc<crate::auth::issuer::Issuer>>,
    /// What `/metrics` exports.
    pub metrics: Arc<metrics::Metrics>,
    /// Update body bytes in memory at once, server-wide.
    pub uploads: Arc<upload_budget::UploadBudget>,
    /// The enforcer behind `POST /v1/verify`, when a policy is configured.
    pub enforcer: Option<Arc<crate::enforce::Enforcer>>,
    /// The admission webhook behind `POST /k8s/mutate` and `/k8s/validate`, with the policy.
    pub admission: Option<Arc<crate::admission::Admission>>,
}

/// The whole application as a router, without binding anything; tests drive it directly.
pub fn router(state: AppState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

fn parse_gun(raw: &str) -> Result<Gun, ApiError> {
    Gun::parse(raw).map_err(|e| ApiError::InvalidGun(e.to_string()))
}

async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    if request.method() == axum::http::Method::GET && request.uri().path() == "/metrics" {
        return state
            .metrics
            .render(state.repos.store(), state.repos.now())
            .await;
    }
    let started = std::time::Instant::now();
    let name = percent_decode_str(request.uri().path())
        .decode_utf8()
        .map_or("NotFound", |p| {
            metrics::route_name(&routes::route(request.method(), &p))
        });
    // Every log line of this request carries its ID, which the client also gets back.
    let id = request_id(request.headers());
    let span = tracing::info_span!("request", id = %id, route = name);
    let mut response = tracing::Instrument::instrument(answer(&state, request), span.clone()).await;
    let status = response.status();
    state.metrics.observe(name, status, started.elapsed());
    span.in_scope(|| {
        tracing::debug!(
            status = status.as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "answered"
        )
    });
    if let Ok(value) = HeaderValue::try_from(id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The caller's `X-Request-Id` when it is a plain token (a proxy's, to correlate logs), else a
/// new one.
///
/// A new ID is a process-wide count from a random start, so IDs never repeat within a process
/// and rarely across replicas, without a `getrandom` system call on every request (which was
/// one of the few per request). An ID correlates log lines; it is not a secret.
fn request_id(headers: &axum::http::HeaderMap) -> String {
    let given = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match given {
        Some(id) => id.to_owned(),
        None => {
            static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
            static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let start = *START.get_or_init(|| {
                use rand_core::RngCore as _;
                rand_core::OsRng.next_u64()
            });
            let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("{:016x}", start.wrapping_add(n))
        }
    }
}

async fn answer(state: &AppState, request: Request) -> Response {
    let raw_path = request.uri().path().to_owned();
    // Notary matches on the decoded path: `%2F` in a GUN is a slash.
    let Ok(path) = percent_decode_str(&raw_path).decode_utf8() else {
        return ApiError::NoRoute.into_response();
    };
    if let Some(clean) = routes::cleaned(&path) {
        return match HeaderValue::try_from(clean) {
            Ok(location) => (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, location)],
            )
                .into_response(),
            Err(_) => ApiError::NoRoute.into_response(),
        };
    }
    if path == "/auth/token" {
        if let Some(issuer) = &state.issuer {
            let query = request.uri().query();
            return auth::token_endpoint(issuer, state, request.headers(), query).await;
        }
    }
    let route = routes::route(request.method(), &path);
    // Every GUN is checked once, here, before any handler or storage sees it.
    let gun = match route.gun().map(parse_gun).transpose() {
        Ok(gun) => gun,
        Err(e) => return e.into_response(),
    };
    if let Some(auth) = &state.auth {
        if let Some(needed) = auth::needed(&route) {
            if let Some(challenge) = auth::refusal(auth, request.headers(), &needed) {
                return challenge;
            }
        }
    }
    let query = request.uri().query().map(str::to_owned);
    let result = match (route, gun) {
        (Route::Base, _) => Ok(text_json("{}")),
        (Route::Health, _) => Ok(health::health(state).await),
        (Route::MethodNotAllowed, _) => Ok(StatusCode::METHOD_NOT_ALLOWED.into_response()),
        (Route::GlobalChangefeed, _) => changefeed::changefeed(state, None, query.as_deref()).await,
        (Route::Changefeed { .. }, Some(g)) => {
            changefeed::changefeed(state, Some(&g), query.as_deref()).await
        }
        (Route::Update { .. }, Some(g)) => {
            let result = update::update_tuf(state, &g, request).await;
            let reason = match &result {
                Ok(_) => "",
                Err(ApiError::InvalidUpdate(v)) => v.kind.go_name(),
                Err(e) => e.code(),
            };
            state.metrics.update(result.is_ok(), reason);
            result
        }
        (Route::Delete { .. }, Some(g)) => delete::delete_tuf(state, &g).await,
        (Route::Verify, _) => verify::verify(state, request).await,
        (Route::Admission(hook), _) => match &state.admission {
            Some(admission) => k8s::review(admission, hook, request).await,
            None => Err(ApiError::NoRoute),
        },
        (Route::Role { role, .. }, Some(g)) => role::get_role(state, &g, &role).await,
        (Route::RoleByVersion { role, version, .. }, Some(g)) => {
            role::get_role_by_version(state, &g, &role, &version).await
        }
        (Route::RoleByChecksum { role, checksum, .. }, Some(g)) => {
            role::get_role_by_hash(state, &g, &role, &checksum).await
        }
        (Route::GetKey { role, .. }, Some(g)) => key::get_key(state, &g, &role).await,
        (Route::RotateKey { role, .. }, Some(g)) => key::rotate_key(state, &g, &role).await,
        // Route::NotFound, and (unreachably) a GUN route without its GUN.
        _ => Err(ApiError::NoRoute),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A small JSON body with notary's sniffed content type.
fn text_json(body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
