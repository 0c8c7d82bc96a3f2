//! `POST /v2/{gun}/_trust/tuf/` (notary `UpdateTUF`): a multipart body, one part per role.
//!
//! The role is the part's raw `filename` (delegations contain `/`, so it is never reduced to a
//! base name); one trailing `.json` is dropped; the field name is not checked. The body is read
//! whole under a size cap before any parsing, and nothing is written unless every part passes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt as _;

use tokio::time::Instant;

use super::error::ApiError;
use super::upload_budget::{Reservation, UploadBudget};
use super::AppState;
use crate::gun::Gun;
use crate::service::ServiceError;
use crate::tuf::cjson;
use crate::tuf::role::RoleName;

/// The largest accepted update request.
pub const MAX_REQUEST_BODY: usize = 24 << 20;
/// The largest accepted `targets` or delegation file: thousands of targets fit.
pub const MAX_TARGETS_FILE: usize = 16 << 20;
/// The largest accepted `root` file.
pub const MAX_ROOT_FILE: usize = 1 << 20;
/// The largest accepted `snapshot` file (one entry per delegation).
pub const MAX_SNAPSHOT_FILE: usize = 4 << 20;
/// The most parts one update may carry.
pub const MAX_PARTS: usize = 1024;

fn role_limit(role: &RoleName) -> usize {
    match role.as_str() {
        "root" => MAX_ROOT_FILE,
        "snapshot" | "timestamp" => MAX_SNAPSHOT_FILE,
        _ => MAX_TARGETS_FILE,
    }
}

/// How long a client may take to send a whole update body. A publish of the largest allowed
/// body over a slow link fits; a client trickling bytes to hold memory does not.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long an update waits for room in the upload budget before it is refused with 503. Short,
/// so that a refused client learns soon; it holds nothing of the budget while it waits.
pub const BUDGET_WAIT: Duration = Duration::from_secs(2);
/// The `Retry-After` (seconds) of an update refused for want of budget.
pub const BUDGET_RETRY_AFTER: u64 = 2;

/// The declared `Content-Length`, if any (hyper has already checked its framing).
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn budget_exhausted(budget: &UploadBudget) -> ApiError {
    ApiError::Unavailable {
        why: format!(
            "more than {} MiB of updates are being received; retry shortly",
            budget.total() >> 20
        ),
        retry_after: BUDGET_RETRY_AFTER,
    }
}

/// Reads the whole body into one buffer of its exact size, under `limit`, holding a
/// reservation of the upload budget for the update: reserved up front from `Content-Length`, or grown
/// as a chunked body arrives. The reservation is returned with the bytes, to be held until the
/// update is answered.
async fn read_body(
    budget: &Arc<UploadBudget>,
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<(Bytes, Reservation), ApiError> {
    let too_large = || ApiError::TooLarge(format!("the request body exceeds {limit} bytes"));
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // A chunked body is reserved for as it arrives.
    let first = declared.unwrap_or(0);
    let mut reservation = budget
        .reserve(first, Instant::now() + BUDGET_WAIT)
        .await
        .ok_or_else(|| budget_exhausted(budget))?;
    // With a declared length, one allocation of the final size: no doubling copies.
    let mut buffer: Vec<u8> = Vec::with_capacity(first);
    let deadline = Instant::now() + BODY_TIMEOUT;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(ApiError::MalformedUpload(format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                )))
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(ApiError::MalformedUpload(
                    "the request body could not be read".into(),
                ))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let length = buffer.len() + data.len();
        if length > limit {
            return Err(too_large());
        }
        if length > reservation.body() {
            // A chunked body: double the reservation (64 KiB at least), up to the limit.
            let next = length.max(reservation.body() * 2).max(64 << 10).min(limit);
            if !reservation.grow(next, Instant::now() + BUDGET_WAIT).await {
                return Err(budget_exhausted(budget));
            }
            buffer.reserve_exact(next - buffer.len());
        }
        buffer.extend_from_slice(&data);
    }
    Ok((Bytes::from(buffer), reservation))
}

/// Bodies larger than this are split and checked on the blocking pool, as validation is: the
/// envelope check parses each part whole, which for a large targets file takes long enough to
/// stall the async worker and every read it serves. Smaller ones stay inline, where the hand-off
/// would cost more than the work.
const INLINE_PARTS_MAX: usize = 64 << 10;

/// Splits the body into role → bytes, checking each part's name, size and envelope shape.
async fn parts(content_type: &str, body: Bytes) -> Result<BTreeMap<RoleName, Bytes>, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::MalformedUpload("expected multipart/form-data with a boundary".into())
    })?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut uploads = BTreeMap::new();
    let mut count = 0;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return Err(ApiError::MalformedUpload(format!(
                    "bad multipart body: {e}"
                )))
            }
        };
        count += 1;
        if count > MAX_PARTS {
            return Err(ApiError::MalformedUpload(format!(
                "more than {MAX_PARTS} parts"
            )));
        }
        let name = field.file_name().unwrap_or("").to_owned();
        let name = name.strip_suffix(".json").unwrap_or(&name).to_owned();
        if name.is_empty() {
            return Err(ApiError::NoFilename);
        }
        let role = RoleName::parse(&name).map_err(|_| ApiError::InvalidRole(name.clone()))?;
        let data = field
            .bytes()
            .await
            .map_err(|e| ApiError::MalformedUpload(format!("bad multipart body: {e}")))?;
        let limit = role_limit(&role);
        if data.len() > limit {
            return Err(ApiError::TooLarge(format!(
                "{role} is larger than {limit} bytes"
            )));
        }
        check_envelope(&role, &data)?;
        // notary-server keeps the last of two parts for one role; what a proxy or a log saw
        // first would then differ from what was stored, so two are refused.
        if uploads.contains_key(&role) {
            return Err(ApiError::MalformedUpload(format!("two parts for {role}")));
        }
        uploads.insert(role, data);
    }
    Ok(uploads)
}

/// Notary's first pass: the part must be a JSON object with a `signed` object and a
/// `signatures` array; anything else is `MALFORMED_JSON`. Read by the scanner alone: a tree of
/// a large targets file would cost several times its size.
fn check_envelope(role: &RoleName, data: &[u8]) -> Result<(), ApiError> {
    let mut top = TopLevel::default();
    cjson::scan(data, &mut top).map_err(|e| ApiError::MalformedJson(format!("{role}: {e}")))?;
    if !(top.signed_object && top.signatures_array) {
        return Err(ApiError::MalformedJson(format!(
            "{role}: expected an object with \"signed\" and \"signatures\""
        )));
    }
    Ok(())
}

/// Notes the JSON types of the members `signed` and `signatures` of a top-level object.
#[derive(Default)]
struct TopLevel {
    /// Containers open.
    depth: usize,
    /// The name of the top-level member whose value comes next.
    member: Option<TopMember>,
    signed_object: bool,
    signatures_array: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TopMember {
    Signatures,
    Signed,
}

impl TopLevel {
    /// A value starts; whether it is an object, an array.
    fn value(&mut self, object: bool, array: bool) {
        if self.depth == 1 {
            match self.member.take() {
                Some(TopMember::Signed) => self.signed_object = object,
                Some(TopMember::Signatures) => self.signatures_array = array,
                None => {}
            }
        }
    }
}

impl cjson::Visitor for TopLevel {
    fn scalar(&mut self, _: cjson::Scalar<'_>) {
        self.value(false, false);
    }

    fn begin_array(&mut self) {
        self.value(false, true);
        self.depth += 1;
    }

    fn end_array(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn begin_object(&mut self) {
        self.value(true, false);
        self.depth += 1;
    }

    fn key(&mut self, key: &str) {
        if self.depth == 1 {
            self.member = match key {
                "signed" => Some(TopMember::Signed),
                "signatures" => Some(TopMember::Signatures),
                _ => None,
            };
        }
    }

    fn end_object(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

/// Validates and stores one atomic update; 200 with an empty body on success.
pub(super) async fn update_tuf(
    state: &AppState,
    gun: &Gun,
    request: Request,
) -> Result<Response, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        return Err(ApiError::MalformedUpload(
            "expected a multipart body".into(),
        ));
    }
    let (headers, body) = {
        let (parts, body) = request.into_parts();
        (parts.headers, body)
    };
    // Held until the update is answered: parsing and validation use memory in proportion.
    let (body, _reservation) =
        read_body(&state.uploads, &headers, body, state.limits.max_body).await?;
    let uploads = if body.len() > INLINE_PARTS_MAX {
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || runtime.block_on(parts(&content_type, body)))
            .await
            .map_err(|e| ApiError::from(ServiceError::Task(e).in_update()))??
    } else {
        parts(&content_type, body).await?
    };
    state.repos.update(gun, uploads).await?;
    Ok(().into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_needs_a_signed_object_and_a_signatures_array_at_the_top() {
        let role = RoleName::targets();
        check_envelope(&role, br#"{"signatures":[],"signed":{"signed":1}}"#).expect("shaped");
        for bad in [
            &br#"{"signed":[],"signatures":[]}"#[..],
            br#"{"signed":{},"signatures":{}}"#,
            br#"{"signed":{}}"#,
            br#"{"x":{"signed":{},"signatures":[]},"signatures":[]}"#,
            br#"[{"signed":{},"signatures":[]}]"#,
            br#"{"signed":{},"signatures":[],"signed":{}}"#,
            br#"{"signed":{},"signatures":[]"#,
        ] {
            assert!(
                matches!(check_envelope(&role, bad), Err(ApiError::MalformedJson(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
