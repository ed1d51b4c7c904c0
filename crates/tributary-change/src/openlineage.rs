//! OpenLineage `schema` dataset facet to [`Schema`].
//!
//! The facet standardises `name`, `type`, `description`, `ordinal_position` and nested
//! `fields`; everything else here is an extra some producers add, read when present.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::schema::{Field, ForeignKey, MAX_FIELD_DEPTH, MAX_SCHEMA_FIELDS, Schema, SchemaError};
use crate::types::{DataType, StructField, normalize_type, parse_spelling};

/// Reads a whole `schema` facet (`{"fields": [..], ..}`) or just its fields array.
///
/// Besides the standard keys, fields may carry `nullable` (bool), `required` (bool), `mode`
/// (BigQuery `REQUIRED`/`NULLABLE`/`REPEATED`), `constraints` (an object with `maxLength`,
/// `pattern`, `minimum`, `maximum`, `notNull`, `unique`, `primaryKey`, or a dbt-style list),
/// `enum`/`allowed_values`/`allowedValues`, `default`, `tags`, and `maxLength`, `pattern`,
/// `minimum`, `maximum` directly. The facet may carry `primaryKey`/`primary_key`,
/// `uniqueKeys`/`unique_keys`, `foreignKeys`/`foreign_keys` and `partitionKeys`/`partition_keys`.
///
/// Spark's encoding of arrays (`type: "array"` with one `_element` field) and maps (`key` and
/// `value` fields) is folded into the type, so paths stay `items.sku`. Fields are sorted by
/// `ordinal_position` when every field at a level has one. A type spelled with `NOT NULL`
/// says the field is not nullable.
pub fn schema_from_openlineage(value: &Value) -> Result<Schema, SchemaError> {
    let (fields_value, facet) = match value {
        Value::Array(_) => (value, None),
        Value::Object(facet) => match facet.get("fields") {
            Some(fields) => (fields, Some(facet)),
            None => return Err(SchemaError::new("fields", "is required")),
        },
        _ => return Err(SchemaError::new("$", "must be a schema facet object or a fields array")),
    };
    let mut keys = FieldKeys::default();
    let fields = read_fields(fields_value, "fields", "", 1, &mut keys)?;
    let mut schema = Schema { fields, ..Schema::default() };
    if let Some(facet) = facet {
        schema.primary_key = read_key_list(facet, &["primaryKey", "primary_key"])?;
        schema.unique_keys = read_unique_keys(facet)?;
        schema.foreign_keys = read_foreign_keys(facet)?;
        schema.partition_keys = read_key_list(facet, &["partitionKeys", "partition_keys"])?;
    }
    // Keys stated on fields add to the facet-level ones.
    if !keys.primary_key.is_empty() && schema.primary_key.is_none() {
        schema.primary_key = Some(keys.primary_key);
    }
    // Thousands of fields may each declare a key: dedupe through sets, not list scans.
    if !keys.unique.is_empty() {
        let unique_keys = schema.unique_keys.get_or_insert_with(Vec::new);
        let mut seen: HashSet<Vec<String>> = unique_keys.iter().cloned().collect();
        for unique in keys.unique {
            if seen.insert(unique.clone()) {
                unique_keys.push(unique);
            }
        }
    }
    if !keys.foreign_keys.is_empty() {
        let foreign_keys = schema.foreign_keys.get_or_insert_with(Vec::new);
        let mut seen: HashSet<ForeignKey> = foreign_keys.iter().cloned().collect();
        for foreign_key in keys.foreign_keys {
            if seen.insert(foreign_key.clone()) {
                foreign_keys.push(foreign_key);
            }
        }
    }
    Ok(schema)
}

/// What reading the fields gathers besides them: keys declared on fields rather than on the
/// facet, and how many fields were read (at most [`MAX_SCHEMA_FIELDS`]).
#[derive(Default)]
struct FieldKeys {
    primary_key: Vec<String>,
    unique: Vec<Vec<String>>,
    foreign_keys: Vec<ForeignKey>,
    fields_read: usize,
}

/// Reads one level of fields; `depth` is 1 for the top level, at most [`MAX_FIELD_DEPTH`].
fn read_fields(
    value: &Value,
    at: &str,
    parent_path: &str,
    depth: usize,
    keys: &mut FieldKeys,
) -> Result<Vec<Field>, SchemaError> {
    let Value::Array(items) = value else {
        return Err(SchemaError::new(at, "must be an array"));
    };
    if depth > MAX_FIELD_DEPTH {
        return Err(SchemaError::new(
            at,
            format!("nests fields deeper than {MAX_FIELD_DEPTH} levels; at most {MAX_FIELD_DEPTH} are accepted"),
        ));
    }
    let mut fields = Vec::with_capacity(items.len());
    let mut ordinals = Vec::with_capacity(items.len());
    let mut positions: HashMap<String, usize> = HashMap::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_at = format!("{at}[{index}]");
        keys.fields_read += 1;
        if keys.fields_read > MAX_SCHEMA_FIELDS {
            return Err(too_many_fields(item_at));
        }
        let Value::Object(object) = item else {
            return Err(SchemaError::new(item_at, "must be an object"));
        };
        let (field, ordinal) = read_field(object, &item_at, parent_path, depth, keys)?;
        if let Some(first) = positions.get(&field.name) {
            return Err(SchemaError::new(
                format!("{item_at}.name"),
                format!("`{}` is also the name of {at}[{first}]", field.name),
            ));
        }
        positions.insert(field.name.clone(), index);
        fields.push(field);
        ordinals.push(ordinal);
    }
    if !ordinals.is_empty() && ordinals.iter().all(Option::is_some) {
        let mut ordered: Vec<(Option<i64>, Field)> = ordinals.into_iter().zip(fields).collect();
        ordered.sort_by_key(|(ordinal, _)| *ordinal);
        fields = ordered.into_iter().map(|(_, field)| field).collect();
    }
    Ok(fields)
}

/// The error for the first field past [`MAX_SCHEMA_FIELDS`], at `at`.
pub(crate) fn too_many_fields(at: String) -> SchemaError {
    SchemaError::new(
        at,
        format!("is one field too many: a schema may have at most {MAX_SCHEMA_FIELDS} fields, nested ones included"),
    )
}

fn read_field(
    object: &Map<String, Value>,
    at: &str,
    parent_path: &str,
    depth: usize,
    keys: &mut FieldKeys,
) -> Result<(Field, Option<i64>), SchemaError> {
    let name = match object.get("name") {
        None | Some(Value::Null) => return Err(SchemaError::new(format!("{at}.name"), "is required")),
        Some(Value::String(name)) if name.is_empty() => {
            return Err(SchemaError::new(format!("{at}.name"), "must not be empty"));
        }
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(SchemaError::new(format!("{at}.name"), "must be a string")),
    };
    let path = if parent_path.is_empty() { name.clone() } else { format!("{parent_path}.{name}") };
    let mut field = Field { name, ..Field::default() };
    field.data_type = optional_string(object, "type", at)?.filter(|spelling| !spelling.trim().is_empty());
    field.description = optional_string(object, "description", at)?;
    let ordinal = match object.get("ordinal_position") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value.as_i64().ok_or_else(|| SchemaError::new(format!("{at}.ordinal_position"), "must be an integer"))?,
        ),
    };
    if let Some(children) = object.get("fields").filter(|value| !value.is_null()) {
        field.fields = read_fields(children, &format!("{at}.fields"), &path, depth + 1, keys)?;
    }

    // Nullability: explicit booleans first, then BigQuery's mode, then a NOT NULL spelling.
    field.nullable = optional_bool(object, "nullable", at)?;
    // `required` is a boolean in some producers and a JSON Schema list in others; only the
    // boolean says something about this field.
    if field.nullable.is_none()
        && let Some(Value::Bool(required)) = object.get("required")
    {
        field.nullable = Some(!required);
    }
    if let Some(mode) = optional_string(object, "mode", at)? {
        match mode.to_uppercase().as_str() {
            "NULLABLE" => field.nullable = field.nullable.or(Some(true)),
            "REQUIRED" => field.nullable = field.nullable.or(Some(false)),
            // A REPEATED field is an array, and BigQuery never stores a NULL array.
            "REPEATED" => {
                field.nullable = field.nullable.or(Some(false));
                field.data_type = Some(match field.data_type.take() {
                    Some(element) => format!("ARRAY<{element}>"),
                    None => "ARRAY".to_owned(),
                });
            }
            _ => {
                return Err(SchemaError::new(format!("{at}.mode"), "must be REQUIRED, NULLABLE or REPEATED"));
            }
        }
    }
    if let Some(spelling) = &field.data_type {
        let (_, stated) = parse_spelling(spelling);
        if field.nullable.is_none() {
            field.nullable = stated;
        }
    }

    field.enum_values = match ["enum", "allowed_values", "allowedValues"]
        .iter()
        .find_map(|key| object.get(*key).filter(|value| !value.is_null()).map(|value| (*key, value)))
    {
        Some((_, Value::Array(values))) => Some(values.iter().map(scalar_text).collect()),
        Some((key, _)) => return Err(SchemaError::new(format!("{at}.{key}"), "must be an array")),
        None => None,
    };
    field.default =
        ["default", "defaultValue", "default_value"].iter().find_map(|key| object.get(*key)).map(scalar_text);
    field.tags = read_tags(object.get("tags"), &format!("{at}.tags"))?;
    read_field_constraints(object, at, &mut field)?;
    if let Some(constraints) = object.get("constraints").filter(|value| !value.is_null()) {
        read_constraints(constraints, &format!("{at}.constraints"), &path, &mut field, keys)?;
    }
    fold_spark_containers(&mut field);
    Ok((field, ordinal))
}

fn read_field_constraints(object: &Map<String, Value>, at: &str, field: &mut Field) -> Result<(), SchemaError> {
    if let Some(length) = optional_u64(object, &["maxLength", "max_length"], at)? {
        field.max_length = Some(length);
    }
    if let Some(pattern) = optional_string(object, "pattern", at)? {
        field.pattern = Some(pattern);
    }
    if let Some(minimum) = optional_f64(object, &["minimum", "min"], at)? {
        field.minimum = Some(minimum);
    }
    if let Some(maximum) = optional_f64(object, &["maximum", "max"], at)? {
        field.maximum = Some(maximum);
    }
    Ok(())
}

/// `constraints` as an object of facts or as a dbt-style list of `{type: ..}` entries.
fn read_constraints(
    value: &Value,
    at: &str,
    path: &str,
    field: &mut Field,
    keys: &mut FieldKeys,
) -> Result<(), SchemaError> {
    match value {
        Value::Object(object) => {
            read_field_constraints(object, at, field)?;
            if let Some(not_null) = optional_bool(object, "notNull", at)?.or(optional_bool(object, "not_null", at)?) {
                field.nullable = field.nullable.or(Some(!not_null));
            }
            if optional_bool(object, "unique", at)? == Some(true) {
                keys.unique.push(vec![path.to_owned()]);
            }
            if optional_bool(object, "primaryKey", at)?.or(optional_bool(object, "primary_key", at)?) == Some(true) {
                keys.primary_key.push(path.to_owned());
                field.nullable = field.nullable.or(Some(false));
            }
            if let Some(values) = object.get("enum").or(object.get("allowedValues")) {
                let Value::Array(values) = values else {
                    return Err(SchemaError::new(format!("{at}.enum"), "must be an array"));
                };
                field.enum_values = Some(values.iter().map(scalar_text).collect());
            }
            Ok(())
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let item_at = format!("{at}[{index}]");
                let (kind, entry) = match item {
                    Value::String(kind) => (kind.as_str(), None),
                    Value::Object(entry) => match entry.get("type") {
                        Some(Value::String(kind)) => (kind.as_str(), Some(entry)),
                        _ => return Err(SchemaError::new(format!("{item_at}.type"), "is required")),
                    },
                    _ => return Err(SchemaError::new(item_at, "must be a string or an object")),
                };
                match kind {
                    "not_null" => field.nullable = Some(false),
                    "unique" => keys.unique.push(vec![path.to_owned()]),
                    "primary_key" => {
                        keys.primary_key.push(path.to_owned());
                        field.nullable = Some(false);
                    }
                    "foreign_key" => {
                        let references = entry.and_then(foreign_key_target).ok_or_else(|| {
                            SchemaError::new(item_at.clone(), "a foreign key needs `to` or `expression`")
                        })?;
                        keys.foreign_keys.push(ForeignKey { columns: vec![path.to_owned()], references });
                    }
                    // Check expressions cannot be compared meaningfully; other kinds are unknown.
                    _ => {}
                }
            }
            Ok(())
        }
        _ => Err(SchemaError::new(at, "must be an object or an array")),
    }
}

/// `to` + `to_columns` (dbt 1.9) or `expression` (`customers (id)`), as one reference string.
pub(crate) fn foreign_key_target(entry: &Map<String, Value>) -> Option<String> {
    if let Some(Value::String(to)) = entry.get("to") {
        let columns: Vec<String> = match entry.get("to_columns") {
            Some(Value::Array(columns)) => columns.iter().map(scalar_text).collect(),
            Some(Value::String(column)) => vec![column.clone()],
            _ => Vec::new(),
        };
        return Some(format!("{}({})", to.trim(), columns.join(", ")));
    }
    match entry.get("expression") {
        Some(Value::String(expression)) => Some(expression.split_whitespace().collect::<Vec<_>>().join(" ")),
        _ => None,
    }
}

/// Spark writes `array<T>` as `type: "array"` with one `_element` field, and `map<K,V>` as
/// `type: "map"` with `key` and `value` fields. Arrays keep the element's fields as their own,
/// so nested paths skip the element level; maps become one inline type.
fn fold_spark_containers(field: &mut Field) {
    let Some(spelling) = &field.data_type else { return };
    match normalize_type(spelling) {
        DataType::Array { element } if *element == DataType::Unspecified => {
            if field.fields.len() == 1 && field.fields[0].name == "_element" {
                let element = field.fields.remove(0);
                let element_spelling = element.data_type.clone().unwrap_or_default();
                field.data_type = Some(format!("array<{element_spelling}>"));
                field.fields = element.fields;
            } else if !field.fields.is_empty() {
                field.data_type = Some("array<struct>".to_owned());
            }
        }
        DataType::Map { key, value } if *key == DataType::Unspecified && *value == DataType::Unspecified => {
            let part = |name: &str| field.fields.iter().find(|child| child.name == name).map(full_data_type);
            if let (Some(key), Some(value)) = (part("key"), part("value")) {
                field.data_type = Some(DataType::Map { key: Box::new(key), value: Box::new(value) }.to_string());
                field.fields.clear();
            }
        }
        _ => {}
    }
}

/// The field's type with nested fields written into it (`STRUCT<a: INT, ..>`).
pub(crate) fn full_data_type(field: &Field) -> DataType {
    let declared = field.data_type.as_deref().map(normalize_type).unwrap_or(DataType::Unspecified);
    if field.fields.is_empty() {
        return declared;
    }
    let members: Vec<StructField> = field
        .fields
        .iter()
        .map(|child| StructField {
            name: child.name.clone(),
            data_type: full_data_type(child),
            nullable: child.nullable,
        })
        .collect();
    fill_struct(declared, members)
}

fn fill_struct(declared: DataType, members: Vec<StructField>) -> DataType {
    match declared {
        DataType::Array { element } => DataType::Array { element: Box::new(fill_struct(*element, members)) },
        _ => DataType::Struct { fields: members },
    }
}

fn read_tags(value: Option<&Value>, at: &str) -> Result<Vec<String>, SchemaError> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = value else {
        return Err(SchemaError::new(at, "must be an array"));
    };
    let mut tags = Vec::new();
    let mut seen = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let tag = match item {
            Value::String(tag) => tag.clone(),
            // The OpenLineage tags facet: `{key, value}`; a bare `true` value marks a flag.
            Value::Object(object) => {
                let key = object.get("key").or(object.get("name")).and_then(Value::as_str).ok_or_else(|| {
                    SchemaError::new(format!("{at}[{index}]"), "a tag object needs a string `key` or `name`")
                })?;
                match object.get("value").map(scalar_text) {
                    Some(value) if !value.is_empty() && value != "true" => format!("{key}:{value}"),
                    _ => key.to_owned(),
                }
            }
            _ => return Err(SchemaError::new(format!("{at}[{index}]"), "must be a string or an object")),
        };
        if seen.insert(tag.clone()) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

fn read_key_list(facet: &Map<String, Value>, names: &[&str]) -> Result<Option<Vec<String>>, SchemaError> {
    let Some((name, value)) = names.iter().find_map(|name| facet.get(*name).map(|value| (*name, value))) else {
        return Ok(None);
    };
    match value {
        Value::Null => Ok(None),
        Value::String(column) => Ok(Some(vec![column.clone()])),
        Value::Array(columns) => columns
            .iter()
            .enumerate()
            .map(|(index, column)| match column {
                Value::String(column) => Ok(column.clone()),
                _ => Err(SchemaError::new(format!("{name}[{index}]"), "must be a string")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(SchemaError::new(name, "must be an array of column names")),
    }
}

fn read_unique_keys(facet: &Map<String, Value>) -> Result<Option<Vec<Vec<String>>>, SchemaError> {
    let Some((name, value)) =
        ["uniqueKeys", "unique_keys"].iter().find_map(|name| facet.get(*name).map(|value| (*name, value)))
    else {
        return Ok(None);
    };
    let Value::Array(items) = value else {
        return Err(SchemaError::new(name, "must be an array"));
    };
    let mut keys = Vec::new();
    for (index, item) in items.iter().enumerate() {
        // A plain string is a single-column key; an array is a composite one.
        let key = match item {
            Value::String(column) => vec![column.clone()],
            Value::Array(columns) => columns
                .iter()
                .map(|column| {
                    column.as_str().map(str::to_owned).ok_or_else(|| {
                        SchemaError::new(format!("{name}[{index}]"), "must list column names as strings")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(SchemaError::new(format!("{name}[{index}]"), "must be a column name or an array of them")),
        };
        keys.push(key);
    }
    Ok(Some(keys))
}

fn read_foreign_keys(facet: &Map<String, Value>) -> Result<Option<Vec<ForeignKey>>, SchemaError> {
    let Some((name, value)) =
        ["foreignKeys", "foreign_keys"].iter().find_map(|name| facet.get(*name).map(|value| (*name, value)))
    else {
        return Ok(None);
    };
    let Value::Array(items) = value else {
        return Err(SchemaError::new(name, "must be an array"));
    };
    let mut keys = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = format!("{name}[{index}]");
        let Value::Object(object) = item else {
            return Err(SchemaError::new(at, "must be an object"));
        };
        let columns = match object.get("columns").or(object.get("column")) {
            Some(Value::String(column)) => vec![column.clone()],
            Some(Value::Array(columns)) => columns.iter().map(scalar_text).collect(),
            _ => return Err(SchemaError::new(format!("{at}.columns"), "is required")),
        };
        let references = match object.get("references") {
            Some(Value::String(references)) => references.clone(),
            _ => {
                foreign_key_target(object).ok_or_else(|| SchemaError::new(format!("{at}.references"), "is required"))?
            }
        };
        keys.push(ForeignKey { columns, references });
    }
    Ok(Some(keys))
}

/// Strings as they are; other JSON values in their compact JSON form.
pub(crate) fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn optional_string(object: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, SchemaError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(SchemaError::new(format!("{at}.{key}"), "must be a string")),
    }
}

fn optional_bool(object: &Map<String, Value>, key: &str, at: &str) -> Result<Option<bool>, SchemaError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(_) => Err(SchemaError::new(format!("{at}.{key}"), "must be a boolean")),
    }
}

fn optional_u64(object: &Map<String, Value>, keys: &[&str], at: &str) -> Result<Option<u64>, SchemaError> {
    optional_number(object, keys, at, Value::as_u64, "must be a non-negative integer")
}

fn optional_f64(object: &Map<String, Value>, keys: &[&str], at: &str) -> Result<Option<f64>, SchemaError> {
    optional_number(object, keys, at, Value::as_f64, "must be a number")
}

/// The first of `keys` present and not null, read with `read`; an error names the key.
fn optional_number<T>(
    object: &Map<String, Value>,
    keys: &[&str],
    at: &str,
    read: fn(&Value) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, SchemaError> {
    for key in keys {
        match object.get(*key) {
            None | Some(Value::Null) => continue,
            Some(value) => {
                return read(value).map(Some).ok_or_else(|| SchemaError::new(format!("{at}.{key}"), expected));
            }
        }
    }
    Ok(None)
}
