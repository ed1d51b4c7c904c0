use std::fmt;

/// A dataset, identified by its OpenLineage namespace and name.
///
/// Invariant: neither part is empty nor contains a NUL byte (the store uses NUL as a
/// separator in keys); `tributary-openlineage` rejects events that break this.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct DatasetId {
    pub namespace: String,
    pub name: String,
}

/// A job, identified by its OpenLineage namespace and name. Same invariants as [`DatasetId`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct JobId {
    pub namespace: String,
    pub name: String,
}

impl DatasetId {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), name: name.into() }
    }
}

impl JobId {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

/// A run, identified by its UUID. Stored and shown in lowercase hyphenated form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub uuid::Uuid);

impl RunId {
    pub fn parse(text: &str) -> Result<Self, uuid::Error> {
        uuid::Uuid::try_parse(text).map(RunId)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl serde::Serialize for RunId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RunId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        RunId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether a lineage node is a dataset or a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum NodeKind {
    Dataset,
    Job,
}

/// A reference to a dataset or a job.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct NodeRef {
    pub kind: NodeKind,
    pub namespace: String,
    pub name: String,
}

impl From<&DatasetId> for NodeRef {
    fn from(id: &DatasetId) -> Self {
        NodeRef { kind: NodeKind::Dataset, namespace: id.namespace.clone(), name: id.name.clone() }
    }
}

impl From<&JobId> for NodeRef {
    fn from(id: &JobId) -> Self {
        NodeRef { kind: NodeKind::Job, namespace: id.namespace.clone(), name: id.name.clone() }
    }
}
