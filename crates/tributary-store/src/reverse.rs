//! Newest-first scans without sled's reverse iterator.
//!
//! sled 0.34's `Iter::next_back` can spin and then panic ("fucked up tree traversal
//! next_back(...)"): to step left from a node it seeks the node holding a *possible* predecessor
//! of the node's low key (its last byte decremented, four `0xFF` appended), and when a node
//! boundary lies between that key and the low key, the seek lands on a node that ends too early,
//! the next round seeks the bound again, and the two alternate until the loop limit (a million
//! rounds, then a panic). The store's reference proptest found such a tree with audit keys. In the
//! writer (the best observation of a job) the panic would stop ingest; in a reader it would cost a
//! second of CPU and a failed request.
//!
//! Forward iteration has no such step (it follows each node's high key), so [`Descending`] reads
//! `[low, high)` greatest key first as a series of forward scans over windows below the current
//! high bound. A window is `2^bits` units of a key read as a big-endian number of `width` bytes;
//! it grows 256-fold while windows come back empty and 2-fold after one that was not, so crossing
//! an empty stretch costs at most `width` seeks, and a caller that stops early has read at most
//! the window it stopped in beyond what it consumed.

use sled::IVec;

use crate::{Result, StoreError};

/// The entries of `[low, high)`, greatest key first. `width` is the length of the keys the caller
/// expects (the window arithmetic's precision); keys of any length are returned in order.
pub(crate) struct Descending {
    tree: sled::Db,
    low: Vec<u8>,
    /// Exclusive; `None` once the range is exhausted.
    high: Option<Vec<u8>>,
    width: usize,
    bits: usize,
    /// The current window in ascending order: popped from the back.
    window: Vec<(IVec, IVec)>,
}

impl Descending {
    pub(crate) fn new(tree: &sled::Db, low: &[u8], high: &[u8], width: usize) -> Self {
        let width = width.max(low.len()).max(high.len());
        let high = (low < high).then(|| high.to_vec());
        Self { tree: tree.clone(), low: low.to_vec(), high, width, bits: 8, window: Vec::new() }
    }

    /// Every entry whose key starts with `prefix`, greatest first.
    pub(crate) fn prefix(tree: &sled::Db, prefix: &[u8], width: usize) -> Self {
        match prefix_end(prefix) {
            Some(end) => Self::new(tree, prefix, &end, width),
            // Only an empty or all-0xFF prefix has no end: bound it by a key above every key the
            // store writes (keys are shorter than this).
            None => {
                let mut end = prefix.to_vec();
                end.extend(std::iter::repeat_n(0xFF, width.max(64)));
                Self::new(tree, prefix, &end, width)
            }
        }
    }

    fn refill(&mut self) -> Result<bool> {
        while self.window.is_empty() {
            let Some(high) = self.high.take() else { return Ok(false) };
            let start = match below(&high, self.width, self.bits) {
                Some(start) if start > self.low => start,
                _ => self.low.clone(),
            };
            for entry in self.tree.range(start.as_slice()..high.as_slice()) {
                self.window.push(entry.map_err(StoreError::from)?);
            }
            self.bits = (self.bits + if self.window.is_empty() { 8 } else { 1 }).min(self.width * 8);
            if start > self.low {
                self.high = Some(start);
            }
        }
        Ok(true)
    }
}

impl Iterator for Descending {
    type Item = Result<(IVec, IVec)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.refill() {
            Ok(true) => self.window.pop().map(Ok),
            Ok(false) => None,
            Err(error) => {
                self.high = None;
                self.window.clear();
                Some(Err(error))
            }
        }
    }
}

/// The least key greater than every key starting with `prefix`, if there is one.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `high`, padded with zeros to `width` bytes and read as a big-endian number, minus `2^bits`;
/// `None` when that is below zero.
fn below(high: &[u8], width: usize, bits: usize) -> Option<Vec<u8>> {
    let mut key = high.to_vec();
    key.resize(width.max(high.len()), 0);
    let len = key.len();
    let byte = bits / 8;
    if byte >= len {
        return None;
    }
    let mut index = len - 1 - byte;
    let mut borrow = 1u16 << (bits % 8);
    loop {
        let value = u16::from(key[index]);
        if value >= borrow {
            key[index] = (value - borrow) as u8;
            return Some(key);
        }
        key[index] = (value + 256 - borrow) as u8;
        borrow = 1;
        if index == 0 {
            return None;
        }
        index -= 1;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn below_subtracts_with_borrow_and_pads() {
        assert_eq!(below(&[1, 0], 2, 0), Some(vec![0, 255]));
        assert_eq!(below(&[1, 0], 2, 8), Some(vec![0, 0]));
        assert_eq!(below(&[1], 3, 4), Some(vec![0, 255, 240]));
        assert_eq!(below(&[0, 0], 2, 0), None);
        assert_eq!(below(&[5], 1, 8), None);
    }

    #[test]
    fn prefix_end_skips_trailing_ff() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }

    /// The tree shape that made sled's `next_back` spin: a node boundary between `[85, 128]`'s
    /// possible predecessor `[85, 127, 255, 255, 255, 255]` and `[85, 128]` itself. Many keys
    /// just below and above force splits there; the descending scan must list them all in order.
    #[test]
    fn keys_around_a_possible_predecessor_come_back_in_order() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let mut keys = Vec::new();
        for i in 0u16..3000 {
            let mut below = vec![85, 127, 255, 255, 255, 255];
            below.extend_from_slice(&i.to_be_bytes());
            let mut above = vec![85, 128];
            above.extend_from_slice(&i.to_be_bytes());
            keys.push(below);
            keys.push(above);
        }
        for key in &keys {
            db.insert(key, key.as_slice()).unwrap();
        }
        keys.sort();
        // sled's own reverse iterator still fails on this tree: when it stops failing (a sled
        // upgrade), this module can go.
        let sled_reverse = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.range(vec![85u8]..vec![85u8, 128]).rev().count()
        }));
        assert!(sled_reverse.is_err(), "sled's next_back no longer fails here");
        for high in [vec![85, 128], vec![85, 128, 5, 0], vec![86]] {
            let expected: Vec<Vec<u8>> =
                keys.iter().filter(|key| key.as_slice() < high.as_slice()).rev().cloned().collect();
            let found: Vec<Vec<u8>> =
                Descending::new(&db, &[85], &high, 8).map(|entry| entry.unwrap().0.to_vec()).collect();
            assert_eq!(found, expected, "high {high:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any keys, any bounds, any width: the same entries as a sorted list read backwards.
        #[test]
        fn descending_is_the_sorted_range_reversed(
            keys in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..6), 0..200),
            low in proptest::collection::vec(any::<u8>(), 0..4),
            high in proptest::collection::vec(any::<u8>(), 0..4),
            width in 0usize..8,
            take in 0usize..250,
        ) {
            let db = sled::Config::new().temporary(true).open().unwrap();
            for key in &keys {
                db.insert(key, key.as_slice()).unwrap();
            }
            let expected: Vec<Vec<u8>> = keys
                .iter()
                .filter(|key| key.as_slice() >= low.as_slice() && key.as_slice() < high.as_slice())
                .rev()
                .take(take)
                .cloned()
                .collect();
            let found: Vec<Vec<u8>> =
                Descending::new(&db, &low, &high, width).take(take).map(|entry| entry.unwrap().0.to_vec()).collect();
            prop_assert_eq!(found, expected);
            if let Some(first) = low.first() {
                let prefix = vec![*first];
                let expected: Vec<Vec<u8>> = keys.iter().filter(|key| key.starts_with(&prefix)).rev().cloned().collect();
                let found: Vec<Vec<u8>> =
                    Descending::prefix(&db, &prefix, width).map(|entry| entry.unwrap().0.to_vec()).collect();
                prop_assert_eq!(found, expected);
            }
        }
    }
}
