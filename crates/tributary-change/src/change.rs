//! Change kinds and their scores from the three sides of BREAKING_CHANGES.md.
//!
//! The verdicts live in one table, [`ChangeKind::scores`], so every way of building a
//! [`Change`] (the diff, or the server's own dataset-level constructors) scores it alike.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The verdict type is the model's: schema-change records keep it too.
pub use tributary_model::Verdict;

/// What changed. Each kind maps to one row of the table (see [`ChangeKind::rule`]); nested
/// removals, renames, retypes and additions report rows 12 and 13 instead of 1–3, 7–9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeKind {
    ColumnRemoved,
    ColumnRenamed,
    NullableColumnAdded,
    /// Added, and the new schema does not say whether it is nullable: scored as rule 3 for
    /// readers, with an unsupported nullability check naming it.
    ColumnAdded,
    RequiredColumnAdded,
    NullabilityRelaxed,
    NullabilityTightened,
    TypeWidened,
    TypeNarrowed,
    TypeChanged,
    EnumValueRemoved,
    EnumValueAdded,
    ColumnsReordered,
    PrimaryKeyRemoved,
    UniqueRemoved,
    PrimaryKeyAdded,
    UniqueAdded,
    ForeignKeyRemoved,
    ForeignKeyAdded,
    ConstraintLoosened,
    /// A pattern replaced by another: it may admit new values and reject old ones.
    ConstraintChanged,
    ConstraintTightened,
    DefaultChanged,
    PartitionKeyChanged,
    DescriptionChanged,
    TagsChanged,
    ClassificationRemoved,
    DatasetRemoved,
    DatasetRenamed,
    ContractEnforcementRemoved,
    ContractDeprecated,
    /// Not in the table; scored like the writer side of rule 24: output that breaks the
    /// contract now fails the build.
    ContractEnforcementAdded,
    /// Rule 25 cannot be seen in a schema; the server raises it when the SQL producing a
    /// column changes while its type does not.
    ProducingSqlChanged,
}

/// The scores of one change kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scores {
    pub rule: u8,
    pub readers: Verdict,
    pub history: Verdict,
    pub writers: Verdict,
    pub verdict: Verdict,
    pub positional_risk: bool,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 33] = [
        ChangeKind::ColumnRemoved,
        ChangeKind::ColumnRenamed,
        ChangeKind::NullableColumnAdded,
        ChangeKind::ColumnAdded,
        ChangeKind::RequiredColumnAdded,
        ChangeKind::NullabilityRelaxed,
        ChangeKind::NullabilityTightened,
        ChangeKind::TypeWidened,
        ChangeKind::TypeNarrowed,
        ChangeKind::TypeChanged,
        ChangeKind::EnumValueRemoved,
        ChangeKind::EnumValueAdded,
        ChangeKind::ColumnsReordered,
        ChangeKind::PrimaryKeyRemoved,
        ChangeKind::UniqueRemoved,
        ChangeKind::PrimaryKeyAdded,
        ChangeKind::UniqueAdded,
        ChangeKind::ForeignKeyRemoved,
        ChangeKind::ForeignKeyAdded,
        ChangeKind::ConstraintLoosened,
        ChangeKind::ConstraintChanged,
        ChangeKind::ConstraintTightened,
        ChangeKind::DefaultChanged,
        ChangeKind::PartitionKeyChanged,
        ChangeKind::DescriptionChanged,
        ChangeKind::TagsChanged,
        ChangeKind::ClassificationRemoved,
        ChangeKind::DatasetRemoved,
        ChangeKind::DatasetRenamed,
        ChangeKind::ContractEnforcementRemoved,
        ChangeKind::ContractDeprecated,
        ChangeKind::ContractEnforcementAdded,
        ChangeKind::ProducingSqlChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::ColumnRemoved => "COLUMN_REMOVED",
            ChangeKind::ColumnRenamed => "COLUMN_RENAMED",
            ChangeKind::NullableColumnAdded => "NULLABLE_COLUMN_ADDED",
            ChangeKind::ColumnAdded => "COLUMN_ADDED",
            ChangeKind::RequiredColumnAdded => "REQUIRED_COLUMN_ADDED",
            ChangeKind::NullabilityRelaxed => "NULLABILITY_RELAXED",
            ChangeKind::NullabilityTightened => "NULLABILITY_TIGHTENED",
            ChangeKind::TypeWidened => "TYPE_WIDENED",
            ChangeKind::TypeNarrowed => "TYPE_NARROWED",
            ChangeKind::TypeChanged => "TYPE_CHANGED",
            ChangeKind::EnumValueRemoved => "ENUM_VALUE_REMOVED",
            ChangeKind::EnumValueAdded => "ENUM_VALUE_ADDED",
            ChangeKind::ColumnsReordered => "COLUMNS_REORDERED",
            ChangeKind::PrimaryKeyRemoved => "PRIMARY_KEY_REMOVED",
            ChangeKind::UniqueRemoved => "UNIQUE_REMOVED",
            ChangeKind::PrimaryKeyAdded => "PRIMARY_KEY_ADDED",
            ChangeKind::UniqueAdded => "UNIQUE_ADDED",
            ChangeKind::ForeignKeyRemoved => "FOREIGN_KEY_REMOVED",
            ChangeKind::ForeignKeyAdded => "FOREIGN_KEY_ADDED",
            ChangeKind::ConstraintLoosened => "CONSTRAINT_LOOSENED",
            ChangeKind::ConstraintChanged => "CONSTRAINT_CHANGED",
            ChangeKind::ConstraintTightened => "CONSTRAINT_TIGHTENED",
            ChangeKind::DefaultChanged => "DEFAULT_CHANGED",
            ChangeKind::PartitionKeyChanged => "PARTITION_KEY_CHANGED",
            ChangeKind::DescriptionChanged => "DESCRIPTION_CHANGED",
            ChangeKind::TagsChanged => "TAGS_CHANGED",
            ChangeKind::ClassificationRemoved => "CLASSIFICATION_REMOVED",
            ChangeKind::DatasetRemoved => "DATASET_REMOVED",
            ChangeKind::DatasetRenamed => "DATASET_RENAMED",
            ChangeKind::ContractEnforcementRemoved => "CONTRACT_ENFORCEMENT_REMOVED",
            ChangeKind::ContractDeprecated => "CONTRACT_DEPRECATED",
            ChangeKind::ContractEnforcementAdded => "CONTRACT_ENFORCEMENT_ADDED",
            ChangeKind::ProducingSqlChanged => "PRODUCING_SQL_CHANGED",
        }
    }

    /// The row of the table in BREAKING_CHANGES.md for a top-level change of this kind.
    pub fn rule(self) -> u8 {
        self.scores().rule
    }

    /// Readers (R), history (B) and writers (W), the overall verdict of the table, and whether
    /// positional readers (`SELECT *`, `UNION ALL`, CSV) make it RISKY.
    ///
    /// The overall verdict is the table's last column, not the maximum of the three sides:
    /// PRODUCER-SIDE says the readers are safe and writers or history are not.
    pub fn scores(self) -> Scores {
        use Verdict::{Breaking as X, ProducerSide as P, Risky as R, Safe as S};
        let (rule, readers, history, writers, verdict, positional_risk) = match self {
            ChangeKind::ColumnRemoved => (1, X, S, S, X, false),
            // History breaks: old data carries the old name.
            ChangeKind::ColumnRenamed => (2, X, X, S, X, false),
            ChangeKind::NullableColumnAdded | ChangeKind::ColumnAdded => (3, S, S, S, S, true),
            ChangeKind::RequiredColumnAdded => (4, S, X, X, P, true),
            ChangeKind::NullabilityRelaxed => (5, X, S, S, X, false),
            ChangeKind::NullabilityTightened => (6, S, X, X, P, false),
            ChangeKind::TypeWidened => (7, R, S, S, R, false),
            ChangeKind::TypeNarrowed => (8, X, X, X, X, false),
            ChangeKind::TypeChanged => (9, X, X, X, X, false),
            // "RISKY + PRODUCER-SIDE": risky for readers, and the writers' side breaks.
            ChangeKind::EnumValueRemoved => (10, R, X, X, R, false),
            ChangeKind::EnumValueAdded => (11, R, S, S, R, false),
            // Positional writers (INSERT without a column list) break too.
            ChangeKind::ColumnsReordered => (14, S, S, R, S, true),
            ChangeKind::PrimaryKeyRemoved | ChangeKind::UniqueRemoved => (15, X, S, S, X, false),
            ChangeKind::PrimaryKeyAdded | ChangeKind::UniqueAdded => (16, S, R, R, P, false),
            ChangeKind::ForeignKeyRemoved => (17, R, S, S, R, false),
            ChangeKind::ForeignKeyAdded => (17, S, R, X, P, false),
            ChangeKind::ConstraintLoosened => (18, R, S, S, R, false),
            ChangeKind::ConstraintChanged => (18, R, R, R, R, false),
            ChangeKind::ConstraintTightened => (19, S, X, X, P, false),
            ChangeKind::DefaultChanged => (20, R, R, R, R, false),
            ChangeKind::PartitionKeyChanged => (21, X, S, X, X, false),
            ChangeKind::DescriptionChanged | ChangeKind::TagsChanged | ChangeKind::ClassificationRemoved => {
                (22, S, S, S, S, false)
            }
            ChangeKind::DatasetRemoved | ChangeKind::DatasetRenamed => (23, X, X, X, X, false),
            ChangeKind::ContractEnforcementRemoved | ChangeKind::ContractDeprecated => (24, X, S, S, X, false),
            ChangeKind::ContractEnforcementAdded => (24, S, S, X, P, false),
            ChangeKind::ProducingSqlChanged => (25, R, S, S, R, false),
        };
        Scores { rule, readers, history, writers, verdict, positional_risk }
    }

    /// Row 12 or 13 when the change is to a nested field, else the kind's own row.
    fn rule_at_depth(self, nested: bool) -> u8 {
        match self {
            ChangeKind::ColumnRemoved
            | ChangeKind::ColumnRenamed
            | ChangeKind::TypeWidened
            | ChangeKind::TypeNarrowed
            | ChangeKind::TypeChanged
                if nested =>
            {
                12
            }
            ChangeKind::NullableColumnAdded | ChangeKind::ColumnAdded | ChangeKind::RequiredColumnAdded if nested => 13,
            _ => self.rule(),
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between two schemas, scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Dotted field path (`address.zip`); empty for dataset-level changes.
    pub path: String,
    pub kind: ChangeKind,
    /// Row of the table in BREAKING_CHANGES.md.
    pub rule: u8,
    pub before: Option<String>,
    pub after: Option<String>,
    /// R: consumers that keep their code and read new data.
    pub readers: Verdict,
    /// B: upgraded readers re-reading old data.
    pub history: Verdict,
    /// W: jobs writing the dataset and rows already there; reported to upstream lineage.
    pub writers: Verdict,
    pub verdict: Verdict,
    /// The verdict becomes RISKY when positional readers exist.
    pub positional_risk: bool,
    /// One human sentence.
    pub summary: String,
}

impl Change {
    /// A change scored from the table; `nested` picks rows 12 and 13 for field changes.
    pub fn new(
        kind: ChangeKind,
        path: impl Into<String>,
        nested: bool,
        before: Option<String>,
        after: Option<String>,
        summary: impl Into<String>,
    ) -> Change {
        let scores = kind.scores();
        Change {
            path: path.into(),
            kind,
            rule: kind.rule_at_depth(nested),
            before,
            after,
            readers: scores.readers,
            history: scores.history,
            writers: scores.writers,
            verdict: scores.verdict,
            positional_risk: scores.positional_risk,
            summary: summary.into(),
        }
    }

    /// The verdict once the presence of positional readers is known.
    pub fn verdict_with_positional_readers(&self, positional_readers: bool) -> Verdict {
        if positional_readers && self.positional_risk { self.verdict.max(Verdict::Risky) } else { self.verdict }
    }
}

/// Rule 23: the dataset is gone. The server knows this, not a schema diff.
pub fn dataset_removed(dataset: &str) -> Change {
    Change::new(
        ChangeKind::DatasetRemoved,
        "",
        false,
        Some(dataset.to_owned()),
        None,
        format!("Dataset `{dataset}` was removed; every consumer and every replay breaks."),
    )
}

/// Rule 23: the dataset now lives under another name.
pub fn dataset_renamed(old_name: &str, new_name: &str) -> Change {
    Change::new(
        ChangeKind::DatasetRenamed,
        "",
        false,
        Some(old_name.to_owned()),
        Some(new_name.to_owned()),
        format!("Dataset `{old_name}` was renamed to `{new_name}`; consumers that read the old name break."),
    )
}

/// Rule 25: the SQL producing a column changed while its type did not, so its meaning
/// (units, time zone, grain) may have changed silently.
pub fn producing_sql_changed(path: &str) -> Change {
    Change::new(
        ChangeKind::ProducingSqlChanged,
        path,
        false,
        None,
        None,
        format!(
            "The SQL producing `{path}` changed while its type did not; its meaning (units, time zone, grain) may have changed."
        ),
    )
}

/// A check the two schemas do not carry enough to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnsupportedCheck {
    /// `types`, `nullability`, `nested fields`, `enum values`, `constraints`, `defaults`,
    /// `keys`, `partitioning` or `contract`.
    pub check: String,
    /// What is missing, in words: "neither schema says whether columns are nullable".
    pub reason: String,
}

/// Everything [`crate::diff`] found, and what it could not check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaDiff {
    pub changes: Vec<Change>,
    pub unsupported: Vec<UnsupportedCheck>,
}

impl SchemaDiff {
    /// The worst overall verdict, `Safe` when nothing changed.
    pub fn verdict(&self) -> Verdict {
        self.changes.iter().map(|change| change.verdict).max().unwrap_or(Verdict::Safe)
    }

    /// The worst verdict for each side: readers, history, writers.
    pub fn worst_by_side(&self) -> (Verdict, Verdict, Verdict) {
        self.changes.iter().fold((Verdict::Safe, Verdict::Safe, Verdict::Safe), |(r, b, w), change| {
            (r.max(change.readers), b.max(change.history), w.max(change.writers))
        })
    }
}
