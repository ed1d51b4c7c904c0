use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// An instant with microsecond precision, stored as microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Timestamp(pub i64);

#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not an ISO-8601 date-time")]
pub struct TimestampError {
    pub text: String,
}

impl Timestamp {
    /// Parses an OpenLineage `eventTime`: RFC 3339 with an offset, or (leniently, as the
    /// Python client's serde examples do) a date-time without offset, taken as UTC.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
            return Ok(Self(with_offset.with_timezone(&Utc).timestamp_micros()));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
                return Ok(Self(naive.and_utc().timestamp_micros()));
            }
        }
        Err(TimestampError { text: text.to_owned() })
    }

    pub fn now() -> Self {
        Self(Utc::now().timestamp_micros())
    }

    /// RFC 3339 in UTC, e.g. `2024-05-01T10:00:00.123456Z`.
    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_micros(self.0)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .unwrap_or_else(|| self.0.to_string())
    }

    /// Big-endian bytes that sort like the timestamps (sign bit flipped).
    pub fn sortable_bytes(self) -> [u8; 8] {
        ((self.0 as u64) ^ (1 << 63)).to_be_bytes()
    }
}
