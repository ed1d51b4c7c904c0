//! Column lineage from a job's own SQL: the `sql` job facet (with its `dialect`) is parsed by
//! `tributary-sql` against the event's datasets and their schemas, and the derived edges are
//! merged with what the producer reported for each output.
//!
//! Merge rule: reported edges stay as reported. A reported edge without transformation kinds
//! (dbt-ol's, and every producer before facet 1-2-0) takes the kinds the SQL gives the same
//! (input column, output column) pair and is marked `ReportedKindsFromSql`; a derived edge the
//! producer did not report (join and filter keys, typically) is added as `DerivedFromSql`.
//! SQL that does not parse is recorded on the job with the parser's message and changes
//! nothing else; it never refuses the event.

use std::collections::BTreeMap;

use serde_json::Value;
use tributary_model::{ALL_COLUMNS, ColumnEdgeSpec, DatasetId, EdgeSource, Transformation, TransformationKind};
use tributary_openlineage::{DatasetRef, EventBody, ParsedEvent};

/// SQL texts up to this size are parsed on the caller's task; larger ones on a blocking
/// thread (`benches/micro.rs` `sql_derive`: a dbt model of 0.3 KB takes 32 µs, a 4.5 KB
/// wide aggregate 440 µs, so 4 KiB keeps the runtime's slices under ~0.5 ms).
pub(crate) const INLINE_SQL_BYTES: usize = 4 * 1024;

/// What a job's SQL says about the event's outputs.
#[derive(Clone, Debug, Default)]
pub(crate) struct SqlLineage {
    /// Derived edges per output dataset (as the event names it), marked `DerivedFromSql`.
    pub(crate) outputs: Vec<(DatasetId, Vec<ColumnEdgeSpec>)>,
    /// The parser's message when the SQL could not be used.
    pub(crate) error: Option<String>,
}

/// Transformations per (input dataset, input column, output column) of one output.
type EdgesByPair = BTreeMap<(DatasetId, String, String), Vec<Transformation>>;

/// The parts of an event the derivation needs, owned, so it can run on another thread.
pub(crate) struct SqlJob {
    query: String,
    dialect: Option<String>,
    inputs: Vec<tributary_sql::Relation>,
    outputs: Vec<tributary_sql::Relation>,
}

impl SqlJob {
    /// The job's SQL and datasets, when the event carries a `sql` job facet with a query.
    pub(crate) fn of(event: &ParsedEvent) -> Option<Self> {
        let (facets, inputs, outputs) = match &event.body {
            EventBody::Run(body) => (&body.job_facets, &body.inputs, &body.outputs),
            EventBody::Job(body) => (&body.job_facets, &body.inputs, &body.outputs),
            EventBody::Dataset(_) => return None,
        };
        let facet = facets.get("sql")?;
        let query = facet.get("query")?.as_str()?.trim();
        if query.is_empty() || outputs.is_empty() {
            return None;
        }
        Some(Self {
            query: query.to_owned(),
            dialect: facet.get("dialect").and_then(Value::as_str).map(str::to_owned),
            inputs: inputs.iter().map(relation).collect(),
            outputs: outputs.iter().map(relation).collect(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.query.len()
    }

    /// Parses and analyses the SQL (CPU only; bounded by `tributary_sql`'s limits).
    pub(crate) fn derive(&self) -> SqlLineage {
        match tributary_sql::derive(&self.query, self.dialect.as_deref(), &self.inputs, &self.outputs) {
            Ok(derived) => SqlLineage { outputs: self.edges(derived), error: None },
            Err(error) => SqlLineage { outputs: Vec::new(), error: Some(error.to_string()) },
        }
    }

    fn is_output(&self, namespace: &str, name: &str) -> bool {
        self.outputs.iter().any(|output| output.namespace == namespace && output.name == name)
    }

    fn edges(&self, derived: tributary_sql::Derived) -> Vec<(DatasetId, Vec<ColumnEdgeSpec>)> {
        let mut per_output: BTreeMap<DatasetId, EdgesByPair> = BTreeMap::new();
        for output in derived.outputs {
            let target = match output.output {
                // Only the event's own outputs: a statement may also write tables the event
                // does not name, whose lineage this event cannot speak for.
                Some((namespace, name)) if self.is_output(&namespace, &name) => DatasetId::new(namespace, name),
                // A bare SELECT writes the job's one output; with several it cannot be told.
                None if self.outputs.len() == 1 => DatasetId::new(&self.outputs[0].namespace, &self.outputs[0].name),
                _ => continue,
            };
            let edges = per_output.entry(target).or_default();
            for edge in output.edges {
                if edge.input.0.is_empty() {
                    continue;
                }
                edges
                    .entry((DatasetId::new(edge.input.0, edge.input.1), edge.input_field, edge.output_field))
                    .or_default()
                    .push(transformation(edge.subtype, edge.masking));
            }
            for wide in output.dataset_wide {
                if wide.input.0.is_empty() {
                    continue;
                }
                edges
                    .entry((DatasetId::new(wide.input.0, wide.input.1), wide.input_field, ALL_COLUMNS.to_owned()))
                    .or_default()
                    .push(transformation(wide.subtype, false));
            }
        }
        per_output
            .into_iter()
            .map(|(output, edges)| {
                let edges = edges
                    .into_iter()
                    .map(|((input, input_field, output_field), mut transformations)| {
                        transformations.sort();
                        transformations.dedup();
                        ColumnEdgeSpec {
                            input,
                            input_field,
                            output_field,
                            transformations,
                            source: EdgeSource::DerivedFromSql,
                        }
                    })
                    .collect();
                (output, edges)
            })
            .collect()
    }
}

fn transformation(subtype: tributary_sql::Subtype, masking: bool) -> Transformation {
    Transformation {
        kind: match subtype.kind() {
            tributary_sql::Kind::Direct => TransformationKind::Direct,
            tributary_sql::Kind::Indirect => TransformationKind::Indirect,
        },
        subtype: subtype.as_str().to_owned(),
        masking,
        description: None,
    }
}

fn relation(reference: &DatasetRef) -> tributary_sql::Relation {
    let fields =
        reference.facets.value("schema").and_then(|schema| schema.get("fields")).and_then(Value::as_array).map(
            |fields| fields.iter().filter_map(|f| f.get("name").and_then(Value::as_str).map(str::to_owned)).collect(),
        );
    tributary_sql::Relation::new(&*reference.id.namespace, &*reference.id.name, fields)
}

/// Reported edges whose kinds are unknown: the producer sent no `transformations` (the
/// model reads those as DIRECT with no subtype).
fn kinds_unknown(edge: &ColumnEdgeSpec) -> bool {
    edge.source == EdgeSource::Reported && edge.transformations.iter().all(|t| t.subtype.is_empty())
}

/// Merges derived edges into reported ones (see the module docs). `reported` may hold edges
/// derived earlier: those are replaced by `derived`.
pub(crate) fn merge(reported: Vec<ColumnEdgeSpec>, derived: &[ColumnEdgeSpec]) -> Vec<ColumnEdgeSpec> {
    let by_pair: BTreeMap<(&DatasetId, &str, &str), &ColumnEdgeSpec> =
        derived.iter().map(|e| ((&e.input, e.input_field.as_str(), e.output_field.as_str()), e)).collect();
    let mut merged: Vec<ColumnEdgeSpec> = Vec::with_capacity(reported.len() + derived.len());
    let mut covered = std::collections::BTreeSet::new();
    for mut edge in reported.into_iter().filter(|e| e.source != EdgeSource::DerivedFromSql) {
        let pair = (edge.input.clone(), edge.input_field.clone(), edge.output_field.clone());
        if let Some(found) = by_pair.get(&(&pair.0, pair.1.as_str(), pair.2.as_str()))
            && kinds_unknown(&edge)
        {
            edge.transformations = found.transformations.clone();
            edge.source = EdgeSource::ReportedKindsFromSql;
        }
        covered.insert(pair);
        merged.push(edge);
    }
    for edge in derived {
        if !covered.contains(&(edge.input.clone(), edge.input_field.clone(), edge.output_field.clone())) {
            merged.push(edge.clone());
        }
    }
    merged.sort();
    merged.dedup();
    merged
}
