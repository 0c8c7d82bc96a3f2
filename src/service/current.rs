//! Reading the consistent current state, and serving current roles.
//!
//! "Current" follows the chain clients follow (brief §7.2): the newest timestamp, the snapshot
//! it lists by hash, and every other role at the hash that snapshot lists. A role the snapshot
//! does not list is not current (404), even if older files of it are stored.

use std::collections::BTreeMap;

use super::{generate, lifetimes, Repos, Result, ServiceError};
use crate::gun::Gun;
use crate::storage::StoredFile;
use crate::tuf::metadata::{self, FileMeta, RoleType};
use crate::tuf::role::RoleName;
use crate::validation::{Current, Loaded};

fn load<T: RoleType + serde::de::DeserializeOwned>(file: &StoredFile) -> Result<Loaded<T>> {
    Loaded::parse(file.data.clone())
        .map_err(|e| ServiceError::Corrupt(format!("{}: {e}", file.role)))
}

fn hex_sha256(meta: &FileMeta) -> Option<String> {
    meta.sha256().map(hex::encode)
}

impl Repos {
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

    /// The newest timestamp and the snapshot it lists.
    async fn current_pair(&self, gun: &Gun) -> Result<Option<(StoredFile, StoredFile)>> {
        let Some(timestamp) = self.store.latest_file(gun, "timestamp").await? else {
            return Ok(None);
        };
        let ts: Loaded<metadata::Timestamp> = load(&timestamp)?;
        let meta = ts
            .signed
            .signed
            .meta
            .get("snapshot")
            .ok_or_else(|| ServiceError::Corrupt("timestamp lists no snapshot".into()))?;
        let snapshot = self
            .file_listed(gun, "snapshot", meta)
            .await?
            .ok_or_else(|| ServiceError::Corrupt("the current snapshot is missing".into()))?;
        Ok(Some((timestamp, snapshot)))
    }

    /// Everything validation needs: the consistent current state.
    pub async fn current_state(&self, gun: &Gun) -> Result<Current> {
        let Some((timestamp, snapshot)) = self.current_pair(gun).await? else {
            return Ok(Current::default());
        };
        let ts = load(&timestamp)?;
        let snap: Loaded<metadata::Snapshot> = load(&snapshot)?;
        let mut current = Current {
            timestamp: Some(ts),
            ..Current::default()
        };
        let mut targets = BTreeMap::new();
        for (name, meta) in &snap.signed.signed.meta {
            let Ok(role) = RoleName::parse(name) else {
                continue;
            };
            let Some(file) = self.file_listed(gun, name, meta).await? else {
                continue;
            };
            if role == RoleName::root() {
                current.root = Some(load(&file)?);
            } else if role != RoleName::snapshot() && role != RoleName::timestamp() {
                targets.insert(role, load(&file)?);
            }
        }
        if current.root.is_none() {
            return Err(ServiceError::Corrupt("the current root is missing".into()));
        }
        current.targets = targets;
        current.snapshot = Some(snap);
        Ok(current)
    }

    /// The current version of `role` (`GET …/{role}.json`).
    ///
    /// For `timestamp` and `snapshot` this first renews what the server signs when it has
    /// expired or is about to (brief §6.4, with a refresh margin the reference lacks).
    pub async fn current_role(&self, gun: &Gun, role: &RoleName) -> Result<StoredFile> {
        let Some((timestamp, snapshot)) = self.current_pair(gun).await? else {
            return Err(ServiceError::NotFound);
        };
        if *role == RoleName::timestamp() || *role == RoleName::snapshot() {
            let (timestamp, snapshot) = self.refresh(gun, timestamp, snapshot).await?;
            return Ok(if *role == RoleName::timestamp() {
                timestamp
            } else {
                snapshot
            });
        }
        let snap: Loaded<metadata::Snapshot> = load(&snapshot)?;
        let meta = snap
            .signed
            .signed
            .meta
            .get(role.as_str())
            .ok_or(ServiceError::NotFound)?;
        self.file_listed(gun, role.as_str(), meta)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Renews an expired snapshot (when the server holds its key) and an expired or
    /// nearly expired timestamp; returns the pair to serve.
    async fn refresh(
        &self,
        gun: &Gun,
        timestamp: StoredFile,
        snapshot: StoredFile,
    ) -> Result<(StoredFile, StoredFile)> {
        let now = self.clock.now();
        let ts: Loaded<metadata::Timestamp> = load(&timestamp)?;
        let snap: Loaded<metadata::Snapshot> = load(&snapshot)?;
        let snapshot_expired = snap.signed.signed.expires.at() <= now;
        let timestamp_stale =
            ts.signed.signed.expires.at() - lifetimes::timestamp_refresh_margin() <= now;
        if !snapshot_expired && !timestamp_stale {
            return Ok((timestamp, snapshot));
        }
        let current = self.current_state(gun).await?;
        match generate::renew(self, gun, &current, snapshot_expired, now).await {
            Ok(()) => {}
            // A racing reader renewed first: serve what it stored.
            Err(ServiceError::Conflict) => {}
            Err(ServiceError::CannotSign(what)) if !snapshot_expired || what == "snapshot" => {
                // Notary answers 500 here; serving the still-valid files is better than
                // nothing while they are valid, and an expired one fails on the client with a
                // clear message.
                tracing::warn!(gun = %gun, "cannot renew {what}: no server key");
                return Ok((timestamp, snapshot));
            }
            Err(e) => return Err(e),
        }
        self.current_pair(gun).await?.ok_or(ServiceError::NotFound)
    }
}
