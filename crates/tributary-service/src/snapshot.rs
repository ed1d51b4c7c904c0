//! The lineage index saved when the service closes (and by its writer, idle or busy) and read back at
//! the next start-up,
//! instead of rebuilding it from the store's graph (`N`, `I`) and column-lineage (`L`)
//! records. At a million datasets those records lie spread over a sled file larger than
//! the page cache, and the rebuild reads them at random (33 s from a cold cache); the
//! snapshot is one file read front to back.
//!
//! The file (`lineage-index.snapshot` in the data directory) holds a header (magic, format,
//! the store's sequence when it was written, an identity derived from the store's own
//! redaction key), then three sections, each its length, the length of its bytes decoded, its
//! bytes compressed as one zstd frame, and an XXH3-64 over those (the first section's also
//! covers the header), checked before anything is decoded: the dataset graph
//! ([`LineageIndex::write_snapshot_graph`]), the nodes' owners (`mesh::OwnersImage`: a flag
//! byte, 1 when the owners table was complete at the capture, then its image) and the column
//! graph ([`LineageIndex::write_snapshot_columns`]). Start-up reads the header and the first
//! two sections, and serves (the owners caught up like the index when the snapshot is behind
//! the store; loaded from the store as without a snapshot when it kept none); the column
//! section is read by the column loader beside the writer and installed like a load from the
//! store (outputs the writer set meanwhile keep theirs).
//! If the column section turns out damaged, the loader falls back to the store's records;
//! if the owners section does, they load from the store as when the snapshot kept none.
//! The file is used only when all of these hold:
//! - the header and the dataset graph read whole and its checksum matches;
//! - its format is this build's;
//! - its identity is this store's (a snapshot copied from another store is ignored);
//! - its sequence is the store's last sequence, or at most [`MAX_CATCH_UP`] events behind it.
//!   Every change to the lineage index comes from a stored event (the writer publishes an
//!   event's graph changes with its sequence), so an equal sequence means an equal index; a
//!   snapshot behind the store (a crash after the last clean close) is caught up: the jobs
//!   and datasets the later events name are read again from the store's records.
//!
//! Otherwise the index is rebuilt from the store as before and the file is removed. The
//! snapshot is taken when nothing can change the index: at a clean close, after the writer
//! has stopped, and by the writer itself between two groups, once it has been idle for
//! [`IDLE_BEFORE_SAVE`] with at least [`EVENTS_BEFORE_SAVE`] events since the last snapshot,
//! or busy with [`crate::ServiceConfig::snapshot_every`] events since (see [`Saving`]);
//! always when the column lineage is complete and the index's watermark is the store's last
//! sequence. Taking it is an image of the index under the state's read lock
//! ([`LineageIndex::snapshot_image`], a small part of the work); encoding, compressing and
//! writing it happen without the lock, on a thread of their own when the writer took it. A
//! crash (`kill -9`) leaves an older file at most, which the next start-up detects by its
//! sequence and catches up (or, too far behind, rebuilds). The file is written beside, then
//! renamed over, the old one.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};
use tributary_graph::LineageIndex;
use tributary_model::{NodeRef, Watermark};
use tributary_store::Store;

use crate::Shared;
use crate::columns::ColumnState;
use crate::mesh::{NodeOwners, OwnersImage, stored_owners};

const FILE_NAME: &str = "lineage-index.snapshot";
const MAGIC: &[u8; 8] = b"TRBSNAP\0";
/// The layout of the file and of the graph's snapshot bytes (3: the header is checksummed;
/// 4: sections are zstd-compressed, a third of the bytes to read at start-up and to keep;
/// 5: the nodes' owners between the graph and the columns). A file of another format is not
/// used: the index is rebuilt, and saved in this one.
const FORMAT: u32 = 5;
/// zstd level of the sections: the file is written when the writer is idle or closing, and
/// read at every start-up; the fast levels decode at several hundred MB/s.
const ZSTD_LEVEL: i32 = 1;
/// A section's decoded bytes are at most this many times its compressed ones (the index
/// compresses about 3x), plus the per-node table a section may hold (the owners': one `u32`
/// a node, mostly the same few numbers, which compresses far more): a length that a writer
/// bug or a crafted file vouched for cannot make the reader expect a huge section.
const MAX_EXPANSION: u64 = 256;
/// Magic, format, sequence, identity length.
const FIXED_HEADER: usize = 8 + 4 + 8 + 4;
const CHECKSUM: usize = 8;
/// Bytes of the file written between two syncs (see [`Captured::write`]).
const SYNC_EVERY: usize = 8 << 20;

/// The snapshot file last read or written ([`crate::Shared::snapshot_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SnapshotFile {
    /// The store's sequence it was written at.
    pub(crate) sequence: u64,
    /// Whether it keeps the nodes' owners (else they were still loading when it was taken).
    pub(crate) owners: bool,
}

/// How the lineage index was made at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexOrigin {
    /// Read from the snapshot of the last clean close or idle save (caught up with the
    /// events stored after it, if any).
    Snapshot,
    /// Rebuilt from the store's records.
    Rebuilt,
}

/// What this store's snapshots say they belong to: derived from the store's secret
/// redaction key (never written itself), so it differs between stores.
fn identity(key: &tributary_auth::RedactionKey) -> String {
    tributary_auth::redacted_id("tributary", "lineage-index-snapshot", key)
}

pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The saved index (its column lineage still loading), if the data directory holds one that
/// is whole and current for this store (see the module documentation), the nodes' owners if
/// the snapshot kept them (caught up like the index), and the column section to load
/// next; its watermark is the store's last sequence. A file that is not used is removed, and
/// why is logged.
pub(crate) fn load(
    dir: &Path,
    store: &Store,
    key: &tributary_auth::RedactionKey,
) -> Option<(LineageIndex, Option<NodeOwners>, PendingColumns)> {
    let path = path(dir);
    let started = Instant::now();
    let outcome = match std::fs::File::open(&path) {
        Ok(file) => read(file, store, &identity(key)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => Err(Unused::Unreadable(error.to_string())),
    };
    match outcome {
        Ok(Opened { index, owners, owners_damaged, columns, nodes, written, newer }) => {
            if let Some(why) = owners_damaged {
                warn!(
                    path = %path.display(),
                    "the index snapshot's owners section is damaged ({why}); the owners load from the store"
                );
            }
            info!(
                path = %path.display(),
                written,
                datasets = index.dataset_count(),
                jobs = index.job_count(),
                owners = owners.is_some(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "lineage index read from its snapshot; its column lineage loads next"
            );
            Some((index, owners, PendingColumns { file: columns, nodes, path, written, newer }))
        }
        Err(unused) => {
            match &unused {
                Unused::Stale { .. } => info!(path = %path.display(), "{unused}; rebuilding the index from the store"),
                _ => warn!(path = %path.display(), "{unused}; rebuilding the index from the store"),
            }
            if let Err(error) = std::fs::remove_file(&path) {
                warn!(path = %path.display(), %error, "cannot remove the unused index snapshot");
            }
            None
        }
    }
}

/// The column section of a snapshot whose dataset graph was read: the open file, positioned
/// at it.
pub(crate) struct PendingColumns {
    file: std::io::BufReader<std::fs::File>,
    /// The kinds of the nodes the column section refers to.
    nodes: tributary_graph::SnapshotNodes,
    path: PathBuf,
    /// The sequence the snapshot was written at.
    written: u64,
    /// The column lineage stored after it, which replaces the section's.
    newer: NewerColumns,
}

impl PendingColumns {
    /// The sequence the snapshot was written at (the index may have caught up since).
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Reads and checks the column section; returns it with the column lineage stored after
    /// it, to install together ([`LineageIndex::install_columns`]). An error says why it
    /// cannot be used (the caller loads the column lineage from the store instead, which holds
    /// the newer lineage too).
    pub(crate) fn read(mut self) -> Result<(tributary_graph::SnapshotColumns, NewerColumns), String> {
        let outcome = (|| -> Result<tributary_graph::SnapshotColumns, Unused> {
            let (columns, rest) = section(&mut self.file, &[], 0, |body, len| {
                LineageIndex::read_snapshot_columns(body, len, &self.nodes)
                    .map_err(|error| Unused::Damaged(error.to_string()))
            })?;
            if rest != 0 {
                return Err(Unused::Damaged(format!("{rest} bytes follow the column section")));
            }
            Ok(columns)
        })();
        let newer = std::mem::take(&mut self.newer);
        outcome.map(|columns| (columns, newer)).map_err(|unused| {
            // The file is not used again: the next clean close writes a new one.
            if let Err(error) = std::fs::remove_file(&self.path) {
                warn!(path = %self.path.display(), %error, "cannot remove the damaged index snapshot");
            }
            format!("{unused} (`{}`)", self.path.display())
        })
    }
}

/// A section's bytes as `decode` reads them: decompressed, buffered, exactly as many as the
/// section says it holds.
type SectionBytes<'a> = std::io::BufReader<std::io::Take<zstd::stream::read::Decoder<'static, &'a [u8]>>>;

/// Reads one section (its length, its decoded length, its zstd frame, their checksum, which
/// covers `covered` first: bytes read before), checks the checksum, then decodes it through
/// `decode` and returns what that made and how many bytes follow the section. Nothing is
/// decoded from bytes the checksum does not vouch for. `table` is the size of a per-node
/// table the section may hold beyond [`MAX_EXPANSION`] (see there).
fn section<T>(
    file: &mut std::io::BufReader<std::fs::File>,
    covered: &[u8],
    table: u64,
    decode: impl for<'a> FnOnce(&mut SectionBytes<'a>, usize) -> Result<T, Unused>,
) -> Result<(T, u64), Unused> {
    let unreadable = |error: std::io::Error| Unused::Unreadable(error.to_string());
    let mut length = [0u8; 8];
    file.read_exact(&mut length).map_err(|_| Unused::Damaged("it ends before a section".into()))?;
    let length = u64::from_le_bytes(length);
    let position = file.stream_position().map_err(unreadable)?;
    let file_len = file.get_ref().metadata().map_err(unreadable)?.len();
    let Some(rest) = file_len
        .checked_sub(position)
        .and_then(|left| left.checked_sub(length))
        .and_then(|left| left.checked_sub(CHECKSUM as u64))
    else {
        return Err(Unused::Damaged(format!("a section of {length} bytes does not fit in the file")));
    };
    if length < 8 {
        return Err(Unused::Damaged(format!("a section of {length} bytes has no decoded length")));
    }
    // It fits in the file, so in memory.
    let mut bytes = vec![0u8; length as usize];
    file.read_exact(&mut bytes).map_err(unreadable)?;
    let mut stored = [0u8; CHECKSUM];
    file.read_exact(&mut stored).map_err(unreadable)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(covered);
    hasher.update(&bytes);
    if hasher.digest() != u64::from_le_bytes(stored) {
        return Err(Unused::Damaged("a section's checksum does not match its bytes".into()));
    }
    let (decoded_length, frame) = bytes.split_at(8);
    let decoded_length = u64::from_le_bytes(decoded_length.try_into().expect("8 bytes"));
    if decoded_length > (frame.len() as u64).saturating_mul(MAX_EXPANSION).max(1 << 20).saturating_add(table) {
        return Err(Unused::Damaged(format!("a section of {} bytes says it decodes to {decoded_length}", frame.len())));
    }
    let damaged = |error: std::io::Error| Unused::Damaged(format!("a section does not decode: {error}"));
    let decoder = zstd::stream::read::Decoder::with_buffer(frame).map_err(damaged)?;
    let mut body = std::io::BufReader::with_capacity(1 << 16, decoder.take(decoded_length));
    let decoded = decode(&mut body, decoded_length as usize)?;
    // The frame holds what the section says, no more.
    let mut decoder = body.into_inner().into_inner();
    if decoder.read(&mut [0u8; 1]).map_err(damaged)? != 0 {
        return Err(Unused::Damaged("a section decodes to more than its length".into()));
    }
    Ok((decoded, rest))
}

/// Why a snapshot file was not used.
#[derive(Debug, thiserror::Error)]
enum Unused {
    #[error("the index snapshot is unreadable: {0}")]
    Unreadable(String),
    #[error("the index snapshot is damaged: {0}")]
    Damaged(String),
    #[error("the index snapshot has format {0}; this build reads format {FORMAT}")]
    Format(u32),
    #[error("the index snapshot belongs to another store")]
    OtherStore,
    #[error(
        "the index snapshot was written at sequence {written}; the store is at {store}, too far from it to catch up"
    )]
    Stale { written: u64, store: u64 },
}

/// How long the writer must have been idle, and how many events the index must be past the
/// last snapshot, before the writer saves one (so that a crash later catches up from there).
pub(crate) const IDLE_BEFORE_SAVE: std::time::Duration =
    std::time::Duration::from_millis(if cfg!(test) { 300 } else { 30_000 });
pub(crate) const EVENTS_BEFORE_SAVE: u64 = if cfg!(test) { 1 } else { 10_000 };
/// A writer that is never idle saves the index between two groups once it is
/// [`crate::ServiceConfig::snapshot_every`] events past the last snapshot, so that a crash
/// leaves a snapshot close enough to catch up ([`MAX_CATCH_UP`]) rather than a rebuild. The
/// writer waits while the index's image is taken ([`capture`]); it saves again only after this
/// many times that wait, so that saving takes at most a twentieth of its time. Encoding and
/// writing the file (seconds at a million datasets) happen on a thread beside it, one at a
/// time.
const LOAD_SHARE: u32 = 20;
/// After a save that could not be taken, the busy writer tries again after twenty times this.
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(1);

/// The index snapshots the writer takes (see [`IDLE_BEFORE_SAVE`],
/// [`crate::ServiceConfig::snapshot_every`]): the image taken on the writer between two
/// groups (the index cannot change meanwhile), encoded and written to the file on a thread of
/// its own, one at a time, joined before the writer ends (so the close's own save finds it
/// done).
#[derive(Default)]
pub(crate) struct Saving {
    writing: Option<std::thread::JoinHandle<()>>,
    /// When the writer last took an image (or tried to), and how long it waited for it.
    last: Option<(Instant, std::time::Duration)>,
}

impl Saving {
    /// After a group: saves if the index is `snapshot_every` events past the last snapshot,
    /// and the last save was long enough ago (see [`LOAD_SHARE`]). `settle` is called first
    /// when a save is due: the writer waits there until the group it handed over last is
    /// published, so that the store holds nothing the index does not (the image must be the
    /// store's).
    pub(crate) fn after_group(&mut self, shared: &Arc<Shared>, settle: impl FnOnce()) {
        let every = shared.config.snapshot_every;
        if every == 0 || self.busy() || self.last.is_some_and(|(at, held)| at.elapsed() < held * LOAD_SHARE) {
            return;
        }
        // Before the column lineage is loaded there is nothing to save yet (and nothing to log).
        if *shared.column_state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) != ColumnState::Ready {
            return;
        }
        if self.behind(shared) >= every {
            settle();
            self.start(shared, "under load");
        }
    }

    /// The writer has been idle for [`IDLE_BEFORE_SAVE`]: saves if at least
    /// [`EVENTS_BEFORE_SAVE`] events came since the last snapshot. Returns `false` while an
    /// earlier save's file is still being written (ask again).
    pub(crate) fn when_idle(&mut self, shared: &Arc<Shared>) -> bool {
        if self.busy() {
            return false;
        }
        if self.behind(shared) >= EVENTS_BEFORE_SAVE {
            self.start(shared, "while idle");
        }
        true
    }

    /// Waits for the file being written, if any.
    pub(crate) fn finish(&mut self) {
        if let Some(thread) = self.writing.take()
            && thread.join().is_err()
        {
            tracing::error!("writing the index snapshot panicked");
        }
    }

    /// Whether a file is still being written (a finished one is joined).
    fn busy(&mut self) -> bool {
        if self.writing.as_ref().is_some_and(std::thread::JoinHandle::is_finished) {
            self.finish();
        }
        self.writing.is_some()
    }

    /// Events the index is past the last snapshot.
    fn behind(&self, shared: &Shared) -> u64 {
        let sequence = shared.read_state().index.watermark().sequence;
        let saved_at =
            shared.snapshot_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).map_or(0, |file| file.sequence);
        sequence.saturating_sub(saved_at)
    }

    fn start(&mut self, shared: &Arc<Shared>, when: &'static str) {
        let Some(dir) = shared.config.data_dir.clone() else { return };
        let started = Instant::now();
        let captured = capture(shared, &dir);
        self.last = Some((Instant::now(), started.elapsed()));
        let captured = match captured {
            Ok(Some(captured)) => captured,
            Ok(None) => return,
            Err(why) => {
                info!("lineage index snapshot not written {when}: {why}");
                // Not again for a while (a store that failed a write refuses every group).
                self.last = Some((Instant::now(), RETRY_AFTER_FAILURE));
                return;
            }
        };
        shared.metrics.snapshot_seconds.observe(captured.held().as_secs_f64());
        let shared = Arc::clone(shared);
        let write = move || {
            // One thread: the writer goes on beside it.
            if let Err(why) = captured.write_logged(&shared, &dir, false, started, when) {
                warn!("lineage index snapshot not written {when}: {why}");
            }
        };
        match std::thread::Builder::new().name("tributary-snapshot".into()).spawn(write) {
            Ok(thread) => self.writing = Some(thread),
            Err(error) => warn!(%error, "cannot start writing the index snapshot; the next save tries again"),
        }
    }
}

/// Most events a snapshot may be behind the store and still be used (each is read again for
/// the names it holds): beyond, rebuilding is about as fast.
pub(crate) const MAX_CATCH_UP: u64 = if cfg!(test) { 5 } else { 100_000 };

/// What [`read`] makes of a snapshot file.
struct Opened {
    /// From the snapshot's dataset graph, caught up with the store.
    index: LineageIndex,
    /// The nodes' owners, when the snapshot kept them (caught up with the store).
    owners: Option<NodeOwners>,
    /// Why the owners section was not used, when it was damaged (the owners then load).
    owners_damaged: Option<String>,
    /// The file at its column section, and the kinds of the nodes that section refers to.
    columns: std::io::BufReader<std::fs::File>,
    nodes: tributary_graph::SnapshotNodes,
    /// The sequence the snapshot was written at.
    written: u64,
    /// The column lineage the catch-up read.
    newer: NewerColumns,
}

/// Column lineage stored after a snapshot was written, each output's latest (see [`catch_up`]).
type NewerColumns = Vec<(tributary_model::DatasetId, Vec<tributary_model::ColumnEdgeSpec>)>;

fn read(file: std::fs::File, store: &Store, identity: &str) -> Result<Opened, Unused> {
    let mut file = std::io::BufReader::with_capacity(1 << 20, file);
    // The header first: a stale snapshot costs a few bytes of reading, not the whole file.
    let mut header = vec![0u8; FIXED_HEADER];
    file.read_exact(&mut header).map_err(|_| Unused::Damaged("shorter than its header".into()))?;
    if &header[..8] != MAGIC {
        return Err(Unused::Damaged("it does not start with the snapshot magic".into()));
    }
    let format = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(Unused::Format(format));
    }
    let written = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    let identity_len = u32::from_le_bytes(header[20..24].try_into().expect("4 bytes")) as usize;
    if identity_len != identity.len() {
        return Err(Unused::OtherStore);
    }
    let mut found = vec![0u8; identity_len];
    file.read_exact(&mut found).map_err(|_| Unused::Damaged("shorter than its header".into()))?;
    if found != identity.as_bytes() {
        return Err(Unused::OtherStore);
    }
    let last = store.last_sequence().map_err(|error| Unused::Unreadable(format!("the store's sequence: {error}")))?;
    if written > last || last - written > MAX_CATCH_UP {
        return Err(Unused::Stale { written, store: last });
    }
    // The header is covered by the first section's checksum.
    header.extend_from_slice(&found);
    let (mut index, _) = section(&mut file, &header, 0, |body, len| {
        LineageIndex::read_snapshot_graph(body, len).map_err(|error| Unused::Damaged(error.to_string()))
    })?;
    let nodes = index.snapshot_nodes();
    let node_count = index.dataset_count() + index.job_count();
    // A damaged owners section costs the owners only: the graph's section vouched for the
    // graph, the column section's checksum will vouch for the columns (read from where this
    // section's length says they start; a damaged length makes them damaged too, and the
    // loader then reads the store's records), and the owners load from the store as when the
    // snapshot was taken before they had loaded.
    let (owners, owners_damaged) = match read_owners_section(&mut file, node_count) {
        Ok(owners) => (owners, None),
        Err(Unused::Damaged(why)) => (None, Some(why)),
        Err(other) => return Err(other),
    };
    // Caught up below with the index, when events came after the snapshot.
    let mut owners = owners.map(NodeOwners::from_image);
    let newer = match written < last {
        true => catch_up(&mut index, owners.as_mut(), store, written, last)
            .map_err(|error| Unused::Unreadable(format!("catching up: {error}")))?,
        false => Vec::new(),
    };
    index.set_watermark(Watermark { sequence: last, events: last, offsets: Vec::new() });
    Ok(Opened { index, owners, owners_damaged, columns: file, nodes, written, newer })
}

/// The owners section: a flag byte (1: the table follows, complete at the capture; 0: it was
/// still loading), then [`OwnersImage`]'s bytes.
fn write_owners(out: &mut impl Write, owners: Option<&OwnersImage>) -> std::io::Result<()> {
    match owners {
        Some(owners) => {
            out.write_all(&[1])?;
            owners.write(out)
        }
        None => out.write_all(&[0]),
    }
}

/// The owners section of a snapshot whose graph has `nodes` nodes: at most its flag, two
/// counts and a `u32` a node beyond what any section may hold (at a million nodes the table
/// is 4 MB and compresses more than a thousand times).
fn read_owners_section(
    file: &mut std::io::BufReader<std::fs::File>,
    nodes: usize,
) -> Result<Option<OwnersImage>, Unused> {
    let table = 1 + 4 + 4 + 4 * nodes as u64;
    section(file, &[], table, |body, len| read_owners(body, len, nodes)).map(|(owners, _)| owners)
}

fn read_owners(input: &mut impl Read, len: usize, nodes: usize) -> Result<Option<OwnersImage>, Unused> {
    let damaged = |what: String| Unused::Damaged(format!("its owners section: {what}"));
    let mut flag = [0u8; 1];
    if len == 0 {
        return Err(damaged("it is empty".into()));
    }
    input.read_exact(&mut flag).map_err(|error| damaged(error.to_string()))?;
    match flag[0] {
        0 if len == 1 => Ok(None),
        0 => Err(damaged(format!("{} bytes follow an absent table", len - 1))),
        1 => OwnersImage::read(input, len - 1, nodes).map(Some).map_err(damaged),
        other => Err(damaged(format!("its flag is {other}"))),
    }
}

/// Brings an index read from a snapshot written at sequence `written` up to the store's
/// `last` (after a crash: the snapshot is the last clean close's or idle save's). Every event
/// since names the jobs and datasets whose graph entries it may have changed; those are read
/// again from the store's current records, as a rebuild reads them all: a named dataset with a graph key
/// is in the index, a named job with an entry has exactly its stored inputs and outputs, and
/// a named dataset's column lineage is its stored one (none if it has none), returned to be
/// installed with the snapshot's column section (it replaces the section's: see
/// [`LineageIndex::install_columns`]), after start-up rather than before it. The order of
/// the events does not matter: the records are the latest. The snapshot's `owners`, if it
/// kept them, are refreshed the same way: each named dataset and job the index holds gets the
/// owners its stored `ownership` facet names (what the start-up load would give it; a node no
/// later event names kept its facet, so its owners are the snapshot's).
///
/// The reading (the events' names, then the records, at random in a file the page cache
/// may not hold) is spread over [`CATCH_UP_THREADS`] threads, each with its own share; the
/// index is changed by this thread alone, once everything is read.
fn catch_up(
    index: &mut LineageIndex,
    owners: Option<&mut NodeOwners>,
    store: &Store,
    written: u64,
    last: u64,
) -> Result<NewerColumns, String> {
    use std::collections::BTreeSet;
    use tributary_model::{DatasetId, JobId};
    let started = Instant::now();
    let failed = |error: tributary_store::StoreError| error.to_string();
    // The events after the snapshot in contiguous ranges of sequences, one per thread.
    let ranges: Vec<(u64, u64)> = {
        let step = (last - written).div_ceil(CATCH_UP_THREADS as u64).max(1);
        (written..last).step_by(step as usize).map(|from| (from, (from + step).min(last))).collect()
    };
    let names = in_parallel(&ranges, |&(from, to)| {
        let mut jobs = BTreeSet::new();
        let mut datasets = BTreeSet::new();
        let mut after = from;
        while after < to {
            let page = store.events_after(after, 1024.min((to - after) as usize)).map_err(failed)?;
            let Some(&(end, _)) = page.last() else {
                return Err(format!("the store has no event after sequence {after}, its last is {last}"));
            };
            for (sequence, canonical) in page.into_iter().filter(|&(sequence, _)| sequence <= to) {
                // The names alone: the event was parsed and checked when it was stored.
                let names = tributary_openlineage::stored_event_names(&canonical)
                    .map_err(|error| format!("stored event {sequence} no longer parses: {error}"))?;
                jobs.extend(names.job);
                datasets.extend(names.datasets);
            }
            after = end;
        }
        Ok((jobs, datasets))
    })?;
    let mut jobs: BTreeSet<JobId> = BTreeSet::new();
    let mut datasets: BTreeSet<DatasetId> = BTreeSet::new();
    for (some_jobs, some_datasets) in names {
        jobs.extend(some_jobs);
        datasets.extend(some_datasets);
    }
    let names_read = started.elapsed();
    // Names as sent, and what they are aliases of: a rebuild has every dataset with a key.
    let datasets: Vec<DatasetId> = datasets.into_iter().collect();
    let aliases = in_parallel(&datasets, |dataset| store.alias(dataset).map_err(failed))?;
    let named: Vec<DatasetId> =
        datasets.into_iter().chain(aliases.into_iter().flatten()).collect::<BTreeSet<_>>().into_iter().collect();
    let graph = in_parallel(&named, |dataset| {
        Ok(match store.has_graph_dataset(dataset).map_err(failed)? {
            true => Some(store.column_lineage(dataset).map_err(failed)?),
            false => None,
        })
    })?;
    let jobs: Vec<JobId> = jobs.into_iter().collect();
    let io = in_parallel(&jobs, |job| store.graph_job_io(job).map_err(failed))?;
    // The owners of every node the index will hold of those named, read with the rest.
    let filed: Vec<NodeRef> = named
        .iter()
        .zip(&graph)
        .filter(|(_, lineage)| lineage.is_some())
        .map(|(dataset, _)| NodeRef::from(dataset))
        .chain(jobs.iter().zip(&io).filter(|(_, io)| io.is_some()).map(|(job, _)| NodeRef::from(job)))
        .collect();
    let owners_read = match owners {
        Some(_) => in_parallel(&filed, |node| stored_owners(store, node).map_err(|error| error.to_string()))?,
        None => Vec::new(),
    };
    let records_read = started.elapsed() - names_read;
    let mut newer = Vec::new();
    for (dataset, lineage) in named.into_iter().zip(graph) {
        if let Some(lineage) = lineage {
            index.ensure_dataset(&dataset);
            newer.push((dataset, lineage));
        }
    }
    for (job, io) in jobs.iter().zip(io) {
        if let Some((inputs, outputs)) = io {
            index.ensure_job(job);
            index.set_job_io(job, &inputs, &outputs);
        }
    }
    if let Some(owners) = owners {
        for (node, named) in filed.iter().zip(owners_read) {
            if let Some(number) = index.node_number(node) {
                owners.set(number, &named);
            }
        }
    }
    info!(
        events = last - written,
        jobs = jobs.len(),
        datasets = newer.len(),
        names_ms = names_read.as_millis() as u64,
        records_ms = records_read.as_millis() as u64,
        applied_ms = (started.elapsed() - names_read - records_read).as_millis() as u64,
        "index snapshot caught up with the events stored after it"
    );
    Ok(newer)
}

/// Threads reading for [`catch_up`]: mostly waiting on the disk after a crash (a cold page
/// cache), so more than the cores.
const CATCH_UP_THREADS: usize = 4;

/// `read` of every item, in order, the items shared among [`CATCH_UP_THREADS`] threads in
/// contiguous chunks; the first error (in item order) if any.
fn in_parallel<T: Sync, R: Send>(items: &[T], read: impl Fn(&T) -> Result<R, String> + Sync) -> Result<Vec<R>, String> {
    let chunk = items.len().div_ceil(CATCH_UP_THREADS).max(1);
    let read = &read;
    let parts: Vec<Result<Vec<R>, String>> = std::thread::scope(|scope| {
        let threads: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let work = move || part.iter().map(read).collect::<Result<Vec<R>, String>>();
                std::thread::Builder::new()
                    .name("tributary-catch-up".into())
                    .spawn_scoped(scope, work)
                    .map_err(|_| part)
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| match thread {
                Ok(thread) => thread.join().unwrap_or_else(|_| Err("a catch-up thread panicked".to_owned())),
                // No thread to be had: this one reads the share.
                Err(part) => part.iter().map(read).collect(),
            })
            .collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
}

/// The index taken for a snapshot at a sequence (see [`capture`]), to encode and write
/// without the state's lock ([`Captured::write`]).
pub(crate) struct Captured {
    sequence: u64,
    header: Vec<u8>,
    image: tributary_graph::SnapshotImage,
    /// The owners table beside the index, if it was complete.
    owners: Option<OwnersImage>,
    /// How long the state's read lock was held to take it.
    held: std::time::Duration,
}

/// Takes the index for the next start-up's snapshot, if it is complete and current; `Ok(None)`
/// when the file already holds this index. The state's read lock is held only while the
/// index's image is taken ([`LineageIndex::snapshot_image`]: a copy of its nodes, edges and
/// column fields, its frozen column rows shared), not while it is encoded and written.
pub(crate) fn capture(shared: &Shared, dir: &Path) -> Result<Option<Captured>, String> {
    let columns = shared.column_state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    if columns != ColumnState::Ready {
        return Err(format!("the column lineage is not loaded ({columns:?})"));
    }
    if let Some(failure) = shared.health.write_failure() {
        return Err(format!("the store failed a write: {failure}"));
    }
    // Everything the index reflects is durable before a file says so.
    shared.store.flush().map_err(|error| format!("cannot flush the store: {error}"))?;
    let identity = identity(&shared.redaction_key);
    // Readers may still be answering; the writer has stopped or is the caller, and the column
    // load is done, so the index does not move meanwhile.
    let state = shared.read_state();
    let locked = Instant::now();
    let sequence = state.index.watermark().sequence;
    let saved = *shared.snapshot_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let owners_to_add = state.owners.ready() && saved.is_some_and(|file| !file.owners);
    if saved.is_some_and(|file| file.sequence == sequence) && path(dir).exists() && !owners_to_add {
        // Nothing was stored since the snapshot this index was read from: it is current
        // (unless its column section was found damaged and the file removed, or it was
        // written without the owners, which have loaded since).
        return Ok(None);
    }
    let last = shared.store.last_sequence().map_err(|error| format!("cannot read the store's sequence: {error}"))?;
    if sequence != last || !state.index.columns_ready() {
        return Err(format!("the index (sequence {sequence}) is not the store's (sequence {last})"));
    }
    let image = state.index.snapshot_image();
    let owners = state.owners.image();
    let held = locked.elapsed();
    drop(state);
    let mut header = Vec::with_capacity(FIXED_HEADER + identity.len());
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT.to_le_bytes());
    header.extend_from_slice(&sequence.to_le_bytes());
    header.extend_from_slice(&(identity.len() as u32).to_le_bytes());
    header.extend_from_slice(identity.as_bytes());
    Ok(Some(Captured { sequence, header, image, owners, held }))
}

/// One section, encoded: the length of its decoded bytes, those bytes as one zstd frame, and
/// the checksum of both (covering the header first, for the first section).
struct Section {
    decoded_length: u64,
    frame: Vec<u8>,
    checksum: u64,
}

impl Captured {
    /// How long the state's read lock was held to take it.
    pub(crate) fn held(&self) -> std::time::Duration {
        self.held
    }

    /// [`Self::write`], and logs the file written (`when`: why it was, `started`: when its
    /// capture began).
    pub(crate) fn write_logged(
        self,
        shared: &Shared,
        dir: &Path,
        side_by_side: bool,
        started: Instant,
        when: &str,
    ) -> Result<PathBuf, String> {
        let (sequence, held) = (self.sequence, self.held);
        let (path, bytes) = self.write(shared, dir, side_by_side)?;
        info!(
            path = %path.display(),
            bytes,
            sequence,
            held_ms = held.as_millis() as u64,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "lineage index snapshot written {when}"
        );
        Ok(path)
    }

    /// Encodes the two sections (side by side on two threads when `side_by_side`: at a close,
    /// where nothing else needs the cores), writes the file beside the old one, makes it
    /// durable, renames it over the old one and records its sequence in
    /// [`Shared::snapshot_at`]. Returns the file and the bytes written.
    pub(crate) fn write(self, shared: &Shared, dir: &Path, side_by_side: bool) -> Result<(PathBuf, u64), String> {
        let image = &self.image;
        let encode_graph = || encode_section(&self.header, |body| image.write_graph(body));
        let encode_columns = || encode_section(&[], |body| image.write_columns(body));
        let (graph, columns) = match side_by_side {
            true => std::thread::scope(|scope| {
                // The dataset graph beside, the column graph (the larger) here; both here if
                // no thread is to be had.
                let beside =
                    std::thread::Builder::new().name("tributary-snapshot".into()).spawn_scoped(scope, encode_graph);
                let columns = encode_columns();
                let graph = match beside {
                    Ok(thread) => {
                        thread.join().unwrap_or_else(|_| Err(std::io::Error::other("encoding the graph panicked")))
                    }
                    Err(_) => encode_graph(),
                };
                (graph, columns)
            }),
            false => (encode_graph(), encode_columns()),
        };
        let owners = encode_section(&[], |body| write_owners(body, self.owners.as_ref()));
        let failed = |error: std::io::Error| format!("cannot encode the index: {error}");
        let (graph, owners, columns) = (graph.map_err(failed)?, owners.map_err(failed)?, columns.map_err(failed)?);
        let path = path(dir);
        let partial = dir.join(format!("{FILE_NAME}.partial"));
        let written = (|| -> std::io::Result<u64> {
            let file = std::fs::File::create(&partial)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            out.write_all(&self.header)?;
            let mut bytes = self.header.len() as u64;
            for section in [&graph, &owners, &columns] {
                let length = 8 + section.frame.len() as u64;
                out.write_all(&length.to_le_bytes())?;
                out.write_all(&section.decoded_length.to_le_bytes())?;
                // Made durable as it goes: a file system that commits its journal for the
                // writer's next fsync would otherwise write out the whole dirty file first.
                for chunk in section.frame.chunks(SYNC_EVERY) {
                    out.write_all(chunk)?;
                    out.flush()?;
                    out.get_ref().sync_data()?;
                }
                out.write_all(&section.checksum.to_le_bytes())?;
                bytes += 8 + length + CHECKSUM as u64;
            }
            let file = out.into_inner().map_err(|error| error.into_error())?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&partial, &path)?;
            // The rename is durable once the directory is.
            std::fs::File::open(dir)?.sync_all()?;
            Ok(bytes)
        })();
        match written {
            Ok(bytes) => {
                *shared.snapshot_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(SnapshotFile { sequence: self.sequence, owners: self.owners.is_some() });
                Ok((path, bytes))
            }
            Err(error) => {
                if let Err(cleanup) = std::fs::remove_file(&partial)
                    && cleanup.kind() != std::io::ErrorKind::NotFound
                {
                    warn!(path = %partial.display(), error = %cleanup, "cannot remove the partial index snapshot");
                }
                Err(format!("cannot write `{}`: {error}", partial.display()))
            }
        }
    }
}

/// Saves the index for the next start-up, if it is complete and current: [`capture`], then
/// [`Captured::write`] on this thread. Called by [`crate::Service::close`] once the writer has
/// stopped; the writer saves through [`Saving`]. Returns the file, or why none was written (a
/// reason to log, not a failure).
pub(crate) fn save(shared: &Shared, dir: &Path) -> Result<PathBuf, String> {
    let started = Instant::now();
    let Some(captured) = capture(shared, dir)? else { return Ok(path(dir)) };
    captured.write_logged(shared, dir, true, started, "at the close")
}

/// Encodes one section through `body` (see [`Section`]). The frame is made in memory (a third
/// of the bytes `body` writes), so its length is known before it is written.
fn encode_section(
    covered: &[u8],
    body: impl FnOnce(
        &mut CountingWriter<std::io::BufWriter<zstd::stream::write::Encoder<'static, Vec<u8>>>>,
    ) -> std::io::Result<()>,
) -> std::io::Result<Section> {
    let encoder = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?;
    // `body` writes a few bytes at a time: buffered, the encoder is called per 64 KiB.
    let mut counting = CountingWriter { inner: std::io::BufWriter::with_capacity(1 << 16, encoder), bytes: 0 };
    body(&mut counting)?;
    let decoded_length = counting.bytes;
    let frame = counting.inner.into_inner().map_err(|error| error.into_error())?.finish()?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(covered);
    hasher.update(&decoded_length.to_le_bytes());
    hasher.update(&frame);
    Ok(Section { decoded_length, frame, checksum: hasher.digest() })
}

/// Counts what passes through it.
struct CountingWriter<W: Write> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, Write};

    /// The owners section of a large mesh whose nodes share a few owner lists: its per-node
    /// table compresses far more than any other section (a million nodes: 3.8 MB in 2.5 KB,
    /// which a bound of [`super::MAX_EXPANSION`] alone refused, so a 1M store's snapshot
    /// always lost its owners). It reads back; the same bytes with more nodes claimed than
    /// the graph has are refused.
    #[test]
    fn a_large_owners_table_that_compresses_well_reads_back() {
        let nodes = 1_000_000;
        let image = crate::mesh::OwnersImage::uniform(nodes, &["team:orders", "team:payments"]);
        let section = super::encode_section(&[], |body| super::write_owners(body, Some(&image))).expect("encode");
        assert!(
            section.decoded_length > (section.frame.len() as u64) * super::MAX_EXPANSION,
            "the table compresses past the ordinary bound ({} in {})",
            section.decoded_length,
            section.frame.len()
        );
        let mut file = tempfile::tempfile().expect("tempfile");
        file.write_all(&(8 + section.frame.len() as u64).to_le_bytes()).expect("write");
        file.write_all(&section.decoded_length.to_le_bytes()).expect("write");
        file.write_all(&section.frame).expect("write");
        file.write_all(&section.checksum.to_le_bytes()).expect("write");
        let mut read = |graph_nodes: usize| {
            file.rewind().expect("rewind");
            let mut reader = std::io::BufReader::new(file.try_clone().expect("clone"));
            super::read_owners_section(&mut reader, graph_nodes)
        };
        let read_back = read(nodes).expect("read back").expect("the table was kept");
        assert!(read_back == image, "the same table");
        assert!(read(nodes / 2).is_err(), "more nodes than the graph has");
    }

    /// Every item read once, answers in the items' order, the first error by item order,
    /// with fewer items than threads, as many, and more.
    #[test]
    fn in_parallel_keeps_the_order_and_the_first_error() {
        for len in [0usize, 1, 3, super::CATCH_UP_THREADS, 10, 1001] {
            let items: Vec<usize> = (0..len).collect();
            let seen = std::sync::atomic::AtomicUsize::new(0);
            let doubled = super::in_parallel(&items, |item| {
                seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(item * 2)
            })
            .expect("no error");
            assert_eq!(doubled, items.iter().map(|item| item * 2).collect::<Vec<_>>());
            assert_eq!(seen.into_inner(), len);
            if len >= 3 {
                let failed = super::in_parallel(&items, |&item| match item % 3 {
                    2 => Err(format!("item {item}")),
                    _ => Ok(item),
                });
                assert_eq!(failed, Err("item 2".to_owned()), "{len} items");
            }
        }
    }
}
