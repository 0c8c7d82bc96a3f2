//! `notarium mirror`: copying repositories from another trust server (a hosted notary) over
//! its public API, for teams that cannot read its database (`notarium import` needs that).
//!
//! Each repository is read as a notary client reads it, verified as a client verifies it
//! (`policy::trust`), and then every earlier version the source still serves is read and
//! checked against the keys of its own time ([`check`]); only then is anything stored, in one
//! transaction, byte for byte with versions so that every hash a client pinned still matches.
//! The repository is recorded as mirrored with the roles whose keys only the source holds;
//! until the owner has rotated those to keys this server holds (the handover), it is served
//! read-only and this server signs nothing for it.

pub mod check;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::gun::Gun;
use crate::policy::rules::RootTrust;
use crate::policy::trust::{verify, Seen, TrustData};
use crate::remote::{CachedRepo, Remote, RemoteError};
use crate::storage::{sha256_hex, SharedStore, StorageError, StoredFile};
use crate::tuf::metadata::{read_stored, Root, Snapshot, Targets, Timestamp};
use crate::tuf::role::RoleName;
use check::{check_version, delegation_signers, root_signers, source_holds_snapshot, Signers};

/// Versions of one role read at most when walking its history down.
const MAX_HISTORY: u64 = 10_000;

/// Why a repository was not mirrored; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The source could not be read.
    #[error("{0}")]
    Remote(#[from] RemoteError),
    /// What the source serves does not verify or is inconsistent.
    #[error("refused: {0}")]
    Refused(String),
    /// The repository here is native, or the source rewrote a version already copied.
    #[error("not stored: {gun} already has other trust data here (a native repository, or the source changed a version already copied)")]
    Conflict {
        /// The GUN.
        gun: String,
    },
    /// Storage failed.
    #[error("storage failed")]
    Storage(#[source] StorageError),
}

/// One repository as read and verified, ready to store.
#[derive(Debug)]
pub struct Copy {
    /// Every file, current and earlier, with its version.
    pub files: Vec<StoredFile>,
    /// Roles whose keys only the source holds: `timestamp`, and `snapshot` when it signs those.
    pub server_roles: Vec<String>,
    /// When the copied timestamp expires: clients refuse the repository after that unless the
    /// handover has happened.
    pub deadline: DateTime<Utc>,
}

/// What storing a copy did.
#[derive(Debug)]
pub struct Stored {
    /// Files read.
    pub files: usize,
    /// Files new to this store.
    pub new: usize,
    /// Roles still held by the source.
    pub server_roles: Vec<String>,
    /// Expiry of the copied timestamp.
    pub deadline: DateTime<Utc>,
}

/// Reads `gun` from `remote`, verifies it, and stores it (all or nothing).
pub async fn mirror_gun(
    remote: &Remote,
    store: &SharedStore,
    gun: &Gun,
    now: DateTime<Utc>,
) -> Result<Stored, MirrorError> {
    let copy = read_gun(remote, gun, now).await?;
    let new = store
        .store_mirrored(gun, remote.server(), &copy.server_roles, &copy.files, now)
        .await
        .map_err(|e| match e {
            StorageError::Conflict => MirrorError::Conflict {
                gun: gun.to_string(),
            },
            other => MirrorError::Storage(other),
        })?;
    Ok(Stored {
        files: copy.files.len(),
        new,
        server_roles: copy.server_roles,
        deadline: copy.deadline,
    })
}

fn refused(msg: impl Into<String>) -> MirrorError {
    MirrorError::Refused(msg.into())
}

/// Reads and verifies `gun` from `remote`: the current trust data as a client does, then
/// every earlier version still served.
pub async fn read_gun(remote: &Remote, gun: &Gun, now: DateTime<Utc>) -> Result<Copy, MirrorError> {
    // A first read learns which delegations the snapshot lists; the second reads them all
    // (the files of the first are reused, not downloaded again).
    let first = remote
        .fetch(gun.as_str(), &[], &CachedRepo::default())
        .await?;
    let listed: Snapshot = read_stored(&first.snapshot)
        .map_err(|e| refused(format!("the snapshot is not readable: {e}")))?;
    let mut delegations: Vec<RoleName> = listed
        .meta
        .keys()
        .filter_map(|name| RoleName::parse(name).ok())
        .filter(RoleName::is_delegation)
        .collect();
    delegations.sort_by(|a, b| a.depth().cmp(&b.depth()).then_with(|| a.cmp(b)));
    let mut cached = CachedRepo::default();
    for bytes in [&first.snapshot, &first.targets]
        .into_iter()
        .chain(first.roots.iter())
    {
        cached.files.insert(sha256_hex(bytes), bytes.clone());
    }
    let data = remote.fetch(gun.as_str(), &delegations, &cached).await?;
    verified(gun, &data, now)?;

    let roots: Vec<Root> = data
        .roots
        .iter()
        .map(|b| read_stored::<Root>(b))
        .collect::<Result<_, _>>()
        .map_err(|e| refused(format!("a root is not readable: {e}")))?;
    let newest_root = roots
        .last()
        .ok_or_else(|| refused("the source serves no root"))?
        .clone();
    let timestamp: Timestamp = read_stored(&data.timestamp)
        .map_err(|e| refused(format!("the timestamp is not readable: {e}")))?;

    let mut files: BTreeMap<(String, u64), Bytes> = BTreeMap::new();
    for (root, bytes) in roots.iter().zip(&data.roots) {
        files.insert(("root".to_owned(), root.version), bytes.clone());
    }
    // The current files, then each role's history walking down, parents before children so
    // that a delegation's earlier versions are checked against every version of its parent.
    let mut current: Vec<(String, Bytes)> = vec![
        ("timestamp".to_owned(), data.timestamp.clone()),
        ("snapshot".to_owned(), data.snapshot.clone()),
        ("targets".to_owned(), data.targets.clone()),
    ];
    for role in &delegations {
        if let Some(bytes) = data.delegations.get(role) {
            current.push((role.to_string(), bytes.clone()));
        }
    }
    let mut parents: HashMap<String, Vec<Targets>> = HashMap::new();
    for (role, bytes) in current {
        let signers: Vec<Signers> = if RoleName::parse(&role).is_ok_and(|r| r.is_delegation()) {
            let parent = RoleName::parse(&role)
                .ok()
                .and_then(|r| r.parent())
                .map(|p| p.to_string())
                .unwrap_or_default();
            delegation_signers(parents.get(&parent).map_or(&[][..], Vec::as_slice), &role)
        } else {
            root_signers(&roots, &role)
        };
        let version = current_version(&role, &bytes)?;
        let mut versions = Vec::new();
        if let Some(t) = check_version(&role, version, &bytes, &signers).map_err(refused)? {
            versions.push(t);
        }
        files.insert((role.clone(), version), bytes);
        let mut n = version;
        while n > 1 && version - n < MAX_HISTORY {
            n -= 1;
            let Some(old) = remote.role_version(gun, &role, n).await? else {
                break;
            };
            if let Some(t) = check_version(&role, n, &old, &signers).map_err(refused)? {
                versions.push(t);
            }
            files.insert((role.clone(), n), old);
        }
        if is_targets(&role) {
            parents.insert(role, versions);
        }
    }

    let mut server_roles = vec!["timestamp".to_owned()];
    let served = remote.server_key(gun, "snapshot").await?;
    if source_holds_snapshot(&newest_root, served.as_deref()) {
        server_roles.insert(0, "snapshot".to_owned());
    }
    let files = files
        .into_iter()
        .map(|((role, version), data)| {
            let version = i64::try_from(version)
                .map_err(|_| refused(format!("version {version} of {role} is out of range")))?;
            Ok(StoredFile {
                sha256: sha256_hex(&data),
                role,
                version,
                data,
                created_at: now,
            })
        })
        .collect::<Result<Vec<_>, MirrorError>>()?;
    Ok(Copy {
        files,
        server_roles,
        deadline: timestamp.expires.at(),
    })
}

/// Whether `role`'s files are targets files (top-level or a delegation).
fn is_targets(role: &str) -> bool {
    check::Kind::of(role) == check::Kind::Targets
}

/// The version a current file declares.
fn current_version(role: &str, bytes: &Bytes) -> Result<u64, MirrorError> {
    let version = match check::Kind::of(role) {
        check::Kind::Timestamp => read_stored::<Timestamp>(bytes).map(|t| t.version),
        check::Kind::Snapshot => read_stored::<Snapshot>(bytes).map(|t| t.version),
        check::Kind::Targets => read_stored::<Targets>(bytes).map(|t| t.version),
    };
    version.map_err(|e| refused(format!("the current {role} is not readable: {e}")))
}

/// The current trust data verified as a client verifies it, trusting the first root (the
/// source is the one the owner chose) and every delegation it lists.
fn verified(gun: &Gun, data: &TrustData, now: DateTime<Utc>) -> Result<(), MirrorError> {
    let trust = RootTrust {
        key_ids: Vec::new(),
        keys: Vec::new(),
        tofu: true,
    };
    let trusted = verify(gun.as_str(), &trust, data, &Seen::default(), now)
        .map_err(|e| refused(e.to_string()))?;
    if let Some((role, why)) = trusted.untrusted.iter().next() {
        return Err(refused(format!("{role} does not verify: {why}")));
    }
    Ok(())
}

/// A deadline this close makes the server warn in its log.
pub const WARN_BEFORE: chrono::Duration = chrono::Duration::days(3);

/// Each mirrored repository with the expiry of its newest stored timestamp (the copied one):
/// after it, clients refuse the repository until the handover has happened. A repository
/// whose timestamp cannot be read has no deadline.
pub async fn deadlines(
    store: &SharedStore,
) -> Result<Vec<(crate::storage::Mirror, Option<DateTime<Utc>>)>, StorageError> {
    let mut out = Vec::new();
    for mirror in store.mirrors().await? {
        let deadline = match Gun::parse(&mirror.gun) {
            Ok(gun) => store
                .latest_file(&gun, "timestamp")
                .await?
                .and_then(|f| read_stored::<Timestamp>(&f.data).ok())
                .map(|t| t.expires.at()),
            Err(_) => None,
        };
        out.push((mirror, deadline));
    }
    Ok(out)
}

/// Logs a warning for each mirrored repository whose deadline is near or past.
pub async fn warn_near_deadlines(store: &SharedStore, now: DateTime<Utc>) {
    match deadlines(store).await {
        Ok(list) => {
            for (mirror, deadline) in list {
                let Some(deadline) = deadline else { continue };
                if deadline - now < WARN_BEFORE {
                    tracing::warn!(
                        gun = %mirror.gun,
                        source = %mirror.source,
                        roles = ?mirror.server_roles,
                        deadline = %deadline.to_rfc3339(),
                        "mirrored repository not handed over: clients refuse it after its \
                         deadline (`notarium mirror status` prints the commands)"
                    );
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %crate::report::Chain(&e), "reading mirrored repositories failed")
        }
    }
}
