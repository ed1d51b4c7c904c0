//! Read-side use cases. Answers carry the [`Watermark`] of the index they were read from.

use serde_json::Value;
use tributary_model::{
    DatasetId, DatasetRecord, Direction, JobId, JobRecord, NodeKind, NodeRef, RunId, RunRecord, RunState, SchemaField,
    SchemaVersionRecord, Timestamp, Watermark, parse_schema_fields,
};

use tributary_auth::Principal;
use tributary_graph::{LineageQuestion, NameFilter};

use crate::visibility::Visibility;
use crate::{AnswerShape, AnswerSink, LineageAnswer, NodeName, Service, ServiceError, Shared, State, units};

/// How many recent runs a dataset or job view lists.
const RECENT_RUNS: usize = 10;
/// Largest page of a listing.
pub const MAX_PAGE: usize = 1000;

#[derive(Clone, Debug)]
pub struct SchemaVersionView {
    pub hash: String,
    pub fields: Vec<SchemaField>,
    pub raw_fields: Value,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

impl From<SchemaVersionRecord> for SchemaVersionView {
    fn from(record: SchemaVersionRecord) -> Self {
        Self {
            hash: record.hash,
            fields: parse_schema_fields(&record.fields),
            raw_fields: record.fields,
            first_seen: record.first_seen,
            last_seen: record.last_seen,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RunSummary {
    pub id: RunId,
    pub job: JobId,
    pub state: RunState,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

impl From<&RunRecord> for RunSummary {
    fn from(run: &RunRecord) -> Self {
        Self { id: run.id, job: run.job.clone(), state: run.state, started_at: run.started_at, ended_at: run.ended_at }
    }
}

#[derive(Clone, Debug)]
pub struct DatasetView {
    pub record: DatasetRecord,
    /// Current facet values, by key.
    pub facets: serde_json::Map<String, Value>,
    pub current_schema: Option<SchemaVersionView>,
    pub schema_versions: Vec<SchemaVersionView>,
    pub producers: Vec<NodeRef>,
    pub consumers: Vec<NodeRef>,
    pub recent_runs: Vec<RunSummary>,
    pub watermark: Watermark,
}

#[derive(Clone, Debug)]
pub struct JobView {
    pub record: JobRecord,
    pub inputs: Vec<NodeRef>,
    pub outputs: Vec<NodeRef>,
    pub recent_runs: Vec<RunSummary>,
    pub watermark: Watermark,
}

/// A lineage answer, its depth bound and watermark. `N` names the nodes: owned
/// [`NodeRef`]s, or the index's shared [`NodeName`]s ([`Service::lineage_named`]).
#[derive(Clone, Debug)]
pub struct LineageView<N = NodeRef> {
    pub answer: LineageAnswer<N>,
    pub depth: u32,
    pub watermark: Watermark,
}

/// A lineage question as a caller asks it: the start (an alias resolves to its dataset),
/// the direction, how far (`depth`, in job hops) and how many nodes at most (`limit`, the
/// start included), each falling back to the configured default when `None`, and the
/// answer's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineageRequest {
    pub start: NodeRef,
    pub direction: Direction,
    pub depth: Option<u32>,
    pub limit: Option<usize>,
    pub shape: AnswerShape,
}

impl LineageRequest {
    /// The request with the default depth and limit, nodes and edges in the answer.
    pub fn new(start: NodeRef, direction: Direction) -> Self {
        Self { start, direction, depth: None, limit: None, shape: AnswerShape::Full }
    }

    pub fn depth(self, depth: Option<u32>) -> Self {
        Self { depth, ..self }
    }

    pub fn limit(self, limit: Option<usize>) -> Self {
        Self { limit, ..self }
    }

    pub fn shaped(self, shape: AnswerShape) -> Self {
        Self { shape, ..self }
    }
}

/// What a lineage answer read out into an [`AnswerSink`] says besides its nodes and edges
/// ([`Service::lineage_into`]).
#[derive(Clone, Debug)]
pub struct LineageOutline {
    /// The node limit cut the answer: more nodes lie within the depth.
    pub truncated: bool,
    pub depth: u32,
    pub watermark: Watermark,
}

impl LineageOutline {
    /// The answer collected by the read-out this outline came from, as a view.
    fn view<N>(self, mut answer: LineageAnswer<N>) -> LineageView<N> {
        answer.truncated = self.truncated;
        LineageView { answer, depth: self.depth, watermark: self.watermark }
    }
}

#[derive(Clone, Debug)]
pub struct ColumnLineageView {
    pub answer: tributary_graph::ColumnAnswer,
    pub depth: u32,
    pub watermark: Watermark,
}

#[derive(Clone, Debug)]
pub struct NodePage {
    pub nodes: Vec<NodeRef>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    pub watermark: Watermark,
}

#[derive(Clone, Debug)]
pub struct EventPage {
    pub events: Vec<(u64, Value)>,
    /// Pass as `after` for the next page; `None` when no more events exist now.
    pub next_after: Option<u64>,
    pub watermark: Watermark,
}

impl Service {
    /// A dataset by name or by one of its symlink aliases.
    pub async fn dataset(&self, namespace: &str, name: &str) -> Result<Option<DatasetView>, ServiceError> {
        let principal = self.require_read()?;
        let id = DatasetId::new(namespace, name);
        self.blocking(move |shared| {
            let (view, watermark) = shared.read_consistent(|shared, state| {
                let visibility = Visibility::new(&principal, state, &shared.redaction_key);
                shared.dataset_view(state, &visibility.named_start(&principal, &id)?)
            })?;
            Ok(view.map(|mut view| {
                view.watermark = watermark;
                view
            }))
        })
        .await
    }

    pub async fn job(&self, namespace: &str, name: &str) -> Result<Option<JobView>, ServiceError> {
        let principal = self.require_read()?;
        let id = JobId::new(namespace, name);
        self.blocking(move |shared| {
            let (view, watermark) = shared.read_consistent(|shared, state| {
                let Some(record) = shared.store.job(&id)? else { return Ok(None) };
                let (mut inputs, mut outputs) = (state.index.job_inputs(&id), state.index.job_outputs(&id));
                let visibility = Visibility::new(&principal, state, &shared.redaction_key);
                visibility.redact_nodes(&mut inputs);
                visibility.redact_nodes(&mut outputs);
                let recent_runs = shared.run_summaries(shared.store.job_runs(&id, RECENT_RUNS)?)?;
                Ok(Some(JobView { record, inputs, outputs, recent_runs, watermark: Watermark::default() }))
            })?;
            Ok(view.map(|mut view| {
                view.watermark = watermark;
                view
            }))
        })
        .await
    }

    /// A run by its UUID text; `runId` names the field in errors.
    pub async fn run(&self, run_id: &str) -> Result<Option<(RunRecord, Watermark)>, ServiceError> {
        let principal = self.require_read()?;
        let id =
            RunId::parse(run_id).map_err(|_| ServiceError::invalid("runId", format!("`{run_id}` is not a UUID")))?;
        self.blocking(move |shared| {
            let (run, watermark) = shared.read_consistent(|shared, state| {
                let visibility = Visibility::new(&principal, state, &shared.redaction_key);
                Ok(shared.store.run(&id)?.map(|run| visibility.redact_run(run)))
            })?;
            Ok(run.map(|run| (run, watermark)))
        })
        .await
    }

    /// Recent runs of a job, most recent first.
    pub async fn job_runs(&self, namespace: &str, name: &str, limit: usize) -> Result<Vec<RunSummary>, ServiceError> {
        self.require_read()?;
        let id = JobId::new(namespace, name);
        let limit = limit.min(MAX_PAGE);
        self.blocking(move |shared| {
            let (runs, _) =
                shared.read_consistent(|shared, _| shared.run_summaries(shared.store.job_runs(&id, limit)?))?;
            Ok(runs)
        })
        .await
    }

    /// Lineage from a dataset or job, in the request's shape: without edges (cheaper for big
    /// answers that need only the nodes), or with dataset nodes only (the impact question:
    /// jobs are followed as hops and count towards the limit, but are not returned). The walk
    /// runs on a blocking thread.
    pub async fn lineage(&self, request: LineageRequest) -> Result<LineageView, ServiceError> {
        self.require_read()?;
        let service = self.clone();
        self.traversal(move |_| service.lineage_blocking(&request)).await
    }

    /// [`Self::lineage`] on the caller's thread (blocking: up to the node limit's worth of
    /// work); for benchmarks and blocking callers.
    pub fn lineage_blocking(&self, request: &LineageRequest) -> Result<LineageView, ServiceError> {
        let principal = self.require_read()?;
        let mut answer = LineageAnswer::default();
        let outline = self.read_out(&principal, request, &mut answer)?;
        Ok(outline.view(answer))
    }

    /// [`Self::lineage`] with the nodes named by the index's shared strings: no name is
    /// copied, so a closure of hundreds of thousands of nodes costs a reference count per
    /// name (for transports that encode the answer as it is sent).
    pub async fn lineage_named(&self, request: LineageRequest) -> Result<LineageView<NodeName>, ServiceError> {
        let collect = LineageAnswer::<NodeName>::default();
        let (answer, outline) = self.lineage_into(request, collect).await?;
        Ok(outline.view(answer))
    }

    /// [`Self::lineage`]'s answer handed to `sink` node by node and edge by edge as it is
    /// read out of the index, behind the caller's redaction, on a blocking thread: for
    /// transports that encode a large answer straight into their wire format (no answer is
    /// built). Gives the sink back with the answer's truncation, depth and watermark.
    pub async fn lineage_into<S: AnswerSink + Send + 'static>(
        &self,
        request: LineageRequest,
        mut sink: S,
    ) -> Result<(S, LineageOutline), ServiceError> {
        let principal = self.require_read()?;
        let service = self.clone();
        self.traversal(move |_| {
            let outline = service.read_out(&principal, &request, &mut sink)?;
            Ok((sink, outline))
        })
        .await
    }

    /// The lineage answer as the caller may see it, read out of the index into `sink` (every
    /// lineage answer is made here, and redacted here: one rule for every shape and naming).
    /// The walk and its read-out take the state's read lock a few hundred nodes at a time
    /// ([`units::graph_in_units`]), so the writer publishes between them: a hub's closure
    /// would hold it for tens of milliseconds. The watermark is that of the start: later
    /// units may see events after it; the answer is redacted as the mesh stood at the start.
    /// The caller must not hold the state lock.
    fn read_out(
        &self,
        principal: &Principal,
        request: &LineageRequest,
        sink: &mut impl AnswerSink,
    ) -> Result<LineageOutline, ServiceError> {
        let (depth, limit) = self.walk_bounds(request.depth, request.limit)?;
        let (mut walk, visibility, watermark) = {
            let state = self.shared.read_state();
            let visibility = Visibility::new(principal, &state, &self.shared.redaction_key);
            let start = walk_start(principal, &state, &visibility, &request.start)?;
            let question =
                LineageQuestion { start: &start, direction: request.direction, depth, limit, shape: request.shape };
            (state.index.begin_lineage(question)?, visibility, state.index.watermark())
        };
        let unit = units::WALK_UNIT;
        if visibility.sees_everything() {
            units::graph_in_units(&self.shared, |state| Ok(state.index.read_out_lineage(&mut walk, sink, unit)))?;
        } else {
            let mut redacting = visibility.redacting(sink);
            units::graph_in_units(&self.shared, |state| {
                Ok(state.index.read_out_lineage(&mut walk, &mut redacting, unit))
            })?;
        }
        Ok(LineageOutline { truncated: walk.truncated(), depth, watermark })
    }

    /// The lineage walk as the caller may start it, unredacted, in one hold (the impact
    /// tests' oracle).
    #[cfg(test)]
    pub(crate) fn walk(&self, principal: &Principal, request: &LineageRequest) -> Result<LineageAnswer, ServiceError> {
        let (depth, limit) = self.walk_bounds(request.depth, request.limit)?;
        let state = self.shared.read_state();
        let visibility = Visibility::new(principal, &state, &self.shared.redaction_key);
        let start = walk_start(principal, &state, &visibility, &request.start)?;
        let question =
            LineageQuestion { start: &start, direction: request.direction, depth, limit, shape: request.shape };
        Ok(state.index.lineage(question)?)
    }

    /// A request's depth and node limit, the configured defaults filled in and the limit
    /// checked.
    pub(crate) fn walk_bounds(&self, depth: Option<u32>, limit: Option<usize>) -> Result<(u32, usize), ServiceError> {
        let config = &self.shared.config;
        let limit = limit.unwrap_or(config.default_lineage_limit);
        if limit == 0 || limit > config.max_lineage_limit {
            return Err(ServiceError::invalid(
                "limit",
                format!("must be between 1 and {} nodes", config.max_lineage_limit),
            ));
        }
        Ok((depth.unwrap_or(config.default_lineage_depth), limit))
    }

    /// Column lineage from `namespace:name.field`. `depth` counts column hops. Waits for the
    /// column lineage load after start-up; runs on a read thread, and takes the state's read
    /// lock a few columns of the walk, then of the naming, at a time (`units`). The watermark
    /// is that of the start.
    pub async fn column_lineage(
        &self,
        dataset: DatasetId,
        field: String,
        direction: Direction,
        depth: Option<u32>,
        limit: Option<usize>,
    ) -> Result<ColumnLineageView, ServiceError> {
        let principal = self.require_read()?;
        let service = self.clone();
        self.column_traversal(move |_| {
            service.column_lineage_blocking(&principal, &dataset, &field, direction, depth, limit)
        })
        .await
    }

    fn column_lineage_blocking(
        &self,
        principal: &Principal,
        dataset: &DatasetId,
        field: &str,
        direction: Direction,
        depth: Option<u32>,
        limit: Option<usize>,
    ) -> Result<ColumnLineageView, ServiceError> {
        let config = &self.shared.config;
        let limit = limit.unwrap_or(config.default_lineage_limit);
        if limit == 0 || limit > config.max_lineage_limit {
            return Err(ServiceError::invalid(
                "limit",
                format!("must be between 1 and {} columns", config.max_lineage_limit),
            ));
        }
        if field.is_empty() {
            return Err(ServiceError::invalid("field", "must not be empty"));
        }
        let depth = depth.unwrap_or(config.default_lineage_depth);
        let (mut walk, visibility, watermark) = {
            let state = self.shared.read_state_with_columns()?;
            let visibility = Visibility::new(principal, &state, &self.shared.redaction_key);
            let dataset = state.resolve_dataset(&visibility.named_start(principal, dataset)?);
            let walk = state.index.begin_column_lineage(&dataset, field, direction, depth, limit)?;
            (walk, visibility, state.index.watermark())
        };
        // Walked, then named, a few columns a unit (the writer publishes between holds); the
        // last hold only hands the whole answer over.
        units::in_units(&self.shared, Shared::read_state_with_columns, |state| {
            Ok(state.index.step_column_lineage(&mut walk, units::COLUMN_UNIT))
        })?;
        let mut answer = self.shared.read_state_with_columns()?.index.name_column_lineage(walk);
        visibility.redact_columns(&mut answer);
        Ok(ColumnLineageView { answer, depth, watermark })
    }

    pub async fn list_datasets(
        &self,
        namespace: Option<String>,
        search: Option<String>,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<NodePage, ServiceError> {
        self.require_read()?;
        self.list(NodeKind::Dataset, namespace, search, cursor, limit).await
    }

    pub async fn list_jobs(
        &self,
        namespace: Option<String>,
        search: Option<String>,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<NodePage, ServiceError> {
        self.require_read()?;
        self.list(NodeKind::Job, namespace, search, cursor, limit).await
    }

    /// Datasets or jobs in name order, paged with an opaque cursor (a search scans names:
    /// on a blocking thread).
    async fn list(
        &self,
        kind: NodeKind,
        namespace: Option<String>,
        search: Option<String>,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<NodePage, ServiceError> {
        let principal = self.require_read()?;
        let limit = check_page(limit)?;
        let after = cursor.as_deref().map(decode_cursor).transpose()?;
        self.blocking(move |shared| {
            list_nodes(shared, &principal, kind, namespace.as_deref(), search.as_deref(), after, limit)
        })
        .await
    }

    /// Stored events after sequence `after`, in ingest order.
    pub async fn events(&self, after: u64, limit: usize) -> Result<EventPage, ServiceError> {
        let principal = self.require_read()?;
        let limit = check_page(limit)?;
        self.blocking(move |shared| {
            let (watermark, visibility) = {
                let state = shared.read_state();
                (state.index.watermark(), Visibility::new(&principal, &state, &shared.redaction_key))
            };
            // Events are immutable once published: reading past the watermark and cutting
            // at it is exact without the optimistic read.
            let stored = shared.store.events_after(after, limit)?;
            let mut events = Vec::with_capacity(stored.len());
            let mut last_read = None;
            for (sequence, bytes) in stored {
                if sequence > watermark.sequence {
                    break;
                }
                last_read = Some(sequence);
                let value: Value = serde_json::from_slice(&bytes)
                    .map_err(|error| ServiceError::Internal(format!("stored event {sequence} is not JSON: {error}")))?;
                // Events about datasets this caller may not see are left out of the page.
                if !visibility.hides_event(&value) {
                    events.push((sequence, value));
                }
            }
            let next_after = match last_read {
                Some(last) if last < watermark.sequence => Some(last),
                _ => None,
            };
            Ok(EventPage { events, next_after, watermark })
        })
        .await
    }
}

/// Where a walk starts: a redacted dataset the caller was shown is revealed, a hidden one named
/// by its real name refused, an alias resolved to its dataset.
pub(crate) fn walk_start(
    principal: &Principal,
    state: &State,
    visibility: &Visibility,
    start: &NodeRef,
) -> Result<NodeRef, ServiceError> {
    Ok(match start.kind {
        NodeKind::Dataset => {
            let named = visibility.named_start(principal, &DatasetId::new(&*start.namespace, &*start.name))?;
            NodeRef::from(&state.resolve_dataset(&named))
        }
        NodeKind::Job => start.clone(),
    })
}

impl State {
    /// The canonical dataset for a name that may be a symlink alias.
    pub(crate) fn resolve_dataset(&self, id: &DatasetId) -> DatasetId {
        if self.index.contains(&NodeRef::from(id)) {
            return id.clone();
        }
        self.aliases.get(id).cloned().unwrap_or_else(|| id.clone())
    }
}

impl Shared {
    fn dataset_view(&self, state: &State, id: &DatasetId) -> Result<Option<DatasetView>, ServiceError> {
        let id = state.resolve_dataset(id);
        let Some(record) = self.store.dataset(&id)? else { return Ok(None) };
        let mut schema_versions: Vec<SchemaVersionView> =
            self.store.schema_versions(&id)?.into_iter().map(SchemaVersionView::from).collect();
        // The current version's `last_seen` moves with every event; the dataset keeps it.
        if let (Some(current), Some(seen)) = (&record.current_schema, record.schema_last_seen) {
            for version in schema_versions.iter_mut().filter(|v| &v.hash == current) {
                version.last_seen = version.last_seen.max(seen);
            }
        }
        let facets = self.store.dataset_facets(&id)?;
        let current_schema = record
            .current_schema
            .as_ref()
            .and_then(|hash| schema_versions.iter().find(|version| &version.hash == hash).cloned());
        let (producers, consumers) = (state.index.producers(&id), state.index.consumers(&id));
        let recent_runs = self.run_summaries(self.store.dataset_runs(&id, RECENT_RUNS)?)?;
        Ok(Some(DatasetView {
            record,
            facets,
            current_schema,
            schema_versions,
            producers,
            consumers,
            recent_runs,
            watermark: Watermark::default(),
        }))
    }

    fn run_summaries(&self, ids: Vec<RunId>) -> Result<Vec<RunSummary>, ServiceError> {
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(run) = self.store.run(&id)? {
                runs.push(RunSummary::from(&run));
            }
        }
        Ok(runs)
    }
}

fn check_page(limit: usize) -> Result<usize, ServiceError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(ServiceError::invalid("first", format!("page size must be between 1 and {MAX_PAGE}")));
    }
    Ok(limit)
}

/// Cursor: hex of `namespace NUL name`. Opaque to clients.
fn encode_cursor(namespace: &str, name: &str) -> String {
    let mut out = String::with_capacity((namespace.len() + name.len() + 1) * 2);
    for byte in namespace.bytes().chain([0]).chain(name.bytes()) {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn decode_cursor(cursor: &str) -> Result<(String, String), ServiceError> {
    let invalid = || ServiceError::invalid("after", "is not a cursor returned by this server");
    if !cursor.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(cursor.get(at..at + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    let separator = bytes.iter().position(|&b| b == 0).ok_or_else(invalid)?;
    let namespace = String::from_utf8(bytes[..separator].to_vec()).map_err(|_| invalid())?;
    let name = String::from_utf8(bytes[separator + 1..].to_vec()).map_err(|_| invalid())?;
    Ok((namespace, name))
}

/// One page of datasets or jobs in name order.
fn list_nodes(
    shared: &Shared,
    principal: &Principal,
    kind: NodeKind,
    namespace: Option<&str>,
    search: Option<&str>,
    after: Option<(String, String)>,
    limit: usize,
) -> Result<NodePage, ServiceError> {
    // The name index scanned a slice at a time (a search may look at every name to fill a
    // page): a publication waits for one slice, not the whole scan. The page's watermark is
    // its first hold's.
    let search = search.map(str::to_lowercase);
    let filter = NameFilter { kind, namespace, search: search.as_deref().unwrap_or("") };
    let mut after = after.map(|(namespace, name)| NodeRef { kind, namespace, name });
    let (mut nodes, mut watermark): (Vec<NodeRef>, Option<Watermark>) = (Vec::new(), None);
    units::graph_in_units(shared, |state| {
        watermark.get_or_insert_with(|| state.index.watermark());
        // One more than the page says whether more follow.
        let wanted = limit + 1 - nodes.len();
        let (found, resume) = state.index.scan_names(&filter, after.as_ref(), units::NAME_UNIT, wanted);
        nodes.extend(found);
        after = resume;
        Ok(after.is_none() || nodes.len() > limit)
    })?;
    let more = nodes.len() > limit;
    nodes.truncate(limit);
    let next_cursor = more.then(|| nodes.last().map(|node| encode_cursor(&node.namespace, &node.name))).flatten();
    // Datasets this caller may not see are left out (the cursor still moves past them).
    let state = shared.read_state();
    let visibility = Visibility::new(principal, &state, &shared.redaction_key);
    let nodes = nodes
        .into_iter()
        .filter(|node| node.kind == NodeKind::Job || !visibility.hides(&DatasetId::new(&*node.namespace, &*node.name)))
        .collect();
    Ok(NodePage { nodes, next_cursor, watermark: watermark.unwrap_or_else(|| state.index.watermark()) })
}
