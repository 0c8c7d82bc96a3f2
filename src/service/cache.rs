//! The current files of recently read repositories, kept in memory.
//!
//! Reads dominate: every client pull starts with `timestamp.json`. Walking timestamp → snapshot
//! → role in the database and parsing both on every request is most of a read's cost, so the
//! walk's result is kept per GUN and served as stored bytes until one of three things happens:
//! this process writes to the GUN (exact invalidation), the entry is older than the time to
//! live (which bounds staleness when another process writes the same database), or the
//! timestamp reaches its refresh margin or the snapshot expires (so renewal still happens on
//! read).
//!
//! A read that overlapped a write must not store what it read: every write bumps an epoch, and
//! an entry is only kept if the epoch did not move while it was being read.
//!
//! The entries live in a `quick_cache` cache, which bounds their number and, when full, drops
//! the entries read least (CLOCK-Pro) rather than an arbitrary batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::gun::Gun;
use crate::storage::StoredFile;
use crate::validation::Loaded;

/// How long an entry is served without looking at the database again, by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);
/// How many repositories are kept, by default: a few KiB each for the timestamp and snapshot
/// of a typical repository, and their parses when they were kept (shared with the parsed
/// roles, so counted twice only for an entry whose parses those have dropped since). A power
/// of two, so the cache's shards split it exactly.
pub const DEFAULT_MAX_ENTRIES: usize = 16_384;

/// The parses of a repository's current timestamp and snapshot, when they were found kept as
/// the files were read (`Repos::kept_pair`): of exactly the stored files beside them.
pub(crate) type KeptPair = (
    Loaded<crate::tuf::metadata::Timestamp>,
    Loaded<crate::tuf::metadata::Snapshot>,
);

/// One repository's current files.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) timestamp: StoredFile,
    pub(crate) snapshot: StoredFile,
    /// Role name → hex SHA-256 the snapshot lists.
    pub(crate) listed: BTreeMap<String, String>,
    /// The parses of `timestamp` and `snapshot`, when they were kept as these files were
    /// read: a verification of the state takes them without looking them up again.
    parsed: Option<KeptPair>,
    /// Roles read so far, by name.
    roles: Mutex<HashMap<String, StoredFile>>,
    /// Serve until then (the timestamp's refresh point or the snapshot's expiry).
    fresh_until: DateTime<Utc>,
    loaded_at: Instant,
}

impl Entry {
    pub(crate) fn new(
        timestamp: StoredFile,
        snapshot: StoredFile,
        listed: BTreeMap<String, String>,
        fresh_until: DateTime<Utc>,
        parsed: Option<KeptPair>,
    ) -> Entry {
        Entry {
            timestamp,
            snapshot,
            listed,
            parsed,
            roles: Mutex::new(HashMap::new()),
            fresh_until,
            loaded_at: Instant::now(),
        }
    }

    /// The parses of the timestamp and snapshot, when kept.
    pub(crate) fn parsed(&self) -> Option<&KeptPair> {
        self.parsed.as_ref()
    }

    /// A role read before.
    pub(crate) fn role(&self, name: &str) -> Option<StoredFile> {
        self.roles.lock().ok()?.get(name).cloned()
    }

    /// Keeps a role read from the database (only ever the file `listed` names).
    pub(crate) fn keep_role(&self, file: &StoredFile) {
        if let Ok(mut roles) = self.roles.lock() {
            roles.insert(file.role.clone(), file.clone());
        }
    }
}

/// The cache; one per process.
#[derive(Debug)]
pub(crate) struct CurrentCache {
    entries: quick_cache::sync::Cache<Gun, Arc<Entry>>,
    /// Taken shared by [`CurrentCache::put`] to check the epoch and insert, and exclusively by
    /// invalidation to bump it and remove, so no write falls between a put's check and its
    /// insert. Lookups do not take it.
    writes: RwLock<()>,
    epoch: AtomicU64,
    ttl: Duration,
}

impl CurrentCache {
    /// At most `max_entries` repositories (rounded up to a multiple of the cache's shard count),
    /// each served for at most `ttl` (zero turns the cache off).
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> CurrentCache {
        CurrentCache {
            entries: quick_cache::sync::Cache::new(max_entries),
            writes: RwLock::new(()),
            epoch: AtomicU64::new(0),
            ttl,
        }
    }

    /// The entry for `gun` if it may still be served at `now`. Entries past their time are
    /// left for eviction, which drops unread entries first.
    pub(crate) fn get(&self, gun: &Gun, now: DateTime<Utc>) -> Option<Arc<Entry>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry = self.entries.get(gun)?;
        (entry.loaded_at.elapsed() < self.ttl && now < entry.fresh_until).then_some(entry)
    }

    /// The epoch to pass to [`CurrentCache::put`] for a read starting now.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps `entry` unless a write happened since `epoch` was taken.
    pub(crate) fn put(&self, gun: &Gun, entry: Arc<Entry>, epoch: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(_writes) = self.writes.read() else {
            return;
        };
        // Checked under the lock that invalidation takes exclusively, so a write cannot slip
        // between the check and the insert.
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        self.entries.insert(gun.clone(), entry);
    }

    /// Forgets `gun` after this process wrote to it.
    pub(crate) fn invalidate(&self, gun: &Gun) {
        self.invalidate_name(gun.as_str());
    }

    /// Forgets the GUN named `name` after another process wrote to it.
    pub(crate) fn invalidate_name(&self, name: &str) {
        // Bumped even if the lock is poisoned: a put that still runs then keeps nothing.
        let _writes = self.writes.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(name);
    }

    /// Forgets every entry.
    pub(crate) fn clear(&self) {
        let _writes = self.writes.write();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn file(role: &str) -> StoredFile {
        StoredFile {
            role: role.to_owned(),
            version: 1,
            data: Bytes::from_static(b"{}"),
            sha256: String::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn entry(fresh_until: DateTime<Utc>) -> Arc<Entry> {
        Arc::new(Entry::new(
            file("timestamp"),
            file("snapshot"),
            BTreeMap::new(),
            fresh_until,
            None,
        ))
    }

    fn gun(name: &str) -> Gun {
        Gun::parse(name).expect("valid GUN")
    }

    #[test]
    fn a_write_during_a_read_keeps_the_read_out() {
        let cache = CurrentCache::new(Duration::from_secs(60), 10);
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let later = now + chrono::Duration::days(1);
        let epoch = cache.epoch();
        cache.invalidate(&gun("a"));
        cache.put(&gun("a"), entry(later), epoch);
        assert!(cache.get(&gun("a"), now).is_none());
        let epoch = cache.epoch();
        cache.put(&gun("a"), entry(later), epoch);
        assert!(cache.get(&gun("a"), now).is_some());
        cache.invalidate(&gun("a"));
        assert!(cache.get(&gun("a"), now).is_none());
    }

    #[test]
    fn stale_entries_are_not_served() {
        let cache = CurrentCache::new(Duration::from_secs(60), 10);
        let now = DateTime::<Utc>::UNIX_EPOCH;
        cache.put(&gun("a"), entry(now), cache.epoch());
        assert!(cache.get(&gun("a"), now).is_none(), "at its refresh point");
        let off = CurrentCache::new(Duration::ZERO, 10);
        off.put(
            &gun("a"),
            entry(now + chrono::Duration::days(1)),
            off.epoch(),
        );
        assert!(
            off.get(&gun("a"), now).is_none(),
            "a zero TTL turns caching off"
        );
    }

    #[test]
    fn the_number_of_entries_is_bounded() {
        let cache = CurrentCache::new(Duration::from_secs(60), 3);
        let later = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(1);
        for i in 0..10 {
            cache.put(&gun(&format!("g{i}")), entry(later), cache.epoch());
        }
        assert!(cache.entries.len() <= 3);
    }

    /// A full cache makes room for a new entry by dropping one, not a batch, and the entries
    /// that keep being read are not the ones dropped.
    #[test]
    fn a_full_cache_drops_what_is_not_read() {
        let cache = CurrentCache::new(Duration::from_secs(60), 64);
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let later = now + chrono::Duration::days(1);
        for i in 0..64 {
            cache.put(&gun(&format!("g{i}")), entry(later), cache.epoch());
        }
        cache.put(&gun("new"), entry(later), cache.epoch());
        // Each of the cache's shards makes room on its own, and the hasher's random seed
        // decides how the names spread over them, so a shard that filled first may have
        // dropped a few before the whole cache was full (51 to 64 kept in 200 runs); never
        // a batch of the whole.
        let kept = cache.entries.len();
        assert!((48..=64).contains(&kept), "{kept} kept");
        assert!(cache.get(&gun("new"), now).is_some());
        for round in 0..8 {
            for i in 0..16 {
                assert!(
                    cache.get(&gun(&format!("g{i}")), now).is_some(),
                    "read in every round, g{i} is kept (round {round})"
                );
            }
            for i in 0..16 {
                let name = format!("n{round}-{i}");
                cache.put(&gun(&name), entry(later), cache.epoch());
            }
            assert!(cache.entries.len() <= 64);
        }
    }
}
