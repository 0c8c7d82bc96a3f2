//! The token check in front of every route (docs/protocol.md §8): the access each route needs, and the
//! 401 with notary's body and the challenge the clients follow.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::error::ApiError;
use super::routes::Route;
use super::AppState;
use crate::auth::issuer::{IssueError, Issuer};
use crate::auth::{Needed, Refusal, TokenAuth};

/// What `route` needs; `None` for routes never authenticated (health, 405s).
pub(super) fn needed(route: &Route) -> Option<Needed> {
    const PULL: &[&str] = &["pull"];
    const PUSH_PULL: &[&str] = &["push", "pull"];
    const ALL: &[&str] = &["*"];
    Some(match route {
        Route::Health | Route::MethodNotAllowed => return None,
        // A verification reads the trust data of any repository, as the global changefeed
        // lists any repository's changes.
        Route::Base
        | Route::GlobalChangefeed
        | Route::Verify
        | Route::Admission(_)
        | Route::NotFound => Needed::catalog(),
        Route::Update { gun } | Route::GetKey { gun, .. } => Needed::repository(gun, PUSH_PULL),
        Route::Delete { gun } | Route::RotateKey { gun, .. } => Needed::repository(gun, ALL),
        Route::Role { gun, .. }
        | Route::RoleByVersion { gun, .. }
        | Route::RoleByChecksum { gun, .. }
        | Route::Changefeed { gun } => Needed::repository(gun, PULL),
    })
}

/// `None` when `headers` carry a token granting `needed`, else the 401 to send.
pub(super) fn refusal(auth: &TokenAuth, headers: &HeaderMap, needed: &Needed) -> Option<Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let refusal = match auth.check(authorization, needed) {
        Ok(()) => return None,
        Err(r) => r,
    };
    if let Refusal::Invalid(why) = &refusal {
        tracing::info!(scope = %needed.scope(), reason = %why, "refused a token");
    }
    let detail: Vec<serde_json::Value> = needed
        .actions
        .iter()
        .map(|action| {
            serde_json::json!({"Type": needed.kind, "Class": "", "Name": needed.name, "Action": action})
        })
        .collect();
    let body = serde_json::json!({"errors": [{
        "code": "UNAUTHORIZED",
        "message": "authentication required",
        "detail": detail,
    }]});
    let mut response = (StatusCode::UNAUTHORIZED, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::try_from(auth.challenge(needed, &refusal)) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    Some(response)
}

/// `GET /auth/token?service=…&scope=…` of the built-in token service: HTTP Basic credentials
/// (or none, for an access-less token), the way registries' token services answer.
pub(super) async fn token_endpoint(
    issuer: &Arc<Issuer>,
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let pairs: Vec<(String, String)> = query
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let service = pairs
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone())
        .or_else(|| state.auth.as_ref().map(|a| a.service.clone()))
        .unwrap_or_default();
    // Docker repeats `scope`; some clients join several with spaces.
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let credentials = basic.as_deref().and_then(|b| b.split_once(':'));
    match issuer
        .issue(
            credentials,
            &service,
            &scopes,
            state.repos.now().timestamp(),
        )
        .await
    {
        Ok(body) => {
            let mut response = (StatusCode::OK, body.to_string()).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
        }
        Err(IssueError::BadCredentials) => {
            tracing::info!(
                user = credentials.map(|c| c.0).unwrap_or(""),
                "refused token request"
            );
            let mut response = (
                StatusCode::UNAUTHORIZED,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#,
            )
                .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"notarium\""),
            );
            response
        }
        Err(e @ (IssueError::Signing | IssueError::Task(_))) => {
            ApiError::Unknown(Box::new(e)).into_response()
        }
    }
}
