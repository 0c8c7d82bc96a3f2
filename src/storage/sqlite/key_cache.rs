//! Server keys by GUN and role, kept in memory.
//!
//! Every update asks which timestamp and snapshot keys the server holds for its GUN, and signing
//! asks again; each ask was a read on another thread. A SQLite file has one serving process, and
//! every key write goes through this store, so a copy kept here is exact: it is dropped for a
//! GUN and role when a key is written, and a read that overlapped a write is not kept (the same
//! epoch rule as the current-files cache). The lists live in a `quick_cache` cache, which bounds
//! them and, when full, drops the lists read least.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::storage::StoredKey;

/// At most this many key lists (one per GUN and role) are kept: a few hundred bytes each, and
/// a miss costs one indexed read. A power of two, so the cache's shards split it exactly.
const MAX_LISTS: usize = 1 << 16;

type Keys = Arc<Vec<StoredKey>>;

/// A cache key: GUN and role.
type Slot = (String, String);

/// Looks up a [`Slot`] without allocating; hashes as the tuple does.
#[derive(Hash)]
struct Lookup<'a>(&'a str, &'a str);

impl quick_cache::Equivalent<Slot> for Lookup<'_> {
    fn equivalent(&self, slot: &Slot) -> bool {
        self.0 == slot.0 && self.1 == slot.1
    }
}

#[derive(Debug)]
pub(super) struct KeyCache {
    /// (GUN, role) → keys, oldest first.
    entries: quick_cache::sync::Cache<Slot, Keys>,
    /// Taken shared by [`KeyCache::put`] to check the epoch and insert, and exclusively by
    /// writes to bump it and remove, so no write falls between a put's check and its insert.
    writes: RwLock<()>,
    epoch: AtomicU64,
}

impl Default for KeyCache {
    fn default() -> KeyCache {
        KeyCache::with_max(MAX_LISTS)
    }
}

impl KeyCache {
    fn with_max(max_lists: usize) -> KeyCache {
        KeyCache {
            entries: quick_cache::sync::Cache::new(max_lists),
            writes: RwLock::new(()),
            epoch: AtomicU64::new(0),
        }
    }

    /// The keys of `gun` and `role`, if kept.
    pub(super) fn get(&self, gun: &str, role: &str) -> Option<Keys> {
        self.entries.get(&Lookup(gun, role))
    }

    /// The epoch to pass to [`KeyCache::put`] for a read starting now.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps what a read found, unless a key was written since `epoch` was taken.
    pub(super) fn put(&self, gun: &str, role: &str, keys: Keys, epoch: u64) {
        let Ok(_writes) = self.writes.read() else {
            return;
        };
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        self.entries.insert((gun.to_owned(), role.to_owned()), keys);
    }

    /// Forgets the keys of `gun` and `role` (after a write of one of them).
    pub(super) fn forget(&self, gun: &str, role: &str) {
        // Taken even if poisoned: a put that still runs then keeps nothing.
        let _writes = self.writes.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(&Lookup(gun, role));
    }

    /// Forgets everything (after keys of many GUNs were rewritten).
    pub(super) fn clear(&self) {
        let _writes = self.writes.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Arc::new(Vec::new())
    }

    #[test]
    fn a_write_during_a_read_keeps_the_read_out() {
        let cache = KeyCache::default();
        let epoch = cache.epoch();
        cache.forget("example.com/app", "timestamp");
        cache.put("example.com/app", "timestamp", keys(), epoch);
        assert!(cache.get("example.com/app", "timestamp").is_none());
        cache.put("example.com/app", "timestamp", keys(), cache.epoch());
        assert!(cache.get("example.com/app", "timestamp").is_some());
        assert!(cache.get("example.com/app", "snapshot").is_none());
        cache.clear();
        assert!(cache.get("example.com/app", "timestamp").is_none());
    }

    #[test]
    fn the_number_of_lists_is_bounded() {
        let cache = KeyCache::with_max(64);
        for i in 0..1000 {
            let gun = format!("example.com/app{i}");
            cache.put(&gun, "timestamp", keys(), cache.epoch());
            assert!(cache.entries.len() <= 64);
            assert!(cache.get(&gun, "timestamp").is_some(), "the newest is kept");
        }
    }
}
