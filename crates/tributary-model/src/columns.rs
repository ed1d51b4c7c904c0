//! Column-level lineage: reading the OpenLineage `columnLineage` facet (1-2-0, and the
//! older shape without `transformations`) into edges between columns.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DatasetId;
use crate::json::JsonView;

/// The field name standing for "every column of the dataset": the target of the facet's
/// dataset-wide `dataset` entries (filters, joins, groupings that affect all rows).
pub const ALL_COLUMNS: &str = "*";

/// DIRECT transformations carry the input's value into the output column; INDIRECT ones
/// (joins, filters, groupings, sorts, windows, conditions) influence it without carrying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TransformationKind {
    Direct,
    Indirect,
}

impl TransformationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "DIRECT",
            Self::Indirect => "INDIRECT",
        }
    }
}

/// One transformation of an input column into an output column.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Transformation {
    pub kind: TransformationKind,
    /// Upper-case subtype as sent (IDENTITY, TRANSFORMATION, AGGREGATION, JOIN, FILTER,
    /// GROUP_BY, SORT, WINDOW, CONDITIONAL…); empty when the producer gave none.
    pub subtype: String,
    pub masking: bool,
    pub description: Option<String>,
}

/// Where a column edge comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EdgeSource {
    /// Sent by the producer in a `columnLineage` facet, as sent.
    #[default]
    Reported,
    /// Sent by the producer without transformations; their kinds were derived from the
    /// job's SQL.
    ReportedKindsFromSql,
    /// Not sent: derived from the job's `sql` facet.
    DerivedFromSql,
}

impl EdgeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "REPORTED",
            Self::ReportedKindsFromSql => "REPORTED_KINDS_FROM_SQL",
            Self::DerivedFromSql => "DERIVED_FROM_SQL",
        }
    }

    pub fn is_reported(&self) -> bool {
        *self == Self::Reported
    }
}

/// An input column feeding an output column (or, with `output_field` = [`ALL_COLUMNS`],
/// every column of the output dataset).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ColumnEdgeSpec {
    pub input: DatasetId,
    pub input_field: String,
    pub output_field: String,
    pub transformations: Vec<Transformation>,
    /// Absent in stored records from earlier builds: reported.
    #[serde(default, skip_serializing_if = "EdgeSource::is_reported")]
    pub source: EdgeSource,
}

impl ColumnEdgeSpec {
    /// Whether the edge carries the input's value: any DIRECT transformation, or none at all
    /// (producers that send no transformations: unknown is taken as carrying the value).
    pub fn is_direct(&self) -> bool {
        self.transformations.is_empty() || self.transformations.iter().any(|t| t.kind == TransformationKind::Direct)
    }

    /// Whether every DIRECT transformation masks the value (stops classification spread).
    pub fn is_masked(&self) -> bool {
        let mut direct = self.transformations.iter().filter(|t| t.kind == TransformationKind::Direct).peekable();
        direct.peek().is_some() && direct.all(|t| t.masking)
    }
}

fn parse_transformation<'a>(value: impl JsonView<'a>) -> Option<Transformation> {
    let kind = match value.get("type")?.as_str()?.to_ascii_uppercase().as_str() {
        "DIRECT" => TransformationKind::Direct,
        "INDIRECT" => TransformationKind::Indirect,
        _ => return None,
    };
    Some(Transformation {
        kind,
        subtype: value.get("subtype").and_then(JsonView::as_str).unwrap_or("").to_ascii_uppercase(),
        masking: value.get("masking").and_then(JsonView::as_bool).unwrap_or(false),
        description: value.get("description").and_then(JsonView::as_str).map(str::to_owned),
    })
}

/// The transformations of one `inputFields` entry. Without `transformations` (events
/// before facet 1-2-0), field entries are DIRECT, named by the deprecated per-field
/// `transformationType` (IDENTITY, or MASKED: masking), and dataset-wide entries are INDIRECT.
fn transformations_of<'a>(
    input: impl JsonView<'a>,
    legacy_type: Option<&str>,
    dataset_wide: bool,
) -> Vec<Transformation> {
    if let Some(list) = input.get("transformations").and_then(JsonView::items) {
        let parsed: Vec<Transformation> = list.filter_map(parse_transformation).collect();
        if !parsed.is_empty() {
            return parsed;
        }
    }
    if dataset_wide {
        return vec![Transformation {
            kind: TransformationKind::Indirect,
            subtype: String::new(),
            masking: false,
            description: None,
        }];
    }
    let legacy = legacy_type.map(str::to_ascii_uppercase);
    vec![Transformation {
        kind: TransformationKind::Direct,
        subtype: match legacy.as_deref() {
            Some("MASKED") => "TRANSFORMATION".to_owned(),
            Some(other) => other.to_owned(),
            None => String::new(),
        },
        masking: legacy.as_deref() == Some("MASKED"),
        description: None,
    }]
}

fn input_column<'a>(input: impl JsonView<'a>) -> Option<(DatasetId, String)> {
    let namespace = input.get("namespace")?.as_str()?;
    let name = input.get("name")?.as_str()?;
    let field = input.get("field")?.as_str()?;
    if namespace.is_empty() || name.is_empty() || namespace.contains('\0') || name.contains('\0') {
        return None;
    }
    Some((DatasetId::new(namespace, name), field.to_owned()))
}

/// Reads a `columnLineage` facet into edges, sorted and without duplicates. Entries
/// that lack a namespace, name or field are skipped (validation rejects them earlier).
pub fn column_lineage_edges(facet: &Value) -> Vec<ColumnEdgeSpec> {
    column_lineage_edges_of(facet)
}

/// [`column_lineage_edges`] of a facet read through any [`JsonView`].
pub fn column_lineage_edges_of<'a>(facet: impl JsonView<'a>) -> Vec<ColumnEdgeSpec> {
    let mut edges = Vec::new();
    if let Some(fields) = facet.get("fields").and_then(JsonView::members) {
        for (output_field, entry) in fields {
            let legacy_type = entry.get("transformationType").and_then(JsonView::as_str);
            for input in entry.get("inputFields").and_then(JsonView::items).into_iter().flatten() {
                let Some((dataset, field)) = input_column(input) else { continue };
                edges.push(ColumnEdgeSpec {
                    input: dataset,
                    input_field: field,
                    output_field: output_field.to_owned(),
                    transformations: transformations_of(input, legacy_type, false),
                    source: EdgeSource::Reported,
                });
            }
        }
    }
    for input in facet.get("dataset").and_then(JsonView::items).into_iter().flatten() {
        let Some((dataset, field)) = input_column(input) else { continue };
        edges.push(ColumnEdgeSpec {
            input: dataset,
            input_field: field,
            output_field: ALL_COLUMNS.to_owned(),
            transformations: transformations_of(input, None, true),
            source: EdgeSource::Reported,
        });
    }
    edges.sort();
    edges.dedup();
    edges
}
