//! The embedded default: one SQLite file in WAL mode.
//!
//! SQLite allows one writer at a time. Writes go through one async mutex so a transaction never
//! has to upgrade from reader to writer under contention (which SQLite answers with BUSY);
//! reads run in parallel on the pool thanks to WAL. Updates are written by one task that
//! commits all waiting updates together ([`group_commit`]).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Row, Sqlite};
use tokio::sync::Mutex;
use tracing::instrument;

use super::{
    migrate, Change, ChangeCategory, ChangePage, NewFile, Result, StorageError, Store, StoredFile,
    StoredKey,
};
use crate::gun::Gun;

mod group_commit;

/// A store in one SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    pool: Pool<Sqlite>,
    write: Arc<Mutex<()>>,
    commits: tokio::sync::mpsc::Sender<group_commit::Job>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable: an acknowledged update survives power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // 16 MiB of page cache per connection (SQLite's default is 2 MiB): reads of many
            // repositories stay in memory.
            .pragma("cache_size", "-16384")
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options)
            .await?;
        migrate::run_sqlite(&pool, migrate::SQLITE).await?;
        let write = Arc::new(Mutex::new(()));
        let commits = group_commit::start(pool.clone(), Arc::clone(&write));
        Ok(SqliteStore {
            pool,
            write,
            commits,
        })
    }
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_time(text: &str) -> DateTime<Utc> {
    // Only this module writes these columns, always in RFC 3339; an unreadable value is shown
    // as the epoch rather than failing a read.
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn file_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredFile> {
    let data: Vec<u8> = row.try_get("data")?;
    Ok(StoredFile {
        role: row.try_get("role")?,
        version: row.try_get("version")?,
        data: data.into(),
        sha256: row.try_get("sha256")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?),
    })
}

fn change_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Change> {
    let category: String = row.try_get("category")?;
    Ok(Change {
        id: row.try_get("id")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?),
        gun: row.try_get("gun")?,
        version: row.try_get("version")?,
        sha256: row.try_get("sha256")?,
        category: if category == "deletion" {
            ChangeCategory::Deletion
        } else {
            ChangeCategory::Update
        },
    })
}

fn key_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredKey> {
    Ok(StoredKey {
        gun: row.try_get("gun")?,
        role: row.try_get("role")?,
        generation: row.try_get("generation")?,
        key_id: row.try_get("key_id")?,
        algorithm: row.try_get("algorithm")?,
        public: row.try_get("public")?,
        sealed_private: row.try_get("sealed_private")?,
        created_at: parse_time(&row.try_get::<String, _>("created_at")?),
    })
}

/// A unique-constraint violation is a lost race for a version or key generation.
fn conflict_on_unique(err: sqlx::Error) -> StorageError {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StorageError::Conflict,
        other => other.into(),
    }
}

const FILE_COLUMNS: &str = "role, version, data, sha256, created_at";

#[async_trait]
impl Store for SqliteStore {
    #[instrument(skip_all)]
    async fn file_by_version(
        &self,
        gun: &Gun,
        role: &str,
        version: i64,
    ) -> Result<Option<StoredFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM tuf_files WHERE gun = ? AND role = ? AND version = ?"
        );
        let row = sqlx::query(&sql)
            .bind(gun.as_str())
            .bind(role)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(file_from_row).transpose()
    }

    #[instrument(skip_all)]
    async fn file_by_checksum(
        &self,
        gun: &Gun,
        role: &str,
        sha256: &str,
    ) -> Result<Option<StoredFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM tuf_files WHERE gun = ? AND role = ? AND sha256 = ? \
             ORDER BY version DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(gun.as_str())
            .bind(role)
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(file_from_row).transpose()
    }

    #[instrument(skip_all)]
    async fn latest_file(&self, gun: &Gun, role: &str) -> Result<Option<StoredFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM tuf_files WHERE gun = ? AND role = ? \
             ORDER BY version DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(gun.as_str())
            .bind(role)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(file_from_row).transpose()
    }

    #[instrument(skip_all)]
    async fn latest_two(
        &self,
        gun: &Gun,
        first: &str,
        second: &str,
    ) -> Result<(Option<StoredFile>, Option<StoredFile>)> {
        let sql = format!(
            "SELECT * FROM (SELECT {FILE_COLUMNS} FROM tuf_files WHERE gun = ? AND role = ? \
             ORDER BY version DESC LIMIT 1) AS first_role \
             UNION ALL SELECT * FROM (SELECT {FILE_COLUMNS} FROM tuf_files \
             WHERE gun = ? AND role = ? ORDER BY version DESC LIMIT 1) AS second_role"
        );
        let rows = sqlx::query(&sql)
            .bind(gun.as_str())
            .bind(first)
            .bind(gun.as_str())
            .bind(second)
            .fetch_all(&self.pool)
            .await?;
        let mut files = rows.iter().map(file_from_row).collect::<Result<Vec<_>>>()?;
        let second_file = files
            .iter()
            .position(|f| f.role == second)
            .map(|i| files.remove(i));
        let first_file = files.into_iter().find(|f| f.role == first);
        Ok((first_file, second_file))
    }

    #[instrument(skip_all, fields(gun = %gun, files = files.len()))]
    async fn commit_update(
        &self,
        gun: &Gun,
        base: Option<i64>,
        files: &[NewFile],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = group_commit::Job {
            gun: gun.clone(),
            base,
            files: files.to_vec(),
            now,
            reply,
        };
        let closed = || StorageError::Batch("the commit writer has stopped".into());
        self.commits.send(job).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    #[instrument(skip_all, fields(gun = %gun))]
    async fn delete_gun(&self, gun: &Gun, now: DateTime<Utc>) -> Result<bool> {
        let _writer = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM tuf_files WHERE gun = ?")
            .bind(gun.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed > 0 {
            sqlx::query(
                "INSERT INTO changefeed (created_at, gun, version, sha256, category) \
                 VALUES (?, ?, 0, '', 'deletion')",
            )
            .bind(time_text(now))
            .bind(gun.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(removed > 0)
    }

    #[instrument(skip_all)]
    async fn changes(&self, gun: Option<&Gun>, page: ChangePage) -> Result<Vec<Change>> {
        let gun_filter = if gun.is_some() { "AND gun = ?" } else { "" };
        let (sql, bound, limit) = match page {
            ChangePage::Forward { after, limit } => (
                format!(
                    "SELECT * FROM changefeed WHERE id > ? {gun_filter} ORDER BY id ASC LIMIT ?"
                ),
                after,
                limit,
            ),
            ChangePage::Backward { before, limit } => (
                format!(
                    "SELECT * FROM (SELECT * FROM changefeed WHERE id < ? {gun_filter} \
                     ORDER BY id DESC LIMIT ?) ORDER BY id ASC"
                ),
                before.unwrap_or(i64::MAX),
                limit,
            ),
        };
        let mut query = sqlx::query(&sql).bind(bound);
        if let Some(gun) = gun {
            query = query.bind(gun.as_str());
        }
        let rows = query.bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(change_from_row).collect()
    }

    #[instrument(skip_all)]
    async fn keys(&self, gun: &Gun, role: &str) -> Result<Vec<StoredKey>> {
        let rows = sqlx::query(
            "SELECT * FROM server_keys WHERE gun = ? AND role = ? ORDER BY generation ASC",
        )
        .bind(gun.as_str())
        .bind(role)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    #[instrument(skip_all, fields(gun = %key.gun, role = %key.role))]
    async fn insert_key(&self, key: &StoredKey) -> Result<()> {
        let _writer = self.write.lock().await;
        insert_key(&self.pool, key).await
    }

    async fn guns_after(&self, after: &str, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT gun FROM tuf_files WHERE role = 'timestamp' AND gun > ? \
             ORDER BY gun LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn all_keys(&self) -> Result<Vec<StoredKey>> {
        let rows = sqlx::query("SELECT * FROM server_keys ORDER BY gun, role, generation")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn reseal_keys(&self, keys: &[StoredKey]) -> Result<()> {
        let _writer = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        for key in keys {
            let updated = sqlx::query(
                "UPDATE server_keys SET sealed_private = ? \
                 WHERE gun = ? AND role = ? AND generation = ? AND key_id = ?",
            )
            .bind(&key.sealed_private)
            .bind(&key.gun)
            .bind(&key.role)
            .bind(key.generation)
            .bind(&key.key_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated != 1 {
                return Err(StorageError::Conflict);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    fn pool_state(&self) -> Option<(u32, usize)> {
        Some((self.pool.size(), self.pool.num_idle()))
    }

    async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1 FROM tuf_files LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(())
    }

    async fn is_empty(&self) -> Result<bool> {
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM tuf_files) OR EXISTS (SELECT 1 FROM changefeed) \
             OR EXISTS (SELECT 1 FROM server_keys)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(!any)
    }

    #[instrument(skip_all, fields(gun = %gun, files = files.len(), keys = keys.len()))]
    async fn import_gun(&self, gun: &Gun, files: &[StoredFile], keys: &[StoredKey]) -> Result<()> {
        let _writer = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let present: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tuf_files WHERE gun = ?)")
                .bind(gun.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if present {
            return Err(StorageError::Conflict);
        }
        // SQLite binds at most 32766 parameters per statement: 6 per row.
        for chunk in files.chunks(1024) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO tuf_files (created_at, gun, role, version, data, sha256) ",
            );
            insert.push_values(chunk, |mut row, file| {
                row.push_bind(time_text(file.created_at))
                    .push_bind(gun.as_str())
                    .push_bind(&file.role)
                    .push_bind(file.version)
                    .push_bind(file.data.as_ref())
                    .push_bind(&file.sha256);
            });
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(conflict_on_unique)?;
        }
        for key in keys {
            insert_key(&mut *tx, key).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn import_changes(&self, changes: &[Change]) -> Result<()> {
        let _writer = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        for chunk in changes.chunks(1024) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO changefeed (id, created_at, gun, version, sha256, category) ",
            );
            insert.push_values(chunk, |mut row, change| {
                row.push_bind(change.id)
                    .push_bind(time_text(change.created_at))
                    .push_bind(&change.gun)
                    .push_bind(change.version)
                    .push_bind(&change.sha256)
                    .push_bind(change.category.as_str());
            });
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(conflict_on_unique)?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_key<'e, E>(executor: E, key: &StoredKey) -> Result<()>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    sqlx::query(
        "INSERT INTO server_keys \
         (gun, role, generation, key_id, algorithm, public, sealed_private, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.gun)
    .bind(&key.role)
    .bind(key.generation)
    .bind(&key.key_id)
    .bind(&key.algorithm)
    .bind(&key.public)
    .bind(&key.sealed_private)
    .bind(time_text(key.created_at))
    .execute(executor)
    .await
    .map_err(conflict_on_unique)?;
    Ok(())
}
