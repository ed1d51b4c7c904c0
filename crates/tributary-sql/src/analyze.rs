//! The walk over parsed statements: scopes, relations, columns and their lineage.
//!
//! Each query is analysed once, bottom-up, into a [`QueryOut`]: its columns, each with the
//! input columns it is made of ([`Lineage`]), and the INDIRECT uses that affect all its rows.
//! A CTE or subquery is kept as such a result and read through when the enclosing query
//! names its columns, so the work is linear in the statement (lineages are sets, bounded by
//! the input columns they name).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use sqlparser::ast::{
    AccessExpr, AssignmentTarget, Cte, Distinct, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, GroupByExpr, GroupByWithModifier, Ident, InTarget, Insert, Join, JoinConstraint, JoinOperator,
    Merge, MergeAction, MergeInsertKind, MergeUpdateKind, NamedWindowExpr, ObjectName, ObjectNamePart, OrderBy,
    OrderByKind, PivotValueSource, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, SetOperator,
    SetQuantifier, Statement, Subscript, TableAliasColumnDef, TableFactor, TableObject, TableWithJoins, Update,
    UpdateTableFromKind, Value, WildcardAdditionalOptions, WindowSpec, WindowType,
};

use crate::catalog::{Catalog, DatasetIdx, Prefer, fold};
use crate::functions;
use crate::{DatasetEdge, Derived, DerivedEdge, DerivedOutput, PositionalRead, PositionalReason, Relation, Subtype};

/// How deep the walk descends into nested queries and expressions before it stops (and
/// says so): deeper than any statement written by hand, shallow enough for a 2 MiB stack.
const MAX_DEPTH: usize = 150;

/// At most this many notes are returned (a generated statement can have thousands).
const MAX_NOTES: usize = 100;

/// The most columns one query's result may have (a chain of self-joined `SELECT *`s doubles
/// them at each step).
const MAX_COLUMNS: usize = 20_000;

/// The most lineage entries the analysis copies (column references times the input columns
/// behind them) before it stops: a few thousand for a large hand-written model, and a bound
/// on the time a crafted statement can take.
const MAX_WORK: usize = 500_000;

/// An input column: a dataset of the catalog and the column's name (the schema's spelling
/// when the schema is known, else the SQL's).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Col {
    dataset: DatasetIdx,
    field: String,
}

/// The input columns one value is made of.
#[derive(Clone, Debug, Default)]
struct Lineage {
    /// DIRECT uses: (column, IDENTITY/TRANSFORMATION/AGGREGATION, masking).
    direct: BTreeSet<(Col, Subtype, bool)>,
    /// INDIRECT uses that belong to this value alone (conditions, windows, the filters of a
    /// scalar subquery).
    indirect: BTreeSet<(Col, Subtype)>,
}

impl Lineage {
    fn column(dataset: DatasetIdx, field: &str) -> Self {
        let mut lineage = Self::default();
        lineage.direct.insert((Col { dataset, field: field.to_owned() }, Subtype::Identity, false));
        lineage
    }

    fn extend(&mut self, other: &Lineage) {
        self.direct.extend(other.direct.iter().cloned());
        self.indirect.extend(other.indirect.iter().cloned());
    }

    /// Adds `other` seen through an expression: DIRECT subtypes become at least `ctx`'s.
    fn add_through(&mut self, other: &Lineage, ctx: Ctx) {
        for (col, subtype, masking) in &other.direct {
            self.direct.insert((col.clone(), (*subtype).max(ctx.subtype), *masking || ctx.masking));
        }
        self.indirect.extend(other.indirect.iter().cloned());
    }

    /// Every column this lineage names, as INDIRECT uses of `subtype`.
    fn as_indirect(&self, subtype: Subtype) -> impl Iterator<Item = (Col, Subtype)> + '_ {
        self.direct
            .iter()
            .map(|(col, _, _)| col)
            .chain(self.indirect.iter().map(|(col, _)| col))
            .map(move |col| (col.clone(), subtype))
    }

    /// The same columns, DIRECT subtypes raised to at least TRANSFORMATION.
    fn transformed(&self) -> Lineage {
        let mut lineage = Lineage::default();
        lineage.add_through(self, Ctx { subtype: Subtype::Transformation, masking: false });
        lineage
    }
}

/// How the value being walked reaches the output: the weakest DIRECT subtype it can still
/// have, and whether it already passed a masking function.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    subtype: Subtype,
    masking: bool,
}

impl Ctx {
    const IDENTITY: Ctx = Ctx { subtype: Subtype::Identity, masking: false };

    /// Inside a function or operator.
    fn transformed(self) -> Ctx {
        Ctx { subtype: self.subtype.max(Subtype::Transformation), ..self }
    }
}

/// One column of a query's result.
#[derive(Clone, Debug)]
struct OutColumn {
    name: String,
    folded: String,
    lineage: Lineage,
    /// Datasets whose `*` this column came from (through stars only): their column order
    /// decides it.
    positional: BTreeSet<DatasetIdx>,
    /// Its expression has an aggregate (for `GROUP BY ALL`).
    aggregate: bool,
}

impl OutColumn {
    fn new(name: &str, lineage: Lineage) -> Self {
        Self { name: name.to_owned(), folded: fold(name), lineage, positional: BTreeSet::new(), aggregate: false }
    }

    fn rename(&mut self, name: &str) {
        self.name = name.to_owned();
        self.folded = fold(name);
    }
}

/// What a query produces.
#[derive(Clone, Debug, Default)]
struct QueryOut {
    columns: Vec<OutColumn>,
    /// Relations whose `*` could not be expanded (unknown schema): a column not in `columns`
    /// may come from them, by name.
    open: Vec<Rc<Source>>,
    /// INDIRECT uses affecting every row.
    dataset_wide: BTreeSet<(Col, Subtype)>,
}

/// What a name in `FROM` stands for.
#[derive(Debug)]
enum Source {
    Base(DatasetIdx),
    /// A CTE, a subquery, or a table created by an earlier statement; `index` maps each
    /// lower-case column name to its first column.
    Derived {
        query: QueryOut,
        index: HashMap<String, usize>,
    },
    /// Rows made by a function of other columns (table functions, `UNNEST`, `LATERAL VIEW`,
    /// `PIVOT`): its columns `names` (lower-case; empty: any name) come from `lineage`;
    /// other names pass through to `inner`.
    Opaque {
        lineage: Lineage,
        names: Vec<String>,
        inner: Option<Rc<Source>>,
    },
    /// A recursive CTE's reference to itself while its body is analysed: contributes nothing.
    Placeholder,
}

impl Source {
    fn derived(query: QueryOut) -> Rc<Source> {
        let mut index = HashMap::with_capacity(query.columns.len());
        for (idx, column) in query.columns.iter().enumerate() {
            index.entry(column.folded.clone()).or_insert(idx);
        }
        Rc::new(Source::Derived { query, index })
    }
}

/// A column looked up in one relation.
enum Lookup {
    /// The relation has it.
    Found(Lineage),
    /// The relation's columns are unknown; it may have it.
    Unknown(Lineage),
    /// The relation's known columns do not include it; `Some` when the relation is a dataset
    /// whose schema may be partial (the column is taken from it if nothing else has it).
    Missing(Option<Lineage>),
}

/// A relation in a `FROM` clause.
struct Entry {
    /// Lower-case alias, or the last part of the table's name; empty for an unaliased subquery.
    alias: String,
    /// Lower-case parts of the table's name as written.
    sql_parts: Vec<String>,
    source: Rc<Source>,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum AliasMode {
    /// Output aliases are not visible (`FROM`, `WHERE`).
    #[default]
    Hidden,
    /// Visible after the input columns (lateral aliases in the select list, `GROUP BY`,
    /// `HAVING`, `QUALIFY`).
    After,
    /// Visible before the input columns (`ORDER BY`).
    Before,
}

/// The scope of one `SELECT` (or `MERGE`, `UPDATE`).
#[derive(Default)]
struct Frame<'a> {
    entries: Vec<Entry>,
    /// Lower-case names of `USING` join columns: unqualified, they are not ambiguous.
    using: Vec<String>,
    /// Output aliases defined so far, by lower-case name.
    aliases: HashMap<String, Lineage>,
    alias_mode: AliasMode,
    windows: Vec<(String, &'a NamedWindowExpr)>,
}

struct Analyzer<'a> {
    catalog: Catalog,
    frames: Vec<Frame<'a>>,
    /// CTEs visible, innermost `WITH` last.
    ctes: Vec<Vec<(String, Rc<Source>)>>,
    /// Tables and views created by earlier statements of the text that are not inputs of
    /// the job (temporary tables): later statements read them like CTEs.
    created: Vec<(Vec<String>, Rc<Source>)>,
    /// Lambda parameters in scope (not columns).
    lambdas: Vec<String>,
    depth: usize,
    /// Set when the expression being walked has an aggregate outside a window.
    saw_aggregate: bool,
    notes: Vec<String>,
    noted: HashSet<String>,
    positional: BTreeSet<(DatasetIdx, PositionalReason)>,
    outputs: Vec<DerivedOutput>,
    /// Lineage entries copied so far (see [`MAX_WORK`]).
    work: usize,
}

pub(crate) fn analyze(statements: &[Statement], inputs: &[Relation], outputs: &[Relation]) -> Derived {
    let mut analyzer = Analyzer {
        catalog: Catalog::new(inputs, outputs),
        frames: Vec::new(),
        ctes: Vec::new(),
        created: Vec::new(),
        lambdas: Vec::new(),
        depth: 0,
        saw_aggregate: false,
        notes: Vec::new(),
        noted: HashSet::new(),
        positional: BTreeSet::new(),
        outputs: Vec::new(),
        work: 0,
    };
    for statement in statements {
        analyzer.statement(statement);
    }
    let positional_reads: BTreeSet<PositionalRead> = analyzer
        .positional
        .iter()
        .map(|&(dataset, reason)| PositionalRead { dataset: analyzer.catalog.get(dataset).key(), reason })
        .collect();
    Derived {
        dialect: "",
        outputs: analyzer.outputs,
        positional_reads: positional_reads.into_iter().collect(),
        unresolved: Analyzer::into_notes(analyzer.notes),
    }
}

/// The parts of a name as written, without quotes; a quoted part holding dots (BigQuery's
/// `` `project.dataset.table` ``) is split.
fn name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .flat_map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.split('.').map(str::to_owned).collect::<Vec<_>>(),
            ObjectNamePart::Function(function) => vec![function.name.value.clone()],
        })
        .filter(|part| !part.is_empty())
        .collect()
}

fn last_part(name: &ObjectName) -> String {
    name_parts(name).pop().unwrap_or_default()
}

/// The column number of `GROUP BY 2` / `ORDER BY 2` (from 0), if `expr` is one.
fn position(expr: &Expr, n_columns: usize) -> Option<usize> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(number, _) => {
                number.parse::<usize>().ok().filter(|&n| n >= 1 && n <= n_columns).map(|n| n - 1)
            }
            _ => None,
        },
        _ => None,
    }
}

/// The name a database gives an unaliased select item.
fn expr_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(idents) => idents.last().map(|i| i.value.clone()).unwrap_or_default(),
        Expr::CompoundFieldAccess { root, access_chain } => match access_chain.last() {
            Some(AccessExpr::Dot(Expr::Identifier(ident))) => ident.value.clone(),
            _ => expr_name(root),
        },
        Expr::Function(function) => last_part(&function.name),
        Expr::Cast { expr, .. } | Expr::Nested(expr) | Expr::Collate { expr, .. } => expr_name(expr),
        _ => "?column?".to_owned(),
    }
}

fn alias_columns(columns: &[TableAliasColumnDef]) -> Vec<String> {
    columns.iter().map(|c| c.name.value.clone()).collect()
}

impl<'a> Analyzer<'a> {
    fn note(&mut self, message: String) {
        if self.noted.insert(message.clone()) {
            self.notes.push(message);
        }
    }

    /// The notes, at most [`MAX_NOTES`] of them and a count of the rest.
    fn into_notes(mut notes: Vec<String>) -> Vec<String> {
        if notes.len() > MAX_NOTES {
            let more = notes.len() - MAX_NOTES;
            notes.truncate(MAX_NOTES);
            notes.push(format!("and {more} more"));
        }
        notes
    }

    /// Accounts for `cost` lineage entries; false once over [`MAX_WORK`].
    fn spend(&mut self, cost: usize) -> bool {
        if self.work > MAX_WORK {
            return false;
        }
        self.work += cost;
        if self.work > MAX_WORK {
            self.note(format!("statement too large to analyse completely: stopped after {MAX_WORK} lineage entries"));
            return false;
        }
        true
    }

    fn enter(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            self.note(format!("nested deeper than {MAX_DEPTH} levels: the deeper parts are not analysed"));
            return false;
        }
        self.depth += 1;
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn frame(&mut self) -> &mut Frame<'a> {
        if self.frames.is_empty() {
            self.frames.push(Frame::default());
        }
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    // ---------------------------------------------------------------- statements

    fn statement(&mut self, statement: &'a Statement) {
        self.depth = 0;
        self.frames.clear();
        self.ctes.clear();
        match statement {
            Statement::Query(query) => {
                let into = select_into_target(query);
                let out = self.query(query);
                let target = into.map(|parts| self.target(&parts));
                self.emit(target, out, None);
            }
            Statement::Insert(insert) => self.insert(insert),
            Statement::CreateTable(create) => {
                if let Some(query) = &create.query {
                    let names: Vec<String> = create.columns.iter().map(|c| c.name.value.clone()).collect();
                    self.create(&create.name, query, names);
                }
            }
            Statement::CreateView(create) => {
                let names: Vec<String> = create.columns.iter().map(|c| c.name.value.clone()).collect();
                self.create(&create.name, &create.query, names);
            }
            Statement::Merge(merge) => self.merge(merge),
            Statement::Update(update) => self.update(update),
            // Statements that produce no rows from other relations (DDL, SET, transactions, …).
            _ => {}
        }
    }

    /// A statement's target, preferring the job's outputs.
    fn target(&mut self, parts: &[String]) -> DatasetIdx {
        let mut notes = Vec::new();
        let idx = self.catalog.resolve(parts, Prefer::Outputs, &mut |n| notes.push(n));
        notes.into_iter().for_each(|n| self.note(n));
        idx
    }

    fn create(&mut self, name: &ObjectName, query: &'a Query, names: Vec<String>) {
        let parts = name_parts(name);
        let mut out = self.query(query);
        if !names.is_empty() {
            self.rename(&mut out, &names, &format!("`{}`", parts.join(".")));
        }
        if !self.catalog.matches_input(&parts) {
            // A table the job creates and may read in a later statement (a temporary table).
            let folded: Vec<String> = parts.iter().map(|p| fold(p)).collect();
            self.created.push((folded, Source::derived(out.clone())));
        }
        let target = self.target(&parts);
        self.emit(Some(target), out, None);
    }

    fn insert(&mut self, insert: &'a Insert) {
        let TableObject::TableName(name) = &insert.table else {
            self.note("insert into a table function is not analysed".to_owned());
            return;
        };
        let Some(source) = &insert.source else {
            return;
        };
        let parts = name_parts(name);
        let out = self.query(source);
        let target = self.target(&parts);
        let shown = parts.join(".");
        let names = if !insert.columns.is_empty() {
            Some(insert.columns.iter().map(last_part).collect())
        } else {
            self.positional.insert((target, PositionalReason::InsertWithoutColumns));
            match (self.catalog.get(target).fields.clone(), out.open.is_empty()) {
                (Some(fields), true) => {
                    // Fewer columns than the table has is valid SQL (the rest get defaults).
                    if fields.len() < out.columns.len() {
                        self.note(format!(
                            "insert into `{shown}` without a column list: the query gives {} columns, the table has {}",
                            out.columns.len(),
                            fields.len()
                        ));
                    }
                    Some(fields.into_iter().take(out.columns.len()).collect())
                }
                (None, _) => {
                    self.note(format!(
                        "insert into `{shown}` without a column list and without its schema: columns named as the query names them"
                    ));
                    None
                }
                (Some(_), false) => {
                    self.note(format!(
                        "insert into `{shown}` without a column list from a `*` with unknown columns: columns matched by name"
                    ));
                    None
                }
            }
        };
        self.emit(Some(target), out, names);
    }

    fn merge(&mut self, merge: &'a Merge) {
        let mut dataset_wide = BTreeSet::new();
        self.frames.push(Frame::default());
        let target = self.statement_target(&merge.table, "merge into");

        self.table_factor(&merge.source, &mut dataset_wide);
        let source = self.frame().entries.last().map(|e| Rc::clone(&e.source));
        self.clause(&merge.on, Subtype::Join, &mut dataset_wide);
        let mut columns: Vec<OutColumn> = Vec::new();
        for clause in &merge.clauses {
            if let Some(predicate) = &clause.predicate {
                self.clause(predicate, Subtype::Filter, &mut dataset_wide);
            }
            match &clause.action {
                MergeAction::Update(update) => {
                    for predicate in update.update_predicate.iter().chain(&update.delete_predicate) {
                        self.clause(predicate, Subtype::Filter, &mut dataset_wide);
                    }
                    match &update.kind {
                        MergeUpdateKind::Set(assignments) => {
                            for assignment in assignments {
                                self.assignment(&assignment.target, &assignment.value, &mut columns);
                            }
                        }
                        MergeUpdateKind::Wildcard => self.merge_by_name(source.as_ref(), &mut columns),
                    }
                }
                MergeAction::Insert(insert) => {
                    if let Some(predicate) = &insert.insert_predicate {
                        self.clause(predicate, Subtype::Filter, &mut dataset_wide);
                    }
                    match &insert.kind {
                        MergeInsertKind::Values(values) => {
                            let names: Vec<String> = if insert.columns.is_empty() {
                                target.and_then(|t| self.catalog.get(t).fields.clone()).unwrap_or_default()
                            } else {
                                insert.columns.iter().map(last_part).collect()
                            };
                            if names.is_empty() {
                                self.note(
                                    "merge insert without a column list and without the target's schema: not analysed"
                                        .to_owned(),
                                );
                            }
                            for row in &values.rows {
                                for (name, value) in names.iter().zip(&row.content) {
                                    let lineage = self.value(value);
                                    add_column(&mut columns, name, lineage);
                                }
                            }
                        }
                        MergeInsertKind::Row | MergeInsertKind::Wildcard => {
                            self.merge_by_name(source.as_ref(), &mut columns)
                        }
                    }
                }
                MergeAction::Delete { .. } | MergeAction::DoNothing { .. } => {}
            }
        }
        self.frames.pop();
        self.emit(target, QueryOut { columns, open: Vec::new(), dataset_wide }, None);
    }

    /// `UPDATE SET *` / `INSERT *` of a MERGE: the source's columns, by name.
    fn merge_by_name(&mut self, source: Option<&Rc<Source>>, columns: &mut Vec<OutColumn>) {
        let Some(source) = source else { return };
        let mut out = QueryOut::default();
        self.expand(source, None, &mut out);
        for column in out.columns {
            add_column(columns, &column.name, column.lineage);
        }
        if !out.open.is_empty() {
            self.note(
                "merge with `*` from a source whose columns are unknown: those columns are not listed".to_owned(),
            );
        }
    }

    /// The table a MERGE or UPDATE writes: its dataset, entered in the current frame under
    /// its alias so the statement's expressions can name it; `None` (noted) for anything else.
    fn statement_target(&mut self, table: &TableFactor, what: &str) -> Option<DatasetIdx> {
        match table {
            TableFactor::Table { name, alias, .. } => {
                let parts = name_parts(name);
                let target = self.target(&parts);
                let alias =
                    alias.as_ref().map_or_else(|| parts.last().cloned().unwrap_or_default(), |a| a.name.value.clone());
                self.frame().entries.push(Entry {
                    alias: fold(&alias),
                    sql_parts: parts.iter().map(|p| fold(p)).collect(),
                    source: Rc::new(Source::Base(target)),
                });
                Some(target)
            }
            _ => {
                self.note(format!("{what} something other than a table is not analysed"));
                None
            }
        }
    }

    fn update(&mut self, update: &'a Update) {
        let mut dataset_wide = BTreeSet::new();
        self.frames.push(Frame::default());
        let target = self.statement_target(&update.table.relation, "update of");

        self.joins(&update.table.joins, &mut dataset_wide);
        if let Some(UpdateTableFromKind::BeforeSet(tables) | UpdateTableFromKind::AfterSet(tables)) = &update.from {
            for table in tables {
                self.table_with_joins(table, &mut dataset_wide);
            }
        }
        if let Some(selection) = &update.selection {
            self.clause(selection, Subtype::Filter, &mut dataset_wide);
        }
        let mut columns = Vec::new();
        for assignment in &update.assignments {
            self.assignment(&assignment.target, &assignment.value, &mut columns);
        }
        self.frames.pop();
        self.emit(target, QueryOut { columns, open: Vec::new(), dataset_wide }, None);
    }

    fn assignment(&mut self, target: &'a AssignmentTarget, value: &'a Expr, columns: &mut Vec<OutColumn>) {
        match target {
            AssignmentTarget::ColumnName(name) => {
                let lineage = self.value(value);
                add_column(columns, &last_part(name), lineage);
            }
            AssignmentTarget::Tuple(names) => match value {
                Expr::Tuple(values) if values.len() == names.len() => {
                    for (name, value) in names.iter().zip(values) {
                        let lineage = self.value(value);
                        add_column(columns, &last_part(name), lineage);
                    }
                }
                _ => {
                    let lineage = self.value(value);
                    for name in names {
                        add_column(columns, &last_part(name), lineage.clone());
                    }
                }
            },
        }
    }

    /// Names the columns of `out` positionally; `shown` names what gives the names.
    fn rename(&mut self, out: &mut QueryOut, names: &[String], shown: &str) {
        if names.len() != out.columns.len() && out.open.is_empty() {
            self.note(format!("{shown} names {} columns for a query of {}", names.len(), out.columns.len()));
        }
        if !out.open.is_empty() && names.len() > out.columns.len() {
            self.note(format!("{shown} names columns of a `*` whose columns are unknown: not matched"));
        }
        for (column, name) in out.columns.iter_mut().zip(names) {
            column.rename(name);
        }
    }

    /// Turns a statement's result into a [`DerivedOutput`].
    fn emit(&mut self, target: Option<DatasetIdx>, mut out: QueryOut, names: Option<Vec<String>>) {
        let shown = target.map_or_else(|| "the output".to_owned(), |t| format!("`{}`", self.catalog.get(t).name));
        if let Some(names) = names {
            self.rename(&mut out, &names, &shown);
        }
        // The output's schema: the target's, or for a bare SELECT the job's single output's.
        let schema_of = target.or_else(|| self.catalog.single_output()).filter(|&t| self.catalog.is_known(t));
        let fields = schema_of.and_then(|t| self.catalog.get(t).fields.clone());
        if !out.open.is_empty() {
            for dataset in open_bases(&out.open) {
                self.positional.insert((dataset, PositionalReason::Star));
            }
            match &fields {
                Some(fields) => {
                    // Columns hidden behind the `*` are those the output's schema has beyond
                    // the listed ones, taken by name.
                    let open = std::mem::take(&mut out.open);
                    let listed: HashSet<String> = out.columns.iter().map(|c| c.folded.clone()).collect();
                    for field in fields {
                        let folded = fold(field);
                        if listed.contains(&folded) {
                            continue;
                        }
                        match self.lookup_open(&open, &folded, field) {
                            Some(lineage) => out.columns.push(OutColumn::new(field, lineage)),
                            None => self.note(format!("column `{field}` of {shown} is not found behind its `*`")),
                        }
                    }
                    // In the output's order (the listed ones were before or after the `*`).
                    let mut order: HashMap<String, usize> = HashMap::new();
                    for (idx, field) in fields.iter().enumerate() {
                        order.entry(fold(field)).or_insert(idx);
                    }
                    out.columns.sort_by_key(|c| order.get(&c.folded).copied().unwrap_or(fields.len()));
                }
                None => {
                    let names: Vec<String> =
                        open_bases(&out.open).iter().map(|&d| self.catalog.get(d).name.clone()).collect();
                    self.note(format!(
                        "`*` over relations whose columns are unknown ({}): {shown}'s columns from them are not listed",
                        names.join(", ")
                    ));
                }
            }
        }
        if let Some(t) = schema_of {
            // Spell the columns as the output's schema does.
            for column in &mut out.columns {
                if let Some(field) = self.catalog.get(t).field(&column.folded) {
                    column.name = field.to_owned();
                }
            }
        }
        for column in &out.columns {
            for &dataset in &column.positional {
                self.positional.insert((dataset, PositionalReason::Star));
            }
        }
        let mut edges: BTreeMap<(usize, (String, String), String, Subtype), bool> = BTreeMap::new();
        for (idx, column) in out.columns.iter().enumerate() {
            for (col, subtype, masking) in &column.lineage.direct {
                // The value is masked only if every path masks it.
                let key = (idx, self.catalog.get(col.dataset).key(), col.field.clone(), *subtype);
                edges.entry(key).and_modify(|m| *m &= *masking).or_insert(*masking);
            }
            for (col, subtype) in &column.lineage.indirect {
                edges.entry((idx, self.catalog.get(col.dataset).key(), col.field.clone(), *subtype)).or_insert(false);
            }
        }
        let edges = edges
            .into_iter()
            .map(|((idx, input, input_field, subtype), masking)| DerivedEdge {
                output_field: out.columns[idx].name.clone(),
                input,
                input_field,
                kind: subtype.kind(),
                subtype,
                masking,
            })
            .collect();
        let dataset_wide: BTreeSet<DatasetEdge> = out
            .dataset_wide
            .iter()
            .map(|(col, subtype)| DatasetEdge {
                input: self.catalog.get(col.dataset).key(),
                input_field: col.field.clone(),
                subtype: *subtype,
            })
            .collect();
        self.outputs.push(DerivedOutput {
            output: target.map(|t| self.catalog.get(t).key()),
            columns: out.columns.iter().map(|c| c.name.clone()).collect(),
            edges,
            dataset_wide: dataset_wide.into_iter().collect(),
        });
    }

    // ---------------------------------------------------------------- queries

    /// A query nested in an expression or in `FROM`: its aggregates are its own.
    fn subquery(&mut self, query: &'a Query) -> QueryOut {
        let saw_aggregate = std::mem::replace(&mut self.saw_aggregate, false);
        let out = self.query(query);
        self.saw_aggregate = saw_aggregate;
        out
    }

    fn query(&mut self, query: &'a Query) -> QueryOut {
        if !self.enter() {
            return QueryOut::default();
        }
        self.ctes.push(Vec::new());
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.cte(cte, with.recursive);
            }
        }
        if !query.pipe_operators.is_empty() {
            self.note("pipe syntax (`|>`) is not analysed".to_owned());
        }
        let out = self.set_expr(&query.body, query.order_by.as_ref());
        self.ctes.pop();
        self.leave();
        out
    }

    fn cte(&mut self, cte: &'a Cte, recursive: bool) {
        let name = fold(&cte.alias.name.value);
        if recursive && let Some(scope) = self.ctes.last_mut() {
            // The recursive part reads the CTE itself: its columns are those of the
            // non-recursive part, which the union already gives.
            scope.push((name.clone(), Rc::new(Source::Placeholder)));
        }
        let mut out = self.subquery(&cte.query);
        let names = alias_columns(&cte.alias.columns);
        if !names.is_empty() {
            self.rename(&mut out, &names, &format!("`{}`", cte.alias.name.value));
        }
        if let Some(scope) = self.ctes.last_mut() {
            scope.retain(|(n, _)| *n != name);
            scope.push((name, Source::derived(out)));
        }
    }

    fn set_expr(&mut self, body: &'a SetExpr, order_by: Option<&'a OrderBy>) -> QueryOut {
        match body {
            SetExpr::Select(select) => self.select(select, order_by),
            SetExpr::Query(query) => {
                let out = self.query(query);
                self.order_outer(out, order_by)
            }
            SetExpr::SetOperation { .. } => {
                // `a UNION b UNION c …` nests to the left as deep as it is long: walk the
                // left spine in a loop, then combine from the leftmost side.
                let mut rights = Vec::new();
                let mut leftmost = body;
                while let SetExpr::SetOperation { left, op, set_quantifier, right } = leftmost {
                    rights.push((*op, *set_quantifier, &**right));
                    leftmost = left;
                }
                let mut out = self.set_expr(leftmost, None);
                for (op, quantifier, right) in rights.into_iter().rev() {
                    let right = self.set_expr(right, None);
                    out = self.combine(out, op, quantifier, right);
                }
                self.order_outer(out, order_by)
            }
            SetExpr::Values(values) => {
                let mut out = QueryOut::default();
                for row in &values.rows {
                    for (idx, value) in row.content.iter().enumerate() {
                        let lineage = self.value(value);
                        match out.columns.get_mut(idx) {
                            Some(column) => column.lineage.extend(&lineage),
                            None => out.columns.push(OutColumn::new(&format!("column{}", idx + 1), lineage)),
                        }
                    }
                }
                self.order_outer(out, order_by)
            }
            SetExpr::Table(table) => {
                let parts: Vec<String> = table
                    .schema_name
                    .iter()
                    .chain(&table.table_name)
                    .flat_map(|i| i.value.split('.'))
                    .map(str::to_owned)
                    .collect();
                let mut out = QueryOut::default();
                if !parts.is_empty() {
                    let source = self.relation(&parts);
                    self.expand(&source, None, &mut out);
                }
                self.order_outer(out, order_by)
            }
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                self.note("a data-modifying statement inside a query is not analysed".to_owned());
                QueryOut::default()
            }
        }
    }

    /// `ORDER BY` of a query whose body is not a plain `SELECT`: it names output columns.
    fn order_outer(&mut self, mut out: QueryOut, order_by: Option<&'a OrderBy>) -> QueryOut {
        let Some(order_by) = order_by else { return out };
        let mut frame = Frame::default();
        frame.entries.push(Entry { alias: String::new(), sql_parts: Vec::new(), source: Source::derived(out.clone()) });
        self.frames.push(frame);
        self.order_by(order_by, &out.columns, &mut out.dataset_wide);
        self.frames.pop();
        out
    }

    fn order_by(&mut self, order_by: &'a OrderBy, columns: &[OutColumn], dataset_wide: &mut BTreeSet<(Col, Subtype)>) {
        match &order_by.kind {
            OrderByKind::All(_) => {
                for column in columns {
                    dataset_wide.extend(column.lineage.as_indirect(Subtype::Sort));
                }
            }
            OrderByKind::Expressions(exprs) => {
                for order in exprs {
                    match position(&order.expr, columns.len()) {
                        Some(idx) => dataset_wide.extend(columns[idx].lineage.as_indirect(Subtype::Sort)),
                        None => self.clause(&order.expr, Subtype::Sort, dataset_wide),
                    }
                }
            }
        }
    }

    /// `UNION`, `INTERSECT`, `EXCEPT`: columns matched by position (or by name with `BY NAME`).
    fn combine(&mut self, left: QueryOut, op: SetOperator, quantifier: SetQuantifier, right: QueryOut) -> QueryOut {
        let by_name =
            matches!(quantifier, SetQuantifier::ByName | SetQuantifier::AllByName | SetQuantifier::DistinctByName);
        // INTERSECT and EXCEPT return the left side's rows; the right side only filters them.
        let filter_only = matches!(op, SetOperator::Intersect | SetOperator::Except | SetOperator::Minus);
        if !by_name {
            for column in left.columns.iter().chain(&right.columns) {
                for &dataset in &column.positional {
                    self.positional.insert((dataset, PositionalReason::SetOperation));
                }
            }
            for dataset in open_bases(&left.open).into_iter().chain(open_bases(&right.open)) {
                self.positional.insert((dataset, PositionalReason::SetOperation));
            }
            if left.open.is_empty() && right.open.is_empty() && left.columns.len() != right.columns.len() {
                self.note(format!(
                    "the sides of a set operation have {} and {} columns",
                    left.columns.len(),
                    right.columns.len()
                ));
            }
            if !left.open.is_empty() || !right.open.is_empty() {
                self.note("a set operation over `*` of relations whose columns are unknown: its columns cannot be matched by position".to_owned());
            }
        }
        let mut out = QueryOut { columns: left.columns, open: left.open, dataset_wide: left.dataset_wide };
        for open in &right.open {
            add_open(&mut out.open, open);
        }
        out.dataset_wide.extend(right.dataset_wide);
        let mut by_folded: HashMap<String, usize> = HashMap::new();
        if by_name {
            for (idx, column) in out.columns.iter().enumerate() {
                by_folded.entry(column.folded.clone()).or_insert(idx);
            }
        }
        for (idx, column) in right.columns.into_iter().enumerate() {
            let matching = if by_name { by_folded.get(&column.folded).copied() } else { Some(idx) };
            match matching.filter(|&i| i < out.columns.len()) {
                Some(_) if filter_only => out.dataset_wide.extend(column.lineage.as_indirect(Subtype::Filter)),
                Some(i) => {
                    let target = &mut out.columns[i];
                    target.lineage.extend(&column.lineage);
                    target.positional.extend(column.positional);
                    target.aggregate |= column.aggregate;
                }
                None if by_name && !filter_only => out.columns.push(column),
                None => {}
            }
        }
        out
    }

    fn select(&mut self, select: &'a Select, order_by: Option<&'a OrderBy>) -> QueryOut {
        let mut out = QueryOut::default();
        self.frames.push(Frame::default());
        for table in &select.from {
            self.table_with_joins(table, &mut out.dataset_wide);
        }
        for view in &select.lateral_views {
            // Hive's `LATERAL VIEW explode(items) t AS item`.
            let lineage = self.value(&view.lateral_view).transformed();
            let names = view.lateral_col_alias.iter().map(|i| fold(&i.value)).collect();
            let source = Rc::new(Source::Opaque { lineage, names, inner: None });
            self.frame().entries.push(Entry {
                alias: fold(&last_part(&view.lateral_view_name)),
                sql_parts: Vec::new(),
                source,
            });
        }
        self.frame().windows = select.named_window.iter().map(|w| (fold(&w.0.value), &w.1)).collect();
        // The select list first: some dialects (Snowflake, Databricks) let `WHERE` use its
        // aliases; input columns still come first.
        self.frame().alias_mode = AliasMode::After;
        for item in &select.projection {
            self.select_item(item, &mut out);
        }
        for condition in select.prewhere.iter().chain(&select.selection) {
            self.clause(condition, Subtype::Filter, &mut out.dataset_wide);
        }
        for connect in &select.connect_by {
            match connect {
                sqlparser::ast::ConnectByKind::ConnectBy { relationships, .. } => {
                    for relationship in relationships {
                        self.clause(relationship, Subtype::Filter, &mut out.dataset_wide);
                    }
                }
                sqlparser::ast::ConnectByKind::StartWith { condition, .. } => {
                    self.clause(condition, Subtype::Filter, &mut out.dataset_wide);
                }
            }
        }
        if let Some(Distinct::On(exprs)) = &select.distinct {
            for expr in exprs {
                self.clause(expr, Subtype::GroupBy, &mut out.dataset_wide);
            }
        }
        match &select.group_by {
            GroupByExpr::All(_) => {
                for column in out.columns.iter().filter(|c| !c.aggregate) {
                    out.dataset_wide.extend(column.lineage.as_indirect(Subtype::GroupBy));
                }
            }
            GroupByExpr::Expressions(exprs, modifiers) => {
                for expr in exprs {
                    match position(expr, out.columns.len()) {
                        Some(idx) => {
                            let uses: Vec<_> = out.columns[idx].lineage.as_indirect(Subtype::GroupBy).collect();
                            out.dataset_wide.extend(uses);
                        }
                        None => self.clause(expr, Subtype::GroupBy, &mut out.dataset_wide),
                    }
                }
                for modifier in modifiers {
                    if let GroupByWithModifier::GroupingSets(expr) = modifier {
                        self.clause(expr, Subtype::GroupBy, &mut out.dataset_wide);
                    }
                }
            }
        }
        for condition in select.having.iter().chain(&select.qualify) {
            self.clause(condition, Subtype::Filter, &mut out.dataset_wide);
        }
        for order in &select.sort_by {
            self.clause(&order.expr, Subtype::Sort, &mut out.dataset_wide);
        }
        if let Some(order_by) = order_by {
            self.frame().alias_mode = AliasMode::Before;
            let columns = out.columns.clone();
            self.order_by(order_by, &columns, &mut out.dataset_wide);
        }
        self.frames.pop();
        out
    }

    fn select_item(&mut self, item: &'a SelectItem, out: &mut QueryOut) {
        let first_new = out.columns.len();
        match item {
            SelectItem::UnnamedExpr(expr) => {
                let (lineage, aggregate) = self.item_expr(expr);
                let mut column = OutColumn::new(&expr_name(expr), lineage);
                column.aggregate = aggregate;
                out.columns.push(column);
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let (lineage, aggregate) = self.item_expr(expr);
                let mut column = OutColumn::new(&alias.value, lineage);
                column.aggregate = aggregate;
                out.columns.push(column);
            }
            SelectItem::ExprWithAliases { expr, aliases } => {
                let (lineage, aggregate) = self.item_expr(expr);
                for alias in aliases {
                    let mut column = OutColumn::new(&alias.value, lineage.clone());
                    column.aggregate = aggregate;
                    out.columns.push(column);
                }
            }
            SelectItem::QualifiedWildcard(kind, options) => match kind {
                SelectItemQualifiedWildcardKind::ObjectName(name) => {
                    let qualifier: Vec<String> = name_parts(name).iter().map(|p| fold(p)).collect();
                    match self.find_entry(&qualifier) {
                        Some(source) => self.expand(&source, Some(options), out),
                        None => self.note(format!(
                            "`{}.*`: no relation `{}` in scope",
                            qualifier.join("."),
                            qualifier.join(".")
                        )),
                    }
                }
                SelectItemQualifiedWildcardKind::Expr(expr) => {
                    // `struct_column.*`: its fields are unknown here.
                    let (lineage, _) = self.item_expr(expr);
                    out.columns.push(OutColumn::new(&expr_name(expr), lineage.transformed()));
                    self.note(format!("fields of `{}.*` are not expanded", expr_name(expr)));
                }
            },
            SelectItem::Wildcard(options) => {
                let (sources, using): (Vec<Rc<Source>>, Vec<String>) = self
                    .frames
                    .last()
                    .map(|f| (f.entries.iter().map(|e| Rc::clone(&e.source)).collect(), f.using.clone()))
                    .unwrap_or_default();
                for source in sources {
                    self.expand(&source, Some(options), out);
                }
                // A USING (or NATURAL) join column appears once, from the first relation.
                if !using.is_empty() {
                    let mut seen = HashSet::new();
                    let expanded = out.columns.split_off(first_new);
                    for column in expanded {
                        if !using.contains(&column.folded) || seen.insert(column.folded.clone()) {
                            out.columns.push(column);
                        }
                    }
                }
            }
        }
        let new_aliases: Vec<(String, Lineage)> =
            out.columns[first_new..].iter().map(|c| (c.folded.clone(), c.lineage.clone())).collect();
        self.frame().aliases.extend(new_aliases);
    }

    /// A select item's lineage, and whether it aggregates.
    fn item_expr(&mut self, expr: &'a Expr) -> (Lineage, bool) {
        let saw_aggregate = std::mem::replace(&mut self.saw_aggregate, false);
        let mut lineage = Lineage::default();
        self.expr(expr, Ctx::IDENTITY, &mut lineage);
        let aggregate = std::mem::replace(&mut self.saw_aggregate, saw_aggregate);
        (lineage, aggregate)
    }

    /// Expands `*` over one relation into `out`, honouring `EXCLUDE`/`EXCEPT`, `REPLACE` and
    /// `RENAME`.
    fn expand(&mut self, source: &Rc<Source>, options: Option<&'a WildcardAdditionalOptions>, out: &mut QueryOut) {
        let mut columns: Vec<OutColumn> = Vec::new();
        match &**source {
            Source::Base(dataset) => match &self.catalog.get(*dataset).fields {
                Some(fields) => {
                    for field in fields {
                        let mut column = OutColumn::new(field, Lineage::column(*dataset, field));
                        column.positional.insert(*dataset);
                        columns.push(column);
                    }
                }
                None => add_open(&mut out.open, source),
            },
            Source::Derived { query, .. } => {
                let cost = query.columns.iter().map(|c| 1 + c.lineage.direct.len() + c.lineage.indirect.len()).sum();
                if out.columns.len() + query.columns.len() > MAX_COLUMNS {
                    self.note(format!("a `*` would give more than {MAX_COLUMNS} columns: not expanded"));
                } else if self.spend(cost) {
                    columns.extend(query.columns.iter().cloned());
                }
                for open in &query.open {
                    add_open(&mut out.open, open);
                }
            }
            Source::Opaque { lineage, names, inner } => {
                if names.is_empty() {
                    add_open(&mut out.open, source);
                } else {
                    columns.extend(names.iter().map(|name| OutColumn::new(name, lineage.transformed())));
                    // PIVOT's other columns pass through; which ones is not known here.
                    if let Some(inner) = inner {
                        add_open(&mut out.open, inner);
                    }
                }
            }
            Source::Placeholder => {}
        }
        if let Some(options) = options {
            let mut excluded: Vec<String> = Vec::new();
            match &options.opt_exclude {
                Some(sqlparser::ast::ExcludeSelectItem::Single(name)) => excluded.push(fold(&last_part(name))),
                Some(sqlparser::ast::ExcludeSelectItem::Multiple(names)) => {
                    excluded.extend(names.iter().map(|n| fold(&last_part(n))))
                }
                None => {}
            }
            if let Some(except) = &options.opt_except {
                excluded.push(fold(&except.first_element.value));
                excluded.extend(except.additional_elements.iter().map(|i| fold(&i.value)));
            }
            columns.retain(|c| !excluded.contains(&c.folded));
            if let Some(replace) = &options.opt_replace {
                for element in &replace.items {
                    let folded = fold(&element.column_name.value);
                    let lineage = self.value(&element.expr);
                    if let Some(column) = columns.iter_mut().find(|c| c.folded == folded) {
                        column.lineage = lineage;
                    }
                }
            }
            let renames: Vec<&sqlparser::ast::IdentWithAlias> = match &options.opt_rename {
                Some(sqlparser::ast::RenameSelectItem::Single(rename)) => vec![rename],
                Some(sqlparser::ast::RenameSelectItem::Multiple(renames)) => renames.iter().collect(),
                None => Vec::new(),
            };
            for rename in renames {
                let folded = fold(&rename.ident.value);
                if let Some(column) = columns.iter_mut().find(|c| c.folded == folded) {
                    column.rename(&rename.alias.value);
                }
            }
        }
        out.columns.extend(columns);
    }

    // ---------------------------------------------------------------- FROM

    fn table_with_joins(&mut self, table: &'a TableWithJoins, dataset_wide: &mut BTreeSet<(Col, Subtype)>) {
        self.table_factor(&table.relation, dataset_wide);
        self.joins(&table.joins, dataset_wide);
    }

    fn joins(&mut self, joins: &'a [Join], dataset_wide: &mut BTreeSet<(Col, Subtype)>) {
        for join in joins {
            let before = self.frame().entries.len();
            self.table_factor(&join.relation, dataset_wide);
            let constraint = match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c)
                | JoinOperator::StraightJoin(c) => Some(c),
                JoinOperator::AsOf { match_condition, constraint } => {
                    self.clause(match_condition, Subtype::Join, dataset_wide);
                    Some(constraint)
                }
                JoinOperator::CrossApply
                | JoinOperator::OuterApply
                | JoinOperator::ArrayJoin
                | JoinOperator::LeftArrayJoin
                | JoinOperator::InnerArrayJoin => None,
            };
            match constraint {
                Some(JoinConstraint::On(condition)) => self.clause(condition, Subtype::Join, dataset_wide),
                Some(JoinConstraint::Using(names) | JoinConstraint::UsingAlias(names, _)) => {
                    for name in names {
                        self.using_column(&last_part(name), before, dataset_wide);
                    }
                }
                Some(JoinConstraint::Natural) => self.natural_join(before, dataset_wide),
                Some(JoinConstraint::None) | None => {}
            }
        }
    }

    /// `USING (col)`: the column of the relations before the join and of the joined one.
    fn using_column(&mut self, name: &str, before: usize, dataset_wide: &mut BTreeSet<(Col, Subtype)>) {
        let folded = fold(name);
        let Some(frame) = self.frames.last() else { return };
        let sides = [&frame.entries[..before], &frame.entries[before..]];
        let mut found_all = true;
        let mut uses = Vec::new();
        for side in sides {
            let mut best: Option<(u8, Lineage)> = None;
            for entry in side {
                let (rank, lineage) = match self.lookup(&entry.source, &folded, name) {
                    Lookup::Found(l) => (3, l),
                    Lookup::Unknown(l) => (2, l),
                    Lookup::Missing(Some(l)) => (1, l),
                    Lookup::Missing(None) => continue,
                };
                if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                    best = Some((rank, lineage));
                }
            }
            match best {
                Some((_, lineage)) => uses.extend(lineage.as_indirect(Subtype::Join)),
                None => found_all = false,
            }
        }
        dataset_wide.extend(uses);
        if !found_all {
            self.note(format!("join column `{name}` (USING) is not found on both sides"));
        }
        self.frame().using.push(folded);
    }

    fn natural_join(&mut self, before: usize, dataset_wide: &mut BTreeSet<(Col, Subtype)>) {
        let Some(frame) = self.frames.last() else { return };
        let left = self.all_known_columns(&frame.entries[..before]);
        let right = self.all_known_columns(&frame.entries[before..]);
        match (left, right) {
            (Some(left), Some(right)) => {
                let common: Vec<String> =
                    left.iter().filter(|l| right.iter().any(|r| fold(r) == fold(l))).cloned().collect();
                for name in common {
                    self.using_column(&name, before, dataset_wide);
                }
            }
            _ => self.note(
                "natural join with a relation whose columns are unknown: its join columns are not known".to_owned(),
            ),
        }
    }

    /// The column names of several relations, if all are known.
    fn all_known_columns(&self, entries: &[Entry]) -> Option<Vec<String>> {
        let mut all = Vec::new();
        for entry in entries {
            all.extend(self.known_columns(&entry.source)?);
        }
        Some(all)
    }

    /// The column names of a relation, if all are known.
    fn known_columns(&self, source: &Source) -> Option<Vec<String>> {
        match source {
            Source::Base(dataset) => self.catalog.get(*dataset).fields.clone(),
            Source::Derived { query, .. } if query.open.is_empty() => {
                Some(query.columns.iter().map(|c| c.name.clone()).collect())
            }
            Source::Opaque { names, inner: None, .. } if !names.is_empty() => Some(names.clone()),
            _ => None,
        }
    }

    fn table_factor(&mut self, factor: &'a TableFactor, dataset_wide: &mut BTreeSet<(Col, Subtype)>) {
        let alias_of = |alias: &Option<sqlparser::ast::TableAlias>| alias.as_ref().map(|a| fold(&a.name.value));
        let columns_of = |alias: &Option<sqlparser::ast::TableAlias>| {
            alias.as_ref().map(|a| alias_columns(&a.columns)).unwrap_or_default()
        };
        match factor {
            TableFactor::Table { name, alias, args, .. } => {
                let parts = name_parts(name);
                let entry_alias = alias_of(alias).unwrap_or_else(|| parts.last().map(|p| fold(p)).unwrap_or_default());
                let source = match args {
                    Some(args) => {
                        // A table-valued function: `FROM generate_series(…)`, `FROM flatten(…)`.
                        let mut lineage = Lineage::default();
                        let args: Vec<&'a FunctionArg> = args.args.iter().collect();
                        self.function_args(&args, Ctx::IDENTITY.transformed(), None, &mut lineage);
                        let names = columns_of(alias).iter().map(|n| fold(n)).collect();
                        Rc::new(Source::Opaque { lineage, names, inner: None })
                    }
                    None => {
                        let source = self.relation(&parts);
                        if let Source::Derived { query, .. } = &*source {
                            // A CTE's (or an earlier statement's table's) filters and joins
                            // decide which of its rows this query sees.
                            dataset_wide.extend(query.dataset_wide.iter().cloned());
                        }
                        let names = columns_of(alias);
                        if names.is_empty() {
                            source
                        } else {
                            let mut out = QueryOut::default();
                            self.expand(&source, None, &mut out);
                            self.rename(&mut out, &names, &format!("`{}`", parts.join(".")));
                            for column in &mut out.columns {
                                column.positional.clear();
                            }
                            Source::derived(out)
                        }
                    }
                };
                let sql_parts = parts.iter().map(|p| fold(p)).collect();
                self.frame().entries.push(Entry { alias: entry_alias, sql_parts, source });
            }
            TableFactor::Derived { subquery, alias, .. } => {
                let mut out = self.subquery(subquery);
                dataset_wide.extend(out.dataset_wide.iter().cloned());
                let names = columns_of(alias);
                if !names.is_empty() {
                    let shown = format!("`{}`", alias.as_ref().map(|a| a.name.value.as_str()).unwrap_or_default());
                    self.rename(&mut out, &names, &shown);
                }
                let entry = Entry {
                    alias: alias_of(alias).unwrap_or_default(),
                    sql_parts: Vec::new(),
                    source: Source::derived(out),
                };
                self.frame().entries.push(entry);
            }
            TableFactor::TableFunction { expr, alias } => {
                let lineage = self.value(expr).transformed();
                self.push_opaque(alias_of(alias), columns_of(alias), lineage, None);
            }
            TableFactor::Function { name, args, alias, .. } => {
                let mut lineage = Lineage::default();
                let args: Vec<&'a FunctionArg> = args.iter().collect();
                self.function_args(&args, Ctx::IDENTITY.transformed(), None, &mut lineage);
                let entry_alias = alias_of(alias).or_else(|| Some(fold(&last_part(name))));
                self.push_opaque(entry_alias, columns_of(alias), lineage, None);
            }
            TableFactor::UNNEST { alias, array_exprs, with_offset_alias, .. } => {
                let mut lineage = Lineage::default();
                for expr in array_exprs {
                    self.expr(expr, Ctx::IDENTITY.transformed(), &mut lineage);
                }
                let mut names = columns_of(alias);
                if names.is_empty() {
                    // BigQuery: `UNNEST(items) AS item` names the element column too.
                    names.extend(alias.as_ref().map(|a| a.name.value.clone()));
                }
                let mut opaque_names: Vec<String> = names.iter().map(|n| fold(n)).collect();
                if let Some(offset) = with_offset_alias {
                    opaque_names.push(fold(&offset.value));
                }
                let source = Rc::new(Source::Opaque { lineage, names: opaque_names, inner: None });
                self.frame().entries.push(Entry {
                    alias: alias_of(alias).unwrap_or_default(),
                    sql_parts: Vec::new(),
                    source,
                });
            }
            TableFactor::JsonTable { json_expr, alias, .. } | TableFactor::OpenJsonTable { json_expr, alias, .. } => {
                let lineage = self.value(json_expr).transformed();
                self.push_opaque(alias_of(alias), Vec::new(), lineage, None);
            }
            TableFactor::NestedJoin { table_with_joins, .. } => self.table_with_joins(table_with_joins, dataset_wide),
            TableFactor::Pivot { table, aggregate_functions, value_column, value_source, alias, .. } => {
                // The pivoted columns aggregate the pivot's values, split by the value column.
                self.frames.push(Frame::default());
                self.table_factor(table, dataset_wide);
                let mut lineage = Lineage::default();
                for aggregate in aggregate_functions {
                    self.expr(&aggregate.expr, Ctx::IDENTITY, &mut lineage);
                }
                for column in value_column {
                    self.condition(column, Subtype::Filter, &mut lineage);
                }
                let inner = self.frame().entries.first().map(|e| Rc::clone(&e.source));
                self.frames.pop();
                let names = match value_source {
                    PivotValueSource::List(values) => values
                        .iter()
                        .map(|v| match (&v.alias, &v.expr) {
                            (Some(alias), _) => alias.value.clone(),
                            (None, Expr::Value(value)) => match &value.value {
                                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                                other => other.to_string(),
                            },
                            (None, expr) => expr_name(expr),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let names = if names.is_empty() { columns_of(alias) } else { names };
                self.push_opaque(alias_of(alias), names, lineage, inner);
            }
            TableFactor::Unpivot { table, columns, alias, .. } => {
                self.frames.push(Frame::default());
                self.table_factor(table, dataset_wide);
                let mut lineage = Lineage::default();
                for column in columns {
                    self.expr(&column.expr, Ctx::IDENTITY, &mut lineage);
                }
                let inner = self.frame().entries.first().map(|e| Rc::clone(&e.source));
                self.frames.pop();
                // Columns other than the unpivoted ones pass through; the new ones come from
                // the unpivoted columns.
                self.push_opaque(alias_of(alias), Vec::new(), lineage, inner);
            }
            TableFactor::MatchRecognize { table, partition_by, order_by, measures, alias, .. } => {
                self.frames.push(Frame::default());
                self.table_factor(table, dataset_wide);
                let mut lineage = Lineage::default();
                for measure in measures {
                    self.expr(&measure.expr, Ctx::IDENTITY.transformed(), &mut lineage);
                }
                for expr in partition_by.iter().chain(order_by.iter().map(|o| &o.expr)) {
                    self.condition(expr, Subtype::Window, &mut lineage);
                }
                let inner = self.frame().entries.first().map(|e| Rc::clone(&e.source));
                self.frames.pop();
                self.push_opaque(alias_of(alias), Vec::new(), lineage, inner);
            }
            TableFactor::XmlTable { alias, .. } | TableFactor::SemanticView { alias, .. } => {
                self.note("`XMLTABLE` and `SEMANTIC_VIEW` in `FROM` are not analysed".to_owned());
                self.push_opaque(alias_of(alias), Vec::new(), Lineage::default(), None);
            }
            TableFactor::UnpivotExpr { .. } => {
                self.note("an `UNPIVOT` of an expression is not analysed".to_owned());
            }
        }
    }

    fn push_opaque(&mut self, alias: Option<String>, names: Vec<String>, lineage: Lineage, inner: Option<Rc<Source>>) {
        let names = names.iter().map(|n| fold(n)).collect();
        let source = Rc::new(Source::Opaque { lineage, names, inner });
        self.frame().entries.push(Entry { alias: alias.unwrap_or_default(), sql_parts: Vec::new(), source });
    }

    /// A relation named in `FROM`: a CTE, a table created by an earlier statement, or a
    /// dataset of the job.
    fn relation(&mut self, parts: &[String]) -> Rc<Source> {
        let folded: Vec<String> = parts.iter().map(|p| fold(p)).collect();
        if let [single] = folded.as_slice() {
            for scope in self.ctes.iter().rev() {
                if let Some((_, source)) = scope.iter().rev().find(|(name, _)| name == single) {
                    return Rc::clone(source);
                }
            }
        }
        if let Some((_, source)) =
            self.created.iter().rev().find(|(created, _)| created.ends_with(&folded) || folded.ends_with(created))
        {
            return Rc::clone(source);
        }
        let mut notes = Vec::new();
        let dataset = self.catalog.resolve(parts, Prefer::Inputs, &mut |n| notes.push(n));
        notes.into_iter().for_each(|n| self.note(n));
        Rc::new(Source::Base(dataset))
    }

    // ---------------------------------------------------------------- columns

    /// Looks a column up in one relation (following `*`s whose columns are unknown).
    fn lookup(&self, source: &Source, folded: &str, written: &str) -> Lookup {
        self.lookup_at(source, folded, written, 0)
    }

    fn lookup_at(&self, mut source: &Source, folded: &str, written: &str, hops: usize) -> Lookup {
        // A chain of CTEs each `SELECT * FROM` the previous one is followed in a loop; only
        // several unknown `*`s in one query recurse.
        loop {
            match source {
                Source::Base(dataset) => {
                    let dataset_ref = self.catalog.get(*dataset);
                    return match (&dataset_ref.fields, dataset_ref.field(folded)) {
                        (None, _) => Lookup::Unknown(Lineage::column(*dataset, written)),
                        (Some(_), Some(field)) => Lookup::Found(Lineage::column(*dataset, field)),
                        (Some(_), None) => Lookup::Missing(Some(Lineage::column(*dataset, written))),
                    };
                }
                Source::Derived { query, index } => {
                    if let Some(&idx) = index.get(folded) {
                        return Lookup::Found(query.columns[idx].lineage.clone());
                    }
                    match query.open.as_slice() {
                        [] => return Lookup::Missing(None),
                        [one] => source = one,
                        several => {
                            if hops >= MAX_DEPTH {
                                return Lookup::Missing(None);
                            }
                            let mut found = Vec::new();
                            let mut unknown = Vec::new();
                            for one in several {
                                match self.lookup_at(one, folded, written, hops + 1) {
                                    Lookup::Found(l) => found.push(l),
                                    Lookup::Unknown(l) | Lookup::Missing(Some(l)) => unknown.push(l),
                                    Lookup::Missing(None) => {}
                                }
                            }
                            return match (found.len(), unknown.len()) {
                                (1, _) => Lookup::Found(found.swap_remove(0)),
                                (0, 1) => Lookup::Unknown(unknown.swap_remove(0)),
                                _ => Lookup::Missing(None),
                            };
                        }
                    }
                }
                Source::Opaque { lineage, names, inner } => {
                    if names.iter().any(|n| n == folded) {
                        return Lookup::Found(lineage.transformed());
                    }
                    match inner {
                        Some(inner) => match self.lookup_at(inner, folded, written, hops + 1) {
                            Lookup::Found(l) => return Lookup::Found(l),
                            _ => return Lookup::Unknown(lineage.transformed()),
                        },
                        None if names.is_empty() => return Lookup::Unknown(lineage.transformed()),
                        None => return Lookup::Missing(None),
                    }
                }
                Source::Placeholder => return Lookup::Unknown(Lineage::default()),
            }
        }
    }

    /// A column hidden behind unexpanded `*`s.
    fn lookup_open(&self, open: &[Rc<Source>], folded: &str, written: &str) -> Option<Lineage> {
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        for source in open {
            match self.lookup(source, folded, written) {
                Lookup::Found(l) => found.push(l),
                Lookup::Unknown(l) | Lookup::Missing(Some(l)) => unknown.push(l),
                Lookup::Missing(None) => {}
            }
        }
        match (found.len(), unknown.len()) {
            (1, _) => found.pop(),
            (0, 1) => unknown.pop(),
            _ => None,
        }
    }

    /// The relation a qualifier (`o`, `orders`, `public.orders`) names, innermost scope first.
    fn find_entry(&self, qualifier: &[String]) -> Option<Rc<Source>> {
        for frame in self.frames.iter().rev() {
            if let [single] = qualifier
                && let Some(entry) = frame.entries.iter().find(|e| e.alias == *single)
            {
                return Some(Rc::clone(&entry.source));
            }
            for entry in &frame.entries {
                let by_dataset = match &*entry.source {
                    Source::Base(dataset) => self.catalog.get(*dataset).parts().ends_with(qualifier),
                    _ => false,
                };
                if (!entry.sql_parts.is_empty() && entry.sql_parts.ends_with(qualifier)) || by_dataset {
                    return Some(Rc::clone(&entry.source));
                }
            }
        }
        None
    }

    /// Resolves a column reference; the flag says it reads a field inside the column.
    fn resolve_column(&mut self, idents: &[Ident]) -> Option<(Lineage, bool)> {
        let shown: Vec<&str> = idents.iter().map(|i| i.value.as_str()).collect();
        let shown = shown.join(".");
        if let [ident] = idents {
            return self.unqualified(&ident.value, false).map(|l| (l, false));
        }
        let mut missing_in: Option<String> = None;
        for k in (1..idents.len()).rev() {
            let qualifier: Vec<String> = idents[..k].iter().map(|i| fold(&i.value)).collect();
            let Some(source) = self.find_entry(&qualifier) else { continue };
            let column = &idents[k].value;
            match self.lookup(&source, &fold(column), column) {
                Lookup::Found(l) | Lookup::Unknown(l) | Lookup::Missing(Some(l)) => {
                    return Some((l, k + 1 < idents.len()));
                }
                Lookup::Missing(None) => {
                    missing_in.get_or_insert_with(|| qualifier.join("."));
                }
            }
        }
        // `column.field`: a field of a struct column.
        if let Some(lineage) = self.unqualified(&idents[0].value, true) {
            return Some((lineage, true));
        }
        match missing_in {
            Some(relation) => self.note(format!("column `{shown}`: `{relation}` has no such column")),
            None => self.note(format!("column `{shown}`: no relation `{}` in scope", idents[0].value)),
        }
        None
    }

    /// An unqualified column: the one relation in scope that has it (innermost scope first),
    /// else an output alias, else the one relation whose columns are unknown.
    fn unqualified(&mut self, written: &str, quiet: bool) -> Option<Lineage> {
        let folded = fold(written);
        if self.frames.last().is_some_and(|f| f.alias_mode == AliasMode::Before)
            && let Some(lineage) = self.alias(&folded)
        {
            return Some(lineage);
        }
        let n_frames = self.frames.len();
        let mut placeholder = false;
        let mut fallback: Option<Lineage> = None;
        for level in (0..n_frames).rev() {
            let frame = &self.frames[level];
            let mut found: Vec<(&Entry, Lineage)> = Vec::new();
            let mut unknown: Vec<(&Entry, Lineage)> = Vec::new();
            let mut missing: Vec<Option<Lineage>> = Vec::new();
            for entry in &frame.entries {
                if matches!(&*entry.source, Source::Placeholder) {
                    placeholder = true;
                    continue;
                }
                match self.lookup(&entry.source, &folded, written) {
                    Lookup::Found(l) => found.push((entry, l)),
                    Lookup::Unknown(l) => unknown.push((entry, l)),
                    Lookup::Missing(l) => missing.push(l),
                }
            }
            if found.len() == 1 || (found.len() > 1 && frame.using.contains(&folded)) {
                return Some(found.swap_remove(0).1);
            }
            if found.len() > 1 {
                let names: Vec<String> = found.iter().map(|(e, _)| format!("`{}`", e.alias)).collect();
                let message = format!("column `{written}` is ambiguous: each of {} has it", names.join(", "));
                if !quiet {
                    self.note(message);
                }
                return None;
            }
            if level + 1 == n_frames {
                if frame.alias_mode == AliasMode::After
                    && let Some(lineage) = self.alias(&folded)
                {
                    return Some(lineage);
                }
                if let [Some(only)] = missing.as_slice()
                    && unknown.is_empty()
                {
                    fallback = Some(only.clone());
                }
            }
            if unknown.len() == 1 {
                return Some(unknown.swap_remove(0).1);
            }
            if unknown.len() > 1 {
                let names: Vec<String> = unknown.iter().map(|(e, _)| format!("`{}`", e.alias)).collect();
                let message = format!(
                    "column `{written}` is ambiguous: it may belong to any of {}, whose columns are unknown",
                    names.join(", ")
                );
                if !quiet {
                    self.note(message);
                }
                return None;
            }
        }
        // No relation in scope is known to have it. A single dataset whose schema lacks it
        // is taken to have it anyway: schemas sent by producers are often partial.
        if fallback.is_some() {
            return fallback;
        }
        if placeholder {
            return Some(Lineage::default());
        }
        if !quiet {
            self.note(format!("column `{written}` is not a column of any relation in scope"));
        }
        None
    }

    fn alias(&self, folded: &str) -> Option<Lineage> {
        let frame = self.frames.last()?;
        frame.aliases.get(folded).cloned()
    }

    // ---------------------------------------------------------------- expressions

    /// A clause's expression: every column it names is an INDIRECT use of `subtype` for
    /// every row.
    fn clause(&mut self, expr: &'a Expr, subtype: Subtype, dataset_wide: &mut BTreeSet<(Col, Subtype)>) {
        let saw_aggregate = self.saw_aggregate;
        let lineage = self.value(expr);
        self.saw_aggregate = saw_aggregate;
        dataset_wide.extend(lineage.as_indirect(subtype));
    }

    /// A value's lineage on its own.
    fn value(&mut self, expr: &'a Expr) -> Lineage {
        let mut lineage = Lineage::default();
        self.expr(expr, Ctx::IDENTITY, &mut lineage);
        lineage
    }

    /// A condition inside one value (`CASE WHEN`, a window's keys): INDIRECT uses of that
    /// value alone.
    fn condition(&mut self, expr: &'a Expr, subtype: Subtype, out: &mut Lineage) {
        let lineage = self.value(expr);
        out.indirect.extend(lineage.as_indirect(subtype));
    }

    fn expr(&mut self, expr: &'a Expr, ctx: Ctx, out: &mut Lineage) {
        if !self.enter() {
            return;
        }
        self.expr_inner(expr, ctx, out);
        self.leave();
    }

    fn expr_inner(&mut self, expr: &'a Expr, ctx: Ctx, out: &mut Lineage) {
        let inner = ctx.transformed();
        match expr {
            Expr::Identifier(ident) => self.column(std::slice::from_ref(ident), ctx, out),
            Expr::CompoundIdentifier(idents) => self.column(idents, ctx, out),
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.expr(root, inner, out);
                for access in access_chain {
                    match access {
                        // `.field` names a field, not a column.
                        AccessExpr::Dot(_) => {}
                        AccessExpr::Subscript(Subscript::Index { index }) => self.expr(index, inner, out),
                        AccessExpr::Subscript(Subscript::Slice { lower_bound, upper_bound, stride }) => {
                            for bound in [lower_bound, upper_bound, stride].into_iter().flatten() {
                                self.expr(bound, inner, out);
                            }
                        }
                    }
                }
            }
            Expr::JsonAccess { value, .. } => self.expr(value, inner, out),
            Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e)
            | Expr::UnaryOp { expr: e, .. }
            | Expr::Extract { expr: e, .. }
            | Expr::Ceil { expr: e, .. }
            | Expr::Floor { expr: e, .. }
            | Expr::Cast { expr: e, .. }
            | Expr::IsJson { expr: e, .. }
            | Expr::IsNormalized { expr: e, .. }
            | Expr::Prefixed { value: e, .. } => self.expr(e, inner, out),
            Expr::Nested(e)
            | Expr::Collate { expr: e, .. }
            | Expr::OuterJoin(e)
            | Expr::Prior(e)
            | Expr::Named { expr: e, .. } => self.expr(e, ctx, out),
            Expr::IsDistinctFrom(a, b)
            | Expr::IsNotDistinctFrom(a, b)
            | Expr::AnyOp { left: a, right: b, .. }
            | Expr::AllOp { left: a, right: b, .. }
            | Expr::AtTimeZone { timestamp: a, time_zone: b }
            | Expr::Position { expr: a, r#in: b }
            | Expr::RLike { expr: a, pattern: b, .. } => {
                self.expr(a, inner, out);
                self.expr(b, inner, out);
            }
            Expr::MemberOf(member) => {
                self.expr(&member.value, inner, out);
                self.expr(&member.array, inner, out);
            }
            Expr::Like { expr, pattern, escape_char, .. }
            | Expr::ILike { expr, pattern, escape_char, .. }
            | Expr::SimilarTo { expr, pattern, escape_char, .. } => {
                self.expr(expr, inner, out);
                self.expr(pattern, inner, out);
                if let Some(escape) = escape_char {
                    self.expr(escape, inner, out);
                }
            }
            Expr::BinaryOp { .. } => {
                // Chains (`a + b + c`, `x AND y AND z`) nest to the left as deep as they are
                // long: walk the left spine in a loop.
                let mut current = expr;
                while let Expr::BinaryOp { left, right, .. } = current {
                    self.expr(right, inner, out);
                    current = left;
                }
                self.expr(current, inner, out);
            }
            Expr::In { expr, target, .. } => {
                self.expr(expr, inner, out);
                match target {
                    InTarget::List(list) => list.iter().for_each(|e| self.expr(e, inner, out)),
                    InTarget::Subquery(query) => self.scalar_subquery(query, inner, out),
                    InTarget::Unnest(e) => self.expr(e, inner, out),
                    InTarget::Table { .. } => {}
                }
            }
            Expr::Between { expr, low, high, .. } => {
                for e in [expr, low, high] {
                    self.expr(e, inner, out);
                }
            }
            Expr::Convert { expr, styles, .. } => {
                self.expr(expr, inner, out);
                styles.iter().for_each(|e| self.expr(e, inner, out));
            }
            Expr::Substring { expr, substring_from, substring_for, .. } => {
                self.expr(expr, inner, out);
                for e in [substring_from, substring_for].into_iter().flatten() {
                    self.expr(e, inner, out);
                }
            }
            Expr::Trim { expr, trim_what, trim_characters, .. } => {
                self.expr(expr, inner, out);
                if let Some(what) = trim_what {
                    self.expr(what, inner, out);
                }
                trim_characters.iter().flatten().for_each(|e| self.expr(e, inner, out));
            }
            Expr::Overlay { expr, overlay_what, overlay_from, overlay_for } => {
                for e in [expr, overlay_what, overlay_from] {
                    self.expr(e, inner, out);
                }
                if let Some(e) = overlay_for {
                    self.expr(e, inner, out);
                }
            }
            Expr::Value(_) | Expr::TypedString(_) | Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => {}
            Expr::Function(function) => self.function(function, ctx, out),
            Expr::Case { operand, conditions, else_result, .. } => {
                if let Some(operand) = operand {
                    self.condition(operand, Subtype::Conditional, out);
                }
                for when in conditions {
                    self.condition(&when.condition, Subtype::Conditional, out);
                    self.expr(&when.result, inner, out);
                }
                if let Some(e) = else_result {
                    self.expr(e, inner, out);
                }
            }
            Expr::Exists { subquery, .. } => {
                // Its rows decide the value; its columns do not reach it.
                let query = self.subquery(subquery);
                out.indirect.extend(query.dataset_wide.iter().cloned());
                for column in &query.columns {
                    out.indirect.extend(column.lineage.as_indirect(Subtype::Conditional));
                }
            }
            Expr::Subquery(query) => self.scalar_subquery(query, ctx, out),
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                sets.iter().flatten().for_each(|e| self.expr(e, inner, out));
            }
            Expr::Tuple(exprs) => exprs.iter().for_each(|e| self.expr(e, inner, out)),
            Expr::Struct { values, .. } => values.iter().for_each(|e| self.expr(e, inner, out)),
            Expr::Dictionary(fields) => fields.iter().for_each(|f| self.expr(&f.value, inner, out)),
            Expr::Map(map) => {
                for entry in &map.entries {
                    self.expr(&entry.key, inner, out);
                    self.expr(&entry.value, inner, out);
                }
            }
            Expr::Array(array) => array.elem.iter().for_each(|e| self.expr(e, inner, out)),
            Expr::Interval(interval) => self.expr(&interval.value, inner, out),
            Expr::MatchAgainst { columns, .. } => {
                for column in columns {
                    let idents: Vec<Ident> = name_parts(column).into_iter().map(Ident::new).collect();
                    if let Some((lineage, _)) = self.resolve_column(&idents) {
                        out.add_through(&lineage, inner);
                    }
                }
            }
            Expr::Lambda(lambda) => {
                let n_before = self.lambdas.len();
                self.lambdas.extend(lambda.params.iter().map(|p| fold(&p.name.value)));
                self.expr(&lambda.body, inner, out);
                self.lambdas.truncate(n_before);
            }
        }
    }

    fn column(&mut self, idents: &[Ident], ctx: Ctx, out: &mut Lineage) {
        if let [ident] = idents
            && self.lambdas.contains(&fold(&ident.value))
        {
            return;
        }
        if !self.spend(1) {
            return;
        }
        if let Some((lineage, nested)) = self.resolve_column(idents)
            && self.spend(lineage.direct.len() + lineage.indirect.len())
        {
            out.add_through(&lineage, if nested { ctx.transformed() } else { ctx });
        }
    }

    /// `(SELECT …)` as a value: its first column through `ctx`; its filters and joins decide
    /// this value alone.
    fn scalar_subquery(&mut self, query: &'a Query, ctx: Ctx, out: &mut Lineage) {
        let query = self.subquery(query);
        if let Some(first) = query.columns.first() {
            out.add_through(&first.lineage, ctx);
        }
        out.indirect.extend(query.dataset_wide.iter().cloned());
    }

    fn function(&mut self, function: &'a Function, ctx: Ctx, out: &mut Lineage) {
        let name = fold(&last_part(&function.name));
        let aggregate = functions::is_aggregate(&name) || !function.within_group.is_empty();
        if aggregate && function.over.is_none() {
            self.saw_aggregate = true;
        }
        let args_ctx = Ctx {
            subtype: if aggregate { Subtype::Aggregation } else { ctx.subtype.max(Subtype::Transformation) },
            masking: ctx.masking || functions::is_masking(&name),
        };
        let conditions = functions::condition_arguments(&name);
        let date_parts = functions::takes_date_part(&name);
        for args in [&function.parameters, &function.args] {
            match args {
                FunctionArguments::None => {}
                FunctionArguments::Subquery(query) => self.scalar_subquery(query, args_ctx, out),
                FunctionArguments::List(list) => {
                    let args = list.args.iter().filter(|arg| !(date_parts && is_date_part_word(arg)));
                    let args: Vec<&'a FunctionArg> = args.collect();
                    self.function_args(&args, args_ctx, conditions, out);
                    for clause in &list.clauses {
                        match clause {
                            FunctionArgumentClause::OrderBy(orders) => {
                                orders.iter().for_each(|o| self.condition(&o.expr, Subtype::Sort, out))
                            }
                            FunctionArgumentClause::Where(e)
                            | FunctionArgumentClause::Having(sqlparser::ast::HavingBound(_, e)) => {
                                self.condition(e, Subtype::Filter, out)
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        if let Some(filter) = &function.filter {
            self.condition(filter, Subtype::Filter, out);
        }
        for order in &function.within_group {
            if functions::aggregates_within_group(&name) {
                self.expr(&order.expr, args_ctx, out);
            } else {
                self.condition(&order.expr, Subtype::Sort, out);
            }
        }
        match &function.over {
            Some(WindowType::WindowSpec(spec)) => self.window(spec, out, 0),
            Some(WindowType::NamedWindow(name)) => self.named_window(name, out, 0),
            None => {}
        }
    }

    fn function_args(
        &mut self,
        args: &[&'a FunctionArg],
        ctx: Ctx,
        conditions: Option<fn(usize, usize) -> bool>,
        out: &mut Lineage,
    ) {
        for (idx, arg) in args.iter().enumerate() {
            let arg = match *arg {
                FunctionArg::Named { arg, .. } | FunctionArg::ExprNamed { arg, .. } | FunctionArg::Unnamed(arg) => arg,
            };
            if let FunctionArgExpr::Expr(e) = arg {
                if conditions.is_some_and(|is_condition| is_condition(idx, args.len())) {
                    self.condition(e, Subtype::Conditional, out);
                } else {
                    self.expr(e, ctx, out);
                }
            }
        }
    }

    fn window(&mut self, spec: &'a WindowSpec, out: &mut Lineage, hops: usize) {
        for e in &spec.partition_by {
            self.condition(e, Subtype::Window, out);
        }
        for order in &spec.order_by {
            self.condition(&order.expr, Subtype::Window, out);
        }
        if let Some(base) = &spec.window_name {
            self.named_window(base, out, hops + 1);
        }
    }

    /// `OVER w` with `WINDOW w AS (…)` in the select.
    fn named_window(&mut self, name: &Ident, out: &mut Lineage, hops: usize) {
        let folded = fold(&name.value);
        let found =
            self.frames.iter().rev().find_map(|f| f.windows.iter().find(|(n, _)| *n == folded).map(|(_, w)| *w));
        match found {
            _ if hops > 16 => self.note(format!("window `{}` refers to itself", name.value)),
            Some(NamedWindowExpr::WindowSpec(spec)) => self.window(spec, out, hops),
            Some(NamedWindowExpr::NamedWindow(other)) => self.named_window(other, out, hops + 1),
            None => self.note(format!("window `{}` is not defined", name.value)),
        }
    }
}

/// A bare, unquoted date part word (`day` in `dateadd(day, 1, x)`).
fn is_date_part_word(arg: &FunctionArg) -> bool {
    match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(ident))) => {
            ident.quote_style.is_none() && functions::is_date_part(&fold(&ident.value))
        }
        _ => false,
    }
}

/// Adds or merges a column of a MERGE or UPDATE target.
fn add_column(columns: &mut Vec<OutColumn>, name: &str, lineage: Lineage) {
    let folded = fold(name);
    match columns.iter_mut().find(|c| c.folded == folded) {
        Some(column) => column.lineage.extend(&lineage),
        None => columns.push(OutColumn::new(name, lineage)),
    }
}

/// Adds a relation to a list of unexpanded `*`s, once (self-joins would otherwise double the
/// list at each level of a chain of CTEs).
fn add_open(open: &mut Vec<Rc<Source>>, source: &Rc<Source>) {
    let same = |other: &Rc<Source>| match (&**other, &**source) {
        (Source::Base(a), Source::Base(b)) => a == b,
        _ => Rc::ptr_eq(other, source),
    };
    if !open.iter().any(same) {
        open.push(Rc::clone(source));
    }
}

/// The datasets behind unexpanded `*`s.
fn open_bases(open: &[Rc<Source>]) -> BTreeSet<DatasetIdx> {
    let mut bases = BTreeSet::new();
    let mut stack: Vec<&Rc<Source>> = open.iter().collect();
    while let Some(source) = stack.pop() {
        match &**source {
            Source::Base(dataset) => {
                bases.insert(*dataset);
            }
            Source::Derived { query, .. } => stack.extend(&query.open),
            Source::Opaque { inner: Some(inner), .. } => stack.push(inner),
            Source::Opaque { .. } | Source::Placeholder => {}
        }
    }
    bases
}

/// `SELECT … INTO t`: the target's name.
fn select_into_target(query: &Query) -> Option<Vec<String>> {
    let SetExpr::Select(select) = &*query.body else { return None };
    let into = select.into.as_ref()?;
    match into.targets.first()? {
        Expr::Identifier(ident) => Some(vec![ident.value.clone()]),
        Expr::CompoundIdentifier(idents) => Some(idents.iter().map(|i| i.value.clone()).collect()),
        _ => None,
    }
}
