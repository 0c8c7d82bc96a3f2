//! `GET` and `POST /v2/{gun}/_trust/tuf/{snapshot|timestamp}.key` (notary `GetKey`,
//! `RotateKey`).

use axum::response::Response;

use super::error::ApiError;
use super::{text_json, AppState};
use crate::gun::Gun;
use crate::signing::ServerRole;

fn server_role(role: &str) -> Result<ServerRole, ApiError> {
    match role {
        "snapshot" => Ok(ServerRole::Snapshot),
        "timestamp" => Ok(ServerRole::Timestamp),
        _ => Err(ApiError::NoRoute),
    }
}

/// The key the server signs `role` with for this GUN, created on first request.
pub(super) async fn get_key(state: &AppState, gun: &Gun, role: &str) -> Result<Response, ApiError> {
    let key = state.repos.key(gun, server_role(role)?).await?;
    Ok(text_json(key.to_response_json()))
}

/// A new key for `role`; it signs once a root listing it is accepted.
pub(super) async fn rotate_key(
    state: &AppState,
    gun: &Gun,
    role: &str,
) -> Result<Response, ApiError> {
    let key = state.repos.rotate_key(gun, server_role(role)?).await?;
    tracing::info!(gun = %gun, role, key_id = %key.id(), "rotated server key");
    Ok(text_json(key.to_response_json()))
}
