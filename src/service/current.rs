//! Reading the consistent current state, and serving current roles.
//!
//! "Current" follows the chain clients follow (docs/protocol.md §7.2): the newest timestamp, the snapshot
//! it lists by hash, and every other role at the hash that snapshot lists. A role the snapshot
//! does not list is not current (404), even if older files of it are stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::cache::{Entry, KeptPair};
use super::parsed::Keep;
use super::{generate, lifetimes, Repos, Result, ServiceError};
use crate::gun::Gun;
use crate::storage::StoredFile;
use crate::tuf::metadata::{self, FileMeta, RoleType};
use crate::tuf::role::RoleName;
use crate::validation::{Current, Loaded};

fn parse<T: RoleType + serde::de::DeserializeOwned>(file: &StoredFile) -> Result<Loaded<T>> {
    Loaded::parse(file.data.clone())
        .map_err(|e| ServiceError::corrupt_because(file.role.clone(), e))
}

/// The current timestamp and the snapshot it lists, stored and parsed (each parsed once).
struct Pair {
    timestamp: StoredFile,
    ts: Loaded<metadata::Timestamp>,
    snap: Loaded<metadata::Snapshot>,
}

/// The current timestamp and snapshot as a read of `timestamp.json` needs them: the stored
/// bytes, and of their content only what decides freshness and what the snapshot lists.
struct Glance {
    timestamp: StoredFile,
    timestamp_expires: DateTime<Utc>,
    snapshot: StoredFile,
    snapshot_expires: DateTime<Utc>,
    listed: BTreeMap<String, String>,
    kept: Option<KeptPair>,
}

/// The newest timestamp, its expiry and the snapshot it lists, with their parses when kept.
struct PairFiles {
    timestamp: StoredFile,
    expires: DateTime<Utc>,
    snapshot: StoredFile,
    kept: Option<KeptPair>,
}

/// How often a read that raced a write is tried again before the request gets a conflict.
const READ_ATTEMPTS: usize = 3;

fn hex_sha256(meta: &FileMeta) -> Option<String> {
    meta.sha256().map(hex::encode)
}

impl Repos {
    /// `file` parsed, from the kept parsed roles when its content was parsed before.
    fn load<T>(&self, gun: &Gun, file: &StoredFile) -> Result<Loaded<T>>
    where
        T: RoleType + serde::de::DeserializeOwned + Keep,
    {
        if let Some(kept) = self.parsed.get::<T>(gun, &file.role, &file.sha256) {
            return Ok(kept);
        }
        let loaded = parse::<T>(file)?;
        self.parsed
            .put(gun, &file.role, file.sha256.clone(), loaded.clone());
        Ok(loaded)
    }

    /// What `read` takes of the `signed` object of a stored (once validated) file: from its
    /// kept parse when there is one (an update keeps what it wrote, see
    /// [`Repos::keep_written`]), else read with serde alone, without the full parse and
    /// without keeping it (a plain `GET` needs a field or two).
    fn peek<T, R>(&self, gun: &Gun, file: &StoredFile, read: impl FnOnce(&T) -> R) -> Result<R>
    where
        T: RoleType + serde::de::DeserializeOwned + Keep,
    {
        if let Some(kept) = self.parsed.get::<T>(gun, &file.role, &file.sha256) {
            return Ok(read(&kept.signed.signed));
        }
        let signed: T = metadata::read_stored(&file.data)
            .map_err(|e| ServiceError::corrupt_because(file.role.clone(), e))?;
        Ok(read(&signed))
    }

    /// Keeps the parse of `bytes`, just written as `role`, for the reads and the next update
    /// that follow. Only what this process signed or validated comes here, so a parse failure
    /// is a bug: it is logged and nothing is kept.
    pub(super) fn keep_written<T>(&self, gun: &Gun, role: &str, bytes: &bytes::Bytes)
    where
        T: RoleType + serde::de::DeserializeOwned + Keep,
    {
        match Loaded::<T>::parse(bytes.clone()) {
            Ok(loaded) => self
                .parsed
                .put(gun, role, crate::storage::sha256_hex(bytes), loaded),
            Err(e) => {
                tracing::error!(gun = %gun, role, error = %e, "written metadata does not parse")
            }
        }
    }

    /// The role `meta` names by hash, parsed: kept from before, or read and parsed now.
    async fn load_listed<T>(
        &self,
        gun: &Gun,
        role: &str,
        meta: &FileMeta,
    ) -> Result<Option<Loaded<T>>>
    where
        T: RoleType + serde::de::DeserializeOwned + Keep,
    {
        if let Some(sha) = hex_sha256(meta) {
            if let Some(kept) = self.parsed.get::<T>(gun, role, &sha) {
                return Ok(Some(kept));
            }
        }
        match self.file_listed(gun, role, meta).await? {
            Some(file) => Ok(Some(self.load(gun, &file)?)),
            None => Ok(None),
        }
    }

    /// The stored file of `role` that `meta` names by hash.
    async fn file_listed(
        &self,
        gun: &Gun,
        role: &str,
        meta: &FileMeta,
    ) -> Result<Option<StoredFile>> {
        let Some(sha) = hex_sha256(meta) else {
            return Ok(None);
        };
        Ok(self.store.file_by_checksum(gun, role, &sha).await?)
    }

    /// The newest timestamp (its file and expiry) and the snapshot file it lists.
    ///
    /// The reads are separate queries, so a delete or an update can land between them; a
    /// listed file that is missing is read again from a fresh timestamp, and only a file
    /// missing under an unchanged timestamp is corruption.
    async fn pair_files(&self, gun: &Gun) -> Result<Option<PairFiles>> {
        if let Some(kept) = self.kept_pair(gun).await? {
            return Ok(Some(kept));
        }
        for _ in 0..READ_ATTEMPTS {
            // The newest snapshot is almost always the one the newest timestamp names: read
            // both at once, and look the snapshot up by hash only when it is not.
            let (timestamp, newest_snapshot) =
                self.store.latest_two(gun, "timestamp", "snapshot").await?;
            let Some(timestamp) = timestamp else {
                return Ok(None);
            };
            let (expires, meta) = self.peek(gun, &timestamp, |ts: &metadata::Timestamp| {
                (ts.expires.at(), ts.meta.get("snapshot").cloned())
            })?;
            let meta = meta.ok_or_else(|| ServiceError::corrupt("timestamp lists no snapshot"))?;
            let listed = match newest_snapshot {
                Some(s) if hex_sha256(&meta).is_some_and(|sha| sha == s.sha256) => Some(s),
                _ => self.file_listed(gun, "snapshot", &meta).await?,
            };
            match listed {
                Some(snapshot) => {
                    return Ok(Some(PairFiles {
                        timestamp,
                        expires,
                        snapshot,
                        kept: None,
                    }))
                }
                None => self.moved_on(gun, &timestamp, "snapshot").await?,
            }
        }
        Err(ServiceError::Contended)
    }

    /// [`Repos::pair_files`] from the parsed roles kept in memory, when they are the newest
    /// stored: the store is asked only for what its index holds (versions, hashes, times), not
    /// for the files' bytes. `None` when this process keeps no parse of `gun`'s timestamp (a
    /// repository it has not read or written since it started: the full read is then one
    /// query, not two), or what it keeps is no longer the newest.
    async fn kept_pair(&self, gun: &Gun) -> Result<Option<PairFiles>> {
        let Some((kept_sha, kept)) = self.parsed.newest::<metadata::Timestamp>(gun, "timestamp")
        else {
            return Ok(None);
        };
        let (Some(timestamp), Some(snapshot)) = self
            .store
            .latest_two_heads(gun, "timestamp", "snapshot")
            .await?
        else {
            return Ok(None);
        };
        if timestamp.sha256 != kept_sha {
            return Ok(None);
        }
        let ts = &kept.signed.signed;
        let listed = ts.meta.get("snapshot").and_then(hex_sha256);
        if listed.as_deref() != Some(snapshot.sha256.as_str()) {
            return Ok(None);
        }
        let Some(snap) = self
            .parsed
            .get::<metadata::Snapshot>(gun, "snapshot", &snapshot.sha256)
        else {
            return Ok(None);
        };
        let expires = ts.expires.at();
        Ok(Some(PairFiles {
            timestamp: timestamp.with_data(kept.bytes.clone()),
            expires,
            snapshot: snapshot.with_data(snap.bytes.clone()),
            kept: Some((kept, snap)),
        }))
    }

    /// The newest timestamp and the snapshot it lists, fully parsed, as validation needs them.
    async fn current_pair(&self, gun: &Gun) -> Result<Option<Pair>> {
        let Some(files) = self.pair_files(gun).await? else {
            return Ok(None);
        };
        let (ts, snap) = match files.kept {
            Some(kept) => kept,
            None => (
                self.load(gun, &files.timestamp)?,
                self.load(gun, &files.snapshot)?,
            ),
        };
        Ok(Some(Pair {
            ts,
            snap,
            timestamp: files.timestamp,
        }))
    }

    /// The newest timestamp and the snapshot it lists, as a read needs them.
    async fn glance(&self, gun: &Gun) -> Result<Option<Glance>> {
        let Some(files) = self.pair_files(gun).await? else {
            return Ok(None);
        };
        let read = |snap: &metadata::Snapshot| {
            let listed = snap
                .meta
                .iter()
                .filter_map(|(name, meta)| hex_sha256(meta).map(|sha| (name.clone(), sha)))
                .collect();
            (snap.expires.at(), listed)
        };
        let (snapshot_expires, listed) = match &files.kept {
            Some((_, snap)) => read(&snap.signed.signed),
            None => self.peek(gun, &files.snapshot, read)?,
        };
        Ok(Some(Glance {
            timestamp: files.timestamp,
            timestamp_expires: files.expires,
            snapshot: files.snapshot,
            snapshot_expires,
            listed,
            kept: files.kept,
        }))
    }

    /// After a listed file was not found: `Ok` when the repository changed meanwhile (read
    /// again), corruption when it did not.
    async fn moved_on(&self, gun: &Gun, read: &StoredFile, missing: &str) -> Result<()> {
        let now = self.store.latest_file(gun, "timestamp").await?;
        if now.is_some_and(|t| t.sha256 == read.sha256) {
            return Err(ServiceError::corrupt(format!(
                "the current {missing} is missing"
            )));
        }
        Ok(())
    }

    /// Everything validation needs: the consistent current state.
    pub async fn current_state(&self, gun: &Gun) -> Result<Current> {
        for _ in 0..READ_ATTEMPTS {
            if let Some(current) = self.try_current_state(gun).await? {
                return Ok(current);
            }
        }
        Err(ServiceError::Contended)
    }

    /// The consistent current state as a reader sees it: walked from the current files kept
    /// for reads (the timestamp and snapshot a `GET` answers, see [`super::cache`]), so that a
    /// check following the fingerprint read of [`Repos::current_role`] does not walk the store
    /// a second time. Writes validate against [`Repos::current_state`], which always reads
    /// the store.
    pub async fn current_for_read(&self, gun: &Gun) -> Result<Current> {
        for _ in 0..READ_ATTEMPTS {
            let entry = match self.cache.get(gun, self.clock.now()) {
                Some(entry) => entry,
                None => self.load_entry(gun).await?,
            };
            let (ts, snap) = match entry.parsed() {
                Some((ts, snap)) => (ts.clone(), snap.clone()),
                None => (
                    self.load(gun, &entry.timestamp)?,
                    self.load(gun, &entry.snapshot)?,
                ),
            };
            let pair = Pair {
                ts,
                snap,
                timestamp: entry.timestamp.clone(),
            };
            if let Some(current) = self.state_from(gun, pair).await? {
                return Ok(current);
            }
            // A role the kept snapshot lists is gone: a write landed; read afresh.
            self.cache.invalidate(gun);
        }
        Err(ServiceError::Contended)
    }

    /// One attempt at [`Repos::current_state`]; `None` when the repository changed under it.
    async fn try_current_state(&self, gun: &Gun) -> Result<Option<Current>> {
        let Some(pair) = self.current_pair(gun).await? else {
            return Ok(Some(Current::default()));
        };
        self.state_from(gun, pair).await
    }

    /// The state that the timestamp and snapshot of `pair` name; `None` when a role it lists
    /// is no longer stored because the repository changed meanwhile.
    async fn state_from(&self, gun: &Gun, pair: Pair) -> Result<Option<Current>> {
        let Pair {
            timestamp,
            ts,
            snap,
        } = pair;
        let mut current = Current {
            timestamp: Some(ts),
            ..Current::default()
        };
        let mut targets = BTreeMap::new();
        for (name, meta) in &snap.signed.signed.meta {
            let Ok(role) = RoleName::parse(name) else {
                continue;
            };
            if role == RoleName::root() {
                match self.load_listed(gun, name, meta).await? {
                    Some(root) => current.root = Some(root),
                    None => {
                        self.moved_on(gun, &timestamp, "root").await?;
                        return Ok(None);
                    }
                }
            } else if role != RoleName::snapshot() && role != RoleName::timestamp() {
                if let Some(loaded) = self.load_listed(gun, name, meta).await? {
                    targets.insert(role, loaded);
                }
            }
        }
        if current.root.is_none() {
            return Err(ServiceError::corrupt("the current root is missing"));
        }
        current.targets = targets;
        current.snapshot = Some(snap);
        Ok(Some(current))
    }

    /// The current version of `role` (`GET …/{role}.json`), from the cache when it may be
    /// served (see [`super::cache`]).
    ///
    /// The timestamp and snapshot are first renewed when what the server signs has expired or
    /// is about to (docs/protocol.md §6.4, with a refresh margin the reference lacks).
    pub async fn current_role(&self, gun: &Gun, role: &RoleName) -> Result<StoredFile> {
        let now = self.clock.now();
        let entry = match self.cache.get(gun, now) {
            Some(entry) => entry,
            None => self.load_entry(gun).await?,
        };
        if *role == RoleName::timestamp() {
            return Ok(entry.timestamp.clone());
        }
        if *role == RoleName::snapshot() {
            return Ok(entry.snapshot.clone());
        }
        if let Some(file) = entry.role(role.as_str()) {
            return Ok(file);
        }
        let sha = entry
            .listed
            .get(role.as_str())
            .ok_or(ServiceError::NotFound)?;
        let file = self.role_by_checksum(gun, role.as_str(), sha).await?;
        entry.keep_role(&file);
        Ok(file)
    }

    /// Walks (and renews if needed) the current timestamp and snapshot, and caches the result
    /// unless a write happened meanwhile.
    async fn load_entry(&self, gun: &Gun) -> Result<Arc<Entry>> {
        let epoch = self.cache.epoch();
        let mut glance = self.glance(gun).await?.ok_or(ServiceError::NotFound)?;
        let now = self.clock.now();
        let snapshot_expired = glance.snapshot_expires <= now;
        let timestamp_stale =
            glance.timestamp_expires - lifetimes::timestamp_refresh_margin() <= now;
        if (snapshot_expired || timestamp_stale) && self.renew(gun, snapshot_expired, now).await? {
            glance = self.glance(gun).await?.ok_or(ServiceError::NotFound)?;
        }
        let fresh_until = std::cmp::min(
            glance.timestamp_expires - lifetimes::timestamp_refresh_margin(),
            glance.snapshot_expires,
        );
        let entry = Arc::new(Entry::new(
            glance.timestamp,
            glance.snapshot,
            glance.listed,
            fresh_until,
            glance.kept,
        ));
        self.cache.put(gun, entry.clone(), epoch);
        Ok(entry)
    }

    /// Renews an expired snapshot (when the server holds its key) and an expired or nearly
    /// expired timestamp. `false` when nothing was written and the files still valid are to be
    /// served as they are.
    async fn renew(&self, gun: &Gun, snapshot_expired: bool, now: DateTime<Utc>) -> Result<bool> {
        let current = self.current_state(gun).await?;
        match generate::renew(self, gun, &current, snapshot_expired, now).await {
            // A racing reader renewed first: serve what it stored.
            Ok(()) | Err(ServiceError::Conflict) => Ok(true),
            Err(ServiceError::CannotSign(what)) if !snapshot_expired || what == "snapshot" => {
                // Notary answers 500 here; serving the still-valid files is better than
                // nothing while they are valid, and an expired one fails on the client with a
                // clear message. A mirrored repository has no server key until its handover,
                // and its own deadline warning says so (`notarium mirror`): not again here.
                if matches!(self.store.mirror(gun).await, Ok(Some(_))) {
                    tracing::debug!(gun = %gun, "mirrored: {what} not renewed before the handover");
                } else {
                    tracing::warn!(gun = %gun, "cannot renew {what}: no server key");
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Renews every repository whose timestamp is within its refresh margin (or whose
    /// server-held snapshot has expired), with no client traffic, so that what a mirror or CDN
    /// holds never lapses. Returns how many repositories were looked at and how many failed.
    pub async fn renew_all(&self) -> (usize, usize) {
        let mut after = String::new();
        let (mut seen, mut failed) = (0, 0);
        loop {
            let page = match self.store.guns_after(&after, 256).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(
                        error = %crate::report::Chain(&e),
                        "background renewal could not list repositories"
                    );
                    return (seen, failed + 1);
                }
            };
            let Some(last) = page.last().cloned() else {
                return (seen, failed);
            };
            for name in page {
                seen += 1;
                let Ok(gun) = Gun::parse(&name) else { continue };
                // Reading the current timestamp renews it when due (see `refresh`).
                if let Err(e) = self.current_role(&gun, &RoleName::timestamp()).await {
                    failed += 1;
                    tracing::warn!(
                        gun = %gun,
                        error = %crate::report::Chain(&e),
                        "background renewal failed"
                    );
                }
            }
            after = last;
        }
    }
}
