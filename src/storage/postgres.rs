//! PostgreSQL, for several stateless replicas on one database.
//!
//! Replicas never coordinate with each other, only through the database:
//! - an update and a delete of one GUN take that GUN's transaction-scoped advisory lock, so the
//!   check that the newest timestamp is still the one validated against and the writes that
//!   follow cannot interleave with another replica's (the unique (gun, role, version)
//!   constraint is the second line);
//! - every changefeed record is written under one global advisory lock held until commit, with
//!   the ID `MAX(id) + 1`: records become visible in ID order with no holes, so a reader paging
//!   by `change_id` never skips one that commits late (a sequence gives neither guarantee);
//! - server keys are keyed by (GUN, role, generation): two replicas creating the first key of a
//!   GUN at once collide on the primary key and the loser adopts the winner's key;
//! - every write sends `NOTIFY notarium_changes, '<gun>'` (delivered on commit), which each
//!   replica's listener turns into a cache invalidation ([`Store::changes_elsewhere`]).

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Pool, Postgres, Row};
use tokio::sync::{broadcast, oneshot};
use tracing::instrument;

use super::{
    migrate, sha256_hex, two_roles, Change, ChangeCategory, ChangePage, Changed, FileHead, Mirror,
    NewFile, PoolSettings, Result, StorageError, Store, StoredFile, StoredKey,
};
use crate::gun::Gun;

/// The oldest server version accepted (`server_version_num`): the oldest release still
/// maintained upstream when this was written. Tested on 15.
pub const MIN_SERVER_VERSION: i64 = 130_000;

/// Refuses a server older than [`MIN_SERVER_VERSION`] (`server_version_num`, e.g. `150019`).
fn check_server_version(version_num: &str) -> Result<()> {
    let number: i64 = version_num.trim().parse().unwrap_or(0);
    if number < MIN_SERVER_VERSION {
        return Err(StorageError::Unsupported(format!(
            "PostgreSQL server_version_num {} is older than {MIN_SERVER_VERSION} \
             (PostgreSQL 13); upgrade the server",
            version_num.trim()
        )));
    }
    Ok(())
}

/// The channel of change notices between replicas.
const CHANNEL: &str = "notarium_changes";

/// A 64-bit advisory lock key for a name, from its SHA-256 (collisions only cost waiting).
fn lock_key(name: &str) -> i64 {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    i64::from_be_bytes(first)
}

fn gun_lock(gun: &str) -> i64 {
    lock_key(&format!("notarium\0gun\0{gun}"))
}

fn changefeed_lock() -> i64 {
    lock_key("notarium\0changefeed")
}

fn migration_lock() -> i64 {
    lock_key("notarium\0migrations")
}

/// A store in a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresStore {
    pool: Pool<Postgres>,
    notices: broadcast::Sender<Changed>,
    /// Dropped with the store, which ends the listener task and its connection.
    _stop: oneshot::Sender<()>,
}

impl PostgresStore {
    /// Connects, checks the server version, applies migrations and starts listening for other
    /// replicas' writes.
    pub async fn open(url: &str, settings: PoolSettings) -> Result<PostgresStore> {
        let options = PgConnectOptions::from_str(url)?.application_name("notarium");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(2))
            .min_connections(settings.min_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        let version: String = sqlx::query_scalar("SHOW server_version_num")
            .fetch_one(&pool)
            .await?;
        check_server_version(&version)?;
        migrate::run_postgres(&pool, migrate::POSTGRES, migration_lock()).await?;
        let (notices, _) = broadcast::channel(1024);
        let listener = PgListener::connect_with(&pool).await?;
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(listen(listener, notices.clone(), stopped));
        Ok(PostgresStore {
            pool,
            notices,
            _stop: stop,
        })
    }
}

/// Forwards other replicas' notices until the store is dropped (`stop` closes).
async fn listen(
    mut listener: PgListener,
    notices: broadcast::Sender<Changed>,
    mut stop: oneshot::Receiver<()>,
) {
    if let Err(e) = listener.listen(CHANNEL).await {
        tracing::error!(error = %e, "could not listen for other replicas' writes");
        return;
    }
    loop {
        let received = tokio::select! {
            _ = &mut stop => return,
            received = listener.try_recv() => received,
        };
        let notice = match received {
            Ok(Some(n)) => Changed::Gun(n.payload().to_owned()),
            // The connection dropped and is re-established on the next call; anything sent
            // meanwhile is lost.
            Ok(None) => Changed::Everything,
            Err(e) => {
                tracing::warn!(error = %e, "change notices interrupted");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                Changed::Everything
            }
        };
        // No receiver yet is fine: there is no cache to invalidate.
        let _ = notices.send(notice);
    }
}

fn file_from_row(row: &PgRow) -> Result<StoredFile> {
    let data: Vec<u8> = row.try_get("data")?;
    Ok(StoredFile {
        role: row.try_get("role")?,
        version: row.try_get("version")?,
        data: data.into(),
        sha256: row.try_get("sha256")?,
        created_at: row.try_get("created_at")?,
    })
}

fn change_from_row(row: &PgRow) -> Result<Change> {
    let category: String = row.try_get("category")?;
    Ok(Change {
        id: row.try_get("id")?,
        created_at: row.try_get("created_at")?,
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

fn key_from_row(row: &PgRow) -> Result<StoredKey> {
    Ok(StoredKey {
        gun: row.try_get("gun")?,
        role: row.try_get("role")?,
        generation: row.try_get("generation")?,
        key_id: row.try_get("key_id")?,
        algorithm: row.try_get("algorithm")?,
        public: row.try_get("public")?,
        sealed_private: row.try_get("sealed_private")?,
        created_at: row.try_get("created_at")?,
    })
}

fn conflict_on_unique(err: sqlx::Error) -> StorageError {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StorageError::Conflict,
        other => other.into(),
    }
}

const FILE_COLUMNS: &str = "role, version, data, sha256, created_at";

async fn lock(conn: &mut PgConnection, key: i64) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

fn mirror_row(row: &PgRow) -> Result<Mirror> {
    let roles: String = row.try_get("server_roles")?;
    Ok(Mirror {
        gun: row.try_get("gun")?,
        source: row.try_get("source")?,
        server_roles: Mirror::roles_from(&roles),
        created_at: row.try_get("created_at")?,
    })
}

/// Appends a changefeed record; the caller's transaction holds it back until commit.
async fn append_change(
    conn: &mut PgConnection,
    gun: &str,
    version: i64,
    sha256: &str,
    category: ChangeCategory,
    now: DateTime<Utc>,
) -> Result<()> {
    lock(&mut *conn, changefeed_lock()).await?;
    sqlx::query(
        "INSERT INTO changefeed (id, created_at, gun, version, sha256, category) \
         SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4, $5 FROM changefeed",
    )
    .bind(now)
    .bind(gun)
    .bind(version)
    .bind(sha256)
    .bind(category.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

async fn notify(conn: &mut PgConnection, gun: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(gun)
        .execute(conn)
        .await?;
    Ok(())
}

/// One update's checks and writes inside the caller's transaction (see `Store::commit_update`).
async fn apply_update(
    conn: &mut PgConnection,
    gun: &str,
    base: Option<i64>,
    files: &[NewFile],
    now: DateTime<Utc>,
) -> Result<()> {
    lock(&mut *conn, gun_lock(gun)).await?;
    let mut roles: Vec<&str> = vec!["timestamp"];
    for file in files {
        if !roles.contains(&file.role.as_str()) {
            roles.push(&file.role);
        }
    }
    let newest: Vec<(String, i64)> = sqlx::query_as(
        "SELECT role, MAX(version) FROM tuf_files WHERE gun = $1 AND role = ANY($2) GROUP BY role",
    )
    .bind(gun)
    .bind(&roles)
    .fetch_all(&mut *conn)
    .await?;
    let newest_of = |role: &str| newest.iter().find(|(r, _)| r == role).map(|(_, v)| *v);
    if newest_of("timestamp") != base {
        return Err(StorageError::Conflict);
    }
    for (i, file) in files.iter().enumerate() {
        let repeated = files[..i].iter().any(|f| f.role == file.role);
        if repeated || newest_of(&file.role).is_some_and(|v| v >= file.version) {
            return Err(StorageError::Conflict);
        }
    }
    let hashed: Vec<(&NewFile, String)> = files.iter().map(|f| (f, sha256_hex(&f.data))).collect();
    let mut insert = sqlx::QueryBuilder::<Postgres>::new(
        "INSERT INTO tuf_files (created_at, gun, role, version, data, sha256) ",
    );
    insert.push_values(&hashed, |mut row, (file, sha256)| {
        row.push_bind(now)
            .push_bind(gun)
            .push_bind(&file.role)
            .push_bind(file.version)
            .push_bind(file.data.as_ref())
            .push_bind(sha256);
    });
    insert
        .build()
        .execute(&mut *conn)
        .await
        .map_err(conflict_on_unique)?;
    if let Some((timestamp, sha256)) = hashed.iter().find(|(f, _)| f.role == "timestamp") {
        append_change(
            &mut *conn,
            gun,
            timestamp.version,
            sha256,
            ChangeCategory::Update,
            now,
        )
        .await?;
    }
    notify(conn, gun).await
}

#[async_trait]
impl Store for PostgresStore {
    #[instrument(skip_all)]
    async fn file_by_version(
        &self,
        gun: &Gun,
        role: &str,
        version: i64,
    ) -> Result<Option<StoredFile>> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM tuf_files WHERE gun = $1 AND role = $2 AND version = $3"
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
            "SELECT {FILE_COLUMNS} FROM tuf_files WHERE gun = $1 AND role = $2 AND sha256 = $3 \
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
            "SELECT {FILE_COLUMNS} FROM tuf_files WHERE gun = $1 AND role = $2 \
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
            "SELECT * FROM (SELECT {FILE_COLUMNS} FROM tuf_files WHERE gun = $1 AND role = $2 \
             ORDER BY version DESC LIMIT 1) AS first_role \
             UNION ALL SELECT * FROM (SELECT {FILE_COLUMNS} FROM tuf_files \
             WHERE gun = $1 AND role = $3 ORDER BY version DESC LIMIT 1) AS second_role"
        );
        let rows = sqlx::query(&sql)
            .bind(gun.as_str())
            .bind(first)
            .bind(second)
            .fetch_all(&self.pool)
            .await?;
        let files = rows.iter().map(file_from_row).collect::<Result<Vec<_>>>()?;
        Ok(two_roles(files, |f| &f.role, first, second))
    }

    #[instrument(skip_all)]
    async fn latest_two_heads(
        &self,
        gun: &Gun,
        first: &str,
        second: &str,
    ) -> Result<(Option<FileHead>, Option<FileHead>)> {
        const SQL: &str = "SELECT * FROM (SELECT role, version, sha256, created_at FROM tuf_files \
             WHERE gun = $1 AND role = $2 ORDER BY version DESC LIMIT 1) AS first_role \
             UNION ALL SELECT * FROM (SELECT role, version, sha256, created_at FROM tuf_files \
             WHERE gun = $1 AND role = $3 ORDER BY version DESC LIMIT 1) AS second_role";
        let rows = sqlx::query(SQL)
            .bind(gun.as_str())
            .bind(first)
            .bind(second)
            .fetch_all(&self.pool)
            .await?;
        let heads = rows
            .iter()
            .map(|row| {
                Ok(FileHead {
                    role: row.try_get("role")?,
                    version: row.try_get("version")?,
                    sha256: row.try_get("sha256")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(two_roles(heads, |h| &h.role, first, second))
    }

    #[instrument(skip_all, fields(gun = %gun, files = files.len()))]
    async fn commit_update(
        &self,
        gun: &Gun,
        base: Option<i64>,
        files: &[NewFile],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        apply_update(&mut tx, gun.as_str(), base, files, now).await?;
        tx.commit().await?;
        Ok(())
    }

    #[instrument(skip_all, fields(gun = %gun))]
    async fn delete_gun(&self, gun: &Gun, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, gun_lock(gun.as_str())).await?;
        let removed = sqlx::query("DELETE FROM tuf_files WHERE gun = $1")
            .bind(gun.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed > 0 {
            append_change(&mut tx, gun.as_str(), 0, "", ChangeCategory::Deletion, now).await?;
            notify(&mut tx, gun.as_str()).await?;
        }
        tx.commit().await?;
        Ok(removed > 0)
    }

    #[instrument(skip_all)]
    async fn changes(&self, gun: Option<&Gun>, page: ChangePage) -> Result<Vec<Change>> {
        // $1 bound, $2 limit, $3 GUN (NULL for every GUN).
        let sql = match page {
            ChangePage::Forward { .. } => {
                "SELECT * FROM changefeed WHERE id > $1 AND ($3::TEXT IS NULL OR gun = $3) \
                 ORDER BY id ASC LIMIT $2"
            }
            ChangePage::Backward { .. } => {
                "SELECT * FROM (SELECT * FROM changefeed WHERE id < $1 \
                 AND ($3::TEXT IS NULL OR gun = $3) ORDER BY id DESC LIMIT $2) page \
                 ORDER BY id ASC"
            }
        };
        let (bound, limit) = match page {
            ChangePage::Forward { after, limit } => (after, limit),
            ChangePage::Backward { before, limit } => (before.unwrap_or(i64::MAX), limit),
        };
        let rows = sqlx::query(sql)
            .bind(bound)
            .bind(limit)
            .bind(gun.map(Gun::as_str))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(change_from_row).collect()
    }

    #[instrument(skip_all)]
    async fn keys(&self, gun: &Gun, role: &str) -> Result<Vec<StoredKey>> {
        let rows = sqlx::query(
            "SELECT * FROM server_keys WHERE gun = $1 AND role = $2 ORDER BY generation ASC",
        )
        .bind(gun.as_str())
        .bind(role)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    #[instrument(skip_all, fields(gun = %key.gun, role = %key.role))]
    async fn insert_key(&self, key: &StoredKey) -> Result<()> {
        insert_key(&self.pool, key).await
    }

    async fn guns_after(&self, after: &str, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT gun FROM tuf_files WHERE role = 'timestamp' AND gun > $1 \
             ORDER BY gun LIMIT $2",
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
        let mut tx = self.pool.begin().await?;
        for key in keys {
            let updated = sqlx::query(
                "UPDATE server_keys SET sealed_private = $1 \
                 WHERE gun = $2 AND role = $3 AND generation = $4 AND key_id = $5",
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
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, gun_lock(gun.as_str())).await?;
        let present: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tuf_files WHERE gun = $1)")
                .bind(gun.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if present {
            return Err(StorageError::Conflict);
        }
        for chunk in files.chunks(256) {
            let mut insert = sqlx::QueryBuilder::<Postgres>::new(
                "INSERT INTO tuf_files (created_at, gun, role, version, data, sha256) ",
            );
            insert.push_values(chunk, |mut row, file| {
                row.push_bind(file.created_at)
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
        notify(&mut tx, gun.as_str()).await?;
        tx.commit().await?;
        Ok(())
    }

    #[instrument(skip_all, fields(gun = %gun, files = files.len()))]
    async fn store_mirrored(
        &self,
        gun: &Gun,
        source: &str,
        server_roles: &[String],
        files: &[StoredFile],
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, gun_lock(gun.as_str())).await?;
        let (present, mirrored): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM tuf_files WHERE gun = $1), \
             EXISTS (SELECT 1 FROM mirrored_repos WHERE gun = $1)",
        )
        .bind(gun.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if present && !mirrored {
            return Err(StorageError::Conflict);
        }
        let mut new = 0;
        for file in files {
            let stored: Option<String> = sqlx::query_scalar(
                "SELECT sha256 FROM tuf_files WHERE gun = $1 AND role = $2 AND version = $3",
            )
            .bind(gun.as_str())
            .bind(&file.role)
            .bind(file.version)
            .fetch_optional(&mut *tx)
            .await?;
            match stored {
                Some(sha) if sha == file.sha256 => continue,
                Some(_) => return Err(StorageError::Conflict),
                None => {}
            }
            sqlx::query(
                "INSERT INTO tuf_files (created_at, gun, role, version, data, sha256) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(file.created_at)
            .bind(gun.as_str())
            .bind(&file.role)
            .bind(file.version)
            .bind(file.data.as_ref())
            .bind(&file.sha256)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on_unique)?;
            if file.role == "timestamp" {
                append_change(
                    &mut tx,
                    gun.as_str(),
                    file.version,
                    &file.sha256,
                    ChangeCategory::Update,
                    now,
                )
                .await?;
            }
            new += 1;
        }
        sqlx::query(
            "INSERT INTO mirrored_repos (gun, source, server_roles, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (gun) DO UPDATE SET \
             source = excluded.source, server_roles = excluded.server_roles",
        )
        .bind(gun.as_str())
        .bind(source)
        .bind(Mirror::roles_text(server_roles))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        notify(&mut tx, gun.as_str()).await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn mirrors(&self) -> Result<Vec<Mirror>> {
        let rows = sqlx::query(
            "SELECT gun, source, server_roles, created_at FROM mirrored_repos ORDER BY gun",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(mirror_row).collect()
    }

    async fn mirror(&self, gun: &Gun) -> Result<Option<Mirror>> {
        let row = sqlx::query(
            "SELECT gun, source, server_roles, created_at FROM mirrored_repos WHERE gun = $1",
        )
        .bind(gun.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(mirror_row).transpose()
    }

    async fn set_mirror_roles(&self, gun: &Gun, server_roles: &[String]) -> Result<()> {
        if server_roles.is_empty() {
            sqlx::query("DELETE FROM mirrored_repos WHERE gun = $1")
                .bind(gun.as_str())
                .execute(&self.pool)
                .await?;
        } else {
            sqlx::query("UPDATE mirrored_repos SET server_roles = $2 WHERE gun = $1")
                .bind(gun.as_str())
                .bind(Mirror::roles_text(server_roles))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn import_changes(&self, changes: &[Change]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, changefeed_lock()).await?;
        for chunk in changes.chunks(1024) {
            let mut insert = sqlx::QueryBuilder::<Postgres>::new(
                "INSERT INTO changefeed (id, created_at, gun, version, sha256, category) ",
            );
            insert.push_values(chunk, |mut row, change| {
                row.push_bind(change.id)
                    .push_bind(change.created_at)
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

    fn changes_elsewhere(&self) -> Option<broadcast::Receiver<Changed>> {
        Some(self.notices.subscribe())
    }
}

async fn insert_key<'e, E>(executor: E, key: &StoredKey) -> Result<()>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    sqlx::query(
        "INSERT INTO server_keys \
         (gun, role, generation, key_id, algorithm, public, sealed_private, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&key.gun)
    .bind(&key.role)
    .bind(key.generation)
    .bind(&key.key_id)
    .bind(&key.algorithm)
    .bind(&key.public)
    .bind(&key.sealed_private)
    .bind(key.created_at)
    .execute(executor)
    .await
    .map_err(conflict_on_unique)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_servers_are_refused_plainly() {
        check_server_version("150019").expect("15 is supported");
        check_server_version("130000").expect("13.0 is supported");
        let err = check_server_version("120017").expect_err("12 is refused");
        assert_eq!(
            err.to_string(),
            "unsupported database server: PostgreSQL server_version_num 120017 is older than \
             130000 (PostgreSQL 13); upgrade the server"
        );
        assert!(check_server_version("garbage").is_err());
    }

    #[test]
    fn lock_keys_differ_by_purpose_and_gun() {
        assert_ne!(gun_lock("a"), gun_lock("b"));
        assert_ne!(gun_lock("a"), changefeed_lock());
        assert_ne!(changefeed_lock(), migration_lock());
        assert_eq!(gun_lock("a"), gun_lock("a"));
    }
}
