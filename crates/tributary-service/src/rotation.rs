//! A queue that goes round its callers: items are queued per key (a caller), and the next
//! item taken is the first of the next key in the rotation, whose key then goes to the back
//! if more of its items wait. Within a key, items come out in arrival order. Used for the
//! turns of heavy reads (`admission`) and for the read threads' jobs (`pool`), so one caller
//! with many requests queued delays another caller's by about one of its own, not by all.
//!
//! Plain data: the owner keeps it behind its own lock.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

pub(crate) struct Rotation<K, T> {
    /// Keys with items waiting, in the order of their next turn.
    order: VecDeque<K>,
    /// Each key's items in arrival order (never an empty queue).
    items: HashMap<K, VecDeque<T>>,
    len: usize,
}

impl<K, T> Default for Rotation<K, T> {
    fn default() -> Self {
        Self { order: VecDeque::new(), items: HashMap::new(), len: 0 }
    }
}

impl<K: Clone + Eq + Hash, T> Rotation<K, T> {
    /// Items waiting, over every key.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Items of `key` waiting.
    pub(crate) fn len_of(&self, key: &K) -> usize {
        self.items.get(key).map_or(0, VecDeque::len)
    }

    /// Queues `item` behind `key`'s others; a key with nothing waiting joins the rotation at
    /// its back.
    pub(crate) fn push(&mut self, key: K, item: T) {
        let theirs = self.items.entry(key.clone()).or_default();
        if theirs.is_empty() {
            self.order.push_back(key);
        }
        theirs.push_back(item);
        self.len += 1;
    }

    /// The first item of the next key in the rotation; that key goes to the back if more of
    /// its items wait.
    pub(crate) fn pop(&mut self) -> Option<T> {
        while let Some(key) = self.order.pop_front() {
            // Every key in the order has items (`push`, `remove`); one that had none would be
            // skipped.
            let Some(theirs) = self.items.get_mut(&key) else { continue };
            let Some(item) = theirs.pop_front() else {
                self.items.remove(&key);
                continue;
            };
            if theirs.is_empty() {
                self.items.remove(&key);
            } else {
                self.order.push_back(key);
            }
            self.len -= 1;
            return Some(item);
        }
        None
    }

    /// Takes out `key`'s first item that `matches`, wherever it waits; `None` when there is
    /// none.
    pub(crate) fn remove(&mut self, key: &K, matches: impl Fn(&T) -> bool) -> Option<T> {
        let theirs = self.items.get_mut(key)?;
        let at = theirs.iter().position(matches)?;
        let item = theirs.remove(at);
        if theirs.is_empty() {
            self.items.remove(key);
            self.order.retain(|queued| queued != key);
        }
        self.len -= 1;
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a model: items come out going round the keys in the order each key first
    /// queued (again), in arrival order within a key, and a removed item never comes out.
    #[test]
    fn items_come_out_round_the_keys_in_arrival_order_within_each() {
        let mut rotation = Rotation::default();
        for (key, item) in [(1, "1a"), (1, "1b"), (1, "1c"), (2, "2a"), (3, "3a"), (2, "2b"), (1, "1d")] {
            rotation.push(key, item);
        }
        assert_eq!((rotation.len(), rotation.len_of(&1), rotation.len_of(&4)), (7, 4, 0));
        assert_eq!(rotation.remove(&1, |item| *item == "1b"), Some("1b"));
        assert_eq!(rotation.remove(&1, |item| *item == "2a"), None, "only the key's own");
        assert_eq!(rotation.remove(&3, |item| *item == "3a"), Some("3a"), "3 leaves the rotation");
        let mut out = Vec::new();
        out.push(rotation.pop().expect("1a"));
        rotation.push(3, "3b");
        while let Some(item) = rotation.pop() {
            out.push(item);
        }
        // 1a; 2a (1 went to the back); 1c; 3b (it joined behind 1); 2b; 1d.
        assert_eq!(out, ["1a", "2a", "1c", "3b", "2b", "1d"]);
        assert_eq!((rotation.len(), rotation.len_of(&1)), (0, 0));
        assert!(rotation.order.is_empty() && rotation.items.is_empty());
    }
}
