//! `POST /k8s/mutate` and `POST /k8s/validate`: the admission webhook's edge, on the trust
//! server (`serve --policy`) and on its own (`notarium admission`, [`admission_router`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::error::ApiError;
use super::metrics::Metrics;
use crate::admission::{Admission, Hook, MAX_REVIEW};

/// The hook a path names.
pub(super) fn hook(method: &Method, path: &str) -> Option<Hook> {
    if method != Method::POST {
        return None;
    }
    match path {
        "/k8s/mutate" => Some(Hook::Mutate),
        "/k8s/validate" => Some(Hook::Validate),
        _ => None,
    }
}

/// Answers one AdmissionReview.
pub(super) async fn review(
    admission: &Admission,
    hook: Hook,
    request: Request,
) -> Result<Response, ApiError> {
    let body = axum::body::to_bytes(request.into_body(), MAX_REVIEW)
        .await
        .map_err(|_| {
            ApiError::TooLarge(format!("an AdmissionReview is at most {MAX_REVIEW} bytes"))
        })?;
    let answer = admission.review(hook, &body).await;
    let mut response = (StatusCode::OK, Body::from(answer)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// What the stand-alone webhook shares.
#[derive(Debug, Clone)]
struct Webhook {
    admission: Arc<Admission>,
    metrics: Arc<Metrics>,
}

/// The stand-alone webhook: the two hooks, `GET /healthz` and `GET /metrics`, nothing else.
pub fn admission_router(admission: Arc<Admission>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(Webhook { admission, metrics })
}

async fn dispatch(State(webhook): State<Webhook>, request: Request) -> Response {
    let started = std::time::Instant::now();
    let path = request.uri().path().to_owned();
    let (route, response) = if let Some(hook) = hook(request.method(), &path) {
        let name = match hook {
            Hook::Mutate => "AdmissionMutate",
            Hook::Validate => "AdmissionValidate",
        };
        let result = review(&webhook.admission, hook, request).await;
        (name, result.unwrap_or_else(IntoResponse::into_response))
    } else if request.method() == Method::GET && path == "/healthz" {
        ("Health", (StatusCode::OK, "ok").into_response())
    } else if request.method() == Method::GET && path == "/metrics" {
        return webhook.metrics.render_plain();
    } else {
        ("NotFound", ApiError::NoRoute.into_response())
    };
    webhook
        .metrics
        .observe(route, response.status(), started.elapsed());
    response
}
