//! Following a remote trust server's changefeed, so that decisions on its repositories can be
//! kept until a repository changes (and never once the feed cannot be read).
//!
//! A decision is stored with the repository's *stamp* taken before its trust data was read;
//! every change the feed reports bumps the stamp, so a decision that raced a publish is never
//! reused. While the feed is failing nothing is reused; when it answers again it resumes from
//! the last record it had, so no change is missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::remote::Remote;

/// How often the changefeed is read.
pub(super) const POLL: Duration = Duration::from_secs(2);
/// The most repositories whose stamps are kept; past it every stamp starts over (and every
/// kept decision is dropped).
const MAX_STAMPS: usize = 100_000;

/// One server's changefeed, as far as it has been read.
#[derive(Debug, Default)]
pub(super) struct Feed {
    healthy: AtomicBool,
    epoch: AtomicU64,
    stamps: Mutex<HashMap<String, u64>>,
}

/// What a kept decision was made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token {
    epoch: u64,
    stamp: u64,
}

impl Feed {
    /// The token of `gun` now; `None` while the feed is not being read.
    pub(super) fn token(&self, gun: &str) -> Option<Token> {
        if !self.healthy.load(Ordering::Acquire) {
            return None;
        }
        let stamps = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Token {
            epoch: self.epoch.load(Ordering::Acquire),
            stamp: stamps.get(gun).copied().unwrap_or(0),
        })
    }

    fn changed(&self, gun: &str) {
        let mut stamps = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        if stamps.len() >= MAX_STAMPS && !stamps.contains_key(gun) {
            stamps.clear();
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        *stamps.entry(gun.to_owned()).or_insert(0) += 1;
    }
}

/// Starts following `remote`'s changefeed into a new feed; the task ends when the feed is
/// dropped.
pub(super) fn follow(server: String, remote: Remote) -> Arc<Feed> {
    let feed = Arc::new(Feed::default());
    let weak: Weak<Feed> = Arc::downgrade(&feed);
    tokio::spawn(async move {
        let mut last: Option<i64> = None;
        let mut warned = false;
        loop {
            let Some(feed) = weak.upgrade() else { return };
            let mut more = false;
            match remote.changes(last).await {
                Ok(changes) => {
                    match last {
                        // The first read only finds where the feed is now.
                        None => last = Some(changes.last().map_or(0, |c| c.id)),
                        Some(ref mut at) => {
                            for change in &changes {
                                feed.changed(&change.gun);
                                *at = (*at).max(change.id);
                            }
                            more = changes.len() as i64 >= crate::remote::changes::PAGE;
                        }
                    }
                    if !feed.healthy.swap(true, Ordering::AcqRel) {
                        tracing::info!(server = %server, "following the changefeed: decisions on its repositories are kept until they change");
                    }
                }
                Err(e) => {
                    if feed.healthy.swap(false, Ordering::AcqRel) || !warned {
                        warned = true;
                        tracing::warn!(server = %server, error = %e, "cannot read the changefeed: every decision reads the trust server again until it can");
                    }
                }
            }
            drop(feed);
            if !more {
                tokio::time::sleep(POLL).await;
            }
        }
    });
    feed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_invalidates_only_its_repository() {
        let feed = Feed::default();
        assert_eq!(feed.token("a"), None, "not followed yet");
        feed.healthy.store(true, Ordering::Release);
        let a = feed.token("a");
        let b = feed.token("b");
        feed.changed("a");
        assert_ne!(feed.token("a"), a);
        assert_eq!(feed.token("b"), b);
        feed.healthy.store(false, Ordering::Release);
        assert_eq!(feed.token("b"), None);
    }
}
