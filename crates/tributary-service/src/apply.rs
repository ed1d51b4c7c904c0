//! Applying one parsed event to the store, and rebuilding the index from the store.
//!
//! The rules for what an event means live in `tributary-model` (facet merging, run state,
//! observation order); this module loads the records an event touches, applies those
//! rules, and writes every changed record in one atomic batch.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;
use tributary_graph::LineageIndex;
use tributary_model::{
    ColumnEdgeSpec, DatasetId, DatasetRecord, JobId, JobRecord, NodeRef, Observation, ObservationKey,
    ObservationSource, RECORD_FORMAT, RunRecord, SchemaVersionRecord, StampOutcome, Version, column_lineage_edges,
    facet_column_tags, facet_owners, facet_tags, merge_facets, merge_stamp,
};
use tributary_openlineage::{DatasetRef, EventBody, Facet, ParsedEvent, canonical_json, content_hash};
use tributary_store::{EncodedColumnLineage, EncodedEvent, EventWrite, GroupWrite, Store, View};

use crate::sql::SqlLineage;
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
    pub(crate) schema_changes: Vec<tributary_model::SeenSchemaChange>,
    /// Nodes whose `ownership` facet this event changed, with the owners it now names.
    owners: Vec<(NodeRef, BTreeMap<String, Option<String>>)>,
}

impl IndexDelta {
    /// Whether the event stored an alias (looked up from the published state by later groups).
    pub(crate) fn stores_aliases(&self) -> bool {
        !self.aliases.is_empty()
    }

    /// Applies the delta to the index; returns whether the event changed a dataset's schema
    /// (the change waits in the store to be recorded: `recorder`).
    pub(crate) fn apply(self, state: &mut crate::State) -> bool {
        let crate::State { index, aliases, owners, .. } = state;
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
        for (node, named) in &self.owners {
            // The event filed the node (`datasets`, `jobs` above).
            if let Some(number) = index.node_number(node) {
                owners.set(number, named);
            }
        }
        !self.schema_changes.is_empty()
    }
}

/// The records one event touches, loaded once, changed in memory, written once.
struct Touched<'a> {
    /// The store as the events of the group applied so far leave it.
    store: View<'a>,
    /// The event's canonical JSON, which holds every facet's JSON (`DatasetRef::facet_span`).
    canonical: &'a [u8],
    write: EventWrite,
    datasets: BTreeMap<DatasetId, DatasetRecord>,
    /// Datasets this event creates: nothing of them is stored yet, so nothing is read.
    created: HashSet<DatasetId>,
    /// `ownership` and `tags` values this event wrote (`None`: deleted), so a second mention
    /// of the dataset in the same event diffs the label indexes against them, not the store.
    written_facets: HashMap<(DatasetId, String), Option<Value>>,
    delta: IndexDelta,
    sequence: u64,
    version: Version,
    aliases: StoredAliases<'a>,
}

/// Where the rules look up the aliases that earlier groups stored (the group's own are read
/// from its pending writes either way).
#[derive(Clone, Copy)]
pub(crate) enum StoredAliases<'a> {
    /// Read from the store: a rebuild, which publishes no state.
    InStore,
    /// The aliases published with the index (`State::aliases`, every flushed group's), looked
    /// up under the state's read lock one name at a time, holding no other lock. Once a store
    /// holds any alias, every dataset an event names and every input of its column lineage is
    /// looked up: from sled that was 13% of the writer's time on the benchmark's mesh.
    Published(&'a crate::Shared),
}

/// How an event reached the writer.
#[derive(Default)]
pub(crate) struct Arrival<'a> {
    /// Who sent it: its audit entry goes in the same batch (a rebuild copies the trail instead).
    pub(crate) actor: Option<&'a tributary_model::Actor>,
    /// Its canonical JSON compressed by the caller, off the writer thread.
    pub(crate) encoded: Option<EncodedEvent>,
    /// The log record it was consumed from.
    pub(crate) source: Option<&'a tributary_model::SourcePosition>,
    /// Whether the schema changes it shows are queued in its batch to be recorded (live
    /// ingest; a rebuild copies the recorded and queued ones instead).
    pub(crate) record_schema_changes: bool,
}

impl<'a> Touched<'a> {
    /// Resolves symlink aliases to their canonical dataset.
    fn resolve(&self, id: &DatasetId) -> Result<DatasetId, ServiceError> {
        Ok(self.alias_of(id)?.unwrap_or_else(|| id.clone()))
    }

    /// The canonical dataset `id` is an alias of, if it is one.
    fn alias_of(&self, id: &DatasetId) -> Result<Option<DatasetId>, ServiceError> {
        match self.aliases {
            StoredAliases::InStore => Ok(self.store.alias(id)?),
            StoredAliases::Published(shared) => match self.store.pending_alias(id)? {
                Some(canonical) => Ok(Some(canonical)),
                None => Ok(shared.read_state().aliases.get(id).cloned()),
            },
        }
    }

    /// Loads (or creates) the dataset and merges the facets the event carries for it.
    /// Only facets whose value changed are written; the rest only move their stamp.
    /// `parsed_edges`: the `columnLineage` facet's edges as the parser read them, if it did.
    fn observe_dataset(
        &mut self,
        reference: &DatasetRef,
        mut parsed_edges: Option<ParsedLineage>,
    ) -> Result<DatasetId, ServiceError> {
        let id = self.resolve(&reference.id)?;
        let mut record = match self.datasets.remove(&id) {
            Some(record) => record,
            None => match self.store.dataset(&id)? {
                Some(record) => record,
                None => {
                    self.write.put_graph_dataset(&id);
                    self.created.insert(id.clone());
                    DatasetRecord::new(id.clone(), self.version.time)
                }
            },
        };
        record.touch(self.version.time);
        for facet in reference.facets.iter() {
            let key = facet.key.as_str();
            let outcome = merge_stamp(&mut record.facets, key, facet.hash, self.version);
            let current = (!facet.is_deleted()).then_some(facet);
            match outcome {
                StampOutcome::Older => continue,
                StampOutcome::Same => {
                    if key == "schema" {
                        self.schema_seen_again(&mut record, current)?;
                    }
                    continue;
                }
                StampOutcome::Changed => {}
            }
            // Only the label indexes need the value being replaced.
            let labels = matches!(key, "ownership" | "tags");
            let previous = if labels { self.facet_value(&id, key)? } else { None };
            match current {
                Some(facet) => self.write.put_dataset_facet_from_event(
                    &id,
                    key,
                    self.canonical,
                    self.sequence,
                    facet.span.json.clone(),
                ),
                None => self.write.delete_dataset_facet(&id, key),
            }
            if labels {
                self.written_facets.insert((id.clone(), key.to_owned()), current.map(|facet| facet.value().clone()));
            }
            match key {
                "schema" => self.schema_seen(&mut record, current)?,
                "columnLineage" => {
                    let (edges, encoded) = match current {
                        Some(facet) => {
                            let parsed = parsed_edges.take().unwrap_or_else(|| ParsedLineage {
                                edges: column_lineage_edges(facet.value()),
                                encoded: None,
                            });
                            let (edges, aliased) = self.resolve_column_inputs(parsed.edges)?;
                            (edges, parsed.encoded.filter(|_| !aliased))
                        }
                        None => (Vec::new(), None),
                    };
                    // The caller's record holds these edges unless an alias changed an input.
                    match encoded {
                        Some(encoded) => self.write.put_encoded_column_lineage(&id, encoded),
                        None => self.write.put_column_lineage(&id, &edges)?,
                    }
                    self.delta.column_lineage.retain(|(output, _)| output != &id);
                    self.delta.column_lineage.push((id.clone(), edges));
                    self.delta.graph_policies_dirty = true;
                }
                "symlinks" => self.register_aliases(&mut record, current.map(Facet::value)),
                "ownership" | "tags" => {
                    let node = NodeRef::from(&id);
                    let (before, after) = (previous.as_ref(), current.map(Facet::value));
                    if key == "ownership" {
                        let named = facet_owners(after);
                        self.relabel_owners(&node, &facet_owners(before), &named);
                        self.delta.owners.push((node, named));
                    } else {
                        self.relabel_tags(&node, facet_tags(before), facet_tags(after));
                        self.retag_columns(&id, facet_column_tags(before), facet_column_tags(after));
                    }
                    self.delta.graph_policies_dirty = true;
                }
                _ => {}
            }
        }
        self.datasets.insert(id.clone(), record);
        Ok(id)
    }

    /// Observes an event's inputs, then its outputs (each with the column lineage the parser
    /// read for it, in that order in `parsed_edges`), writes the datasets, then merges the
    /// column lineage derived from the job's SQL; returns the inputs' and outputs' ids.
    fn observe_inputs_and_outputs(
        &mut self,
        inputs: &[DatasetRef],
        outputs: &[DatasetRef],
        parsed_edges: &mut impl Iterator<Item = Option<ParsedLineage>>,
        sql: Option<&SqlLineage>,
    ) -> Result<(Vec<DatasetId>, Vec<DatasetId>), ServiceError> {
        let mut observe = |datasets: &[DatasetRef]| {
            datasets
                .iter()
                .map(|dataset| self.observe_dataset(dataset, parsed_edges.next().flatten()))
                .collect::<Result<Vec<_>, _>>()
        };
        let (inputs, outputs) = (observe(inputs)?, observe(outputs)?);
        self.finish_datasets()?;
        if let Some(sql) = sql {
            self.merge_sql_lineage(sql)?;
        }
        Ok((inputs, outputs))
    }

    /// The value of a dataset facet as this event left it so far, else as stored.
    fn facet_value(&self, id: &DatasetId, key: &str) -> Result<Option<Value>, ServiceError> {
        if let Some(written) = self.written_facets.get(&(id.clone(), key.to_owned())) {
            return Ok(written.clone());
        }
        if self.created.contains(id) {
            // A dataset this event created has nothing stored yet.
            return Ok(None);
        }
        Ok(self.store.dataset_facet(id, key)?)
    }

    /// The `schema` facet won with the value it already had (its stamp's hash is unchanged).
    /// `current_schema` was set from that same value when it was stored, so only the time
    /// moves: the fields are not hashed again (a canonical serialisation per dataset per event).
    fn schema_seen_again(&mut self, record: &mut DatasetRecord, facet: Option<&Facet>) -> Result<(), ServiceError> {
        if record.current_schema.is_some() {
            let time = self.version.time;
            record.schema_last_seen = Some(record.schema_last_seen.map_or(time, |seen| seen.max(time)));
            return Ok(());
        }
        self.schema_seen(record, facet)
    }

    /// A `schema` facet won (new or the same again): keeps the current schema version.
    /// `fields_at` is where its `fields` lie in the event's canonical JSON when the parser
    /// noted it (then a new version is stored as a reference to them).
    fn schema_seen(&mut self, record: &mut DatasetRecord, facet: Option<&Facet>) -> Result<(), ServiceError> {
        let time = self.version.time;
        let (Some(facet), Some(fields_at)) = (facet, facet.and_then(|facet| facet.span.schema_fields.clone())) else {
            record.current_schema = None;
            record.schema_last_seen = None;
            return Ok(());
        };
        // The facet's value is built only when its fields are not in this event's JSON (never
        // for a parsed event) or must be stored inline.
        let fields = || facet.value().get("fields").cloned().unwrap_or(Value::Null);
        let fields_json = self.canonical.get(fields_at.clone());
        let hash = match fields_json {
            Some(json) => content_hash(json),
            None => content_hash(&canonical_json(&fields())),
        };
        let hash = format!("{hash:032x}");
        if record.current_schema.as_deref() == Some(hash.as_str()) {
            record.schema_last_seen = Some(record.schema_last_seen.map_or(time, |seen| seen.max(time)));
            return Ok(());
        }
        // The superseded version keeps when it was last seen (its fields are not read).
        if let Some(old) = record.current_schema.clone() {
            if let Some(mut superseded) = self.store.stored_schema_version(&record.id, &old)? {
                let last_seen = superseded.last_seen();
                superseded.set_last_seen(last_seen.max(record.schema_last_seen.unwrap_or(last_seen)));
                self.write.put_stored_schema_version(&record.id, &old, &superseded)?;
            }
            self.delta.schema_changes.push(tributary_model::SeenSchemaChange {
                format: RECORD_FORMAT,
                dataset: record.id.clone(),
                from: old,
                to: hash.clone(),
                time,
                sequence: self.sequence,
            });
        }
        // A dataset this event created has no stored versions yet. A new version refers to
        // its fields in this event when the parser located them (no copy of them is made).
        if self.created.contains(&record.id) || !self.store.has_schema_version(&record.id, &hash)? {
            let by_reference = fields_json.is_some()
                && self.write.put_schema_version_from_event(&record.id, &hash, time, self.sequence, fields_at);
            if !by_reference {
                let version = SchemaVersionRecord {
                    format: RECORD_FORMAT,
                    hash: hash.clone(),
                    fields: fields(),
                    first_seen: time,
                    last_seen: time,
                    first_sequence: self.sequence,
                };
                self.write.put_schema_version(&record.id, &version)?;
            }
        }
        record.current_schema = Some(hash);
        record.schema_last_seen = Some(time);
        Ok(())
    }

    fn register_aliases(&mut self, record: &mut DatasetRecord, facet: Option<&Value>) {
        let Some(identifiers) = facet.and_then(|facet| facet.get("identifiers")).and_then(Value::as_array) else {
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

    /// Writes the datasets.
    fn finish_datasets(&mut self) -> Result<(), ServiceError> {
        let datasets = std::mem::take(&mut self.datasets);
        for (id, record) in datasets {
            self.write.put_dataset(&record)?;
            self.delta.datasets.push(id);
        }
        Ok(())
    }

    /// Merges the column lineage derived from the job's SQL into each output's lineage:
    /// this event's reported lineage when it sent some, else the stored one. Written only
    /// when the merge changes it: every run of a SQL job carries the same facet, and a
    /// rewrite would also re-evaluate the graph policies for nothing.
    fn merge_sql_lineage(&mut self, sql: &SqlLineage) -> Result<(), ServiceError> {
        for (output, derived) in &sql.outputs {
            let id = self.resolve(output)?;
            let (derived, _) = self.resolve_column_inputs(derived.clone())?;
            let current = match self.delta.column_lineage.iter().find(|(written, _)| written == &id) {
                Some((_, edges)) => edges.clone(),
                None => self.store.column_lineage(&id)?,
            };
            let merged = crate::sql::merge(current.clone(), &derived);
            if merged == current {
                continue;
            }
            self.write.put_column_lineage(&id, &merged)?;
            self.delta.column_lineage.retain(|(written, _)| written != &id);
            self.delta.column_lineage.push((id, merged));
            self.delta.graph_policies_dirty = true;
        }
        Ok(())
    }

    /// Input columns named by a symlink alias belong to the canonical dataset. The edges come
    /// back sorted and without duplicates (sorted only when not so already: a facet's edges
    /// are, and most inputs have no alias).
    /// The edges with every input that is an alias replaced by its canonical dataset, sorted
    /// and without duplicates; and whether any was.
    fn resolve_column_inputs(
        &self,
        mut edges: Vec<ColumnEdgeSpec>,
    ) -> Result<(Vec<ColumnEdgeSpec>, bool), ServiceError> {
        let mut aliased = false;
        for edge in &mut edges {
            if let Some(canonical) = self.alias_of(&edge.input)? {
                edge.input = canonical;
                aliased = true;
            }
        }
        if !edges.windows(2).all(|pair| pair[0] < pair[1]) {
            edges.sort();
            edges.dedup();
        }
        Ok((edges, aliased))
    }

    /// Keeps the owner index in step with a node's `ownership` facet: owners gone are
    /// removed, new ones filed, and those whose role changed filed again with it.
    fn relabel_owners(
        &mut self,
        node: &NodeRef,
        before: &BTreeMap<String, Option<String>>,
        after: &BTreeMap<String, Option<String>>,
    ) {
        for owner in before.keys().filter(|owner| !after.contains_key(*owner)) {
            self.write.delete_owner(owner, node);
        }
        for (owner, role) in after {
            if before.get(owner) != Some(role) {
                self.write.put_owner(owner, role.as_deref(), node);
            }
        }
    }

    /// Keeps the tag index in step with a node's `tags` facet.
    fn relabel_tags(&mut self, node: &NodeRef, before: BTreeSet<String>, after: BTreeSet<String>) {
        for tag in before.difference(&after) {
            self.write.delete_tag(tag, node);
        }
        for tag in after.difference(&before) {
            self.write.put_tag(tag, node);
        }
    }

    /// Keeps the column tag index in step with a dataset's field-level tags.
    fn retag_columns(
        &mut self,
        id: &DatasetId,
        before: BTreeMap<String, BTreeSet<String>>,
        after: BTreeMap<String, BTreeSet<String>>,
    ) {
        for (field, tags) in &before {
            for tag in tags.iter().filter(|tag| !after.get(field).is_some_and(|now| now.contains(*tag))) {
                self.write.delete_column_tag(tag, id, field);
            }
        }
        for (field, tags) in &after {
            for tag in tags.iter().filter(|tag| !before.get(field).is_some_and(|then| then.contains(*tag))) {
                self.write.put_column_tag(tag, id, field);
            }
        }
    }

    /// Merges job facets, keeping the owner and tag indexes in step.
    fn merge_job_facets(&mut self, job: &mut JobRecord, facets: &serde_json::Map<String, Value>) {
        let value = |facets: &tributary_model::Facets, key: &str| facets.get(key).and_then(|e| e.value.clone());
        let (owners_before, tags_before) = (value(&job.facets, "ownership"), value(&job.facets, "tags"));
        let changed = merge_facets(&mut job.facets, facets, self.version);
        let node = NodeRef::from(&job.id);
        if changed.iter().any(|key| key == "ownership") {
            let named = facet_owners(value(&job.facets, "ownership").as_ref());
            self.relabel_owners(&node, &facet_owners(owners_before.as_ref()), &named);
            self.delta.owners.push((node.clone(), named));
        }
        if changed.iter().any(|key| key == "tags") {
            let after = value(&job.facets, "tags");
            self.relabel_tags(&node, facet_tags(tags_before.as_ref()), facet_tags(after.as_ref()));
        }
    }

    /// Loads (or creates, filing it in the graph keyspace) the job.
    fn load_job(&mut self, id: &JobId) -> Result<JobRecord, ServiceError> {
        match self.store.job(id)? {
            Some(record) => Ok(record),
            None => {
                self.write.put_job_io(id, &[], &[])?;
                Ok(JobRecord::new(id.clone(), self.version.time))
            }
        }
    }

    /// The job's greatest stored observation other than `old`, or `None` when `new` beats
    /// every stored one anyway. The job record names its greatest stored observation
    /// (`current`, with its inputs and outputs: `update_observation` keeps them so), so the
    /// store is scanned only when `old` is that one and `new` is smaller (late events).
    fn stored_best_observation(
        &self,
        job: &JobRecord,
        old: Option<&Observation>,
        new: Option<&Observation>,
    ) -> Result<Option<Observation>, ServiceError> {
        let Some(current) = job.current else { return Ok(None) };
        let replaces_current = old.is_some_and(|old| old.key == current);
        if !replaces_current {
            return Ok(Some(Observation {
                format: RECORD_FORMAT,
                key: current,
                inputs: job.inputs.clone(),
                outputs: job.outputs.clone(),
            }));
        }
        if new.is_some_and(|new| new.key >= current) {
            // Every other stored observation is at most `current`.
            return Ok(None);
        }
        Ok(self.store.best_observation(&job.id, old.map(|o| &o.key))?)
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
        let stored_best = self.stored_best_observation(job, old, new.as_ref())?;
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
        // The job record (written by the caller) keeps which observation is current; the graph
        // keyspace, the index and the policies only care about the edges, which a run's COMPLETE
        // rarely changes after its START.
        job.current = current;
        if job.inputs != inputs || job.outputs != outputs {
            job.inputs = inputs;
            job.outputs = outputs;
            self.write.put_job_io(&job.id, &job.inputs, &job.outputs)?;
            self.delta.job_io.push((job.id.clone(), job.inputs.clone(), job.outputs.clone()));
            self.delta.graph_policies_dirty = true;
        }
        Ok(())
    }
}

/// The `columnLineage` edges the parser read for one dataset, with their record as the caller
/// encoded it (when it did).
pub(crate) struct ParsedLineage {
    edges: Vec<ColumnEdgeSpec>,
    encoded: Option<EncodedColumnLineage>,
}

/// The `columnLineage` edges the parser read from each dataset of the event (inputs, then
/// outputs), taken out of it for the writer to keep, each with its record from `encoded`
/// (the caller's, in the same order; empty when it made none).
fn take_column_lineage(
    body: &mut EventBody,
    encoded: Vec<Option<EncodedColumnLineage>>,
) -> std::vec::IntoIter<Option<ParsedLineage>> {
    let mut encoded = encoded.into_iter();
    let taken = body.datasets_mut().into_iter().map(|dataset| {
        let record = encoded.next().flatten();
        dataset.column_lineage.take().map(|edges| ParsedLineage { edges, encoded: record })
    });
    taken.collect::<Vec<_>>().into_iter()
}

/// Applies one event: its writes are added to `group` whole, or not at all when it fails, and
/// `group` is committed as one atomic batch by the caller ([`Store::commit_group`]). Reads see
/// the events added to `group` before (a duplicate of one of them is found). Returns what the
/// index must learn once it is durable (`None` for a duplicate).
pub(crate) fn apply_event(
    store: &Store,
    group: &mut GroupWrite,
    event: &mut ParsedEvent,
    sql: Option<&SqlLineage>,
    arrival: Arrival<'_>,
    aliases: StoredAliases<'_>,
) -> Result<(IngestOutcome, Option<IndexDelta>), ServiceError> {
    let Arrival { actor, mut encoded, source, record_schema_changes } = arrival;
    let view = store.view(group);
    if let Some(sequence) = view.sequence_of_hash(event.hash)? {
        // A consumed record that repeats a stored event still moves its partition on.
        if let Some(position) = source {
            let mut write = store.write();
            write.put_source_offset(position);
            group.add(write);
        }
        return Ok((IngestOutcome { sequence, duplicate: true, forwarded: None }, None));
    }
    let sequence = view.last_sequence()? + 1;
    let mut touched = Touched {
        store: view,
        canonical: &event.canonical,
        write: store.write(),
        datasets: BTreeMap::new(),
        created: HashSet::new(),
        written_facets: HashMap::new(),
        delta: IndexDelta::default(),
        sequence,
        version: event.version(),
        aliases,
    };
    let lineage_records = encoded.as_mut().map(EncodedEvent::take_column_lineage).unwrap_or_default();
    match encoded {
        Some(encoded) => touched.write.put_encoded_event(sequence, event.hash, encoded),
        None => touched.write.put_event(sequence, event.hash, &event.canonical),
    }
    if let Some(position) = source {
        touched.write.put_source_offset(position);
    }
    // Who sent it, in the same atomic batch (a rebuild copies the trail instead: `actor` None).
    if let Some(actor) = actor {
        let subject = match &event.body {
            EventBody::Run(body) => format!("event {sequence} (run of job {})", body.job),
            EventBody::Job(body) => format!("event {sequence} (job {})", body.job),
            EventBody::Dataset(body) => format!("event {sequence} (dataset {})", body.dataset.id),
        };
        let mut audit = tributary_model::AuditRecord::new(
            tributary_model::Timestamp::now(),
            actor.clone(),
            tributary_model::AuditKind::EventStored,
            subject,
        );
        audit.sequence = Some(sequence);
        touched.write.put_event_audit(&audit, sequence)?;
    }
    let mut parsed_edges = take_column_lineage(&mut event.body, lineage_records);
    match &event.body {
        EventBody::Run(body) => {
            let (inputs, outputs) =
                touched.observe_inputs_and_outputs(&body.inputs, &body.outputs, &mut parsed_edges, sql)?;

            let mut job = touched.load_job(&body.job)?;
            job.touch(touched.version.time);
            touched.merge_job_facets(&mut job, &body.job_facets);
            if let Some(sql) = sql {
                job.sql_error = sql.error.clone();
            }

            let old_run = touched.store.run(&body.run_id)?;
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
            touched.observe_dataset(&body.dataset, parsed_edges.next().flatten())?;
            touched.finish_datasets()?;
        }
        EventBody::Job(body) => {
            let (inputs, outputs) =
                touched.observe_inputs_and_outputs(&body.inputs, &body.outputs, &mut parsed_edges, sql)?;
            let mut job = touched.load_job(&body.job)?;
            job.touch(touched.version.time);
            touched.merge_job_facets(&mut job, &body.job_facets);
            if let Some(sql) = sql {
                job.sql_error = sql.error.clone();
            }
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
    let Touched { mut write, delta, .. } = touched;
    if record_schema_changes {
        for seen in &delta.schema_changes {
            write.put_seen_schema_change(seen)?;
        }
    }
    group.add(write);
    Ok((IngestOutcome { sequence, duplicate: false, forwarded: None }, Some(delta)))
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

/// Every stored alias, to its canonical dataset.
pub(crate) fn load_aliases(store: &Store) -> Result<crate::AliasMap, ServiceError> {
    let mut aliases = crate::AliasMap::new();
    for pair in store.scan_aliases() {
        let (alias, canonical) = pair?;
        aliases.insert(alias, canonical);
    }
    Ok(aliases)
}

/// Rebuilds the lineage index and alias map from the store (start-up).
pub(crate) fn rebuild_index(store: &Store) -> Result<(LineageIndex, crate::AliasMap), ServiceError> {
    if store.ensure_graph_keys()? {
        tracing::info!(
            "filed every dataset and job in the store's graph keyspace (once, for a store from an earlier build)"
        );
    }
    let mut index = LineageIndex::default();
    for id in store.scan_dataset_ids() {
        index.ensure_dataset(&id?);
    }
    for entry in store.scan_job_io() {
        let (job, inputs, outputs) = entry?;
        index.ensure_job(&job);
        index.set_job_io(&job, &inputs, &outputs);
    }
    // Column lineage is the bulk of the stored graph (16M column edges at 1M datasets): it is
    // loaded after start-up by `columns::load`, so dataset lineage answers right away.
    index.begin_column_load();
    let aliases = load_aliases(store)?;
    let sequence = store.last_sequence()?;
    index.set_watermark(tributary_model::Watermark { sequence, events: sequence, offsets: Vec::new() });
    Ok((index, aliases))
}
