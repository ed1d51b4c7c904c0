//! The audit trail: who wrote what. Every accepted write (an event stored, a descriptor
//! version applied, a token created or revoked, an online compaction of the store) and every
//! refused apply is one [`AuditRecord`], attributed to the [`Actor`] that made the request.

use serde::{Deserialize, Serialize};

use crate::{RECORD_FORMAT, Timestamp};

/// Who made a request, as recorded: the token's id and name, or how the server let the
/// caller in without one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// How the caller was admitted.
    pub via: ActorKind,
    /// The token's id (16 hex digits) when `via` is `Token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The token's name, or a description (`anonymous`, `local operator`).
    pub name: String,
}

/// How a caller was admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActorKind {
    /// A bearer token.
    Token,
    /// No token, on a server running without authentication.
    Open,
    /// A command working on the store directly (`tributary import`, `token create --data-dir`):
    /// whoever can read the data directory; also the server acting on its configuration (an
    /// automatic compaction).
    Local,
    /// A record consumed from a log the server reads (a Kafka topic): whoever may produce to
    /// it, as the broker's ACLs decide.
    Source,
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditKind {
    EventStored,
    DescriptorApplied,
    ApplyRejected,
    TokenCreated,
    TokenRevoked,
    /// An online compaction of the store ended (finished or failed), attributed to whoever
    /// started it.
    StoreCompacted,
}

impl AuditKind {
    /// One byte in the audit key, so a scan by kind reads only keys.
    pub fn code(self) -> u8 {
        match self {
            Self::EventStored => b'e',
            Self::DescriptorApplied => b'a',
            Self::ApplyRejected => b'x',
            Self::TokenCreated => b'c',
            Self::TokenRevoked => b'v',
            Self::StoreCompacted => b'k',
        }
    }

    pub const ALL: [Self; 6] = [
        Self::EventStored,
        Self::DescriptorApplied,
        Self::ApplyRejected,
        Self::TokenCreated,
        Self::TokenRevoked,
        Self::StoreCompacted,
    ];

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// The name on the wire: `EVENT_STORED`, `DESCRIPTOR_APPLIED`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventStored => "EVENT_STORED",
            Self::DescriptorApplied => "DESCRIPTOR_APPLIED",
            Self::ApplyRejected => "APPLY_REJECTED",
            Self::TokenCreated => "TOKEN_CREATED",
            Self::TokenRevoked => "TOKEN_REVOKED",
            Self::StoreCompacted => "STORE_COMPACTED",
        }
    }

    /// Reads [`Self::as_str`]'s names, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub format: u8,
    /// When the server accepted (or refused) the request.
    pub at: Timestamp,
    pub actor: Actor,
    pub kind: AuditKind,
    /// What it was about: `event 42 (job etl/build_orders)`, `product sales.orders v3`,
    /// `token 0123456789abcdef (airflow-prod)`.
    pub subject: String,
    /// The event's sequence, for `EVENT_STORED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The descriptor version, for `DESCRIPTOR_APPLIED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Why an apply was refused, one line per reason; the scopes of a created token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl AuditRecord {
    pub fn new(at: Timestamp, actor: Actor, kind: AuditKind, subject: impl Into<String>) -> Self {
        Self {
            format: RECORD_FORMAT,
            at,
            actor,
            kind,
            subject: subject.into(),
            sequence: None,
            version: None,
            details: Vec::new(),
        }
    }
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "TOKEN",
            Self::Open => "OPEN",
            Self::Local => "LOCAL",
            Self::Source => "SOURCE",
        }
    }
}

impl Actor {
    pub fn local() -> Self {
        Self { via: ActorKind::Local, token_id: None, name: "local operator".to_owned() }
    }

    pub fn open() -> Self {
        Self { via: ActorKind::Open, token_id: None, name: "anonymous".to_owned() }
    }

    /// A record consumed from `topic`: `kafka topic lineage-events`.
    pub fn source(topic: &str) -> Self {
        Self { via: ActorKind::Source, token_id: None, name: format!("kafka topic {topic}") }
    }

    /// `token 0123456789abcdef (airflow-prod)`, `anonymous (open server)`, `local operator`.
    pub fn describe(&self) -> String {
        match (&self.via, &self.token_id) {
            (ActorKind::Token, Some(id)) => format!("token {id} ({})", self.name),
            (ActorKind::Open, _) => format!("{} (open server)", self.name),
            _ => self.name.clone(),
        }
    }
}
