//! `GET /v2/{gun}/_trust/changefeed` and `GET /v2/_trust/changefeed` (notary `Changefeed`).

use axum::response::Response;
use chrono::SecondsFormat;
use serde_json::json;

use super::error::ApiError;
use super::{text_json, AppState};
use crate::gun::Gun;
use crate::storage::ChangePage;

/// The most records one page returns, whatever `records` asks for.
pub const MAX_RECORDS: i64 = 1000;

fn param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Reads `records` (required; `0` means 100; negative pages backwards) and `change_id`.
fn page(query: Option<&str>) -> Result<ChangePage, ApiError> {
    let records = param(query, "records")
        .ok_or_else(|| ApiError::InvalidParameters(json!("records must be an integer")))?;
    let records: i32 = records
        .parse()
        .map_err(|_| ApiError::InvalidParameters(json!("records must be an integer")))?;
    let change_id: i64 = match param(query, "change_id") {
        None | Some("") => 0,
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::InvalidParameters(json!({})))?,
    };
    let limit = match i64::from(records) {
        0 => 100,
        n => n.abs().min(MAX_RECORDS),
    };
    Ok(if records < 0 || change_id < 0 {
        ChangePage::Backward {
            before: (change_id > 0).then_some(change_id),
            limit,
        }
    } else {
        ChangePage::Forward {
            after: change_id,
            limit,
        }
    })
}

/// `{"count":N,"records":[…]}` with notary's capitalised fields and string IDs.
pub(super) async fn changefeed(
    state: &AppState,
    gun: Option<&Gun>,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let page = page(query)?;
    let changes = state.repos.changes(gun, page).await?;
    let records: Vec<_> = changes
        .iter()
        .map(|c| {
            json!({
                "ID": c.id.to_string(),
                "CreatedAt": c.created_at.to_rfc3339_opts(SecondsFormat::Nanos, true),
                "GUN": c.gun,
                "Version": c.version,
                "SHA256": c.sha256,
                "Category": c.category.as_str(),
            })
        })
        .collect();
    Ok(text_json(
        json!({"count": records.len(), "records": records}).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_notary_paging() {
        assert_eq!(
            page(Some("records=10&change_id=5")).expect("valid"),
            ChangePage::Forward {
                after: 5,
                limit: 10
            }
        );
        assert_eq!(
            page(Some("records=0")).expect("valid"),
            ChangePage::Forward {
                after: 0,
                limit: 100
            }
        );
        assert_eq!(
            page(Some("records=-3")).expect("valid"),
            ChangePage::Backward {
                before: None,
                limit: 3
            }
        );
        assert_eq!(
            page(Some("records=-3&change_id=9")).expect("valid"),
            ChangePage::Backward {
                before: Some(9),
                limit: 3
            }
        );
        page(None).expect_err("records is required");
        page(Some("records=abc")).expect_err("records must be an integer");
        page(Some("records=3000000000")).expect_err("records must fit in int32");
        page(Some("records=1&change_id=x")).expect_err("change_id must be an integer");
    }
}
