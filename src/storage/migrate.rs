//! A small embedded migrator: ordered SQL files compiled into the binary, applied once each.
//!
//! Applied migrations are never edited; a change is a new file (expand, then contract).

use sqlx::{Executor, Pool, Sqlite};

use super::{Result, StorageError};

/// One migration: a version and its SQL.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// SQLite migrations, in order.
pub(crate) const SQLITE: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sql: include_str!("../../migrations/sqlite/0001_init.sql"),
}];

/// Applies every migration not yet recorded in `notarium_migrations`, each in its own
/// transaction.
pub(crate) async fn run_sqlite(pool: &Pool<Sqlite>, migrations: &[Migration]) -> Result<()> {
    pool.execute(
        "CREATE TABLE IF NOT EXISTS notarium_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM notarium_migrations")
        .fetch_all(pool)
        .await?;
    if let Some(newest) = applied.iter().max() {
        let known = migrations.iter().map(|m| m.version).max().unwrap_or(0);
        if *newest > known {
            return Err(StorageError::Migration(format!(
                "the database has schema version {newest}, newer than this binary knows ({known})"
            )));
        }
    }
    for migration in migrations.iter().filter(|m| !applied.contains(&m.version)) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StorageError::Migration(format!("{} ({}): {e}", migration.version, migration.name))
            })?;
        sqlx::query("INSERT INTO notarium_migrations (version, name) VALUES (?, ?)")
            .bind(migration.version)
            .bind(migration.name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}
