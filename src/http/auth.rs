//! The token check in front of every route (brief §8): the access each route needs, and the
//! 401 with notary's body and the challenge the clients follow.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::routes::Route;
use crate::auth::{Needed, Refusal, TokenAuth};

/// What `route` needs; `None` for routes never authenticated (health, 405s).
pub(super) fn needed(route: &Route) -> Option<Needed> {
    const PULL: &[&str] = &["pull"];
    const PUSH_PULL: &[&str] = &["push", "pull"];
    const ALL: &[&str] = &["*"];
    Some(match route {
        Route::Health | Route::MethodNotAllowed => return None,
        Route::Base | Route::GlobalChangefeed | Route::NotFound => Needed::catalog(),
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
