//! Two schemas in, every change scored and every check that could not be made named.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::change::{Change, ChangeKind, SchemaDiff, UnsupportedCheck};
use crate::schema::{Field, ForeignKey, Schema, is_classification_tag};
use crate::types::{DataType, StructField, TypeRelation, compare_types, narrowing_note, normalize_type};

/// Lists every change from `old` to `new` with its verdicts (BREAKING_CHANGES.md).
///
/// Fields match by name at each level, nested fields by dotted path (`address.zip`, also
/// through arrays of structs). A removed field and an added one with the same type at the
/// same position (between the same surviving neighbours) are a rename. Changes come in a
/// fixed order: contract, then fields in old-schema order followed by additions, then keys and
/// partitioning. Where either schema is silent (`None`), nothing is invented: the check is
/// listed in [`SchemaDiff::unsupported`] instead.
pub fn diff(old: &Schema, new: &Schema) -> SchemaDiff {
    let old_nodes: Vec<Node> = old.fields.iter().map(Node::from_field).collect();
    let new_nodes: Vec<Node> = new.fields.iter().map(Node::from_field).collect();
    let mut differ = Differ::default();
    differ.contract(old, new);
    differ.level(&old_nodes, &new_nodes, "");
    differ.keys(old, new);
    differ.partitioning(old, new);
    let mut unsupported = differ.unsupported(&old_nodes, &new_nodes);
    unsupported.extend(dataset_level_gaps(old, new, differ.contract_unknown));
    SchemaDiff { changes: differ.changes, unsupported }
}

/// A field with its type already normalised; members of an inline `STRUCT<..>` type become
/// nodes too, so both ways of writing nesting compare alike.
struct Node {
    name: String,
    spelling: Option<String>,
    /// The type with struct members erased: `ARRAY<STRUCT>` for an array of structs. Members
    /// are compared as child nodes, so a nested change is reported once, at its own path.
    level_type: Option<DataType>,
    nullable: Option<bool>,
    enum_values: Option<Vec<String>>,
    default: Option<String>,
    description: Option<String>,
    tags: Vec<String>,
    max_length: Option<u64>,
    pattern: Option<String>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    children: Vec<Node>,
    /// False for a bare `STRUCT` whose members neither the type nor nested fields list.
    children_known: bool,
}

impl Node {
    fn from_field(field: &Field) -> Node {
        let data_type = field.data_type.as_deref().filter(|spelling| !spelling.trim().is_empty()).map(normalize_type);
        let (children, children_known) = if !field.fields.is_empty() {
            (field.fields.iter().map(Node::from_field).collect(), true)
        } else {
            children_of(data_type.as_ref())
        };
        Node {
            name: field.name.clone(),
            spelling: field.data_type.clone(),
            level_type: data_type.map(erase_members),
            nullable: field.nullable,
            enum_values: field.enum_values.clone(),
            default: field.default.clone(),
            description: field.description.clone(),
            tags: field.tags.clone(),
            max_length: field.max_length,
            pattern: field.pattern.clone(),
            minimum: field.minimum,
            maximum: field.maximum,
            children,
            children_known,
        }
    }

    fn from_member(member: &StructField) -> Node {
        let (children, children_known) = children_of(Some(&member.data_type));
        Node {
            name: member.name.clone(),
            spelling: Some(member.data_type.to_string()),
            level_type: Some(erase_members(member.data_type.clone())),
            nullable: member.nullable,
            enum_values: None,
            default: None,
            description: None,
            tags: Vec::new(),
            max_length: None,
            pattern: None,
            minimum: None,
            maximum: None,
            children,
            children_known,
        }
    }

    fn has_constraints(&self) -> bool {
        self.max_length.is_some() || self.pattern.is_some() || self.minimum.is_some() || self.maximum.is_some()
    }

    fn shown_type(&self) -> String {
        self.spelling.clone().unwrap_or_else(|| "untyped".to_owned())
    }
}

fn children_of(data_type: Option<&DataType>) -> (Vec<Node>, bool) {
    match data_type.map(struct_members) {
        Some(Some(members)) if !members.is_empty() => (members.iter().map(Node::from_member).collect(), true),
        Some(Some(_)) => (Vec::new(), false),
        _ => (Vec::new(), true),
    }
}

/// The members of the struct this type is, or holds through arrays.
fn struct_members(data_type: &DataType) -> Option<&[StructField]> {
    match data_type {
        DataType::Struct { fields } => Some(fields),
        DataType::Array { element } => struct_members(element),
        _ => None,
    }
}

fn erase_members(data_type: DataType) -> DataType {
    match data_type {
        DataType::Struct { .. } => DataType::Struct { fields: Vec::new() },
        DataType::Array { element } => DataType::Array { element: Box::new(erase_members(*element)) },
        other => other,
    }
}

/// Paths where one side (or both) does not say something, per check.
#[derive(Default)]
struct Gap {
    old: Vec<String>,
    new: Vec<String>,
}

impl Gap {
    fn note<T>(&mut self, path: &str, old: &Option<T>, new: &Option<T>) {
        if old.is_none() {
            self.old.push(path.to_owned());
        }
        if new.is_none() {
            self.new.push(path.to_owned());
        }
    }

    /// Only one-sided silence: both silent is the normal case for optional facts like enums.
    fn note_one_sided(&mut self, path: &str, old_says: bool, new_says: bool) {
        if old_says && !new_says {
            self.new.push(path.to_owned());
        }
        if new_says && !old_says {
            self.old.push(path.to_owned());
        }
    }

    fn is_empty(&self) -> bool {
        self.old.is_empty() && self.new.is_empty()
    }
}

#[derive(Default)]
struct Differ {
    changes: Vec<Change>,
    types: Gap,
    nullability: Gap,
    nested: Gap,
    enum_values: Gap,
    constraints: Gap,
    defaults: Gap,
    contract_unknown: bool,
}

fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") }
}

/// Where a change sits: a top-level column or a field nested under one. Decided by depth,
/// not by a dot in the path, since top-level names may contain dots.
#[derive(Clone, Copy)]
struct At<'a> {
    path: &'a str,
    nested: bool,
}

impl At<'_> {
    /// "column `a`" or "field `a.b`", for use inside a sentence.
    fn noun(self) -> String {
        if self.nested { format!("field `{}`", self.path) } else { format!("column `{}`", self.path) }
    }

    /// [`At::noun`] opening a sentence.
    fn subject(self) -> String {
        if self.nested { format!("Field `{}`", self.path) } else { format!("Column `{}`", self.path) }
    }
}

fn key_text(columns: &[String]) -> String {
    format!("({})", columns.join(", "))
}

fn number_text(value: f64) -> String {
    format!("{value}")
}

impl Differ {
    fn push(&mut self, kind: ChangeKind, at: At<'_>, before: Option<String>, after: Option<String>, summary: String) {
        self.changes.push(Change::new(kind, at.path, at.nested, before, after, summary));
    }

    /// A dataset-level change.
    fn push_dataset(&mut self, kind: ChangeKind, before: Option<String>, after: Option<String>, summary: String) {
        self.push(kind, At { path: "", nested: false }, before, after, summary);
    }

    fn contract(&mut self, old: &Schema, new: &Schema) {
        match (old.contract_enforced, new.contract_enforced) {
            (Some(true), Some(false)) => self.push_dataset(
                ChangeKind::ContractEnforcementRemoved,
                Some("enforced".to_owned()),
                Some("not enforced".to_owned()),
                "The contract is no longer enforced; the schema guarantee consumers relied on disappears.".to_owned(),
            ),
            (Some(false), Some(true)) => self.push_dataset(
                ChangeKind::ContractEnforcementAdded,
                Some("not enforced".to_owned()),
                Some("enforced".to_owned()),
                "The contract is now enforced; writers whose output does not match it fail.".to_owned(),
            ),
            (Some(true), None) => self.contract_unknown = true,
            _ => {}
        }
        if let (None, Some(date)) = (&old.deprecation_date, &new.deprecation_date) {
            let when = if date.is_empty() { String::new() } else { format!(" (deprecation date {date})") };
            self.push_dataset(
                ChangeKind::ContractDeprecated,
                None,
                Some(if date.is_empty() { "deprecated".to_owned() } else { date.clone() }),
                format!("The contract is deprecated{when}; consumers lose its guarantee once it goes."),
            );
        }
    }

    /// Compares the fields of one level (the top level, or one struct's members).
    fn level(&mut self, old: &[Node], new: &[Node], parent: &str) {
        let old_index: HashMap<&str, usize> =
            old.iter().enumerate().map(|(index, node)| (node.name.as_str(), index)).collect();
        let new_index: HashMap<&str, usize> =
            new.iter().enumerate().map(|(index, node)| (node.name.as_str(), index)).collect();
        let removed: Vec<usize> =
            (0..old.len()).filter(|index| !new_index.contains_key(old[*index].name.as_str())).collect();
        let added: Vec<usize> =
            (0..new.len()).filter(|index| !old_index.contains_key(new[*index].name.as_str())).collect();
        let renames = detect_renames(old, new, &removed, &added);
        let renamed_to: HashMap<usize, usize> = renames.iter().copied().collect();
        let renamed_from: HashSet<usize> = renames.iter().map(|(_, to)| *to).collect();

        let nested = !parent.is_empty();
        for (old_position, old_node) in old.iter().enumerate() {
            let path = join_path(parent, &old_node.name);
            let at = At { path: &path, nested };
            if let Some(new_position) = new_index.get(old_node.name.as_str()) {
                self.field(old_node, &new[*new_position], at);
            } else if let Some(new_position) = renamed_to.get(&old_position) {
                let new_node = &new[*new_position];
                self.push(
                    ChangeKind::ColumnRenamed,
                    at,
                    Some(old_node.name.clone()),
                    Some(new_node.name.clone()),
                    format!(
                        "{} was renamed to `{}` (same type, same position); readers by name and replays of old data break.",
                        at.subject(),
                        new_node.name
                    ),
                );
                self.field(old_node, new_node, At { path: &join_path(parent, &new_node.name), nested });
            } else {
                self.push(
                    ChangeKind::ColumnRemoved,
                    at,
                    Some(old_node.shown_type()),
                    None,
                    format!("{} ({}) was removed; consumers that read it break.", at.subject(), old_node.shown_type()),
                );
            }
        }
        for &new_position in &added {
            if renamed_from.contains(&new_position) {
                continue;
            }
            let node = &new[new_position];
            let path = join_path(parent, &node.name);
            let at = At { path: &path, nested };
            let shown = node.shown_type();
            let (kind, summary) = match node.nullable {
                Some(true) => (
                    ChangeKind::NullableColumnAdded,
                    format!(
                        "Nullable {} ({shown}) was added; readers by name are unaffected, positional readers (`SELECT *`, `UNION ALL`, CSV) may shift.",
                        at.noun()
                    ),
                ),
                Some(false) => (
                    ChangeKind::RequiredColumnAdded,
                    format!("Required {} ({shown}) was added; old rows lack it and writers must supply it.", at.noun()),
                ),
                None => {
                    self.nullability.new.push(path.clone());
                    (
                        ChangeKind::ColumnAdded,
                        format!(
                            "{} ({shown}) was added; readers by name are unaffected, and if it is required writers must supply it.",
                            at.subject()
                        ),
                    )
                }
            };
            self.push(kind, at, None, Some(shown), summary);
        }
        if removed.is_empty() && added.is_empty() {
            let old_order: Vec<&str> = old.iter().map(|node| node.name.as_str()).collect();
            let new_order: Vec<&str> = new.iter().map(|node| node.name.as_str()).collect();
            if old_order != new_order {
                let what =
                    if parent.is_empty() { "Columns were".to_owned() } else { format!("Fields of `{parent}` were") };
                self.push(
                    ChangeKind::ColumnsReordered,
                    At { path: parent, nested: false },
                    Some(old_order.join(", ")),
                    Some(new_order.join(", ")),
                    format!("{what} reordered; readers and writers by position break, readers by name are unaffected."),
                );
            }
        }
    }

    /// Compares one field that exists on both sides (possibly under a new name).
    fn field(&mut self, old: &Node, new: &Node, at: At<'_>) {
        let path = at.path;
        let mut family_changed = false;
        match (&old.level_type, &new.level_type) {
            (Some(old_type), Some(new_type)) => {
                let relation = compare_types(old_type, new_type);
                let (before, after) = (old.shown_type(), new.shown_type());
                match relation {
                    TypeRelation::Same => {}
                    TypeRelation::Widened => self.push(
                        ChangeKind::TypeWidened,
                        at,
                        Some(before.clone()),
                        Some(after.clone()),
                        format!(
                            "{} widened from {before} to {after}; consumers that pin the narrower type can overflow or truncate.",
                            at.subject()
                        ),
                    ),
                    TypeRelation::Narrowed => {
                        let note =
                            narrowing_note(old_type, new_type).map(|note| format!(" ({note})")).unwrap_or_default();
                        self.push(
                            ChangeKind::TypeNarrowed,
                            at,
                            Some(before.clone()),
                            Some(after.clone()),
                            format!(
                                "{} narrowed from {before} to {after}{note}; values lose range or precision.",
                                at.subject()
                            ),
                        );
                    }
                    TypeRelation::FamilyChanged => {
                        family_changed = true;
                        self.push(
                            ChangeKind::TypeChanged,
                            at,
                            Some(before.clone()),
                            Some(after.clone()),
                            format!(
                                "{} changed type from {before} to {after}; readers and writers of it break.",
                                at.subject()
                            ),
                        );
                    }
                }
            }
            (old_type, new_type) => self.types.note(path, old_type, new_type),
        }

        match (old.nullable, new.nullable) {
            (Some(false), Some(true)) => self.push(
                ChangeKind::NullabilityRelaxed,
                at,
                Some("not null".to_owned()),
                Some("nullable".to_owned()),
                format!("{} may now be null; readers that assume a value break.", at.subject()),
            ),
            (Some(true), Some(false)) => self.push(
                ChangeKind::NullabilityTightened,
                at,
                Some("nullable".to_owned()),
                Some("not null".to_owned()),
                format!("{} is now NOT NULL; writers that emit nulls and old rows holding nulls fail.", at.subject()),
            ),
            (Some(_), Some(_)) => {}
            (old_nullable, new_nullable) => self.nullability.note(path, &old_nullable, &new_nullable),
        }

        self.enum_values_of(old, new, at);
        self.constraints_of(old, new, at);

        match (&old.default, &new.default) {
            (Some(before), Some(after)) if before != after => self.push(
                ChangeKind::DefaultChanged,
                at,
                Some(before.clone()),
                Some(after.clone()),
                format!(
                    "{} default changed from {before} to {after}; readers relying on the default see other values.",
                    at.subject()
                ),
            ),
            (old_default, new_default) => {
                self.defaults.note_one_sided(path, old_default.is_some(), new_default.is_some());
            }
        }

        if let (Some(before), Some(after)) = (&old.description, &new.description)
            && before.trim() != after.trim()
        {
            self.push(
                ChangeKind::DescriptionChanged,
                at,
                Some(before.clone()),
                Some(after.clone()),
                format!("The description of {} changed.", at.noun()),
            );
        }
        self.tags_of(old, new, at);

        if family_changed {
            // The type change already covers everything inside the field.
            return;
        }
        match (old.children_known, new.children_known) {
            (true, true) => self.level(&old.children, &new.children, path),
            (old_known, new_known) => {
                if !old_known {
                    self.nested.old.push(path.to_owned());
                }
                if !new_known {
                    self.nested.new.push(path.to_owned());
                }
            }
        }
    }

    fn enum_values_of(&mut self, old: &Node, new: &Node, at: At<'_>) {
        let path = at.path;
        let (Some(old_values), Some(new_values)) = (&old.enum_values, &new.enum_values) else {
            self.enum_values.note_one_sided(path, old.enum_values.is_some(), new.enum_values.is_some());
            return;
        };
        let old_set: HashSet<&String> = old_values.iter().collect();
        let new_set: HashSet<&String> = new_values.iter().collect();
        for value in old_values.iter().filter(|value| !new_set.contains(value)) {
            self.push(
                ChangeKind::EnumValueRemoved,
                at,
                Some(value.clone()),
                None,
                format!(
                    "{} no longer allows '{value}'; filters on it go silently empty and writers still emitting it fail.",
                    at.subject()
                ),
            );
        }
        for value in new_values.iter().filter(|value| !old_set.contains(value)) {
            self.push(
                ChangeKind::EnumValueAdded,
                at,
                None,
                Some(value.clone()),
                format!(
                    "{} now allows '{value}'; exhaustive readers (CASE without ELSE, accepted-values tests) break.",
                    at.subject()
                ),
            );
        }
    }

    fn constraints_of(&mut self, old: &Node, new: &Node, at: At<'_>) {
        let path = at.path;
        // A bound stated on one side only is silence on the other, not a removal.
        let stated = [
            (old.max_length.is_some(), new.max_length.is_some()),
            (old.pattern.is_some(), new.pattern.is_some()),
            (old.minimum.is_some(), new.minimum.is_some()),
            (old.maximum.is_some(), new.maximum.is_some()),
        ];
        if stated.iter().any(|(old_says, new_says)| *old_says && !*new_says) {
            self.constraints.new.push(path.to_owned());
        }
        if stated.iter().any(|(old_says, new_says)| !*old_says && *new_says) {
            self.constraints.old.push(path.to_owned());
        }
        let subject = at.subject();
        let bound = |differ: &mut Differ, what: &str, before: f64, after: f64, looser: bool| {
            let (kind, effect) = if looser {
                (ChangeKind::ConstraintLoosened, "readers that validate values or size buffers may break")
            } else {
                (ChangeKind::ConstraintTightened, "writers and old rows outside it fail")
            };
            let (before, after) = (number_text(before), number_text(after));
            let verb = if looser { "loosened" } else { "tightened" };
            differ.push(
                kind,
                at,
                Some(format!("{what} {before}")),
                Some(format!("{what} {after}")),
                format!("{subject} {what} {verb} from {before} to {after}; {effect}."),
            );
        };
        if let (Some(before), Some(after)) = (old.max_length, new.max_length)
            && before != after
        {
            bound(self, "max length", before as f64, after as f64, after > before);
        }
        if let (Some(before), Some(after)) = (old.minimum, new.minimum)
            && before != after
        {
            bound(self, "minimum", before, after, after < before);
        }
        if let (Some(before), Some(after)) = (old.maximum, new.maximum)
            && before != after
        {
            bound(self, "maximum", before, after, after > before);
        }
        if let (Some(before), Some(after)) = (&old.pattern, &new.pattern)
            && before != after
        {
            self.push(
                ChangeKind::ConstraintChanged,
                at,
                Some(before.clone()),
                Some(after.clone()),
                format!("{subject} pattern changed; it may admit values readers do not expect and reject values writers emit."),
            );
        }
    }

    fn tags_of(&mut self, old: &Node, new: &Node, at: At<'_>) {
        let old_tags: BTreeSet<&str> = old.tags.iter().map(String::as_str).collect();
        let new_tags: BTreeSet<&str> = new.tags.iter().map(String::as_str).collect();
        if old_tags == new_tags {
            return;
        }
        let removed_classifications: Vec<&str> =
            old_tags.difference(&new_tags).copied().filter(|tag| is_classification_tag(tag)).collect();
        let other_change = new_tags.difference(&old_tags).next().is_some()
            || old_tags.difference(&new_tags).any(|tag| !is_classification_tag(tag));
        for tag in removed_classifications {
            self.push(
                ChangeKind::ClassificationRemoved,
                at,
                Some(tag.to_owned()),
                None,
                format!(
                    "{} lost its `{tag}` classification; safe for readers, but the policy engine must review it.",
                    at.subject()
                ),
            );
        }
        if other_change {
            self.push(
                ChangeKind::TagsChanged,
                at,
                Some(old.tags.join(", ")),
                Some(new.tags.join(", ")),
                format!("The tags of {} changed.", at.noun()),
            );
        }
    }

    fn keys(&mut self, old: &Schema, new: &Schema) {
        let as_set = |columns: &[String]| -> BTreeSet<String> { columns.iter().cloned().collect() };
        let unique_sets = |schema: &Schema| -> HashSet<BTreeSet<String>> {
            schema.unique_keys.iter().flatten().map(|key| as_set(key)).collect()
        };
        let (old_unique, new_unique) = (unique_sets(old), unique_sets(new));

        if let (Some(old_key), Some(new_key)) = (&old.primary_key, &new.primary_key)
            && as_set(old_key) != as_set(new_key)
        {
            // Uniqueness kept through a unique key keeps the grain.
            if !old_key.is_empty() && !new_unique.contains(&as_set(old_key)) {
                self.push_dataset(
                    ChangeKind::PrimaryKeyRemoved,
                    Some(key_text(old_key)),
                    None,
                    format!(
                        "Primary key {} was removed; the grain can change, so joins may fan out and counts double.",
                        key_text(old_key)
                    ),
                );
            }
            if !new_key.is_empty() {
                self.push_dataset(
                    ChangeKind::PrimaryKeyAdded,
                    None,
                    Some(key_text(new_key)),
                    format!("Primary key {} was added; old rows and writers may violate it.", key_text(new_key)),
                );
            }
        }
        if let (Some(old_keys), Some(new_keys)) = (&old.unique_keys, &new.unique_keys) {
            let new_primary = new.primary_key.as_deref().map(as_set);
            let old_primary = old.primary_key.as_deref().map(as_set);
            for key in old_keys {
                let set = as_set(key);
                if !new_unique.contains(&set) && new_primary.as_ref() != Some(&set) {
                    self.push_dataset(
                        ChangeKind::UniqueRemoved,
                        Some(key_text(key)),
                        None,
                        format!(
                            "Uniqueness of {} was removed; the grain can change, so joins may fan out and counts double.",
                            key_text(key)
                        ),
                    );
                }
            }
            for key in new_keys {
                let set = as_set(key);
                if !old_unique.contains(&set) && old_primary.as_ref() != Some(&set) {
                    self.push_dataset(
                        ChangeKind::UniqueAdded,
                        None,
                        Some(key_text(key)),
                        format!("Uniqueness of {} was added; old rows and writers may violate it.", key_text(key)),
                    );
                }
            }
        }
        if let (Some(old_keys), Some(new_keys)) = (&old.foreign_keys, &new.foreign_keys) {
            let identity = |key: &ForeignKey| -> (BTreeSet<String>, String) {
                (as_set(&key.columns), key.references.split_whitespace().collect::<String>().to_lowercase())
            };
            let old_ids: HashSet<_> = old_keys.iter().map(identity).collect();
            let new_ids: HashSet<_> = new_keys.iter().map(identity).collect();
            for key in old_keys.iter().filter(|key| !new_ids.contains(&identity(key))) {
                let text = format!("{} -> {}", key_text(&key.columns), key.references);
                self.push_dataset(
                    ChangeKind::ForeignKeyRemoved,
                    Some(text.clone()),
                    None,
                    format!("Foreign key {text} was removed; referential integrity is no longer promised."),
                );
            }
            for key in new_keys.iter().filter(|key| !old_ids.contains(&identity(key))) {
                let text = format!("{} -> {}", key_text(&key.columns), key.references);
                self.push_dataset(
                    ChangeKind::ForeignKeyAdded,
                    None,
                    Some(text.clone()),
                    format!("Foreign key {text} was added; writers emitting values without a match fail."),
                );
            }
        }
    }

    fn partitioning(&mut self, old: &Schema, new: &Schema) {
        if let (Some(old_keys), Some(new_keys)) = (&old.partition_keys, &new.partition_keys)
            && old_keys != new_keys
        {
            let text = |keys: &[String]| if keys.is_empty() { "none".to_owned() } else { key_text(keys) };
            self.push_dataset(
                ChangeKind::PartitionKeyChanged,
                Some(text(old_keys)),
                Some(text(new_keys)),
                format!(
                    "Partition keys changed from {} to {}; incremental consumers, partition pruning and per-key order break.",
                    text(old_keys),
                    text(new_keys)
                ),
            );
        }
    }

    fn unsupported(&self, old: &[Node], new: &[Node]) -> Vec<UnsupportedCheck> {
        let mut checks = Vec::new();
        let both_have_fields = !old.is_empty() && !new.is_empty();
        let mut add = |check: &str, reason: Option<String>| {
            if let Some(reason) = reason {
                checks.push(UnsupportedCheck { check: check.to_owned(), reason });
            }
        };
        let says = |nodes: &[Node], fact: &dyn Fn(&Node) -> bool| any_node(nodes, fact);

        add(
            "types",
            gap_reason(
                &self.types,
                says(old, &|node| node.level_type.is_some()),
                says(new, &|node| node.level_type.is_some()),
                false,
                &Phrases {
                    neither: "neither schema gives column types",
                    whole_side: "the {side} schema gives no column types",
                    for_paths: "the {side} schema gives no type for {paths}",
                    both_paths: "neither schema gives a type for {paths}",
                },
            ),
        );
        add(
            "nullability",
            gap_reason(
                &self.nullability,
                says(old, &|node| node.nullable.is_some()),
                says(new, &|node| node.nullable.is_some()),
                false,
                &Phrases {
                    neither: "neither schema says whether columns are nullable",
                    whole_side: "the {side} schema does not say whether columns are nullable",
                    for_paths: "the {side} schema does not say whether {paths} can be null",
                    both_paths: "neither schema says whether {paths} can be null",
                },
            ),
        );
        add(
            "nested fields",
            gap_reason(
                &self.nested,
                true,
                true,
                false,
                &Phrases {
                    neither: "",
                    whole_side: "",
                    for_paths: "the {side} schema lists no nested fields for {paths}",
                    both_paths: "neither schema lists the nested fields of {paths}",
                },
            ),
        );
        add(
            "enum values",
            gap_reason(
                &self.enum_values,
                says(old, &|node| node.enum_values.is_some()),
                says(new, &|node| node.enum_values.is_some()),
                both_have_fields,
                &Phrases {
                    neither: "neither schema lists allowed values",
                    whole_side: "the {side} schema lists no allowed values",
                    for_paths: "the {side} schema lists no allowed values for {paths}",
                    both_paths: "neither schema lists allowed values for {paths}",
                },
            ),
        );
        add(
            "constraints",
            gap_reason(
                &self.constraints,
                says(old, &Node::has_constraints),
                says(new, &Node::has_constraints),
                both_have_fields,
                &Phrases {
                    neither: "neither schema states length, range or pattern constraints",
                    whole_side: "the {side} schema states no length, range or pattern constraints",
                    for_paths: "the {side} schema does not state every length, range or pattern constraint of {paths}",
                    both_paths: "neither schema states the constraints of {paths}",
                },
            ),
        );
        add(
            "defaults",
            gap_reason(
                &self.defaults,
                says(old, &|node| node.default.is_some()),
                says(new, &|node| node.default.is_some()),
                both_have_fields,
                &Phrases {
                    neither: "neither schema states column defaults",
                    whole_side: "the {side} schema states no column defaults",
                    for_paths: "the {side} schema does not state the default of {paths}",
                    both_paths: "neither schema states the default of {paths}",
                },
            ),
        );
        checks
    }
}

/// Key, partitioning and contract gaps depend only on the schemas' dataset-level options.
fn dataset_level_gaps(old: &Schema, new: &Schema, contract_unknown: bool) -> Vec<UnsupportedCheck> {
    let mut checks = Vec::new();
    let kinds = [
        ("primary", old.primary_key.is_none(), new.primary_key.is_none()),
        ("unique", old.unique_keys.is_none(), new.unique_keys.is_none()),
        ("foreign", old.foreign_keys.is_none(), new.foreign_keys.is_none()),
    ];
    let silent = |pick: &dyn Fn(bool, bool) -> bool| -> Vec<&str> {
        kinds
            .iter()
            .filter(|(_, old_silent, new_silent)| pick(*old_silent, *new_silent))
            .map(|(kind, ..)| *kind)
            .collect()
    };
    let mut key_parts = Vec::new();
    for (subject, kinds) in [
        ("neither schema declares", silent(&|old_silent, new_silent| old_silent && new_silent)),
        ("the old schema does not declare", silent(&|old_silent, new_silent| old_silent && !new_silent)),
        ("the new schema does not declare", silent(&|old_silent, new_silent| !old_silent && new_silent)),
    ] {
        if !kinds.is_empty() {
            key_parts.push(format!("{subject} {} keys", or_list(&kinds)));
        }
    }
    if !key_parts.is_empty() {
        checks.push(UnsupportedCheck { check: "keys".to_owned(), reason: key_parts.join("; ") });
    }
    let partitioning = match (old.partition_keys.is_none(), new.partition_keys.is_none()) {
        (true, true) => Some("neither schema says how the dataset is partitioned"),
        (true, false) => Some("the old schema does not say how the dataset is partitioned"),
        (false, true) => Some("the new schema does not say how the dataset is partitioned"),
        (false, false) => None,
    };
    if let Some(reason) = partitioning {
        checks.push(UnsupportedCheck { check: "partitioning".to_owned(), reason: reason.to_owned() });
    }
    if contract_unknown {
        checks.push(UnsupportedCheck {
            check: "contract".to_owned(),
            reason: "the old contract was enforced and the new schema does not say whether it still is".to_owned(),
        });
    }
    checks
}

struct Phrases {
    /// Both schemas silent everywhere.
    neither: &'static str,
    /// One schema silent everywhere; `{side}` is `old` or `new`.
    whole_side: &'static str,
    /// One schema silent on `{paths}`.
    for_paths: &'static str,
    /// Both schemas silent on `{paths}`.
    both_paths: &'static str,
}

fn gap_reason(gap: &Gap, old_says: bool, new_says: bool, report_silence: bool, phrases: &Phrases) -> Option<String> {
    if !old_says && !new_says && (report_silence || !gap.is_empty()) && !phrases.neither.is_empty() {
        return Some(phrases.neither.to_owned());
    }
    let mut parts = Vec::new();
    let new_paths: HashSet<&String> = gap.new.iter().collect();
    let both: Vec<String> = gap.old.iter().filter(|path| new_paths.contains(path)).cloned().collect();
    let both_set: HashSet<&String> = both.iter().collect();
    if !both.is_empty() && old_says && new_says {
        parts.push(phrases.both_paths.replace("{paths}", &path_list(&both)));
    }
    for (side, says, paths) in [("old", old_says, &gap.old), ("new", new_says, &gap.new)] {
        if !says && !phrases.whole_side.is_empty() && !paths.is_empty() {
            parts.push(phrases.whole_side.replace("{side}", side));
            continue;
        }
        let own: Vec<String> =
            paths.iter().filter(|path| !(old_says && new_says && both_set.contains(path))).cloned().collect();
        if !own.is_empty() {
            parts.push(phrases.for_paths.replace("{side}", side).replace("{paths}", &path_list(&own)));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn path_list(paths: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = paths.iter().take(SHOWN).map(|path| format!("`{path}`")).collect::<Vec<_>>().join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}

fn any_node(nodes: &[Node], fact: &dyn Fn(&Node) -> bool) -> bool {
    nodes.iter().any(|node| fact(node) || any_node(&node.children, fact))
}

/// Pairs removed and added fields at the same position: after the same surviving neighbour and
/// at the same offset from it, with the same type and the same nested field names. Counting
/// from the surviving neighbour rather than from the start keeps an earlier removal from
/// hiding a rename further down.
fn detect_renames(old: &[Node], new: &[Node], removed: &[usize], added: &[usize]) -> Vec<(usize, usize)> {
    let old_positions: HashMap<&str, usize> =
        old.iter().enumerate().map(|(index, node)| (node.name.as_str(), index)).collect();
    let new_names: HashSet<&str> = new.iter().map(|node| node.name.as_str()).collect();
    // The anchor of each position: the old position of the last surviving field before it,
    // in one pass rather than a walk back from every removed or added field (and a number,
    // not a name, so grouping by it costs the same for any name length).
    let mut old_anchors = Vec::with_capacity(old.len());
    let mut last = None;
    for (index, node) in old.iter().enumerate() {
        old_anchors.push(last);
        if new_names.contains(node.name.as_str()) {
            last = Some(index);
        }
    }
    let mut new_anchors = Vec::with_capacity(new.len());
    let mut last = None;
    for node in new {
        new_anchors.push(last);
        if let Some(old_index) = old_positions.get(node.name.as_str()) {
            last = Some(*old_index);
        }
    }
    let mut removed_by_anchor: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    for index in removed {
        removed_by_anchor.entry(old_anchors[*index]).or_default().push(*index);
    }
    let mut added_by_anchor: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    for index in added {
        added_by_anchor.entry(new_anchors[*index]).or_default().push(*index);
    }
    let mut renames = Vec::new();
    for (anchor, old_indexes) in &removed_by_anchor {
        let Some(new_indexes) = added_by_anchor.get(anchor) else { continue };
        for (old_index, new_index) in old_indexes.iter().zip(new_indexes) {
            if same_shape(&old[*old_index], &new[*new_index]) {
                renames.push((*old_index, *new_index));
            }
        }
    }
    renames.sort_unstable();
    renames
}

fn same_shape(old: &Node, new: &Node) -> bool {
    let same_type = match (&old.level_type, &new.level_type) {
        (Some(old_type), Some(new_type)) => compare_types(old_type, new_type) == TypeRelation::Same,
        _ => false,
    };
    let names = |node: &Node| node.children.iter().map(|child| child.name.clone()).collect::<Vec<_>>();
    same_type && names(old) == names(new)
}
