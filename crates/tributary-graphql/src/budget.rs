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
    let mut sizes: HashMap<&str, Size> = HashMap::new();
    let mut total: u64 = 0;
    for (_, operation) in document.operations.iter() {
        let roots = count_roots(&operation.node.selection_set.node, document, &mut HashMap::new(), 0)?;
        if roots > MAX_ROOT_FIELDS {
            return Err(OverBudget(format!(
                "an operation asks for {roots} top-level fields (aliases included); at most {MAX_ROOT_FIELDS} are allowed"
            )));
        }
        total = total.saturating_add(expanded(&operation.node.selection_set.node, document, &mut sizes, 0)?);
        if total > MAX_EXPANDED_FIELDS {
            break;
        }
    }
    if total > MAX_EXPANDED_FIELDS {
        return Err(OverBudget(format!(
            "the query expands to more than {MAX_EXPANDED_FIELDS} fields once fragments are spread"
        )));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Size {
    /// Being sized: a spread reaching it again is a cycle.
    InProgress,
    Done(u64),
}

fn expanded<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    sizes: &mut HashMap<&'a str, Size>,
    depth: usize,
) -> Result<u64, OverBudget> {
    if depth > MAX_FRAGMENT_DEPTH {
        return Err(OverBudget(format!("fragments nest deeper than {MAX_FRAGMENT_DEPTH}")));
    }
    let mut count: u64 = 0;
    for item in &set.items {
        let add = match &item.node {
            Selection::Field(field) => {
                1u64.saturating_add(expanded(&field.node.selection_set.node, document, sizes, depth)?)
            }
            Selection::InlineFragment(fragment) => {
                expanded(&fragment.node.selection_set.node, document, sizes, depth + 1)?
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match sizes.get(name) {
                    Some(Size::Done(size)) => *size,
                    Some(Size::InProgress) => {
                        return Err(OverBudget(format!("fragment `{name}` spreads itself")));
                    }
                    None => match document.fragments.get_key_value(name) {
                        // Unknown fragments are the validator's to report.
                        None => 0,
                        Some((key, fragment)) => {
                            let key = key.as_str();
                            sizes.insert(key, Size::InProgress);
                            let size = expanded(&fragment.node.selection_set.node, document, sizes, depth + 1)?;
                            sizes.insert(key, Size::Done(size));
                            size
                        }
                    },
                }
            }
        };
        count = count.saturating_add(add);
        if count > MAX_EXPANDED_FIELDS {
            return Ok(count);
        }
    }
    Ok(count)
}

/// Top-level fields of an operation, through fragments at the top level (each fragment
/// counted once and remembered, so spreads cannot make this exponential).
fn count_roots<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    memo: &mut HashMap<&'a str, usize>,
    depth: usize,
) -> Result<usize, OverBudget> {
    if depth > MAX_FRAGMENT_DEPTH {
        return Err(OverBudget(format!("fragments nest deeper than {MAX_FRAGMENT_DEPTH}")));
    }
    let mut roots = 0usize;
    for item in &set.items {
        let add = match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                count_roots(&fragment.node.selection_set.node, document, memo, depth + 1)?
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match (memo.get(name), document.fragments.get_key_value(name)) {
                    (Some(known), _) => *known,
                    (None, Some((key, fragment))) => {
                        let found = count_roots(&fragment.node.selection_set.node, document, memo, depth + 1)?;
                        memo.insert(key.as_str(), found);
                        found
                    }
                    (None, None) => 0,
                }
            }
        };
        roots = roots.saturating_add(add);
        if roots > MAX_ROOT_FIELDS {
            break;
        }
    }
    Ok(roots)
}
