//! The binary encoding of the records the writer rewrites on most events: datasets (`D`),
//! jobs (`J`), runs (`R`), observations (`O`) and the jobs' current inputs and outputs (`I`);
//! and of column lineage (`L`), the largest derived record, with a table of its strings, and
//! audit entries (`U`, one per stored event).
//!
//! Every event loads, changes and rewrites a few of these; as JSON behind lz4 they cost more
//! of the writer's time than anything else (serialising, compressing, decompressing, parsing,
//! allocating) and repeat their key inside the value. Here they are a codec byte
//! ([`CODEC_BINARY`]), the record's `format`, then their fields in a fixed order: integers
//! little-endian, lengths and counts as LEB128 varints, strings as length + UTF-8, ids that
//! the key already holds left out. Facet values (arbitrary JSON) stay JSON inside, length
//! first.
//!
//! A reader refuses a `format` newer than [`RECORD_FORMAT`] with the record's key before
//! reading further (a newer build wrote it); JSON records of earlier builds (codec 0 or 1,
//! or bare) still read through the JSON path. Encoding is deterministic, so `verify` can
//! compare stored bytes with a rebuild's.

use std::collections::{BTreeMap, BTreeSet};

use tributary_model::{
    Actor, ActorKind, AuditKind, AuditRecord, ColumnEdgeSpec, DatasetId, DatasetRecord, EdgeSource, FacetEntry,
    FacetStamp, Facets, JobId, JobRecord, Observation, ObservationKey, ObservationSource, RECORD_FORMAT, RunId,
    RunRecord, RunState, Timestamp, Transformation, TransformationKind, Version,
};

use crate::keys::{CODEC_BINARY, split_name};

/// What went wrong reading a binary record (the caller adds the key).
pub(crate) enum DecodeError {
    /// Written by a newer build.
    Newer(u8),
    /// Truncated or otherwise not this layout.
    Corrupt(String),
}

pub(crate) type Decoded<T> = Result<T, DecodeError>;

fn corrupt<T>(what: &str) -> Decoded<T> {
    Err(DecodeError::Corrupt(format!("binary record: {what}")))
}

/// Appends fields to a record's bytes.
struct Out(Vec<u8>);

impl Out {
    fn new(format: u8, capacity: usize) -> Self {
        let mut bytes = Vec::with_capacity(capacity);
        bytes.push(CODEC_BINARY);
        bytes.push(format);
        Self(bytes)
    }

    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn time(&mut self, value: Timestamp) {
        self.0.extend_from_slice(&value.0.to_le_bytes());
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn str(&mut self, text: &str) {
        self.varint(text.len() as u64);
        self.0.extend_from_slice(text.as_bytes());
    }

    fn name(&mut self, namespace: &str, name: &str) {
        self.str(namespace);
        self.str(name);
    }

    fn datasets(&mut self, ids: &[DatasetId]) {
        self.varint(ids.len() as u64);
        for id in ids {
            self.name(&id.namespace, &id.name);
        }
    }

    fn option_str(&mut self, value: Option<&str>) {
        match value {
            Some(text) => {
                self.u8(1);
                self.str(text);
            }
            None => self.u8(0),
        }
    }

    fn option_varint(&mut self, value: Option<u64>) {
        match value {
            Some(number) => {
                self.u8(1);
                self.varint(number);
            }
            None => self.u8(0),
        }
    }

    fn option_time(&mut self, value: Option<Timestamp>) {
        match value {
            Some(time) => {
                self.u8(1);
                self.time(time);
            }
            None => self.u8(0),
        }
    }

    fn version(&mut self, version: Version) {
        self.time(version.time);
        self.u64(version.hash);
    }

    fn observation_key(&mut self, key: &ObservationKey) {
        self.0.extend_from_slice(&key.to_bytes());
    }

    /// A content hash kept as 32 hex digits (schema hashes) in 16 bytes; anything else as a
    /// string (never written by this build, but a record may carry one from elsewhere).
    fn hex_hash(&mut self, hash: &str) {
        match parse_hex_128(hash) {
            Some(value) => {
                self.u8(1);
                self.0.extend_from_slice(&value.to_be_bytes());
            }
            None => {
                self.u8(2);
                self.str(hash);
            }
        }
    }

    fn json(&mut self, value: &serde_json::Value) {
        // Serialising a `Value` into a Vec cannot fail (keys are strings).
        let json = serde_json::to_vec(value).unwrap_or_default();
        self.varint(json.len() as u64);
        self.0.extend_from_slice(&json);
    }

    fn facets(&mut self, facets: &Facets) {
        self.varint(facets.len() as u64);
        for (key, entry) in facets {
            self.str(key);
            self.version(entry.version);
            match &entry.value {
                Some(value) => {
                    self.u8(1);
                    self.json(value);
                }
                None => self.u8(0),
            }
        }
    }
}

fn parse_hex_128(text: &str) -> Option<u128> {
    // Only the canonical form (32 lower-case digits) round-trips through the bytes.
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    u128::from_str_radix(text, 16).ok()
}

/// Reads fields back in the order [`Out`] wrote them.
struct In<'a> {
    bytes: &'a [u8],
}

impl<'a> In<'a> {
    /// Checks the codec byte and the format; returns the format and the fields.
    fn open(bytes: &'a [u8]) -> Decoded<(u8, Self)> {
        match bytes {
            [CODEC_BINARY, format, rest @ ..] => {
                if *format > RECORD_FORMAT {
                    return Err(DecodeError::Newer(*format));
                }
                Ok((*format, Self { bytes: rest }))
            }
            _ => corrupt("no binary codec byte"),
        }
    }

    fn take(&mut self, n: usize) -> Decoded<&'a [u8]> {
        if self.bytes.len() < n {
            return corrupt("truncated");
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Decoded<u8> {
        Ok(self.take(1)?[0])
    }

    fn flag(&mut self) -> Decoded<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => corrupt("bad flag"),
        }
    }

    fn u64(&mut self) -> Decoded<u64> {
        let bytes = self.take(8)?;
        let mut buffer = [0u8; 8];
        buffer.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(buffer))
    }

    fn time(&mut self) -> Decoded<Timestamp> {
        Ok(Timestamp(self.u64()? as i64))
    }

    fn varint(&mut self) -> Decoded<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        corrupt("varint too long")
    }

    /// A count of items that each take at least one byte: bounded by what is left, so a
    /// damaged count cannot make a reader reserve memory for nothing.
    fn count(&mut self) -> Decoded<usize> {
        let count = self.varint()?;
        if count > self.bytes.len() as u64 {
            return corrupt("count beyond the record");
        }
        Ok(count as usize)
    }

    fn str(&mut self) -> Decoded<String> {
        let length = self.count()?;
        match std::str::from_utf8(self.take(length)?) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => corrupt("string is not UTF-8"),
        }
    }

    fn dataset(&mut self) -> Decoded<DatasetId> {
        Ok(DatasetId { namespace: self.str()?, name: self.str()? })
    }

    fn job(&mut self) -> Decoded<JobId> {
        Ok(JobId { namespace: self.str()?, name: self.str()? })
    }

    fn datasets(&mut self) -> Decoded<Vec<DatasetId>> {
        let count = self.count()?;
        (0..count).map(|_| self.dataset()).collect()
    }

    fn option_str(&mut self) -> Decoded<Option<String>> {
        if self.flag()? { self.str().map(Some) } else { Ok(None) }
    }

    fn option_varint(&mut self) -> Decoded<Option<u64>> {
        if self.flag()? { self.varint().map(Some) } else { Ok(None) }
    }

    fn option_time(&mut self) -> Decoded<Option<Timestamp>> {
        Ok(if self.flag()? { Some(self.time()?) } else { None })
    }

    fn version(&mut self) -> Decoded<Version> {
        Ok(Version { time: self.time()?, hash: self.u64()? })
    }

    fn run_id(&mut self) -> Decoded<RunId> {
        let bytes = self.take(16)?;
        let mut buffer = [0u8; 16];
        buffer.copy_from_slice(bytes);
        Ok(RunId(uuid::Uuid::from_bytes(buffer)))
    }

    fn observation_key(&mut self) -> Decoded<ObservationKey> {
        let bytes = self.take(26)?;
        let settled = match bytes[0] {
            0 => false,
            1 => true,
            _ => return corrupt("bad observation key"),
        };
        let mut time = [0u8; 8];
        time.copy_from_slice(&bytes[1..9]);
        let source = match bytes[9] {
            0 => {
                let mut id = [0u8; 16];
                id.copy_from_slice(&bytes[10..26]);
                ObservationSource::Run(RunId(uuid::Uuid::from_bytes(id)))
            }
            1 => {
                let mut hash = [0u8; 8];
                hash.copy_from_slice(&bytes[10..18]);
                ObservationSource::JobEvent(u64::from_be_bytes(hash))
            }
            _ => return corrupt("bad observation source"),
        };
        // `Timestamp::sortable_bytes` flips the sign bit.
        let time = Timestamp((u64::from_be_bytes(time) ^ (1 << 63)) as i64);
        Ok(ObservationKey { settled, time, source })
    }

    fn hex_hash(&mut self) -> Decoded<String> {
        match self.u8()? {
            1 => {
                let bytes = self.take(16)?;
                let mut buffer = [0u8; 16];
                buffer.copy_from_slice(bytes);
                Ok(format!("{:032x}", u128::from_be_bytes(buffer)))
            }
            2 => self.str(),
            _ => corrupt("bad hash tag"),
        }
    }

    fn json(&mut self) -> Decoded<serde_json::Value> {
        let length = self.count()?;
        let bytes = self.take(length)?;
        serde_json::from_slice(bytes).or_else(|error| corrupt(&format!("facet value: {error}")))
    }

    fn facets(&mut self) -> Decoded<Facets> {
        let count = self.count()?;
        let mut facets = Facets::new();
        for _ in 0..count {
            let key = self.str()?;
            let version = self.version()?;
            let value = if self.flag()? { Some(self.json()?) } else { None };
            facets.insert(key, FacetEntry { version, value });
        }
        Ok(facets)
    }

    fn end(self) -> Decoded<()> {
        if self.bytes.is_empty() { Ok(()) } else { corrupt("trailing bytes") }
    }
}

/// The name a `D` or `J` key holds after its prefix.
fn key_name(key: &[u8]) -> Decoded<(String, String)> {
    match split_name(key.get(1..).unwrap_or_default()) {
        Some(name) => Ok(name),
        None => corrupt("key is not namespace NUL name"),
    }
}

pub(crate) fn encode_dataset(record: &DatasetRecord) -> Vec<u8> {
    let mut out = Out::new(record.format, 64 + record.facets.len() * 48);
    out.time(record.first_seen);
    out.time(record.last_seen);
    match &record.current_schema {
        Some(hash) => out.hex_hash(hash),
        None => out.u8(0),
    }
    out.option_time(record.schema_last_seen);
    out.varint(record.facets.len() as u64);
    for (key, stamp) in &record.facets {
        out.str(key);
        out.version(stamp.version);
        match stamp.hash {
            Some(hash) => {
                out.u8(1);
                out.u64(hash);
            }
            None => out.u8(0),
        }
    }
    out.varint(record.aliases.len() as u64);
    for alias in &record.aliases {
        out.name(&alias.namespace, &alias.name);
    }
    out.0
}

pub(crate) fn decode_dataset(key: &[u8], bytes: &[u8]) -> Decoded<DatasetRecord> {
    let (format, mut input) = In::open(bytes)?;
    let (namespace, name) = key_name(key)?;
    let first_seen = input.time()?;
    let last_seen = input.time()?;
    let current_schema = match input.bytes.first() {
        Some(0) => {
            input.u8()?;
            None
        }
        _ => Some(input.hex_hash()?),
    };
    let schema_last_seen = input.option_time()?;
    let count = input.count()?;
    let mut facets = BTreeMap::new();
    for _ in 0..count {
        let key = input.str()?;
        let version = input.version()?;
        let hash = if input.flag()? { Some(input.u64()?) } else { None };
        facets.insert(key, FacetStamp { version, hash });
    }
    let count = input.count()?;
    let mut aliases = BTreeSet::new();
    for _ in 0..count {
        aliases.insert(input.dataset()?);
    }
    input.end()?;
    Ok(DatasetRecord {
        format,
        id: DatasetId { namespace, name },
        facets,
        first_seen,
        last_seen,
        current_schema,
        schema_last_seen,
        aliases,
    })
}

pub(crate) fn encode_job(record: &JobRecord) -> Vec<u8> {
    let mut out = Out::new(record.format, 128);
    out.facets(&record.facets);
    out.time(record.first_seen);
    out.time(record.last_seen);
    match &record.current {
        Some(key) => {
            out.u8(1);
            out.observation_key(key);
        }
        None => out.u8(0),
    }
    out.datasets(&record.inputs);
    out.datasets(&record.outputs);
    match &record.sql_error {
        Some(error) => {
            out.u8(1);
            out.str(error);
        }
        None => out.u8(0),
    }
    out.0
}

pub(crate) fn decode_job(key: &[u8], bytes: &[u8]) -> Decoded<JobRecord> {
    let (format, mut input) = In::open(bytes)?;
    let (namespace, name) = key_name(key)?;
    let facets = input.facets()?;
    let first_seen = input.time()?;
    let last_seen = input.time()?;
    let current = if input.flag()? { Some(input.observation_key()?) } else { None };
    let inputs = input.datasets()?;
    let outputs = input.datasets()?;
    let sql_error = if input.flag()? { Some(input.str()?) } else { None };
    input.end()?;
    Ok(JobRecord {
        format,
        id: JobId { namespace, name },
        facets,
        first_seen,
        last_seen,
        current,
        inputs,
        outputs,
        sql_error,
    })
}

fn state_byte(state: RunState) -> u8 {
    match state {
        RunState::Unknown => 0,
        RunState::Start => 1,
        RunState::Running => 2,
        RunState::Complete => 3,
        RunState::Abort => 4,
        RunState::Fail => 5,
        RunState::Other => 6,
    }
}

fn state_of_byte(byte: u8) -> Decoded<RunState> {
    Ok(match byte {
        0 => RunState::Unknown,
        1 => RunState::Start,
        2 => RunState::Running,
        3 => RunState::Complete,
        4 => RunState::Abort,
        5 => RunState::Fail,
        6 => RunState::Other,
        _ => return corrupt("bad run state"),
    })
}

fn encode_uses(out: &mut Out, uses: &BTreeMap<DatasetId, Facets>) {
    out.varint(uses.len() as u64);
    for (id, facets) in uses {
        out.name(&id.namespace, &id.name);
        out.facets(facets);
    }
}

fn decode_uses(input: &mut In<'_>) -> Decoded<BTreeMap<DatasetId, Facets>> {
    let count = input.count()?;
    let mut uses = BTreeMap::new();
    for _ in 0..count {
        let id = input.dataset()?;
        uses.insert(id, input.facets()?);
    }
    Ok(uses)
}

pub(crate) fn encode_run(record: &RunRecord) -> Vec<u8> {
    let mut out = Out::new(record.format, 160);
    out.name(&record.job.namespace, &record.job.name);
    out.version(record.job_version);
    out.u8(state_byte(record.state));
    out.u8(u8::from(record.state_rank.0));
    out.version(record.state_rank.1);
    out.option_time(record.started_at);
    out.option_time(record.ended_at);
    out.time(record.first_time);
    out.time(record.last_time);
    out.facets(&record.facets);
    encode_uses(&mut out, &record.inputs);
    encode_uses(&mut out, &record.outputs);
    match &record.parent {
        Some((run, job)) => {
            out.u8(1);
            out.0.extend_from_slice(run.as_bytes());
            out.name(&job.namespace, &job.name);
        }
        None => out.u8(0),
    }
    // Ascending sequences, as deltas.
    out.varint(record.events.len() as u64);
    let mut previous = 0u64;
    for &sequence in &record.events {
        out.varint(sequence.wrapping_sub(previous));
        previous = sequence;
    }
    out.0
}

pub(crate) fn decode_run(key: &[u8], bytes: &[u8]) -> Decoded<RunRecord> {
    let (format, mut input) = In::open(bytes)?;
    let id = match key.get(1..17) {
        Some(id) if key.len() == 17 => {
            let mut buffer = [0u8; 16];
            buffer.copy_from_slice(id);
            RunId(uuid::Uuid::from_bytes(buffer))
        }
        _ => return corrupt("run key is not 16 bytes"),
    };
    let job = input.job()?;
    let job_version = input.version()?;
    let state = state_of_byte(input.u8()?)?;
    let state_rank = (input.flag()?, input.version()?);
    let started_at = input.option_time()?;
    let ended_at = input.option_time()?;
    let first_time = input.time()?;
    let last_time = input.time()?;
    let facets = input.facets()?;
    let inputs = decode_uses(&mut input)?;
    let outputs = decode_uses(&mut input)?;
    let parent = if input.flag()? { Some((input.run_id()?, input.job()?)) } else { None };
    let count = input.count()?;
    let mut events = Vec::with_capacity(count);
    let mut previous = 0u64;
    for _ in 0..count {
        previous = previous.wrapping_add(input.varint()?);
        events.push(previous);
    }
    input.end()?;
    Ok(RunRecord {
        format,
        id,
        job,
        job_version,
        state,
        state_rank,
        started_at,
        ended_at,
        first_time,
        last_time,
        facets,
        inputs,
        outputs,
        parent,
        events,
    })
}

/// The observation key is in the `O` key too; it is kept in the value so the value reads
/// on its own.
pub(crate) fn encode_observation(observation: &Observation) -> Vec<u8> {
    let mut out = Out::new(observation.format, 64);
    out.observation_key(&observation.key);
    out.datasets(&observation.inputs);
    out.datasets(&observation.outputs);
    out.0
}

pub(crate) fn decode_observation(bytes: &[u8]) -> Decoded<Observation> {
    let (format, mut input) = In::open(bytes)?;
    let key = input.observation_key()?;
    let inputs = input.datasets()?;
    let outputs = input.datasets()?;
    input.end()?;
    Ok(Observation { format, key, inputs, outputs })
}

/// A job's current inputs and outputs (`I`), read at start-up for the graph.
pub(crate) fn encode_job_io(inputs: &[DatasetId], outputs: &[DatasetId]) -> Vec<u8> {
    let mut out = Out::new(RECORD_FORMAT, 16 + (inputs.len() + outputs.len()) * 48);
    out.datasets(inputs);
    out.datasets(outputs);
    out.0
}

pub(crate) fn decode_job_io(bytes: &[u8]) -> Decoded<(Vec<DatasetId>, Vec<DatasetId>)> {
    let (_, mut input) = In::open(bytes)?;
    let inputs = input.datasets()?;
    let outputs = input.datasets()?;
    input.end()?;
    Ok((inputs, outputs))
}

/// A record's distinct strings, numbered in order of first use (found by `hashbrown`'s fast
/// default hasher: a column lineage record looks up several strings per edge).
#[derive(Default)]
struct Strings<'a> {
    table: Vec<&'a str>,
    index: hashbrown::HashMap<&'a str, u64>,
}

impl<'a> Strings<'a> {
    fn intern(&mut self, text: &'a str) -> u64 {
        *self.index.entry(text).or_insert_with(|| {
            self.table.push(text);
            self.table.len() as u64 - 1
        })
    }
}

/// Column lineage into one output (`L`): every distinct string once (namespaces, names,
/// fields, subtypes, descriptions), then the edges as indices into that table. The JSON it
/// replaces repeated each input's namespace, name and the field keys on every edge.
pub(crate) fn encode_column_lineage(edges: &[ColumnEdgeSpec]) -> Vec<u8> {
    let mut strings = Strings::default();
    let mut intern = |text| strings.intern(text);
    let mut body = Out(Vec::with_capacity(edges.len() * 8));
    body.varint(edges.len() as u64);
    for edge in edges {
        body.varint(intern(&edge.input.namespace));
        body.varint(intern(&edge.input.name));
        body.varint(intern(&edge.input_field));
        body.varint(intern(&edge.output_field));
        body.u8(match edge.source {
            EdgeSource::Reported => 0,
            EdgeSource::ReportedKindsFromSql => 1,
            EdgeSource::DerivedFromSql => 2,
        });
        body.varint(edge.transformations.len() as u64);
        for transformation in &edge.transformations {
            body.u8(match transformation.kind {
                TransformationKind::Direct => 0,
                TransformationKind::Indirect => 1,
            });
            body.varint(intern(&transformation.subtype));
            body.u8(u8::from(transformation.masking));
            match &transformation.description {
                Some(description) => {
                    body.u8(1);
                    body.varint(intern(description));
                }
                None => body.u8(0),
            }
        }
    }
    let table = strings.table;
    let size: usize = table.iter().map(|text| text.len() + 2).sum();
    let mut out = Out::new(RECORD_FORMAT, 8 + size + body.0.len());
    out.varint(table.len() as u64);
    for text in &table {
        out.str(text);
    }
    out.0.extend_from_slice(&body.0);
    // The strings (fields named alike: `customer_id`, `customer_name`, …) compress well.
    let mut packed = Vec::with_capacity(out.0.len() / 2 + 8);
    packed.extend_from_slice(&out.0[..2]);
    packed.extend_from_slice(&lz4_flex::compress_prepend_size(&out.0[2..]));
    packed
}

pub(crate) fn decode_column_lineage(bytes: &[u8]) -> Decoded<Vec<ColumnEdgeSpec>> {
    let (_, packed) = In::open(bytes)?;
    let Ok(unpacked) = lz4_flex::decompress_size_prepended(packed.bytes) else {
        return corrupt("column lineage does not decompress");
    };
    let mut input = In { bytes: &unpacked };
    let strings = input.count()?;
    let mut table = Vec::with_capacity(strings);
    for _ in 0..strings {
        table.push(input.str()?);
    }
    let string = |input: &mut In<'_>| -> Decoded<String> {
        let at = input.varint()?;
        match usize::try_from(at).ok().and_then(|at| table.get(at)) {
            Some(text) => Ok(text.clone()),
            None => corrupt("string index beyond the table"),
        }
    };
    let count = input.count()?;
    let mut edges = Vec::with_capacity(count);
    for _ in 0..count {
        let input_id = DatasetId { namespace: string(&mut input)?, name: string(&mut input)? };
        let input_field = string(&mut input)?;
        let output_field = string(&mut input)?;
        let source = match input.u8()? {
            0 => EdgeSource::Reported,
            1 => EdgeSource::ReportedKindsFromSql,
            2 => EdgeSource::DerivedFromSql,
            _ => return corrupt("unknown edge source"),
        };
        let transformations_count = input.count()?;
        let mut transformations = Vec::with_capacity(transformations_count);
        for _ in 0..transformations_count {
            let kind = match input.u8()? {
                0 => TransformationKind::Direct,
                1 => TransformationKind::Indirect,
                _ => return corrupt("unknown transformation kind"),
            };
            let subtype = string(&mut input)?;
            let masking = input.flag()?;
            let description = if input.flag()? { Some(string(&mut input)?) } else { None };
            transformations.push(Transformation { kind, subtype, masking, description });
        }
        edges.push(ColumnEdgeSpec { input: input_id, input_field, output_field, transformations, source });
    }
    input.end()?;
    Ok(edges)
}

/// An audit entry (`U`): one per stored event, so kept small; the key holds its time, kind
/// and id, the value repeats them so an entry reads on its own.
pub(crate) fn encode_audit(record: &AuditRecord) -> Vec<u8> {
    let mut out = Out::new(record.format, 64 + record.subject.len());
    out.time(record.at);
    out.u8(match record.actor.via {
        ActorKind::Token => 0,
        ActorKind::Open => 1,
        ActorKind::Local => 2,
        ActorKind::Source => 3,
    });
    out.option_str(record.actor.token_id.as_deref());
    out.str(&record.actor.name);
    out.u8(record.kind.code());
    out.str(&record.subject);
    out.option_varint(record.sequence);
    out.option_varint(record.version);
    out.varint(record.details.len() as u64);
    for detail in &record.details {
        out.str(detail);
    }
    out.0
}

pub(crate) fn decode_audit(_key: &[u8], bytes: &[u8]) -> Decoded<AuditRecord> {
    let (format, mut input) = In::open(bytes)?;
    let at = input.time()?;
    let via = match input.u8()? {
        0 => ActorKind::Token,
        1 => ActorKind::Open,
        2 => ActorKind::Local,
        3 => ActorKind::Source,
        _ => return corrupt("unknown actor kind"),
    };
    let token_id = input.option_str()?;
    let name = input.str()?;
    let Some(kind) = AuditKind::from_code(input.u8()?) else {
        return corrupt("unknown audit kind");
    };
    let subject = input.str()?;
    let sequence = input.option_varint()?;
    let version = input.option_varint()?;
    let count = input.count()?;
    let mut details = Vec::with_capacity(count);
    for _ in 0..count {
        details.push(input.str()?);
    }
    input.end()?;
    Ok(AuditRecord { format, at, actor: Actor { via, token_id, name }, kind, subject, sequence, version, details })
}
