//! The local trust source: the store's consistent current state, read through the service as
//! every client read is, and older roots by version.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::gun::Gun;
use crate::policy::{Parsed, Seen, TrustData};
use crate::service::{Repos, ServiceError};
use crate::tuf::role::RoleName;

fn why(gun: &Gun, e: ServiceError) -> String {
    match e {
        ServiceError::NotFound => format!("no trust data for {}", gun.as_str()),
        other => format!("could not read the trust data of {}: {other}", gun.as_str()),
    }
}

/// The sha256 of `gun`'s current timestamp (renewed first when it has expired, as for any
/// reader): what a cached decision must have been made from.
pub(super) async fn fingerprint(repos: &Repos, gun: &Gun) -> Result<String, String> {
    repos
        .current_role(gun, &RoleName::timestamp())
        .await
        .map(|file| file.sha256)
        .map_err(|e| why(gun, e))
}

/// `gun`'s trust data for a decision that needs the delegations `wanted`, the service's parse
/// of its current files (kept between requests: see `service::parsed`), and the fingerprint of
/// the timestamp it holds.
pub(super) async fn trust_data(
    repos: &Repos,
    gun: &Gun,
    wanted: &[RoleName],
    seen: &Seen,
) -> Result<(TrustData, Parsed, String), String> {
    let current = repos.current_for_read(gun).await.map_err(|e| why(gun, e))?;
    let (Some(root), Some(snapshot), Some(timestamp)) =
        (current.root, current.snapshot, current.timestamp)
    else {
        return Err(format!("no trust data for {}", gun.as_str()));
    };
    let newest = root.signed.signed.version;
    let remembered = seen.root.as_deref();
    let mut roots: Vec<Bytes> = Vec::new();
    if remembered != Some(root.bytes.as_ref()) {
        // The versions after the remembered root, or every version from 1.
        let from = match remembered
            .and_then(|r| crate::tuf::metadata::read_stored::<crate::tuf::metadata::Root>(r).ok())
        {
            Some(r) => r.version + 1,
            None => 1,
        };
        let from = from.min(newest);
        if newest - from >= crate::policy::trust::MAX_ROOT_CHAIN as u64 {
            return Err(format!(
                "{} has too many root versions to walk",
                gun.as_str()
            ));
        }
        for version in from..newest {
            let file = repos
                .role_by_version(gun, "root", version as i64)
                .await
                .map_err(|e| why(gun, e))?;
            roots.push(file.data);
        }
    }
    roots.push(root.bytes.clone());
    let targets = current
        .targets
        .get(&RoleName::targets())
        .ok_or_else(|| format!("{} has no targets metadata", gun.as_str()))?;
    let delegations: BTreeMap<RoleName, Bytes> = wanted
        .iter()
        .filter_map(|role| {
            current
                .targets
                .get(role)
                .map(|t| (role.clone(), t.bytes.clone()))
        })
        .collect();
    let parsed = Parsed {
        roots: vec![Arc::clone(&root.signed)],
        timestamp: Some(Arc::clone(&timestamp.signed)),
        snapshot: Some(Arc::clone(&snapshot.signed)),
        targets: std::iter::once(RoleName::targets())
            .chain(delegations.keys().cloned())
            .filter_map(|role| {
                let parsed = Arc::clone(&current.targets.get(&role)?.signed);
                Some((role, parsed))
            })
            .collect(),
    };
    // The parse is of exactly these bytes: its digest is the fingerprint, without hashing again.
    let fingerprint = hex::encode(timestamp.signed.source_sha256());
    Ok((
        TrustData {
            roots,
            timestamp: timestamp.bytes,
            snapshot: snapshot.bytes,
            targets: targets.bytes.clone(),
            delegations,
        },
        parsed,
        fingerprint,
    ))
}
