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
//! bound. Keys are read as big-endian numbers of `width` bytes for the window arithmetic.
//!
//! - Where the next key below the bound is not known to be near (at the start, and after a
//!   window that came back empty), the greatest key below the bound is found by a binary search
//!   whose every step reads at most one entry (`range(mid..bound).next()`): at most `8 * width`
//!   seeks, whatever lies between (a sparse stretch, then a dense one, is the shape that a
//!   growing window would swallow whole: the audit trail's and a timeline's keys sit far below
//!   their prefix's end).
//! - From just above that key, windows double while they hold at most `WINDOW_MOST` entries and
//!   halve when they would hold more (a try reads at most `WINDOW_MOST + 1`), never below the
//!   size that reaches the key found. A caller that stops early (a page, a scan budget) has
//!   read a bounded number of entries beyond what it consumed.

use sled::IVec;

use crate::{Result, StoreError};

/// The most entries a window holds (and reads) before a narrower one is tried instead.
const WINDOW_MOST: usize = if cfg!(test) { 8 } else { 1024 };

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
    /// Entries read from sled so far (the bound the tests check).
    read: usize,
}

impl Descending {
    pub(crate) fn new(tree: &sled::Db, low: &[u8], high: &[u8], width: usize) -> Self {
        let width = width.max(low.len()).max(high.len());
        let high = (low < high).then(|| high.to_vec());
        Self { tree: tree.clone(), low: low.to_vec(), high, width, bits: 8, window: Vec::new(), read: 0 }
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
            let Some(mut high) = self.high.take() else { return Ok(false) };
            // The window that continues the last one, which found keys just below.
            let start = self.start_below(&high, self.bits);
            match self.read_window(&start, &high, WINDOW_MOST + 1)? {
                0 if start <= self.low => return Ok(false),
                // Nothing there: search below it.
                0 => high = start,
                count if count <= WINDOW_MOST => {
                    self.bits = (self.bits + 1).min(self.width * 8);
                    self.high = (start > self.low).then_some(start);
                    return Ok(true);
                }
                _ => {}
            }
            // The greatest key below `high`, then a window below it (down from there) of at
            // most `WINDOW_MOST` entries: halving the bits between those that reach the key and
            // a window found too large.
            let Some((top, bound)) = self.greatest_below(&high)? else { return Ok(false) };
            let least = self.bits_reaching(&bound, &top);
            let mut bits = least.max(self.bits);
            loop {
                let start = self.start_below(&bound, bits);
                let count = self.read_window(&start, &bound, WINDOW_MOST + 1)?;
                if count > WINDOW_MOST && bits > least {
                    bits = (least + bits) / 2;
                    continue;
                }
                if count > WINDOW_MOST {
                    // Keys that share their first `width` bytes: the window is read whole.
                    self.read_window(&start, &bound, usize::MAX)?;
                }
                self.bits = bits;
                self.high = (start > self.low).then_some(start);
                break;
            }
        }
        Ok(true)
    }

    /// `high` minus `2^bits` (at `width`), or `low` when that is below it.
    fn start_below(&self, high: &[u8], bits: usize) -> Vec<u8> {
        match below(high, self.width, bits) {
            Some(start) if start > self.low => start,
            _ => self.low.clone(),
        }
    }

    /// Reads up to `most` entries of `[start, end)` into the window; their number.
    fn read_window(&mut self, start: &[u8], end: &[u8], most: usize) -> Result<usize> {
        self.window.clear();
        for entry in self.tree.range(start..end).take(most) {
            self.window.push(entry.map_err(StoreError::from)?);
        }
        self.read += self.window.len();
        Ok(self.window.len())
    }

    /// The greatest key in `[low, high)` and a bound just above it (`[bound, high)` is
    /// empty), found with reads of one entry each; `None` when the range is empty.
    fn greatest_below(&mut self, high: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(first) = self.tree.range(self.low.as_slice()..high).next() else { return Ok(None) };
        self.read += 1;
        let mut top = first.map_err(StoreError::from)?.0.to_vec();
        let mut bound = high.to_vec();
        while let Some(mid) = midpoint(&top, &bound, self.width) {
            match self.tree.range(mid.as_slice()..bound.as_slice()).next() {
                Some(entry) => {
                    self.read += 1;
                    top = entry.map_err(StoreError::from)?.0.to_vec();
                }
                None => bound = mid,
            }
        }
        Ok(Some((top, bound)))
    }

    /// The fewest bits of a window below `bound` that reaches down to `key`.
    fn bits_reaching(&self, bound: &[u8], key: &[u8]) -> usize {
        let (mut fewer, mut enough) = (0usize, 8 * self.width.max(bound.len()));
        if below(bound, self.width, 0).is_none_or(|start| start.as_slice() <= key) {
            return 0;
        }
        // `below` only moves down as `bits` grows: the least that reaches is found by halving.
        while fewer + 1 < enough {
            let middle = (fewer + enough) / 2;
            match below(bound, self.width, middle) {
                Some(start) if start.as_slice() > key => fewer = middle,
                _ => enough = middle,
            }
        }
        enough
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

/// A key strictly between `low` and `high` (both read as big-endian numbers of `width` bytes,
/// zero-padded; `low` cut to `width`), about halfway, when there is one above `low` itself.
fn midpoint(low: &[u8], high: &[u8], width: usize) -> Option<Vec<u8>> {
    let width = width.max(high.len());
    let mut a = low.to_vec();
    a.resize(width, 0);
    a.truncate(width);
    let mut b = high.to_vec();
    b.resize(width, 0);
    // (a + b) / 2, with the carry of the sum shifted in from the top.
    let mut sum = vec![0u8; width];
    let mut carry = 0u16;
    for index in (0..width).rev() {
        let total = u16::from(a[index]) + u16::from(b[index]) + carry;
        sum[index] = total as u8;
        carry = total >> 8;
    }
    let mut half = vec![0u8; width];
    let mut high_bit = carry as u8;
    for index in 0..width {
        half[index] = (sum[index] >> 1) | (high_bit << 7);
        high_bit = sum[index] & 1;
    }
    (half.as_slice() > low && half.as_slice() < high).then_some(half)
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

    /// Past a sparse stretch the first window that finds keys can span a dense part of the
    /// range: a caller that takes a page reads a bounded number of entries, not the whole part.
    #[test]
    fn a_page_after_a_sparse_stretch_reads_a_bounded_number_of_entries() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        for i in 0u32..20_000 {
            let mut key = vec![85, 0x80];
            key.extend_from_slice(&i.to_be_bytes());
            db.insert(&key, &[]).unwrap();
        }
        db.insert([85, 0xFE], &[]).unwrap();
        let mut scan = Descending::new(&db, &[85], &[86], 6);
        let page: Vec<Vec<u8>> = scan.by_ref().take(10).map(|entry| entry.unwrap().0.to_vec()).collect();
        assert_eq!(page[0], vec![85, 0xFE]);
        assert_eq!(page[1], [vec![85, 0x80], 19_999u32.to_be_bytes().to_vec()].concat());
        assert_eq!(page[9], [vec![85, 0x80], 19_991u32.to_be_bytes().to_vec()].concat());
        assert!(scan.read < 200, "read {} entries for a page of 10", scan.read);
    }

    /// Keys far below their prefix's end (sequence numbers, times): the newest few are found
    /// without reading the rest (a window grown across the empty top of the keyspace would
    /// have held them all).
    #[test]
    fn the_newest_of_many_keys_low_in_their_keyspace_cost_a_few_reads() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        for sequence in 1u64..=5_000 {
            let mut key = vec![b'E'];
            key.extend_from_slice(&sequence.to_be_bytes());
            db.insert(&key, &[]).unwrap();
        }
        let mut scan = Descending::prefix(&db, b"E", 9);
        let newest: Vec<u64> =
            scan.by_ref().take(3).map(|entry| u64::from_be_bytes(entry.unwrap().0[1..].try_into().unwrap())).collect();
        assert_eq!(newest, vec![5_000, 4_999, 4_998]);
        assert!(scan.read < 100, "read {} entries for the newest 3", scan.read);
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
