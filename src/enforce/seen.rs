//! What the enforcer remembers per trust source and repository: in memory always, and for
//! remote sources in the trust directory when there is one, so rollback protection and the
//! root anchor hold across runs.

use std::path::PathBuf;

use crate::gun::Gun;
use crate::policy::{Seen, TrustData};
use crate::remote::{CachedRepo, TrustCache};

/// Repositories remembered in memory; past this the least used are forgotten (a remote source
/// with a trust directory still has them on disk).
const REMEMBERED: usize = 65_536;

/// A trust source, as memory is keyed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Origin {
    /// The local store.
    Local,
    /// A remote server, by URL.
    Remote(String),
}

pub(super) struct SeenStore {
    memory: quick_cache::sync::Cache<(Origin, String), Seen>,
    dir: Option<PathBuf>,
}

impl SeenStore {
    pub(super) fn new(dir: Option<PathBuf>) -> SeenStore {
        SeenStore {
            memory: quick_cache::sync::Cache::new(REMEMBERED),
            dir,
        }
    }

    /// What was last trusted of `gun` from `origin`, in memory.
    pub(super) fn get(&self, origin: &Origin, gun: &Gun) -> Seen {
        self.memory
            .get(&(origin.clone(), gun.as_str().to_owned()))
            .unwrap_or_default()
    }

    /// The trust directory's record of `gun` from a remote `origin` (its files too), else what
    /// memory holds.
    pub(super) fn cached(&self, origin: &Origin, gun: &Gun) -> Result<CachedRepo, String> {
        let remembered = self.get(origin, gun);
        let Some(cache) = self.trust_cache(origin) else {
            return Ok(CachedRepo {
                seen: remembered,
                ..CachedRepo::default()
            });
        };
        let mut on_disk = cache.load(gun.as_str()).map_err(|e| e.to_string())?;
        // Memory may be ahead of the disk (a write that failed); never go back to the older.
        if newer(&remembered, &on_disk.seen) {
            on_disk.seen = remembered;
        }
        Ok(on_disk)
    }

    /// Remembers a verified read.
    pub(super) fn put(&self, origin: &Origin, gun: &Gun, seen: Seen, data: Option<&TrustData>) {
        if let (Some(cache), Some(data)) = (self.trust_cache(origin), data) {
            if let Err(e) = cache.store(gun.as_str(), &seen, data) {
                tracing::warn!(gun = %gun.as_str(), error = %e, "could not write the trust directory");
            }
        }
        self.memory
            .insert((origin.clone(), gun.as_str().to_owned()), seen);
    }

    fn trust_cache(&self, origin: &Origin) -> Option<TrustCache> {
        let Origin::Remote(url) = origin else {
            return None;
        };
        let dir = self.dir.as_ref()?;
        Some(TrustCache::new(dir.join(server_dir_name(url))))
    }
}

/// Whether `a` has seen a higher version of any role than `b`.
fn newer(a: &Seen, b: &Seen) -> bool {
    a.versions
        .iter()
        .any(|(role, v)| b.versions.get(role).is_none_or(|w| v > w))
}

/// A directory name for a server URL: its host and port, other characters as `_`.
fn server_dir_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let name: String = authority
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        format!("_{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_dir_names_are_plain() {
        assert_eq!(
            super::server_dir_name("https://notary.docker.io"),
            "notary.docker.io"
        );
        assert_eq!(
            super::server_dir_name("https://127.0.0.1:4443/x"),
            "127.0.0.1_4443"
        );
        assert_eq!(super::server_dir_name("https://../"), "_..");
    }
}
