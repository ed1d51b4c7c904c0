//! Parsing and validating one OpenLineage event.

use serde_json::{Map, Value};
use tributary_model::{
    ColumnEdgeSpec, DatasetId, JobId, JsonView, RunId, RunState, Timestamp, Version, column_lineage_edges_of,
};

use std::ops::Range;
use std::sync::OnceLock;

use crate::canonical::{canonical_json, canonical_value_hash, content_hash};
use crate::facets::{FacetPlace, FacetValidators};
use crate::tape::{Tape, TapeRef, canonicalize};

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
    pub fn datasets(&self) -> Vec<&DatasetRef> {
        match self {
            Self::Run(run) => run.inputs.iter().chain(&run.outputs).collect(),
            Self::Job(job) => job.inputs.iter().chain(&job.outputs).collect(),
            Self::Dataset(dataset) => vec![&dataset.dataset],
        }
    }

    /// [`Self::datasets`], to change.
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
    pub facets: Facets,
    /// `inputFacets` or `outputFacets`: facets of this run's use of the dataset.
    pub use_facets: Map<String, Value>,
    /// The `columnLineage` facet read into edges ([`column_lineage_edges`](tributary_model::column_lineage_edges)) while parsing, on
    /// the caller's thread: `None` when the dataset has no such facet or it is `_deleted`. It
    /// is read for every event that carries the facet, also when the writer then finds it
    /// unchanged and needs no edges: parsing work traded for the single writer's.
    pub column_lineage: Option<Vec<ColumnEdgeSpec>>,
}

/// A dataset's facets as one event carries them, in key order.
#[derive(Clone, Debug, Default)]
pub struct Facets(Vec<Facet>);

/// One dataset facet of an event: its canonical JSON and content hash, computed while parsing
/// (on the caller's thread, so the single writer does not walk it again), and its value, built
/// only when something asks for it (the writer stores and compares the JSON and hash; few
/// rules read inside a facet).
#[derive(Clone, Debug)]
pub struct Facet {
    pub key: String,
    /// [`value_hash`](crate::value_hash) of the facet; `None` when it says `_deleted: true`.
    pub hash: Option<u64>,
    /// Where the facet sits in the event's canonical JSON ([`ParsedEvent::canonical`]).
    pub span: FacetSpan,
    json: Box<str>,
    value: OnceLock<Value>,
}

/// The bytes of one facet in [`ParsedEvent::canonical`]: its canonical JSON (keys sorted,
/// compact), and for a `schema` facet that of its `fields`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FacetSpan {
    pub json: Range<usize>,
    pub schema_fields: Option<Range<usize>>,
}

impl Facet {
    /// The facet's canonical JSON.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The facet's value, parsed from its canonical JSON on first use.
    pub fn value(&self) -> &Value {
        // The JSON was written by the canonicaliser from input serde_json accepts.
        self.value.get_or_init(|| serde_json::from_str(&self.json).expect("a facet's canonical JSON parses"))
    }

    /// Whether the facet says `_deleted: true`.
    pub fn is_deleted(&self) -> bool {
        self.hash.is_none()
    }
}

impl Facets {
    pub fn get(&self, key: &str) -> Option<&Facet> {
        self.0.binary_search_by(|facet| facet.key.as_str().cmp(key)).ok().map(|index| &self.0[index])
    }

    /// The value of facet `key` (see [`Facet::value`]).
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.get(key).map(Facet::value)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Facet> {
        self.0.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|facet| facet.key.as_str())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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

/// Parses and validates one event from JSON bytes. The bytes are written out as canonical
/// JSON in one pass and read from there through a flat index of its nodes: no JSON tree is built, except
/// for the facets a rule reads as a whole (run, job and use facets, and standard facets the
/// hand-written checks do not pass).
pub fn parse_event(bytes: &[u8]) -> Result<ParsedEvent, EventError> {
    let canonical = match canonicalize(bytes) {
        Some(canonical) => canonical,
        None => {
            // Not JSON (or nothing the one-pass writer is sure of): serde_json words the error,
            // or, should it accept the bytes after all, gives the tree to write out.
            let value: Value = serde_json::from_slice(bytes)
                .map_err(|error| EventError::new("", format!("body is not valid JSON: {error}")))?;
            String::from_utf8(canonical_json(&value))
                .map_err(|_| EventError::new("", "body is not valid JSON: not UTF-8"))?
        }
    };
    let tape =
        Tape::new(&canonical).ok_or_else(|| EventError::new("", "body is larger than 4 GiB once written compactly"))?;
    let (time, body) = read_event(tape.root())?;
    drop(tape);
    let canonical = canonical.into_bytes();
    let hash = content_hash(&canonical);
    Ok(ParsedEvent { canonical, hash, time, body })
}

/// The job and the datasets one event names, as [`parse_event`] reads them (`job` of run
/// and job events; `inputs` then `outputs`, or a dataset event's `dataset`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventNames {
    pub job: Option<JobId>,
    pub datasets: Vec<DatasetId>,
}

impl EventNames {
    /// The names of an event parsed already.
    pub fn of(body: &EventBody) -> Self {
        match body {
            EventBody::Run(run) => EventNames {
                job: Some(run.job.clone()),
                datasets: run.inputs.iter().chain(&run.outputs).map(|dataset| dataset.id.clone()).collect(),
            },
            EventBody::Job(job) => EventNames {
                job: Some(job.job.clone()),
                datasets: job.inputs.iter().chain(&job.outputs).map(|dataset| dataset.id.clone()).collect(),
            },
            EventBody::Dataset(dataset) => EventNames { job: None, datasets: vec![dataset.dataset.id.clone()] },
        }
    }
}

/// The names in a stored event, `EventNames::of(&parse_event(canonical)?.body)` without the
/// full parse: `canonical` must be what [`parse_event`] accepted and wrote
/// ([`ParsedEvent::canonical`], as the store keeps it), which is indexed as it is (compact,
/// keys sorted) and read for its names only, with the same rules; no facet is read or
/// checked again. Bytes the index refuses are parsed in full; other JSON that is not
/// canonical (keys out of order) may be misread, never with a panic.
pub fn stored_event_names(canonical: &[u8]) -> Result<EventNames, EventError> {
    let Some(tape) = std::str::from_utf8(canonical).ok().and_then(Tape::new) else {
        return parse_event(canonical).map(|event| EventNames::of(&event.body));
    };
    let event = tape.root();
    if !event.is_object() {
        return Err(EventError::new("", "an event must be a JSON object"));
    }
    let schema_url = optional_str(event, "", "schemaURL")?.unwrap_or("");
    let job = |event: Node<'_>| -> Result<JobId, EventError> {
        let job = required_object(event, "", "job")?;
        Ok(JobId::new(name_field(job, "job", "namespace")?, name_field(job, "job", "name")?))
    };
    let dataset = |dataset: Node<'_>, path: &str| -> Result<DatasetId, EventError> {
        if !dataset.is_object() {
            return Err(EventError::new(path, "a dataset must be a JSON object"));
        }
        Ok(DatasetId::new(name_field(dataset, path, "namespace")?, name_field(dataset, path, "name")?))
    };
    match event_kind(event, schema_url) {
        Kind::Dataset => {
            let dataset = dataset(required_object(event, "", "dataset")?, "dataset")?;
            Ok(EventNames { job: None, datasets: vec![dataset] })
        }
        Kind::Run | Kind::Job => {
            let job = job(event)?;
            let mut datasets = Vec::new();
            for key in ["inputs", "outputs"] {
                let Some(list) = event.get(key).filter(|list| !list.is_null()) else { continue };
                let items = list.items().ok_or_else(|| EventError::new(key, "must be an array of datasets"))?;
                for (index, item) in items.enumerate() {
                    datasets.push(dataset(item, &format!("{key}[{index}]"))?);
                }
            }
            Ok(EventNames { job: Some(job), datasets })
        }
    }
}

type Node<'a> = TapeRef<'a>;

fn read_event<'a>(event: Node<'a>) -> Result<(Timestamp, EventBody), EventError> {
    if !event.is_object() {
        return Err(EventError::new("", "an event must be a JSON object"));
    }
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
                inputs: parse_datasets(event, "inputs", UseKind::Input)?,
                outputs: parse_datasets(event, "outputs", UseKind::Output)?,
            })
        }
    };
    Ok((time, body))
}

enum Kind {
    Run,
    Dataset,
    Job,
}

fn event_kind(event: Node<'_>, schema_url: &str) -> Kind {
    let has = |key: &str| event.get(key).is_some();
    let definition = schema_url.rsplit('/').next().unwrap_or("");
    match definition {
        "DatasetEvent" if !has("run") => return Kind::Dataset,
        "JobEvent" if !has("run") => return Kind::Job,
        _ => {}
    }
    if has("run") {
        Kind::Run
    } else if has("dataset") && !has("job") {
        Kind::Dataset
    } else if has("job") {
        Kind::Job
    } else {
        // Report the most common shape's first missing field.
        Kind::Run
    }
}

fn parse_run_event<'a>(event: Node<'a>) -> Result<RunEventBody, EventError> {
    let event_type = match optional_str(event, "", "eventType")? {
        None => None,
        Some(text) => Some(RunState::parse(text).ok_or_else(|| {
            EventError::new("eventType", format!("`{text}` is not one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER"))
        })?),
    };
    let run = required_object(event, "", "run")?;
    let run_id = parse_run_id(run, "run")?;
    let run_facets = facet_values(facets_of(run, "run", "facets", FacetPlace::Run)?);
    let parent = match run.get("facets").and_then(|facets| facets.get("parent")) {
        Some(parent) if !is_deleted(parent) => parse_parent(parent)?,
        _ => None,
    };
    let (job, job_facets) = parse_job(event)?;
    Ok(RunEventBody {
        event_type,
        run_id,
        run_facets,
        job,
        job_facets,
        inputs: parse_datasets(event, "inputs", UseKind::Input)?,
        outputs: parse_datasets(event, "outputs", UseKind::Output)?,
        parent,
    })
}

fn parse_run_id<'a>(run: Node<'a>, path: &str) -> Result<RunId, EventError> {
    let text = required_str(run, path, "runId")?;
    RunId::parse(text).map_err(|_| EventError::new(join(path, "runId"), format!("`{text}` is not a UUID")))
}

/// The parent facet was validated against its schema already; this reads it.
fn parse_parent<'a>(parent: Node<'a>) -> Result<Option<(RunId, JobId)>, EventError> {
    let path = "run.facets.parent";
    let (Some(run), Some(job)) =
        (parent.get("run").filter(|run| run.is_object()), parent.get("job").filter(|job| job.is_object()))
    else {
        return Ok(None);
    };
    let run_id = parse_run_id(run, &join(path, "run"))?;
    let job_path = join(path, "job");
    let job = JobId::new(name_field(job, &job_path, "namespace")?, name_field(job, &job_path, "name")?);
    Ok(Some((run_id, job)))
}

fn parse_job<'a>(event: Node<'a>) -> Result<(JobId, Map<String, Value>), EventError> {
    let job = required_object(event, "", "job")?;
    let id = JobId::new(name_field(job, "job", "namespace")?, name_field(job, "job", "name")?);
    let facets = facet_values(facets_of(job, "job", "facets", FacetPlace::Job)?);
    Ok((id, facets))
}

#[derive(Clone, Copy)]
enum UseKind {
    Input,
    Output,
}

fn parse_datasets<'a>(event: Node<'a>, key: &str, use_kind: UseKind) -> Result<Vec<DatasetRef>, EventError> {
    let Some(value) = event.get(key) else { return Ok(Vec::new()) };
    if value.is_null() {
        return Ok(Vec::new());
    }
    let Some(items) = value.items() else {
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
        .enumerate()
        .map(|(index, item)| {
            let path = format!("{key}[{index}]");
            if !item.is_object() {
                return Err(EventError::new(&path, "a dataset must be a JSON object"));
            }
            parse_dataset(item, &path, Some(use_kind))
        })
        .collect()
}

fn parse_dataset<'a>(dataset: Node<'a>, path: &str, use_kind: Option<UseKind>) -> Result<DatasetRef, EventError> {
    let id = DatasetId::new(name_field(dataset, path, "namespace")?, name_field(dataset, path, "name")?);
    let listed = facets_of(dataset, path, "facets", FacetPlace::Dataset)?;
    let use_facets = match use_kind {
        Some(UseKind::Input) => facet_values(facets_of(dataset, path, "inputFacets", FacetPlace::InputDataset)?),
        Some(UseKind::Output) => facet_values(facets_of(dataset, path, "outputFacets", FacetPlace::OutputDataset)?),
        None => Map::new(),
    };
    let mut column_lineage = None;
    let facets = listed
        .into_iter()
        .map(|(key, facet)| {
            let deleted = is_deleted(facet);
            if key == "columnLineage" && !deleted {
                column_lineage = Some(column_lineage_edges_of(facet));
            }
            let json = facet.json();
            let schema_fields = if key == "schema" { facet.get("fields").map(TapeRef::span) } else { None };
            Facet {
                key: key.to_owned(),
                hash: (!deleted).then(|| canonical_value_hash(json.as_bytes())),
                span: FacetSpan { json: facet.span(), schema_fields },
                json: json.into(),
                value: OnceLock::new(),
            }
        })
        .collect();
    Ok(DatasetRef { id, facets: Facets(facets), use_facets, column_lineage })
}

/// A facet that says `_deleted: true`.
fn is_deleted<'a>(facet: impl JsonView<'a>) -> bool {
    facet.get("_deleted").and_then(JsonView::as_bool) == Some(true)
}

/// The values of facets read by [`facets_of`] (small ones: run, job and use facets).
fn facet_values(facets: Vec<(&str, Node<'_>)>) -> Map<String, Value> {
    facets.into_iter().map(|(key, facet)| (key.to_owned(), facet.to_value())).collect()
}

/// Reads a facet map, checking each facet is an object and each standard facet matches
/// its schema. Custom facets are kept unchecked.
fn facets_of<'a>(
    owner: Node<'a>,
    owner_path: &str,
    key: &str,
    place: FacetPlace,
) -> Result<Vec<(&'a str, Node<'a>)>, EventError> {
    let path = join(owner_path, key);
    let facets = match owner.get(key) {
        None => return Ok(Vec::new()),
        Some(facets) if facets.is_null() => return Ok(Vec::new()),
        Some(facets) => {
            facets.members().ok_or_else(|| EventError::new(&path, "must be an object of facets keyed by name"))?
        }
    };
    let validators = FacetValidators::get();
    let mut listed = Vec::with_capacity(facets.len());
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
        if !facet.is_object() {
            return Err(EventError::new(facet_path, "a facet must be a JSON object"));
        }
        listed.push((name, facet));
        if is_deleted(facet) {
            continue;
        }
        if place == FacetPlace::Dataset {
            check_dataset_facet_size(name, facet, &facet_path)?;
        }
        if let Err((inner, message)) = validators.check_view(place, name, facet) {
            let field = if inner.is_empty() { facet_path } else { join(&facet_path, &inner) };
            let field = field.replace(".[", "[");
            return Err(EventError::new(field, format!("does not match the `{name}` facet schema: {message}")));
        }
    }
    Ok(listed)
}

/// Bounds the facets whose size grows with the dataset's width (checked before the schema
/// validation, which would otherwise walk all of it first).
fn check_dataset_facet_size<'a>(name: &str, facet: Node<'a>, facet_path: &str) -> Result<(), EventError> {
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
            let fields = facet.get("fields").and_then(JsonView::members);
            let count = fields.as_ref().map_or(0, ExactSizeIterator::len);
            if count > MAX_COLUMN_LINEAGE_FIELDS {
                return Err(EventError::new(
                    join(facet_path, "fields"),
                    format!("has {count} fields; at most {MAX_COLUMN_LINEAGE_FIELDS} are accepted per dataset"),
                ));
            }
            let input_count = |value: Option<Node<'a>>| value.and_then(JsonView::items).map_or(0, |items| items.len());
            let inputs = fields.into_iter().flatten().map(|(_, field)| input_count(field.get("inputFields")));
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
fn count_schema_fields(fields: Option<Node<'_>>) -> usize {
    let Some(items) = fields.and_then(JsonView::items) else { return 0 };
    items.map(|item| 1 + count_schema_fields(item.get("fields"))).sum()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn required_object<'a>(owner: Node<'a>, path: &str, key: &str) -> Result<Node<'a>, EventError> {
    match owner.get(key) {
        Some(object) if object.is_object() => Ok(object),
        Some(_) => Err(EventError::new(join(path, key), "must be an object")),
        None => Err(EventError::new(join(path, key), "is required")),
    }
}

fn required_str<'a>(owner: Node<'a>, path: &str, key: &str) -> Result<&'a str, EventError> {
    match owner.get(key) {
        Some(value) => value.as_str().ok_or_else(|| EventError::new(join(path, key), "must be a string")),
        None => Err(EventError::new(join(path, key), "is required")),
    }
}

fn optional_str<'a>(owner: Node<'a>, path: &str, key: &str) -> Result<Option<&'a str>, EventError> {
    match owner.get(key) {
        None => Ok(None),
        Some(value) if value.is_null() => Ok(None),
        Some(value) => value.as_str().map(Some).ok_or_else(|| EventError::new(join(path, key), "must be a string")),
    }
}

/// A namespace or name: a non-empty string without NUL, at most [`MAX_NAME_BYTES`].
fn name_field<'a>(owner: Node<'a>, path: &str, key: &str) -> Result<String, EventError> {
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
