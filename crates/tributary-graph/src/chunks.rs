//! Append-only tables that a snapshot's image shares instead of copying: the node table, the
//! nodes' namespace numbers and the column fields grow by one entry at a time and never change
//! an entry in place, so their entries sit in chunks of [`CHUNK`] that are sealed (behind an
//! `Arc`) once full. An image ([`Chunks::image`]) takes a reference to every sealed chunk and
//! copies only the open one: at a million datasets a few dozen reference counts and at most
//! one chunk's entries, where a copy of the whole table touched every entry (and every node
//! name's reference count).
//!
//! Reading an entry costs one more load than a `Vec`'s, from the list of chunks (a few
//! hundred bytes, in cache): the entry itself is the miss that matters on a large walk.

use std::sync::Arc;

/// Entries per chunk (a power of two: the chunk of entry `i` is `i >> CHUNK_BITS`).
const CHUNK_BITS: u32 = if cfg!(test) { 3 } else { 16 };
const CHUNK: usize = 1 << CHUNK_BITS;
const MASK: usize = CHUNK - 1;

/// An append-only table (see the module's documentation).
pub(crate) struct Chunks<T> {
    /// Sealed chunks of exactly [`CHUNK`] entries, never changed again.
    sealed: Vec<Arc<[T]>>,
    /// The entries after the sealed chunks: fewer than [`CHUNK`].
    open: Vec<T>,
}

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Self { sealed: Vec::new(), open: Vec::new() }
    }
}

impl<T> Chunks<T> {
    pub(crate) fn len(&self) -> usize {
        (self.sealed.len() << CHUNK_BITS) + self.open.len()
    }

    pub(crate) fn push(&mut self, value: T) {
        self.open.push(value);
        if self.open.len() == CHUNK {
            let full = std::mem::take(&mut self.open);
            self.sealed.push(Arc::from(full));
        }
    }

    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        match self.sealed.get(index >> CHUNK_BITS) {
            Some(chunk) => Some(&chunk[index & MASK]),
            None => self.open.get(index - (self.sealed.len() << CHUNK_BITS)),
        }
    }

    /// Room for `additional` more entries in the open chunk, as far as it goes (the reader of
    /// a snapshot knows the count).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.open.reserve(additional.min(CHUNK - self.open.len()));
    }

    /// Gives back the open chunk's spare room.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.open.shrink_to_fit();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.sealed.iter().flat_map(|chunk| chunk.iter()).chain(&self.open)
    }
}

impl<T: Clone> Chunks<T> {
    /// The table as it is now, for a snapshot to write later, whatever is appended since: the
    /// sealed chunks shared, the open one copied.
    pub(crate) fn image(&self) -> Chunks<T> {
        Chunks { sealed: self.sealed.clone(), open: self.open.clone() }
    }
}

impl<T> std::ops::Index<usize> for Chunks<T> {
    type Output = T;

    #[inline]
    fn index(&self, index: usize) -> &T {
        match self.get(index) {
            Some(entry) => entry,
            None => panic!("entry {index} of a table of {}", self.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CHUNK, Chunks};

    /// Entries read back as pushed across sealed chunks and the open one, an image keeps what
    /// it saw while the table grows, and reading past the end finds nothing.
    #[test]
    fn entries_read_back_and_an_image_keeps_its_moment() {
        let mut table = Chunks::default();
        let mut image_at = Vec::new();
        for value in 0..(5 * CHUNK + 3) {
            if value % 5 == 0 {
                image_at.push((value, table.image()));
            }
            assert_eq!(table.get(value), None);
            table.push(value);
            assert_eq!(table.len(), value + 1);
            assert_eq!(table[value], value);
        }
        assert_eq!(table.iter().copied().collect::<Vec<_>>(), (0..5 * CHUNK + 3).collect::<Vec<_>>());
        for (len, image) in image_at {
            assert_eq!(image.len(), len);
            assert_eq!(image.iter().copied().collect::<Vec<_>>(), (0..len).collect::<Vec<_>>());
            assert_eq!(image.get(len), None);
        }
        for index in 0..table.len() {
            assert_eq!(table.get(index), Some(&index));
        }
    }

    #[test]
    #[should_panic]
    fn reading_past_the_end_panics_like_a_vec() {
        let mut table = Chunks::default();
        for value in 0..CHUNK + 1 {
            table.push(value);
        }
        let _ = table[CHUNK + 1];
    }
}
