//! Sorting and ordered collections built with one copy of the standard sort in the browser's
//! modules.
//!
//! The standard library's sorts are generic over the element and the comparison, so every call
//! site with its own element type or closure compiles a whole copy of the sort: its merges, its
//! small-sort networks, its pivot choice. Collecting into a `BTreeMap` or a `BTreeSet` does the
//! same, since `FromIterator` sorts the items before it builds the tree. In the engine worker
//! those copies added up to a sizeable part of the module a person downloads (bench/NOTES.md,
//! "Sorting once").
//!
//! Here the standard stable sort runs in one place, over `u32` positions compared through a
//! `dyn` closure, and a call site adds only the short loop that moves its elements into that
//! order. The result is `slice::sort_by`'s: stable, in O(n log n) comparisons. [`set_from`] and
//! [`map_from`] build trees by inserting, which every tree type in use already has compiled.
//! Code that runs in the browser sorts and collects trees through here; the server and tests
//! may use the standard library directly.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Sorts `items` by `compare`, keeping equal items in the order they were in (as
/// `slice::sort_by`).
pub fn sort_by<T>(items: &mut [T], mut compare: impl FnMut(&T, &T) -> Ordering) {
    if items.len() < 2 {
        return;
    }
    let Ok(len) = u32::try_from(items.len()) else {
        // More items than positions fit in a `u32`: nothing in a browser is that long, and
        // the standard sort still gives the right answer.
        items.sort_by(compare);
        return;
    };
    let order = {
        let items: &[T] = items;
        sorted_positions(len, &mut |a, b| compare(&items[a], &items[b]))
    };
    arrange(items, order);
}

/// Sorts `items` by the key `key` gives each, keeping items with equal keys in the order they
/// were in (as `slice::sort_by_key`).
pub fn sort_by_key<T, K: Ord>(items: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// The set of `items` (as `collect::<BTreeSet<_>>()`).
pub fn set_from<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut set = BTreeSet::new();
    set.extend(items);
    set
}

/// The map of `entries`; of two entries with one key, the later one's value stays (as
/// `collect::<BTreeMap<_, _>>()`).
pub fn map_from<K: Ord, V>(entries: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    map.extend(entries);
    map
}

/// The positions `0..len` in the order `compare` puts the items at them: the one place the
/// standard sort is instantiated. Never inlined, so it stays one copy.
#[inline(never)]
fn sorted_positions(len: u32, compare: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len).collect();
    order.sort_by(|a, b| compare(*a as usize, *b as usize));
    order
}

/// Moves `items` so that position `i` holds what was at `order[i]`, following each cycle of the
/// permutation with swaps. A position done is marked by pointing `order` at itself.
fn arrange<T>(items: &mut [T], mut order: Vec<u32>) {
    for start in 0..items.len() {
        let mut current = start;
        loop {
            let next = order[current] as usize;
            order[current] = current as u32;
            if next == start {
                break;
            }
            items.swap(current, next);
            current = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the cases are many and the same every run.
    fn numbers(seed: u64, count: usize, below: u64) -> Vec<u64> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 33) % below
            })
            .collect()
    }

    #[test]
    fn sorts_as_the_standard_stable_sort_does() {
        for (seed, count, below) in [(1, 0, 1), (2, 1, 5), (3, 2, 2), (4, 17, 4), (5, 1000, 30)] {
            // Each item carries where it started, so stability is seen, not assumed.
            let items: Vec<(u64, usize)> = numbers(seed, count, below)
                .into_iter()
                .enumerate()
                .map(|(place, value)| (value, place))
                .collect();
            let mut ours = items.clone();
            sort_by_key(&mut ours, |item| item.0);
            let mut standard = items.clone();
            standard.sort_by_key(|item| item.0);
            assert_eq!(ours, standard, "seed {seed}");

            let mut descending = items.clone();
            sort_by(&mut descending, |a, b| b.0.cmp(&a.0));
            let mut standard = items;
            standard.sort_by_key(|item| std::cmp::Reverse(item.0));
            assert_eq!(descending, standard, "seed {seed}");
        }
    }

    proptest::proptest! {
        /// Any list, any keys (few, so that ties are many): the standard stable sort's order.
        #[test]
        fn any_list_sorts_as_the_standard_stable_sort(keys in proptest::collection::vec(0u8..8, 0..300)) {
            let items: Vec<(u8, usize)> = keys.into_iter().zip(0..).collect();
            let mut ours = items.clone();
            sort_by_key(&mut ours, |item| item.0);
            let mut standard = items;
            standard.sort_by_key(|item| item.0);
            proptest::prop_assert_eq!(ours, standard);
        }
    }

    #[test]
    fn moves_owned_values_without_losing_or_copying_any() {
        let mut names: Vec<String> = ["tomo", "ani", "budi", "ani", "citra"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        sort_by(&mut names, |a, b| a.cmp(b));
        assert_eq!(names, ["ani", "ani", "budi", "citra", "tomo"]);
    }

    #[test]
    fn trees_hold_what_collecting_them_would() {
        let values = numbers(9, 200, 50);
        assert_eq!(
            set_from(values.iter().copied()),
            values.iter().copied().collect::<BTreeSet<_>>()
        );
        let entries: Vec<(u64, usize)> = values.iter().copied().zip(0..).collect();
        assert_eq!(
            map_from(entries.iter().copied()),
            entries.into_iter().collect::<BTreeMap<_, _>>()
        );
    }
}
