//! Reading a notary-server database and a notary-signer database, MySQL/MariaDB or
//! PostgreSQL, in the schemas of notary's own migrations (docs/protocol.md §7.1).
//!
//! Only `SELECT`s: the source is never written. Column types differ between the two dialects
//! (`timestamp` without time zone on PostgreSQL), so each query has a form per dialect that
//! yields the same Rust types; times are UTC, as notary writes them.

use chrono::{DateTime, Utc};
use sqlx::{MySqlPool, PgPool, Row};

/// A connection to the old server's (or signer's) database.
#[derive(Debug, Clone)]
pub enum SourceDb {
    /// `mysql://…` (MySQL or MariaDB).
    MySql(MySqlPool),
    /// `postgres://…`.
    Postgres(PgPool),
}

/// One row of notary-server's `tuf_files`.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Role name.
    pub role: String,
    /// Role version.
    pub version: i64,
    /// The stored bytes.
    pub data: Vec<u8>,
    /// When notary-server wrote it, if it recorded that.
    pub created_at: Option<DateTime<Utc>>,
}

/// One row of notary-server's `changefeed`.
#[derive(Debug, Clone)]
pub struct SourceChange {
    /// The record's ID.
    pub id: i64,
    /// When it was recorded.
    pub created_at: Option<DateTime<Utc>>,
    /// Its GUN.
    pub gun: String,
    /// Timestamp version (0 for deletions).
    pub version: i64,
    /// Hex SHA-256 of the timestamp, if any.
    pub sha256: Option<String>,
    /// `update` or `deletion`.
    pub category: String,
}

/// One row of notary-signer's `private_keys` (not soft-deleted).
pub struct SignerKey {
    /// Key ID as notary computed it.
    pub key_id: String,
    /// `ecdsa`, `ed25519` or `rsa`.
    pub algorithm: String,
    /// The name of the passphrase it is sealed under.
    pub passphrase_alias: String,
    /// Its GUN.
    pub gun: String,
    /// Its role.
    pub role: String,
    /// The public key as listed in metadata.
    pub public: Vec<u8>,
    /// The sealed private key (JWE compact serialization).
    pub private: String,
    /// When the signer made it.
    pub created_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerKey")
            .field("key_id", &self.key_id)
            .field("gun", &self.gun)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Runs one query in the dialect of `db` and maps every row with `map`.
macro_rules! fetch_all {
    ($db:expr, mysql: $mysql:expr, postgres: $pg:expr, bind: [$($bind:expr),*], |$row:ident| $map:expr) => {
        match $db {
            SourceDb::MySql(pool) => sqlx::query($mysql)
                $(.bind($bind))*
                .fetch_all(pool)
                .await?
                .iter()
                .map(|$row| $map)
                .collect::<Result<Vec<_>, sqlx::Error>>()?,
            SourceDb::Postgres(pool) => sqlx::query($pg)
                $(.bind($bind))*
                .fetch_all(pool)
                .await?
                .iter()
                .map(|$row| $map)
                .collect::<Result<Vec<_>, sqlx::Error>>()?,
        }
    };
}

impl SourceDb {
    /// Connects to `url` (`mysql://` or `postgres://`), with a small pool: import is one reader.
    pub async fn connect(url: &str) -> anyhow::Result<SourceDb> {
        let options = sqlx::pool::PoolOptions::new().max_connections(2);
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            Ok(SourceDb::MySql(options.connect(&url).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = sqlx::pool::PoolOptions::new().max_connections(2);
            Ok(SourceDb::Postgres(options.connect(url).await?))
        } else {
            anyhow::bail!(
                "unsupported source database URL {:?}: use mysql://… or postgres://…",
                crate::storage::redact_url(url)
            )
        }
    }

    /// Every GUN with stored files, in name order.
    pub async fn guns(&self) -> Result<Vec<String>, sqlx::Error> {
        let sql = "SELECT DISTINCT gun FROM tuf_files ORDER BY gun";
        Ok(fetch_all!(self, mysql: sql, postgres: sql, bind: [], |row| row.try_get::<String, _>(0)))
    }

    /// Every stored file of `gun`, by role and version.
    pub async fn files(&self, gun: &str) -> Result<Vec<SourceFile>, sqlx::Error> {
        Ok(fetch_all!(
            self,
            mysql: "SELECT role, CAST(version AS SIGNED) AS version, data, created_at \
                    FROM tuf_files WHERE gun = ? ORDER BY role, version",
            postgres: "SELECT role, version::BIGINT AS version, data, \
                       created_at AT TIME ZONE 'UTC' AS created_at \
                       FROM tuf_files WHERE gun = $1 ORDER BY role, version",
            bind: [gun],
            |row| Ok(SourceFile {
                role: row.try_get("role")?,
                version: row.try_get("version")?,
                data: row.try_get("data")?,
                created_at: row.try_get("created_at")?,
            })
        ))
    }

    /// The whole changefeed, by ID. Absent on notary-servers older than its migration.
    pub async fn changes(&self) -> Result<Vec<SourceChange>, sqlx::Error> {
        Ok(fetch_all!(
            self,
            mysql: "SELECT CAST(id AS SIGNED) AS id, created_at, gun, \
                    CAST(version AS SIGNED) AS version, sha256, category \
                    FROM changefeed ORDER BY id",
            postgres: "SELECT id::BIGINT AS id, created_at AT TIME ZONE 'UTC' AS created_at, \
                       gun, version::BIGINT AS version, sha256::TEXT AS sha256, category \
                       FROM changefeed ORDER BY id",
            bind: [],
            |row| Ok(SourceChange {
                id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                gun: row.try_get("gun")?,
                version: row.try_get("version")?,
                sha256: row.try_get("sha256")?,
                category: row.try_get("category")?,
            })
        ))
    }

    /// notary-signer's live timestamp and snapshot keys, oldest first.
    pub async fn signer_keys(&self) -> Result<Vec<SignerKey>, sqlx::Error> {
        Ok(fetch_all!(
            self,
            mysql: "SELECT key_id, algorithm, passphrase_alias, gun, role, public, private, \
                    created_at FROM private_keys \
                    WHERE deleted_at IS NULL AND role IN ('timestamp', 'snapshot') ORDER BY id",
            postgres: "SELECT key_id, algorithm, passphrase_alias, gun, role, public, private, \
                       created_at AT TIME ZONE 'UTC' AS created_at FROM private_keys \
                       WHERE deleted_at IS NULL AND role IN ('timestamp', 'snapshot') \
                       ORDER BY id",
            bind: [],
            |row| {
                let private: Vec<u8> = row.try_get("private")?;
                Ok(SignerKey {
                    key_id: row.try_get("key_id")?,
                    algorithm: row.try_get("algorithm")?,
                    passphrase_alias: row.try_get("passphrase_alias")?,
                    gun: row.try_get("gun")?,
                    role: row.try_get("role")?,
                    public: row.try_get("public")?,
                    private: String::from_utf8_lossy(&private).into_owned(),
                    created_at: row.try_get("created_at")?,
                })
            }
        ))
    }
}
