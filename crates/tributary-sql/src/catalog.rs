//! The job's datasets and the matching of the SQL's relation names to them.

use std::collections::HashMap;

use crate::Relation;

/// Index of a dataset in the [`Catalog`].
pub(crate) type DatasetIdx = usize;

pub(crate) struct Dataset {
    pub namespace: String,
    pub name: String,
    /// Lower-case dot-separated parts of the name.
    parts: Vec<String>,
    /// The schema's columns in order, when known.
    pub fields: Option<Vec<String>>,
    /// Lower-case column name → the schema's spelling (the first, if two differ only in case).
    by_folded: HashMap<String, String>,
}

impl Dataset {
    fn new(namespace: String, name: String, fields: Option<Vec<String>>) -> Self {
        let parts = name.split('.').map(fold).collect();
        let mut by_folded = HashMap::new();
        for field in fields.iter().flatten() {
            by_folded.entry(fold(field)).or_insert_with(|| field.clone());
        }
        Self { namespace, name, parts, fields, by_folded }
    }

    /// The schema's spelling of a column, if the schema is known and has it.
    pub fn field(&self, folded: &str) -> Option<&str> {
        self.by_folded.get(folded).map(String::as_str)
    }

    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    pub fn key(&self) -> (String, String) {
        (self.namespace.clone(), self.name.clone())
    }
}

/// Lower-case, for case-insensitive comparison of identifiers.
pub(crate) fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// Which datasets a name is looked up in first.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefer {
    /// A relation the statement reads: the job's inputs, then its outputs (a model reading
    /// its own target, like an incremental dbt model).
    Inputs,
    /// A statement's target: the job's outputs, then its inputs.
    Outputs,
}

pub(crate) struct Catalog {
    datasets: Vec<Dataset>,
    n_inputs: usize,
    n_known: usize,
    /// Resolved names (lower-case dotted SQL name, preference) → dataset, so that each name
    /// is matched and reported once.
    resolved: HashMap<(String, bool), DatasetIdx>,
    /// Names only the SQL knows (namespace `""`) → dataset.
    unknown: HashMap<String, DatasetIdx>,
}

impl Catalog {
    pub fn new(inputs: &[Relation], outputs: &[Relation]) -> Self {
        let datasets: Vec<Dataset> = inputs
            .iter()
            .chain(outputs)
            .map(|r| Dataset::new(r.namespace.clone(), r.name.clone(), r.fields.clone()))
            .collect();
        let n_known = datasets.len();
        Self { datasets, n_inputs: inputs.len(), n_known, resolved: HashMap::new(), unknown: HashMap::new() }
    }

    pub fn get(&self, idx: DatasetIdx) -> &Dataset {
        &self.datasets[idx]
    }

    /// Whether the dataset is one of the job's (not a name only the SQL knows).
    pub fn is_known(&self, idx: DatasetIdx) -> bool {
        idx < self.n_known
    }

    /// The single output dataset, when the job has exactly one.
    pub fn single_output(&self) -> Option<DatasetIdx> {
        (self.n_known - self.n_inputs == 1).then_some(self.n_inputs)
    }

    /// Matches a SQL name (its parts as written, unquoted) to a dataset: the one whose name
    /// equals it, else the one it is a dot-separated suffix of, else one that is a suffix of
    /// it (a producer naming `schema.table` for the SQL's `db.schema.table`), all
    /// case-insensitive. A name matching nothing, or several datasets equally well, becomes
    /// a dataset of its own with namespace `""`, and the note says why.
    pub fn resolve(&mut self, sql_parts: &[String], prefer: Prefer, note: &mut dyn FnMut(String)) -> DatasetIdx {
        let folded: Vec<String> = sql_parts.iter().map(|p| fold(p)).collect();
        let key = (folded.join("."), prefer == Prefer::Inputs);
        if let Some(&idx) = self.resolved.get(&key) {
            return idx;
        }
        let (first, second) = match prefer {
            Prefer::Inputs => (0..self.n_inputs, self.n_inputs..self.n_known),
            Prefer::Outputs => (self.n_inputs..self.n_known, 0..self.n_inputs),
        };
        let shown = sql_parts.join(".");
        let idx = match self.best_match(&folded, first).or_else(|| self.best_match(&folded, second)) {
            Some(Ok(idx)) => idx,
            Some(Err(candidates)) => {
                let names: Vec<String> = candidates
                    .iter()
                    .map(|&i| format!("`{} {}`", self.datasets[i].namespace, self.datasets[i].name))
                    .collect();
                note(format!(
                    "relation `{shown}` matches several datasets of the job ({}): kept by its sql name",
                    names.join(", ")
                ));
                self.unknown(shown)
            }
            None => {
                let what = if prefer == Prefer::Inputs { "input" } else { "output" };
                note(format!("relation `{shown}` matches no {what} dataset of the job: kept by its sql name"));
                self.unknown(shown)
            }
        };
        self.resolved.insert(key, idx);
        idx
    }

    /// Whether a SQL name matches one of the job's inputs (without noting anything).
    pub fn matches_input(&self, sql_parts: &[String]) -> bool {
        let folded: Vec<String> = sql_parts.iter().map(|p| fold(p)).collect();
        self.best_match(&folded, 0..self.n_inputs).is_some()
    }

    fn unknown(&mut self, name: String) -> DatasetIdx {
        if let Some(&idx) = self.unknown.get(&name) {
            return idx;
        }
        self.datasets.push(Dataset::new(String::new(), name.clone(), None));
        let idx = self.datasets.len() - 1;
        self.unknown.insert(name, idx);
        idx
    }

    /// `None`: no match; `Some(Err(candidates))`: several equally good matches.
    fn best_match(&self, sql: &[String], range: std::ops::Range<usize>) -> Option<Result<DatasetIdx, Vec<DatasetIdx>>> {
        let mut best: Option<(u8, Vec<DatasetIdx>)> = None;
        for idx in range {
            let parts = &self.datasets[idx].parts;
            let score = if parts.as_slice() == sql {
                3
            } else if parts.ends_with(sql) {
                2
            } else if sql.ends_with(parts) {
                1
            } else {
                continue;
            };
            match &mut best {
                Some((best_score, candidates)) if *best_score == score => {
                    // The same dataset listed twice is one match.
                    let key = self.datasets[idx].key();
                    if !candidates.iter().any(|&c| self.datasets[c].key() == key) {
                        candidates.push(idx);
                    }
                }
                Some((best_score, _)) if *best_score > score => {}
                _ => best = Some((score, vec![idx])),
            }
        }
        best.map(|(_, candidates)| if candidates.len() == 1 { Ok(candidates[0]) } else { Err(candidates) })
    }
}
