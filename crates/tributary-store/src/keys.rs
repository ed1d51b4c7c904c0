//! Key encodings. See the table in the crate documentation.

use tributary_model::{DatasetId, JobId, NodeKind, NodeRef, ObservationKey, RunId, Timestamp};

pub(crate) const PREFIX_EVENT: u8 = b'E';
pub(crate) const PREFIX_HASH: u8 = b'H';
pub(crate) const PREFIX_DATASET: u8 = b'D';
pub(crate) const PREFIX_JOB: u8 = b'J';
pub(crate) const PREFIX_RUN: u8 = b'R';
pub(crate) const PREFIX_OBSERVATION: u8 = b'O';
pub(crate) const PREFIX_SCHEMA: u8 = b'S';
pub(crate) const PREFIX_ALIAS: u8 = b'A';
pub(crate) const PREFIX_JOB_RUN: u8 = b'r';
pub(crate) const PREFIX_DATASET_RUN: u8 = b'w';
pub(crate) const PREFIX_COLUMN_LINEAGE: u8 = b'L';
pub(crate) const PREFIX_PRODUCT: u8 = b'P';
pub(crate) const PREFIX_PRODUCT_VERSION: u8 = b'p';
pub(crate) const PREFIX_DOMAIN: u8 = b'G';
pub(crate) const PREFIX_DOMAIN_VERSION: u8 = b'g';
pub(crate) const PREFIX_OWNER: u8 = b'o';
pub(crate) const PREFIX_TAG: u8 = b't';
pub(crate) const PREFIX_COLUMN_TAG: u8 = b'c';
pub(crate) const PREFIX_SCHEMA_CHANGE: u8 = b'C';
/// Schema changes seen in ingested events, waiting to be recorded under `C`.
pub(crate) const PREFIX_SEEN_SCHEMA_CHANGE: u8 = b'W';
pub(crate) const PREFIX_DATASET_FACET: u8 = b'F';
pub(crate) const PREFIX_GRAPH_DATASET: u8 = b'N';
pub(crate) const PREFIX_GRAPH_JOB: u8 = b'I';
pub(crate) const PREFIX_TOKEN: u8 = b'K';
pub(crate) const PREFIX_AUDIT: u8 = b'U';
/// How far each consumed log partition is applied: topic, NUL, partition -> next offset.
pub(crate) const PREFIX_SOURCE_OFFSET: u8 = b'Q';
/// Consumed records that were not events: topic, NUL, partition, offset -> rejection.
pub(crate) const PREFIX_SOURCE_REJECTION: u8 = b'X';

/// Meta keys live under `M`.
pub(crate) const META_FORMAT: &[u8] = b"Mformat";
pub(crate) const META_SEQUENCE: &[u8] = b"Msequence";
/// Present once the graph keyspace (`N`, `I`) holds every dataset and job.
pub(crate) const META_GRAPH_KEYS: &[u8] = b"Mgraph";
/// When the disk last took a probe write (after a failed flush, before writes resume).
pub(crate) const META_PROBE: &[u8] = b"Mprobe";
/// The key that makes redacted ids (stable per store, never shown).
pub(crate) const META_REDACTION_KEY: &[u8] = b"Mredaction";
/// The store's size on disk (u64) right after its last online compaction: the baseline an
/// automatic compaction measures growth against.
pub(crate) const META_COMPACTED: &[u8] = b"Mcompacted";
/// Written and removed again at start-up ([`crate::Store::stabilize_recovered_log`]); held
/// only between the two, or after a crash between them (harmless, removed at the next start).
pub(crate) const META_SCRATCH: &[u8] = b"Mscratch";

pub(crate) const CODEC_RAW: u8 = 0;
pub(crate) const CODEC_LZ4: u8 = 1;
/// A record in the binary layout of `codec` (datasets, jobs, runs, observations, job io).
pub(crate) const CODEC_BINARY: u8 = 2;
/// A facet value held by a stored event: its sequence, and the value's offset and length in
/// that event's canonical JSON (`F` only, store format 3).
pub(crate) const CODEC_EVENT_SPAN: u8 = 3;
/// An event compressed with zstd and one of the store's dictionaries: the dictionary's id
/// (u32, big-endian), then one zstd frame (`E` only, store format 4; see `dictionary`).
pub(crate) const CODEC_ZSTD_DICT: u8 = 4;
/// A schema version whose `fields` lie in the event that first showed it (`S` only, store
/// format 4): the record's format, first and last seen (i64 each), then a reference as under
/// `F` (codec 3, sequence, offset, length); the hash is the key's last part.
pub(crate) const CODEC_SCHEMA_SPAN: u8 = 5;

pub(crate) fn read_u64(bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; 8];
    let take = bytes.len().min(8);
    buffer[..take].copy_from_slice(&bytes[..take]);
    u64::from_be_bytes(buffer)
}

pub(crate) fn event_key(sequence: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = PREFIX_EVENT;
    key[1..].copy_from_slice(&sequence.to_be_bytes());
    key
}

pub(crate) fn hash_key(hash: u128) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = PREFIX_HASH;
    key[1..].copy_from_slice(&hash.to_be_bytes());
    key
}

pub(crate) fn run_key(id: &RunId) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = PREFIX_RUN;
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// prefix, namespace, NUL, name.
pub(crate) fn name_key(prefix: u8, namespace: &str, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + namespace.len() + name.len());
    key.push(prefix);
    key.extend_from_slice(namespace.as_bytes());
    key.push(0);
    key.extend_from_slice(name.as_bytes());
    key
}

/// [`name_key`] followed by NUL: the prefix of everything filed under one name.
pub(crate) fn name_prefix(prefix: u8, namespace: &str, name: &str) -> Vec<u8> {
    let mut key = name_key(prefix, namespace, name);
    key.push(0);
    key
}

pub(crate) fn observation_key(job: &JobId, observation: &ObservationKey) -> Vec<u8> {
    let mut key = name_prefix(PREFIX_OBSERVATION, &job.namespace, &job.name);
    key.extend_from_slice(&observation.to_bytes());
    key
}

pub(crate) fn timeline_key(prefix: u8, namespace: &str, name: &str, time: Timestamp, run: &RunId) -> Vec<u8> {
    let mut key = name_prefix(prefix, namespace, name);
    key.extend_from_slice(&time.sortable_bytes());
    key.extend_from_slice(run.as_bytes());
    key
}

pub(crate) fn split_name(bytes: &[u8]) -> Option<(String, String)> {
    let separator = bytes.iter().position(|&b| b == 0)?;
    let namespace = std::str::from_utf8(&bytes[..separator]).ok()?;
    let name = std::str::from_utf8(&bytes[separator + 1..]).ok()?;
    Some((namespace.to_owned(), name.to_owned()))
}

/// Reads a `D`/`J`/`A` key back into a dataset id.
pub fn decode_name_key(key: &[u8]) -> Option<DatasetId> {
    let (namespace, name) = split_name(key.get(1..)?)?;
    Some(DatasetId::new(namespace, name))
}

pub(crate) fn kind_byte(kind: NodeKind) -> u8 {
    match kind {
        NodeKind::Dataset => b'D',
        NodeKind::Job => b'J',
    }
}

/// `prefix label NUL kind ns NUL name`: nodes filed under an owner or a tag.
pub(crate) fn label_key(prefix: u8, label: &str, node: &NodeRef) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(label.as_bytes());
    key.push(0);
    key.push(kind_byte(node.kind));
    key.extend_from_slice(node.namespace.as_bytes());
    key.push(0);
    key.extend_from_slice(node.name.as_bytes());
    key
}

/// The value of an owner index entry: the role its facet gives the owner. `0` for none, `1`
/// and the role's text for one. Entries written before roles were kept have an empty value.
pub(crate) fn owner_value(role: Option<&str>) -> Vec<u8> {
    match role {
        None => vec![0],
        Some(role) => {
            let mut value = Vec::with_capacity(1 + role.len());
            value.push(1);
            value.extend_from_slice(role.as_bytes());
            value
        }
    }
}

/// The role an owner index entry records: `Some(role)`, or `None` for an entry that records
/// none (written before roles were kept).
#[allow(clippy::option_option)]
pub(crate) fn decode_owner_value(value: &[u8]) -> Result<Option<Option<String>>, &'static str> {
    match value.split_first() {
        None => Ok(None),
        Some((0, [])) => Ok(Some(None)),
        Some((1, role)) => std::str::from_utf8(role)
            .map(|role| Some(Some(role.to_owned())))
            .map_err(|_| "an owner's role is not UTF-8"),
        Some(_) => Err("an owner index value is neither empty, 0, nor 1 and a role"),
    }
}

pub(crate) fn column_tag_key(tag: &str, dataset: &DatasetId, field: &str) -> Vec<u8> {
    let mut key = vec![PREFIX_COLUMN_TAG];
    key.extend_from_slice(tag.to_lowercase().as_bytes());
    key.push(0);
    key.extend_from_slice(dataset.namespace.as_bytes());
    key.push(0);
    key.extend_from_slice(dataset.name.as_bytes());
    key.push(0);
    key.extend_from_slice(field.as_bytes());
    key
}

pub(crate) fn decode_label_key(key: &[u8], prefix_len: usize) -> Option<NodeRef> {
    let rest = key.get(prefix_len..)?;
    let (&kind, rest) = rest.split_first()?;
    let kind = match kind {
        b'D' => NodeKind::Dataset,
        b'J' => NodeKind::Job,
        _ => return None,
    };
    let (namespace, name) = split_name(rest)?;
    Some(NodeRef { kind, namespace, name })
}

/// `F ns NUL name NUL facet-key`: one stored facet value of a dataset.
pub(crate) fn facet_key(id: &DatasetId, key: &str) -> Vec<u8> {
    let mut bytes = name_prefix(PREFIX_DATASET_FACET, &id.namespace, &id.name);
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

pub(crate) fn token_key(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(PREFIX_TOKEN);
    key.extend_from_slice(id.as_bytes());
    key
}

/// `U` + time (sortable) + kind code + id: newest-first scans by time, kind read from the key.
pub(crate) fn audit_key(at: Timestamp, kind: u8, id: u64) -> [u8; 18] {
    let mut key = [0u8; 18];
    key[0] = PREFIX_AUDIT;
    key[1..9].copy_from_slice(&at.sortable_bytes());
    key[9] = kind;
    key[10..].copy_from_slice(&id.to_be_bytes());
    key
}

/// A seen schema change's key: `W`, the event's sequence, the dataset's name (in the order
/// the events were stored).
pub(crate) fn seen_schema_change_key(sequence: u64, dataset: &DatasetId) -> Vec<u8> {
    let mut key = Vec::with_capacity(10 + dataset.namespace.len() + dataset.name.len());
    key.push(PREFIX_SEEN_SCHEMA_CHANGE);
    key.extend_from_slice(&sequence.to_be_bytes());
    key.extend_from_slice(dataset.namespace.as_bytes());
    key.push(0);
    key.extend_from_slice(dataset.name.as_bytes());
    key
}
