//! Events consumed from an external log (Kafka topics): where each came from, how far each
//! partition has been consumed, and the records that were not events.
//!
//! A consumed record is applied exactly once: its [`SourcePosition`] is written in the same
//! atomic batch as the event's records (or as its [`SourceRejection`]), and consumption
//! resumes after the stored position.

use serde::{Deserialize, Serialize};

use crate::{RECORD_FORMAT, Timestamp};

/// One record of a partitioned log: the topic, the partition and the record's offset in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourcePosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl SourcePosition {
    /// The partition's consumed offset once this record is applied (Kafka's convention: the
    /// next offset to read).
    pub fn next(&self) -> PartitionOffset {
        PartitionOffset { topic: self.topic.clone(), partition: self.partition, offset: self.offset + 1 }
    }
}

impl std::fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}@{}", self.topic, self.partition, self.offset)
    }
}

/// How far a partition is consumed: every record below `offset` is applied or rejected (the
/// next offset to read, as Kafka commits it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A consumed record that is not a valid event: kept (without its value) so that it can be
/// found and resent; the partition goes on past it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRejection {
    pub format: u8,
    pub position: SourcePosition,
    /// When it was consumed.
    pub at: Timestamp,
    /// The record's key, as text (lossy for binary keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The field path the problem is at (empty for the whole record).
    pub field: String,
    pub reason: String,
    /// The value's size in bytes.
    pub bytes: u64,
}

impl SourceRejection {
    pub fn new(
        position: SourcePosition,
        at: Timestamp,
        key: Option<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
        bytes: u64,
    ) -> Self {
        Self { format: RECORD_FORMAT, position, at, key, field: field.into(), reason: reason.into(), bytes }
    }
}

impl crate::Versioned for SourceRejection {
    fn format(&self) -> u8 {
        self.format
    }
}
