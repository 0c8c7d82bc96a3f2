//! Group commit: updates that arrive while a commit is being written are written together,
//! in one transaction and one flush to disk.
//!
//! With `synchronous=FULL` every transaction waits for the disk, and SQLite has one writer, so
//! committing updates one by one caps throughput at one flush per update. One writer task takes
//! every update queued at that moment (up to [`MAX_BATCH`]) and applies each inside its own
//! savepoint: an update that conflicts is rolled back alone and the others are kept. Each caller
//! gets its own answer only after the whole transaction is durable.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{Pool, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{conflict_on_unique, time_text};
use crate::gun::Gun;
use crate::storage::{sha256_hex, NewFile, Result, StorageError};

/// The most updates written in one transaction.
pub(super) const MAX_BATCH: usize = 64;

/// One update waiting to be written.
pub(super) struct Job {
    pub(super) gun: Gun,
    pub(super) base: Option<i64>,
    pub(super) files: Vec<NewFile>,
    pub(super) now: DateTime<Utc>,
    pub(super) reply: oneshot::Sender<Result<()>>,
}

/// Starts the writer task; it ends when every sender is dropped.
pub(super) fn start(pool: Pool<Sqlite>, write: Arc<Mutex<()>>) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(4 * MAX_BATCH);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let results = write_batch(&pool, &write, &batch).await;
            for (job, result) in batch.into_iter().zip(results) {
                let _ = job.reply.send(result);
            }
        }
    });
    tx
}

async fn write_batch(pool: &Pool<Sqlite>, write: &Mutex<()>, jobs: &[Job]) -> Vec<Result<()>> {
    let _writer = write.lock().await;
    match try_write_batch(pool, jobs).await {
        Ok(results) => results,
        Err(e) => {
            tracing::error!(error = %e, updates = jobs.len(), "group commit failed");
            let message = e.to_string();
            jobs.iter()
                .map(|_| Err(StorageError::Batch(message.clone())))
                .collect()
        }
    }
}

async fn try_write_batch(pool: &Pool<Sqlite>, jobs: &[Job]) -> Result<Vec<Result<()>>> {
    let mut tx = pool.begin().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        sqlx::query("SAVEPOINT job").execute(&mut *tx).await?;
        let result = apply(&mut tx, job).await;
        match &result {
            Ok(()) => {}
            Err(StorageError::Conflict) => {
                sqlx::query("ROLLBACK TO job").execute(&mut *tx).await?;
            }
            // Anything else is a database failure: the whole batch fails.
            Err(e) => return Err(StorageError::Batch(e.to_string())),
        }
        sqlx::query("RELEASE job").execute(&mut *tx).await?;
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

/// One update's checks and writes: the newest timestamp must still be `base`, every file's
/// version above what is stored; then every file and a changefeed record.
async fn apply(conn: &mut SqliteConnection, job: &Job) -> Result<()> {
    let gun = job.gun.as_str();
    // The newest version of the timestamp and of every role written, in one statement; each
    // MAX is one index lookup, however many versions are stored.
    let mut roles: Vec<&str> = vec!["timestamp"];
    for file in &job.files {
        if !roles.contains(&file.role.as_str()) {
            roles.push(&file.role);
        }
    }
    let mut query = sqlx::QueryBuilder::<Sqlite>::new(
        "SELECT column1, (SELECT MAX(version) FROM tuf_files WHERE gun = ",
    );
    query.push_bind(gun);
    query.push(" AND role = column1) FROM (");
    query.push_values(&roles, |mut row, role| {
        row.push_bind(*role);
    });
    query.push(")");
    let newest: Vec<(String, Option<i64>)> = query.build_query_as().fetch_all(&mut *conn).await?;
    let newest_of = |role: &str| newest.iter().find(|(r, _)| r == role).and_then(|(_, v)| *v);
    if newest_of("timestamp") != job.base {
        return Err(StorageError::Conflict);
    }
    for (i, file) in job.files.iter().enumerate() {
        let repeated = job.files[..i].iter().any(|f| f.role == file.role);
        if repeated || newest_of(&file.role).is_some_and(|v| v >= file.version) {
            return Err(StorageError::Conflict);
        }
    }
    let created_at = time_text(job.now);
    let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
        "INSERT INTO tuf_files (created_at, gun, role, version, data, sha256) ",
    );
    let hashed: Vec<(&NewFile, String)> =
        job.files.iter().map(|f| (f, sha256_hex(&f.data))).collect();
    insert.push_values(&hashed, |mut row, (file, sha256)| {
        row.push_bind(&created_at)
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
        sqlx::query(
            "INSERT INTO changefeed (created_at, gun, version, sha256, category) \
             VALUES (?, ?, ?, ?, 'update')",
        )
        .bind(&created_at)
        .bind(gun)
        .bind(timestamp.version)
        .bind(sha256)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
