//! Parsed roles kept between requests, addressed by the SHA-256 of their bytes.
//!
//! Every update validates against the current state, which names each role by hash. Reading
//! and parsing every role again on every update made publish cost grow with the size of the
//! repository (a 10,000-target `targets.json` is parsed in tens of milliseconds). Keyed by
//! content, an entry can never be stale: a role whose hash changed is simply not found, so no
//! invalidation is needed for correctness, not even across replicas. Only the newest version of
//! each role of each GUN is kept, within a byte budget that a `quick_cache` cache enforces,
//! dropping the roles read least when full.

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};

use crate::gun::Gun;
use crate::tuf::metadata::{Root, Snapshot, Targets, Timestamp};
use crate::validation::Loaded;

/// At most this many bytes of metadata are kept parsed (parsed forms take a few times more).
const MAX_BYTES: u64 = 64 << 20;
/// The number of roles expected within [`MAX_BYTES`] (a few per repository), which sizes the
/// cache's tables.
const EXPECTED_ROLES: usize = 16_384;
/// The cache's shards. Each holds an equal part of the budget, and a role larger than most of
/// its shard's part is not kept, so this is fixed rather than grown with the processor count:
/// with four, a role of up to about 15 MiB is kept.
const SHARDS: usize = 4;

/// One parsed role of any type.
#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    Root(Loaded<Root>),
    Targets(Loaded<Targets>),
    Snapshot(Loaded<Snapshot>),
    Timestamp(Loaded<Timestamp>),
}

/// Converts between a typed [`Loaded`] and [`Parsed`].
pub(crate) trait Keep: crate::tuf::metadata::RoleType + Sized {
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

/// GUN and role name.
type Slot = (Gun, String);
/// Hex SHA-256 of the bytes, and the parsed role.
type Kept = (String, Parsed);

/// Looks up a [`Slot`] without allocating; hashes as the tuple does (a GUN hashes as its name).
#[derive(Hash)]
struct Lookup<'a>(&'a str, &'a str);

impl quick_cache::Equivalent<Slot> for Lookup<'_> {
    fn equivalent(&self, slot: &Slot) -> bool {
        self.0 == slot.0.as_str() && self.1 == slot.1
    }
}

/// A role weighs its size in bytes (at least 1: quick_cache never evicts weightless entries).
#[derive(Debug, Clone, Copy)]
struct Bytes;

impl Weighter<Slot, Kept> for Bytes {
    fn weight(&self, _: &Slot, kept: &Kept) -> u64 {
        (size(&kept.1) as u64).max(1)
    }
}

/// The kept roles; one per process.
#[derive(Debug)]
pub(crate) struct ParsedRoles {
    cache: Cache<Slot, Kept, Bytes>,
}

impl Default for ParsedRoles {
    fn default() -> ParsedRoles {
        ParsedRoles::with_budget(MAX_BYTES)
    }
}

impl ParsedRoles {
    /// At most `max_bytes` of metadata kept.
    fn with_budget(max_bytes: u64) -> ParsedRoles {
        let options = OptionsBuilder::new()
            .estimated_items_capacity(EXPECTED_ROLES)
            .weight_capacity(max_bytes)
            .shards(SHARDS)
            .build()
            .unwrap_or_else(|_| unreachable!("both capacities are set"));
        ParsedRoles {
            cache: Cache::with_options(
                options,
                Bytes,
                DefaultHashBuilder::default(),
                Default::default(),
            ),
        }
    }

    /// The role of `gun` whose bytes hash to `sha256`, if kept.
    pub(crate) fn get<T: Keep>(&self, gun: &Gun, role: &str, sha256: &str) -> Option<Loaded<T>> {
        let (sha, parsed) = self.cache.get(&Lookup(gun.as_str(), role))?;
        (sha == sha256).then(|| T::unwrap(&parsed)).flatten()
    }

    /// The role of `gun` kept, whatever its hash, with that hash (lowercase hex).
    pub(crate) fn newest<T: Keep>(&self, gun: &Gun, role: &str) -> Option<(String, Loaded<T>)> {
        let (sha, parsed) = self.cache.get(&Lookup(gun.as_str(), role))?;
        T::unwrap(&parsed).map(|loaded| (sha, loaded))
    }

    /// Keeps `loaded` as the newest known version of `role`, replacing the one kept before.
    /// Its digests are worked out first: most parses are kept by the update that wrote them,
    /// and the verification of a just-published image should not wait for them.
    pub(crate) fn put<T: Keep>(&self, gun: &Gun, role: &str, sha256: String, loaded: Loaded<T>) {
        loaded.warm_digests();
        self.cache
            .insert((gun.clone(), role.to_owned()), (sha256, T::wrap(loaded)));
    }

    /// Drops everything kept for `gun` (after a delete; only to free memory). It visits every
    /// entry, which deletes, being rare, can afford.
    pub(crate) fn forget(&self, gun: &Gun) {
        self.cache.retain(|(kept, _), _| kept != gun);
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
        assert_eq!(kept.cache.weight(), v3.len() as u64);
        kept.forget(&gun);
        assert_eq!(kept.cache.weight(), 0);
    }

    /// More roles than the budget holds: the kept bytes stay within it, and the role just put
    /// is found.
    #[test]
    fn the_kept_bytes_are_bounded() {
        let v2 = bytes::Bytes::from(fixtures::read("plain", 2, "targets"));
        let budget = 64 * v2.len() as u64;
        let kept = ParsedRoles::with_budget(budget);
        for i in 0..512 {
            let gun = Gun::parse(&format!("example.com/app{i}")).expect("gun");
            let loaded: Loaded<Targets> = Loaded::parse(v2.clone()).expect("parses");
            kept.put(&gun, "targets", sha256_hex(&v2), loaded);
            assert!(
                kept.cache.weight() <= budget,
                "{} kept",
                kept.cache.weight()
            );
            assert!(kept
                .get::<Targets>(&gun, "targets", &sha256_hex(&v2))
                .is_some());
        }
        assert!(kept.cache.len() < 512);
    }
}
