//! Applying one parsed event to the store, and rebuilding the index from the store.
//!
//! The rules for what an event means live in `tributary-model` (facet merging, run state,
//! observation order); this module loads the records an event touches, applies those
//! rules, and writes every changed record in one atomic batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use tributary_graph::LineageIndex;
use tributary_model::{
    ColumnEdgeSpec, DatasetId, DatasetRecord, JobId, JobRecord, NodeRef, Observation, ObservationKey,
    ObservationSource, RECORD_FORMAT, RunRecord, SchemaVersionRecord, Version, column_lineage_edges, facet_column_tags,
    facet_owners, facet_tags, merge_facets,
};
use tributary_openlineage::{DatasetRef, EventBody, ParsedEvent, canonical_json, content_hash};
use tributary_store::{EventWrite, Store};

use crate::{IngestOutcome, ServiceError};

/// What the in-memory index must learn once the event's batch is durable.
#[derive(Debug, Default)]
pub(crate) struct IndexDelta {
    datasets: Vec<DatasetId>,
    jobs: Vec<JobId>,
    job_io: Vec<(JobId, Vec<DatasetId>, Vec<DatasetId>)>,
    column_lineage: Vec<(DatasetId, Vec<ColumnEdgeSpec>)>,
    /// Something the graph policies look at changed (edges, column lineage, tags).
    pub(crate) graph_policies_dirty: bool,
    aliases: Vec<(DatasetId, DatasetId)>,
    /// Datasets whose current schema this event changed.
    pub(crate) schema_changes: Vec<SchemaChangeSeen>,
}

/// A dataset's current schema changed from one version to another.
#[derive(Clone, Debug)]
pub(crate) struct SchemaChangeSeen {
    pub(crate) dataset: DatasetId,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) time: tributary_model::Timestamp,
    pub(crate) sequence: u64,
}

impl IndexDelta {
    /// Applies the delta to the index; returns the schema changes it carried.
    pub(crate) fn apply(
        self,
        index: &mut LineageIndex,
        aliases: &mut HashMap<DatasetId, DatasetId>,
    ) -> Vec<SchemaChangeSeen> {
        for dataset in &self.datasets {
            index.ensure_dataset(dataset);
        }
        for job in &self.jobs {
            index.ensure_job(job);
        }
        for (job, inputs, outputs) in &self.job_io {
            index.set_job_io(job, inputs, outputs);
        }
        for (output, edges) in &self.column_lineage {
            index.set_column_lineage(output, edges);
        }
        aliases.extend(self.aliases);
        self.schema_changes
    }
}

/// The records one event touches, loaded once, changed in memory, written once.
struct Touched<'a> {
    store: &'a Store,
    write: EventWrite,
    datasets: BTreeMap<DatasetId, DatasetRecord>,
    changed_schema: BTreeSet<DatasetId>,
    changed_column_lineage: BTreeSet<DatasetId>,
    delta: IndexDelta,
    sequence: u64,
    version: Version,
}

impl<'a> Touched<'a> {
    /// Resolves symlink aliases to their canonical dataset.
    fn resolve(&self, id: &DatasetId) -> Result<DatasetId, ServiceError> {
        Ok(self.store.alias(id)?.unwrap_or_else(|| id.clone()))
    }

    /// Loads (or creates) the dataset and merges the facets the event carries for it.
    fn observe_dataset(&mut self, reference: &DatasetRef) -> Result<DatasetId, ServiceError> {
        let id = self.resolve(&reference.id)?;
        let record = match self.datasets.remove(&id) {
            Some(record) => record,
            None => self.store.dataset(&id)?.unwrap_or_else(|| DatasetRecord::new(id.clone(), self.version.time)),
        };
        let mut record = record;
        record.touch(self.version.time);
        let before = labels(&record.facets);
        let columns_before = facet_column_tags(&record.facets);
        let changed = merge_facets(&mut record.facets, &reference.facets, self.version);
        if changed.iter().any(|key| key == "ownership" || key == "tags") {
            self.relabel(&NodeRef::from(&id), &before, &labels(&record.facets));
            let columns_after = facet_column_tags(&record.facets);
            for (field, tags) in &columns_before {
                for tag in tags.iter().filter(|tag| !columns_after.get(field).is_some_and(|after| after.contains(*tag)))
                {
                    self.write.delete_column_tag(tag, &id, field);
                }
            }
            for (field, tags) in &columns_after {
                for tag in
                    tags.iter().filter(|tag| !columns_before.get(field).is_some_and(|before| before.contains(*tag)))
                {
                    self.write.put_column_tag(tag, &id, field);
                }
            }
            self.delta.graph_policies_dirty = true;
        }
        if changed.iter().any(|key| key == "schema") {
            self.changed_schema.insert(id.clone());
        }
        if reference.facets.contains_key("schema") {
            // Same schema seen again: extend its `last_seen`.
            self.changed_schema.insert(id.clone());
        }
        if changed.iter().any(|key| key == "columnLineage") {
            self.changed_column_lineage.insert(id.clone());
        }
        if changed.iter().any(|key| key == "symlinks") {
            self.register_aliases(&mut record);
        }
        self.datasets.insert(id.clone(), record);
        Ok(id)
    }

    fn register_aliases(&mut self, record: &mut DatasetRecord) {
        let Some(identifiers) = record
            .facets
            .get("symlinks")
            .and_then(|entry| entry.value.as_ref())
            .and_then(|facet| facet.get("identifiers"))
            .and_then(Value::as_array)
        else {
            return;
        };
        for identifier in identifiers {
            let (Some(namespace), Some(name)) =
                (identifier.get("namespace").and_then(Value::as_str), identifier.get("name").and_then(Value::as_str))
            else {
                continue;
            };
            let alias = DatasetId::new(namespace, name);
            if alias == record.id
                || namespace.is_empty()
                || name.is_empty()
                || namespace.contains('\0')
                || name.contains('\0')
            {
                continue;
            }
            if record.aliases.insert(alias.clone()) {
                self.write.put_alias(&alias, &record.id);
                self.delta.aliases.push((alias, record.id.clone()));
            }
        }
    }

    /// Writes the datasets, recording new schema versions.
    fn finish_datasets(&mut self) -> Result<(), ServiceError> {
        let datasets = std::mem::take(&mut self.datasets);
        for (id, mut record) in datasets {
            if self.changed_schema.contains(&id) {
                let fields = record
                    .facets
                    .get("schema")
                    .and_then(|entry| entry.value.as_ref())
                    .and_then(|facet| facet.get("fields"))
                    .cloned();
                match fields {
                    Some(fields) => {
                        let hash = format!("{:032x}", content_hash(&canonical_json(&fields)));
                        self.record_schema_version(&id, &hash, fields)?;
                        if let Some(old) = record.current_schema.as_ref().filter(|old| **old != hash) {
                            self.delta.schema_changes.push(SchemaChangeSeen {
                                dataset: id.clone(),
                                from: old.clone(),
                                to: hash.clone(),
                                time: self.version.time,
                                sequence: self.sequence,
                            });
                        }
                        record.current_schema = Some(hash);
                    }
                    None => record.current_schema = None,
                }
            }
            if self.changed_column_lineage.contains(&id) {
                let edges = match record.facets.get("columnLineage").and_then(|entry| entry.value.as_ref()) {
                    Some(facet) => self.resolve_column_inputs(column_lineage_edges(facet))?,
                    None => Vec::new(),
                };
                self.write.put_column_lineage(&id, &edges)?;
                self.delta.column_lineage.push((id.clone(), edges));
                self.delta.graph_policies_dirty = true;
            }
            self.write.put_dataset(&record)?;
            self.delta.datasets.push(id);
        }
        Ok(())
    }

    /// Input columns named by a symlink alias belong to the canonical dataset.
    fn resolve_column_inputs(&self, mut edges: Vec<ColumnEdgeSpec>) -> Result<Vec<ColumnEdgeSpec>, ServiceError> {
        for edge in &mut edges {
            edge.input = self.resolve(&edge.input)?;
        }
        edges.sort();
        edges.dedup();
        Ok(edges)
    }

    fn record_schema_version(&mut self, id: &DatasetId, hash: &str, fields: Value) -> Result<(), ServiceError> {
        let time = self.version.time;
        let record = match self.store.schema_version(id, hash)? {
            Some(mut known) => {
                if known.first_seen <= time && known.last_seen >= time {
                    return Ok(());
                }
                known.first_seen = known.first_seen.min(time);
                known.last_seen = known.last_seen.max(time);
                known.first_sequence = known.first_sequence.min(self.sequence);
                known
            }
            None => SchemaVersionRecord {
                format: RECORD_FORMAT,
                hash: hash.to_owned(),
                fields,
                first_seen: time,
                last_seen: time,
                first_sequence: self.sequence,
            },
        };
        self.write.put_schema_version(id, &record)?;
        Ok(())
    }

    /// Keeps the owner and tag indexes in step with a node's facets.
    fn relabel(&mut self, node: &NodeRef, before: &Labels, after: &Labels) {
        for owner in before.0.difference(&after.0) {
            self.write.delete_owner(owner, node);
        }
        for owner in after.0.difference(&before.0) {
            self.write.put_owner(owner, node);
        }
        for tag in before.1.difference(&after.1) {
            self.write.delete_tag(tag, node);
        }
        for tag in after.1.difference(&before.1) {
            self.write.put_tag(tag, node);
        }
    }

    /// Merges job facets, keeping the owner and tag indexes in step.
    fn merge_job_facets(&mut self, job: &mut JobRecord, facets: &serde_json::Map<String, Value>) {
        let before = labels(&job.facets);
        let changed = merge_facets(&mut job.facets, facets, self.version);
        if changed.iter().any(|key| key == "ownership" || key == "tags") {
            self.relabel(&NodeRef::from(&job.id), &before, &labels(&job.facets));
        }
    }

    fn load_job(&self, id: &JobId) -> Result<JobRecord, ServiceError> {
        Ok(self.store.job(id)?.unwrap_or_else(|| JobRecord::new(id.clone(), self.version.time)))
    }

    /// Replaces observation `old` of the job by `new`, then makes the job's current
    /// inputs and outputs those of its greatest observation.
    fn update_observation(
        &mut self,
        job: &mut JobRecord,
        old: Option<&Observation>,
        new: Option<Observation>,
    ) -> Result<(), ServiceError> {
        if old == new.as_ref() {
            return Ok(());
        }
        if let Some(old) = old {
            self.write.delete_observation(&job.id, &old.key);
        }
        let stored_best = self.store.best_observation(&job.id, old.map(|o| &o.key))?;
        if let Some(new) = &new {
            self.write.put_observation(&job.id, new)?;
        }
        let best = match (stored_best, new) {
            (Some(stored), Some(new)) => Some(if new.key >= stored.key { new } else { stored }),
            (stored, new) => stored.or(new),
        };
        let (current, inputs, outputs): (Option<ObservationKey>, Vec<DatasetId>, Vec<DatasetId>) = match best {
            Some(best) => (Some(best.key), best.inputs, best.outputs),
            None => (None, Vec::new(), Vec::new()),
        };
        if job.current != current || job.inputs != inputs || job.outputs != outputs {
            job.current = current;
            job.inputs = inputs;
            job.outputs = outputs;
            self.delta.job_io.push((job.id.clone(), job.inputs.clone(), job.outputs.clone()));
            self.delta.graph_policies_dirty = true;
        }
        Ok(())
    }
}

/// Applies one event atomically. Returns what the index must learn once it is durable
/// (`None` for a duplicate).
pub(crate) fn apply_event(
    store: &Store,
    event: &ParsedEvent,
) -> Result<(IngestOutcome, Option<IndexDelta>), ServiceError> {
    if let Some(sequence) = store.sequence_of_hash(event.hash)? {
        return Ok((IngestOutcome { sequence, duplicate: true }, None));
    }
    let sequence = store.last_sequence()? + 1;
    let mut touched = Touched {
        store,
        write: store.write(),
        datasets: BTreeMap::new(),
        changed_schema: BTreeSet::new(),
        changed_column_lineage: BTreeSet::new(),
        delta: IndexDelta::default(),
        sequence,
        version: event.version(),
    };
    touched.write.put_event(sequence, event.hash, &event.canonical);
    match &event.body {
        EventBody::Run(body) => {
            let inputs = body.inputs.iter().map(|d| touched.observe_dataset(d)).collect::<Result<Vec<_>, _>>()?;
            let outputs = body.outputs.iter().map(|d| touched.observe_dataset(d)).collect::<Result<Vec<_>, _>>()?;
            touched.finish_datasets()?;

            let mut job = touched.load_job(&body.job)?;
            job.touch(touched.version.time);
            touched.merge_job_facets(&mut job, &body.job_facets);

            let old_run = store.run(&body.run_id)?;
            let mut run =
                old_run.clone().unwrap_or_else(|| RunRecord::new(body.run_id, body.job.clone(), touched.version));
            run.observe(&body.job, body.event_type, touched.version, sequence);
            merge_facets(&mut run.facets, &body.run_facets, touched.version);
            if let Some(parent) = &body.parent {
                run.parent = Some(parent.clone());
            }
            for (id, reference) in inputs.iter().zip(&body.inputs) {
                merge_facets(run.inputs.entry(id.clone()).or_default(), &reference.use_facets, touched.version);
            }
            for (id, reference) in outputs.iter().zip(&body.outputs) {
                merge_facets(run.outputs.entry(id.clone()).or_default(), &reference.use_facets, touched.version);
            }
            write_timelines(&mut touched.write, old_run.as_ref(), &run, &body.job);
            let old_observation = old_run.as_ref().and_then(RunRecord::observation);
            touched.update_observation(&mut job, old_observation.as_ref(), run.observation())?;
            touched.write.put_run(&run)?;
            touched.write.put_job(&job)?;
            touched.delta.jobs.push(job.id.clone());
        }
        EventBody::Dataset(body) => {
            touched.observe_dataset(&body.dataset)?;
            touched.finish_datasets()?;
        }
        EventBody::Job(body) => {
            let inputs = body.inputs.iter().map(|d| touched.observe_dataset(d)).collect::<Result<Vec<_>, _>>()?;
            let outputs = body.outputs.iter().map(|d| touched.observe_dataset(d)).collect::<Result<Vec<_>, _>>()?;
            touched.finish_datasets()?;
            let mut job = touched.load_job(&body.job)?;
            job.touch(touched.version.time);
            touched.merge_job_facets(&mut job, &body.job_facets);
            if !inputs.is_empty() || !outputs.is_empty() {
                let observation = Observation {
                    format: RECORD_FORMAT,
                    key: ObservationKey {
                        settled: true,
                        time: touched.version.time,
                        source: ObservationSource::JobEvent(touched.version.hash),
                    },
                    inputs: dedup(inputs),
                    outputs: dedup(outputs),
                };
                touched.update_observation(&mut job, None, Some(observation))?;
            }
            touched.write.put_job(&job)?;
            touched.delta.jobs.push(job.id.clone());
        }
    }
    let Touched { write, delta, .. } = touched;
    store.commit(write)?;
    Ok((IngestOutcome { sequence, duplicate: false }, Some(delta)))
}

/// Owners and tags of a node, as the indexes file them.
type Labels = (BTreeSet<String>, BTreeSet<String>);

fn labels(facets: &tributary_model::Facets) -> Labels {
    (facet_owners(facets).into_keys().collect(), facet_tags(facets))
}

fn dedup(mut ids: Vec<DatasetId>) -> Vec<DatasetId> {
    ids.sort();
    ids.dedup();
    ids
}

/// Keeps the job's and the datasets' run timelines keyed by the run's first event time,
/// which can move earlier when events arrive out of order.
fn write_timelines(write: &mut EventWrite, old: Option<&RunRecord>, run: &RunRecord, job: &JobId) {
    let role = |id: &DatasetId| u8::from(run.inputs.contains_key(id)) | (u8::from(run.outputs.contains_key(id)) << 1);
    if let Some(old) = old {
        if old.first_time != run.first_time {
            write.delete_job_run(&old.job, old.first_time, &old.id);
            for id in old.inputs.keys().chain(old.outputs.keys()) {
                write.delete_dataset_run(id, old.first_time, &old.id);
            }
        } else if old.inputs.keys().eq(run.inputs.keys()) && old.outputs.keys().eq(run.outputs.keys()) {
            return;
        }
    }
    write.put_job_run(job, run.first_time, &run.id);
    for id in run.inputs.keys().chain(run.outputs.keys()) {
        write.put_dataset_run(id, run.first_time, &run.id, role(id));
    }
}

/// Rebuilds the lineage index and alias map from the store (start-up).
pub(crate) fn rebuild_index(store: &Store) -> Result<(LineageIndex, HashMap<DatasetId, DatasetId>), ServiceError> {
    let mut index = LineageIndex::default();
    for id in store.scan_dataset_ids() {
        index.ensure_dataset(&id?);
    }
    for job in store.scan_jobs() {
        let job = job?;
        index.ensure_job(&job.id);
        index.set_job_io(&job.id, &job.inputs, &job.outputs);
    }
    for entry in store.scan_column_lineage() {
        let (output, edges) = entry?;
        index.set_column_lineage(&output, &edges);
    }
    let mut aliases = HashMap::new();
    for pair in store.scan_aliases() {
        let (alias, canonical) = pair?;
        aliases.insert(alias, canonical);
    }
    let sequence = store.last_sequence()?;
    index.set_watermark(tributary_model::Watermark { sequence, events: sequence });
    Ok((index, aliases))
}
