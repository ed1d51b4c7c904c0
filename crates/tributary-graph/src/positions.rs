//! Namespaces numbered in the order an answer meets them, for answers written in columns
//! (each namespace once, each node by its namespace's position).

use std::collections::HashMap;
use std::sync::Arc;

/// The positions of an answer's namespaces. Neighbours in an answer mostly share a namespace,
/// and the index keeps one string per namespace: the node before's is compared by address
/// first, without hashing the text. Any other string of the same text (a redacted node's
/// namespace, made for the answer) gets the same position.
#[derive(Default)]
pub struct NamespacePositions {
    positions: HashMap<Arc<str>, u32>,
    /// The namespace of the node before and its position.
    last: Option<(Arc<str>, u32)>,
}

impl NamespacePositions {
    /// The namespace's position, and whether this is the first time it is met (the caller
    /// then writes it to its list of namespaces, at that position).
    pub fn position(&mut self, namespace: &Arc<str>) -> (u32, bool) {
        if let Some((last, position)) = &self.last
            && Arc::ptr_eq(last, namespace)
        {
            return (*position, false);
        }
        let (position, first) = match self.positions.get(&**namespace) {
            Some(&position) => (position, false),
            None => {
                // Fewer namespaces than nodes, and an answer's nodes are fewer than 2^32.
                let position = self.positions.len() as u32;
                self.positions.insert(Arc::clone(namespace), position);
                (position, true)
            }
        };
        self.last = Some((Arc::clone(namespace), position));
        (position, first)
    }

    /// How many namespaces were met.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_numbered_by_text_in_the_order_met() {
        let (a, b) = (Arc::<str>::from("a"), Arc::<str>::from("b"));
        let a_again = Arc::<str>::from("a");
        let mut positions = NamespacePositions::default();
        assert_eq!(positions.position(&a), (0, true));
        assert_eq!(positions.position(&a), (0, false));
        assert_eq!(positions.position(&b), (1, true));
        // Another string of a's text, right after b: a's position, not a new one.
        assert_eq!(positions.position(&a_again), (0, false));
        assert_eq!(positions.position(&b), (1, false));
        assert_eq!(positions.len(), 2);
    }
}
