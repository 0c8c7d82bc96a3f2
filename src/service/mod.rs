//! The repository service: what the HTTP handlers ask for, in TUF terms.
//!
//! It reads the consistent current state from storage, runs the pure validator, has the
//! server's keys sign what the server generates, and commits everything in one transaction.

mod cache;
mod current;
mod generate;
mod mirrored;
mod parsed;
mod update;

pub use cache::{DEFAULT_MAX_ENTRIES as DEFAULT_CACHE_ENTRIES, DEFAULT_TTL as DEFAULT_CACHE_TTL};

use crate::clock::SharedClock;
use crate::gun::Gun;
use crate::signing::{ServerKeys, ServerRole, SigningError};
use crate::storage::{Change, ChangePage, SharedStore, StorageError, StoredFile};
use crate::tuf::key::PublicKey;
use crate::validation::ValidationError;

/// Default lifetimes of what the server signs (docs/protocol.md §4.3).
pub mod lifetimes {
    use chrono::Duration;

    /// Server-generated timestamps: 14 days.
    pub fn timestamp() -> Duration {
        Duration::days(14)
    }

    /// Server-generated snapshots: 3 × 365 days.
    pub fn snapshot() -> Duration {
        Duration::days(3 * 365)
    }

    /// A timestamp closer than this to its expiry is replaced on the next read, so clients
    /// never receive one about to lapse.
    pub fn timestamp_refresh_margin() -> Duration {
        Duration::hours(24)
    }
}

/// What a cause kept as a source may be.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a service call failed; `crate::http::error` maps each variant to one notary error code.
/// Where the code depends on the operation (a storage failure is `UPDATING` in an update,
/// `UNKNOWN` elsewhere), the operation says so with its own variant ([`ServiceError::Updating`]).
/// Causes are kept as sources, never formatted into the message, so the one log line of a
/// failure shows the whole chain ([`crate::report::Chain`]).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The update broke a TUF rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A version is not above what is stored (a racing or replayed update).
    #[error("a newer version of metadata is already stored")]
    Conflict,
    /// No such metadata.
    #[error("metadata not found")]
    NotFound,
    /// The repository changed under every attempt to read it consistently.
    #[error("the repository kept changing while it was read")]
    Contended,
    /// Stored metadata could not be parsed (it was valid when written), or is inconsistent.
    #[error("stored metadata is corrupt: {what}")]
    Corrupt {
        /// Which file, or what is missing.
        what: String,
        /// The parse error, if any.
        #[source]
        source: Option<Cause>,
    },
    /// Generated metadata needs a key the server does not hold.
    #[error("the server cannot sign {0} for this repository")]
    CannotSign(&'static str),
    /// Storage failed.
    #[error("storage failed")]
    Storage(#[source] StorageError),
    /// Key management failed.
    #[error("key management failed")]
    Signing(#[source] SigningError),
    /// A task on the blocking pool panicked or was cancelled.
    #[error("an internal task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The repository is mirrored from another server and not yet handed over.
    #[error("{}", mirrored::mirrored_message(gun, source_url, roles))]
    Mirrored {
        /// The GUN.
        gun: String,
        /// The server it is mirrored from.
        source_url: String,
        /// The roles still held there.
        roles: Vec<String>,
    },
    /// An update failed for a reason of the server's, not the client's (notary's `UPDATING`).
    #[error("the update could not be applied")]
    Updating(#[source] Box<ServiceError>),
}

impl ServiceError {
    /// Corruption without an underlying error.
    pub(crate) fn corrupt(what: impl Into<String>) -> ServiceError {
        ServiceError::Corrupt {
            what: what.into(),
            source: None,
        }
    }

    /// Corruption found by a parser.
    pub(crate) fn corrupt_because(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ServiceError {
        ServiceError::Corrupt {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }

    /// This failure as the answer to an update: the client's faults (an invalid update, a
    /// version conflict, a repository changing under the read) stay as they are; anything
    /// else is the server's, [`ServiceError::Updating`].
    pub(crate) fn in_update(self) -> ServiceError {
        match self {
            ServiceError::Invalid(_) | ServiceError::Conflict | ServiceError::Mirrored { .. } => {
                self
            }
            // Another writer won: to the client, the same as a conflict.
            ServiceError::Contended => ServiceError::Conflict,
            ServiceError::Updating(_) => self,
            other => ServiceError::Updating(Box::new(other)),
        }
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> ServiceError {
        match e {
            StorageError::Conflict => ServiceError::Conflict,
            other => ServiceError::Storage(other),
        }
    }
}

impl From<SigningError> for ServiceError {
    fn from(e: SigningError) -> ServiceError {
        match e {
            SigningError::Storage(s) => s.into(),
            other => ServiceError::Signing(other),
        }
    }
}

/// Result alias for service calls.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The service, shared by every request.
pub struct Repos {
    store: SharedStore,
    keys: ServerKeys,
    clock: SharedClock,
    cache: std::sync::Arc<cache::CurrentCache>,
    parsed: parsed::ParsedRoles,
}

impl std::fmt::Debug for Repos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repos")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Repos {
    /// A service over `store`, with server keys in `keys`.
    ///
    /// When the store reports other processes' writes (several replicas on one database),
    /// they invalidate the cache here as this process's own writes do; the cache's time to
    /// live bounds staleness only if a notice is lost. Must be called inside the runtime.
    pub fn new(store: SharedStore, keys: ServerKeys, clock: SharedClock) -> Repos {
        let cache = cache::CurrentCache::new(DEFAULT_CACHE_TTL, DEFAULT_CACHE_ENTRIES);
        Repos {
            cache: Repos::watched(&store, cache),
            parsed: parsed::ParsedRoles::default(),
            store,
            keys,
            clock,
        }
    }

    /// The same service with another current-files cache: entries live at most `ttl` (zero
    /// turns the cache off), and at most `max_entries` repositories are kept.
    pub fn with_cache(mut self, ttl: std::time::Duration, max_entries: usize) -> Repos {
        self.cache = Repos::watched(&self.store, cache::CurrentCache::new(ttl, max_entries));
        self
    }

    /// Shares `cache` with a task that applies the store's notices of other processes' writes;
    /// the task ends when the cache is dropped.
    fn watched(
        store: &SharedStore,
        cache: cache::CurrentCache,
    ) -> std::sync::Arc<cache::CurrentCache> {
        let cache = std::sync::Arc::new(cache);
        if let Some(mut notices) = store.changes_elsewhere() {
            let weak = std::sync::Arc::downgrade(&cache);
            tokio::spawn(async move {
                loop {
                    let notice = notices.recv().await;
                    let Some(cache) = weak.upgrade() else { return };
                    match notice {
                        Ok(crate::storage::Changed::Gun(name)) => cache.invalidate_name(&name),
                        // Lagged behind the notices, or told they were lost: forget everything.
                        Ok(crate::storage::Changed::Everything)
                        | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => cache.clear(),
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
        cache
    }

    /// The current time, from the service's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The store, for health checks.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// A role at a version.
    pub async fn role_by_version(&self, gun: &Gun, role: &str, version: i64) -> Result<StoredFile> {
        self.store
            .file_by_version(gun, role, version)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// A role by the lowercase hex SHA-256 of its bytes.
    pub async fn role_by_checksum(
        &self,
        gun: &Gun,
        role: &str,
        sha256: &str,
    ) -> Result<StoredFile> {
        self.store
            .file_by_checksum(gun, role, sha256)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// The public key clients should list for `role` (`GET …/{role}.key`).
    pub async fn key(&self, gun: &Gun, role: ServerRole) -> Result<PublicKey> {
        let current = self.current_state(gun).await?;
        let listed = current
            .root
            .as_ref()
            .and_then(|r| r.signed.signed.roles.get(role.as_str()))
            .map(|r| r.keyids.clone());
        Ok(self
            .keys
            .current_or_pending(gun, role, listed.as_deref())
            .await?)
    }

    /// A new key for `role` (`POST …/{role}.key`).
    pub async fn rotate_key(&self, gun: &Gun, role: ServerRole) -> Result<PublicKey> {
        Ok(self.keys.rotate(gun, role).await?)
    }

    /// Commits `files` for `gun` (see [`crate::storage::Store::commit_update`]) and forgets
    /// the cached current files: every write of metadata goes through here.
    async fn commit(
        &self,
        gun: &Gun,
        base: Option<i64>,
        files: &[crate::storage::NewFile],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        self.store.commit_update(gun, base, files, now).await?;
        self.cache.invalidate(gun);
        Ok(())
    }

    /// Removes every file of the GUN.
    pub async fn delete(&self, gun: &Gun) -> Result<()> {
        if let Some(m) = self.mirrored(gun).await? {
            return Err(ServiceError::Mirrored {
                gun: gun.to_string(),
                source_url: m.source,
                roles: m.server_roles,
            });
        }
        let removed = self.store.delete_gun(gun, self.clock.now()).await?;
        self.cache.invalidate(gun);
        self.parsed.forget(gun);
        if removed {
            tracing::info!(gun = %gun, "deleted repository");
        }
        Ok(())
    }

    /// A page of the changefeed.
    pub async fn changes(&self, gun: Option<&Gun>, page: ChangePage) -> Result<Vec<Change>> {
        Ok(self.store.changes(gun, page).await?)
    }
}
