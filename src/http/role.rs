//! `GET /v2/{gun}/_trust/tuf/…json`: a role current (`GetRole`), by version
//! (`GetRoleByVersion`) and by checksum (`GetRoleByHash`). Always the stored bytes.

use axum::http::{header, HeaderValue};
use axum::response::Response;

use super::error::ApiError;
use super::{text_json, AppState};
use crate::gun::Gun;
use crate::storage::StoredFile;
use crate::tuf::role::RoleName;

enum Freshness {
    Current,
    Consistent,
}

fn cache_control(max_age: u32, freshness: Freshness) -> String {
    match (max_age, freshness) {
        (0, _) => "max-age=0, no-cache, no-store".to_owned(),
        (age, Freshness::Current) => {
            format!("public, max-age={age}, s-maxage={age}, must-revalidate")
        }
        (age, Freshness::Consistent) => format!("public, max-age={age}, s-maxage={age}"),
    }
}

fn respond(state: &AppState, file: StoredFile, freshness: Freshness) -> Response {
    let max_age = match freshness {
        Freshness::Current => state.cache.current,
        Freshness::Consistent => state.cache.consistent,
    };
    let mut response = text_json(file.data);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::try_from(cache_control(max_age, freshness)) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    if max_age == 0 {
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    let modified = file
        .created_at
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = HeaderValue::try_from(modified) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    response
}

/// Role names that match the route pattern but are not valid roles are simply not found.
fn role_name(role: &str) -> Result<RoleName, ApiError> {
    RoleName::parse(role).map_err(|_| ApiError::MetadataNotFound)
}

/// The current version, following timestamp → snapshot → role.
pub(super) async fn get_role(
    state: &AppState,
    gun: &Gun,
    role: &str,
) -> Result<Response, ApiError> {
    let role = role_name(role)?;
    let file = state.repos.current_role(gun, &role).await?;
    Ok(respond(state, file, Freshness::Current))
}

/// One version. `01` reads as 1; a version too large to be stored is not found.
pub(super) async fn get_role_by_version(
    state: &AppState,
    gun: &Gun,
    role: &str,
    version: &str,
) -> Result<Response, ApiError> {
    let role = role_name(role)?;
    let version: i64 = version.parse().map_err(|_| ApiError::MetadataNotFound)?;
    let file = state
        .repos
        .role_by_version(gun, role.as_str(), version)
        .await?;
    Ok(respond(state, file, Freshness::Consistent))
}

/// By lowercase hex SHA-256 of the stored bytes; other digests are not found (as in notary).
pub(super) async fn get_role_by_hash(
    state: &AppState,
    gun: &Gun,
    role: &str,
    checksum: &str,
) -> Result<Response, ApiError> {
    let role = role_name(role)?;
    if checksum.len() != 64 {
        return Err(ApiError::MetadataNotFound);
    }
    let file = state
        .repos
        .role_by_checksum(gun, role.as_str(), checksum)
        .await?;
    Ok(respond(state, file, Freshness::Consistent))
}
