//! The lineage index saved when the service closes and read back at the next start-up,
//! instead of rebuilding it from the store's graph (`N`, `I`) and column-lineage (`L`)
//! records. At a million datasets those records lie spread over a sled file larger than
//! the page cache, and the rebuild reads them at random (33 s from a cold cache); the
//! snapshot is one file read front to back.
//!
//! The file (`lineage-index.snapshot` in the data directory) holds a header (magic, format,
//! the store's sequence when it was written, an identity derived from the store's own
//! redaction key), then two sections, each its length, its bytes and their XXH3-64: the
//! dataset graph ([`LineageIndex::write_snapshot_graph`]) and the column graph
//! ([`LineageIndex::write_snapshot_columns`]). Start-up reads the header and the first
//! section, and serves; the column section is read by the column loader beside the writer
//! and installed like a load from the store (outputs the writer set meanwhile keep theirs).
//! If the column section turns out damaged, the loader falls back to the store's records.
//! The file is used only when all of these hold:
//! - the header and the dataset graph read whole and its checksum matches;
//! - its format is this build's;
//! - its identity is this store's (a snapshot copied from another store is ignored);
//! - its sequence is the store's last sequence: no event was stored after it. Every change
//!   to the lineage index comes from a stored event (the writer publishes an event's graph
//!   changes with its sequence), so an equal sequence means an equal index.
//!
//! Otherwise the index is rebuilt from the store as before and the file is removed. The
//! snapshot is written only at a clean close, after the writer has stopped, when the
//! column lineage is complete and the index's watermark is the store's last sequence; a
//! crash (`kill -9`) leaves a stale file at most, which the next start-up detects by its
//! sequence. The file is written beside, then renamed over, the old one.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::{info, warn};
use tributary_graph::LineageIndex;
use tributary_model::Watermark;
use tributary_store::Store;

use crate::Shared;
use crate::columns::ColumnState;

const FILE_NAME: &str = "lineage-index.snapshot";
const MAGIC: &[u8; 8] = b"TRBSNAP\0";
/// The layout of the file and of [`LineageIndex::write_snapshot`]'s bytes.
const FORMAT: u32 = 2;
/// Magic, format, sequence, identity length.
const FIXED_HEADER: usize = 8 + 4 + 8 + 4;
const CHECKSUM: usize = 8;

/// How the lineage index was made at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexOrigin {
    /// Read from the snapshot written when the service last closed.
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
/// is whole and current for this store (see the module documentation), and the column section
/// to load next; its watermark is the store's last sequence. A file that is not used is
/// removed, and why is logged.
pub(crate) fn load(
    dir: &Path,
    store: &Store,
    key: &tributary_auth::RedactionKey,
) -> Option<(LineageIndex, PendingColumns)> {
    let path = path(dir);
    let started = Instant::now();
    let outcome = match std::fs::File::open(&path) {
        Ok(file) => read(file, store, &identity(key)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => Err(Unused::Unreadable(error.to_string())),
    };
    match outcome {
        Ok((index, columns)) => {
            info!(
                path = %path.display(),
                datasets = index.dataset_count(),
                jobs = index.job_count(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "lineage index read from its snapshot; its column lineage loads next"
            );
            Some((index, PendingColumns { file: columns, nodes: None, path }))
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
    /// The snapshot nodes' kinds, taken from the index before it is shared.
    nodes: Option<tributary_graph::SnapshotNodes>,
    path: PathBuf,
}

impl PendingColumns {
    /// Notes the nodes the column section refers to (the index as read, before any event).
    pub(crate) fn for_index(mut self, index: &LineageIndex) -> Self {
        self.nodes = Some(index.snapshot_nodes());
        self
    }

    /// Reads and checks the column section. An error says why it cannot be used (the
    /// caller loads the column lineage from the store instead).
    pub(crate) fn read(mut self) -> Result<tributary_graph::SnapshotColumns, String> {
        let Some(nodes) = self.nodes.take() else {
            return Err("the snapshot's nodes were not noted".into());
        };
        let outcome = (|| -> Result<tributary_graph::SnapshotColumns, Unused> {
            let (columns, rest) = section(&mut self.file, |body, len| {
                LineageIndex::read_snapshot_columns(body, len, &nodes)
                    .map_err(|error| Unused::Damaged(error.to_string()))
            })?;
            if rest != 0 {
                return Err(Unused::Damaged(format!("{rest} bytes follow the column section")));
            }
            Ok(columns)
        })();
        outcome.map_err(|unused| {
            // The file is not used again: the next clean close writes a new one.
            if let Err(error) = std::fs::remove_file(&self.path) {
                warn!(path = %self.path.display(), %error, "cannot remove the damaged index snapshot");
            }
            format!("{unused} (`{}`)", self.path.display())
        })
    }
}

/// Reads one section (its length, its bytes through `decode`, their checksum) and returns
/// what `decode` made and how many bytes follow the section.
fn section<T>(
    file: &mut std::io::BufReader<std::fs::File>,
    decode: impl FnOnce(&mut HashingReader<&mut std::io::BufReader<std::fs::File>>, usize) -> Result<T, Unused>,
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
    let length = usize::try_from(length).map_err(|_| Unused::Damaged("a section is too large".into()))?;
    let mut body = HashingReader { inner: file, hasher: xxhash_rust::xxh3::Xxh3::new() };
    let decoded = decode(&mut body, length)?;
    let HashingReader { inner: file, hasher } = body;
    let mut stored = [0u8; CHECKSUM];
    file.read_exact(&mut stored).map_err(unreadable)?;
    if hasher.digest() != u64::from_le_bytes(stored) {
        return Err(Unused::Damaged("a section's checksum does not match its bytes".into()));
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
        "the index snapshot was written at sequence {written}; the store is at {store} (events were stored after it)"
    )]
    Stale { written: u64, store: u64 },
}

fn read(
    file: std::fs::File,
    store: &Store,
    identity: &str,
) -> Result<(LineageIndex, std::io::BufReader<std::fs::File>), Unused> {
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
    if written != last {
        return Err(Unused::Stale { written, store: last });
    }
    let (mut index, _) = section(&mut file, |body, len| {
        LineageIndex::read_snapshot_graph(body, len).map_err(|error| Unused::Damaged(error.to_string()))
    })?;
    index.set_watermark(Watermark { sequence: written, events: written, offsets: Vec::new() });
    Ok((index, file))
}

/// Saves the index for the next start-up, if it is complete and current. Called by
/// [`crate::Service::close`] once the writer has stopped. Returns the file written, or why
/// none was (a reason to log, not a failure: the next start-up rebuilds).
pub(crate) fn save(shared: &Shared, dir: &Path) -> Result<PathBuf, String> {
    let started = Instant::now();
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
    // Readers may still be answering; the writer has stopped, so the index no longer moves.
    let state = shared.read_state();
    let sequence = state.index.watermark().sequence;
    if shared.index_origin == IndexOrigin::Snapshot && sequence == shared.opened_at && path(dir).exists() {
        // Nothing was stored since the snapshot this index was read from: it is current
        // (unless its column section was found damaged and the file removed).
        return Ok(path(dir));
    }
    let last = shared.store.last_sequence().map_err(|error| format!("cannot read the store's sequence: {error}"))?;
    if sequence != last || !state.index.columns_ready() {
        return Err(format!("the index (sequence {sequence}) is not the store's (sequence {last})"));
    }
    let path = path(dir);
    let partial = dir.join(format!("{FILE_NAME}.partial"));
    let written = (|| -> std::io::Result<u64> {
        let file = std::fs::File::create(&partial)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC)?;
        out.write_all(&FORMAT.to_le_bytes())?;
        out.write_all(&sequence.to_le_bytes())?;
        out.write_all(&(identity.len() as u32).to_le_bytes())?;
        out.write_all(identity.as_bytes())?;
        let mut bytes = (FIXED_HEADER + identity.len()) as u64;
        bytes += write_section(&mut out, |body| state.index.write_snapshot_graph(body))?;
        bytes += write_section(&mut out, |body| state.index.write_snapshot_columns(body))?;
        let file = out.into_inner().map_err(|error| error.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&partial, &path)?;
        // The rename is durable once the directory is.
        std::fs::File::open(dir)?.sync_all()?;
        Ok(bytes)
    })();
    drop(state);
    match written {
        Ok(bytes) => {
            info!(path = %path.display(), bytes, sequence, elapsed_ms = started.elapsed().as_millis() as u64, "lineage index snapshot written");
            Ok(path)
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

/// Writes one section: its length (filled in once known), the bytes `body` writes, their
/// checksum. Returns the bytes written.
fn write_section(
    out: &mut std::io::BufWriter<std::fs::File>,
    body: impl FnOnce(&mut HashingWriter<&mut std::io::BufWriter<std::fs::File>>) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let at = out.stream_position()?;
    out.write_all(&0u64.to_le_bytes())?;
    let mut hashing = HashingWriter { inner: &mut *out, hasher: xxhash_rust::xxh3::Xxh3::new(), bytes: 0 };
    body(&mut hashing)?;
    let (length, digest) = (hashing.bytes, hashing.hasher.digest());
    out.write_all(&digest.to_le_bytes())?;
    let end = out.stream_position()?;
    out.seek(std::io::SeekFrom::Start(at))?;
    out.write_all(&length.to_le_bytes())?;
    out.seek(std::io::SeekFrom::Start(end))?;
    Ok(8 + length + CHECKSUM as u64)
}

/// Hashes what is read through it.
struct HashingReader<R: Read> {
    inner: R,
    hasher: xxhash_rust::xxh3::Xxh3,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Counts and hashes what passes through to the file.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: xxhash_rust::xxh3::Xxh3,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
