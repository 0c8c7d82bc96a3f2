//! The atomic update (`POST /v2/{gun}/_trust/tuf/`): validate, sign, commit all or nothing.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::generate::version_i64 as to_i64;
use super::{Repos, Result, ServiceError};
use crate::gun::Gun;
use crate::signing::ServerRole;
use crate::storage::{sha256_hex, NewFile};
use crate::tuf::metadata::{Snapshot, Timestamp};
use crate::tuf::role::RoleName;
use crate::validation::{validate_update, HeldKeys};

impl Repos {
    /// Applies one update. Either every uploaded file, the generated snapshot (if any) and the
    /// new timestamp are stored, or nothing is. A failure of the server's own, whichever step
    /// it happened in, is [`ServiceError::Updating`].
    pub async fn update(&self, gun: &Gun, uploads: BTreeMap<RoleName, Bytes>) -> Result<()> {
        let handover = match self
            .mirror_for_update(gun)
            .await
            .map_err(ServiceError::in_update)?
        {
            Some(mirror) => Some(self.handover_step(gun, &mirror, &uploads).await?),
            None => None,
        };
        self.apply(gun, uploads)
            .await
            .map_err(ServiceError::in_update)?;
        if let Some(left) = handover {
            self.handed_over(gun, &left)
                .await
                .map_err(ServiceError::in_update)?;
        }
        Ok(())
    }

    async fn apply(&self, gun: &Gun, uploads: BTreeMap<RoleName, Bytes>) -> Result<()> {
        let now = self.clock.now();
        // Three independent reads: run them at once, on separate connections.
        let (current, snapshot, timestamp) = tokio::join!(
            self.current_state(gun),
            self.keys.held_ids(gun, ServerRole::Snapshot),
            self.keys.held_ids(gun, ServerRole::Timestamp),
        );
        let current = current?;
        let base = current
            .timestamp
            .as_ref()
            .map(|t| to_i64(t.signed.signed.version))
            .transpose()?;
        let held = HeldKeys {
            snapshot: snapshot?,
            timestamp: timestamp?,
        };
        let roles: Vec<String> = uploads.keys().map(|r| r.to_string()).collect();
        // Validation is pure CPU (parsing, hashing, signature checks over up to 24 MiB): it runs
        // on the blocking pool so that a heavy or hostile upload never stalls other requests.
        let task_gun = gun.clone();
        let plan = tokio::task::spawn_blocking(move || {
            validate_update(&task_gun, &current, uploads, &held, now)
        })
        .await
        .map_err(ServiceError::Task)?
        .inspect_err(|e| {
            tracing::info!(gun = %gun, ?roles, error = %e, "rejected update");
        })?;

        let mut files = Vec::with_capacity(plan.files.len() + 2);
        let mut snapshot_bytes = None;
        for file in plan.files {
            if file.role == RoleName::snapshot() {
                snapshot_bytes = Some(file.bytes.clone());
            }
            files.push(NewFile {
                role: file.role.to_string(),
                version: to_i64(file.version)?,
                data: file.bytes,
            });
        }
        if let Some(generated) = &plan.snapshot {
            let bytes = self
                .sign_snapshot(
                    gun,
                    generated.version,
                    &generated.meta,
                    &generated.keys,
                    now,
                )
                .await?;
            files.push(NewFile {
                role: "snapshot".into(),
                version: to_i64(generated.version)?,
                data: bytes.clone(),
            });
            snapshot_bytes = Some(bytes);
        }
        // validate_update always yields an uploaded or a generated snapshot.
        let snapshot_bytes =
            snapshot_bytes.ok_or_else(|| ServiceError::corrupt("update plan has no snapshot"))?;
        let timestamp = self
            .sign_timestamp(
                gun,
                plan.timestamp.version,
                &snapshot_bytes,
                &plan.timestamp.keys,
                now,
            )
            .await?;
        files.push(NewFile {
            role: "timestamp".into(),
            version: to_i64(plan.timestamp.version)?,
            data: timestamp.clone(),
        });
        self.commit(gun, base, &files, now).await?;
        // The first read after an update walks the new timestamp and snapshot (a verification
        // of a just-published image, most often): keep them parsed.
        self.keep_written::<Snapshot>(gun, "snapshot", &snapshot_bytes);
        self.keep_written::<Timestamp>(gun, "timestamp", &timestamp);
        // The next update of this repository starts from these: keep them parsed.
        if let Some(root) = plan.parsed_root {
            self.parsed.put(gun, "root", sha256_hex(&root.bytes), root);
        }
        for (role, loaded) in plan.parsed_targets {
            self.parsed
                .put(gun, role.as_str(), sha256_hex(&loaded.bytes), loaded);
        }
        tracing::info!(gun = %gun, ?roles, "accepted update");
        Ok(())
    }
}
