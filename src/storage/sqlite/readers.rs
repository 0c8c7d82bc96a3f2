//! Read connections: a few SQLite connections, each used by one read at a time.
//!
//! A read is one closure run on the blocking pool with a connection of its own, so a request
//! pays one thread hand-off per read however many statements and rows it takes; WAL lets the
//! readers run beside the writer. A point read may instead run on the calling thread when a
//! connection is idle (see [`Readers::run_quick`]). Connections are opened on first need and
//! then kept.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::{connect, BUSY_TIMEOUT};
use crate::storage::{Result, StorageError};

/// A read on the calling thread that takes longer than this most likely waited for the disk
/// (a page the kernel did not have cached): the async thread it ran on served nobody meanwhile.
const QUICK_LIMIT: Duration = Duration::from_millis(5);
/// After such a read, quick reads go to the blocking pool for this long, so a cold database
/// file stalls an async thread at most once a second rather than on every read.
const COOL_DOWN: Duration = Duration::from_secs(1);

/// The read connections of one store.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Semaphore,
    open: Arc<AtomicU32>,
    /// When the readers were made: [`Readers::pooled_until`] counts from it.
    born: Instant,
    /// Nanoseconds after `born` until which quick reads are not run on the calling thread.
    pooled_until: AtomicU64,
}

impl Readers {
    /// At most `max` connections to the database at `path`, none open yet.
    pub(super) fn new(path: PathBuf, max: u32) -> Readers {
        Readers {
            path,
            idle: Arc::new(Mutex::new(Vec::new())),
            permits: Semaphore::new(max.max(1) as usize),
            open: Arc::new(AtomicU32::new(0)),
            born: Instant::now(),
            pooled_until: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since `born`.
    fn now(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Runs `read` with a connection of its own on the blocking pool.
    pub(super) async fn run<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StorageError::Stopped("the store is closed", None))?;
        let kept = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let path = self.path.clone();
        let open = Arc::clone(&self.open);
        let idle = Arc::clone(&self.idle);
        tokio::task::spawn_blocking(move || {
            let conn = match kept {
                Some(conn) => conn,
                None => {
                    let conn = connect(&path)?;
                    open.fetch_add(1, Ordering::Relaxed);
                    conn
                }
            };
            let result = read(&conn);
            // Back before the permit is released, so the next read finds it.
            idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
            result
        })
        .await
        .map_err(|e| StorageError::Stopped("a read task failed", Some(e)))?
    }

    /// Runs `read` on the calling thread when a connection is idle and not every reader is
    /// busy, else as [`Readers::run`] does. For point reads through an index (a row or two,
    /// microseconds of work): on a loaded server the blocking pool's two thread hand-offs cost
    /// more than the read itself. The read gives up at once rather than wait on a lock (a WAL
    /// reader rarely meets one) and is then run again on the blocking pool, which may wait.
    /// A read that took longer than [`QUICK_LIMIT`] sends the quick reads of the next
    /// [`COOL_DOWN`] to the blocking pool.
    pub(super) async fn run_quick<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Clone + Send + 'static,
    {
        if self.now() < self.pooled_until.load(Ordering::Relaxed) {
            return self.run(read).await;
        }
        let Ok(_permit) = self.permits.try_acquire() else {
            return self.run(read).await;
        };
        let Some(conn) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() else {
            drop(_permit);
            return self.run(read).await;
        };
        let result = match conn.busy_timeout(Duration::ZERO) {
            Ok(()) => {
                let started = Instant::now();
                let result = read(&conn);
                if started.elapsed() > QUICK_LIMIT {
                    let until = self.now().saturating_add(COOL_DOWN.as_nanos() as u64);
                    self.pooled_until.store(until, Ordering::Relaxed);
                }
                conn.busy_timeout(BUSY_TIMEOUT)
                    .map_err(StorageError::from)
                    .and(result)
            }
            Err(e) => Err(e.into()),
        };
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        drop(_permit);
        match result {
            Err(e) if gave_up_on_a_lock(&e) => self.run(read).await,
            other => other,
        }
    }

    /// Connections open, and idle among them.
    pub(super) fn state(&self) -> (u32, usize) {
        let idle = self.idle.lock().map(|i| i.len()).unwrap_or(0);
        (self.open.load(Ordering::Relaxed), idle)
    }
}

/// Whether SQLite gave up on a lock another connection held (only a read that does not wait,
/// a quick read, sees this).
fn gave_up_on_a_lock(e: &StorageError) -> bool {
    matches!(
        e,
        StorageError::Sqlite(e) if matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn count(conn: &Connection) -> Result<i64> {
        Ok(conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))?)
    }

    /// A quick read that meets a lock does not fail: it is run again on the blocking pool,
    /// which waits for the lock as every other read does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_quick_read_that_meets_a_lock_waits_for_it_elsewhere() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        let setup = connect(&path).expect("open");
        setup
            .execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .expect("setup");
        let readers = Readers::new(path.clone(), 2);
        assert_eq!(readers.run(count).await.expect("read"), 1);
        assert_eq!(readers.run_quick(count).await.expect("quick read"), 1);

        // A WAL reader meets a lock too rarely to provoke one, so this read takes the write
        // lock for a moment, which a writer that has not committed holds.
        fn locking_count(conn: &Connection) -> Result<i64> {
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
            count(conn)
        }
        let holder = connect(&path).expect("open");
        holder
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2);")
            .expect("lock");
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            holder.execute_batch("COMMIT").expect("commit");
            drop(holder);
        });
        let start = Instant::now();
        let seen = readers
            .run_quick(locking_count)
            .await
            .expect("quick read under a lock");
        assert_eq!(seen, 2, "the read ran after the writer committed");
        assert!(start.elapsed() >= Duration::from_millis(250));
        release.join().expect("holder");
        // The connection the quick read used is back, with its usual patience.
        assert_eq!(readers.state(), (1, 1));
        assert_eq!(readers.run_quick(count).await.expect("quick read"), 2);
    }

    /// A quick read runs on the calling thread until one is slow (as a read that waits for
    /// the disk is); the quick reads after it run on the blocking pool for a while.
    #[tokio::test(flavor = "current_thread")]
    async fn after_a_slow_quick_read_the_next_ones_leave_the_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.db");
        connect(&path)
            .expect("open")
            .execute_batch("CREATE TABLE t (x INTEGER);")
            .expect("setup");
        let readers = Readers::new(path, 2);
        readers.run(count).await.expect("open a connection");
        let here = std::thread::current().id();
        let thread_of = |slow: bool| {
            move |conn: &Connection| {
                if slow {
                    std::thread::sleep(QUICK_LIMIT * 2);
                }
                count(conn)?;
                Ok(std::thread::current().id())
            }
        };
        assert_eq!(
            readers.run_quick(thread_of(false)).await.expect("read"),
            here
        );
        assert_eq!(
            readers.run_quick(thread_of(true)).await.expect("read"),
            here
        );
        assert_ne!(
            readers.run_quick(thread_of(false)).await.expect("read"),
            here,
            "cooling down"
        );
        // Once the cool-down is over, quick reads come back.
        readers.pooled_until.store(0, Ordering::Relaxed);
        assert_eq!(
            readers.run_quick(thread_of(false)).await.expect("read"),
            here
        );
    }
}
