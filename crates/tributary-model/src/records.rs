//! Stored records and the pure rules that update them.
//!
//! Every rule here is order-independent: events carry a [`Version`] (event time, then
//! content hash), and a record keeps whatever the greatest version says, so applying
//! the same set of events in any order yields the same record.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{DatasetId, JobId, RunId, Timestamp};

/// Format version of every record below; bump it with a migration when a record changes shape.
pub const RECORD_FORMAT: u8 = 1;

/// A stored record that says which format wrote it. Readers refuse a format newer than
/// [`RECORD_FORMAT`] (a newer build wrote it) instead of misreading it; older formats are
/// migrated by `tributary reindex`.
pub trait Versioned {
    fn format(&self) -> u8;
}

macro_rules! versioned {
    ($($record:ty),*) => {
        $(impl Versioned for $record {
            fn format(&self) -> u8 {
                self.format
            }
        })*
    };
}

versioned!(
    DatasetRecord,
    JobRecord,
    RunRecord,
    Observation,
    SchemaVersionRecord,
    SchemaChangeRecord,
    SeenSchemaChange,
    crate::AuditRecord
);

/// Orders observations: event time first, then a hash of the event's content as a
/// tie-break, so that two events at the same instant still order the same way everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    pub time: Timestamp,
    pub hash: u64,
}

/// One facet as last set. `value: None` is a tombstone left by `_deleted: true`, kept so
/// that an older event arriving late cannot bring the facet back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FacetEntry {
    pub version: Version,
    pub value: Option<Value>,
}

/// Facets by key, with the version that set each one.
pub type Facets = BTreeMap<String, FacetEntry>;

/// Merges `incoming` facets observed at `version` into `facets`, per the OpenLineage
/// rule: a facet replaces the earlier one with the same key, and `_deleted: true`
/// removes it. "Earlier" is by [`Version`], not by arrival. Returns the keys whose
/// visible value changed.
pub fn merge_facets(facets: &mut Facets, incoming: &Map<String, Value>, version: Version) -> Vec<String> {
    let mut changed = Vec::new();
    for (key, value) in incoming {
        if facets.get(key).is_some_and(|entry| entry.version > version) {
            continue;
        }
        let deleted = value.get("_deleted").and_then(Value::as_bool) == Some(true);
        let new_value = if deleted { None } else { Some(value.clone()) };
        let entry = facets.entry(key.clone()).or_insert(FacetEntry { version, value: None });
        if entry.value != new_value {
            changed.push(key.clone());
        }
        entry.version = version;
        entry.value = new_value;
    }
    changed
}

/// The visible facets (tombstones left out) as one JSON object.
pub fn visible_facets(facets: &Facets) -> Map<String, Value> {
    facets.iter().filter_map(|(key, entry)| entry.value.clone().map(|value| (key.clone(), value))).collect()
}

/// The version and content hash of one facet, without its value (kept apart, rewritten
/// only when it changes). `hash: None` is a tombstone left by `_deleted: true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetStamp {
    pub version: Version,
    pub hash: Option<u64>,
}

/// Facet stamps by key.
pub type FacetStamps = BTreeMap<String, FacetStamp>;

/// What merging one facet observation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StampOutcome {
    /// An older observation than the stored one: ignored.
    Older,
    /// The observation wins but carries the value already stored (only the version moved).
    Same,
    /// The observation wins with another value (or a deletion): the visible value changed.
    Changed,
}

/// The facet-merge rule of [`merge_facets`] over stamps: the greater [`Version`] wins.
pub fn merge_stamp(stamps: &mut FacetStamps, key: &str, hash: Option<u64>, version: Version) -> StampOutcome {
    match stamps.get_mut(key) {
        Some(stamp) if stamp.version > version => StampOutcome::Older,
        Some(stamp) => {
            let same = stamp.hash == hash;
            stamp.version = version;
            stamp.hash = hash;
            if same { StampOutcome::Same } else { StampOutcome::Changed }
        }
        None => {
            stamps.insert(key.to_owned(), FacetStamp { version, hash });
            if hash.is_some() { StampOutcome::Changed } else { StampOutcome::Same }
        }
    }
}

/// A dataset: its identity, the stamps of its facets (values are stored apart) and its
/// current schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub format: u8,
    pub id: DatasetId,
    pub facets: FacetStamps,
    /// Earliest and latest event time that mentioned the dataset.
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Content hash (hex) of the current `schema` facet's fields, if any.
    pub current_schema: Option<String>,
    /// Latest event time that showed the current schema.
    #[serde(default)]
    pub schema_last_seen: Option<Timestamp>,
    /// Other names that resolve to this dataset (from its `symlinks` facet).
    pub aliases: BTreeSet<DatasetId>,
}

impl DatasetRecord {
    pub fn new(id: DatasetId, time: Timestamp) -> Self {
        Self {
            format: RECORD_FORMAT,
            id,
            facets: FacetStamps::new(),
            first_seen: time,
            last_seen: time,
            current_schema: None,
            schema_last_seen: None,
            aliases: BTreeSet::new(),
        }
    }

    pub fn touch(&mut self, time: Timestamp) {
        self.first_seen = self.first_seen.min(time);
        self.last_seen = self.last_seen.max(time);
    }
}

/// A job, its current facets and its current inputs and outputs.
///
/// `inputs` and `outputs` are those of the job's current [`Observation`], the one with
/// the greatest [`ObservationKey`]; they are what the lineage graph shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub format: u8,
    pub id: JobId,
    pub facets: Facets,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub current: Option<ObservationKey>,
    pub inputs: Vec<DatasetId>,
    pub outputs: Vec<DatasetId>,
    /// Why the SQL of the job's latest `sql` facet could not be turned into column lineage
    /// (the parser's message); `None` when it could, or when the job sends no SQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_error: Option<String>,
}

impl JobRecord {
    pub fn new(id: JobId, time: Timestamp) -> Self {
        Self {
            format: RECORD_FORMAT,
            id,
            facets: Facets::new(),
            first_seen: time,
            last_seen: time,
            current: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            sql_error: None,
        }
    }

    pub fn touch(&mut self, time: Timestamp) {
        self.first_seen = self.first_seen.min(time);
        self.last_seen = self.last_seen.max(time);
    }

    pub fn visible_facets(&self) -> Map<String, Value> {
        visible_facets(&self.facets)
    }
}

/// What an observation of a job's inputs and outputs came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObservationSource {
    /// A run of the job (all its events together).
    Run(RunId),
    /// A JobEvent (static lineage), by the hash of its content.
    JobEvent(u64),
}

/// Orders the observations of one job; the greatest is the job's current one.
///
/// Completed runs and JobEvents are `settled` and always beat runs that are still going
/// or failed: a failed run or one in progress does not change the current graph unless
/// the job has never completed. Among equals the later observation wins. The time of a
/// run's observation is its latest event time, which only grows as events arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObservationKey {
    pub settled: bool,
    pub time: Timestamp,
    pub source: ObservationSource,
}

impl ObservationKey {
    /// 26 bytes that sort like the key.
    pub fn to_bytes(&self) -> [u8; 26] {
        let mut out = [0u8; 26];
        out[0] = u8::from(self.settled);
        out[1..9].copy_from_slice(&self.time.sortable_bytes());
        match self.source {
            ObservationSource::Run(run_id) => {
                out[9] = 0;
                out[10..26].copy_from_slice(run_id.as_bytes());
            }
            ObservationSource::JobEvent(hash) => {
                out[9] = 1;
                out[10..18].copy_from_slice(&hash.to_be_bytes());
            }
        }
        out
    }
}

/// One observation of a job's inputs and outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub format: u8,
    pub key: ObservationKey,
    pub inputs: Vec<DatasetId>,
    pub outputs: Vec<DatasetId>,
}

/// The state of a run, named after the OpenLineage `eventType` that set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RunState {
    /// The events carried no `eventType`.
    Unknown,
    Start,
    Running,
    Complete,
    Abort,
    Fail,
    Other,
}

impl RunState {
    pub fn parse(event_type: &str) -> Option<Self> {
        Some(match event_type {
            "START" => Self::Start,
            "RUNNING" => Self::Running,
            "COMPLETE" => Self::Complete,
            "ABORT" => Self::Abort,
            "FAIL" => Self::Fail,
            "OTHER" => Self::Other,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Start => "START",
            Self::Running => "RUNNING",
            Self::Complete => "COMPLETE",
            Self::Abort => "ABORT",
            Self::Fail => "FAIL",
            Self::Other => "OTHER",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Complete | Self::Abort | Self::Fail)
    }
}

/// A run: its state, times, facets and everything it read and wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: u8,
    pub id: RunId,
    /// The job named by the run's earliest event (by [`Version`]).
    pub job: JobId,
    pub job_version: Version,
    pub state: RunState,
    /// Ranks the event that set `state`: terminal events beat the others, then version.
    pub state_rank: (bool, Version),
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub first_time: Timestamp,
    pub last_time: Timestamp,
    pub facets: Facets,
    /// Datasets read, with the run-specific `inputFacets`.
    #[serde(with = "map_as_pairs")]
    pub inputs: BTreeMap<DatasetId, Facets>,
    /// Datasets written, with the run-specific `outputFacets`.
    #[serde(with = "map_as_pairs")]
    pub outputs: BTreeMap<DatasetId, Facets>,
    /// From the `parent` run facet.
    pub parent: Option<(RunId, JobId)>,
    /// Sequences of the events of this run, ascending.
    pub events: Vec<u64>,
}

impl RunRecord {
    pub fn new(id: RunId, job: JobId, version: Version) -> Self {
        Self {
            format: RECORD_FORMAT,
            id,
            job,
            job_version: version,
            state: RunState::Unknown,
            state_rank: (false, version),
            started_at: None,
            ended_at: None,
            first_time: version.time,
            last_time: version.time,
            facets: Facets::new(),
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
            parent: None,
            events: Vec::new(),
        }
    }

    /// Applies the state and times of one event of this run.
    pub fn observe(&mut self, job: &JobId, state: Option<RunState>, version: Version, sequence: u64) {
        if version < self.job_version {
            self.job = job.clone();
            self.job_version = version;
        }
        self.first_time = self.first_time.min(version.time);
        self.last_time = self.last_time.max(version.time);
        if let Err(position) = self.events.binary_search(&sequence) {
            self.events.insert(position, sequence);
        }
        let state = state.unwrap_or(RunState::Unknown);
        if state == RunState::Start {
            self.started_at = Some(self.started_at.map_or(version.time, |t| t.min(version.time)));
        }
        let rank = (state.is_terminal(), version);
        // An event without `eventType` never overrides a known state; otherwise terminal
        // events beat the others, then the later event wins.
        let wins = if state == RunState::Unknown {
            self.state == RunState::Unknown && rank >= self.state_rank
        } else {
            self.state == RunState::Unknown || rank >= self.state_rank
        };
        if wins {
            self.state = state;
            self.state_rank = rank;
            self.ended_at = state.is_terminal().then_some(version.time);
        }
    }

    /// The run's observation of its job's inputs and outputs, if it saw any.
    pub fn observation(&self) -> Option<Observation> {
        if self.inputs.is_empty() && self.outputs.is_empty() {
            return None;
        }
        Some(Observation {
            format: RECORD_FORMAT,
            key: ObservationKey {
                settled: self.state == RunState::Complete,
                time: self.last_time,
                source: ObservationSource::Run(self.id),
            },
            inputs: self.inputs.keys().cloned().collect(),
            outputs: self.outputs.keys().cloned().collect(),
        })
    }
}

/// One field of a `schema` facet, nested fields included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaField {
    pub name: String,
    pub data_type: Option<String>,
    pub description: Option<String>,
    pub fields: Vec<SchemaField>,
}

/// Reads the `fields` of a `schema` facet; entries without a string `name` are skipped
/// (validation rejects them before they get here).
pub fn parse_schema_fields(fields: &Value) -> Vec<SchemaField> {
    let Some(items) = fields.as_array() else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| {
            Some(SchemaField {
                name: item.get("name")?.as_str()?.to_owned(),
                data_type: item.get("type").and_then(Value::as_str).map(str::to_owned),
                description: item.get("description").and_then(Value::as_str).map(str::to_owned),
                fields: item.get("fields").map(parse_schema_fields).unwrap_or_default(),
            })
        })
        .collect()
}

/// One distinct schema of a dataset. Equal field lists share one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemaVersionRecord {
    pub format: u8,
    /// Content hash (hex) of the canonical JSON of `fields`.
    pub hash: String,
    /// The `fields` array as received.
    pub fields: Value,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Sequence of the event that first showed this schema (in ingest order).
    pub first_sequence: u64,
}

/// JSON objects need string keys; maps keyed by a struct travel as a list of pairs.
mod map_as_pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let pairs = Vec::<(K, V)>::deserialize(deserializer)?;
        Ok(pairs.into_iter().collect())
    }
}

/// One applied version of a mesh document (a data product or domain descriptor). `B` is what
/// the body is read into: a JSON value, or (`Box<RawValue>`) its text, for a reader that
/// parses it into the descriptor's type without building the value first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord<B = Value> {
    pub format: u8,
    pub id: String,
    /// 1 for the first applied version, then +1 per change.
    pub version: u64,
    pub applied_at: Timestamp,
    /// Content hash (hex) of the canonical descriptor; re-applying equal content is a no-op.
    pub hash: String,
    pub body: B,
}

impl<B> Versioned for DocumentRecord<B> {
    fn format(&self) -> u8 {
        self.format
    }
}

/// Owner names in an `ownership` facet (`owners[].name`), with their `type` if given.
pub fn facet_owners(facet: Option<&Value>) -> BTreeMap<String, Option<String>> {
    let mut owners = BTreeMap::new();
    let Some(facet) = facet else { return owners };
    for owner in facet.get("owners").and_then(Value::as_array).into_iter().flatten() {
        if let Some(name) = owner.get("name").and_then(Value::as_str).filter(|name| !name.is_empty()) {
            owners.insert(name.to_owned(), owner.get("type").and_then(Value::as_str).map(str::to_owned));
        }
    }
    owners
}

/// Tags of a node from its `tags` facet (`tags[].key`, and `key:value` when a value is
/// given), lower-cased; tags that name a `field` belong to that column, not the node.
pub fn facet_tags(facet: Option<&Value>) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    let Some(facet) = facet else { return tags };
    for tag in facet.get("tags").and_then(Value::as_array).into_iter().flatten() {
        if tag.get("field").and_then(Value::as_str).is_some_and(|field| !field.is_empty()) {
            continue;
        }
        let Some(key) = tag.get("key").and_then(Value::as_str).filter(|key| !key.is_empty()) else { continue };
        let key = key.to_lowercase();
        if let Some(value) = tag.get("value").and_then(Value::as_str).filter(|value| !value.is_empty()) {
            tags.insert(format!("{key}:{}", value.to_lowercase()));
        }
        tags.insert(key);
    }
    tags
}

/// Column-level tags from the `tags` facet (`tags[]` with a `field`): field -> tags.
pub fn facet_column_tags(facet: Option<&Value>) -> BTreeMap<String, BTreeSet<String>> {
    let mut columns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let Some(facet) = facet else { return columns };
    for tag in facet.get("tags").and_then(Value::as_array).into_iter().flatten() {
        let (Some(field), Some(key)) = (
            tag.get("field").and_then(Value::as_str).filter(|f| !f.is_empty()),
            tag.get("key").and_then(Value::as_str).filter(|k| !k.is_empty()),
        ) else {
            continue;
        };
        let entry = columns.entry(field.to_owned()).or_default();
        entry.insert(key.to_lowercase());
        if let Some(value) = tag.get("value").and_then(Value::as_str).filter(|v| !v.is_empty()) {
            entry.insert(value.to_lowercase());
        }
    }
    columns
}

/// A schema change seen in an ingested event and not recorded yet: written in the event's own
/// atomic batch, so an acknowledged event's change is recorded (as a [`SchemaChangeRecord`])
/// even when the server stops before it got to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenSchemaChange {
    pub format: u8,
    /// Sequence of the event that carried the new schema.
    pub sequence: u64,
    /// That event's time.
    pub time: Timestamp,
    pub dataset: DatasetId,
    /// The schema version before and after (content hashes).
    pub from: String,
    pub to: String,
}

/// A schema change seen in ingested events: a dataset's current schema moved from one
/// version to another. `report` is the change report at that moment (classification and
/// the consumers it reached), as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchemaChangeRecord {
    pub format: u8,
    /// Sequence of the event that carried the new schema.
    pub sequence: u64,
    /// That event's time.
    pub time: Timestamp,
    pub dataset: DatasetId,
    pub from: String,
    pub to: String,
    /// The worst verdict of the change (stored as its name, as earlier builds wrote it).
    pub verdict: crate::Verdict,
    pub report: Value,
}
