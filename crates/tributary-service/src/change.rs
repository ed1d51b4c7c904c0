//! The change check: "if this dataset's schema changes like this, what breaks downstream,
//! in which products, owned by whom?" Joins a schema diff (`tributary-change`) with column
//! lineage, dataset lineage and ownership.

use serde_json::Value;
use tributary_change::{Change, ChangeKind, Schema, SchemaDiff, UnsupportedCheck, Verdict};
use tributary_graph::{LineageQuestion, NodeNumber};
use tributary_model::{DatasetId, Direction, JobId, NodeKind, NodeRef, Watermark};

use crate::mesh::ImpactGroup;
use crate::visibility::Visibility;
use crate::{Service, ServiceError, Shared, State, units};

/// Most downstream columns followed per change.
const IMPACT_LIMIT: usize = 100_000;

/// Most impacts an on-demand check lists per change (`checkChange`, `schemaDiff`), nearest
/// first, with the whole count: a hub's column reaches hundreds of thousands of columns, and
/// naming every path made an answer of half a gigabyte. Smaller in unit tests.
const ANSWER_LIST_LIMIT: usize = if cfg!(test) { 40 } else { 10_000 };

/// Most entries of each list (a change's impacts, the affected datasets and jobs, a group's
/// datasets, jobs and owners) a schema change recorded from ingested events keeps: the writer
/// records it before acknowledging the event, and a hub's change reaches hundreds of
/// thousands of columns. The counts say how many there are; `schemaDiff` with the recorded
/// versions lists them all, as of when it is asked.
pub(crate) const RECORDED_LIST_LIMIT: usize = 100;

/// How a proposed schema is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaFormat {
    /// An OpenLineage `schema` facet (`{"fields": [...]}`) or its fields array, JSON.
    OpenLineage,
    /// A dbt models YAML with a model contract.
    Dbt,
}

/// How an impacted column uses the changed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ImpactUse {
    /// Carries the value (IDENTITY, TRANSFORMATION, AGGREGATION).
    Direct,
    /// Influenced by it (JOIN, FILTER, GROUP_BY…); the value does not travel further.
    Indirect,
    /// Known only through dataset-level lineage: columns unknown.
    Unverified,
    /// A dataset-level change (keys, partitioning…) reaches every downstream dataset.
    Dataset,
    /// The consumer reads by position (`SELECT *`, `UNION ALL` in its `sql` facet), so an
    /// added or reordered column shifts what it reads.
    Positional,
}

impl ImpactUse {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "DIRECT",
            Self::Indirect => "INDIRECT",
            Self::Unverified => "UNVERIFIED",
            Self::Dataset => "DATASET",
            Self::Positional => "POSITIONAL",
        }
    }
}

/// One downstream column (or dataset) a change reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeImpact {
    pub dataset: DatasetId,
    /// The column, `*` for every column, or `None` when the columns are unknown.
    pub field: Option<String>,
    /// The job that reads across the last step.
    pub job: Option<JobId>,
    pub distance: u32,
    pub impact_use: ImpactUse,
    /// Where the column edge that reached it comes from (reported, or derived from the
    /// job's SQL); `None` for impacts not found through a column edge.
    pub source: Option<tributary_model::EdgeSource>,
    /// `namespace:name.field` steps from the changed column.
    pub path: Vec<String>,
}

/// One change with everything it reaches.
#[derive(Clone, Debug)]
pub struct CheckedChange {
    pub change: Change,
    /// Nearest first: at most 10,000 in an on-demand check, 100 in a recorded report.
    pub impacts: Vec<ChangeImpact>,
    /// How many impacts the change has (`impacts` may list fewer).
    pub impact_count: usize,
}

/// The answer of a change check.
#[derive(Clone, Debug)]
pub struct ChangeReport {
    pub dataset: DatasetId,
    /// Hash of the schema version compared against.
    pub baseline: String,
    pub changes: Vec<CheckedChange>,
    pub unsupported: Vec<UnsupportedCheck>,
    /// The worst overall verdict of the changes (SAFE < PRODUCER-SIDE < RISKY < BREAKING).
    pub verdict: Verdict,
    pub affected_datasets: Vec<NodeRef>,
    pub affected_jobs: Vec<NodeRef>,
    /// Affected nodes grouped product -> domain -> owners (namespace outside domains).
    pub groups: Vec<ImpactGroup>,
    /// Every event up to here is reflected (the report is built in slices of the state's
    /// lock: events stored meanwhile may show in its later slices).
    pub watermark: Watermark,
}

/// Whether INDIRECT use (joins, filters…) of a column breaks with this change.
fn breaks_indirect_use(kind: ChangeKind) -> bool {
    matches!(
        kind,
        ChangeKind::ColumnRemoved
            | ChangeKind::ColumnRenamed
            | ChangeKind::TypeNarrowed
            | ChangeKind::TypeChanged
            | ChangeKind::TypeWidened
            | ChangeKind::NullabilityRelaxed
            | ChangeKind::EnumValueRemoved
            | ChangeKind::EnumValueAdded
    )
}

/// Reads a proposed schema.
pub fn parse_proposed(text: &str, format: SchemaFormat, model: Option<&str>) -> Result<Schema, ServiceError> {
    match format {
        SchemaFormat::OpenLineage => {
            let value: Value = serde_json::from_str(text)
                .map_err(|error| ServiceError::invalid("schema", format!("is not JSON: {error}")))?;
            tributary_change::schema_from_openlineage(&value).map_err(|error| {
                ServiceError::invalid(format!("schema.{}", error.path).trim_end_matches('.'), error.message)
            })
        }
        SchemaFormat::Dbt => tributary_change::schema_from_dbt_contract(text, model).map_err(|error| {
            ServiceError::invalid(format!("schema.{}", error.path).trim_end_matches('.'), error.message)
        }),
    }
}

impl Service {
    /// Diffs two stored schema versions of a dataset (ids or unique prefixes of at least 8
    /// characters), with what the changes reach downstream now.
    pub async fn diff_schema_versions(
        &self,
        dataset: DatasetId,
        from: String,
        to: String,
    ) -> Result<ChangeReport, ServiceError> {
        let principal = self.require_read()?;
        self.column_traversal(move |shared| {
            let state = shared.read_state_with_columns()?;
            let visibility = Visibility::new(&principal, &state, &shared.redaction_key);
            let dataset = state.resolve_dataset(&visibility.named_start(&principal, &dataset)?);
            let versions = shared.store.schema_versions(&dataset)?;
            let find = |wanted: &str, field: &str| {
                let matching: Vec<_> =
                    versions.iter().filter(|v| wanted.len() >= 8 && v.hash.starts_with(wanted)).collect();
                match matching.as_slice() {
                    [one] => Ok((*one).clone()),
                    [] => Err(ServiceError::invalid(field, format!("no schema version `{wanted}` of `{dataset}`"))),
                    _ => Err(ServiceError::invalid(
                        field,
                        format!("`{wanted}` matches several versions: give more characters"),
                    )),
                }
            };
            let (old, new) = (find(&from, "from")?, find(&to, "to")?);
            let parse = |fields: &Value| {
                tributary_change::schema_from_openlineage(fields)
                    .map_err(|error| ServiceError::Internal(format!("stored schema of `{dataset}`: {error}")))
            };
            let diff = tributary_change::diff(&parse(&old.fields)?, &parse(&new.fields)?);
            // The report takes the lock a slice at a time (a hub's holds the writer otherwise).
            drop(state);
            let mut report = shared.build_report(&dataset, old.hash, diff, ANSWER_LIST_LIMIT)?;
            visibility.redact_report(&mut report);
            Ok(report)
        })
        .await
    }

    /// [`Self::check_change`] for a proposed schema still in its text form (OpenLineage
    /// `schema` facet JSON or dbt YAML): parsed on the blocking thread with the check.
    pub async fn check_change_text(
        &self,
        dataset: DatasetId,
        text: String,
        format: SchemaFormat,
        model: Option<String>,
    ) -> Result<ChangeReport, ServiceError> {
        let principal = self.require_read()?;
        self.column_traversal(move |shared| {
            let proposed = parse_proposed(&text, format, model.as_deref())?;
            shared.check_change_for(&principal, &dataset, &proposed)
        })
        .await
    }

    /// Checks a proposed schema for `dataset` against its current schema (and its active
    /// contract, when it is a product's output port).
    pub async fn check_change(&self, dataset: DatasetId, proposed: Schema) -> Result<ChangeReport, ServiceError> {
        let principal = self.require_read()?;
        self.column_traversal(move |shared| shared.check_change_for(&principal, &dataset, &proposed)).await
    }
}

impl Shared {
    /// The change check as `principal` may see it: a restricted dataset it may not see is
    /// refused by name, and redacted where the report reaches it.
    fn check_change_for(
        &self,
        principal: &tributary_auth::Principal,
        dataset: &DatasetId,
        proposed: &Schema,
    ) -> Result<ChangeReport, ServiceError> {
        let visibility = Visibility::new(principal, &self.read_state(), &self.redaction_key);
        let dataset = visibility.named_start(principal, dataset)?;
        let mut report = self.check_change(&dataset, proposed)?;
        visibility.redact_report(&mut report);
        Ok(report)
    }

    fn check_change(&self, dataset: &DatasetId, proposed: &Schema) -> Result<ChangeReport, ServiceError> {
        let state = self.read_state_with_columns()?;
        let dataset = state.resolve_dataset(dataset);
        let record = self
            .store
            .dataset(&dataset)?
            .ok_or_else(|| ServiceError::NotFound(format!("unknown dataset `{dataset}`")))?;
        let hash = record.current_schema.clone().ok_or_else(|| {
            ServiceError::invalid(
                "dataset",
                format!("no schema is known for `{dataset}` yet: ingest an event with its `schema` facet"),
            )
        })?;
        let version = self
            .store
            .schema_version(&dataset, &hash)?
            .ok_or_else(|| ServiceError::Internal(format!("schema version {hash} of `{dataset}` is missing")))?;
        let current = tributary_change::schema_from_openlineage(&version.fields)
            .map_err(|error| ServiceError::Internal(format!("stored schema of `{dataset}`: {error}")))?;
        let mut diff: SchemaDiff = tributary_change::diff(&current, proposed);

        // Consumers pinned to the active contract count too: diff it as well.
        if let Some(contract_schema) = active_contract_schema(&state, &dataset) {
            let contract_diff = tributary_change::diff(&contract_schema, proposed);
            for change in contract_diff.changes {
                if !diff.changes.iter().any(|c| c.path == change.path && c.kind == change.kind) {
                    diff.changes.push(change);
                }
            }
        }

        // The report takes the lock a slice at a time (a hub's holds the writer otherwise).
        drop(state);
        self.build_report(&dataset, hash, diff, ANSWER_LIST_LIMIT)
    }

    /// The consumers among `consumers` whose SQL reads `dataset` by position, with their
    /// outputs.
    fn positional_readers(
        &self,
        state: &State,
        dataset: &DatasetId,
        consumers: &[NodeRef],
    ) -> Result<Vec<(JobId, Vec<NodeRef>)>, ServiceError> {
        let mut positional: Vec<(JobId, Vec<NodeRef>)> = Vec::new();
        for consumer in consumers {
            let job = JobId::new(&*consumer.namespace, &*consumer.name);
            let Some(record) = self.store.job(&job)? else { continue };
            let facet = record.facets.get("sql").and_then(|e| e.value.as_ref());
            let Some(query) = facet.and_then(|f| f.get("query")).and_then(Value::as_str) else { continue };
            let dialect = facet.and_then(|f| f.get("dialect")).and_then(Value::as_str);
            if reads_by_position(state, &job, query, dialect, dataset) {
                positional.push((job.clone(), state.index.job_outputs(&job)));
            }
        }
        Ok(positional)
    }
}

/// Changes that only positional readers notice (an added column, a reorder) become RISKY
/// when a job reading the dataset reads by position (`positional`), and name those jobs and
/// their outputs (added to `affected`, maybe more than once).
fn mark_positional_readers(
    dataset: &DatasetId,
    positional: &[(JobId, Vec<NodeRef>)],
    changes: &mut [CheckedChange],
    affected: &mut Vec<NodeRef>,
) {
    if positional.is_empty() {
        return;
    }
    for checked in changes.iter_mut().filter(|c| c.change.positional_risk) {
        checked.change.verdict = checked.change.verdict_with_positional_readers(true);
        for (job, outputs) in positional {
            affected.push(NodeRef::from(job));
            for output in outputs {
                affected.push(output.clone());
                checked.impact_count += 1;
                checked.impacts.push(ChangeImpact {
                    dataset: DatasetId::new(&*output.namespace, &*output.name),
                    field: None,
                    job: Some(job.clone()),
                    distance: 1,
                    impact_use: ImpactUse::Positional,
                    source: None,
                    path: vec![format!("{dataset}")],
                });
            }
        }
    }
}

/// The schema of the active contract of the output port on `dataset`, if any.
fn active_contract_schema(state: &State, dataset: &DatasetId) -> Option<Schema> {
    let mesh = &state.mesh;
    let membership = mesh.membership(dataset)?;
    let port_name = membership.port.as_ref()?;
    let product = mesh.product_descriptor(&membership.product)?;
    let port = product.output_ports.iter().find(|p| &p.name == port_name)?;
    let contract = port.contract.as_ref().filter(|c| c.status == tributary_mesh::ContractStatus::Active)?;
    tributary_change::schema_from_openlineage(contract.schema.as_ref()?).ok()
}

/// What a BREAKING or RISKY change reaches downstream: through column lineage for a column
/// (DIRECT use carries on, INDIRECT use is hit when the change breaks it, dataset-level
/// consumers come back UNVERIFIED), through dataset lineage for a dataset-level change.
/// Returns the change with its nearest `keep` impacts (and how many there are) and every
/// affected node, by number (maybe more than once). A column's walk (a hub's column reaches 100,000), the jobs across its steps
/// and the naming of the affected nodes take the state's read lock a few units at a time
/// ([`in_units`]); its start and the naming of its nearest impacts one hold each; its count
/// none. A dataset-level change's walk and the naming of its datasets are done in units too.
/// A graph error (`dataset` not in the index) is returned, never read as "no consumer".
fn trace_change(
    shared: &Shared,
    dataset: &DatasetId,
    change: Change,
    keep: usize,
) -> Result<(CheckedChange, Vec<NodeNumber>), ServiceError> {
    let mut impacts = Vec::new();
    let mut impact_count = 0;
    let mut affected: Vec<NodeNumber> = Vec::new();
    if matches!(change.verdict, Verdict::Breaking | Verdict::Risky) {
        if change.path.is_empty() {
            // A dataset-level change reaches every downstream dataset: walked and named a
            // few hundred nodes a hold.
            let mut walk = with_state(shared, |state| {
                state.index.begin_lineage(
                    LineageQuestion::new(&NodeRef::from(dataset), Direction::Downstream, u32::MAX, IMPACT_LIMIT)
                        .shaped(tributary_graph::AnswerShape::Nodes),
                )
            })??;
            in_units(shared, |state| Ok(state.index.step_lineage(&mut walk, units::WALK_UNIT)))?;
            let reach = with_state(shared, |state| state.index.finish_reach(walk))?;
            let reached: Vec<_> = reach.nodes.into_iter().filter(|reached| reached.distance > 0).collect();
            affected.extend(reached.iter().map(|reached| reached.node));
            in_units_of(shared, &reached, UNIT, |state, unit| {
                for reached in unit.iter().filter(|reached| !state.index.is_job(reached.node)) {
                    let node = state.index.node_ref(reached.node);
                    impact_count += 1;
                    impacts.push(ChangeImpact {
                        dataset: DatasetId::new(node.namespace, node.name),
                        field: None,
                        job: None,
                        distance: reached.distance,
                        impact_use: ImpactUse::Dataset,
                        source: None,
                        path: Vec::new(),
                    });
                }
                Ok(())
            })?;
        } else {
            let mut walk = with_state(shared, |state| {
                let column = resolve_column(&state.index, dataset, &change.path);
                state.index.begin_column_impact(dataset, &column, IMPACT_LIMIT, keep, breaks_indirect_use(change.kind))
            })??;
            let walk_started = std::time::Instant::now();
            let mut holds = in_units(shared, |state| Ok(state.index.step_column_impact(&mut walk, UNIT)))?;
            let finish_started = std::time::Instant::now();
            // Counted without the lock; the jobs across its steps found a unit at a time.
            let mut settled = walk.settle();
            let settle_ms = finish_started.elapsed().as_millis() as u64;
            holds += in_units(shared, |state| Ok(state.index.connect_column_impact(&mut settled, UNIT)))?;
            let reached = with_state(shared, |state| state.index.name_column_impact(settled))?;
            tracing::debug!(%dataset, holds, walk_ms = (finish_started - walk_started).as_millis() as u64, settle_ms,
                finish_ms = finish_started.elapsed().as_millis() as u64, "changed column walked");
            impact_count += reached.column_count + reached.unverified_count;
            affected = reached.nodes;
            let step = |(dataset, field): &(DatasetId, String)| format!("{dataset}.{field}");
            for hit in reached.columns {
                impacts.push(ChangeImpact {
                    path: hit.path.iter().map(step).collect(),
                    dataset: hit.dataset,
                    field: Some(hit.field),
                    job: hit.job,
                    distance: hit.distance,
                    impact_use: if hit.direct { ImpactUse::Direct } else { ImpactUse::Indirect },
                    source: Some(hit.source),
                });
            }
            for unverified in reached.unverified {
                impacts.push(ChangeImpact {
                    distance: unverified.path.len() as u32,
                    path: unverified.path.iter().map(step).collect(),
                    dataset: unverified.dataset,
                    field: None,
                    job: Some(unverified.job),
                    impact_use: ImpactUse::Unverified,
                    source: None,
                });
            }
        }
    }
    // Stable: of equally near impacts, columns come before unverified datasets.
    impacts.sort_by(|a, b| (a.distance, &a.dataset, &a.field).cmp(&(b.distance, &b.dataset, &b.field)));
    impacts.truncate(keep);
    Ok((CheckedChange { change, impacts, impact_count }, affected))
}

/// Whether SQL reads its inputs by position: `SELECT *` (or `alias.*`) or `UNION ALL`.
/// Whether the job's SQL reads `dataset` by column position (`SELECT *` reaching an output,
/// a set operation over `*`), from the parsed statement; SQL the parser cannot read falls
/// back to looking for `SELECT *` / `UNION ALL` in the text, so a consumer is not dropped
/// because its SQL is unusual.
fn reads_by_position(state: &State, job: &JobId, query: &str, dialect: Option<&str>, dataset: &DatasetId) -> bool {
    let relations = |nodes: Vec<NodeRef>| -> Vec<tributary_sql::Relation> {
        nodes.into_iter().map(|n| tributary_sql::Relation::new(&*n.namespace, &*n.name, None)).collect()
    };
    let inputs = relations(state.index.job_inputs(job));
    let outputs = relations(state.index.job_outputs(job));
    match tributary_sql::derive(query, dialect, &inputs, &outputs) {
        Ok(derived) => derived.positional_reads.iter().any(|read| {
            read.reason != tributary_sql::PositionalReason::InsertWithoutColumns
                && read.dataset.0 == *dataset.namespace
                && read.dataset.1 == *dataset.name
        }),
        Err(_) => reads_by_position_in_text(query),
    }
}

fn reads_by_position_in_text(query: &str) -> bool {
    let normalized: String = query.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    normalized.contains("select *")
        || normalized.contains("select distinct *")
        || normalized.contains(".* from")
        || normalized.contains("union all")
}

/// The column lineage name of a changed field: the path itself when column lineage knows
/// it (`address.zip`), else its top-level column (`address`).
fn resolve_column(index: &tributary_graph::LineageIndex, dataset: &DatasetId, path: &str) -> String {
    if index.has_column(dataset, path) {
        return path.to_owned();
    }
    path.split('.').next().unwrap_or(path).to_owned()
}

/// A pull request comment's size limit (GitHub's is 65,536 characters): the markdown of a
/// report stays within this many bytes (so characters), however much the change reaches.
pub const MARKDOWN_LIMIT: usize = 65_536;

/// Room the markdown keeps for the lines saying what it left out and for its footer: lists
/// stop this far before [`MARKDOWN_LIMIT`].
const MARKDOWN_RESERVE: usize = 4_096;

/// Impacts the markdown lists per change, nearest first (the JSON report lists up to
/// `ANSWER_LIST_LIMIT`).
const MARKDOWN_IMPACTS: usize = 20;

/// Groups the markdown's "who must be told" table lists, in the report's order.
const MARKDOWN_GROUPS: usize = 50;

/// Markdown written within [`MARKDOWN_LIMIT`]: list lines go in while they fit before the
/// reserve; the lines saying what was left out always go in.
#[derive(Default)]
struct Comment {
    out: String,
}

impl Comment {
    /// Writes `line` (and a newline) unless it would reach into the reserve.
    fn fits(&mut self, line: &str) -> bool {
        if self.out.len() + line.len() + 1 > MARKDOWN_LIMIT - MARKDOWN_RESERVE {
            return false;
        }
        self.line(line);
        true
    }

    /// Writes as many of `lines` as fit, in order; how many.
    fn fitting(&mut self, lines: impl Iterator<Item = String>) -> usize {
        let mut written = 0;
        for line in lines {
            if !self.fits(&line) {
                break;
            }
            written += 1;
        }
        written
    }

    /// Writes `line` (and a newline) whatever its size.
    fn line(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }
}

impl ChangeReport {
    /// Markdown for a pull request comment: the changes, the nearest impacts of each (at most
    /// 20), who must be told (at most 50 groups), within [`MARKDOWN_LIMIT`] bytes. Whatever is
    /// left out is counted, and the JSON report ([`Self::to_json`]) lists it.
    pub fn to_markdown(&self) -> String {
        let mut md = Comment::default();
        let icon = match self.verdict {
            Verdict::Breaking => "🔴",
            Verdict::Risky => "🟠",
            _ => "🟢",
        };
        md.line(&format!("## {icon} Schema change check for `{}`: {}\n", self.dataset, self.verdict.as_str()));
        if self.changes.is_empty() {
            md.line(&format!(
                "No change against the current schema (version `{}`).",
                &self.baseline[..12.min(self.baseline.len())]
            ));
        } else {
            md.line("| change | column | readers | history | writers | verdict | reaches |");
            md.line("|---|---|---|---|---|---|---|");
            let rows = self.changes.iter().map(|checked| {
                let change = &checked.change;
                let path = if change.path.is_empty() { "(dataset)".to_owned() } else { format!("`{}`", change.path) };
                format!(
                    "| {} | {} | {} | {} | {} | **{}** | {} |",
                    change.summary.replace('|', "\\|"),
                    path,
                    change.readers.as_str(),
                    change.history.as_str(),
                    change.writers.as_str(),
                    change.verdict.as_str(),
                    checked.impact_count
                )
            });
            let listed = md.fitting(rows);
            if listed < self.changes.len() {
                md.line(&format!(
                    "| … and {} more changes (the JSON report lists them) | | | | | | |",
                    self.changes.len() - listed
                ));
            }
        }
        let breaking: Vec<&CheckedChange> = self.changes.iter().filter(|c| c.impact_count > 0).collect();
        if !breaking.is_empty() {
            md.line("\n### What it reaches\n");
            for (shown, checked) in breaking.iter().enumerate() {
                let heading = format!(
                    "**{}** (`{}`, {}):",
                    checked.change.summary,
                    checked.change.kind.as_str(),
                    checked.change.verdict.as_str()
                );
                if !md.fits(&heading) {
                    md.line(&format!(
                        "… and {} more changes reach consumers (the JSON report lists them).",
                        breaking.len() - shown
                    ));
                    break;
                }
                let impacts = checked.impacts.iter().take(MARKDOWN_IMPACTS).map(|impact| {
                    let target = match &impact.field {
                        Some(field) => format!("`{}.{field}`", impact.dataset),
                        None => format!("`{}` (columns unknown)", impact.dataset),
                    };
                    let via = impact.job.as_ref().map(|j| format!(" via job `{j}`")).unwrap_or_default();
                    let path = if impact.path.is_empty() {
                        String::new()
                    } else {
                        format!(" — path: {}", impact.path.join(" → "))
                    };
                    format!("- {} {target}{via}{path}", impact.impact_use.as_str())
                });
                let listed = md.fitting(impacts);
                if checked.impact_count > listed {
                    md.line(&format!(
                        "- … and {} more, farther away (the nearest {listed} are listed; the JSON report lists {})",
                        checked.impact_count - listed,
                        checked.impacts.len()
                    ));
                }
                md.line("");
            }
        }
        if !self.groups.is_empty() {
            md.line("### Who must be told\n");
            md.line("| product | domain | owners | datasets | jobs |");
            md.line("|---|---|---|---|---|");
            let rows = self.groups.iter().take(MARKDOWN_GROUPS).map(|group| {
                let mut owners: Vec<&str> = group.owners.iter().map(|o| o.name.as_str()).collect();
                owners.sort_unstable();
                owners.dedup();
                let place = match (&group.domain, &group.namespace) {
                    (Some(domain), _) => domain.clone(),
                    (None, Some(namespace)) => format!("namespace `{namespace}`"),
                    (None, None) => "—".to_owned(),
                };
                let owners = if owners.is_empty() { "unowned".to_owned() } else { owners.join(", ") };
                format!(
                    "| {} | {place} | {owners} | {} | {} |",
                    group.product.as_deref().unwrap_or("—"),
                    group.datasets.len(),
                    group.jobs.len()
                )
            });
            let listed = md.fitting(rows);
            if listed < self.groups.len() {
                md.line(&format!(
                    "| … and {} more groups (the JSON report lists them) | | | | |",
                    self.groups.len() - listed
                ));
            }
        }
        if !self.unsupported.is_empty() {
            md.line("\n<details><summary>Checks the schemas could not support</summary>\n");
            let lines = self.unsupported.iter().map(|check| format!("- {}: {}", check.check, check.reason));
            let listed = md.fitting(lines);
            if listed < self.unsupported.len() {
                md.line(&format!("- … and {} more", self.unsupported.len() - listed));
            }
            md.line("\n</details>");
        }
        md.line(&format!(
            "\n_Reflects {} ingested events (watermark {})._",
            self.watermark.events, self.watermark.sequence
        ));
        md.out
    }
}

impl ChangeReport {
    /// The report as JSON, for bots: the same content as the GraphQL `checkChange` answer.
    pub fn to_json(&self) -> Value {
        self.to_json_listing(usize::MAX)
    }

    /// The report as JSON with each list (a change's impacts, the affected datasets and
    /// jobs, a group's datasets, jobs and owners) cut to its first `limit` entries. The
    /// counts (`impactCount`, `affectedDatasetCount`, `affectedJobCount`, a group's
    /// `datasetCount`, `jobCount` and `ownerCount`) are always whole; `listsComplete` says
    /// whether every list is.
    pub fn to_json_listing(&self, limit: usize) -> Value {
        serde_json::to_value(ReportJson { report: self, limit }).unwrap_or_else(|error| {
            // Nothing in a report fails to serialise; were it to, the answer says so as null.
            tracing::error!(%error, "a change report's JSON could not be made");
            Value::Null
        })
    }

    /// [`Self::to_json`] written as text: the same bytes as the value serialised, written
    /// straight from the report (a hub's report lists some 100,000 nodes, and a tree of values
    /// of them cost more than writing them).
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(out, &ReportJson { report: self, limit: usize::MAX })
    }

    /// [`Self::write_json`] as a string (what gRPC's `CheckChange` carries).
    pub fn json_text(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&ReportJson { report: self, limit: usize::MAX })
    }

    /// Whether every list of the JSON cut to `limit` entries is whole.
    fn lists_complete(&self, limit: usize) -> bool {
        self.affected_datasets.len() <= limit
            && self.affected_jobs.len() <= limit
            && self
                .groups
                .iter()
                .all(|group| group.owners.len() <= limit && group.datasets.len() <= limit && group.jobs.len() <= limit)
            && self.changes.iter().all(|c| c.impacts.len() == c.impact_count && c.impact_count <= limit)
    }
}

// The report's JSON, written from the report. Each object's keys are written in the order a
// `serde_json::Value` map sorts them (byte order), so writing it gives the bytes of its value
// serialised (`write_json` against `to_json`); the tests check both against the report built
// as values key by key.

/// The report's JSON, each list cut to `limit` entries.
struct ReportJson<'a> {
    report: &'a ChangeReport,
    limit: usize,
}

impl serde::Serialize for ReportJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let (report, limit) = (self.report, self.limit);
        let mut map = serializer.serialize_map(Some(12))?;
        map.serialize_entry("affectedDatasetCount", &report.affected_datasets.len())?;
        map.serialize_entry("affectedDatasets", &NodesJson(&report.affected_datasets, limit))?;
        map.serialize_entry("affectedJobCount", &report.affected_jobs.len())?;
        map.serialize_entry("affectedJobs", &NodesJson(&report.affected_jobs, limit))?;
        map.serialize_entry("baseline", &report.baseline)?;
        map.serialize_entry("changes", &Listed(report.changes.iter().map(|checked| ChangeJson { checked, limit })))?;
        map.serialize_entry("dataset", &NameJson { namespace: &report.dataset.namespace, name: &report.dataset.name })?;
        map.serialize_entry("groups", &Listed(report.groups.iter().map(|group| GroupJson { group, limit })))?;
        map.serialize_entry("listsComplete", &report.lists_complete(limit))?;
        // As its value: the keys sorted whatever order the type declares them in.
        map.serialize_entry("unsupported", &serde_json::to_value(&report.unsupported).map_err(S::Error::custom)?)?;
        map.serialize_entry("verdict", report.verdict.as_str())?;
        map.serialize_entry("watermark", &WatermarkJson(&report.watermark))?;
        map.end()
    }
}

/// A sequence written from an iterator (cloned to write it).
struct Listed<I>(I);

impl<I: Iterator<Item: serde::Serialize> + Clone> serde::Serialize for Listed<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone())
    }
}

/// The first `limit` nodes: `{"kind", "name", "namespace"}` each.
struct NodesJson<'a>(&'a [NodeRef], usize);

impl serde::Serialize for NodesJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().take(self.1).map(NodeJson))
    }
}

struct NodeJson<'a>(&'a NodeRef);

impl serde::Serialize for NodeJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let node = self.0;
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("kind", if node.kind == NodeKind::Dataset { "DATASET" } else { "JOB" })?;
        map.serialize_entry("name", &node.name)?;
        map.serialize_entry("namespace", &node.namespace)?;
        map.end()
    }
}

/// `{"name", "namespace"}`.
struct NameJson<'a> {
    namespace: &'a str,
    name: &'a str,
}

impl serde::Serialize for NameJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("name", self.name)?;
        map.serialize_entry("namespace", self.namespace)?;
        map.end()
    }
}

struct WatermarkJson<'a>(&'a Watermark);

impl serde::Serialize for WatermarkJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("events", &self.0.events)?;
        map.serialize_entry("sequence", &self.0.sequence)?;
        map.end()
    }
}

/// A change: its own fields (as it serialises itself) with `impactCount` and its first `limit`
/// impacts, all in key order.
#[derive(Clone)]
struct ChangeJson<'a> {
    checked: &'a CheckedChange,
    limit: usize,
}

impl serde::Serialize for ChangeJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let Value::Object(own) = serde_json::to_value(&self.checked.change).map_err(S::Error::custom)? else {
            return Err(S::Error::custom("a change serialises as an object"));
        };
        let impacts = Listed(self.checked.impacts.iter().take(self.limit).map(ImpactJson));
        let mut map = serializer.serialize_map(Some(own.len() + 2))?;
        // The change's own keys (sorted, as the map keeps them) and the two added here.
        let mut added = [("impactCount", None), ("impacts", Some(&impacts))].into_iter().peekable();
        for (key, value) in &own {
            while let Some((extra, list)) = added.next_if(|(extra, _)| *extra < key.as_str()) {
                match list {
                    Some(list) => map.serialize_entry(extra, list)?,
                    None => map.serialize_entry(extra, &self.checked.impact_count)?,
                }
            }
            if added.peek().is_some_and(|(extra, _)| *extra == key.as_str()) {
                continue;
            }
            map.serialize_entry(key, value)?;
        }
        for (extra, list) in added {
            match list {
                Some(list) => map.serialize_entry(extra, list)?,
                None => map.serialize_entry(extra, &self.checked.impact_count)?,
            }
        }
        map.end()
    }
}

#[derive(Clone, Copy)]
struct ImpactJson<'a>(&'a ChangeImpact);

impl serde::Serialize for ImpactJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let impact = self.0;
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("dataset", &NameJson { namespace: &impact.dataset.namespace, name: &impact.dataset.name })?;
        map.serialize_entry("distance", &impact.distance)?;
        map.serialize_entry("field", &impact.field)?;
        map.serialize_entry(
            "job",
            &impact.job.as_ref().map(|job| NameJson { namespace: &job.namespace, name: &job.name }),
        )?;
        map.serialize_entry("path", &impact.path)?;
        map.serialize_entry("source", &impact.source.map(tributary_model::EdgeSource::as_str))?;
        map.serialize_entry("use", impact.impact_use.as_str())?;
        map.end()
    }
}

#[derive(Clone)]
struct GroupJson<'a> {
    group: &'a ImpactGroup,
    limit: usize,
}

impl serde::Serialize for GroupJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (group, limit) = (self.group, self.limit);
        let owners = Listed(group.owners.iter().take(limit).map(OwnerJson));
        let mut map = serializer.serialize_map(Some(9))?;
        map.serialize_entry("datasetCount", &group.datasets.len())?;
        map.serialize_entry("datasets", &NodesJson(&group.datasets, limit))?;
        map.serialize_entry("domain", &group.domain)?;
        map.serialize_entry("jobCount", &group.jobs.len())?;
        map.serialize_entry("jobs", &NodesJson(&group.jobs, limit))?;
        map.serialize_entry("namespace", &group.namespace)?;
        map.serialize_entry("ownerCount", &group.owners.len())?;
        map.serialize_entry("owners", &owners)?;
        map.serialize_entry("product", &group.product)?;
        map.end()
    }
}

#[derive(Clone, Copy)]
struct OwnerJson<'a>(&'a crate::mesh::OwnerView);

impl serde::Serialize for OwnerJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let owner = self.0;
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("name", &owner.name)?;
        map.serialize_entry("role", &owner.role)?;
        map.serialize_entry("source", &owner.source)?;
        map.end()
    }
}

/// How many schema-change notifications a slow subscriber may lag behind.
pub(crate) const SCHEMA_CHANGE_BACKLOG: usize = 1024;

/// How long a reader of recorded schema changes waits for the changes of the events it can
/// see to be recorded (a hub's change took the recorder 2.3-2.8 s at 100k datasets); past it,
/// the reader is told the list would be incomplete (unavailable: retry), not given it.
pub const RECORDED_PATIENCE: std::time::Duration = std::time::Duration::from_secs(if cfg!(test) { 1 } else { 10 });

/// Filters for recorded schema changes.
#[derive(Clone, Debug, Default)]
pub struct SchemaChangeFilter {
    pub dataset: Option<DatasetId>,
    /// Only changes at or after this time.
    pub since: Option<tributary_model::Timestamp>,
    /// Only changes at least this severe.
    pub min_verdict: Option<Verdict>,
}

impl SchemaChangeFilter {
    pub fn accepts(&self, record: &tributary_model::SchemaChangeRecord) -> bool {
        self.dataset.as_ref().is_none_or(|d| d == &record.dataset)
            && self.since.is_none_or(|since| record.time >= since)
            && self.min_verdict.is_none_or(|min| record.verdict >= min)
    }
}

/// Reads a verdict name (`BREAKING`, `RISKY`, `PRODUCER-SIDE`, `SAFE`), case-insensitively.
pub fn parse_verdict(text: &str) -> Option<Verdict> {
    Verdict::parse(text)
}

impl Shared {
    /// Classifies and traces a schema change seen in an ingested event, records it (removing
    /// it from the queue, `recorder`), flushes, and broadcasts it. A change whose versions are
    /// gone, or that is over the differ's limits, is dropped from the queue and said so.
    pub(crate) fn record_seen_schema_change(
        &self,
        seen: tributary_model::SeenSchemaChange,
    ) -> Result<(), ServiceError> {
        let started = std::time::Instant::now();
        let (Some(from), Some(to)) = (
            self.store.schema_version(&seen.dataset, &seen.from)?,
            self.store.schema_version(&seen.dataset, &seen.to)?,
        ) else {
            tracing::warn!(dataset = %seen.dataset, sequence = seen.sequence, "schema change not recorded: a version of it is not stored");
            return Ok(self.store.drop_seen_schema_change(&seen)?);
        };
        let (old, new) = match (
            tributary_change::schema_from_openlineage(&from.fields),
            tributary_change::schema_from_openlineage(&to.fields),
        ) {
            (Ok(old), Ok(new)) => (old, new),
            (Err(error), _) | (_, Err(error)) => {
                // Not recorded, and said so: the schema is over the differ's limits.
                tracing::warn!(dataset = %seen.dataset, %error, "schema change not classified");
                return Ok(self.store.drop_seen_schema_change(&seen)?);
            }
        };
        let diff = tributary_change::diff(&old, &new);
        let report = self.build_report(&seen.dataset, seen.from.clone(), diff, RECORDED_LIST_LIMIT)?;
        let record = tributary_model::SchemaChangeRecord {
            format: tributary_model::RECORD_FORMAT,
            sequence: seen.sequence,
            time: seen.time,
            dataset: seen.dataset,
            from: seen.from,
            to: seen.to,
            verdict: report.verdict,
            report: report.to_json_listing(RECORDED_LIST_LIMIT),
        };
        let impacts: usize = report.changes.iter().map(|c| c.impact_count).sum();
        self.store.record_seen_schema_change(&record)?;
        self.store.flush()?;
        let elapsed = started.elapsed();
        self.metrics.schema_change_seconds.observe(elapsed.as_secs_f64());
        tracing::debug!(dataset = %record.dataset, verdict = record.verdict.as_str(), impacts,
            affected = report.affected_datasets.len() + report.affected_jobs.len(),
            elapsed_ms = elapsed.as_millis() as u64, "schema change recorded");
        // Nobody listening is fine.
        let _ = self.schema_changes.send(std::sync::Arc::new(record));
        Ok(())
    }

    /// A change report for `diff` against `dataset`, with the nearest `keep` impacts of each
    /// change, groups and watermark. The state's read lock is taken for a few small units of
    /// work at a time ([`in_units`]: 64 columns of a changed column's walk, the jobs across 64
    /// of its steps, 64 affected nodes' names or grouping, 4 consumers' SQL; at most 64 units
    /// a hold, fewer when the writer waits; its start and the naming of its nearest impacts
    /// one hold each, its count none), so the writer publishes between units: a hub's report
    /// would hold it for seconds. Later units may see events after the watermark (that of
    /// the first hold). The caller must not hold the state lock.
    fn build_report(
        &self,
        dataset: &DatasetId,
        baseline: String,
        diff: SchemaDiff,
        keep: usize,
    ) -> Result<ChangeReport, ServiceError> {
        let started = std::time::Instant::now();
        let watermark = with_state(self, |state| state.index.watermark())?;
        let (mut changes, mut affected) = (Vec::with_capacity(diff.changes.len()), Vec::new());
        for change in diff.changes {
            let (traced, reached) = trace_change(self, dataset, change, keep)?;
            changes.push(traced);
            affected.extend(reached);
        }
        let traced = started.elapsed();
        if changes.iter().any(|c| c.change.positional_risk) {
            let consumers = with_state(self, |state| state.index.consumers(dataset))?;
            let mut positional = Vec::new();
            in_units_of(self, &consumers, POSITIONAL_UNIT, |state, unit| {
                positional.extend(self.positional_readers(state, dataset, unit)?);
                Ok(())
            })?;
            let mut readers = Vec::new();
            mark_positional_readers(dataset, &positional, &mut changes, &mut readers);
            with_state(self, |state| affected.extend(readers.iter().filter_map(|node| state.index.node_number(node))))?;
        }
        let positional = started.elapsed();
        let verdict = changes.iter().map(|c| c.change.verdict).max().unwrap_or(Verdict::Safe);
        // Kept by number until here: named once, in order, as they are grouped.
        let ordered = with_state(self, |state| state.index.in_name_order(&affected))?;
        drop(affected);
        let mut nodes: Vec<NodeRef> = Vec::with_capacity(ordered.len());
        let mut grouping = crate::mesh::Grouping::default();
        in_units_of(self, &ordered, UNIT, |state, unit| {
            nodes.extend(grouping.add_numbered(state, unit));
            Ok(())
        })?;
        let groups = grouping.finish_after_the_load(self)?;
        tracing::debug!(%dataset, nodes = nodes.len(), trace_ms = traced.as_millis() as u64,
            positional_ms = (positional - traced).as_millis() as u64,
            group_ms = (started.elapsed() - positional).as_millis() as u64, "change report built");
        let (affected_datasets, affected_jobs) = nodes.into_iter().partition(|n| n.kind == NodeKind::Dataset);
        Ok(ChangeReport {
            dataset: dataset.clone(),
            baseline,
            changes,
            unsupported: diff.unsupported,
            verdict,
            affected_datasets,
            affected_jobs,
            groups,
            watermark,
        })
    }
}

/// One unit of a change report's work: the columns whose edges a changed column's walk
/// follows, the (input, output) steps whose job its count finds, the affected nodes named or
/// grouped. A unit of the 100k mesh's hub column walk takes ~0.1 ms on average and up to ~1 ms
/// (a hold of 64 units, up to ~17 ms, when nobody waits to write).
const UNIT: usize = 64;
/// Consumers whose SQL one unit reads (each may be parsed and its record read) while a change
/// report looks for positional readers.
const POSITIONAL_UNIT: usize = 4;

/// [`units::in_units`] with the column lineage loaded (a change report's work).
pub(crate) fn in_units(
    shared: &Shared,
    unit: impl FnMut(&State) -> Result<bool, ServiceError>,
) -> Result<usize, ServiceError> {
    units::in_units(shared, Shared::read_state_with_columns, unit)
}

/// [`in_units`] over `items`, `size` of them a unit: `each` is called with every chunk in
/// order. Returns the holds taken.
fn in_units_of<I>(
    shared: &Shared,
    items: &[I],
    size: usize,
    mut each: impl FnMut(&State, &[I]) -> Result<(), ServiceError>,
) -> Result<usize, ServiceError> {
    let mut units = items.chunks(size);
    in_units(shared, |state| match units.next() {
        Some(unit) => each(state, unit).map(|()| false),
        None => Ok(true),
    })
}

/// One slice of a change report's work under the state's read lock (with the column lineage
/// loaded), holding no other lock.
fn with_state<T>(shared: &Shared, work: impl FnOnce(&State) -> T) -> Result<T, ServiceError> {
    Ok(work(&*shared.read_state_with_columns()?))
}

impl Service {
    /// Schema changes seen in ingested events, newest first. The changes of every event
    /// answers reflect are recorded beside the writer after the acknowledgement (`recorder`):
    /// this waits for them up to 10 s (`RECORDED_PATIENCE`); if they are still not all
    /// recorded, it refuses as unavailable, saying how far the recording is, rather than
    /// answer a list that could leave out a breaking change (a review bot retries).
    pub async fn schema_changes(
        &self,
        filter: SchemaChangeFilter,
        limit: usize,
    ) -> Result<Vec<tributary_model::SchemaChangeRecord>, ServiceError> {
        let principal = self.require_read()?;
        let shared = std::sync::Arc::clone(&self.shared);
        let visible = self.watermark().sequence;
        if let Err(recorded) = shared.recorder.wait_recorded(visible, RECORDED_PATIENCE).await {
            return Err(ServiceError::Unavailable(format!(
                "schema changes are recorded for events up to {recorded} of the {visible} stored; the changes of \
                 later events are still being checked ({} s waited), so the list would be incomplete: retry later",
                RECORDED_PATIENCE.as_secs()
            )));
        }
        tokio::task::spawn_blocking(move || {
            let visibility = Visibility::new(&principal, &shared.read_state(), &shared.redaction_key);
            Ok(shared
                .store
                .schema_changes(limit, |record| filter.accepts(record) && !visibility.hides(&record.dataset))?)
        })
        .await
        .map_err(|error| ServiceError::Internal(format!("query task failed: {error}")))?
    }

    /// Schema changes as they are recorded, for a subscriber (a review bot).
    pub fn subscribe_schema_changes(&self) -> Result<SchemaChangeSubscription, ServiceError> {
        self.require_read()?;
        Ok(SchemaChangeSubscription { receiver: self.shared.schema_changes.subscribe(), service: self.clone() })
    }
}

/// A subscription to schema changes. The caller's access is checked again before each
/// change is handed out, so revoking a token ends its subscriptions at the next change.
pub struct SchemaChangeSubscription {
    receiver: tokio::sync::broadcast::Receiver<std::sync::Arc<tributary_model::SchemaChangeRecord>>,
    service: Service,
}

/// Why a subscription stopped.
#[derive(Debug)]
pub enum SubscriptionEnd {
    /// The subscriber fell this many changes behind; they are in `schema_changes`.
    Lagged(u64),
    /// The server is shutting down.
    Closed,
    /// The caller may no longer read.
    Refused(ServiceError),
}

impl SchemaChangeSubscription {
    pub async fn next(&mut self) -> Result<std::sync::Arc<tributary_model::SchemaChangeRecord>, SubscriptionEnd> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let record = match self.receiver.recv().await {
                Ok(record) => record,
                Err(RecvError::Lagged(missed)) => return Err(SubscriptionEnd::Lagged(missed)),
                Err(RecvError::Closed) => return Err(SubscriptionEnd::Closed),
            };
            let principal = self.service.require_read().map_err(SubscriptionEnd::Refused)?;
            let shared = &self.service.shared;
            // Changes of datasets the caller may not see are not sent.
            if !Visibility::new(&principal, &shared.read_state(), &shared.redaction_key).hides(&record.dataset) {
                return Ok(record);
            }
        }
    }
}
