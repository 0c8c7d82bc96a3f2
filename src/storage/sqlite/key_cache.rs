//! Server keys by GUN and role, kept in memory.
//!
//! Every update asks which timestamp and snapshot keys the server holds for its GUN, and signing
//! asks again; each ask was a read on another thread. A SQLite file has one serving process, and
//! every key write goes through this store, so a copy kept here is exact: it is dropped for a
//! GUN and role when a key is written, and a read that overlapped a write is not kept (the same
//! epoch rule as the current-files cache).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::storage::StoredKey;

/// At most this many GUNs are kept.
const MAX_GUNS: usize = 1 << 15;

type Keys = Arc<Vec<StoredKey>>;

#[derive(Debug, Default)]
pub(super) struct KeyCache {
    /// GUN → role → keys, oldest first.
    entries: Mutex<HashMap<String, HashMap<String, Keys>>>,
    epoch: AtomicU64,
}

impl KeyCache {
    /// The keys of `gun` and `role`, if kept.
    pub(super) fn get(&self, gun: &str, role: &str) -> Option<Keys> {
        let entries = self.entries.lock().ok()?;
        entries.get(gun)?.get(role).cloned()
    }

    /// The epoch to pass to [`KeyCache::put`] for a read starting now.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps what a read found, unless a key was written since `epoch` was taken.
    pub(super) fn put(&self, gun: &str, role: &str, keys: Keys, epoch: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.len() >= MAX_GUNS && !entries.contains_key(gun) {
            crate::evict::remove_arbitrary(&mut entries, MAX_GUNS / 8);
        }
        entries
            .entry(gun.to_owned())
            .or_default()
            .insert(role.to_owned(), keys);
    }

    /// Forgets the keys of `gun` and `role` (after a write of one of them).
    pub(super) fn forget(&self, gun: &str, role: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            if let Some(roles) = entries.get_mut(gun) {
                roles.remove(role);
            }
        }
    }

    /// Forgets everything (after keys of many GUNs were rewritten).
    pub(super) fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }
}
