//! A small embedded migrator: ordered SQL files compiled into the binary, applied once each.
//!
//! Applied migrations are never edited; a change is a new file (expand, then contract). Each
//! backend has its own files with the same numbers.

use sqlx::{Executor, Pool, Postgres};

use super::{Result, StorageError};

/// One migration: a version and its SQL.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// SQLite migrations, in order.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "mirrors",
        sql: include_str!("../../migrations/sqlite/0002_mirrors.sql"),
    },
    Migration {
        version: 3,
        name: "heads",
        sql: include_str!("../../migrations/sqlite/0003_heads.sql"),
    },
];

/// PostgreSQL migrations, in order.
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "mirrors",
        sql: include_str!("../../migrations/postgres/0002_mirrors.sql"),
    },
    Migration {
        version: 3,
        name: "heads",
        sql: include_str!("../../migrations/postgres/0003_heads.sql"),
    },
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS notarium_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)";

/// The versions to apply, or an error when the database is newer than this binary.
fn pending<'m>(applied: &[i64], migrations: &'m [Migration]) -> Result<Vec<&'m Migration>> {
    if let Some(newest) = applied.iter().max() {
        let known = migrations.iter().map(|m| m.version).max().unwrap_or(0);
        if *newest > known {
            return Err(StorageError::Migration(format!(
                "the database has schema version {newest}, newer than this binary knows ({known})"
            )));
        }
    }
    Ok(migrations
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect())
}

fn failed(migration: &Migration, e: impl std::fmt::Display) -> StorageError {
    StorageError::Migration(format!("{} ({}): {e}", migration.version, migration.name))
}

/// Applies every migration not yet recorded in `notarium_migrations`, each in its own
/// transaction. SQLite has one writer and one process per file, so no lock is needed.
pub(crate) fn run_sqlite(conn: &mut rusqlite::Connection, migrations: &[Migration]) -> Result<()> {
    conn.execute_batch(CREATE_TABLE)?;
    let applied = conn
        .prepare("SELECT version FROM notarium_migrations")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    for migration in pending(&applied, migrations)? {
        let tx = conn.transaction()?;
        tx.execute_batch(migration.sql)
            .map_err(|e| failed(migration, e))?;
        tx.execute(
            "INSERT INTO notarium_migrations (version, name) VALUES (?1, ?2)",
            (migration.version, migration.name),
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The same for PostgreSQL, where several replicas may start at once: the whole run holds a
/// session advisory lock, so one replica migrates and the others wait, then find nothing to do.
pub(crate) async fn run_postgres(
    pool: &Pool<Postgres>,
    migrations: &[Migration],
    lock: i64,
) -> Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock)
        .execute(&mut *conn)
        .await?;
    let result = async {
        conn.execute(CREATE_TABLE).await?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM notarium_migrations")
            .fetch_all(&mut *conn)
            .await?;
        for migration in pending(&applied, migrations)? {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::raw_sql(migration.sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| failed(migration, e))?;
            sqlx::query("INSERT INTO notarium_migrations (version, name) VALUES ($1, $2)")
                .bind(migration.version)
                .bind(migration.name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock)
        .execute(&mut *conn)
        .await?;
    result
}
