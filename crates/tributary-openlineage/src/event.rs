//! Parsing and validating one OpenLineage event.

use serde_json::{Map, Value};
use tributary_model::{ColumnEdgeSpec, DatasetId, JobId, RunId, RunState, Timestamp, Version, column_lineage_edges};

use std::ops::Range;

use crate::canonical::{FacetSpans, canonical_event, canonical_value_hash, content_hash, value_hash};
use crate::facets::{FacetPlace, FacetValidators};

/// Longest namespace or name accepted, in bytes.
const MAX_NAME_BYTES: usize = 4096;

/// At most this many `inputs` in one event.
pub const MAX_INPUTS: usize = 10_000;

/// At most this many `outputs` in one event.
pub const MAX_OUTPUTS: usize = 10_000;

/// At most this many fields in one dataset's `schema` facet, nested fields included (the
/// schema differ reads no more either, so every stored schema can be diffed).
pub const MAX_SCHEMA_FIELDS: usize = 20_000;

/// At most this many output columns (`fields` keys) in one dataset's `columnLineage` facet.
pub const MAX_COLUMN_LINEAGE_FIELDS: usize = 20_000;

/// At most this many input field references in one dataset's `columnLineage` facet, over all
/// its columns and its dataset-level `dataset` list.
pub const MAX_COLUMN_LINEAGE_INPUTS: usize = 100_000;

/// A rejected event: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("`{field}`: ") })]
pub struct EventError {
    /// Dotted path of the offending field (`outputs[0].facets.schema.fields[2].name`);
    /// empty when the problem is the whole body.
    pub field: String,
    pub message: String,
}

impl EventError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// A valid event: its canonical JSON (what is stored and served back), its identity and
/// the parts that shape the graph.
#[derive(Clone, Debug)]
pub struct ParsedEvent {
    /// Compact JSON with sorted keys; JSON-equal to what was received.
    pub canonical: Vec<u8>,
    /// Content hash of `canonical`: equal events have equal hashes.
    pub hash: u128,
    pub time: Timestamp,
    pub body: EventBody,
}

impl ParsedEvent {
    /// Orders this event among others: event time, then content.
    pub fn version(&self) -> Version {
        Version { time: self.time, hash: self.hash as u64 }
    }
}

#[derive(Clone, Debug)]
pub enum EventBody {
    Run(RunEventBody),
    Dataset(DatasetEventBody),
    Job(JobEventBody),
}

impl EventBody {
    /// Every dataset the event names, inputs then outputs (or the dataset of a DatasetEvent).
    pub fn datasets_mut(&mut self) -> Vec<&mut DatasetRef> {
        match self {
            Self::Run(run) => run.inputs.iter_mut().chain(run.outputs.iter_mut()).collect(),
            Self::Job(job) => job.inputs.iter_mut().chain(job.outputs.iter_mut()).collect(),
            Self::Dataset(dataset) => vec![&mut dataset.dataset],
        }
    }
}

/// A dataset as named in an event, with its facets.
#[derive(Clone, Debug)]
pub struct DatasetRef {
    pub id: DatasetId,
    /// `facets`: facets of the dataset itself.
    pub facets: Map<String, Value>,
    /// `inputFacets` or `outputFacets`: facets of this run's use of the dataset.
    pub use_facets: Map<String, Value>,
    /// [`value_hash`] of each of `facets`, in the map's order (`None` for a `_deleted` one):
    /// computed while parsing, on the caller's thread, so the writer does not walk the facets
    /// again. Read it through [`DatasetRef::facets_with_hashes`].
    pub facet_hashes: Vec<Option<u64>>,
    /// Where each of `facets` (same order) sits in the event's canonical JSON
    /// ([`ParsedEvent::canonical`]), so the writer stores those bytes instead of serialising the
    /// facet again. Read it through [`DatasetRef::facet_span`].
    pub facet_spans: Vec<FacetSpan>,
    /// The `columnLineage` facet read into edges ([`column_lineage_edges`]) while parsing, on
    /// the caller's thread: `None` when the dataset has no such facet or it is `_deleted`. The
    /// writer takes it instead of reading the facet on its own thread (and reads the facet
    /// when it is `None` but the facet is there: a reference built by hand). It is read for
    /// every event that carries the facet, also when the writer then finds it unchanged and
    /// needs no edges: parsing work traded for the single writer's.
    pub column_lineage: Option<Vec<ColumnEdgeSpec>>,
}

/// The bytes of one facet in [`ParsedEvent::canonical`]: its canonical JSON (keys sorted,
/// compact), and for a `schema` facet that of its `fields`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacetSpan {
    pub json: Range<usize>,
    pub schema_fields: Option<Range<usize>>,
}

impl DatasetRef {
    /// Each facet with its content hash (`None`: `_deleted: true`), as the facet-merge rule
    /// compares them. Computed here when `facet_hashes` does not match `facets` (a reference
    /// built or changed by hand).
    pub fn facets_with_hashes(&self) -> impl Iterator<Item = (&String, &Value, Option<u64>)> {
        let precomputed = self.facet_hashes.len() == self.facets.len();
        self.facets.iter().enumerate().map(move |(index, (key, value))| {
            let hash = if precomputed { self.facet_hashes[index] } else { facet_hash(value, None) };
            (key, value, hash)
        })
    }
}

impl DatasetRef {
    /// Where the `index`-th of `facets` sits in the event's canonical JSON, when known.
    pub fn facet_span(&self, index: usize) -> Option<&FacetSpan> {
        if self.facet_spans.len() == self.facets.len() { self.facet_spans.get(index) } else { None }
    }
}

/// A facet that says `_deleted: true`.
fn is_deleted(facet: &Value) -> bool {
    facet.get("_deleted").and_then(Value::as_bool) == Some(true)
}

/// The edges of a live `columnLineage` facet among `facets`.
fn column_lineage_of(facets: &Map<String, Value>) -> Option<Vec<ColumnEdgeSpec>> {
    let facet = facets.get("columnLineage").filter(|facet| !is_deleted(facet))?;
    Some(column_lineage_edges(facet))
}

/// The content hash of one facet, `None` for a deletion (`_deleted: true`); computed from
/// `canonical`, the facet's canonical JSON, when given (the same number, no walk of the value).
fn facet_hash(value: &Value, canonical: Option<&[u8]>) -> Option<u64> {
    (!is_deleted(value)).then(|| canonical.map_or_else(|| value_hash(value), canonical_value_hash))
}

#[derive(Clone, Debug)]
pub struct RunEventBody {
    pub event_type: Option<RunState>,
    pub run_id: RunId,
    pub run_facets: Map<String, Value>,
    pub job: JobId,
    pub job_facets: Map<String, Value>,
    pub inputs: Vec<DatasetRef>,
    pub outputs: Vec<DatasetRef>,
    /// From the `parent` run facet.
    pub parent: Option<(RunId, JobId)>,
}

#[derive(Clone, Debug)]
pub struct DatasetEventBody {
    pub dataset: DatasetRef,
}

#[derive(Clone, Debug)]
pub struct JobEventBody {
    pub job: JobId,
    pub job_facets: Map<String, Value>,
    pub inputs: Vec<DatasetRef>,
    pub outputs: Vec<DatasetRef>,
}

/// Parses and validates one event from JSON bytes.
pub fn parse_event(bytes: &[u8]) -> Result<ParsedEvent, EventError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| EventError::new("", format!("body is not valid JSON: {error}")))?;
    parse_event_value(value)
}

fn parse_event_value(mut value: Value) -> Result<ParsedEvent, EventError> {
    let Some(event) = value.as_object() else {
        return Err(EventError::new("", "an event must be a JSON object"));
    };
    let time_text = required_str(event, "", "eventTime")?;
    let time = Timestamp::parse(time_text).map_err(|error| EventError::new("eventTime", error.to_string()))?;
    let producer = required_str(event, "", "producer")?;
    if producer.trim().is_empty() {
        return Err(EventError::new("producer", "must not be empty"));
    }
    // Marquez and the fluentd proxy accept events without `schemaURL`; so do we.
    let schema_url = optional_str(event, "", "schemaURL")?.unwrap_or("");

    let body = match event_kind(event, schema_url) {
        Kind::Run => EventBody::Run(parse_run_event(event)?),
        Kind::Dataset => {
            let dataset = required_object(event, "", "dataset")?;
            EventBody::Dataset(DatasetEventBody { dataset: parse_dataset(dataset, "dataset", None)? })
        }
        Kind::Job => {
            let (job, job_facets) = parse_job(event)?;
            EventBody::Job(JobEventBody {
                job,
                job_facets,
                inputs: parse_datasets(event, "inputs", Some(UseKind::Input))?,
                outputs: parse_datasets(event, "outputs", Some(UseKind::Output))?,
            })
        }
    };
    let (canonical, spans) = canonical_event(&value);
    let hash = content_hash(&canonical);
    let mut body = body;
    move_facets(&mut value, &mut body);
    attach_spans(spans, &mut body);
    read_dataset_facets(&canonical, &mut body);
    Ok(ParsedEvent { canonical, hash, time, body })
}

/// Moves the (validated) facet maps out of the parsed JSON into the body, instead of
/// cloning them during validation: facets are most of an event's bytes.
fn move_facets(value: &mut Value, body: &mut EventBody) {
    fn take(owner: Option<&mut Value>, key: &str) -> Map<String, Value> {
        match owner.and_then(|owner| owner.get_mut(key)).map(Value::take) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }
    fn take_datasets(value: &mut Value, key: &str, use_key: &str, datasets: &mut [DatasetRef]) {
        for (index, dataset) in datasets.iter_mut().enumerate() {
            let mut item = value.get_mut(key).and_then(|list| list.get_mut(index));
            dataset.facets = take(item.as_deref_mut(), "facets");
            if !use_key.is_empty() {
                dataset.use_facets = take(item, use_key);
            }
        }
    }
    match body {
        EventBody::Run(run) => {
            run.run_facets = take(value.get_mut("run"), "facets");
            run.job_facets = take(value.get_mut("job"), "facets");
            take_datasets(value, "inputs", "inputFacets", &mut run.inputs);
            take_datasets(value, "outputs", "outputFacets", &mut run.outputs);
        }
        EventBody::Dataset(dataset) => {
            dataset.dataset.facets = take(value.get_mut("dataset"), "facets");
        }
        EventBody::Job(job) => {
            job.job_facets = take(value.get_mut("job"), "facets");
            take_datasets(value, "inputs", "inputFacets", &mut job.inputs);
            take_datasets(value, "outputs", "outputFacets", &mut job.outputs);
        }
    }
}

/// Hands each dataset the spans of its facets in the canonical JSON.
fn attach_spans(spans: FacetSpans, body: &mut EventBody) {
    let (inputs, outputs, dataset): (&mut [DatasetRef], &mut [DatasetRef], Option<&mut DatasetRef>) = match body {
        EventBody::Run(run) => (&mut run.inputs, &mut run.outputs, None),
        EventBody::Job(job) => (&mut job.inputs, &mut job.outputs, None),
        EventBody::Dataset(dataset) => (&mut [], &mut [], Some(&mut dataset.dataset)),
    };
    let mut dataset = dataset;
    for crate::canonical::FacetSpanAt { list, index, json, schema_fields } in spans.spans {
        let target = match list {
            "inputs" => inputs.get_mut(index),
            "outputs" => outputs.get_mut(index),
            _ => dataset.as_deref_mut(),
        };
        if let Some(target) = target {
            target.facet_spans.push(FacetSpan { json, schema_fields });
        }
    }
}

/// What the writer needs of each dataset's facets, worked out here on the caller's thread:
/// their content hashes (from their canonical JSON when its spans are known) and the
/// `columnLineage` facet's edges.
fn read_dataset_facets(canonical: &[u8], body: &mut EventBody) {
    for dataset in body.datasets_mut() {
        let spans = (dataset.facet_spans.len() == dataset.facets.len()).then_some(&dataset.facet_spans);
        let hashes = dataset.facets.values().enumerate().map(|(index, value)| {
            let bytes = spans.and_then(|spans| canonical.get(spans[index].json.clone()));
            facet_hash(value, bytes)
        });
        dataset.facet_hashes = hashes.collect();
        dataset.column_lineage = column_lineage_of(&dataset.facets);
    }
}

enum Kind {
    Run,
    Dataset,
    Job,
}

fn event_kind(event: &Map<String, Value>, schema_url: &str) -> Kind {
    let definition = schema_url.rsplit('/').next().unwrap_or("");
    match definition {
        "DatasetEvent" if !event.contains_key("run") => return Kind::Dataset,
        "JobEvent" if !event.contains_key("run") => return Kind::Job,
        _ => {}
    }
    if event.contains_key("run") {
        Kind::Run
    } else if event.contains_key("dataset") && !event.contains_key("job") {
        Kind::Dataset
    } else if event.contains_key("job") {
        Kind::Job
    } else {
        // Report the most common shape's first missing field.
        Kind::Run
    }
}

fn parse_run_event(event: &Map<String, Value>) -> Result<RunEventBody, EventError> {
    let event_type = match optional_str(event, "", "eventType")? {
        None => None,
        Some(text) => Some(RunState::parse(text).ok_or_else(|| {
            EventError::new("eventType", format!("`{text}` is not one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER"))
        })?),
    };
    let run = required_object(event, "", "run")?;
    let run_id = parse_run_id(run, "run")?;
    let run_facets = facets_of(run, "run", "facets", FacetPlace::Run)?;
    let parent = match run.get("facets").and_then(|facets| facets.get("parent")) {
        Some(parent) if parent.get("_deleted") != Some(&Value::Bool(true)) => parse_parent(parent)?,
        _ => None,
    };
    let (job, job_facets) = parse_job(event)?;
    Ok(RunEventBody {
        event_type,
        run_id,
        run_facets,
        job,
        job_facets,
        inputs: parse_datasets(event, "inputs", Some(UseKind::Input))?,
        outputs: parse_datasets(event, "outputs", Some(UseKind::Output))?,
        parent,
    })
}

fn parse_run_id(run: &Map<String, Value>, path: &str) -> Result<RunId, EventError> {
    let text = required_str(run, path, "runId")?;
    RunId::parse(text).map_err(|_| EventError::new(join(path, "runId"), format!("`{text}` is not a UUID")))
}

/// The parent facet was validated against its schema already; this reads it.
fn parse_parent(parent: &Value) -> Result<Option<(RunId, JobId)>, EventError> {
    let path = "run.facets.parent";
    let (Some(run), Some(job)) =
        (parent.get("run").and_then(Value::as_object), parent.get("job").and_then(Value::as_object))
    else {
        return Ok(None);
    };
    let run_id = parse_run_id(run, &join(path, "run"))?;
    let job_path = join(path, "job");
    let job = JobId::new(name_field(job, &job_path, "namespace")?, name_field(job, &job_path, "name")?);
    Ok(Some((run_id, job)))
}

fn parse_job(event: &Map<String, Value>) -> Result<(JobId, Map<String, Value>), EventError> {
    let job = required_object(event, "", "job")?;
    let id = JobId::new(name_field(job, "job", "namespace")?, name_field(job, "job", "name")?);
    let facets = facets_of(job, "job", "facets", FacetPlace::Job)?;
    Ok((id, facets))
}

#[derive(Clone, Copy)]
enum UseKind {
    Input,
    Output,
}

fn parse_datasets(
    event: &Map<String, Value>,
    key: &str,
    use_kind: Option<UseKind>,
) -> Result<Vec<DatasetRef>, EventError> {
    let Some(value) = event.get(key) else { return Ok(Vec::new()) };
    if value.is_null() {
        return Ok(Vec::new());
    }
    let Some(items) = value.as_array() else {
        return Err(EventError::new(key, "must be an array of datasets"));
    };
    let limit = if key == "inputs" { MAX_INPUTS } else { MAX_OUTPUTS };
    if items.len() > limit {
        return Err(EventError::new(
            key,
            format!("has {} datasets; at most {limit} are accepted per event", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let path = format!("{key}[{index}]");
            let object = item.as_object().ok_or_else(|| EventError::new(&path, "a dataset must be a JSON object"))?;
            parse_dataset(object, &path, use_kind)
        })
        .collect()
}

fn parse_dataset(
    dataset: &Map<String, Value>,
    path: &str,
    use_kind: Option<UseKind>,
) -> Result<DatasetRef, EventError> {
    let id = DatasetId::new(name_field(dataset, path, "namespace")?, name_field(dataset, path, "name")?);
    let facets = facets_of(dataset, path, "facets", FacetPlace::Dataset)?;
    let use_facets = match use_kind {
        Some(UseKind::Input) => facets_of(dataset, path, "inputFacets", FacetPlace::InputDataset)?,
        Some(UseKind::Output) => facets_of(dataset, path, "outputFacets", FacetPlace::OutputDataset)?,
        None => Map::new(),
    };
    Ok(DatasetRef { id, facets, use_facets, facet_hashes: Vec::new(), facet_spans: Vec::new(), column_lineage: None })
}

/// Reads a facet map, checking each facet is an object and each standard facet matches
/// its schema. Custom facets are kept unchecked.
fn facets_of(
    owner: &Map<String, Value>,
    owner_path: &str,
    key: &str,
    place: FacetPlace,
) -> Result<Map<String, Value>, EventError> {
    let path = join(owner_path, key);
    let facets = match owner.get(key) {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(facets)) => facets,
        Some(_) => return Err(EventError::new(path, "must be an object of facets keyed by name")),
    };
    let validators = FacetValidators::get();
    for (name, facet) in facets {
        // Facet names become parts of stored keys and values: NUL separates, and their length
        // is bounded like a name's.
        if name.contains('\0') {
            return Err(EventError::new(
                join(&path, &name.escape_debug().to_string()),
                "a facet name must not contain a NUL character",
            ));
        }
        if name.len() > MAX_NAME_BYTES {
            let shown: String = name.chars().take(32).collect();
            return Err(EventError::new(
                join(&path, &format!("{shown}…")),
                format!("a facet name must be at most {MAX_NAME_BYTES} bytes (this one has {})", name.len()),
            ));
        }
        let facet_path = join(&path, name);
        let Some(object) = facet.as_object() else {
            return Err(EventError::new(facet_path, "a facet must be a JSON object"));
        };
        if object.get("_deleted") == Some(&Value::Bool(true)) {
            continue;
        }
        if place == FacetPlace::Dataset {
            check_dataset_facet_size(name, object, &facet_path)?;
        }
        if let Err((inner, message)) = validators.check(place, name, facet) {
            let field = if inner.is_empty() { facet_path } else { join(&facet_path, &inner) };
            let field = field.replace(".[", "[");
            return Err(EventError::new(field, format!("does not match the `{name}` facet schema: {message}")));
        }
    }
    // The maps themselves are moved into the event afterwards (`move_facets`).
    Ok(Map::new())
}

/// Bounds the facets whose size grows with the dataset's width (checked before the schema
/// validation, which would otherwise walk all of it first).
fn check_dataset_facet_size(name: &str, facet: &Map<String, Value>, facet_path: &str) -> Result<(), EventError> {
    match name {
        "schema" => {
            let count = count_schema_fields(facet.get("fields"));
            if count > MAX_SCHEMA_FIELDS {
                return Err(EventError::new(
                    join(facet_path, "fields"),
                    format!(
                        "has {count} fields (nested ones included); at most {MAX_SCHEMA_FIELDS} are accepted per dataset"
                    ),
                ));
            }
        }
        "columnLineage" => {
            let fields = facet.get("fields").and_then(Value::as_object);
            let count = fields.map_or(0, Map::len);
            if count > MAX_COLUMN_LINEAGE_FIELDS {
                return Err(EventError::new(
                    join(facet_path, "fields"),
                    format!("has {count} fields; at most {MAX_COLUMN_LINEAGE_FIELDS} are accepted per dataset"),
                ));
            }
            let input_count = |value: Option<&Value>| value.and_then(Value::as_array).map_or(0, Vec::len);
            let inputs = fields.into_iter().flat_map(Map::values).map(|field| input_count(field.get("inputFields")));
            let total = inputs.sum::<usize>() + input_count(facet.get("dataset"));
            if total > MAX_COLUMN_LINEAGE_INPUTS {
                return Err(EventError::new(
                    facet_path,
                    format!("names {total} input fields; at most {MAX_COLUMN_LINEAGE_INPUTS} are accepted per dataset"),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Fields of a schema facet's `fields` list, nested `fields` included. JSON nests at most 128
/// levels, so the recursion is shallow.
fn count_schema_fields(fields: Option<&Value>) -> usize {
    let Some(Value::Array(items)) = fields else { return 0 };
    items.len() + items.iter().map(|item| count_schema_fields(item.get("fields"))).sum::<usize>()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn required_object<'a>(
    owner: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a Map<String, Value>, EventError> {
    match owner.get(key) {
        Some(Value::Object(object)) => Ok(object),
        Some(_) => Err(EventError::new(join(path, key), "must be an object")),
        None => Err(EventError::new(join(path, key), "is required")),
    }
}

fn required_str<'a>(owner: &'a Map<String, Value>, path: &str, key: &str) -> Result<&'a str, EventError> {
    match owner.get(key) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(EventError::new(join(path, key), "must be a string")),
        None => Err(EventError::new(join(path, key), "is required")),
    }
}

fn optional_str<'a>(owner: &'a Map<String, Value>, path: &str, key: &str) -> Result<Option<&'a str>, EventError> {
    match owner.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(EventError::new(join(path, key), "must be a string")),
    }
}

/// A namespace or name: a non-empty string without NUL, at most [`MAX_NAME_BYTES`].
fn name_field(owner: &Map<String, Value>, path: &str, key: &str) -> Result<String, EventError> {
    let text = required_str(owner, path, key)?;
    let problem = if text.is_empty() {
        Some("must not be empty".to_owned())
    } else if text.contains('\0') {
        Some("must not contain a NUL character".to_owned())
    } else if text.len() > MAX_NAME_BYTES {
        Some(format!("is longer than {MAX_NAME_BYTES} bytes"))
    } else {
        None
    };
    match problem {
        Some(message) => Err(EventError::new(join(path, key), message)),
        None => Ok(text.to_owned()),
    }
}
