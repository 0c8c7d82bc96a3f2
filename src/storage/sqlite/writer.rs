//! The one writer: a thread that owns the write connection, with group commit.
//!
//! SQLite allows one writer at a time, so every write goes to one thread. Updates that arrive
//! while a commit is being written are written together, in one transaction and one flush to
//! disk: with `synchronous=FULL` every transaction waits for the disk, and committing updates
//! one by one would cap throughput at one flush per update. Each update is applied inside its
//! own savepoint, so one that conflicts is rolled back alone; each caller is answered only after
//! the whole transaction is durable.
//!
//! The thread runs every statement of a batch itself: an update costs one hand-off to it and
//! one back, not one per statement.
//!
//! A panic on the thread (a bug: nothing a client sends should cause one) is caught around
//! each batch and each task. The open transaction is rolled back as the panic unwinds, the
//! callers of that turn are told their write failed, and the writer then stops for good: every
//! later write is refused at once and [`Writer::is_stopped`] turns the health check red, so
//! an orchestrator restarts the process. It is not restarted in place: the panic says some
//! invariant this code relies on broke, nothing tells whether the next batch would break it
//! again, and a writer that panicked on every batch while health stayed green is exactly the
//! silent failure to avoid. Reads go on meanwhile. A thread that ends any other way closes its
//! queue, which [`Writer::is_stopped`] notices too.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{conflict_on_unique, time_text, INSERT_FILE};
use crate::gun::Gun;
use crate::storage::{sha256_hex, NewFile, Result, StorageError};

/// The most updates written in one transaction.
pub(super) const MAX_BATCH: usize = 64;

/// One update waiting to be written.
pub(super) struct Update {
    pub(super) gun: Gun,
    pub(super) base: Option<i64>,
    pub(super) files: Vec<NewFile>,
    pub(super) now: DateTime<Utc>,
    pub(super) reply: oneshot::Sender<Result<()>>,
}

/// Any other write, run alone in the writer's turn.
type Task = Box<dyn FnOnce(&mut Connection) + Send>;

enum Work {
    Update(Update),
    Other(Task),
}

/// The handle to the writer thread; the thread ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Work>,
    /// Set by [`Writer::panic_in_next_turn`]: the thread panics in its next turn, for tests.
    panic_next: Arc<AtomicBool>,
}

fn stopped() -> StorageError {
    StorageError::Stopped("the database writer has stopped; restart the server", None)
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub(super) fn start(conn: Connection) -> std::io::Result<Writer> {
        let (queue, work) = mpsc::channel(4 * MAX_BATCH);
        let panic_next = Arc::new(AtomicBool::new(false));
        let armed = Arc::clone(&panic_next);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(conn, work, &armed))?;
        Ok(Writer { queue, panic_next })
    }

    /// Whether writes can no longer happen: the thread stopped after a panic, or ended.
    pub(super) fn is_stopped(&self) -> bool {
        self.queue.is_closed()
    }

    /// Makes the thread panic in its next turn, inside the transaction of a batch (after its
    /// updates are applied, before the commit) or before a task. Only tests call it (through
    /// [`super::SqliteStore::panic_in_next_write`]).
    pub(super) fn panic_in_next_turn(&self) {
        self.panic_next.store(true, Ordering::SeqCst);
    }

    /// Writes one update (see [`crate::storage::Store::commit_update`]).
    pub(super) async fn update(
        &self,
        gun: Gun,
        base: Option<i64>,
        files: Vec<NewFile>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let update = Update {
            gun,
            base,
            files,
            now,
            reply,
        };
        self.queue
            .send(Work::Update(update))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `write` on the write connection, between batches of updates.
    pub(super) async fn run<T, F>(&self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task: Task = Box::new(move |conn| {
            let _ = reply.send(write(conn));
        });
        self.queue
            .send(Work::Other(task))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn serve(mut conn: Connection, mut work: mpsc::Receiver<Work>, panic_next: &AtomicBool) {
    let mut held: Option<Work> = None;
    loop {
        let next = match held.take() {
            Some(next) => next,
            None => match work.blocking_recv() {
                Some(next) => next,
                None => return,
            },
        };
        let turn = std::panic::catch_unwind(AssertUnwindSafe(|| {
            take_turn(&mut conn, next, &mut work, &mut held, panic_next);
        }));
        if let Err(panic) = turn {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(
                panic = %message,
                "the database writer panicked: its writes were rolled back and refused; \
                 writes stay refused and health reports failure until the server restarts"
            );
            // Closing refuses new work at once; what is queued is dropped, so each waiting
            // caller gets the stopped error.
            work.close();
            return;
        }
    }
}

/// One turn of the writer: a task, or a batch of updates. A panic in it unwinds through the
/// open transaction (rolling it back) and drops the turn's reply senders, so their callers
/// see the writer stopped.
fn take_turn(
    conn: &mut Connection,
    next: Work,
    work: &mut mpsc::Receiver<Work>,
    held: &mut Option<Work>,
    panic_next: &AtomicBool,
) {
    match next {
        Work::Other(task) => {
            if panic_next.swap(false, Ordering::SeqCst) {
                panic!("injected panic before a task (test hook)");
            }
            task(conn);
        }
        Work::Update(first) => {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match work.try_recv() {
                    Ok(Work::Update(update)) => batch.push(update),
                    Ok(other) => {
                        *held = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let results = write_batch(conn, &batch, panic_next);
            for (update, result) in batch.into_iter().zip(results) {
                let _ = update.reply.send(result);
            }
        }
    }
}

fn write_batch(
    conn: &mut Connection,
    updates: &[Update],
    panic_next: &AtomicBool,
) -> Vec<Result<()>> {
    match try_write_batch(conn, updates, panic_next) {
        Ok(results) => results,
        // Each waiting request answers with this cause, and logs it once, there.
        Err(e) => {
            let cause = std::sync::Arc::new(e);
            updates
                .iter()
                .map(|_| Err(StorageError::Batch(cause.clone())))
                .collect()
        }
    }
}

fn try_write_batch(
    conn: &mut Connection,
    updates: &[Update],
    panic_next: &AtomicBool,
) -> Result<Vec<Result<()>>> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(updates.len());
    for update in updates {
        let savepoint = tx.savepoint()?;
        match apply(&savepoint, update) {
            Ok(()) => {
                savepoint.commit()?;
                results.push(Ok(()));
            }
            // Dropping the savepoint rolls this update back alone.
            Err(StorageError::Conflict) => {
                savepoint.finish()?;
                results.push(Err(StorageError::Conflict));
            }
            // Anything else is a database failure: the whole batch fails.
            Err(e) => return Err(e),
        }
    }
    if panic_next.swap(false, Ordering::SeqCst) {
        panic!("injected panic before a commit (test hook)");
    }
    tx.commit()?;
    Ok(results)
}

/// One update's checks and writes: the newest timestamp must still be `base`, every file's
/// version above what is stored; then every file and a changefeed record.
fn apply(conn: &Connection, update: &Update) -> Result<()> {
    let gun = update.gun.as_str();
    // Each MAX is one index lookup, however many versions are stored.
    let mut newest =
        conn.prepare_cached("SELECT MAX(version) FROM tuf_files WHERE gun = ?1 AND role = ?2")?;
    let mut newest_of = |role: &str| -> Result<Option<i64>> {
        Ok(newest
            .query_row((gun, role), |row| row.get::<_, Option<i64>>(0))
            .optional()?
            .flatten())
    };
    if newest_of("timestamp")? != update.base {
        return Err(StorageError::Conflict);
    }
    for (i, file) in update.files.iter().enumerate() {
        let repeated = update.files[..i].iter().any(|f| f.role == file.role);
        if repeated || newest_of(&file.role)?.is_some_and(|v| v >= file.version) {
            return Err(StorageError::Conflict);
        }
    }
    let created_at = time_text(update.now);
    let mut insert = conn.prepare_cached(INSERT_FILE)?;
    for file in &update.files {
        let sha256 = sha256_hex(&file.data);
        insert
            .execute((
                &created_at,
                gun,
                &file.role,
                file.version,
                file.data.as_ref(),
                &sha256,
            ))
            .map_err(conflict_on_unique)?;
        if file.role == "timestamp" {
            conn.prepare_cached(
                "INSERT INTO changefeed (created_at, gun, version, sha256, category) \
                 VALUES (?1, ?2, ?3, ?4, 'update')",
            )?
            .execute((&created_at, gun, file.version, &sha256))?;
        }
    }
    Ok(())
}
