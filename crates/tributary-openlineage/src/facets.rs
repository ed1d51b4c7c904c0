//! Validation of standard facets against the bundled OpenLineage facet schemas.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;
use tributary_model::JsonView;

#[path = "bundled.rs"]
mod bundled;

/// Where a facet sits in an event; a facet key is standard only in its own place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FacetPlace {
    Run,
    Job,
    Dataset,
    InputDataset,
    OutputDataset,
}

impl FacetPlace {
    fn from_core_definition(definition: &str) -> Option<Self> {
        Some(match definition {
            "RunFacet" => Self::Run,
            "JobFacet" => Self::Job,
            "DatasetFacet" => Self::Dataset,
            "InputDatasetFacet" => Self::InputDataset,
            "OutputDatasetFacet" => Self::OutputDataset,
            _ => return None,
        })
    }
}

pub(crate) struct FacetValidators {
    by_place_and_key: HashMap<(FacetPlace, String), jsonschema::Validator>,
}

/// Serves the bundled schemas to the validator by their `$id`; nothing is fetched.
struct BundledSchemas {
    by_id: HashMap<String, Value>,
}

impl jsonschema::Retrieve for BundledSchemas {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let text = uri.as_str();
        let without_fragment = text.split('#').next().unwrap_or(text);
        self.by_id.get(without_fragment).cloned().ok_or_else(|| format!("schema `{text}` is not bundled").into())
    }
}

fn schema_id(schema: &Value) -> Option<String> {
    schema.get("$id")?.as_str().map(str::to_owned)
}

impl FacetValidators {
    fn build() -> Self {
        // The bundled files are fixed at compile time and covered by tests, so a parse
        // failure here is a build defect, not bad input.
        let core: Value = serde_json::from_str(bundled::CORE_SCHEMA).expect("bundled core schema parses");
        let facet_schemas: Vec<Value> = bundled::FACET_SCHEMAS
            .iter()
            .map(|text| serde_json::from_str(text).expect("bundled facet schema parses"))
            .collect();
        let mut by_id = HashMap::new();
        by_id.insert(schema_id(&core).expect("core schema has $id"), core);
        for schema in &facet_schemas {
            by_id.insert(schema_id(schema).expect("facet schema has $id"), schema.clone());
        }
        let mut by_place_and_key = HashMap::new();
        for schema in &facet_schemas {
            let id = schema_id(schema).expect("facet schema has $id");
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else { continue };
            for (key, property) in properties {
                let Some(reference) = property.get("$ref").and_then(Value::as_str) else { continue };
                let Some(definition) = reference.strip_prefix("#/$defs/") else { continue };
                let Some(place) = place_of(schema, definition) else { continue };
                let wrapper = serde_json::json!({ "$ref": format!("{id}#/$defs/{definition}") });
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(false)
                    .with_retriever(BundledSchemas { by_id: by_id.clone() })
                    .build(&wrapper)
                    .expect("bundled facet schema compiles");
                by_place_and_key.insert((place, key.clone()), validator);
            }
        }
        Self { by_place_and_key }
    }

    pub(crate) fn get() -> &'static Self {
        static VALIDATORS: OnceLock<FacetValidators> = OnceLock::new();
        VALIDATORS.get_or_init(Self::build)
    }

    /// [`Self::check`] of a facet read through any [`JsonView`]: the facets most events carry
    /// in bulk (`schema`, `columnLineage`, `ownership` of a dataset) are recognised as valid by
    /// [`surely_valid`] without a `Value`; anything else, and every facet that check does not
    /// pass, is built as a `Value` and validated against its schema (which words the error).
    pub(crate) fn check_view<'a>(
        &self,
        place: FacetPlace,
        key: &str,
        facet: impl JsonView<'a>,
    ) -> Result<(), (String, String)> {
        if surely_valid(place, key, facet) == Some(true) {
            return Ok(());
        }
        if !self.by_place_and_key.contains_key(&(place, key.to_owned())) {
            return Ok(());
        }
        facet.with_value(|value| self.check(place, key, value))
    }

    /// Validates a standard facet; custom facets (unknown keys) pass. Returns the
    /// offending path below the facet (dotted, may be empty) and the problem.
    pub(crate) fn check(&self, place: FacetPlace, key: &str, facet: &Value) -> Result<(), (String, String)> {
        let Some(validator) = self.by_place_and_key.get(&(place, key.to_owned())) else {
            return Ok(());
        };
        match validator.validate(facet) {
            Ok(()) => Ok(()),
            Err(_) if legacy_shape_accepted(place, key, facet, validator) => Ok(()),
            Err(error) => Err((pointer_to_path(error.instance_path().as_str()), error.to_string())),
        }
    }
}

/// Legacy shapes still sent by deployed producers, accepted on purpose:
///
/// - `inputFacets.dataQualityMetrics` (deprecated) without `columnMetrics` but with an
///   integer `rowCount`, as the OpenLineage fluentd proxy's own sample event sends it and
///   that proxy's default configuration accepts. Everything else in the facet is still
///   checked against the schema.
fn legacy_shape_accepted(place: FacetPlace, key: &str, facet: &Value, validator: &jsonschema::Validator) -> bool {
    if place != FacetPlace::InputDataset || key != "dataQualityMetrics" {
        return false;
    }
    let Some(object) = facet.as_object() else { return false };
    if object.contains_key("columnMetrics") || !object.get("rowCount").is_some_and(Value::is_i64) {
        return false;
    }
    let mut patched = object.clone();
    patched.insert("columnMetrics".into(), Value::Object(serde_json::Map::new()));
    validator.is_valid(&Value::Object(patched))
}

/// The core definition (`RunFacet`, `DatasetFacet`…) a facet definition extends.
fn place_of(schema: &Value, definition: &str) -> Option<FacetPlace> {
    let all_of = schema.get("$defs")?.get(definition)?.get("allOf")?.as_array()?;
    all_of.iter().find_map(|part| {
        let reference = part.get("$ref")?.as_str()?;
        let (_, core_definition) = reference.split_once("#/$defs/")?;
        FacetPlace::from_core_definition(core_definition)
    })
}

/// `/owners/0/name` -> `owners[0].name`.
fn pointer_to_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push('[');
            path.push_str(&segment);
            path.push(']');
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    path
}

/// Whether a dataset's `schema` (1-2-0), `columnLineage` (1-2-0) or `ownership` (1-0-1) facet
/// certainly matches its bundled schema, checked by hand: `Some(true)` only when every keyword
/// of the schema holds (every number asked to be an integer is one `serde_json` reads as
/// such); `Some(false)` when that is not certain, and `None` for other facets. Both leave the
/// verdict to the schema itself. The tests hold this to the schema on generated facets.
pub(crate) fn surely_valid<'a>(place: FacetPlace, key: &str, facet: impl JsonView<'a>) -> Option<bool> {
    if place != FacetPlace::Dataset {
        return None;
    }
    let check: fn(_) -> bool = match key {
        "schema" => |facet| optional_list(facet, "fields", schema_field),
        "columnLineage" => column_lineage,
        "ownership" => {
            |facet| optional_list(facet, "owners", |owner| required_str(owner, "name") && optional_str(owner, "type"))
        }
        _ => return None,
    };
    Some(dataset_facet_base(facet) && check(facet))
}

/// `DatasetFacet`: an object with string `_producer` and `_schemaURL` and an optional boolean
/// `_deleted` (formats are not checked).
fn dataset_facet_base<'a>(facet: impl JsonView<'a>) -> bool {
    facet.is_object()
        && required_str(facet, "_producer")
        && required_str(facet, "_schemaURL")
        && facet.get("_deleted").is_none_or(|deleted| deleted.as_bool().is_some())
}

fn required_str<'a>(object: impl JsonView<'a>, key: &str) -> bool {
    object.get(key).is_some_and(|value| value.as_str().is_some())
}

fn optional_str<'a>(object: impl JsonView<'a>, key: &str) -> bool {
    object.get(key).is_none_or(|value| value.as_str().is_some())
}

/// An absent member, or an array whose every element passes `item`.
fn optional_list<'a, V: JsonView<'a>>(object: V, key: &str, item: impl Fn(V) -> bool) -> bool {
    match object.get(key) {
        None => true,
        Some(list) => list.items().is_some_and(|mut items| items.all(item)),
    }
}

/// `SchemaDatasetFacetFields`, nested fields included.
fn schema_field<'a, V: JsonView<'a>>(field: V) -> bool {
    field.is_object()
        && required_str(field, "name")
        && optional_str(field, "type")
        && optional_str(field, "description")
        && field
            .get("ordinal_position")
            .is_none_or(|position| position.as_number().is_some_and(|n| n.is_i64() || n.is_u64()))
        && optional_list(field, "fields", schema_field)
}

fn column_lineage<'a, V: JsonView<'a>>(facet: V) -> bool {
    let input_field = |input: V| {
        input.is_object()
            && required_str(input, "namespace")
            && required_str(input, "name")
            && required_str(input, "field")
            && optional_list(input, "transformations", |transformation| {
                transformation.is_object()
                    && required_str(transformation, "type")
                    && optional_str(transformation, "subtype")
                    && optional_str(transformation, "description")
                    && transformation.get("masking").is_none_or(|masking| masking.as_bool().is_some())
            })
    };
    let output_field = |entry: V| {
        entry.is_object()
            && entry.get("inputFields").is_some_and(|list| list.items().is_some_and(|mut items| items.all(input_field)))
            && optional_str(entry, "transformationDescription")
            && optional_str(entry, "transformationType")
    };
    facet
        .get("fields")
        .is_some_and(|fields| fields.members().is_some_and(|mut members| members.all(|(_, entry)| output_field(entry))))
        && optional_list(facet, "dataset", input_field)
}
