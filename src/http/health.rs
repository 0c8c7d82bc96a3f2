//! `GET /_notary_server/health`: 200 `{}` when the database answers and can be written, else
//! 503 naming the check.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Runs the database check on every call: one indexed query, and whether the store can still
/// write (the SQLite writer stops for good after a panic).
pub(super) async fn health(state: &AppState) -> Response {
    let (status, body) = match state.repos.store().health().await {
        Ok(()) => (StatusCode::OK, "{}".to_owned()),
        Err(e) => {
            // Not an error envelope (notary's health body names the failed check), so logged
            // here, the one place this failure is seen.
            tracing::warn!(error = %crate::report::Chain(&e), "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"DB operational": "database is not reachable or not writable"})
                    .to_string(),
            )
        }
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
