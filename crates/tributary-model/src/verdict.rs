//! How bad a schema change is, per `BREAKING_CHANGES.md`: the verdict the change check gives
//! and schema-change records keep (stored as its name, `SAFE` … `BREAKING`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a change is for one side. Ordered by severity, so the worst of several is `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "SAFE")]
    Safe,
    /// Safe for readers; breaks writers or history. Only used as an overall verdict.
    #[serde(rename = "PRODUCER-SIDE")]
    ProducerSide,
    /// Breaks a subset of consumers that can be named.
    #[serde(rename = "RISKY")]
    Risky,
    /// Fails or silently changes results.
    #[serde(rename = "BREAKING")]
    Breaking,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [Verdict::Safe, Verdict::ProducerSide, Verdict::Risky, Verdict::Breaking];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "SAFE",
            Verdict::ProducerSide => "PRODUCER-SIDE",
            Verdict::Risky => "RISKY",
            Verdict::Breaking => "BREAKING",
        }
    }

    /// Reads a verdict name (`BREAKING`, `RISKY`, `PRODUCER-SIDE`, `SAFE`), in any case, `_`
    /// standing for `-`.
    pub fn parse(text: &str) -> Option<Verdict> {
        let text = text.trim().replace('_', "-");
        Verdict::ALL.into_iter().find(|verdict| verdict.as_str().eq_ignore_ascii_case(&text))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
