//! Storage of versioned metadata, the changefeed and server-managed keys, behind one trait.
//!
//! The trait speaks in bytes and names; it knows nothing of TUF rules. Each backend runs its
//! own embedded migrations at start: SQLite for one process ([`sqlite`]), PostgreSQL for
//! several replicas on one database ([`postgres`]).

mod migrate;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::gun::Gun;

/// One stored version of one role of one GUN.
#[derive(Debug, Clone)]
pub struct StoredFile {
    /// Role name (`root`, `targets/releases`, …).
    pub role: String,
    /// The role's `version`.
    pub version: i64,
    /// The bytes exactly as uploaded or generated; served as they are.
    pub data: Bytes,
    /// Lowercase hex SHA-256 of `data`, the key of `role.<sha256>.json` lookups.
    pub sha256: String,
    /// When this version was written.
    pub created_at: DateTime<Utc>,
}

/// What the index holds of a stored file: everything but its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHead {
    /// Role name.
    pub role: String,
    /// The role's `version`.
    pub version: i64,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// When this version was written.
    pub created_at: DateTime<Utc>,
}

impl FileHead {
    /// The stored file this head describes, given its bytes (which the caller holds by this
    /// head's hash).
    pub fn with_data(self, data: Bytes) -> StoredFile {
        StoredFile {
            role: self.role,
            version: self.version,
            data,
            sha256: self.sha256,
            created_at: self.created_at,
        }
    }
}

/// Of `rows` (files or heads) the one whose role is `first` and the one whose role is
/// `second`: how a statement reading the newest of two roles together is answered.
pub(crate) fn two_roles<T>(
    rows: impl IntoIterator<Item = T>,
    role: impl Fn(&T) -> &str,
    first: &str,
    second: &str,
) -> (Option<T>, Option<T>) {
    let (mut a, mut b) = (None, None);
    for row in rows {
        if role(&row) == first {
            a = Some(row);
        } else if role(&row) == second {
            b = Some(row);
        }
    }
    (a, b)
}

/// A file to write in an update.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Role name.
    pub role: String,
    /// The role's `version`; must be above every stored version of the role.
    pub version: i64,
    /// Exact bytes to store.
    pub data: Bytes,
}

/// One changefeed record (docs/protocol.md §7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the one global sequence.
    pub id: i64,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// The GUN it is about.
    pub gun: String,
    /// Timestamp version for updates, 0 for deletions.
    pub version: i64,
    /// Hex SHA-256 of the new timestamp; empty for deletions.
    pub sha256: String,
    /// `update` or `deletion`.
    pub category: ChangeCategory,
}

/// What a changefeed record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeCategory {
    /// Every file of the GUN was removed.
    Deletion,
    /// A new timestamp was stored.
    Update,
}

impl ChangeCategory {
    /// The word notary uses on the wire and in its tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeCategory::Deletion => "deletion",
            ChangeCategory::Update => "update",
        }
    }
}

/// Which page of the changefeed to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangePage {
    /// Records with an ID above `after`, oldest first.
    Forward { after: i64, limit: i64 },
    /// The newest records with an ID below `before` (no bound when `None`), oldest first.
    Backward { before: Option<i64>, limit: i64 },
}

/// A server-managed private key, as stored: the private half sealed under the key-encryption key.
#[derive(Clone)]
pub struct StoredKey {
    /// The GUN that owns the key; it never signs for another.
    pub gun: String,
    /// `timestamp` or `snapshot`.
    pub role: String,
    /// Order of creation for this GUN and role, from 0.
    pub generation: i64,
    /// Key ID of the public key.
    pub key_id: String,
    /// Key type of the public key (`ed25519`).
    pub algorithm: String,
    /// Public key bytes.
    pub public: Vec<u8>,
    /// Sealed private key (nonce and ciphertext); only the signing module opens it.
    pub sealed_private: Vec<u8>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("gun", &self.gun)
            .field("role", &self.role)
            .field("generation", &self.generation)
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("sealed_private", &"<redacted>")
            .finish()
    }
}

/// A repository copied from another trust server and not yet handed over (`notarium mirror`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The GUN.
    pub gun: String,
    /// The server it is copied from.
    pub source: String,
    /// The roles whose keys only the source holds (`timestamp`, maybe `snapshot`): until each
    /// is rotated to a key this server holds, the repository is read-only here.
    pub server_roles: Vec<String>,
    /// When it was first mirrored.
    pub created_at: DateTime<Utc>,
}

impl Mirror {
    /// The roles as stored: comma-separated.
    pub(crate) fn roles_text(roles: &[String]) -> String {
        roles.join(",")
    }

    /// The roles from their stored form.
    pub(crate) fn roles_from(text: &str) -> Vec<String> {
        text.split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// What another process wrote, for caches of this one (see [`Store::changes_elsewhere`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The files of this GUN changed.
    Gun(String),
    /// Notices may have been lost (the connection that carries them dropped): forget everything.
    Everything,
}

/// Connection pool settings; each backend applies the ones that make sense for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections open at once (SQLite: readers; PostgreSQL: per replica).
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout: std::time::Duration,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Storage failures, small on purpose: callers branch only on these.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A role version is not above every stored version, or a key generation is taken.
    #[error("a newer or equal version is already stored")]
    Conflict,
    /// Anything else the database reported.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Anything else the embedded database reported.
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction this update was written in with others failed; every update of the
    /// batch gets the same cause.
    #[error("the group commit failed")]
    Batch(#[source] std::sync::Arc<StorageError>),
    /// A task of the store on the blocking pool failed, or the store has stopped.
    #[error("{0}")]
    Stopped(&'static str, #[source] Option<tokio::task::JoinError>),
    /// The thread that writes the embedded database could not be started.
    #[error("cannot start the database writer")]
    Writer(#[source] std::io::Error),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database server is a version this backend does not support.
    #[error("unsupported database server: {0}")]
    Unsupported(String),
}

/// Result alias for storage calls.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Everything the server keeps.
#[async_trait]
pub trait Store: std::fmt::Debug + Send + Sync + 'static {
    /// One version of a role.
    async fn file_by_version(
        &self,
        gun: &Gun,
        role: &str,
        version: i64,
    ) -> Result<Option<StoredFile>>;
    /// The version of a role whose bytes hash to `sha256` (lowercase hex), in this GUN only.
    async fn file_by_checksum(
        &self,
        gun: &Gun,
        role: &str,
        sha256: &str,
    ) -> Result<Option<StoredFile>>;
    /// The highest stored version of a role.
    async fn latest_file(&self, gun: &Gun, role: &str) -> Result<Option<StoredFile>>;
    /// The highest stored version of each of two roles, read together in one consistent view
    /// (one statement, or one read transaction): what a cold read of `timestamp.json` needs, the
    /// timestamp and the snapshot it almost always names.
    async fn latest_two(
        &self,
        gun: &Gun,
        first: &str,
        second: &str,
    ) -> Result<(Option<StoredFile>, Option<StoredFile>)>;
    /// [`Store::latest_two`] without the files' bytes, from an index that holds the rest: for a
    /// reader that keeps the bytes of files it has seen by hash, so that telling whether they
    /// are still the newest reads no table row.
    async fn latest_two_heads(
        &self,
        gun: &Gun,
        first: &str,
        second: &str,
    ) -> Result<(Option<FileHead>, Option<FileHead>)>;
    /// Writes every file in one transaction, or none: [`StorageError::Conflict`] when a role's
    /// version is not above everything stored for it, or when the newest stored timestamp
    /// version is no longer `base` (the one the update was validated against; `None` for a
    /// new GUN), as after a concurrent delete. A `timestamp` file also appends an `update`
    /// record to the changefeed.
    async fn commit_update(
        &self,
        gun: &Gun,
        base: Option<i64>,
        files: &[NewFile],
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Removes every file of the GUN; records a `deletion` when anything was removed.
    /// Server keys and changefeed history are kept. Returns whether anything was removed.
    async fn delete_gun(&self, gun: &Gun, now: DateTime<Utc>) -> Result<bool>;
    /// A page of the changefeed, of one GUN or of all.
    async fn changes(&self, gun: Option<&Gun>, page: ChangePage) -> Result<Vec<Change>>;
    /// Every server key of a GUN and role, oldest first.
    async fn keys(&self, gun: &Gun, role: &str) -> Result<Vec<StoredKey>>;
    /// Every server key of every GUN, by GUN, role and generation.
    async fn all_keys(&self) -> Result<Vec<StoredKey>>;
    /// Replaces the sealed private half of each key (matched by GUN, role, generation and key
    /// ID) in one transaction: all or none ([`StorageError::Conflict`] if one is missing).
    async fn reseal_keys(&self, keys: &[StoredKey]) -> Result<()>;
    /// Stores a new key; [`StorageError::Conflict`] when its generation is already taken, which
    /// is how two racing creators agree on one key.
    async fn insert_key(&self, key: &StoredKey) -> Result<()>;
    /// Up to `limit` GUNs that have a timestamp, in name order, after `after` (exclusive);
    /// how background renewal walks every repository a page at a time.
    async fn guns_after(&self, after: &str, limit: i64) -> Result<Vec<String>>;
    /// Whether the database answers and holds our schema.
    async fn health(&self) -> Result<()>;
    /// Whether nothing at all is stored (no file, change or key): `notarium import` only
    /// writes into an empty store.
    async fn is_empty(&self) -> Result<bool>;
    /// Writes one GUN's carried-over history as it was (versions, bytes, times) and its server
    /// keys, in one transaction; [`StorageError::Conflict`] if the GUN already has files.
    async fn import_gun(&self, gun: &Gun, files: &[StoredFile], keys: &[StoredKey]) -> Result<()>;
    /// Writes carried-over changefeed records with their own IDs, in one transaction.
    async fn import_changes(&self, changes: &[Change]) -> Result<()>;
    /// Writes a mirrored repository's files in one transaction, or none: a file whose role and
    /// version are already stored with the same bytes is skipped, with other bytes it is a
    /// [`StorageError::Conflict`] (the source rewrote history); each new `timestamp` appends
    /// an `update` record. Records the GUN as mirrored from `source` with `server_roles`; a
    /// GUN that has files but is not mirrored (a native one) is a conflict. Returns how many
    /// files were new.
    async fn store_mirrored(
        &self,
        gun: &Gun,
        source: &str,
        server_roles: &[String],
        files: &[StoredFile],
        now: DateTime<Utc>,
    ) -> Result<usize>;
    /// Every mirrored repository not yet handed over, by GUN.
    async fn mirrors(&self) -> Result<Vec<Mirror>>;
    /// The mirror record of `gun`, if it is mirrored.
    async fn mirror(&self, gun: &Gun) -> Result<Option<Mirror>>;
    /// Sets the roles still held by the source; with none left the record is removed and the
    /// repository is native.
    async fn set_mirror_roles(&self, gun: &Gun, server_roles: &[String]) -> Result<()>;
    /// Connections open and idle in the pool, for metrics.
    fn pool_state(&self) -> Option<(u32, usize)> {
        None
    }
    /// Notices of writes by other processes on the same database, for those that can have any.
    fn changes_elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<Changed>> {
        None
    }
}

/// The store as the application state holds it.
pub type SharedStore = Arc<dyn Store>;

/// Lowercase hex SHA-256, the form stored beside every file.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

/// Opens the store named by a database URL: `sqlite://PATH` or `postgres://…`
/// (`postgresql://` too).
pub async fn open(url: &str, pool: PoolSettings) -> anyhow::Result<SharedStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PostgresStore::open(url, pool).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL scheme in {:?}: use sqlite://PATH or postgres://…",
            redact_url(url)
        )
    }
}

/// A database URL fit for messages: any password replaced, and the query string (where
/// drivers also take `password=` and `sslpassword=`) and fragment left out.
pub fn redact_url(url: &str) -> String {
    let (url, dropped) = match url.find(['?', '#']) {
        Some(cut) => (&url[..cut], "?***"),
        None => (url, ""),
    };
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!(
                "{}://{}:***@{}{dropped}",
                &url[..scheme_end],
                user,
                &url[at + 1..]
            )
        }
        _ => format!("{url}{dropped}"),
    }
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn no_password_survives_in_userinfo_or_query() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/notary"),
            "postgres://app:***@db:5432/notary"
        );
        assert_eq!(
            redact_url("postgres://db/notary?user=app&password=s3cret#x"),
            "postgres://db/notary?***"
        );
        assert_eq!(
            redact_url("mysql://root:pw@h:3306/db?ssl-mode=required"),
            "mysql://root:***@h:3306/db?***"
        );
        assert_eq!(
            redact_url("sqlite:///data/notarium.db"),
            "sqlite:///data/notarium.db"
        );
    }
}
