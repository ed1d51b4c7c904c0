//! Column lineage derived from a job's own SQL: given the text of an OpenLineage `sql` job
//! facet (with its `dialect`) and the job's input datasets with their known schemas,
//! [`derive()`] parses the statements with `sqlparser` and says, for each output, which input
//! columns feed which output column and how, in the terms of the OpenLineage column lineage
//! facet: DIRECT (IDENTITY, TRANSFORMATION, AGGREGATION) and INDIRECT (JOIN, FILTER,
//! GROUP_BY, SORT, WINDOW, CONDITIONAL) uses, hashing and masking functions marked.
//!
//! It resolves CTEs (recursive ones without their self-reference), subqueries in `FROM` and in
//! expressions, table and column aliases, qualified and unqualified column names, `SELECT *`
//! and `t.*` against the known schemas, set operations by position, `INSERT` (with or without
//! a column list), `CREATE TABLE AS`, `CREATE VIEW AS`, `MERGE` and `UPDATE` (best effort) and
//! several statements in one text. The SQL's relation names are matched to the job's datasets
//! by their dot-separated suffix, case-insensitively (`orders` and `public.orders` both match
//! dbt-ol's `analytics.public.orders`). An unqualified column belongs to the one relation in
//! scope known to have it, else to the one whose columns are unknown; a column missing from
//! the only relation's schema is still taken from it (producers' schemas are often partial).
//! Anything else (two candidates, no candidate, a relation matching no dataset) is named in
//! [`Derived::unresolved`] with the reason, never guessed. Inputs whose column order reaches
//! an output (a `*` expanded into the output, a set operation over `*`, the target of an
//! `INSERT` without a column list) are named in [`Derived::positional_reads`]; a `*` in a CTE
//! whose columns are then picked by name is not positional.
//!
//! Where INDIRECT uses go: a use in a clause (`JOIN … ON`/`USING`, `WHERE`, `HAVING`,
//! `QUALIFY`, `GROUP BY`, `ORDER BY`) changes which rows every column has, so it is
//! dataset-wide ([`DerivedOutput::dataset_wide`], the facet's `dataset` list); a use inside
//! one column's expression (a `CASE`/`IF` condition, a window's `PARTITION BY`/`ORDER BY`,
//! an aggregate's `FILTER`, the filters of a scalar subquery) affects only that column and is
//! an edge of that column ([`DerivedOutput::edges`] with [`Kind::Indirect`]).
//!
//! Bounded work: the text is limited to [`MAX_SQL_BYTES`], a pre-scan of the tokens refuses
//! expressions longer than [`MAX_EXPRESSION_TOKENS`] and chains of more than
//! [`MAX_SET_OPERATIONS`] set operations (the parser builds such chains into trees too deep to
//! walk or drop safely), and the analysis stops descending past a fixed depth, expanding past
//! a fixed width and copying past a fixed amount of lineage (each noted in `unresolved`).
//! Time is linear in the text for practical statements.
//!
//! Pure functions over values: no IO, no async, and no dependency on the other Tributary
//! crates (the service maps the results onto its own column lineage records).

mod analyze;
mod catalog;
mod functions;
mod parse;

#[cfg(test)]
mod tests;

pub use parse::{MAX_EXPRESSION_TOKENS, MAX_SET_OPERATIONS, MAX_SQL_BYTES, SqlError, dialect_name};

/// A dataset the job reads (or writes), with its columns when a `schema` facet gave them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Relation {
    pub namespace: String,
    pub name: String,
    /// The dataset's columns in order, or `None` when its schema is unknown. Used to expand
    /// `SELECT *`, to pick the table an unqualified column belongs to, to name the columns
    /// of an `INSERT` without a column list, and to spell field names as the schema does.
    pub fields: Option<Vec<String>>,
}

impl Relation {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, fields: Option<Vec<String>>) -> Self {
        Self { namespace: namespace.into(), name: name.into(), fields }
    }
}

/// DIRECT: the input's value is carried into the output column; INDIRECT: the input
/// influences the output without being carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Direct,
    Indirect,
}

impl Kind {
    /// The facet's spelling: `DIRECT` or `INDIRECT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "DIRECT",
            Self::Indirect => "INDIRECT",
        }
    }
}

/// The facet's transformation subtypes. The first three are DIRECT, the others INDIRECT; the
/// order is from the weakest change of the value to the strongest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subtype {
    /// The value as is.
    Identity,
    /// A function of values of the same row (casts, arithmetic, `CASE` results, …).
    Transformation,
    /// A function of values of several rows (`sum`, `count`, `array_agg`, …).
    Aggregation,
    /// A join condition (`ON`, `USING`, `NATURAL`, `MERGE … ON`).
    Join,
    /// A row filter (`WHERE`, `HAVING`, `QUALIFY`, an aggregate's `FILTER`, `INTERSECT`/`EXCEPT`).
    Filter,
    /// A grouping key (`GROUP BY`, `DISTINCT ON`).
    GroupBy,
    /// An ordering (`ORDER BY`, an aggregate's `ORDER BY`/`WITHIN GROUP`).
    Sort,
    /// A window's `PARTITION BY` or `ORDER BY`.
    Window,
    /// A condition choosing the value (`CASE`, `IF`, `NULLIF`, `DECODE`).
    Conditional,
}

impl Subtype {
    /// The facet's spelling: `IDENTITY`, `GROUP_BY`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "IDENTITY",
            Self::Transformation => "TRANSFORMATION",
            Self::Aggregation => "AGGREGATION",
            Self::Join => "JOIN",
            Self::Filter => "FILTER",
            Self::GroupBy => "GROUP_BY",
            Self::Sort => "SORT",
            Self::Window => "WINDOW",
            Self::Conditional => "CONDITIONAL",
        }
    }

    /// The kind this subtype belongs to.
    pub fn kind(self) -> Kind {
        match self {
            Self::Identity | Self::Transformation | Self::Aggregation => Kind::Direct,
            _ => Kind::Indirect,
        }
    }
}

/// An input column used by one output column.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DerivedEdge {
    /// The output column, spelled as the output's schema spells it when known, else as the SQL does.
    pub output_field: String,
    /// The input dataset as (namespace, name); namespace `""` when the SQL's relation matched
    /// no dataset of the job (then the name is the SQL's, and `unresolved` says so).
    pub input: (String, String),
    pub input_field: String,
    /// Always `subtype.kind()`.
    pub kind: Kind,
    pub subtype: Subtype,
    /// The value passes through a hashing or masking function (`md5`, `sha2`, `hash`,
    /// `mask…`) or a `count` on every path from this input to this output.
    pub masking: bool,
}

/// An input column used in a way that affects every column of the output (INDIRECT: join
/// keys, filters, grouping and sort keys). The facet lists these in its `dataset` list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatasetEdge {
    pub input: (String, String),
    pub input_field: String,
    /// One of the INDIRECT subtypes.
    pub subtype: Subtype,
}

/// The lineage of one statement that produces rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DerivedOutput {
    /// The target as (namespace, name) when the statement names one (`INSERT`, `CREATE TABLE
    /// AS`, `CREATE VIEW`, `MERGE`, `UPDATE`, `SELECT … INTO`); `None` for a bare `SELECT`,
    /// whose rows are the job's single output. Namespace `""` when the target matched no
    /// dataset of the job.
    pub output: Option<(String, String)>,
    /// The output's columns in order; empty when a `*` over an unknown schema hides them.
    pub columns: Vec<String>,
    /// Per output column, in column order: DIRECT uses, and INDIRECT uses that belong to that
    /// column's expression alone.
    pub edges: Vec<DerivedEdge>,
    /// INDIRECT uses that affect every output column.
    pub dataset_wide: Vec<DatasetEdge>,
}

/// Why an input's column order matters to the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PositionalReason {
    /// A `*` over it reaches an output: an added or reordered column changes the output.
    Star,
    /// Its `*` feeds a `UNION`/`INTERSECT`/`EXCEPT`, which matches columns by position.
    SetOperation,
    /// It is the target of an `INSERT` without a column list: the query's columns go into
    /// its columns by position (this names an output, not an input).
    InsertWithoutColumns,
}

impl PositionalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Star => "STAR",
            Self::SetOperation => "SET_OPERATION",
            Self::InsertWithoutColumns => "INSERT_WITHOUT_COLUMNS",
        }
    }
}

/// A dataset the job reads or writes by column position.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PositionalRead {
    pub dataset: (String, String),
    pub reason: PositionalReason,
}

/// What [`derive()`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Derived {
    /// The dialect that parsed the text (the requested one, or a fallback after it failed).
    pub dialect: &'static str,
    /// One entry per statement that produces rows, in statement order.
    pub outputs: Vec<DerivedOutput>,
    /// Sorted, without duplicates.
    pub positional_reads: Vec<PositionalRead>,
    /// Names and columns that could not be resolved, each with the reason, in the order met.
    pub unresolved: Vec<String>,
}

/// Derives column lineage from `sql`.
///
/// `dialect` is the `sql` facet's `dialect` (`postgres`, `snowflake`, `bigquery`, `spark`,
/// …; unknown or absent: a generic dialect, see [`dialect_name`]); when the text does not
/// parse in it, a couple of permissive dialects are tried before giving up with the first
/// error. `inputs` are the job's input datasets; `outputs` its outputs (for the targets'
/// namespaces and schemas; may be empty).
///
/// Errors only when the text cannot be parsed at all; everything else that cannot be
/// resolved is reported in [`Derived::unresolved`].
pub fn derive(
    sql: &str,
    dialect: Option<&str>,
    inputs: &[Relation],
    outputs: &[Relation],
) -> Result<Derived, SqlError> {
    let (dialect, statements) = parse::parse(sql, dialect)?;
    let mut derived = analyze::analyze(&statements, inputs, outputs);
    derived.dialect = dialect;
    Ok(derived)
}
