//! Notary's error envelope and the one mapping from our errors to its codes (docs/protocol.md §1.3).
//!
//! Handlers return `Result<_, ApiError>`; a service failure becomes an `ApiError` only through
//! `From<ServiceError>`, and a failure of the server's own is logged here, once, with its whole
//! source chain, while the client gets only the code and notary's message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::report::Chain;
use crate::service::{Cause, ServiceError};
use crate::validation::{ErrorKind, ValidationError};

/// An error answered to the client. Internal causes are logged, never sent.
#[derive(Debug)]
pub enum ApiError {
    /// `INVALID_GUN`: the GUN is refused.
    InvalidGun(String),
    /// `INVALID_PARAMETERS`.
    InvalidParameters(Value),
    /// `INVALID_ROLE`, detail = the offending name.
    InvalidRole(String),
    /// `INVALID_UPDATE`, with notary's tagged validation detail.
    InvalidUpdate(ValidationError),
    /// `MALFORMED_JSON`.
    MalformedJson(String),
    /// `MALFORMED_UPLOAD`.
    MalformedUpload(String),
    /// `METADATA_NOT_FOUND` with detail `{}` (a lookup that found nothing).
    MetadataNotFound,
    /// `METADATA_NOT_FOUND` without detail (no route matched).
    NoRoute,
    /// `NO_FILENAME`.
    NoFilename,
    /// 413 with `MALFORMED_UPLOAD`: the body is over a size limit.
    TooLarge(String),
    /// 503 `UNAVAILABLE` (docker/distribution `registry/api/errcode` `ErrorCodeUnavailable`)
    /// with `Retry-After`: the server is too busy for this request now.
    Unavailable {
        /// Why, for the client.
        why: String,
        /// Seconds the client should wait before trying again.
        retry_after: u64,
    },
    /// `UNKNOWN` (500); the cause is logged, never sent.
    Unknown(Cause),
    /// `UPDATING` (500); the cause is logged, never sent.
    Updating(Cause),
    /// `VERSION`: a newer version is already stored.
    Version,
    /// `INVALID_UPDATE`: the repository is mirrored and read-only until its handover; the
    /// detail is shaped as a validation error so that the notary client prints the message.
    Mirrored(String),
}

impl ApiError {
    /// notary's error code, for metrics.
    pub(crate) fn code(&self) -> &'static str {
        self.parts().1
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str, Option<Value>) {
        use ApiError::*;
        match self {
            InvalidGun(why) => (
                StatusCode::BAD_REQUEST,
                "INVALID_GUN",
                "The server does not support actions on images of this name.",
                Some(json!(why)),
            ),
            InvalidParameters(detail) => (
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETERS",
                "The parameters provided are not valid.",
                Some(detail.clone()),
            ),
            InvalidRole(name) => (
                StatusCode::BAD_REQUEST,
                "INVALID_ROLE",
                "The role you are attempting to operate on is invalid.",
                Some(json!(name)),
            ),
            InvalidUpdate(e) => (
                StatusCode::BAD_REQUEST,
                "INVALID_UPDATE",
                "Update sent by the client is invalid.",
                Some(validation_detail(e)),
            ),
            MalformedJson(why) => (
                StatusCode::BAD_REQUEST,
                "MALFORMED_JSON",
                "JSON sent by the client could not be parsed by the server",
                Some(json!(why)),
            ),
            MalformedUpload(why) => (
                StatusCode::BAD_REQUEST,
                "MALFORMED_UPLOAD",
                "The body of your request is malformed.",
                Some(json!(why)),
            ),
            MetadataNotFound => (
                StatusCode::NOT_FOUND,
                "METADATA_NOT_FOUND",
                "You have requested metadata that does not exist.",
                Some(json!({})),
            ),
            NoRoute => (
                StatusCode::NOT_FOUND,
                "METADATA_NOT_FOUND",
                "You have requested metadata that does not exist.",
                None,
            ),
            NoFilename => (
                StatusCode::BAD_REQUEST,
                "NO_FILENAME",
                "No file/role name provided.",
                None,
            ),
            TooLarge(why) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "MALFORMED_UPLOAD",
                "The body of your request is malformed.",
                Some(json!(why)),
            ),
            Unavailable { why, .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "service unavailable",
                Some(json!(why)),
            ),
            Unknown(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN",
                "unknown error",
                None,
            ),
            Updating(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "UPDATING",
                "An error has occurred while updating the TUF repository.",
                None,
            ),
            Mirrored(why) => (
                StatusCode::BAD_REQUEST,
                "INVALID_UPDATE",
                "Update sent by the client is invalid.",
                Some(json!({"Name": "ErrValidation", "Error": {"Msg": why}})),
            ),
            Version => (
                StatusCode::BAD_REQUEST,
                "VERSION",
                "A newer version of metadata is already available.",
                Some(json!({})),
            ),
        }
    }
}

/// `{"Name":"ErrBadRoot","Error":{"Msg":…}}`, which the Go client decodes and prints. Kept
/// well under the 1 KiB the client reads.
fn validation_detail(e: &ValidationError) -> Value {
    let mut msg = e.message.clone();
    if msg.len() > 700 {
        let mut cut = 700;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push('…');
    }
    let error = match (e.kind, e.missing) {
        (ErrorKind::BadHierarchy, Some(missing)) => json!({"Missing": missing, "Msg": msg}),
        _ => json!({"Msg": msg}),
    };
    json!({"Name": e.kind.go_name(), "Error": error})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, detail) = self.parts();
        match &self {
            ApiError::Unknown(cause) | ApiError::Updating(cause) => {
                tracing::error!(code, cause = %Chain(&**cause), "request failed");
            }
            _ => tracing::debug!(code, "request refused"),
        }
        let mut entry = json!({"code": code, "message": message});
        if let Some(detail) = detail {
            entry["detail"] = detail;
        }
        let mut body = json!({"errors": [entry]}).to_string();
        body.push('\n');
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let ApiError::Unavailable { retry_after, .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    /// The one mapping, decided as notary-server answers (server/handlers/default.go and
    /// server/errors/errors.go): a refused update is `INVALID_UPDATE`, an old version
    /// `VERSION`, a missing file `METADATA_NOT_FOUND`, a failure while applying an update
    /// `UPDATING`, and every other failure of the server's `UNKNOWN`.
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::Invalid(v) => ApiError::InvalidUpdate(v),
            ServiceError::Conflict => ApiError::Version,
            ServiceError::Mirrored { .. } => ApiError::Mirrored(e.to_string()),
            ServiceError::NotFound => ApiError::MetadataNotFound,
            ServiceError::Updating(_) => ApiError::Updating(Box::new(e)),
            ServiceError::Contended
            | ServiceError::Corrupt { .. }
            | ServiceError::CannotSign(_)
            | ServiceError::Storage(_)
            | ServiceError::Signing(_)
            | ServiceError::Task(_) => ApiError::Unknown(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageError;

    fn storage() -> ServiceError {
        ServiceError::Storage(StorageError::Stopped("the store is closed", None))
    }

    #[test]
    fn one_mapping_keeps_the_cause() {
        let code = |e: ServiceError| ApiError::from(e).code();
        assert_eq!(code(ServiceError::NotFound), "METADATA_NOT_FOUND");
        assert_eq!(code(ServiceError::Conflict), "VERSION");
        assert_eq!(code(storage()), "UNKNOWN");
        assert_eq!(code(ServiceError::Contended), "UNKNOWN");
        assert_eq!(code(storage().in_update()), "UPDATING");
        assert_eq!(code(ServiceError::Contended.in_update()), "VERSION");
        assert_eq!(code(ServiceError::NotFound.in_update()), "UPDATING");
        let ApiError::Updating(cause) = ApiError::from(storage().in_update()) else {
            panic!("an update's storage failure is UPDATING");
        };
        assert_eq!(
            Chain(&*cause).to_string(),
            "the update could not be applied: storage failed: the store is closed"
        );
    }
}
