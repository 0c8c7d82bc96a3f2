//! The embedded default: one SQLite file in WAL mode.
//!
//! SQLite allows one writer at a time: every write goes to one thread that owns the write
//! connection and commits all waiting updates together ([`writer`]). Reads run in parallel on a
//! few read connections thanks to WAL ([`readers`]). Both run whole operations on their own
//! threads, so a request pays one hand-off per operation, not one per statement.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension as _, Row};
use tracing::instrument;

use super::{
    migrate, two_roles, Change, ChangeCategory, ChangePage, FileHead, Mirror, NewFile, Result,
    StorageError, Store, StoredFile, StoredKey,
};
use crate::gun::Gun;

mod key_cache;
mod readers;
mod writer;

/// Read connections per store. Reads are short and CPU-bound once the pages are cached, so a
/// few connections keep the cores busy; more threads only queue for the same cores (in the
/// growth benchmark 4 served cache-missing reads faster than 8, with a shorter tail). Reads
/// beyond this wait for a connection without holding a thread.
const READERS: u32 = 4;

/// A store in one SQLite database file.
#[derive(Debug)]
pub struct SqliteStore {
    readers: readers::Readers,
    writer: writer::Writer,
    keys: std::sync::Arc<key_cache::KeyCache>,
}

/// The file a `sqlite://PATH` (or `sqlite:PATH`) URL names.
fn path_of(url: &str) -> Result<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || path.contains('?') || path.starts_with(':') {
        return Err(StorageError::Unsupported(format!(
            "expected sqlite://PATH (a file, no parameters), got {url:?}"
        )));
    }
    Ok(PathBuf::from(path))
}

/// How long a statement waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a connection with the settings every connection of the store shares.
fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        // Durable: an acknowledged update survives power loss, not only a crash. 16 MiB of page
        // cache per connection (SQLite's default is 2 MiB): reads of many repositories stay in
        // memory.
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -16384;",
    )?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let path = path_of(url)?;
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let mut conn = connect(&opened)?;
            migrate::run_sqlite(&mut conn, migrate::SQLITE)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StorageError::Stopped("opening the database failed", Some(e)))??;
        let writer = writer::Writer::start(conn).map_err(StorageError::Writer)?;
        Ok(SqliteStore {
            readers: readers::Readers::new(path, READERS),
            writer,
            keys: Default::default(),
        })
    }

    /// Makes the writer thread panic in its next turn (inside the next batch's transaction,
    /// just before its commit), as a bug would: for tests of what a writer panic does to
    /// writes and to the health check. Never called by the server.
    #[doc(hidden)]
    pub fn panic_in_next_write(&self) {
        self.writer.panic_in_next_turn();
    }
}

fn mirror_row(row: &Row<'_>) -> rusqlite::Result<Mirror> {
    let roles: String = row.get(2)?;
    let created: String = row.get(3)?;
    Ok(Mirror {
        gun: row.get(0)?,
        source: row.get(1)?,
        server_roles: Mirror::roles_from(&roles),
        created_at: parse_time(&created),
    })
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

/// A query of `tuf_files` with the columns [`file_from_row`] reads, in its order.
macro_rules! select_file {
    ($rest:literal) => {
        concat!(
            "SELECT role, version, data, sha256, created_at FROM tuf_files ",
            $rest
        )
    };
}

fn file_from_row(row: &Row<'_>) -> rusqlite::Result<StoredFile> {
    Ok(StoredFile {
        role: row.get(0)?,
        version: row.get(1)?,
        data: row.get::<_, Vec<u8>>(2)?.into(),
        sha256: row.get(3)?,
        created_at: parse_time(&row.get::<_, String>(4)?),
    })
}

fn head_from_row(row: &Row<'_>) -> rusqlite::Result<FileHead> {
    Ok(FileHead {
        role: row.get(0)?,
        version: row.get(1)?,
        sha256: row.get(2)?,
        created_at: parse_time(&row.get::<_, String>(3)?),
    })
}

/// [`Store::latest_two_heads`]: one statement, so one consistent view.
const HEADS_SQL: &str = "SELECT * FROM (SELECT role, version, sha256, created_at FROM tuf_files \
     WHERE gun = ?1 AND role = ?2 ORDER BY version DESC LIMIT 1) \
     UNION ALL SELECT * FROM (SELECT role, version, sha256, created_at FROM tuf_files \
     WHERE gun = ?1 AND role = ?3 ORDER BY version DESC LIMIT 1)";

/// The columns [`change_from_row`] reads, in its order.
const CHANGE_COLUMNS: &str = "id, created_at, gun, version, sha256, category";

fn change_from_row(row: &Row<'_>) -> rusqlite::Result<Change> {
    let category: String = row.get(5)?;
    Ok(Change {
        id: row.get(0)?,
        created_at: parse_time(&row.get::<_, String>(1)?),
        gun: row.get(2)?,
        version: row.get(3)?,
        sha256: row.get(4)?,
        category: if category == "deletion" {
            ChangeCategory::Deletion
        } else {
            ChangeCategory::Update
        },
    })
}

/// The columns [`key_from_row`] reads, in its order.
const KEY_COLUMNS: &str =
    "gun, role, generation, key_id, algorithm, public, sealed_private, created_at";

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        gun: row.get(0)?,
        role: row.get(1)?,
        generation: row.get(2)?,
        key_id: row.get(3)?,
        algorithm: row.get(4)?,
        public: row.get(5)?,
        sealed_private: row.get(6)?,
        created_at: parse_time(&row.get::<_, String>(7)?),
    })
}

impl SqliteStore {
    /// The rows `sql` finds for `gun` and the roles `first` and `second` (one statement, the
    /// newest of each role), placed by role, on a quick read.
    async fn newest_of_two<T: Send + 'static>(
        &self,
        sql: &'static str,
        gun: &Gun,
        first: &str,
        second: &str,
        from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
        role: fn(&T) -> &str,
    ) -> Result<(Option<T>, Option<T>)> {
        let (gun, first, second) = (gun.as_str().to_owned(), first.to_owned(), second.to_owned());
        self.readers
            .run_quick(move |conn| {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query((&gun, &first, &second))?;
                let mut found = Vec::with_capacity(2);
                while let Some(row) = rows.next()? {
                    found.push(from_row(row)?);
                }
                Ok(two_roles(found, role, &first, &second))
            })
            .await
    }

    /// The first file `sql` (a `select_file!` query) finds with `params`, on a read connection.
    async fn read_file<P>(&self, sql: &'static str, params: P) -> Result<Option<StoredFile>>
    where
        P: rusqlite::Params + Send + 'static,
    {
        self.readers
            .run(move |conn| one_file(conn, sql, params))
            .await
    }
}

/// A unique-constraint violation is a lost race for a version or key generation.
fn conflict_on_unique(err: rusqlite::Error) -> StorageError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StorageError::Conflict,
        _ => err.into(),
    }
}

/// Every row `sql` selects with `params`, mapped by `row`.
fn all_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(params, row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
}

/// Inserts one `tuf_files` row: created_at, gun, role, version, data, sha256.
const INSERT_FILE: &str = "INSERT INTO tuf_files (created_at, gun, role, version, data, sha256) \
                           VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// The first file `sql` selects with `params`.
fn one_file(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<StoredFile>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, file_from_row)
        .optional()?)
}

fn insert_key(conn: &Connection, key: &StoredKey) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO server_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))?
    .execute((
        &key.gun,
        &key.role,
        key.generation,
        &key.key_id,
        &key.algorithm,
        &key.public,
        &key.sealed_private,
        time_text(key.created_at),
    ))
    .map_err(conflict_on_unique)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    #[instrument(skip_all)]
    async fn file_by_version(
        &self,
        gun: &Gun,
        role: &str,
        version: i64,
    ) -> Result<Option<StoredFile>> {
        self.read_file(
            select_file!("WHERE gun = ?1 AND role = ?2 AND version = ?3"),
            (gun.as_str().to_owned(), role.to_owned(), version),
        )
        .await
    }

    #[instrument(skip_all)]
    async fn file_by_checksum(
        &self,
        gun: &Gun,
        role: &str,
        sha256: &str,
    ) -> Result<Option<StoredFile>> {
        self.read_file(
            select_file!(
                "WHERE gun = ?1 AND role = ?2 AND sha256 = ?3 ORDER BY version DESC LIMIT 1"
            ),
            (gun.as_str().to_owned(), role.to_owned(), sha256.to_owned()),
        )
        .await
    }

    #[instrument(skip_all)]
    async fn latest_file(&self, gun: &Gun, role: &str) -> Result<Option<StoredFile>> {
        self.read_file(
            select_file!("WHERE gun = ?1 AND role = ?2 ORDER BY version DESC LIMIT 1"),
            (gun.as_str().to_owned(), role.to_owned()),
        )
        .await
    }

    #[instrument(skip_all)]
    async fn latest_two(
        &self,
        gun: &Gun,
        first: &str,
        second: &str,
    ) -> Result<(Option<StoredFile>, Option<StoredFile>)> {
        // One statement, so one read transaction and one consistent view, without the BEGIN
        // and COMMIT an explicit transaction costs on every read.
        const SQL: &str = concat!(
            "SELECT * FROM (",
            select_file!("WHERE gun = ?1 AND role = ?2 ORDER BY version DESC LIMIT 1"),
            ") UNION ALL SELECT * FROM (",
            select_file!("WHERE gun = ?1 AND role = ?3 ORDER BY version DESC LIMIT 1"),
            ")"
        );
        self.newest_of_two(SQL, gun, first, second, file_from_row, |f| &f.role)
            .await
    }

    #[instrument(skip_all)]
    async fn latest_two_heads(
        &self,
        gun: &Gun,
        first: &str,
        second: &str,
    ) -> Result<(Option<FileHead>, Option<FileHead>)> {
        // Every column is in `tuf_files_heads`, so SQLite reads the index alone (a test checks
        // the plan).
        self.newest_of_two(HEADS_SQL, gun, first, second, head_from_row, |h| &h.role)
            .await
    }

    #[instrument(skip_all, fields(gun = %gun, files = files.len()))]
    async fn commit_update(
        &self,
        gun: &Gun,
        base: Option<i64>,
        files: &[NewFile],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.writer
            .update(gun.clone(), base, files.to_vec(), now)
            .await
    }

    #[instrument(skip_all, fields(gun = %gun))]
    async fn delete_gun(&self, gun: &Gun, now: DateTime<Utc>) -> Result<bool> {
        let gun = gun.as_str().to_owned();
        self.writer
            .run(move |conn| {
                let tx = conn.transaction()?;
                let removed = tx.execute("DELETE FROM tuf_files WHERE gun = ?1", [&gun])?;
                if removed > 0 {
                    tx.execute(
                        "INSERT INTO changefeed (created_at, gun, version, sha256, category) \
                         VALUES (?1, ?2, 0, '', 'deletion')",
                        (time_text(now), &gun),
                    )?;
                }
                tx.commit()?;
                Ok(removed > 0)
            })
            .await
    }

    #[instrument(skip_all)]
    async fn changes(&self, gun: Option<&Gun>, page: ChangePage) -> Result<Vec<Change>> {
        let gun_filter = if gun.is_some() { "AND gun = ?" } else { "" };
        let (sql, bound, limit) = match page {
            ChangePage::Forward { after, limit } => (
                format!(
                    "SELECT {CHANGE_COLUMNS} FROM changefeed WHERE id > ? {gun_filter} \
                     ORDER BY id ASC LIMIT ?"
                ),
                after,
                limit,
            ),
            ChangePage::Backward { before, limit } => (
                format!(
                    "SELECT * FROM (SELECT {CHANGE_COLUMNS} FROM changefeed WHERE id < ? \
                     {gun_filter} ORDER BY id DESC LIMIT ?) ORDER BY id ASC"
                ),
                before.unwrap_or(i64::MAX),
                limit,
            ),
        };
        let mut params = vec![Value::Integer(bound)];
        if let Some(gun) = gun {
            params.push(Value::Text(gun.as_str().to_owned()));
        }
        params.push(Value::Integer(limit));
        self.readers
            .run(move |conn| {
                all_rows(
                    conn,
                    &sql,
                    rusqlite::params_from_iter(params),
                    change_from_row,
                )
            })
            .await
    }

    #[instrument(skip_all)]
    async fn keys(&self, gun: &Gun, role: &str) -> Result<Vec<StoredKey>> {
        if let Some(kept) = self.keys.get(gun.as_str(), role) {
            return Ok(kept.to_vec());
        }
        let epoch = self.keys.epoch();
        let (gun, role) = (gun.as_str().to_owned(), role.to_owned());
        let (g, r) = (gun.clone(), role.clone());
        let found = self
            .readers
            .run(move |conn| {
                let sql = format!(
                    "SELECT {KEY_COLUMNS} FROM server_keys WHERE gun = ?1 AND role = ?2 \
                     ORDER BY generation ASC"
                );
                all_rows(conn, &sql, (g, r), key_from_row)
            })
            .await?;
        self.keys
            .put(&gun, &role, std::sync::Arc::new(found.clone()), epoch);
        Ok(found)
    }

    #[instrument(skip_all, fields(gun = %key.gun, role = %key.role))]
    async fn insert_key(&self, key: &StoredKey) -> Result<()> {
        let key = key.clone();
        let (gun, role) = (key.gun.clone(), key.role.clone());
        let written = self.writer.run(move |conn| insert_key(conn, &key)).await;
        // Forgotten after the write (and on failure too: a racing creator may have won), so no
        // read can keep the list from before it.
        self.keys.forget(&gun, &role);
        written
    }

    async fn guns_after(&self, after: &str, limit: i64) -> Result<Vec<String>> {
        let after = after.to_owned();
        self.readers
            .run(move |conn| {
                all_rows(
                    conn,
                    "SELECT DISTINCT gun FROM tuf_files WHERE role = 'timestamp' AND gun > ?1 \
                     ORDER BY gun LIMIT ?2",
                    (after, limit),
                    |row| row.get(0),
                )
            })
            .await
    }

    async fn all_keys(&self) -> Result<Vec<StoredKey>> {
        self.readers
            .run(move |conn| {
                let sql =
                    format!("SELECT {KEY_COLUMNS} FROM server_keys ORDER BY gun, role, generation");
                all_rows(conn, &sql, [], key_from_row)
            })
            .await
    }

    async fn reseal_keys(&self, keys: &[StoredKey]) -> Result<()> {
        let keys = keys.to_vec();
        let resealed = self
            .writer
            .run(move |conn| {
                let tx = conn.transaction()?;
                for key in &keys {
                    let updated = tx.execute(
                        "UPDATE server_keys SET sealed_private = ?1 \
                         WHERE gun = ?2 AND role = ?3 AND generation = ?4 AND key_id = ?5",
                        (
                            &key.sealed_private,
                            &key.gun,
                            &key.role,
                            key.generation,
                            &key.key_id,
                        ),
                    )?;
                    if updated != 1 {
                        return Err(StorageError::Conflict);
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await;
        self.keys.clear();
        resealed
    }

    fn pool_state(&self) -> Option<(u32, usize)> {
        Some(self.readers.state())
    }

    async fn health(&self) -> Result<()> {
        // Reads alone answering is not health: a stopped writer refuses every write.
        if self.writer.is_stopped() {
            return Err(StorageError::Stopped(
                "the database writer has stopped; restart the server",
                None,
            ));
        }
        self.readers
            .run(|conn| {
                conn.prepare_cached("SELECT 1 FROM tuf_files LIMIT 1")?
                    .query_row([], |_| Ok(()))
                    .optional()?;
                Ok(())
            })
            .await
    }

    async fn is_empty(&self) -> Result<bool> {
        self.readers
            .run(|conn| {
                let any: bool = conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM tuf_files) OR EXISTS (SELECT 1 FROM changefeed) \
                     OR EXISTS (SELECT 1 FROM server_keys)",
                    [],
                    |row| row.get(0),
                )?;
                Ok(!any)
            })
            .await
    }

    #[instrument(skip_all, fields(gun = %gun, files = files.len(), keys = keys.len()))]
    async fn import_gun(&self, gun: &Gun, files: &[StoredFile], keys: &[StoredKey]) -> Result<()> {
        let (gun, files, keys) = (gun.as_str().to_owned(), files.to_vec(), keys.to_vec());
        let roles: Vec<String> = keys.iter().map(|k| k.role.clone()).collect();
        let name = gun.clone();
        let imported = self
            .writer
            .run(move |conn| {
                let tx = conn.transaction()?;
                let present: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM tuf_files WHERE gun = ?1)",
                    [&gun],
                    |row| row.get(0),
                )?;
                if present {
                    return Err(StorageError::Conflict);
                }
                {
                    let mut insert = tx.prepare_cached(INSERT_FILE)?;
                    for file in &files {
                        insert
                            .execute((
                                time_text(file.created_at),
                                &gun,
                                &file.role,
                                file.version,
                                file.data.as_ref(),
                                &file.sha256,
                            ))
                            .map_err(conflict_on_unique)?;
                    }
                }
                for key in &keys {
                    insert_key(&tx, key)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await;
        for role in roles {
            self.keys.forget(&name, &role);
        }
        imported
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
        let (gun, files) = (gun.as_str().to_owned(), files.to_vec());
        let (source, roles) = (source.to_owned(), Mirror::roles_text(server_roles));
        self.writer
            .run(move |conn| {
                let tx = conn.transaction()?;
                let mirrored: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM mirrored_repos WHERE gun = ?1)",
                    [&gun],
                    |row| row.get(0),
                )?;
                let present: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM tuf_files WHERE gun = ?1)",
                    [&gun],
                    |row| row.get(0),
                )?;
                if present && !mirrored {
                    return Err(StorageError::Conflict);
                }
                let mut new = 0;
                for file in &files {
                    let stored: Option<String> = tx
                        .query_row(
                            "SELECT sha256 FROM tuf_files WHERE gun = ?1 AND role = ?2 \
                             AND version = ?3",
                            (&gun, &file.role, file.version),
                            |row| row.get(0),
                        )
                        .optional()?;
                    match stored {
                        Some(sha) if sha == file.sha256 => continue,
                        Some(_) => return Err(StorageError::Conflict),
                        None => {}
                    }
                    tx.execute(
                        INSERT_FILE,
                        (
                            time_text(file.created_at),
                            &gun,
                            &file.role,
                            file.version,
                            file.data.as_ref(),
                            &file.sha256,
                        ),
                    )?;
                    if file.role == "timestamp" {
                        tx.execute(
                            "INSERT INTO changefeed (created_at, gun, version, sha256, category) \
                             VALUES (?1, ?2, ?3, ?4, 'update')",
                            (time_text(now), &gun, file.version, &file.sha256),
                        )?;
                    }
                    new += 1;
                }
                tx.execute(
                    "INSERT INTO mirrored_repos (gun, source, server_roles, created_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (gun) DO UPDATE SET \
                     source = excluded.source, server_roles = excluded.server_roles",
                    (&gun, &source, &roles, time_text(now)),
                )?;
                tx.commit()?;
                Ok(new)
            })
            .await
    }

    async fn mirrors(&self) -> Result<Vec<Mirror>> {
        self.readers
            .run(|conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT gun, source, server_roles, created_at FROM mirrored_repos \
                     ORDER BY gun",
                )?;
                let rows = statement.query_map([], mirror_row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<Mirror>>>()?)
            })
            .await
    }

    async fn mirror(&self, gun: &Gun) -> Result<Option<Mirror>> {
        let gun = gun.as_str().to_owned();
        self.readers
            .run(move |conn| {
                Ok(conn
                    .query_row(
                        "SELECT gun, source, server_roles, created_at FROM mirrored_repos \
                         WHERE gun = ?1",
                        [&gun],
                        mirror_row,
                    )
                    .optional()?)
            })
            .await
    }

    async fn set_mirror_roles(&self, gun: &Gun, server_roles: &[String]) -> Result<()> {
        let (gun, roles) = (gun.as_str().to_owned(), Mirror::roles_text(server_roles));
        self.writer
            .run(move |conn| {
                if roles.is_empty() {
                    conn.execute("DELETE FROM mirrored_repos WHERE gun = ?1", [&gun])?;
                } else {
                    conn.execute(
                        "UPDATE mirrored_repos SET server_roles = ?2 WHERE gun = ?1",
                        (&gun, &roles),
                    )?;
                }
                Ok(())
            })
            .await
    }

    async fn import_changes(&self, changes: &[Change]) -> Result<()> {
        let changes = changes.to_vec();
        self.writer
            .run(move |conn| {
                let tx = conn.transaction()?;
                {
                    let mut insert = tx.prepare_cached(&format!(
                        "INSERT INTO changefeed ({CHANGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                    ))?;
                    for change in &changes {
                        insert
                            .execute((
                                change.id,
                                time_text(change.created_at),
                                &change.gun,
                                change.version,
                                &change.sha256,
                                change.category.as_str(),
                            ))
                            .map_err(conflict_on_unique)?;
                    }
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled SQLite is built with the options `.cargo/config.toml` sets (a build that
    /// loses them still works, only slower, so nothing else would tell).
    #[test]
    fn sqlite_is_built_without_allocation_counting() {
        let conn = Connection::open_in_memory().expect("open");
        let mut statement = conn.prepare("PRAGMA compile_options").expect("pragma");
        let options: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }

    /// The heads of the newest files come from the index alone: no table row is read.
    #[test]
    fn heads_are_read_from_the_index_alone() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate::run_sqlite(&mut conn, migrate::SQLITE).expect("migrate");
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {HEADS_SQL}"))
            .expect("explain");
        let plan: Vec<String> = statement
            .query_map(("g", "timestamp", "snapshot"), |row| row.get(3))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let searches: Vec<&String> = plan.iter().filter(|p| p.starts_with("SEARCH")).collect();
        assert_eq!(searches.len(), 2, "{plan:?}");
        for search in searches {
            assert!(
                search.contains("USING COVERING INDEX tuf_files_heads"),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn urls_name_a_file() {
        assert_eq!(
            path_of("sqlite:///srv/n/notarium.db").expect("path"),
            PathBuf::from("/srv/n/notarium.db")
        );
        assert_eq!(
            path_of("sqlite:data/n.db").expect("path"),
            PathBuf::from("data/n.db")
        );
        for bad in ["sqlite://", "sqlite::memory:", "sqlite://n.db?mode=ro"] {
            assert!(path_of(bad).is_err(), "{bad}");
        }
    }
}
