//! Property tests: descriptors and policy files, generated and mutated, never make the
//! parsers panic, and every refusal names a field or a position. 256 cases each.

use proptest::prelude::*;
use proptest::sample::Index;

use crate::tests::PRODUCT;
use crate::{DescriptorError, parse_domain, parse_policy_file, parse_product};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

const DOMAIN: &str = "kind: Domain
id: sales
name: Sales
owners: [{name: head-of-sales, role: business}]
namespaces: [\"postgres://db\", 'kafka://prod']
policies:
  - id: reads-through-ports
    kind: cross-domain-reads
    blocking: false
";

const POLICIES: &str = "policies:
  - id: ports-documented
    kind: output-port-requirements
    require: [owner, description, schema]
  - {id: no-pii-in-public, kind: pii-in-public-products, tags: [PII]}
";

/// A refusal names a field (its path, or a field in backticks), a position (`line N`), or is
/// about the whole text (`the descriptor ...`).
fn check_refusal(error: &DescriptorError, text: &str) -> Result<(), TestCaseError> {
    let names_something = !error.path.is_empty()
        || error.message.contains("line ")
        || error.message.contains('`')
        || error.message.starts_with("the descriptor")
        || error.message.starts_with("the policy file");
    prop_assert!(names_something, "`{}` names no field or position, for\n{}", error, text);
    Ok(())
}

fn check_all(text: &str) -> Result<(), TestCaseError> {
    for outcome in
        [parse_product(text).map(|_| ()), parse_domain(text).map(|_| ()), parse_policy_file(text).map(|_| ())]
    {
        if let Err(error) = outcome {
            check_refusal(&error, text)?;
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(Index, char),
    Remove(Index),
    /// Copies a line elsewhere, so keys repeat and indentation shifts.
    CopyLine(Index, Index),
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let c = prop_oneof![
        prop::sample::select(vec![
            '[', ']', '{', '}', '"', '\'', '#', '\n', ' ', ':', '-', '|', '>', '&', '*', '!', ',', '\t', '\0'
        ]),
        any::<char>(),
    ];
    prop_oneof![
        (any::<Index>(), c).prop_map(|(at, c)| Edit::Insert(at, c)),
        any::<Index>().prop_map(Edit::Remove),
        (any::<Index>(), any::<Index>()).prop_map(|(from, to)| Edit::CopyLine(from, to)),
        any::<Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        match edit {
            Edit::Insert(at, c) => chars.insert(at.index(chars.len() + 1), *c),
            Edit::Remove(at) if !chars.is_empty() => {
                chars.remove(at.index(chars.len()));
            }
            Edit::CopyLine(from, to) => {
                let text: String = chars.iter().collect();
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                if lines.is_empty() {
                    continue;
                }
                let line = lines[from.index(lines.len())].to_owned();
                let mut lines: Vec<String> = lines.into_iter().map(str::to_owned).collect();
                let at = to.index(lines.len() + 1);
                lines.insert(at, line);
                chars = lines.concat().chars().collect();
            }
            Edit::Truncate(at) => chars.truncate(at.index(chars.len() + 1)),
            Edit::Remove(_) => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_descriptors_never_panic_and_refusals_name_a_field_or_position(
        example in prop::sample::select(vec![PRODUCT, DOMAIN, POLICIES]),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        check_all(&apply(example, &edits))?;
    }

    #[test]
    fn mutated_json_descriptors_never_panic_and_refusals_name_a_field_or_position(
        example in prop::sample::select(vec![PRODUCT, DOMAIN, POLICIES]),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let value: serde_json::Value = serde_yaml_ng::from_str(example).unwrap();
        let json = serde_json::to_string_pretty(&value).unwrap();
        check_all(&apply(&json, &edits))?;
    }

    #[test]
    fn random_text_never_panics(text in "[a-zA-Z0-9:\\[\\]{}\"'#,&*!|> \n-]{0,200}") {
        check_all(&text)?;
    }
}
