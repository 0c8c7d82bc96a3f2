//! Repositories mirrored from another trust server (`notarium mirror`) until their handover:
//! read-only, except for the root rotations that move a role whose key only the source holds
//! to a key this server holds (`notary key rotate GUN timestamp -r`, `snapshot -r`). Once no
//! such role is left, the repository is native.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{Repos, Result, ServiceError};
use crate::gun::Gun;
use crate::signing::ServerRole;
use crate::storage::Mirror;
use crate::tuf::metadata::{read_stored, Root};
use crate::tuf::role::RoleName;

fn server_role(name: &str) -> Option<ServerRole> {
    match name {
        "timestamp" => Some(ServerRole::Timestamp),
        "snapshot" => Some(ServerRole::Snapshot),
        _ => None,
    }
}

impl Repos {
    /// The mirror record of `gun`, when it is mirrored and not yet handed over.
    pub async fn mirrored(&self, gun: &Gun) -> Result<Option<Mirror>> {
        Ok(self.store.mirror(gun).await?)
    }

    /// The mirror record of `gun` made to agree with its stored root, before an update.
    ///
    /// A handover step is two writes: the rotated root (with the rest of its update), then the
    /// record. A crash between them leaves a record that names roles the stored root already
    /// gave to this server's keys, which would keep the repository read-only until yet another
    /// rotation. Reading the record against the root completes such a step instead.
    pub(super) async fn mirror_for_update(&self, gun: &Gun) -> Result<Option<Mirror>> {
        let Some(mut mirror) = self.store.mirror(gun).await? else {
            return Ok(None);
        };
        let current = self.current_state(gun).await?;
        let Some(root) = current.root else {
            return Ok(Some(mirror));
        };
        let left = self.left_to_move(gun, &mirror, &root.signed.signed).await?;
        if left.len() < mirror.server_roles.len() {
            tracing::warn!(gun = %gun, "mirror record behind the stored root: completing the handover step");
            self.handed_over(gun, &left).await?;
            if left.is_empty() {
                return Ok(None);
            }
            mirror.server_roles = left;
        }
        Ok(Some(mirror))
    }

    /// The roles of `mirror` that `root` (uploaded, not yet verified) still leaves to keys
    /// this server does not hold.
    async fn left_to_move(&self, gun: &Gun, mirror: &Mirror, root: &Root) -> Result<Vec<String>> {
        let mut left = Vec::new();
        for name in &mirror.server_roles {
            let Some(role) = server_role(name) else {
                continue;
            };
            let held = self.keys.held_ids(gun, role).await?;
            let moved = root
                .roles
                .get(name)
                .is_some_and(|r| !r.keyids.is_empty() && r.keyids.iter().all(|k| held.contains(k)));
            if !moved {
                left.push(name.clone());
            }
        }
        Ok(left)
    }

    /// Before an update of a mirrored repository: what is left to move after it, or the
    /// refusal when the update moves no role to this server.
    pub(super) async fn handover_step(
        &self,
        gun: &Gun,
        mirror: &Mirror,
        uploads: &BTreeMap<RoleName, Bytes>,
    ) -> Result<Vec<String>> {
        let root = uploads
            .get(&RoleName::root())
            .and_then(|bytes| read_stored::<Root>(bytes).ok());
        if let Some(root) = root {
            let left = self.left_to_move(gun, mirror, &root).await?;
            if left.len() < mirror.server_roles.len() {
                return Ok(left);
            }
        }
        Err(ServiceError::Mirrored {
            gun: gun.to_string(),
            source_url: mirror.source.clone(),
            roles: mirror.server_roles.clone(),
        })
    }

    /// After a handover step was stored: with nothing left, the repository is native.
    pub(super) async fn handed_over(&self, gun: &Gun, left: &[String]) -> Result<()> {
        self.store.set_mirror_roles(gun, left).await?;
        if left.is_empty() {
            tracing::info!(gun = %gun, "mirrored repository handed over: now native");
        } else {
            tracing::info!(gun = %gun, ?left, "mirrored repository: a role was handed over");
        }
        Ok(())
    }
}

/// The refusal of an update to a mirrored repository, with the handover steps.
pub(crate) fn mirrored_message(gun: &str, source: &str, roles: &[String]) -> String {
    let steps: Vec<String> =
        crate::mirror::check::handover_commands("THIS-SERVER", source, gun, roles)
            .into_iter()
            .map(|c| format!("`{c}`"))
            .collect();
    format!(
        "{gun} is mirrored from {source} and read-only here until its handover: the owner \
         (with the root key) runs {}",
        steps.join(", then ")
    )
}
