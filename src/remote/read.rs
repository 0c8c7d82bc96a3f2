//! The read path of the notary client (docs/protocol.md §9): `timestamp.json` fresh, then the
//! snapshot it lists, the root chain, `targets` and delegations, each by the checksum its
//! parent lists and checked against that checksum and length before anything else is read.
//!
//! Nothing here is trusted: the timestamp and snapshot are parsed only to find hashes, and
//! signatures are `policy::trust`'s to check. What this guarantees is that every file handed
//! on is the one its (unverified) parent lists, and that no download exceeds its bound.

use std::collections::BTreeMap;

use bytes::Bytes;
use ring::digest::{digest, SHA256};

use crate::gun::Gun;
use crate::policy::TrustData;
use crate::tuf::metadata::{read_stored, FileMeta, Root, Snapshot, Timestamp};
use crate::tuf::role::RoleName;

use super::auth::{Freshness, GetError, Session};
use super::cache::CachedRepo;
use super::transport::Transport;
use super::RemoteError;

/// `timestamp.json` is read up to this size (the notary client's cap).
const TIMESTAMP_LIMIT: usize = 1 << 20;
/// A root file is refused over this size.
const ROOT_LIMIT: usize = 1 << 20;
/// No file is read past this size, whatever its parent lists.
const FILE_LIMIT: usize = 64 << 20;
/// Root versions handed on at most (the newest and those between it and the anchor).
const MAX_ROOTS: u64 = 256;

/// One read of `gun`.
pub(super) async fn read(
    transport: &Transport,
    session: &Session<'_>,
    gun: &Gun,
    wanted: &[RoleName],
    cached: &CachedRepo,
) -> Result<TrustData, RemoteError> {
    let reader = Reader {
        transport,
        session,
        gun,
        cached,
    };

    // 1. The timestamp, never from a cache.
    let url = transport.role_url(gun, "timestamp.json");
    let timestamp = match session.get(&url, TIMESTAMP_LIMIT, Freshness::Fresh).await {
        Ok(bytes) => bytes,
        Err(GetError::NotFound(_)) => return Err(RemoteError::NotFound(gun.to_string())),
        Err(GetError::Failed(why)) => return Err(RemoteError::Fetch(why)),
    };
    let parsed: Timestamp = read_stored(&timestamp).map_err(|e| {
        fetch_error(format!(
            "the timestamp of {gun} from {url} is not readable: {e}"
        ))
    })?;

    // 2. The snapshot the timestamp lists.
    let snapshot_meta = listed(&parsed.meta, "snapshot", "timestamp")?;
    let snapshot = reader
        .listed_file("snapshot", snapshot_meta, FILE_LIMIT, "timestamp")
        .await?;
    let parsed: Snapshot = read_stored(&snapshot)
        .map_err(|e| fetch_error(format!("the snapshot of {gun} is not readable: {e}")))?;

    // 3. The roots.
    let roots = reader
        .roots(listed(&parsed.meta, "root", "snapshot")?)
        .await?;

    // 4. Targets and the wanted delegations the snapshot lists.
    let targets_meta = listed(&parsed.meta, "targets", "snapshot")?;
    let targets = reader
        .listed_file("targets", targets_meta, FILE_LIMIT, "snapshot")
        .await?;
    let mut delegations = BTreeMap::new();
    for role in wanted.iter().filter(|r| r.is_delegation()) {
        if let Some(meta) = parsed.meta.get(role.as_str()) {
            let bytes = reader
                .listed_file(role.as_str(), meta, FILE_LIMIT, "snapshot")
                .await?;
            delegations.insert(role.clone(), bytes);
        }
    }
    Ok(TrustData {
        roots,
        timestamp,
        snapshot,
        targets,
        delegations,
    })
}

struct Reader<'a> {
    transport: &'a Transport,
    session: &'a Session<'a>,
    gun: &'a Gun,
    cached: &'a CachedRepo,
}

impl Reader<'_> {
    /// The file of `role` that `parent` lists with `meta`: from the cache when it holds those
    /// bytes, else from `{role}.{sha256}.json`; checked against every listed hash and the
    /// length.
    async fn listed_file(
        &self,
        role: &str,
        meta: &FileMeta,
        cap: usize,
        parent: &str,
    ) -> Result<Bytes, RemoteError> {
        let gun = self.gun;
        let Some(sha256) = meta.sha256().filter(|d| d.len() == 32) else {
            return Err(fetch_error(format!(
                "the {parent} of {gun} lists {role} without a sha256 checksum"
            )));
        };
        let hex = hex::encode(sha256);
        let length = usize::try_from(meta.length).ok().filter(|n| *n <= cap);
        let Some(length) = length else {
            return Err(fetch_error(format!(
                "the {parent} of {gun} lists {role} with length {}, outside 0..={cap}",
                meta.length
            )));
        };
        if let Some(bytes) = self.cached.files.get(&hex) {
            if meta.check(bytes, true).is_ok() {
                return Ok(bytes.clone());
            }
        }
        let url = self.transport.role_url(gun, &format!("{role}.{hex}.json"));
        let bytes = self.get(&url, length).await?;
        meta.check(&bytes, true).map_err(|e| {
            fetch_error(format!(
                "GET {url}: {role} does not match what the {parent} lists: {e}"
            ))
        })?;
        Ok(bytes)
    }

    /// The root chain ending with the root the snapshot lists: the remembered root alone when
    /// it is that root, else the listed root and every version after the remembered one (from
    /// 1 when none is remembered) before it, ascending.
    async fn roots(&self, meta: &FileMeta) -> Result<Vec<Bytes>, RemoteError> {
        let gun = self.gun;
        if let Some(remembered) = &self.cached.seen.root {
            let same = meta
                .sha256()
                .is_some_and(|d| digest(&SHA256, remembered).as_ref() == d);
            if same && meta.check(remembered, true).is_ok() {
                return Ok(vec![remembered.clone()]);
            }
        }
        let newest = self
            .listed_file("root", meta, ROOT_LIMIT, "snapshot")
            .await?;
        let version = read_stored::<Root>(&newest)
            .map_err(|e| fetch_error(format!("the newest root of {gun} is not readable: {e}")))?
            .version;
        let first = match &self.cached.seen.root {
            Some(remembered) => {
                read_stored::<Root>(remembered)
                    .map_err(|e| {
                        fetch_error(format!("the remembered root of {gun} is not readable: {e}"))
                    })?
                    .version
                    + 1
            }
            None => 1,
        };
        let count = version.saturating_sub(first).saturating_add(1);
        if count > MAX_ROOTS {
            return Err(fetch_error(format!(
                "{gun} would need {count} root versions ({first} to {version}); at most \
                 {MAX_ROOTS} are read"
            )));
        }
        let mut roots = Vec::new();
        for v in first..version {
            let url = self.transport.role_url(gun, &format!("{v}.root.json"));
            let bytes = self.get(&url, ROOT_LIMIT).await?;
            let served = read_stored::<Root>(&bytes)
                .map_err(|e| fetch_error(format!("GET {url}: not a readable root: {e}")))?
                .version;
            if served != v {
                return Err(fetch_error(format!(
                    "GET {url}: served root version {served}, not {v}"
                )));
            }
            roots.push(bytes);
        }
        roots.push(newest);
        Ok(roots)
    }

    /// A file any 404 of which is an error (only the timestamp's means "no trust data").
    async fn get(&self, url: &reqwest::Url, limit: usize) -> Result<Bytes, RemoteError> {
        self.session
            .get(url, limit, Freshness::Any)
            .await
            .map_err(|e| match e {
                GetError::NotFound(why) | GetError::Failed(why) => RemoteError::Fetch(why),
            })
    }
}

/// `meta[role]` of a file, which `parent` must list.
fn listed<'m>(
    meta: &'m BTreeMap<String, FileMeta>,
    role: &str,
    parent: &str,
) -> Result<&'m FileMeta, RemoteError> {
    meta.get(role)
        .ok_or_else(|| fetch_error(format!("the {parent} lists no {role}")))
}

fn fetch_error(message: String) -> RemoteError {
    RemoteError::Fetch(message)
}
