//! What one GraphQL request may ask for, checked on the parsed document before the schema
//! validates or runs it (validation itself can take minutes on hostile documents: nested
//! fragment spreads that expand exponentially). Linear in the document: each fragment is
//! sized once.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Operations in one batched request.
pub const MAX_BATCH: usize = 16;
/// Fields in one request once every fragment spread is expanded (GraphiQL's introspection
/// query is about 150; the explorer's largest about 60).
pub const MAX_EXPANDED_FIELDS: u64 = 5_000;
/// Fields at the top of one operation, aliases counted: each can be a whole traversal.
pub const MAX_ROOT_FIELDS: usize = 32;
/// Fragment definitions nested deeper than this are refused (they only serve to blow up).
const MAX_FRAGMENT_DEPTH: usize = 32;

/// Why a document was refused, for the `extensions.code` `QUERY_TOO_LARGE` error.
#[derive(Debug, PartialEq, Eq)]
pub struct OverBudget(pub String);

/// Checks one parsed document against the budget.
pub fn check(document: &ExecutableDocument) -> Result<(), OverBudget> {
    let mut fragments: HashMap<&str, Memo> = HashMap::new();
    let mut total: u64 = 0;
    for (_, operation) in document.operations.iter() {
        let size = measure(&operation.node.selection_set.node, document, &mut fragments, 0)?;
        if size.roots > MAX_ROOT_FIELDS as u64 {
            return Err(OverBudget(format!(
                "an operation asks for {} top-level fields (aliases included); at most {MAX_ROOT_FIELDS} are allowed",
                size.roots
            )));
        }
        total = total.saturating_add(size.fields);
    }
    if total > MAX_EXPANDED_FIELDS {
        return Err(OverBudget(format!(
            "the query expands to more than {MAX_EXPANDED_FIELDS} fields once fragments are spread"
        )));
    }
    Ok(())
}

/// What a selection set costs once its fragments are spread.
#[derive(Clone, Copy, Default)]
struct Size {
    /// Every field, nested ones included.
    fields: u64,
    /// Fields at its own level (through fragments at that level).
    roots: u64,
}

#[derive(Clone, Copy)]
enum Memo {
    /// Being sized: a spread reaching it again is a cycle.
    InProgress,
    Done(Size),
}

/// Sizes `set`, each fragment once (remembered in `fragments`), so spreads cannot make the
/// walk exponential. Saturating: a hostile document only ever reaches the limits.
fn measure<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    fragments: &mut HashMap<&'a str, Memo>,
    depth: usize,
) -> Result<Size, OverBudget> {
    if depth > MAX_FRAGMENT_DEPTH {
        return Err(OverBudget(format!("fragments nest deeper than {MAX_FRAGMENT_DEPTH}")));
    }
    let mut size = Size::default();
    for item in &set.items {
        let add = match &item.node {
            Selection::Field(field) => {
                let children = measure(&field.node.selection_set.node, document, fragments, depth)?;
                Size { fields: children.fields.saturating_add(1), roots: 1 }
            }
            Selection::InlineFragment(fragment) => {
                measure(&fragment.node.selection_set.node, document, fragments, depth + 1)?
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match (fragments.get(name), document.fragments.get_key_value(name)) {
                    (Some(Memo::Done(known)), _) => *known,
                    (Some(Memo::InProgress), _) => {
                        return Err(OverBudget(format!("fragment `{name}` spreads itself")));
                    }
                    // Unknown fragments are the validator's to report.
                    (None, None) => Size::default(),
                    (None, Some((key, fragment))) => {
                        let key = key.as_str();
                        fragments.insert(key, Memo::InProgress);
                        let known = measure(&fragment.node.selection_set.node, document, fragments, depth + 1)?;
                        fragments.insert(key, Memo::Done(known));
                        known
                    }
                }
            }
        };
        size.fields = size.fields.saturating_add(add.fields);
        size.roots = size.roots.saturating_add(add.roots);
    }
    Ok(size)
}
