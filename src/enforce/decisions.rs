//! The decision cache of the local source: a verdict is reused while the repository's current
//! timestamp is the one it was made from (any change to a repository makes a new timestamp, so
//! this is exact) and the metadata it rests on has not expired.

use chrono::{DateTime, Utc};

use crate::policy::{ImageRef, Rule, Verdict};

/// Decisions kept at once.
const DECISIONS: usize = 16_384;

/// What a decision depends on besides the repository: the policy generation, the image and
/// the rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    generation: u64,
    image: String,
    pattern: String,
}

impl Key {
    pub(super) fn new(generation: u64, image: &ImageRef, rule: &Rule) -> Key {
        Key {
            generation,
            image: image.to_string(),
            pattern: rule.pattern.clone(),
        }
    }
}

/// How long a denial is reused: a verdict without an expiry may rest on time (a certificate
/// not yet valid), so it is made again now and then even when nothing changed.
const DENIAL_REUSE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Verified repository states kept at once (each holds its roles' targets).
pub(super) const VERIFIED_STATES: usize = 1024;

/// What a verified repository state depends on: the policy generation, the repository, the
/// rule (its anchor and needed roles) and the timestamp the state hangs off. The state itself
/// expires with its metadata, which `verify` checked at `now`; a state is reused only while the
/// timestamp is current, and the decision made from it carries the earliest expiry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct StateKey {
    generation: u64,
    gun: String,
    pattern: String,
    fingerprint: String,
}

impl StateKey {
    pub(super) fn new(
        generation: u64,
        gun: &crate::gun::Gun,
        rule: &Rule,
        fingerprint: &str,
    ) -> StateKey {
        StateKey {
            generation,
            gun: gun.as_str().to_owned(),
            pattern: rule.pattern.clone(),
            fingerprint: fingerprint.to_owned(),
        }
    }
}

#[derive(Clone)]
struct Entry {
    fingerprint: String,
    verdict: Verdict,
    until: DateTime<Utc>,
}

pub(super) struct Decisions {
    cache: quick_cache::sync::Cache<Key, Entry>,
}

impl Decisions {
    pub(super) fn new() -> Decisions {
        Decisions {
            cache: quick_cache::sync::Cache::new(DECISIONS),
        }
    }

    /// The kept verdict, when it was made from the timestamp `fingerprint` names and has not
    /// expired at `now`.
    pub(super) fn get(&self, key: &Key, fingerprint: &str, now: DateTime<Utc>) -> Option<Verdict> {
        let entry = self.cache.get(key)?;
        (entry.fingerprint == fingerprint && now < entry.until).then_some(entry.verdict)
    }

    /// Keeps `verdict`, made at `now` from the timestamp `fingerprint` names.
    pub(super) fn put(&self, key: Key, fingerprint: String, verdict: Verdict, now: DateTime<Utc>) {
        let until = match (verdict.allowed, verdict.expires) {
            (true, Some(expires)) => expires,
            _ => now + DENIAL_REUSE,
        };
        self.cache.insert(
            key,
            Entry {
                fingerprint,
                verdict,
                until,
            },
        );
    }

    pub(super) fn clear(&self) {
        self.cache.clear();
    }
}

/// How long a remote decision is reused at most, however quiet the changefeed: a bound for a
/// feed that stops reporting without failing.
const REMOTE_REUSE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

#[derive(Clone)]
struct RemoteEntry {
    token: super::feed::Token,
    verdict: Verdict,
    until: DateTime<Utc>,
}

/// Decisions on remote repositories, kept while the server's changefeed reports no change to
/// the repository (see `feed`), the metadata has not expired, and at most [`REMOTE_REUSE`].
pub(super) struct RemoteDecisions {
    cache: quick_cache::sync::Cache<(String, Key), RemoteEntry>,
}

impl RemoteDecisions {
    pub(super) fn new() -> RemoteDecisions {
        RemoteDecisions {
            cache: quick_cache::sync::Cache::new(DECISIONS),
        }
    }

    pub(super) fn get(
        &self,
        server: &str,
        key: &Key,
        token: super::feed::Token,
        now: DateTime<Utc>,
    ) -> Option<Verdict> {
        let entry = self.cache.get(&(server.to_owned(), key.clone()))?;
        (entry.token == token && now < entry.until).then_some(entry.verdict)
    }

    pub(super) fn put(
        &self,
        server: &str,
        key: Key,
        token: super::feed::Token,
        verdict: Verdict,
        now: DateTime<Utc>,
    ) {
        let bound = now + REMOTE_REUSE;
        let until = match (verdict.allowed, verdict.expires) {
            (true, Some(expires)) => expires.min(bound),
            _ => now + DENIAL_REUSE,
        };
        self.cache.insert(
            (server.to_owned(), key),
            RemoteEntry {
                token,
                verdict,
                until,
            },
        );
    }

    pub(super) fn clear(&self) {
        self.cache.clear();
    }
}
