//! Making room in a full in-memory map without tracking recency.
//!
//! The caches here hold per-repository state keyed by GUN. When one is full it drops an
//! arbitrary part of its entries rather than all of them: clearing everything made every
//! repository miss at once, and keeping a recency order would cost a lock-protected list update
//! on every hit. A `HashMap` iterates in an order fixed by its random hash seed, so the first
//! entries of an iteration are an arbitrary sample.

use std::collections::HashMap;
use std::hash::Hash;

/// Removes `count` arbitrary entries (fewer if the map is smaller) and returns their values.
pub(crate) fn remove_arbitrary<K, V>(map: &mut HashMap<K, V>, count: usize) -> Vec<V>
where
    K: Hash + Eq + Clone,
{
    let keys: Vec<K> = map.keys().take(count).cloned().collect();
    keys.iter().filter_map(|k| map.remove(k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_exactly_the_count_asked() {
        let mut map: HashMap<u32, u32> = (0..64).map(|i| (i, i * 10)).collect();
        let removed = remove_arbitrary(&mut map, 8);
        assert_eq!(removed.len(), 8);
        assert_eq!(map.len(), 56);
        assert!(removed.iter().all(|v| !map.contains_key(&(v / 10))));
        assert_eq!(remove_arbitrary(&mut map, 100).len(), 56);
        assert!(map.is_empty());
    }
}
