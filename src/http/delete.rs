//! `DELETE /v2/{gun}/_trust/tuf/` (notary `DeleteTUF`): removes every file of the GUN.

use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;
use crate::gun::Gun;

/// 200 with an empty body, also for a GUN that holds nothing (as notary does).
pub(super) async fn delete_tuf(state: &AppState, gun: &Gun) -> Result<Response, ApiError> {
    state.repos.delete(gun).await?;
    Ok(().into_response())
}
