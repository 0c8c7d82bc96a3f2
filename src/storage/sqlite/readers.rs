//! Read connections: a few SQLite connections, each used by one blocking task at a time.
//!
//! A read is one closure run on the blocking pool with a connection of its own, so a request
//! pays one thread hand-off per read however many statements and rows it takes; WAL lets the
//! readers run beside the writer. Connections are opened on first need and then kept.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::connect;
use crate::storage::{Result, StorageError};

/// The read connections of one store.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Semaphore,
    open: Arc<AtomicU32>,
}

impl Readers {
    /// At most `max` connections to the database at `path`, none open yet.
    pub(super) fn new(path: PathBuf, max: u32) -> Readers {
        Readers {
            path,
            idle: Arc::new(Mutex::new(Vec::new())),
            permits: Semaphore::new(max.max(1) as usize),
            open: Arc::new(AtomicU32::new(0)),
        }
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

    /// Connections open, and idle among them.
    pub(super) fn state(&self) -> (u32, usize) {
        let idle = self.idle.lock().map(|i| i.len()).unwrap_or(0);
        (self.open.load(Ordering::Relaxed), idle)
    }
}
