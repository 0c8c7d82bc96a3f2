//! The global changefeed of a trust server (`GET /v2/_trust/changefeed`): which repositories
//! changed since a record, so a long-running verifier can keep decisions until they change.

use serde::Deserialize;

use super::auth::{Freshness, GetError, Session};
use super::{Remote, RemoteError};

/// The most records asked for in one page.
pub const PAGE: i64 = 1000;
/// The largest changefeed page read.
const MAX_PAGE_BYTES: usize = 4 << 20;

/// One changefeed record: its position and the repository it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The record's ID (one sequence over all repositories).
    pub id: i64,
    /// The repository that changed.
    pub gun: String,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    records: Option<Vec<Record>>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "GUN")]
    gun: String,
}

impl Remote {
    /// The changes after record `after`, oldest first, at most [`PAGE`]; with `after` `None`,
    /// the newest record only (where to start following from).
    pub async fn changes(&self, after: Option<i64>) -> Result<Vec<Change>, RemoteError> {
        let mut url = self.transport.changefeed_url();
        match after {
            Some(id) => url
                .query_pairs_mut()
                .append_pair("change_id", &id.to_string())
                .append_pair("records", &PAGE.to_string()),
            None => url.query_pairs_mut().append_pair("records", "-1"),
        };
        let session = Session::catalog(&self.config, &self.transport);
        let body = session
            .get(&url, MAX_PAGE_BYTES, Freshness::Fresh)
            .await
            .map_err(|e| match e {
                GetError::NotFound(why) | GetError::Failed(why) => RemoteError::Fetch(why),
            })?;
        let page: Page = serde_json::from_slice(&body)
            .map_err(|e| RemoteError::Fetch(format!("GET {url}: not a changefeed page: {e}")))?;
        page.records
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                r.id.parse::<i64>()
                    .map(|id| Change { id, gun: r.gun })
                    .map_err(|_| {
                        RemoteError::Fetch(format!("GET {url}: a record ID is not a number"))
                    })
            })
            .collect()
    }
}
