//! A repository's trust data, verified as the notary client verifies it: the root chain from
//! a trusted anchor, then timestamp → snapshot → targets → delegations, each signed to its
//! threshold, listed by hash and length, unexpired, and never older than what was seen before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::tuf::cert::{self, ExpiryCheck};
use crate::tuf::digest::{sha256, sha512};
use crate::tuf::key::{KeyId, PublicKey};
use crate::tuf::metadata::{
    self, Expires, FileMeta, RoleType, Root, Signed, Snapshot, Targets, Timestamp,
};
use crate::tuf::role::RoleName;
use crate::tuf::verify::valid_signers;

use super::rules::{RootTrust, Rule};

/// The files of one repository as a trust source read them. Nothing here is trusted yet.
#[derive(Debug, Clone, Default)]
pub struct TrustData {
    /// Root files in ascending version order; the last is the newest the source serves. A
    /// source with a remembered root sends the versions after it; a first read sends all.
    pub roots: Vec<Bytes>,
    /// `timestamp.json`.
    pub timestamp: Bytes,
    /// The snapshot the timestamp lists.
    pub snapshot: Bytes,
    /// Top-level `targets`, as the snapshot lists it.
    pub targets: Bytes,
    /// The delegations the rule needs (see [`needed_roles`]), as the snapshot lists them; a
    /// role the snapshot does not list is absent.
    pub delegations: BTreeMap<RoleName, Bytes>,
}

/// The parse a trust source already holds of files it sends in a [`TrustData`] (the local
/// source: the service's parsed roles), so that they are not parsed again. Each is used only
/// for the exact bytes it was parsed from, which the parser recorded
/// ([`Signed::source_sha256`]); a file with none of its own is parsed here, so what is given
/// saves work and can never change a verdict. Every check runs on the parse as on the bytes.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Roots, in any order.
    pub roots: Vec<Arc<Signed<Root>>>,
    /// The timestamp.
    pub timestamp: Option<Arc<Signed<Timestamp>>>,
    /// The snapshot.
    pub snapshot: Option<Arc<Signed<Snapshot>>>,
    /// `targets` and delegations, by role.
    pub targets: BTreeMap<RoleName, Arc<Signed<Targets>>>,
}

/// What a verifier remembers of a repository between decisions: the last trusted root (the
/// anchor for trust on first use and for rotations) and the highest version seen of each role.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    /// The bytes of the last trusted root, base64 in the persisted form. Shared with the
    /// parse they came from, not copied: a verifier remembers one per repository.
    #[serde(default, with = "b64_opt")]
    pub root: Option<Bytes>,
    /// Role name → the highest version trusted so far.
    #[serde(default)]
    pub versions: BTreeMap<String, u64>,
    /// Key IDs (listed and canonical) of the keys that signed a trusted root of this chain: a
    /// root pin is met by any of them, so a pinned key keeps its word across rotations.
    #[serde(default)]
    pub root_signers: Vec<String>,
}

/// A repository's trust data after verification.
#[derive(Debug, Clone)]
pub struct Trusted {
    /// The trusted root.
    pub root: Content<Root>,
    /// `targets` and the verified delegations, with what a verdict needs to know of each.
    pub roles: BTreeMap<RoleName, TrustedRole>,
    /// Delegations that were given but did not verify, and why.
    pub untrusted: BTreeMap<RoleName, String>,
    /// The earliest expiry of the root, timestamp, snapshot and every role in `roles`.
    pub expires: DateTime<Utc>,
    /// What to remember for the next decision.
    pub seen: Seen,
}

/// A verified targets role.
#[derive(Debug, Clone)]
pub struct TrustedRole {
    /// Its content.
    pub targets: Content<Targets>,
    /// The key IDs whose signatures counted toward its threshold.
    pub signed_by: Vec<String>,
    /// The path prefixes it may sign for, from its chain of delegations; `None`: all (targets).
    pub paths: Option<Vec<String>>,
}

/// A verified role's content, shared with the parse it was verified from rather than copied
/// out of it (the service keeps its parses between requests, so a copy was a deep clone of
/// every key and target on each verification).
#[derive(Debug, Clone)]
pub struct Content<T>(Arc<Signed<T>>);

impl<T> std::ops::Deref for Content<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0.signed
    }
}

/// Why trust data was not trusted; shown to people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// The delegations a rule needs, parents first: `targets/releases` for Docker's pull rule,
/// else each signer's role and the roles that delegate to it.
pub fn needed_roles(rule: &Rule) -> Vec<RoleName> {
    let mut roles = BTreeSet::new();
    if rule.signers.is_empty() {
        roles.insert(RoleName::releases());
    }
    for signer in &rule.signers {
        let mut role = Some(signer.role.clone());
        while let Some(r) = role {
            if r == RoleName::targets() {
                break;
            }
            role = r.parent();
            roles.insert(r);
        }
    }
    let mut roles: Vec<RoleName> = roles.into_iter().collect();
    roles.sort_by(|a, b| a.depth().cmp(&b.depth()).then_with(|| a.cmp(b)));
    roles
}

/// The most root versions one chain may hold; a longer history is refused rather than walked.
pub const MAX_ROOT_CHAIN: usize = 256;
/// The most root-signing keys remembered per repository (see [`Seen::root_signers`]).
const MAX_REMEMBERED_SIGNERS: usize = 64;

fn refuse(msg: impl Into<String>) -> Refusal {
    Refusal(msg.into())
}

/// Verifies `data` for the repository `gun` from the root anchor `root` pins (or, with trust on
/// first use, the first root), continuing from what `seen` remembers, at `now`.
pub fn verify(
    gun: &str,
    root_trust: &RootTrust,
    data: &TrustData,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Result<Trusted, Refusal> {
    verify_parsed(gun, root_trust, data, &Parsed::default(), seen, now)
}

/// [`verify`], with the files of `data` that `parsed` holds the parse of taken from it rather
/// than parsed again. The verdict is [`verify`]'s.
pub fn verify_parsed(
    gun: &str,
    root_trust: &RootTrust,
    data: &TrustData,
    parsed: &Parsed,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Result<Trusted, Refusal> {
    let mut next = seen.clone();
    let (root, root_bytes) = verify_roots(gun, root_trust, data, parsed, seen, &mut next, now)?;
    let mut walk = Walk {
        root: &root,
        seen,
        now,
        next: &mut next,
        expires: root.expires.at(),
    };

    // The timestamp, then the snapshot it lists, then what the snapshot lists.
    let offered_targets = parsed.targets.get(&RoleName::targets());
    let snapshot_file = Held::with_parse(&data.snapshot, parsed.snapshot.as_ref());
    let targets_file = Held::with_parse(&data.targets, offered_targets);
    let (timestamp, _) = walk.top_level::<Timestamp>(
        "timestamp",
        &Held::new(&data.timestamp),
        parsed.timestamp.as_ref(),
    )?;
    listed_by(
        &timestamp.signed.meta,
        "timestamp",
        "snapshot",
        &snapshot_file,
    )?;
    let (snapshot, _) =
        walk.top_level::<Snapshot>("snapshot", &snapshot_file, parsed.snapshot.as_ref())?;
    // The root's parse is of exactly its bytes: its digests are theirs.
    let root_file = Held::parsed_from(&root_bytes, &root.0);
    listed_by(&snapshot.signed.meta, "snapshot", "root", &root_file)?;
    listed_by(&snapshot.signed.meta, "snapshot", "targets", &targets_file)?;
    let (targets, signed_by) =
        walk.top_level::<Targets>("targets", &targets_file, offered_targets)?;
    let mut expires = walk.expires;

    let mut roles = BTreeMap::new();
    roles.insert(
        RoleName::targets(),
        TrustedRole {
            targets: Content(targets),
            signed_by: signed_by.iter().map(|k| k.to_string()).collect(),
            paths: None,
        },
    );
    let mut untrusted = BTreeMap::new();
    let mut delegations: Vec<(&RoleName, &Bytes)> = data.delegations.iter().collect();
    delegations.sort_by(|(a, _), (b, _)| a.depth().cmp(&b.depth()).then_with(|| a.cmp(b)));
    for (name, bytes) in delegations {
        let offered = parsed.targets.get(name);
        match verify_delegation(name, bytes, offered, &roles, &snapshot.signed, seen, now) {
            Ok(role) => {
                expires = expires.min(role.targets.expires.at());
                next.versions.insert(name.to_string(), role.targets.version);
                roles.insert(name.clone(), role);
            }
            Err(why) => {
                untrusted.insert(name.clone(), why.0);
            }
        }
    }
    Ok(Trusted {
        root,
        roles,
        untrusted,
        expires,
        seen: next,
    })
}

/// A top-level role other than root: what [`Walk::top_level`] needs to know of it.
trait TopLevel: RoleType + serde::de::DeserializeOwned {
    fn version(&self) -> u64;
    fn expires(&self) -> &Expires;
    fn check(&self) -> Result<(), crate::tuf::Error>;
}

/// `TopLevel` for a role type: its version and expiry fields, and its structure check.
macro_rules! top_level {
    ($type:ty, |$role:ident| $check:expr) => {
        impl TopLevel for $type {
            fn version(&self) -> u64 {
                self.version
            }
            fn expires(&self) -> &Expires {
                &self.expires
            }
            fn check(&self) -> Result<(), crate::tuf::Error> {
                let $role = self;
                $check
            }
        }
    };
}

top_level!(Timestamp, |t| t.check_structure());
top_level!(Snapshot, |s| s.check_structure());
top_level!(Targets, |t| t.check_structure(&RoleName::targets()));

/// The walk from a trusted root down the top-level roles: what was seen before, what to
/// remember, and the earliest expiry so far.
struct Walk<'a> {
    root: &'a Root,
    seen: &'a Seen,
    now: DateTime<Utc>,
    next: &'a mut Seen,
    expires: DateTime<Utc>,
}

impl Walk<'_> {
    /// `bytes` as the top-level `role`: parsed (or its parse as `offered`), signed to the
    /// threshold the root sets, of notary's structure, unexpired and not older than seen
    /// before. Answers the file and the keys whose signatures counted.
    fn top_level<T: TopLevel>(
        &mut self,
        role: &str,
        file: &Held<'_>,
        offered: Option<&Arc<Signed<T>>>,
    ) -> Result<(Arc<Signed<T>>, Vec<KeyId>), Refusal> {
        let signed = parse_or_take(role, file, offered)?;
        let keys = by_root(&signed, role, self.root)?;
        signed
            .signed
            .check()
            .map_err(|e| refuse(format!("{role}: {e}")))?;
        let (version, expires) = (signed.signed.version(), signed.signed.expires());
        fresh(role, version, expires, self.seen, self.now)?;
        self.expires = self.expires.min(expires.at());
        self.next.versions.insert(role.to_owned(), version);
        Ok((signed, keys))
    }
}

fn parse_role<T: RoleType + serde::de::DeserializeOwned>(
    role: &str,
    bytes: &[u8],
) -> Result<Signed<T>, Refusal> {
    metadata::parse(bytes).map_err(|e| refuse(format!("{role}: {e}")))
}

/// A file's bytes and their digests, each worked out at most once however many checks ask for
/// it (which parse is the file's, what the parent lists), and taken from the file's parse when
/// that keeps them (see [`Held::with_parse`]).
struct Held<'a> {
    bytes: &'a [u8],
    sha256: std::cell::OnceCell<[u8; 32]>,
    sha512: std::cell::OnceCell<[u8; 64]>,
}

impl<'a> Held<'a> {
    fn new(bytes: &'a [u8]) -> Held<'a> {
        Held {
            bytes,
            sha256: std::cell::OnceCell::new(),
            sha512: std::cell::OnceCell::new(),
        }
    }

    /// `bytes`, which `parse` (if any) may be the parse of: when it is, the digests it keeps
    /// are these bytes' too, so a parse held between requests spares hashing them again.
    fn with_parse<T>(bytes: &'a [u8], parse: Option<&Arc<Signed<T>>>) -> Held<'a> {
        let held = Held::new(bytes);
        if let Some(parse) = parse {
            if parse.is_parse_of(bytes) {
                let _ = held.sha256.set(*parse.source_sha256());
            }
            let digest = held.sha256();
            if let Some(sha512) = parse.source_sha512(bytes, &digest) {
                let _ = held.sha512.set(sha512);
            }
        }
        held
    }

    /// `bytes` with `parse`, known to be their parse (taken from them): its digests are theirs,
    /// so not even the SHA-256 is worked out again.
    fn parsed_from<T>(bytes: &'a [u8], parse: &Signed<T>) -> Held<'a> {
        let held = Held::new(bytes);
        let _ = held.sha256.set(*parse.source_sha256());
        if let Some(sha512) = parse.source_sha512(bytes, parse.source_sha256()) {
            let _ = held.sha512.set(sha512);
        }
        held
    }

    fn sha256(&self) -> [u8; 32] {
        *self.sha256.get_or_init(|| sha256(self.bytes))
    }

    fn sha512(&self) -> [u8; 64] {
        *self.sha512.get_or_init(|| sha512(self.bytes))
    }
}

/// Of `offered`, the parse of exactly `file`, if there is one: told by identity when a parse
/// holds the very bytes of `file` (see [`Signed::is_parse_of`]), else by digest.
fn parse_of<'a, T: 'a>(
    file: &Held<'_>,
    offered: impl IntoIterator<Item = &'a Arc<Signed<T>>>,
) -> Option<Arc<Signed<T>>> {
    let offered: Vec<&Arc<Signed<T>>> = offered.into_iter().collect();
    if let Some(same) = offered.iter().find(|parsed| parsed.is_parse_of(file.bytes)) {
        let _ = file.sha256.set(*same.source_sha256());
        return Some(Arc::clone(same));
    }
    if offered.is_empty() {
        return None;
    }
    let digest = file.sha256();
    offered
        .into_iter()
        .find(|parsed| *parsed.source_sha256() == digest)
        .cloned()
}

/// `file` parsed as `role`, or `offered` when it is its parse.
fn parse_or_take<T: RoleType + serde::de::DeserializeOwned>(
    role: &str,
    file: &Held<'_>,
    offered: Option<&Arc<Signed<T>>>,
) -> Result<Arc<Signed<T>>, Refusal> {
    match parse_of(file, offered) {
        Some(parsed) => Ok(parsed),
        None => parse_role(role, file.bytes).map(Arc::new),
    }
}

/// `signed` is signed to the threshold `root` sets for the top-level `role`.
fn by_root<T>(signed: &Signed<T>, role: &str, root: &Root) -> Result<Vec<KeyId>, Refusal> {
    let keys = root
        .role(role)
        .ok_or_else(|| refuse(format!("the root defines no {role} role")))?;
    valid_signers(signed, role, &root.keys, &keys.keyids, keys.threshold)
        .map_err(|e| refuse(format!("{role}: {e}")))
}

/// `file` is the file `parent`'s meta lists for `role`, by hash and length.
fn listed_by(
    meta: &BTreeMap<String, FileMeta>,
    parent: &str,
    role: &str,
    file: &Held<'_>,
) -> Result<(), Refusal> {
    let listed = meta
        .get(role)
        .ok_or_else(|| refuse(format!("{parent} does not list {role}")))?;
    listed
        .check_by_digests(file.bytes.len(), || file.sha256(), || file.sha512(), true)
        .map_err(|e| refuse(format!("{role} does not match what {parent} lists: {e}")))
}

/// Not expired, and not older than the version seen before (a rollback).
fn fresh(
    role: &str,
    version: u64,
    expires: &Expires,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if let Some(&before) = seen.versions.get(role) {
        if version < before {
            return Err(refuse(format!(
                "{role} version {version} is older than version {before} seen before: the server rolled back, or someone is replaying old trust data"
            )));
        }
    }
    if expires.at() <= now {
        return Err(refuse(format!("{role} expired at {}", expires.as_str())));
    }
    Ok(())
}

/// The root chain: from the remembered root, or from a root a pinned key signed, or (trust on
/// first use) from the first root given, each next root signed to the threshold of the one
/// before it and to its own. Answers the newest root and its bytes.
fn verify_roots(
    gun: &str,
    root_trust: &RootTrust,
    data: &TrustData,
    parsed: &Parsed,
    seen: &Seen,
    next: &mut Seen,
    now: DateTime<Utc>,
) -> Result<(Content<Root>, Bytes), Refusal> {
    if data.roots.is_empty() {
        return Err(refuse("the trust server sent no root"));
    }
    if data.roots.len() > MAX_ROOT_CHAIN {
        return Err(refuse(format!(
            "more than {MAX_ROOT_CHAIN} root versions to walk"
        )));
    }
    let mut chain = Vec::with_capacity(data.roots.len());
    for bytes in &data.roots {
        let root = match parse_of(&Held::new(bytes), &parsed.roots) {
            Some(root) => root,
            None => Arc::new(parse_role::<Root>("root", bytes)?),
        };
        root.signed
            .check_structure()
            .map_err(|e| refuse(format!("root version {}: {e}", root.signed.version)))?;
        chain.push((root, bytes.clone()));
    }
    for pair in chain.windows(2) {
        if pair[1].0.signed.version != pair[0].0.signed.version + 1 {
            return Err(refuse(format!(
                "root versions are not consecutive: {} then {}",
                pair[0].0.signed.version, pair[1].0.signed.version
            )));
        }
    }

    let pinned = !root_trust.key_ids.is_empty() || !root_trust.keys.is_empty();
    let remembered = match &seen.root {
        Some(bytes) => Some(parse_or_take_root(bytes, &chain, parsed)?),
        None => None,
    };
    // Where trust starts: the index in `chain` of the first root to accept on the anchor's
    // word, and the root (outside or inside the chain) that vouches for it.
    let mut signers: Vec<String> = seen.root_signers.clone();
    // The version already found signed by its own valid keys at `now`, if any: the newest
    // root needs that check, and a root accepted on first use has just had it.
    let mut self_checked: Option<u64> = None;
    let start: usize;
    let mut previous: Option<Arc<Signed<Root>>>;
    if let Some(anchor) = remembered {
        let anchor_version = anchor.signed.version;
        let newest = chain.last().map_or(0, |(r, _)| r.signed.version);
        if newest < anchor_version {
            return Err(refuse(format!(
                "root version {newest} is older than version {anchor_version} trusted before: the server rolled back, or someone is replaying old trust data"
            )));
        }
        if let Some((_, bytes)) = chain
            .iter()
            .find(|(r, _)| r.signed.version == anchor_version)
        {
            if Some(bytes.as_ref()) != seen.root.as_deref() {
                return Err(refuse(format!(
                    "root version {anchor_version} differs from the one trusted before"
                )));
            }
        }
        start = chain
            .iter()
            .position(|(r, _)| r.signed.version > anchor_version)
            .unwrap_or(chain.len());
        if start < chain.len() && chain[start].0.signed.version != anchor_version + 1 {
            return Err(refuse(format!(
                "the root versions after the trusted version {anchor_version} are missing"
            )));
        }
        previous = Some(anchor);
    } else if pinned {
        let found = chain.iter().position(|(r, _)| {
            signed_by_pin(r, gun, root_trust, now).is_some_and(|ids| {
                signers.extend(ids);
                true
            })
        });
        let Some(index) = found else {
            return Err(refuse(format!(
                "no root of {gun} is signed by a pinned root key (the newest root's keys: {})",
                root_key_names(&chain[chain.len() - 1].0.signed)
            )));
        };
        start = index + 1;
        previous = Some(Arc::clone(&chain[index].0));
    } else if root_trust.tofu {
        let first = &chain[0].0;
        let ids = self_signed(first, gun, now)
            .map_err(|e| refuse(format!("root version {}: {e}", first.signed.version)))?;
        signers.extend(ids);
        self_checked = Some(first.signed.version);
        start = 1;
        previous = Some(Arc::clone(first));
    } else {
        return Err(refuse(format!(
            "no root key is pinned for {gun} and trust on first use is off"
        )));
    }

    for (root, _) in &chain[start..] {
        let before = previous.as_ref().map(|p| &p.signed);
        let ids = rotated(before, root, gun, now)?;
        signers.extend(ids);
        previous = Some(Arc::clone(root));
    }
    let Some((newest, newest_bytes)) = chain.pop() else {
        return Err(refuse("the trust server sent no root"));
    };
    // The remembered root may be the newest; the chain then holds it too.
    let newest = if previous.take().map(|p| p.signed.version) == Some(newest.signed.version) {
        newest
    } else {
        return Err(refuse("the root chain does not reach the newest root"));
    };
    if pinned && !pin_in(&signers, root_trust) && seen.root.is_some() {
        // Remembered from before this rule pinned keys: the pin must have signed some root of
        // this chain.
        return Err(refuse(format!(
            "the trusted root of {gun} was never signed by a pinned root key"
        )));
    }
    // The newest root's certificates must be valid now (notary ignores expired leaves).
    if self_checked != Some(newest.signed.version) {
        self_signed(&newest, gun, now)
            .map_err(|e| refuse(format!("root version {}: {e}", newest.signed.version)))?;
    }
    fresh(
        "root",
        newest.signed.version,
        &newest.signed.expires,
        seen,
        now,
    )?;
    signers.sort();
    signers.dedup();
    signers.truncate(MAX_REMEMBERED_SIGNERS);
    next.root_signers = signers;
    next.root = Some(newest_bytes.clone());
    next.versions.insert("root".into(), newest.signed.version);
    Ok((Content(newest), newest_bytes))
}

/// The remembered root `bytes`, parsed: from the chain or `parsed` when one of them is their
/// parse (the remembered root is most often the newest), else parsed now.
fn parse_or_take_root(
    bytes: &[u8],
    chain: &[(Arc<Signed<Root>>, Bytes)],
    parsed: &Parsed,
) -> Result<Arc<Signed<Root>>, Refusal> {
    let known = chain.iter().map(|(root, _)| root).chain(&parsed.roots);
    match parse_of(&Held::new(bytes), known) {
        Some(root) => Ok(root),
        None => parse_role("the remembered root", bytes).map(Arc::new),
    }
}

/// The IDs of the root keys of `root` that may sign for `gun` (certificates for the GUN, their
/// validity checked at `now` or not), in the order the root role lists them: what
/// [`valid_signers`] counts, with `root.keys` to look them up in (nothing is copied).
fn usable_root_keys(root: &Root, gun: &str, now: DateTime<Utc>, expiry: ExpiryCheck) -> Vec<KeyId> {
    let listed = root.role("root").map_or(&[][..], |r| r.keyids.as_slice());
    listed
        .iter()
        .filter(|id| {
            root.keys
                .get(id)
                .is_some_and(|key| cert::usable_root_key(key, gun, now, expiry).is_ok())
        })
        .cloned()
        .collect()
}

/// `root` is signed to its own threshold by its own usable keys; answers the canonical IDs of
/// the keys that signed.
fn self_signed(root: &Signed<Root>, gun: &str, now: DateTime<Utc>) -> Result<Vec<String>, Refusal> {
    let usable = usable_root_keys(&root.signed, gun, now, ExpiryCheck::Enforce);
    if usable.is_empty() {
        return Err(refuse(format!(
            "no valid root certificate for {gun} (expired, or issued for another name)"
        )));
    }
    let threshold = root.signed.role("root").map_or(1, |r| r.threshold);
    let ids = valid_signers(root, "root", &root.signed.keys, &usable, threshold)
        .map_err(|e| refuse(e.to_string()))?;
    Ok(canonical_ids(&root.signed.keys, &ids))
}

/// A rotation: `root` signed to the threshold of `before` (its certificates' expiry not
/// checked, as notary does) and to its own.
fn rotated(
    before: Option<&Root>,
    root: &Signed<Root>,
    gun: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, Refusal> {
    let version = root.signed.version;
    if let Some(before) = before {
        let usable = usable_root_keys(before, gun, now, ExpiryCheck::Ignore);
        let threshold = before.role("root").map_or(1, |r| r.threshold);
        valid_signers(root, "root", &before.keys, &usable, threshold).map_err(|e| {
            refuse(format!(
                "root version {version} is not signed by the keys of version {}: {e}",
                before.version
            ))
        })?;
    }
    let usable = usable_root_keys(&root.signed, gun, now, ExpiryCheck::Ignore);
    let threshold = root.signed.role("root").map_or(1, |r| r.threshold);
    let ids = valid_signers(root, "root", &root.signed.keys, &usable, threshold)
        .map_err(|e| refuse(format!("root version {version}: {e}")))?;
    Ok(canonical_ids(&root.signed.keys, &ids))
}

/// The canonical IDs (and the listed IDs) of the keys `ids` names.
fn canonical_ids(keys: &BTreeMap<KeyId, PublicKey>, ids: &[KeyId]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        out.push(id.to_string());
        if let Some(canonical) = keys.get(id).and_then(|k| k.canonical_id().ok()) {
            out.push(canonical.to_string());
        }
    }
    out
}

/// When a pinned key signed `root` (and `root` meets its own threshold): the signers' IDs.
fn signed_by_pin(
    root: &Signed<Root>,
    gun: &str,
    root_trust: &RootTrust,
    now: DateTime<Utc>,
) -> Option<Vec<String>> {
    let usable = usable_root_keys(&root.signed, gun, now, ExpiryCheck::Ignore);
    let threshold = root.signed.role("root").map_or(1, |r| r.threshold);
    let keys = &root.signed.keys;
    let ids = valid_signers(root, "root", keys, &usable, threshold).ok()?;
    let pinned_signed = ids.iter().any(|id| {
        keys.get(id)
            .is_some_and(|key| key_is_pinned(id, key, root_trust))
    });
    pinned_signed.then(|| canonical_ids(keys, &ids))
}

/// Whether `key` (listed as `id`) is one `root_trust` pins: by its listed ID, its canonical ID
/// or its key material.
pub(crate) fn key_is_pinned(id: &KeyId, key: &PublicKey, root_trust: &RootTrust) -> bool {
    if root_trust.key_ids.contains(id) {
        return true;
    }
    if key
        .canonical_id()
        .is_ok_and(|c| root_trust.key_ids.contains(&c))
    {
        return true;
    }
    let Ok(material) = key.verifying_material() else {
        return false;
    };
    root_trust
        .keys
        .iter()
        .any(|pin| pin.verifying_material().is_ok_and(|m| m == material))
}

/// Whether any remembered root signer is pinned.
fn pin_in(signers: &[String], root_trust: &RootTrust) -> bool {
    let pinned_ids = root_trust.key_ids.iter().map(|k| k.to_string()).chain(
        root_trust
            .keys
            .iter()
            .filter_map(|k| k.canonical_id().ok())
            .map(|k| k.to_string()),
    );
    pinned_ids.into_iter().any(|id| signers.contains(&id))
}

/// The root role's key IDs, listed and canonical, for a message.
fn root_key_names(root: &Root) -> String {
    let listed = root.role("root").map_or(&[][..], |r| r.keyids.as_slice());
    listed
        .iter()
        .map(
            |id| match root.keys.get(id).and_then(|k| k.canonical_id().ok()) {
                Some(c) if &c != id => format!("{id} (canonical {c})"),
                _ => id.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// One delegation, verified through its parent (already trusted): listed by the snapshot,
/// signed to the threshold the parent sets with the parent's keys, unexpired, no rollback; its
/// paths are those of its own that lie within its parent's.
fn verify_delegation(
    name: &RoleName,
    bytes: &[u8],
    offered: Option<&Arc<Signed<Targets>>>,
    trusted: &BTreeMap<RoleName, TrustedRole>,
    snapshot: &Snapshot,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Result<TrustedRole, Refusal> {
    let parent_name = name
        .parent()
        .ok_or_else(|| refuse(format!("{name} is not a delegation")))?;
    let parent = trusted
        .get(&parent_name)
        .ok_or_else(|| refuse(format!("{name}: its parent {parent_name} is not trusted")))?;
    let entry = parent
        .targets
        .delegation(name)
        .ok_or_else(|| refuse(format!("{parent_name} does not delegate to {name}")))?;
    let file = Held::with_parse(bytes, offered);
    listed_by(&snapshot.meta, "snapshot", name.as_str(), &file)?;
    let role = parse_or_take(name.as_str(), &file, offered)?;
    role.signed
        .check_structure(name)
        .map_err(|e| refuse(format!("{name}: {e}")))?;
    let signed_by = valid_signers(
        &role,
        name.as_str(),
        &parent.targets.delegations.keys,
        &entry.keyids,
        entry.threshold,
    )
    .map_err(|e| refuse(format!("{name}: {e}")))?;
    fresh(
        name.as_str(),
        role.signed.version,
        &role.signed.expires,
        seen,
        now,
    )?;
    let own: Vec<String> = entry.paths.clone().unwrap_or_default();
    let paths: Vec<String> = match &parent.paths {
        None => own,
        Some(allowed) => own
            .into_iter()
            .filter(|p| allowed.iter().any(|a| p.starts_with(a.as_str())))
            .collect(),
    };
    Ok(TrustedRole {
        targets: Content(role),
        signed_by: signed_by.iter().map(|k| k.to_string()).collect(),
        paths: Some(paths),
    })
}

impl TrustedRole {
    /// Whether this role may sign for the target `name` (its delegated paths allow it).
    pub fn may_sign(&self, name: &str) -> bool {
        match &self.paths {
            None => true,
            Some(paths) => paths.iter().any(|p| name.starts_with(p.as_str())),
        }
    }
}

mod b64_opt {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_some(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                STANDARD
                    .decode(s)
                    .map(Bytes::from)
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}
