//! Validation of standard facets against the bundled OpenLineage facet schemas.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

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
