//! The column-level graph: which column feeds which, with the transformations, kept beside
//! the dataset graph (columns hang off dataset nodes).

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use petgraph::Direction as PetDirection;
use petgraph::stable_graph::NodeIndex;
use tributary_model::{
    ColumnEdgeSpec, DatasetId, Direction, EdgeSource, JobId, NodeKind, Transformation, TransformationKind,
};

use crate::chunks::Chunks;
use crate::{GraphError, LineageIndex};

mod impact;
pub use impact::{ColumnImpact, ColumnImpactWalk, ImpactedColumn, SettledColumnImpact};

type FieldId = u32;
/// Columns from a traversal's start to some column, both included.
type ColumnPath = Vec<(DatasetId, String)>;
type TransformationsId = u32;

/// Columns and their edges. Field ids are dense; field names and transformation lists are
/// interned (a mesh has millions of columns and few distinct names: `id`, `amount`, …).
#[derive(Default)]
pub(crate) struct ColumnGraph {
    /// Each field's dataset and name.
    pub(crate) fields: Chunks<(NodeIndex, NameId)>,
    pub(crate) names: FieldNames,
    pub(crate) by_dataset: FastMap<NodeIndex, Vec<FieldId>>,
    /// Each field's edges to the columns it feeds, and from the columns that feed it.
    pub(crate) down: Rows,
    pub(crate) up: Rows,
    /// Interned (transformations, source) pairs: few distinct ones across all edges.
    pub(crate) transformations: Vec<(Vec<Transformation>, EdgeSource)>,
    /// Ids into `transformations`, found by the pair's hash (`hashbrown`'s, as `FastMap`).
    transformation_ids: HashTable<TransformationsId>,
    transformation_hasher: hashbrown::DefaultHashBuilder,
}

/// The maps the writer updates for every column edge it sets: `hashbrown`'s with its fast
/// default hasher (foldhash), not std's SipHash; their keys are the index's own numbers.
pub(crate) type FastMap<K, V> = hashbrown::HashMap<K, V>;

type NameId = u32;

/// One field's edges: the column at the other end and the edge's transformations.
pub(crate) type Row = Vec<(FieldId, TransformationsId)>;

/// Fields whose rows changed since the last freeze that trigger the next one: as many as
/// the frozen rows (so the copies double in size and their cost is amortised), and at least
/// this many (a few in tests, so that they freeze between changes).
const FREEZE_MIN: usize = if cfg!(test) { 4 } else { 1 << 16 };

/// One direction of the column graph. A mesh has many columns with an edge or two each
/// (16 per dataset in the benchmark's mesh): a list per column would cost more in list
/// headers and heap blocks than in edges. So the rows sit in one array (compressed rows,
/// `start[f]..start[f + 1]`), frozen at the last [`Rows::freeze`]; a row changed since, or
/// the row of a field added since, lives in `changed` until the next freeze. The frozen
/// arrays are never changed in place (a freeze makes new ones), so a snapshot's image shares
/// them ([`Rows::image`]) instead of copying them.
#[derive(Default)]
pub(crate) struct Rows {
    start: Arc<Vec<u32>>,
    entries: Arc<Vec<(FieldId, TransformationsId)>>,
    changed: FastMap<FieldId, Row>,
    /// Edges in all current rows.
    edges: usize,
}

impl Rows {
    fn frozen_fields(&self) -> usize {
        self.start.len().saturating_sub(1)
    }

    pub(crate) fn row(&self, field: FieldId) -> &[(FieldId, TransformationsId)] {
        if let Some(row) = self.changed.get(&field) {
            return row;
        }
        let index = field as usize;
        if index < self.frozen_fields() {
            &self.entries[self.start[index] as usize..self.start[index + 1] as usize]
        } else {
            &[]
        }
    }

    fn row_mut(&mut self, field: FieldId) -> &mut Row {
        let Self { start, entries, changed, .. } = self;
        changed.entry(field).or_insert_with(|| {
            let index = field as usize;
            if index + 1 < start.len() {
                entries[start[index] as usize..start[index + 1] as usize].to_vec()
            } else {
                Vec::new()
            }
        })
    }

    fn push(&mut self, field: FieldId, entry: (FieldId, TransformationsId)) {
        self.row_mut(field).push(entry);
        self.edges += 1;
    }

    fn take(&mut self, field: FieldId) -> Row {
        let row = std::mem::take(self.row_mut(field));
        self.edges -= row.len();
        row
    }

    fn retain(&mut self, field: FieldId, keep: impl FnMut(&(FieldId, TransformationsId)) -> bool) {
        let row = self.row_mut(field);
        let before = row.len();
        row.retain(keep);
        self.edges -= before - row.len();
    }

    fn due(&self) -> bool {
        self.changed.len() > self.frozen_fields().max(FREEZE_MIN)
    }

    /// Copies the rows of fields `0..n_fields` into one array, empties `changed`.
    pub(crate) fn freeze(&mut self, n_fields: usize) {
        if self.changed.is_empty() && self.frozen_fields() == n_fields {
            return;
        }
        let mut start = Vec::with_capacity(n_fields + 1);
        let mut entries = Vec::with_capacity(self.edges);
        start.push(0);
        for field in 0..n_fields {
            entries.extend_from_slice(self.row(field as FieldId));
            // Fewer than 2^32 column edges: field ids are u32 too.
            start.push(entries.len() as u32);
        }
        *self = Self { start: Arc::new(start), entries: Arc::new(entries), changed: FastMap::new(), edges: self.edges };
    }

    /// The rows as they are now, for a snapshot to write later (see [`RowsImage`]): the
    /// frozen arrays shared, the rows changed since copied into one array.
    pub(crate) fn image(&self) -> RowsImage {
        let mut changed: Vec<(FieldId, u32, u32)> = Vec::with_capacity(self.changed.len());
        let mut changed_entries = Vec::with_capacity(self.changed.values().map(Vec::len).sum());
        for (&field, row) in &self.changed {
            changed.push((field, changed_entries.len() as u32, row.len() as u32));
            changed_entries.extend_from_slice(row);
        }
        changed.sort_unstable_by_key(|&(field, _, _)| field);
        RowsImage { start: Arc::clone(&self.start), entries: Arc::clone(&self.entries), changed, changed_entries }
    }

    /// Rows given whole, in field order (a snapshot's).
    pub(crate) fn from_rows(start: Vec<u32>, entries: Vec<(FieldId, TransformationsId)>) -> Self {
        let edges = entries.len();
        Self { start: Arc::new(start), entries: Arc::new(entries), changed: FastMap::new(), edges }
    }

    /// The reverse of `self` (who points at each field), for `n_fields` fields: rows in
    /// order of the pointing field.
    pub(crate) fn reversed(&self, n_fields: usize) -> Self {
        let mut counts = vec![0u32; n_fields + 1];
        for field in 0..n_fields {
            for &(other, _) in self.row(field as FieldId) {
                counts[other as usize + 1] += 1;
            }
        }
        for index in 1..counts.len() {
            counts[index] += counts[index - 1];
        }
        let start = counts.clone();
        let mut next = counts;
        let mut entries = vec![(0, 0); self.edges];
        for field in 0..n_fields {
            for &(other, transformations) in self.row(field as FieldId) {
                let at = &mut next[other as usize];
                entries[*at as usize] = (field as FieldId, transformations);
                *at += 1;
            }
        }
        Self::from_rows(start, entries)
    }

    pub(crate) fn edge_count(&self) -> usize {
        self.edges
    }
}

/// One direction's rows at the moment [`Rows::image`] was taken, whatever the writer does to
/// the rows since.
pub(crate) struct RowsImage {
    start: Arc<Vec<u32>>,
    entries: Arc<Vec<(FieldId, TransformationsId)>>,
    /// The rows changed before the image (field, offset and length in `changed_entries`), by field.
    changed: Vec<(FieldId, u32, u32)>,
    changed_entries: Vec<(FieldId, TransformationsId)>,
}

impl RowsImage {
    /// Calls `each` with the row of every field `0..n_fields`, in order.
    pub(crate) fn each_row<E>(
        &self,
        n_fields: usize,
        mut each: impl FnMut(&[(FieldId, TransformationsId)]) -> Result<(), E>,
    ) -> Result<(), E> {
        let frozen = self.start.len().saturating_sub(1);
        let mut changed = self.changed.iter().peekable();
        for field in 0..n_fields {
            let row = match changed.next_if(|&&(changed_field, _, _)| changed_field as usize == field) {
                Some(&(_, offset, len)) => &self.changed_entries[offset as usize..(offset + len) as usize],
                None if field < frozen => &self.entries[self.start[field] as usize..self.start[field + 1] as usize],
                None => &[],
            };
            each(row)?;
        }
        Ok(())
    }
}

/// Distinct field names, each stored once, found through a hash table of their ids.
#[derive(Default)]
pub(crate) struct FieldNames {
    pub(crate) names: Vec<Box<str>>,
    table: HashTable<NameId>,
    hasher: std::hash::RandomState,
}

impl FieldNames {
    fn find(&self, name: &str) -> Option<NameId> {
        let hash = self.hasher.hash_one(name);
        self.table.find(hash, |&id| &*self.names[id as usize] == name).copied()
    }

    pub(crate) fn intern(&mut self, name: &str) -> NameId {
        if let Some(id) = self.find(name) {
            return id;
        }
        let Self { names, table, hasher } = self;
        let id = names.len() as NameId;
        names.push(name.into());
        table.insert_unique(hasher.hash_one(name), id, |&other| hasher.hash_one(&*names[other as usize]));
        id
    }

    fn get(&self, id: NameId) -> &str {
        &self.names[id as usize]
    }
}

impl ColumnGraph {
    fn field(&self, dataset: NodeIndex, name: &str) -> Option<FieldId> {
        let name = self.names.find(name)?;
        self.by_dataset.get(&dataset)?.iter().copied().find(|&id| self.fields[id as usize].1 == name)
    }

    fn ensure_field(&mut self, dataset: NodeIndex, name: &str) -> FieldId {
        if let Some(id) = self.field(dataset, name) {
            return id;
        }
        let id = self.fields.len() as FieldId;
        let name = self.names.intern(name);
        self.fields.push((dataset, name));
        self.by_dataset.entry(dataset).or_default().push(id);
        id
    }

    /// A field's dataset and name.
    fn at(&self, field: FieldId) -> (NodeIndex, &str) {
        let (dataset, name) = self.fields[field as usize];
        (dataset, self.names.get(name))
    }

    /// Freezes the rows and gives back the spare capacity of every list (after the load at
    /// start-up, which grows them one edge at a time).
    pub(crate) fn shrink(&mut self) {
        self.down.freeze(self.fields.len());
        self.up.freeze(self.fields.len());
        for fields in self.by_dataset.values_mut() {
            fields.shrink_to_fit();
        }
        self.fields.shrink_to_fit();
        self.names.names.shrink_to_fit();
        self.by_dataset.shrink_to_fit();
    }

    pub(crate) fn intern(&mut self, transformations: &[Transformation], source: EdgeSource) -> TransformationsId {
        let Self { transformations: known, transformation_ids, transformation_hasher: hasher, .. } = self;
        let hash = |list: &[Transformation], source: EdgeSource| hasher.hash_one((list, source));
        let found = transformation_ids.find(hash(transformations, source), |&id| {
            let (list, known_source) = &known[id as usize];
            list.as_slice() == transformations && *known_source == source
        });
        if let Some(&id) = found {
            return id;
        }
        let id = known.len() as TransformationsId;
        known.push((transformations.to_vec(), source));
        transformation_ids.insert_unique(hash(transformations, source), id, |&other| {
            let (list, source) = &known[other as usize];
            hash(list, *source)
        });
        id
    }

    fn list(&self, id: TransformationsId) -> &[Transformation] {
        &self.transformations[id as usize].0
    }

    fn source(&self, id: TransformationsId) -> EdgeSource {
        self.transformations[id as usize].1
    }

    /// An edge without transformations (producers that predate them, dbt-ol) is taken as
    /// carrying the value: assuming it does not would let a change check call its consumers
    /// unaffected without evidence.
    fn is_direct(&self, id: TransformationsId) -> bool {
        let list = self.list(id);
        list.is_empty() || list.iter().any(|t| t.kind == TransformationKind::Direct)
    }

    fn is_masked(&self, id: TransformationsId) -> bool {
        let list = self.list(id);
        let mut direct = list.iter().filter(|t| t.kind == TransformationKind::Direct).peekable();
        direct.peek().is_some() && direct.all(|t| t.masking)
    }

    pub(crate) fn edge_count(&self) -> usize {
        self.down.edge_count()
    }
}

/// Column lineage goes one way at a time.
fn column_direction(direction: Direction) -> Result<bool, GraphError> {
    match direction {
        Direction::Downstream => Ok(true),
        Direction::Upstream => Ok(false),
        Direction::Both => Err(GraphError::Unsupported("column lineage goes UPSTREAM or DOWNSTREAM, not BOTH")),
    }
}

/// A column lineage answer made in steps, so that its caller can let go of the index between
/// them: see [`LineageIndex::begin_column_lineage`].
pub struct ColumnLineageWalk {
    walk: ColumnWalk,
    /// The start column, as asked for.
    start: (DatasetId, String),
    /// Once walked: the traversal and its answer as named so far.
    naming: Option<ColumnNaming>,
}

struct ColumnNaming {
    traversal: ColumnTraversal,
    /// Named in order: the columns (each path its parent's plus one step), the unverified
    /// datasets, the edges.
    answer: ColumnAnswer,
}

/// Per output dataset, the input datasets its column lineage covers completely, sorted.
type CoveredInputs = hashbrown::HashMap<NodeIndex, Vec<NodeIndex>>;

/// A column traversal under way (see [`LineageIndex::start_column_walk`]): breadth-first,
/// the queue of columns whose edges are still to follow.
#[derive(Default)]
pub(crate) struct ColumnWalk {
    /// The start column; `None` when the dataset has no such column (nothing to walk).
    start: Option<FieldId>,
    downstream: bool,
    depth: u32,
    limit: usize,
    value_only: bool,
    traversal: ColumnTraversal,
    // hashbrown's hasher: these sets see every column a hub's change reaches.
    visited: hashbrown::HashSet<FieldId>,
    checked_datasets: hashbrown::HashSet<NodeIndex>,
    /// Per output dataset met, the inputs its column lineage covers completely, learned once a
    /// walk: an output is met once for each of its inputs the walk reaches. (Learned in an
    /// earlier step, it may be older than the step's index, as an answer may mix states.)
    covered_inputs: CoveredInputs,
    /// (column, dataset it feeds) of every edge in `traversal.edges` (downstream; upstream,
    /// the column fed and the feeding column's dataset): gathered as the steps go, so that
    /// [`ColumnWalk::finish`] needs no index.
    reached: hashbrown::HashSet<(FieldId, NodeIndex)>,
    /// (column, distance, the hit it is).
    queue: VecDeque<(FieldId, u32, Option<u32>)>,
}

/// A column traversal in ids, in the order it reached things.
#[derive(Default)]
pub(crate) struct ColumnTraversal {
    pub(crate) hits: Vec<TraversedColumn>,
    /// (from, to, transformations) of every edge followed or found closing on a visited column.
    pub(crate) edges: Vec<(FieldId, FieldId, TransformationsId)>,
    pub(crate) unverified: Vec<TraversedUnverified>,
    pub(crate) truncated: bool,
}

#[derive(Clone, Copy)]
pub(crate) struct TraversedColumn {
    pub(crate) field: FieldId,
    /// The field's dataset (fields never move: read once, under the index).
    pub(crate) dataset: NodeIndex,
    /// The hit it was reached from; `None` for the start column.
    pub(crate) parent: Option<u32>,
    pub(crate) distance: u32,
    pub(crate) transformations: TransformationsId,
    pub(crate) direct: bool,
}

/// A traversed column: the start, or a hit by its position.
#[derive(Clone, Copy)]
pub(crate) enum Via {
    Start,
    Hit(u32),
}

#[derive(Clone, Copy)]
pub(crate) struct TraversedUnverified {
    pub(crate) dataset: NodeIndex,
    pub(crate) job: NodeIndex,
    pub(crate) via: Via,
}

/// A column reached by a column-lineage traversal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnHit {
    pub dataset: DatasetId,
    /// The column, or `*` for "every column" (a dataset-wide INDIRECT entry).
    pub field: String,
    /// Column hops from the start.
    pub distance: u32,
    /// The edge that reached it carries the value (DIRECT); INDIRECT hits end their branch.
    pub direct: bool,
    /// Every DIRECT transformation on the reaching edge masks the value.
    pub masked: bool,
    /// Transformations on the edge that reached it.
    pub transformations: Vec<Transformation>,
    /// Whether that edge was reported by the producer or derived from the job's SQL.
    pub source: EdgeSource,
    /// Columns from the start to this one, both included.
    pub path: Vec<(DatasetId, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnEdge {
    pub from: (DatasetId, String),
    pub to: (DatasetId, String),
    pub transformations: Vec<Transformation>,
    pub source: EdgeSource,
}

/// A dataset related to a traversed column only through dataset-level lineage: a job
/// reads (downstream) or writes (upstream) across it without column lineage, so its
/// columns are unknown, not unaffected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnverifiedDataset {
    pub dataset: DatasetId,
    pub job: JobId,
    /// The traversed column whose dataset the job connects to `dataset`.
    pub via: (DatasetId, String),
    /// Columns from the start to `via`, both included.
    pub path: Vec<(DatasetId, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnAnswer {
    pub columns: Vec<ColumnHit>,
    pub edges: Vec<ColumnEdge>,
    pub unverified: Vec<UnverifiedDataset>,
    pub truncated: bool,
}

impl LineageIndex {
    /// Replaces the column lineage into `output` (from its current `columnLineage` facet).
    pub fn set_column_lineage(&mut self, output: &DatasetId, edges: &[ColumnEdgeSpec]) {
        if let Some(touched) = &mut self.columns_loading {
            touched.insert(output.clone());
        }
        self.replace_column_lineage(output, edges);
    }

    /// Marks the column lineage as loading: column answers are incomplete until
    /// [`Self::finish_column_load`], and [`Self::load_column_lineage`] fills it in.
    pub fn begin_column_load(&mut self) {
        self.columns_loading = Some(HashSet::new());
    }

    /// Loads the stored column lineage into `output`, unless [`Self::set_column_lineage`]
    /// set a newer one since the load began. Returns whether it was applied.
    pub fn load_column_lineage(&mut self, output: &DatasetId, edges: &[ColumnEdgeSpec]) -> bool {
        if self.columns_loading.as_ref().is_some_and(|touched| touched.contains(output)) {
            return false;
        }
        self.replace_column_lineage(output, edges);
        true
    }

    pub fn finish_column_load(&mut self) {
        self.columns_loading = None;
        self.columns.shrink();
    }

    /// Whether the column lineage is complete (not loading).
    pub fn columns_ready(&self) -> bool {
        self.columns_loading.is_none()
    }

    pub(crate) fn replace_column_lineage(&mut self, output: &DatasetId, edges: &[ColumnEdgeSpec]) {
        let output_node = self.ensure_dataset(output);
        let old_fields: Vec<FieldId> = self.columns.by_dataset.get(&output_node).cloned().unwrap_or_default();
        for field in old_fields {
            let incoming = self.columns.up.take(field);
            for (source, _) in incoming {
                self.columns.down.retain(source, |&(target, _)| target != field);
            }
        }
        // Edges come sorted by input dataset: look each one up once.
        let mut last_input: Option<(&DatasetId, _)> = None;
        let mut last_transformations: Option<(&ColumnEdgeSpec, TransformationsId)> = None;
        for edge in edges {
            let input_node = match last_input {
                Some((input, node)) if input == &edge.input => node,
                _ => {
                    let node = self.ensure_dataset(&edge.input);
                    last_input = Some((&edge.input, node));
                    node
                }
            };
            let source = self.columns.ensure_field(input_node, &edge.input_field);
            let target = self.columns.ensure_field(output_node, &edge.output_field);
            // Neighbouring edges mostly carry the same transformations: compare before hashing.
            let transformations = match last_transformations {
                Some((previous, id))
                    if previous.source == edge.source && previous.transformations == edge.transformations =>
                {
                    id
                }
                _ => self.columns.intern(&edge.transformations, edge.source),
            };
            last_transformations = Some((edge, transformations));
            self.columns.down.push(source, (target, transformations));
            self.columns.up.push(target, (source, transformations));
        }
        let n_fields = self.columns.fields.len();
        for rows in [&mut self.columns.down, &mut self.columns.up] {
            if rows.due() {
                rows.freeze(n_fields);
            }
        }
    }

    /// The column lineage into `output` as edge specs (what `set_column_lineage` was given,
    /// in field order).
    pub(crate) fn column_specs_into(&self, output: &DatasetId) -> Vec<ColumnEdgeSpec> {
        let Some(node) = self.dataset_index(output) else { return Vec::new() };
        let Some(fields) = self.columns.by_dataset.get(&node) else { return Vec::new() };
        let mut specs = Vec::new();
        for &field in fields {
            for &(source, transformations) in self.columns.up.row(field) {
                let (input, input_field) = self.column_ref(source);
                specs.push(ColumnEdgeSpec {
                    input,
                    input_field,
                    output_field: self.columns.at(field).1.to_owned(),
                    transformations: self.columns.list(transformations).to_vec(),
                    source: self.columns.source(transformations),
                });
            }
        }
        specs
    }

    /// Whether column lineage mentions `dataset.field` at all.
    pub fn has_column(&self, dataset: &DatasetId, field: &str) -> bool {
        self.dataset_index(dataset).is_some_and(|node| self.columns.field(node, field).is_some())
    }

    pub fn column_edge_count(&self) -> usize {
        self.columns.edge_count()
    }

    /// Whether the column lineage from `input` into `output` is complete, asked for one pair
    /// (see [`Self::completely_covered_inputs`]): the tests' oracle.
    #[cfg(test)]
    pub(crate) fn column_lineage_is_complete_between(&self, input: NodeIndex, output: NodeIndex) -> bool {
        let Some(fields) = self.columns.by_dataset.get(&output) else { return false };
        fields.iter().any(|&field| {
            let dataset_wide = self.columns.at(field).1 == "*";
            self.columns.up.row(field).iter().any(|&(source, transformations)| {
                let (source_dataset, source_name) = self.columns.at(source);
                source_dataset == input
                    && (dataset_wide
                        || source_name == "*"
                        || self.columns.list(transformations).iter().any(|t| t.kind == TransformationKind::Indirect))
            })
        })
    }

    /// The inputs whose column lineage into `output` is complete enough to prove that a column
    /// it does not mention is unused, sorted. It must carry INDIRECT information (an INDIRECT
    /// transformation or a dataset-wide entry). Lineage with DIRECT edges only, or with no
    /// transformations at all (dbt-ol's facets), says nothing about join, filter or grouping
    /// keys, so the consumer stays UNVERIFIED rather than silently unaffected. One pass over
    /// the output's columns answers for every input a walk reaches it from.
    pub(crate) fn completely_covered_inputs(&self, output: NodeIndex) -> Vec<NodeIndex> {
        let Some(fields) = self.columns.by_dataset.get(&output) else { return Vec::new() };
        let mut inputs = Vec::new();
        for &field in fields {
            let dataset_wide = self.columns.at(field).1 == "*";
            for &(source, transformations) in self.columns.up.row(field) {
                let (source_dataset, source_name) = self.columns.at(source);
                if dataset_wide
                    || source_name == "*"
                    || self.columns.list(transformations).iter().any(|t| t.kind == TransformationKind::Indirect)
                {
                    inputs.push(source_dataset);
                }
            }
        }
        inputs.sort_unstable();
        inputs.dedup();
        inputs
    }

    /// Columns by dataset namespace, dataset name and field name.
    fn column_order(&self, left: FieldId, right: FieldId) -> std::cmp::Ordering {
        let (left_dataset, left_field) = self.columns.at(left);
        let (right_dataset, right_field) = self.columns.at(right);
        let (left_node, right_node) = (&self.nodes[left_dataset.index()], &self.nodes[right_dataset.index()]);
        (&*left_node.namespace, &*left_node.name, left_field).cmp(&(
            &*right_node.namespace,
            &*right_node.name,
            right_field,
        ))
    }

    fn column_ref(&self, field: FieldId) -> (DatasetId, String) {
        let (dataset, name) = self.columns.at(field);
        (self.dataset_id(dataset), name.to_owned())
    }

    /// Column lineage from `dataset.field`: DIRECT edges are followed transitively (the
    /// value travels on), INDIRECT ones are reported and end their branch. `depth` counts
    /// column hops, `limit` the columns returned. `Both` is not a column direction.
    pub fn column_lineage(
        &self,
        dataset: &DatasetId,
        field: &str,
        direction: Direction,
        depth: u32,
        limit: usize,
    ) -> Result<ColumnAnswer, GraphError> {
        let walk = self.begin_column_lineage(dataset, field, direction, depth, limit)?;
        Ok(self.name_column_lineage(walk))
    }

    /// Where a column's value travels: downstream along DIRECT edges, stopping at edges
    /// whose DIRECT transformations all mask the value (the spread of a classification
    /// such as PII). Masked columns are not returned.
    pub fn column_value_reach(
        &self,
        dataset: &DatasetId,
        field: &str,
        limit: usize,
    ) -> Result<ColumnAnswer, GraphError> {
        let walk = self.begin_column_walk(dataset, field, Direction::Downstream, u32::MAX, limit, true)?;
        Ok(self.name_column_lineage(walk))
    }

    /// Starts [`Self::column_lineage`]'s walk; nothing is walked yet. Walked by
    /// [`Self::step_column_lineage`] (a caller may let go of the index between steps: field
    /// and node ids stay valid, edges set meanwhile are seen by the steps after), named by
    /// [`Self::name_column_lineage`].
    pub fn begin_column_lineage(
        &self,
        dataset: &DatasetId,
        field: &str,
        direction: Direction,
        depth: u32,
        limit: usize,
    ) -> Result<ColumnLineageWalk, GraphError> {
        self.begin_column_walk(dataset, field, direction, depth, limit, false)
    }

    fn begin_column_walk(
        &self,
        dataset: &DatasetId,
        field: &str,
        direction: Direction,
        depth: u32,
        limit: usize,
        value_only: bool,
    ) -> Result<ColumnLineageWalk, GraphError> {
        let dataset_node = self.known_dataset(dataset)?;
        let downstream = column_direction(direction)?;
        let walk = self.start_column_walk(dataset_node, field, downstream, depth, limit, value_only);
        Ok(ColumnLineageWalk { walk, start: (dataset.clone(), field.to_owned()), naming: None })
    }

    /// Walks on, then names: follows the edges of at most `budget` (at least 1) columns of
    /// the walk's queue, or, once it is walked, names the next `budget` columns, unverified
    /// datasets or edges of its answer. Whether the answer is whole.
    pub fn step_column_lineage(&self, walk: &mut ColumnLineageWalk, budget: usize) -> bool {
        let budget = budget.max(1);
        let Some(naming) = walk.naming.as_mut() else {
            if self.step_column_walk(&mut walk.walk, budget) {
                let traversal = std::mem::take(&mut walk.walk).finish();
                walk.naming = Some(ColumnNaming {
                    answer: ColumnAnswer { truncated: traversal.truncated, ..ColumnAnswer::default() },
                    traversal,
                });
            }
            return false;
        };
        let ColumnNaming { traversal, answer } = naming;
        let start = &walk.start;
        let mut left = budget;
        // Hits come in traversal order and a parent before its children: each path is its
        // parent's with one more step.
        while left > 0 && answer.columns.len() < traversal.hits.len() {
            let hit = &traversal.hits[answer.columns.len()];
            let mut path = match hit.parent {
                Some(parent) => answer.columns[parent as usize].path.clone(),
                None => vec![start.clone()],
            };
            path.push(self.column_ref(hit.field));
            answer.columns.push(ColumnHit {
                dataset: self.dataset_id(self.columns.at(hit.field).0),
                field: self.columns.at(hit.field).1.to_owned(),
                distance: hit.distance,
                direct: hit.direct,
                masked: self.columns.is_masked(hit.transformations),
                transformations: self.columns.list(hit.transformations).to_vec(),
                source: self.columns.source(hit.transformations),
                path,
            });
            left -= 1;
        }
        while left > 0 && answer.unverified.len() < traversal.unverified.len() {
            let unverified = &traversal.unverified[answer.unverified.len()];
            let path = match unverified.via {
                Via::Start => vec![start.clone()],
                Via::Hit(hit) => answer.columns[hit as usize].path.clone(),
            };
            answer.unverified.push(self.named_unverified(traversal, start, unverified, path));
            left -= 1;
        }
        while left > 0 && answer.edges.len() < traversal.edges.len() {
            let (from, to, transformations) = traversal.edges[answer.edges.len()];
            answer.edges.push(ColumnEdge {
                from: self.column_ref(from),
                to: self.column_ref(to),
                transformations: self.columns.list(transformations).to_vec(),
                source: self.columns.source(transformations),
            });
            left -= 1;
        }
        left > 0
    }

    /// The walk's answer, named (walked and named to its end first if it is not whole,
    /// bounded by its limit).
    pub fn name_column_lineage(&self, mut walk: ColumnLineageWalk) -> ColumnAnswer {
        while !self.step_column_lineage(&mut walk, usize::MAX) {}
        walk.naming.map(|naming| naming.answer).unwrap_or_default()
    }

    /// An unverified dataset of `traversal`, named, with `path` (from `start` to its `via`).
    pub(crate) fn named_unverified(
        &self,
        traversal: &ColumnTraversal,
        start: &(DatasetId, String),
        unverified: &TraversedUnverified,
        path: ColumnPath,
    ) -> UnverifiedDataset {
        UnverifiedDataset {
            dataset: self.dataset_id(unverified.dataset),
            job: self.job_id(unverified.job),
            via: match unverified.via {
                Via::Start => start.clone(),
                Via::Hit(hit) => self.column_ref(traversal.hits[hit as usize].field),
            },
            path,
        }
    }

    pub(crate) fn known_dataset(&self, dataset: &DatasetId) -> Result<NodeIndex, GraphError> {
        self.dataset_index(dataset).ok_or_else(|| GraphError::UnknownNode {
            kind: "dataset",
            namespace: dataset.namespace.clone(),
            name: dataset.name.clone(),
        })
    }

    pub(crate) fn job_id(&self, job: NodeIndex) -> JobId {
        let node = &self.nodes[job.index()];
        JobId::new(&*node.namespace, &*node.name)
    }

    /// The column traversal in ids (nothing is named until a caller picks what it keeps),
    /// walked a bounded step at a time ([`Self::step_column_walk`], then
    /// [`ColumnWalk::finish`]), so that a caller can let go of the index between steps.
    /// DIRECT edges are followed, INDIRECT ones end their branch; at most `limit` columns.
    pub(crate) fn start_column_walk(
        &self,
        dataset_node: NodeIndex,
        field: &str,
        downstream: bool,
        depth: u32,
        limit: usize,
        value_only: bool,
    ) -> ColumnWalk {
        let mut walk = ColumnWalk {
            start: None,
            downstream,
            depth,
            limit,
            value_only,
            traversal: ColumnTraversal::default(),
            visited: hashbrown::HashSet::default(),
            checked_datasets: hashbrown::HashSet::default(),
            covered_inputs: CoveredInputs::default(),
            reached: hashbrown::HashSet::default(),
            queue: VecDeque::new(),
        };
        self.add_unverified(
            dataset_node,
            Via::Start,
            downstream,
            &mut walk.covered_inputs,
            &mut walk.traversal.unverified,
        );
        if let Some(start) = self.columns.field(dataset_node, field) {
            walk.start = Some(start);
            walk.visited.insert(start);
            walk.checked_datasets.insert(dataset_node);
            walk.queue.push_back((start, 0, None));
        }
        walk
    }

    /// Follows the edges of at most `budget` columns of the walk's queue; whether the walk is
    /// done. Field and node ids stay valid between steps (neither is ever removed); edges set
    /// meanwhile are seen by the steps after.
    pub(crate) fn step_column_walk(&self, walk: &mut ColumnWalk, budget: usize) -> bool {
        let ColumnWalk {
            downstream,
            depth,
            limit,
            value_only,
            traversal,
            visited,
            checked_datasets,
            covered_inputs,
            reached,
            queue,
            ..
        } = walk;
        let (downstream, depth, limit, value_only) = (*downstream, *depth, *limit, *value_only);
        for _ in 0..budget {
            let Some((current, distance, parent)) = queue.pop_front() else { return true };
            if distance >= depth {
                continue;
            }
            let neighbours = if downstream { self.columns.down.row(current) } else { self.columns.up.row(current) };
            // In column order, not in the order the edges were ingested: which of several
            // equally near columns first reaches the next one (its `path`) must not depend
            // on ingest order, which replicas consuming several partitions do not share.
            let mut neighbours = neighbours.to_vec();
            if neighbours.len() > 1 {
                neighbours.sort_by(|&(left, _), &(right, _)| self.column_order(left, right));
            }
            for (next, transformations) in neighbours {
                let edge = if downstream { (current, next, transformations) } else { (next, current, transformations) };
                if value_only && (!self.columns.is_direct(transformations) || self.columns.is_masked(transformations)) {
                    continue;
                }
                let next_dataset = self.columns.at(next).0;
                if visited.contains(&next) {
                    traversal.edges.push(edge);
                    reached.insert((current, next_dataset));
                    continue;
                }
                if traversal.hits.len() >= limit {
                    traversal.truncated = true;
                    continue;
                }
                traversal.edges.push(edge);
                reached.insert((current, next_dataset));
                visited.insert(next);
                let direct = self.columns.is_direct(transformations);
                let hit = u32::try_from(traversal.hits.len()).expect("fewer than 2^32 columns");
                traversal.hits.push(TraversedColumn {
                    field: next,
                    dataset: next_dataset,
                    parent,
                    distance: distance + 1,
                    transformations,
                    direct,
                });
                if direct {
                    if checked_datasets.insert(next_dataset) {
                        self.add_unverified(
                            next_dataset,
                            Via::Hit(hit),
                            downstream,
                            covered_inputs,
                            &mut traversal.unverified,
                        );
                    }
                    queue.push_back((next, distance + 1, Some(hit)));
                }
            }
        }
        queue.is_empty()
    }
}

impl ColumnWalk {
    /// The walk's traversal, once [`LineageIndex::step_column_walk`] said it is done. Needs no
    /// index (the steps gathered what it reads), so a caller that lets go of the index between
    /// steps does not hold it for this either.
    pub(crate) fn finish(self) -> ColumnTraversal {
        let ColumnWalk { start, mut traversal, reached, .. } = self;
        let Some(start) = start else { return traversal };
        // A dataset reached through a column edge is known, not unverified, for that column.
        // Every edge traversed from `via` counts, not only the one on the path that first
        // reached the column: which of several equally near columns comes first depends on
        // the order the lineage was ingested in, and answers must not. One set of (column,
        // dataset it feeds) pairs, not a scan of every edge per unverified dataset: at the
        // impact limit both lists run to 100,000 and more.
        let ColumnTraversal { hits, unverified, .. } = &mut traversal;
        unverified.retain(|unverified| {
            let via = match unverified.via {
                Via::Start => start,
                Via::Hit(hit) => hits[hit as usize].field,
            };
            !reached.contains(&(via, unverified.dataset))
        });
        traversal
    }
}

impl LineageIndex {
    /// Datasets one job away from `dataset` (its consumers' outputs downstream, its
    /// producers' inputs upstream) that have no column lineage with it.
    fn add_unverified(
        &self,
        dataset: NodeIndex,
        via: Via,
        downstream: bool,
        covered_inputs: &mut CoveredInputs,
        unverified: &mut Vec<TraversedUnverified>,
    ) {
        let side = if downstream { PetDirection::Outgoing } else { PetDirection::Incoming };
        for job in self.graph.neighbors_directed(dataset, side) {
            if self.nodes[job.index()].kind != NodeKind::Job {
                continue;
            }
            for other in self.graph.neighbors_directed(job, side) {
                let (input, output) = if downstream { (dataset, other) } else { (other, dataset) };
                let covered = covered_inputs
                    .entry(output)
                    .or_insert_with(|| self.completely_covered_inputs(output))
                    .binary_search(&input)
                    .is_ok();
                if !covered {
                    unverified.push(TraversedUnverified { dataset: other, job, via });
                }
            }
        }
    }
}
