//! Parsed roles kept between requests, addressed by the SHA-256 of their bytes.
//!
//! Every update validates against the current state, which names each role by hash. Reading
//! and parsing every role again on every update made publish cost grow with the size of the
//! repository (a 10,000-target `targets.json` is parsed in tens of milliseconds). Keyed by
//! content, an entry can never be stale: a role whose hash changed is simply not found, so no
//! invalidation is needed for correctness, not even across replicas. Only the newest version of
//! each role of each GUN is kept, within a byte budget.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::gun::Gun;
use crate::tuf::metadata::{Root, Snapshot, Targets, Timestamp};
use crate::validation::Loaded;

/// At most this many bytes of metadata are kept parsed (parsed forms take a few times more).
const MAX_BYTES: usize = 64 << 20;
/// At most this many repositories.
const MAX_GUNS: usize = 4096;

/// One parsed role of any type.
#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    Root(Loaded<Root>),
    Targets(Loaded<Targets>),
    Snapshot(Loaded<Snapshot>),
    Timestamp(Loaded<Timestamp>),
}

/// Converts between a typed [`Loaded`] and [`Parsed`].
pub(crate) trait Keep: Sized {
    fn wrap(loaded: Loaded<Self>) -> Parsed;
    fn unwrap(parsed: &Parsed) -> Option<Loaded<Self>>;
}

macro_rules! keep {
    ($ty:ident) => {
        impl Keep for $ty {
            fn wrap(loaded: Loaded<$ty>) -> Parsed {
                Parsed::$ty(loaded)
            }
            fn unwrap(parsed: &Parsed) -> Option<Loaded<$ty>> {
                match parsed {
                    Parsed::$ty(l) => Some(l.clone()),
                    _ => None,
                }
            }
        }
    };
}
keep!(Root);
keep!(Targets);
keep!(Snapshot);
keep!(Timestamp);

fn size(parsed: &Parsed) -> usize {
    match parsed {
        Parsed::Root(l) => l.bytes.len(),
        Parsed::Targets(l) => l.bytes.len(),
        Parsed::Snapshot(l) => l.bytes.len(),
        Parsed::Timestamp(l) => l.bytes.len(),
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// GUN → role name → (hex SHA-256, parsed role).
    guns: HashMap<Gun, HashMap<String, (String, Parsed)>>,
    bytes: usize,
}

impl Inner {
    /// Forgets an arbitrary eighth of the repositories (see `crate::evict`) and, if the bytes
    /// are still over budget, everything.
    fn evict_an_eighth(&mut self) {
        let count = self.guns.len().div_ceil(8);
        for roles in crate::evict::remove_arbitrary(&mut self.guns, count) {
            self.bytes -= roles.values().map(|(_, p)| size(p)).sum::<usize>();
        }
        if self.bytes > MAX_BYTES - MAX_BYTES / 4 {
            self.guns.clear();
            self.bytes = 0;
        }
    }
}

/// The kept roles; one per process.
#[derive(Debug, Default)]
pub(crate) struct ParsedRoles {
    inner: Mutex<Inner>,
}

impl ParsedRoles {
    /// The role of `gun` whose bytes hash to `sha256`, if kept.
    pub(crate) fn get<T: Keep>(&self, gun: &Gun, role: &str, sha256: &str) -> Option<Loaded<T>> {
        let inner = self.inner.lock().ok()?;
        let (sha, parsed) = inner.guns.get(gun)?.get(role)?;
        (sha == sha256).then(|| T::unwrap(parsed)).flatten()
    }

    /// Keeps `loaded` as the newest known version of `role`, replacing the one kept before.
    pub(crate) fn put<T: Keep>(&self, gun: &Gun, role: &str, sha256: String, loaded: Loaded<T>) {
        let parsed = T::wrap(loaded);
        let added = size(&parsed);
        if added > MAX_BYTES / 4 {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.bytes + added > MAX_BYTES
            || (inner.guns.len() >= MAX_GUNS && !inner.guns.contains_key(gun))
        {
            inner.evict_an_eighth();
        }
        let replaced = inner
            .guns
            .entry(gun.clone())
            .or_default()
            .insert(role.to_owned(), (sha256, parsed));
        inner.bytes += added;
        if let Some((_, old)) = replaced {
            inner.bytes -= size(&old);
        }
    }

    /// Drops everything kept for `gun` (after a delete; only to free memory).
    pub(crate) fn forget(&self, gun: &Gun) {
        if let Ok(mut inner) = self.inner.lock() {
            if let Some(roles) = inner.guns.remove(gun) {
                let freed: usize = roles.values().map(|(_, p)| size(p)).sum();
                inner.bytes -= freed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sha256_hex;
    use crate::tuf::fixtures;

    #[test]
    fn found_only_by_the_exact_content() {
        let kept = ParsedRoles::default();
        let gun = Gun::parse("example.com/app").expect("gun");
        let v2 = bytes::Bytes::from(fixtures::read("plain", 2, "targets"));
        let v3 = bytes::Bytes::from(fixtures::read("plain", 3, "targets"));
        let loaded: Loaded<Targets> = Loaded::parse(v2.clone()).expect("parses");
        kept.put(&gun, "targets", sha256_hex(&v2), loaded);
        assert!(kept
            .get::<Targets>(&gun, "targets", &sha256_hex(&v2))
            .is_some());
        assert!(kept
            .get::<Targets>(&gun, "targets", &sha256_hex(&v3))
            .is_none());
        assert!(kept
            .get::<Root>(&gun, "targets", &sha256_hex(&v2))
            .is_none());
        let other = Gun::parse("example.com/other").expect("gun");
        assert!(kept
            .get::<Targets>(&other, "targets", &sha256_hex(&v2))
            .is_none());
        kept.put(
            &gun,
            "targets",
            sha256_hex(&v3),
            Loaded::<Targets>::parse(v3.clone()).expect("parses"),
        );
        assert!(
            kept.get::<Targets>(&gun, "targets", &sha256_hex(&v2))
                .is_none(),
            "replaced"
        );
        assert_eq!(kept.inner.lock().expect("lock").bytes, v3.len());
        kept.forget(&gun);
        assert_eq!(kept.inner.lock().expect("lock").bytes, 0);
    }
}
