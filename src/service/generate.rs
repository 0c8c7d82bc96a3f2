//! Metadata the server produces and signs: snapshots (when it holds the key) and timestamps.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{lifetimes, Repos, Result, ServiceError};
use crate::gun::Gun;
use crate::signing::{sign_all, ServerRole};
use crate::storage::NewFile;
use crate::tuf::cjson;
use crate::tuf::key::KeyId;
use crate::tuf::metadata::{self, Expires, FileMeta};
use crate::validation::Current;

impl Repos {
    async fn sign_value(
        &self,
        gun: &Gun,
        role: ServerRole,
        keys: &[KeyId],
        value: &cjson::Value,
    ) -> Result<Bytes> {
        let signers = self.keys.signers(gun, role, keys).await?;
        if signers.is_empty() {
            return Err(ServiceError::CannotSign(role.as_str()));
        }
        let canonical = cjson::encode(value).map_err(|e| {
            ServiceError::corrupt_because(format!("generated {}", role.as_str()), e)
        })?;
        let signatures = sign_all(signers, canonical.clone()).await?;
        Ok(metadata::envelope_bytes(&canonical, &signatures).into())
    }

    /// A signed snapshot listing `meta`.
    pub(super) async fn sign_snapshot(
        &self,
        gun: &Gun,
        version: u64,
        meta: &BTreeMap<String, FileMeta>,
        keys: &[KeyId],
        now: DateTime<Utc>,
    ) -> Result<Bytes> {
        let expires = Expires::from_datetime(now + lifetimes::snapshot());
        let value = metadata::snapshot_value(version, &expires, meta);
        self.sign_value(gun, ServerRole::Snapshot, keys, &value)
            .await
    }

    /// A signed timestamp listing the exact snapshot bytes.
    pub(super) async fn sign_timestamp(
        &self,
        gun: &Gun,
        version: u64,
        snapshot: &[u8],
        keys: &[KeyId],
        now: DateTime<Utc>,
    ) -> Result<Bytes> {
        let expires = Expires::from_datetime(now + lifetimes::timestamp());
        let value = metadata::timestamp_value(version, &expires, &FileMeta::of(snapshot));
        self.sign_value(gun, ServerRole::Timestamp, keys, &value)
            .await
    }
}

pub(super) fn version_i64(version: u64) -> Result<i64> {
    i64::try_from(version).map_err(|_| ServiceError::corrupt("version out of range"))
}

/// Writes a new timestamp, and a new snapshot first when `renew_snapshot` is set.
pub(super) async fn renew(
    repos: &Repos,
    gun: &Gun,
    current: &Current,
    renew_snapshot: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let (Some(root), Some(snapshot), Some(timestamp)) =
        (&current.root, &current.snapshot, &current.timestamp)
    else {
        return Err(ServiceError::NotFound);
    };
    let root = &root.signed.signed;
    let listed = |role: &str| {
        root.roles
            .get(role)
            .map(|r| r.keyids.clone())
            .unwrap_or_default()
    };
    let mut files = Vec::new();
    let snapshot_bytes = if renew_snapshot {
        let version = snapshot.signed.signed.version + 1;
        let bytes = repos
            .sign_snapshot(
                gun,
                version,
                &snapshot.signed.signed.meta,
                &listed("snapshot"),
                now,
            )
            .await?;
        files.push(NewFile {
            role: "snapshot".into(),
            version: version_i64(version)?,
            data: bytes.clone(),
        });
        bytes
    } else {
        snapshot.bytes.clone()
    };
    let version = timestamp.signed.signed.version + 1;
    let bytes = repos
        .sign_timestamp(gun, version, &snapshot_bytes, &listed("timestamp"), now)
        .await?;
    files.push(NewFile {
        role: "timestamp".into(),
        version: version_i64(version)?,
        data: bytes.clone(),
    });
    let base = Some(version_i64(timestamp.signed.signed.version)?);
    repos.commit(gun, base, &files, now).await?;
    if renew_snapshot {
        repos.keep_written::<metadata::Snapshot>(gun, "snapshot", &snapshot_bytes);
    }
    repos.keep_written::<metadata::Timestamp>(gun, "timestamp", &bytes);
    tracing::info!(gun = %gun, renew_snapshot, "renewed server-signed metadata");
    Ok(())
}
