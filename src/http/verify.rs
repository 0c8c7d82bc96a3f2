//! `POST /v1/verify`: `{"images": ["…"]}` → `{"results": [{"image", "allowed", "digest",
//! "signers", "expires", "reasons", …}]}`, each image checked against the trust policy.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ApiError;
use super::AppState;
use crate::enforce::MAX_IMAGES;

/// The largest request body: a list of at most [`MAX_IMAGES`] references.
const MAX_BODY: usize = 256 * 1024;
/// The longest image reference accepted (a name is at most 255 bytes, plus tag and digest).
const MAX_REFERENCE: usize = 512;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    images: Vec<String>,
}

pub(super) async fn verify(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let Some(enforcer) = &state.enforcer else {
        return Err(ApiError::NoRoute);
    };
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge(format!("the request body is over {MAX_BODY} bytes")))?;
    let asked: VerifyRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::MalformedJson(format!("expected {{\"images\": [\"IMAGE\", …]}}: {e}"))
    })?;
    if asked.images.is_empty() || asked.images.len() > MAX_IMAGES {
        return Err(ApiError::InvalidParameters(serde_json::json!(format!(
            "images: between 1 and {MAX_IMAGES} references, not {}",
            asked.images.len()
        ))));
    }
    if let Some(long) = asked.images.iter().find(|i| i.len() > MAX_REFERENCE) {
        return Err(ApiError::InvalidParameters(serde_json::json!(format!(
            "images: a reference of {} bytes is longer than {MAX_REFERENCE}",
            long.len()
        ))));
    }
    let outcomes = enforcer.check_all(&asked.images).await;
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        results: Vec<crate::enforce::Report<'a>>,
    }
    let answer = Answer {
        results: outcomes.iter().map(|o| o.report()).collect(),
    };
    let body = serde_json::to_vec(&answer).map_err(|e| ApiError::Unknown(Box::new(e)))?;
    let mut response = (StatusCode::OK, Body::from(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
