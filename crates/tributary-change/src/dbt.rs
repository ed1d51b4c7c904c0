//! dbt model properties YAML (`models: [..]`) to [`Schema`].
//!
//! The YAML is the model's whole declaration of columns, constraints and tests, so what it
//! does not declare is absent: a column without `not_null` is nullable, a model without key
//! constraints has none (`Some(vec![])`). Configuration that may also live in
//! `dbt_project.yml` (contract enforcement, partitioning) stays `None` when the file is silent.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::openlineage::{foreign_key_target, scalar_text, too_many_fields};
use crate::schema::{Field, ForeignKey, MAX_FIELD_DEPTH, MAX_SCHEMA_FIELDS, Schema, SchemaError};

/// Reads one model of a dbt properties file.
///
/// `model` names the model when the file has several; `name.v2` picks a model version
/// (dbt model versions, with `include`/`exclude` resolved), and a versioned model named
/// without a version reads its latest version. Columns named `address.zip` nest under an
/// `address` column when there is one.
///
/// Read from columns: `data_type`, `description`, `tags`, `constraints` (`not_null`,
/// `unique`, `primary_key`, `foreign_key`), and the tests under `data_tests` or `tests`:
/// `not_null`, `unique`, `accepted_values`, `relationships`, `dbt_utils.accepted_range`,
/// and the `dbt_expectations` range, length, regex and set tests. Tests with a `where`
/// config hold for some rows only and are skipped. From the model: `config.contract.enforced`,
/// `config.partition_by`/`partitioned_by`, `deprecation_date`, model-level `constraints`
/// and `dbt_utils.unique_combination_of_columns`.
pub fn schema_from_dbt_contract(yaml: &str, model: Option<&str>) -> Result<Schema, SchemaError> {
    crate::yaml::check_yaml_limits(yaml).map_err(|error| SchemaError::new("$", error.to_string()))?;
    let mut document: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(yaml).map_err(|error| SchemaError::new("$", format!("is not valid YAML: {error}")))?;
    document.apply_merge().map_err(|error| SchemaError::new("$", format!("has a bad YAML merge key: {error}")))?;
    let document: Value = serde_json::to_value(&document)
        .map_err(|error| SchemaError::new("$", format!("cannot be read as dbt properties: {error}")))?;
    let models = match document.get("models") {
        Some(Value::Array(models)) => models,
        Some(_) => return Err(SchemaError::new("models", "must be an array")),
        None => return Err(SchemaError::new("models", "is required")),
    };
    let mut names = Vec::with_capacity(models.len());
    for (index, entry) in models.iter().enumerate() {
        match entry.get("name") {
            Some(Value::String(name)) => names.push(name.as_str()),
            _ => return Err(SchemaError::new(format!("models[{index}].name"), "is required")),
        }
    }
    let (wanted_name, wanted_version) = match model {
        Some(selection) => match selection.split_once('.') {
            Some((name, version)) => (Some(name), Some(version.strip_prefix(['v', 'V']).unwrap_or(version).to_owned())),
            None => (Some(selection), None),
        },
        None => (None, None),
    };
    let index = match wanted_name {
        Some(wanted) => names.iter().position(|name| *name == wanted).ok_or_else(|| {
            SchemaError::new("models", format!("no model named `{wanted}`; the file defines {}", name_list(&names)))
        })?,
        None => match names.len() {
            0 => return Err(SchemaError::new("models", "is empty")),
            1 => 0,
            count => {
                return Err(SchemaError::new(
                    "models",
                    format!("the file defines {count} models ({}); name the one to read", name_list(&names)),
                ));
            }
        },
    };
    let at = format!("models[{index}]");
    let Value::Object(model_entry) = &models[index] else {
        return Err(SchemaError::new(at, "must be a mapping"));
    };
    let version = select_version(model_entry, names[index], wanted_version.as_deref(), &at)?;
    read_model(model_entry, &at, version)
}

fn name_list(names: &[&str]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

/// One entry of a model's `versions`, and where it sits in the file.
struct SelectedVersion<'a> {
    entry: &'a Map<String, Value>,
    at: String,
}

/// The version entry to read, or `None` for an unversioned model.
fn select_version<'a>(
    model: &'a Map<String, Value>,
    name: &str,
    wanted: Option<&str>,
    at: &str,
) -> Result<Option<SelectedVersion<'a>>, SchemaError> {
    let versions = match model.get("versions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(versions)) => versions.iter().collect(),
        Some(_) => return Err(SchemaError::new(format!("{at}.versions"), "must be an array")),
    };
    if versions.is_empty() {
        return match wanted {
            Some(version) => Err(SchemaError::new(
                format!("{at}.versions"),
                format!("model `{name}` is not versioned, so it has no version `{version}`"),
            )),
            None => Ok(None),
        };
    }
    let mut labels = Vec::with_capacity(versions.len());
    for (index, version) in versions.iter().enumerate() {
        match version.get("v") {
            Some(label) if !label.is_null() => labels.push(scalar_text(label)),
            _ => return Err(SchemaError::new(format!("{at}.versions[{index}].v"), "is required")),
        }
    }
    let wanted = match wanted {
        Some(version) => version.to_owned(),
        // dbt's rule: `latest_version`, else the highest version (numerically when all are numbers).
        None => match model.get("latest_version").filter(|value| !value.is_null()) {
            Some(latest) => scalar_text(latest),
            None => latest_label(&labels),
        },
    };
    let index = labels.iter().position(|label| *label == wanted).ok_or_else(|| {
        let choices: Vec<String> = labels.iter().map(|label| format!("{name}.v{label}")).collect();
        let choices: Vec<&str> = choices.iter().map(String::as_str).collect();
        SchemaError::new(
            format!("{at}.versions"),
            format!("model `{name}` has no version `{wanted}`; it has {}", name_list(&choices)),
        )
    })?;
    match versions[index] {
        Value::Object(entry) => Ok(Some(SelectedVersion { entry, at: format!("{at}.versions[{index}]") })),
        _ => Err(SchemaError::new(format!("{at}.versions[{index}]"), "must be a mapping")),
    }
}

fn latest_label(labels: &[String]) -> String {
    let numbers: Option<Vec<f64>> = labels.iter().map(|label| label.parse::<f64>().ok()).collect();
    match numbers {
        Some(numbers) => {
            let mut best = 0;
            for (index, number) in numbers.iter().enumerate() {
                if *number > numbers[best] {
                    best = index;
                }
            }
            labels[best].clone()
        }
        None => labels.iter().max().cloned().unwrap_or_default(),
    }
}

/// A column as declared, before dotted names are nested. Its keys stay with it until model
/// versions have decided which columns survive.
struct Column {
    field: Field,
    not_null: bool,
    keys: Keys,
}

#[derive(Default)]
struct Keys {
    primary_key: Vec<String>,
    unique: Vec<Vec<String>>,
    foreign_keys: Vec<ForeignKey>,
    not_null: Vec<String>,
    /// What `primary_key` (as built by [`Keys::merge`]), `unique` and `foreign_keys` hold, so
    /// adding one of thousands of keys is a lookup, not a scan of the list.
    seen_primary: HashSet<String>,
    seen_unique: HashSet<Vec<String>>,
    seen_foreign: HashSet<ForeignKey>,
}

impl Keys {
    fn add_unique(&mut self, mut columns: Vec<String>) {
        columns.sort();
        if self.seen_unique.insert(columns.clone()) {
            self.unique.push(columns);
        }
    }

    fn add_foreign_key(&mut self, foreign_key: ForeignKey) {
        if self.seen_foreign.insert(foreign_key.clone()) {
            self.foreign_keys.push(foreign_key);
        }
    }

    fn merge(&mut self, other: Keys) {
        for column in other.primary_key {
            if self.seen_primary.insert(column.clone()) {
                self.primary_key.push(column);
            }
        }
        for unique in other.unique {
            self.add_unique(unique);
        }
        for foreign_key in other.foreign_keys {
            self.add_foreign_key(foreign_key);
        }
        self.not_null.extend(other.not_null);
    }
}

fn read_model(
    model: &Map<String, Value>,
    at: &str,
    version: Option<SelectedVersion<'_>>,
) -> Result<Schema, SchemaError> {
    let mut columns = read_columns(model.get("columns"), &format!("{at}.columns"))?;
    let mut config = object_or_empty(model.get("config"), &format!("{at}.config"))?;
    let mut constraints = (model.get("constraints"), format!("{at}.constraints"));
    let mut model_tests = vec![tests_of(model, at)];
    let mut deprecation_date = model.get("deprecation_date").filter(|value| !value.is_null()).map(scalar_text);

    if let Some(SelectedVersion { entry, at: version_at }) = &version {
        columns = resolve_version_columns(columns, entry, version_at)?;
        for (key, value) in object_or_empty(entry.get("config"), &format!("{version_at}.config"))? {
            config.insert(key, value);
        }
        if entry.get("constraints").is_some() {
            constraints = (entry.get("constraints"), format!("{version_at}.constraints"));
        }
        model_tests.push(tests_of(entry, version_at));
        if let Some(date) = entry.get("deprecation_date").filter(|value| !value.is_null()) {
            deprecation_date = Some(scalar_text(date));
        }
    }
    if deprecation_date.is_none() {
        deprecation_date = config.get("deprecation_date").filter(|value| !value.is_null()).map(scalar_text);
    }

    let mut keys = Keys::default();
    for column in &mut columns {
        keys.merge(std::mem::take(&mut column.keys));
    }
    read_model_constraints(constraints.0, &constraints.1, &mut keys)?;
    for (tests, tests_at) in model_tests.into_iter().flatten() {
        read_model_tests(tests, &tests_at, &mut keys)?;
    }

    let contract_enforced = match config.get("contract").or(model.get("contract")) {
        Some(Value::Object(contract)) => match contract.get("enforced") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(enforced)) => Some(*enforced),
            Some(_) => return Err(SchemaError::new(format!("{at}.config.contract.enforced"), "must be a boolean")),
        },
        _ => None,
    };
    let partition_keys = match config.get("partition_by").or(config.get("partitioned_by")) {
        None | Some(Value::Null) => None,
        Some(Value::String(column)) => Some(vec![column.clone()]),
        Some(Value::Array(columns)) => Some(columns.iter().map(scalar_text).collect()),
        // BigQuery: `{field: created_at, data_type: timestamp, granularity: day}`.
        Some(Value::Object(spec)) => match spec.get("field") {
            Some(Value::String(column)) => Some(vec![column.clone()]),
            _ => return Err(SchemaError::new(format!("{at}.config.partition_by.field"), "is required")),
        },
        Some(_) => return Err(SchemaError::new(format!("{at}.config.partition_by"), "must name columns")),
    };

    if columns.len() > MAX_SCHEMA_FIELDS {
        let columns_at = match &version {
            Some(SelectedVersion { at: version_at, .. }) => format!("{version_at}.columns"),
            None => format!("{at}.columns"),
        };
        return Err(SchemaError::new(
            columns_at,
            format!("gives the model {} columns; at most {MAX_SCHEMA_FIELDS} are accepted", columns.len()),
        ));
    }
    let required: HashSet<&str> = keys.not_null.iter().chain(&keys.primary_key).map(String::as_str).collect();
    let flat: Vec<Field> = columns
        .into_iter()
        .map(|column| {
            let mut field = column.field;
            field.nullable = Some(!(column.not_null || required.contains(field.name.as_str())));
            field
        })
        .collect();
    let fields = nest_dotted(flat, &format!("{at}.columns"))?;

    Ok(Schema {
        fields,
        primary_key: Some(keys.primary_key),
        unique_keys: Some(keys.unique),
        foreign_keys: Some(keys.foreign_keys),
        partition_keys,
        contract_enforced,
        deprecation_date,
    })
}

fn object_or_empty(value: Option<&Value>, at: &str) -> Result<Map<String, Value>, SchemaError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(_) => Err(SchemaError::new(at, "must be a mapping")),
    }
}

fn tests_of<'a>(entry: &'a Map<String, Value>, at: &str) -> Option<(&'a Value, String)> {
    ["data_tests", "tests"]
        .iter()
        .find_map(|key| entry.get(*key).filter(|value| !value.is_null()).map(|tests| (tests, format!("{at}.{key}"))))
}

fn read_columns(value: Option<&Value>, at: &str) -> Result<Vec<Column>, SchemaError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(SchemaError::new(at, "must be an array")),
    };
    let mut columns: Vec<Column> = Vec::with_capacity(items.len());
    let mut names = HashSet::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if index >= MAX_SCHEMA_FIELDS {
            return Err(too_many_fields(format!("{at}[{index}]")));
        }
        let column = read_column(item, &format!("{at}[{index}]"))?;
        if !names.insert(column.field.name.clone()) {
            return Err(SchemaError::new(
                format!("{at}[{index}].name"),
                format!("column `{}` is declared twice", column.field.name),
            ));
        }
        columns.push(column);
    }
    Ok(columns)
}

fn read_column(item: &Value, at: &str) -> Result<Column, SchemaError> {
    let Value::Object(entry) = item else {
        return Err(SchemaError::new(at, "must be a mapping"));
    };
    let name = match entry.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        Some(Value::String(_)) => return Err(SchemaError::new(format!("{at}.name"), "must not be empty")),
        None | Some(Value::Null) => return Err(SchemaError::new(format!("{at}.name"), "is required")),
        Some(_) => return Err(SchemaError::new(format!("{at}.name"), "must be a string")),
    };
    let mut field = Field { name: name.clone(), ..Field::default() };
    field.data_type = optional_string(entry, "data_type", at)?;
    field.description = optional_string(entry, "description", at)?;
    field.tags = string_list(entry.get("tags"), &format!("{at}.tags"))?;
    if let Some(Value::Object(config)) = entry.get("config") {
        let mut seen: HashSet<String> = field.tags.iter().cloned().collect();
        for tag in string_list(config.get("tags"), &format!("{at}.config.tags"))? {
            if seen.insert(tag.clone()) {
                field.tags.push(tag);
            }
        }
    }
    let mut not_null = false;
    let mut keys = Keys::default();

    if let Some(constraints) = entry.get("constraints").filter(|value| !value.is_null()) {
        let Value::Array(constraints) = constraints else {
            return Err(SchemaError::new(format!("{at}.constraints"), "must be an array"));
        };
        for (index, constraint) in constraints.iter().enumerate() {
            let constraint_at = format!("{at}.constraints[{index}]");
            let Value::Object(constraint) = constraint else {
                return Err(SchemaError::new(constraint_at, "must be a mapping"));
            };
            match constraint.get("type").and_then(Value::as_str) {
                Some("not_null") => not_null = true,
                Some("unique") => keys.add_unique(vec![name.clone()]),
                Some("primary_key") => keys.primary_key.push(name.clone()),
                Some("foreign_key") => {
                    let references = foreign_key_target(constraint).ok_or_else(|| {
                        SchemaError::new(constraint_at.clone(), "a foreign key needs `to` or `expression`")
                    })?;
                    keys.add_foreign_key(ForeignKey { columns: vec![name.clone()], references });
                }
                // `check` expressions are SQL we do not interpret; `custom` likewise.
                Some(_) => {}
                None => return Err(SchemaError::new(format!("{constraint_at}.type"), "is required")),
            }
        }
    }

    if let Some((tests, tests_at)) = tests_of(entry, at) {
        let Value::Array(tests) = tests else {
            return Err(SchemaError::new(tests_at, "must be an array"));
        };
        for (index, test) in tests.iter().enumerate() {
            let test_at = format!("{tests_at}[{index}]");
            let Some(TestCall { name: test_name, arguments }) = test_call(test, &test_at)? else { continue };
            match test_name.as_str() {
                "not_null" => not_null = true,
                "unique" => keys.add_unique(vec![name.clone()]),
                "accepted_values" | "dbt_expectations.expect_column_values_to_be_in_set" => {
                    let key = if test_name == "accepted_values" { "values" } else { "value_set" };
                    match arguments.get(key) {
                        Some(Value::Array(values)) => {
                            field.enum_values = Some(values.iter().map(scalar_text).collect());
                        }
                        _ => return Err(SchemaError::new(format!("{test_at}.{key}"), "must be an array")),
                    }
                }
                "relationships" => {
                    let to = arguments.get("to").and_then(Value::as_str);
                    let referenced = arguments.get("field").or(arguments.get("column_name")).and_then(Value::as_str);
                    match (to, referenced) {
                        (Some(to), Some(referenced)) => keys.add_foreign_key(ForeignKey {
                            columns: vec![name.clone()],
                            references: format!("{}({referenced})", to.trim()),
                        }),
                        _ => return Err(SchemaError::new(test_at, "relationships needs `to` and `field`")),
                    }
                }
                "dbt_utils.accepted_range" | "dbt_expectations.expect_column_values_to_be_between" => {
                    if let Some(minimum) = arguments.get("min_value").and_then(Value::as_f64) {
                        field.minimum = Some(minimum);
                    }
                    if let Some(maximum) = arguments.get("max_value").and_then(Value::as_f64) {
                        field.maximum = Some(maximum);
                    }
                }
                "dbt_expectations.expect_column_value_lengths_to_be_between" => {
                    if let Some(length) = arguments.get("max_value").and_then(Value::as_u64) {
                        field.max_length = Some(length);
                    }
                }
                "dbt_expectations.expect_column_values_to_match_regex" => {
                    if let Some(Value::String(pattern)) = arguments.get("regex") {
                        field.pattern = Some(pattern.clone());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(Column { field, not_null, keys })
}

/// A data test as written under `data_tests`, with its arguments flattened.
struct TestCall {
    name: String,
    arguments: Map<String, Value>,
}

/// A test entry as a [`TestCall`], or `None` for a conditional test (`where` config),
/// which holds for some rows only. Arguments may sit under `arguments:` (dbt 1.10+).
fn test_call(test: &Value, at: &str) -> Result<Option<TestCall>, SchemaError> {
    match test {
        Value::String(name) => Ok(Some(TestCall { name: name.clone(), arguments: Map::new() })),
        Value::Object(entry) => {
            let Some((name, body)) = entry.iter().next() else {
                return Err(SchemaError::new(at, "must name a test"));
            };
            let body = match body {
                Value::Null => Map::new(),
                Value::Object(body) => body.clone(),
                _ => return Err(SchemaError::new(format!("{at}.{name}"), "must be a mapping")),
            };
            let conditional = body.get("where").is_some()
                || body.get("config").and_then(|config| config.get("where")).is_some_and(|value| !value.is_null());
            if conditional {
                return Ok(None);
            }
            let mut arguments = body.clone();
            if let Some(Value::Object(nested)) = body.get("arguments") {
                arguments.extend(nested.clone());
            }
            Ok(Some(TestCall { name: name.clone(), arguments }))
        }
        _ => Err(SchemaError::new(at, "must be a test name or a mapping")),
    }
}

fn read_model_constraints(value: Option<&Value>, at: &str, keys: &mut Keys) -> Result<(), SchemaError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(SchemaError::new(at, "must be an array")),
    };
    for (index, item) in items.iter().enumerate() {
        let item_at = format!("{at}[{index}]");
        let Value::Object(constraint) = item else {
            return Err(SchemaError::new(item_at, "must be a mapping"));
        };
        let columns = string_list(constraint.get("columns"), &format!("{item_at}.columns"))?;
        match constraint.get("type").and_then(Value::as_str) {
            Some("primary_key") => keys.primary_key = columns,
            Some("unique") => keys.add_unique(columns),
            Some("not_null") => keys.not_null.extend(columns),
            Some("foreign_key") => {
                let references = foreign_key_target(constraint)
                    .ok_or_else(|| SchemaError::new(item_at.clone(), "a foreign key needs `to` or `expression`"))?;
                keys.add_foreign_key(ForeignKey { columns, references });
            }
            Some(_) => {}
            None => return Err(SchemaError::new(format!("{item_at}.type"), "is required")),
        }
    }
    Ok(())
}

fn read_model_tests(value: &Value, at: &str, keys: &mut Keys) -> Result<(), SchemaError> {
    let Value::Array(tests) = value else {
        return Err(SchemaError::new(at, "must be an array"));
    };
    for (index, test) in tests.iter().enumerate() {
        let test_at = format!("{at}[{index}]");
        let Some(TestCall { name, arguments }) = test_call(test, &test_at)? else { continue };
        if name == "dbt_utils.unique_combination_of_columns" {
            let columns =
                string_list(arguments.get("combination_of_columns"), &format!("{test_at}.combination_of_columns"))?;
            keys.add_unique(columns);
        }
    }
    Ok(())
}

/// dbt model versions: start from the top-level columns filtered by `include`/`exclude`
/// (default: all), then let version-specific columns override by name or add.
fn resolve_version_columns(
    base: Vec<Column>,
    version: &Map<String, Value>,
    at: &str,
) -> Result<Vec<Column>, SchemaError> {
    let items = match version.get("columns") {
        None | Some(Value::Null) => return Ok(base),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(SchemaError::new(format!("{at}.columns"), "must be an array")),
    };
    let mut include: Option<Vec<String>> = None;
    let mut exclude: Vec<String> = Vec::new();
    let mut overrides = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_at = format!("{at}.columns[{index}]");
        match item.get("include") {
            Some(Value::String(all)) if all == "*" || all == "all" => {
                exclude = string_list(item.get("exclude"), &format!("{item_at}.exclude"))?;
            }
            Some(Value::Array(_)) => include = Some(string_list(item.get("include"), &format!("{item_at}.include"))?),
            Some(_) => return Err(SchemaError::new(format!("{item_at}.include"), "must be `*`, `all` or a list")),
            None => overrides.push(read_column(item, &item_at)?),
        }
    }
    let include: Option<HashSet<String>> = include.map(|names| names.into_iter().collect());
    let exclude: HashSet<String> = exclude.into_iter().collect();
    let mut columns: Vec<Column> = base
        .into_iter()
        .filter(|column| include.as_ref().is_none_or(|names| names.contains(&column.field.name)))
        .filter(|column| !exclude.contains(&column.field.name))
        .collect();
    let mut positions: HashMap<String, usize> =
        columns.iter().enumerate().map(|(position, column)| (column.field.name.clone(), position)).collect();
    for column in overrides {
        match positions.get(&column.field.name) {
            Some(&position) => columns[position] = column,
            None => {
                positions.insert(column.field.name.clone(), columns.len());
                columns.push(column);
            }
        }
    }
    Ok(columns)
}

/// `address.zip` becomes field `zip` under `address` when a column `address` exists, so
/// nested paths read the same as in OpenLineage. A column's parent is the longest dotted
/// prefix of its name that is a column; prefixes are found through a tree of name segments,
/// so the cost is linear in the names' length however many columns and dots there are.
fn nest_dotted(flat: Vec<Field>, at: &str) -> Result<Vec<Field>, SchemaError> {
    // Segment tree: node 0 is the root; `children` maps (node, segment) to a node, and
    // `column_at` says which column (if any) a node's dotted path names.
    let mut children: HashMap<(usize, &str), usize> = HashMap::new();
    let mut column_at: Vec<Option<usize>> = vec![None];
    let mut parents: Vec<Option<usize>> = Vec::with_capacity(flat.len());
    for (index, field) in flat.iter().enumerate() {
        let mut node = 0;
        for segment in field.name.split('.') {
            let next = column_at.len();
            node = *children.entry((node, segment)).or_insert(next);
            if node == next {
                column_at.push(None);
            }
        }
        column_at[node] = Some(index);
    }
    for field in &flat {
        // The deepest proper prefix (in whole segments) that names a column.
        let mut node = 0;
        let mut parent = None;
        let segments: Vec<&str> = field.name.split('.').collect();
        for segment in &segments[..segments.len() - 1] {
            // Every prefix of a name is in the tree: the name itself put it there.
            node = children[&(node, *segment)];
            if let Some(column) = column_at[node] {
                parent = Some(column);
            }
        }
        parents.push(parent);
    }
    // Depth of each column, parents first: a parent's name is shorter than its child's.
    let mut by_length: Vec<usize> = (0..flat.len()).collect();
    by_length.sort_by_key(|index| flat[*index].name.len());
    let mut depths = vec![1; flat.len()];
    for index in by_length {
        if let Some(parent) = parents[index] {
            depths[index] = depths[parent] + 1;
            if depths[index] > MAX_FIELD_DEPTH {
                return Err(SchemaError::new(
                    at,
                    format!(
                        "column `{}` nests deeper than {MAX_FIELD_DEPTH} levels under dotted names; at most {MAX_FIELD_DEPTH} are accepted",
                        flat[index].name
                    ),
                ));
            }
        }
    }
    let mut nested_under: Vec<Vec<usize>> = vec![Vec::new(); flat.len()];
    let mut roots = Vec::new();
    for (index, parent) in parents.iter().enumerate() {
        match parent {
            Some(parent) => nested_under[*parent].push(index),
            None => roots.push(index),
        }
    }
    let mut slots: Vec<Option<Field>> = flat.into_iter().map(Some).collect();
    Ok(build_level(&roots, None, &nested_under, &mut slots))
}

/// The fields at `indexes`, each with its nested fields, renamed relative to `parent_name`.
/// Recursion is as deep as the nesting, which [`nest_dotted`] bounds.
fn build_level(
    indexes: &[usize],
    parent_name: Option<&str>,
    nested_under: &[Vec<usize>],
    slots: &mut [Option<Field>],
) -> Vec<Field> {
    let mut fields = Vec::with_capacity(indexes.len());
    for &index in indexes {
        // Each column has one parent, so each slot is taken once.
        let Some(mut field) = slots[index].take() else { continue };
        field.fields = build_level(&nested_under[index], Some(&field.name), nested_under, slots);
        if let Some(parent_name) = parent_name {
            field.name = field.name[parent_name.len() + 1..].to_owned();
        }
        fields.push(field);
    }
    fields
}

fn optional_string(entry: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, SchemaError> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(SchemaError::new(format!("{at}.{key}"), "must be a string")),
    }
}

/// A string or a list of scalars, as strings.
fn string_list(value: Option<&Value>, at: &str) -> Result<Vec<String>, SchemaError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(scalar_text(item)),
                _ => Err(SchemaError::new(format!("{at}[{index}]"), "must be a string")),
            })
            .collect(),
        Some(_) => Err(SchemaError::new(at, "must be a string or a list of strings")),
    }
}
