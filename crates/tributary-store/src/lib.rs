//! The only crate that touches disk: Tributary's sled store.
//!
//! Everything lives in one sled tree under one-byte key prefixes, so that the writes of
//! one event (or of a group of whole events: [`GroupWrite`], [`Store::commit_group`]) go in
//! one `sled::Batch` and are applied atomically: after a crash the store holds all of an
//! event or none of it. The writer reads through a group's pending writes ([`Store::view`])
//! while it applies the group's events, so a key several of them write reaches sled once.
//! Durability is separate and explicit: [`Store::flush`] makes every applied batch durable,
//! and the ingest pipeline calls it once per group of events (group commit) before
//! acknowledging any of them.
//!
//! Layout (`ns` and `name` never contain NUL; numbers are big-endian so keys sort):
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `M` | `format`, `sequence`, `graph`, `probe`, `redaction`, `dict` id | store format (u8), last event sequence (u64), graph keyspace complete, last probe write, the key of redacted ids (32 bytes), an event dictionary (the sequence it was trained at, then zstd's dictionary; immutable) |
//! | `E` | sequence | event: codec byte + canonical JSON (lz4 when codec = 1; codec 4: zstd with the store's dictionary whose id follows, see [`dictionary`]) |
//! | `H` | content hash (16 bytes) | sequence |
//! | `D` | ns NUL name | [`DatasetRecord`] (facet stamps, not values), and the dataset's facet values folded in beside it (`fold`: codec 6; the record alone when it has none); a `D` key is also the graph's dataset key (read at start-up) |
//! | (`F`) | dataset ns NUL name NUL facet key | not stored since format 5: the name the writer and readers give one facet value inside its dataset's `D` value: codec byte + JSON (lz4 when codec = 1), or, for a value of at least [`FACET_BY_REFERENCE_MIN`] bytes taken from an event, codec 3 + the event's sequence (u64) + offset and length (u32 each) of the value in that event's canonical JSON |
//! | `J` | ns NUL name | [`JobRecord`] |
//! | (`N`) | dataset ns NUL name | not stored since format 5 (the `D` key is the graph's dataset key): what `put_graph_dataset` writes, dropped at the commit |
//! | `I` | job ns NUL name | the job's current inputs and outputs (the graph, read at start-up) |
//! | `R` | run id (16 bytes) | [`RunRecord`] |
//! | `O` | job ns NUL name NUL observation key | [`Observation`] |
//! | `S` | dataset ns NUL name NUL schema hash | [`SchemaVersionRecord`]: JSON behind a codec byte, or (codec 5) its format, first and last seen, and a reference to its `fields` in the event that first showed them |
//! | `A` | alias ns NUL name | canonical ns NUL name |
//! | `r` | job ns NUL name NUL time run id | empty (a job's runs by start) |
//! | `w` | dataset ns NUL name NUL time run id | role: 1 read, 2 written, 3 both |
//! | `L` | output dataset ns NUL name | column lineage into it: `Vec<ColumnEdgeSpec>` (binary: a table of its strings, then the edges as indices; JSON from earlier builds still reads) |
//! | `P` / `G` | product / domain id | current [`DocumentRecord`] |
//! | `p` / `g` | product / domain id NUL version | every applied [`DocumentRecord`] |
//! | `o` | owner NUL kind (`D`/`J`) ns NUL name | empty (nodes by owner, from `ownership` facets) |
//! | `t` | lower-case tag NUL kind (`D`/`J`) ns NUL name | empty (nodes by tag, from `tags` facets) |
//! | `C` | time sequence | [`SchemaChangeRecord`]: schema changes seen in ingested events |
//! | `W` | sequence ns NUL name | [`SeenSchemaChange`]: a change seen in that event, written in its batch, removed in the batch that records it under `C` |
//! | `c` | lower-case tag NUL ns NUL name NUL field | empty (columns by tag, from `tags` facets with `field`) |
//! | `K` | token id (16 hex digits) | an API token's record (its secret's SHA-256, never the secret) |
//! | `U` | time (sortable) kind-code id | [`tributary_model::AuditRecord`], binary (JSON from earlier builds still reads): who stored, applied, created or revoked what |
//! | `Q` | topic NUL partition (i32, sign bit flipped) | next offset to consume (i64): written in the batch of the record it moves past |
//! | `X` | topic NUL partition offset (i64, sign bit flipped) | [`tributary_model::SourceRejection`]: a consumed record that was not an event |
//!
//! The records every event rewrites (`D`, `J`, `R`, `O`, `I`) and column lineage (`L`) are binary (`codec`: codec byte 2,
//! the record's `format`, fields in a fixed order); the others are JSON with a `format` field
//! (see `tributary_model::RECORD_FORMAT`), stored behind a codec byte like events: lz4-compressed
//! unless the store is configured otherwise. JSON records of earlier builds (behind a codec byte,
//! or bare) are still read, so no reindex is needed; `reindex` rewrites them in binary.

mod access;
mod codec;
pub mod dictionary;
mod fold;
mod keys;
mod online;
mod reverse;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tributary_model::{
    ColumnEdgeSpec, DatasetId, DatasetRecord, DocumentRecord, JobId, JobRecord, NodeRef, Observation, ObservationKey,
    RECORD_FORMAT, RunId, RunRecord, SchemaChangeRecord, SchemaVersionRecord, SeenSchemaChange, Timestamp, Versioned,
};

pub use access::{AuditPage, AuditQuery};
pub use keys::decode_name_key;
use keys::*;
pub use online::OnlineCompactReport;

/// Each owned node with its owners' names and roles, as [`Store::owners_by_node`] reads them
/// from the owner index (`None`: some entry of the node records no role; read its facet).
pub type OwnersByNode = BTreeMap<NodeRef, Option<BTreeMap<String, Option<String>>>>;

/// The store format this binary writes and reads. Format 3 may hold facet values as references
/// into the event log (codec 3 under `F`); format 4 may hold events compressed with a stored
/// dictionary (codec 4 under `E`); format 5 keeps a dataset's facet values in its `D` value
/// and has no `F` and `N` keys (`fold`). A store of formats 2 to 4 is brought to format 5 at
/// its first open by this build (its facet values folded into the datasets' values, its `N`
/// keys removed, in batches that each leave every dataset whole), then marked 5, so an older
/// build refuses it instead of misreading it.
pub const STORE_FORMAT: u8 = 5;
/// The earlier formats this build opens and brings to [`STORE_FORMAT`].
const UPGRADABLE_FORMATS: [u8; 3] = [2, 3, 4];

/// A facet value taken from an event is stored as a reference into that event (17 bytes)
/// when its JSON is at least this long: large values (schemas, column lineage) are not kept
/// twice, while small ones the queries read per node (ownership, tags) stay inline.
pub const FACET_BY_REFERENCE_MIN: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{reason}")]
    Busy { reason: String },
    #[error("store at `{path}` is in use by another process (is a server running on it?)")]
    Locked { path: String },
    #[error("store format {found} is not supported by this binary (it reads format {STORE_FORMAT})")]
    UnsupportedFormat { found: u8 },
    #[error("store io error: {0}")]
    Sled(#[from] sled::Error),
    #[error("cannot encode the record under key `{key}`: {reason}")]
    Encode { key: String, reason: String },
    #[error("corrupt record under key `{key}`: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("the store is closed: {reason}")]
    Closed { reason: String },
    #[error(
        "the record under key `{key}` has format {found}, newer than this build reads ({RECORD_FORMAT}): run the newer build, or reindex with it"
    )]
    UnsupportedRecord { key: String, found: u8 },
}

/// The directory of the database of the store in `root` (see `online`), which must exist when
/// `CURRENT` names it: a missing generation is an error, never a new empty database.
fn database_dir_checked(root: &Path) -> Result<std::path::PathBuf> {
    let dir = online::database_dir(root)?;
    if dir != root && !dir.join("db").is_file() {
        return Err(StoreError::Corrupt {
            key: root.join(online::CURRENT_FILE).display().to_string(),
            reason: format!("names `{}`, which holds no database", dir.display()),
        });
    }
    Ok(dir)
}

fn open_db(path: &Path, config: &StoreConfig) -> Result<sled::Db> {
    sled::Config::new()
        .path(path)
        .cache_capacity(config.cache_bytes)
        .mode(if config.low_space { sled::Mode::LowSpace } else { sled::Mode::HighThroughput })
        // Durability comes from the ingest pipeline's explicit flushes (group commit);
        // sled's own timer would only add flushes nobody waits for.
        .flush_every_ms(None)
        .open()
        .map_err(|error| match error {
            // sled reports a held lock as an IO error whose message says so.
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("acquire lock") =>
            {
                StoreError::Locked { path: path.display().to_string() }
            }
            other => StoreError::Sled(other),
        })
}

fn open_db_waiting(path: &Path, config: &StoreConfig, wait: std::time::Duration) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match open_db(path, config) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

impl StoreError {
    /// The disk refused a write for lack of room or permission (full file system, quota,
    /// read-only mount): an operator's problem, not a bug, and writes may work again later.
    pub fn is_resource_exhausted(&self) -> bool {
        let Self::Sled(sled::Error::Io(io)) = self else { return false };
        // ENOSPC 28, EDQUOT 122, EROFS 30 on Linux; `StorageFull` where std maps it.
        matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::ReadOnlyFilesystem)
            || matches!(io.raw_os_error(), Some(28 | 30 | 122))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The two kinds of mesh documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentKind {
    Product,
    Domain,
}

impl DocumentKind {
    fn prefixes(self) -> (u8, u8) {
        match self {
            Self::Product => (PREFIX_PRODUCT, PREFIX_PRODUCT_VERSION),
            Self::Domain => (PREFIX_DOMAIN, PREFIX_DOMAIN_VERSION),
        }
    }
}

/// Tuning for [`Store::open`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// sled page cache, in bytes.
    pub cache_bytes: u64,
    /// Compress stored events, facet values and records with lz4.
    pub compress: bool,
    /// sled's low-space mode (smaller files, more compaction work) instead of throughput.
    pub low_space: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { cache_bytes: 256 * 1024 * 1024, compress: true, low_space: false }
    }
}

pub struct Store {
    /// The open database, behind a lock only so that [`Store::reopen`] can replace it after a
    /// failed flush (sled keeps an IO error for the life of an open database). Every call
    /// clones the handle (an `Arc`) and lets go of the lock at once: a leaf lock. `None` while
    /// a reopen failed: every call answers [`StoreError::Closed`].
    db: std::sync::RwLock<Option<sled::Db>>,
    /// Where it lives; `None` for a temporary store, which cannot be reopened.
    path: Option<std::path::PathBuf>,
    config: StoreConfig,
    compress: bool,
    /// Whether any alias (`A`) is stored: false until the first is committed, so that
    /// [`Store::alias`], asked for every dataset an event names, skips the lookup in the
    /// common store without symlinks. Only ever goes from false to true while open.
    has_aliases: std::sync::atomic::AtomicBool,
    /// The event dictionaries (see [`dictionary`]): a leaf lock, held only to clone one out
    /// or to publish a new one.
    dictionaries: std::sync::RwLock<dictionary::Dictionaries>,
    /// An online compaction's copy while one runs (`online`). Every write to the database
    /// takes this lock and, holding it, the `db` lock (never the other way round), so that a
    /// write and the copy's progress never interleave. `None` the rest of the time.
    compaction: parking_lot::Mutex<Option<online::OnlineCopy>>,
    /// A dictionary training is under way (one at a time).
    training: std::sync::atomic::AtomicBool,
}

impl Store {
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Self> {
        let dir = database_dir_checked(path)?;
        let db = open_db(&dir, config)?;
        online::remove_dead_databases(path, &dir)?;
        Self::init(db, Some(path.to_path_buf()), config)
    }

    /// Opens the store's database and closes it again, waiting up to `wait` for a handle on
    /// it that is being dropped. sled brings its recovery snapshot up to date only when it
    /// opens, by reading every log segment written since the previous open, so the first open
    /// after a bulk load reads the whole log (11 s at 1M datasets with the file in the page
    /// cache, against 2 s afterwards). A bulk load settles the store when it is done, so that
    /// it pays this once and the server's first start does not.
    pub fn settle(path: &Path, config: &StoreConfig, wait: std::time::Duration) -> Result<()> {
        let db = open_db_waiting(&database_dir_checked(path)?, config, wait)?;
        db.flush()?;
        Ok(())
    }

    /// [`Self::open`], waiting up to `wait` for a handle on the same store that is being
    /// dropped (sled's threads let go of its file lock shortly after the last handle).
    pub fn open_waiting(path: &Path, config: &StoreConfig, wait: std::time::Duration) -> Result<Self> {
        let dir = database_dir_checked(path)?;
        let db = open_db_waiting(&dir, config, wait)?;
        online::remove_dead_databases(path, &dir)?;
        Self::init(db, Some(path.to_path_buf()), config)
    }

    /// Closes and reopens the database from disk: after a failed flush (disk full) sled keeps
    /// the error until then. Whatever was applied but not flushed is gone afterwards, which is
    /// right: it was never acknowledged nor published. Fails while another handle (a scan in
    /// flight) still holds the database; the caller retries.
    pub fn reopen(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Err(StoreError::Closed { reason: "a temporary store cannot be reopened".into() });
        };
        // An online compaction under way is abandoned: its copy may lack what the failed
        // flush lost, and it would mirror writes into a database about to be reopened.
        let copy = self.lock_compaction().take();
        drop(copy);
        // Dropped before opening again (sled locks its files for one open database), and
        // outside the lock, so that callers meanwhile get `Closed` at once instead of waiting.
        let old = self.db.write().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        drop(old);
        let reopened = open_db_waiting(&database_dir_checked(path)?, &self.config, std::time::Duration::from_secs(2))?;
        let has_aliases = reopened.scan_prefix([PREFIX_ALIAS]).next().is_some();
        self.has_aliases.store(has_aliases, std::sync::atomic::Ordering::SeqCst);
        // Every published dictionary was durable before use, so the reopened store holds it.
        let dictionaries = load_dictionaries(&reopened)?;
        *self.dictionaries.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = dictionaries;
        *self.db.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reopened);
        Ok(())
    }

    /// Writes and flushes a small marker: whether the disk takes writes again.
    pub fn probe_write(&self) -> Result<()> {
        let mut probe = Writes::default();
        probe.insert(
            META_PROBE,
            &std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0)
                .to_be_bytes(),
        );
        self.write_batch(probe)?;
        self.flush()
    }

    /// Has sled account for the log segments it recovered when it opened, which it does at
    /// its first write to disk afterwards (its first `stabilize` deactivates every recovered
    /// segment, each time counting over all of them: ~1.6 s for the ~30,000 segments of a
    /// never-compacted 1M store, nothing to notice for a compacted one). A scratch key is
    /// written, removed and flushed, so that a server pays this while it loads its index
    /// instead of in its first acknowledged write; the store's content is unchanged.
    pub fn stabilize_recovered_log(&self) -> Result<()> {
        let mut scratch = Writes::default();
        scratch.insert(META_SCRATCH, &[1u8][..]);
        self.write_batch(scratch)?;
        let mut removal = Writes::default();
        removal.remove(META_SCRATCH);
        self.write_batch(removal)?;
        self.flush()
    }

    fn db(&self) -> Result<sled::Db> {
        self.db
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Closed { reason: "the database could not be reopened; retrying".into() })
    }

    /// Every entry under `prefix`, or the one error that the database is closed.
    fn scan_entries(&self, prefix: impl AsRef<[u8]>) -> Box<dyn Iterator<Item = Result<(sled::IVec, sled::IVec)>>> {
        match self.db() {
            Ok(db) => Box::new(db.scan_prefix(prefix).map(|entry| entry.map_err(StoreError::from))),
            Err(error) => Box::new(std::iter::once(Err(error))),
        }
    }

    /// A store in a temporary directory that disappears on drop (tests, benchmarks).
    pub fn open_temporary(config: &StoreConfig) -> Result<Self> {
        let db = sled::Config::new().temporary(true).cache_capacity(config.cache_bytes).open()?;
        Self::init(db, None, config)
    }

    fn init(db: sled::Db, path: Option<std::path::PathBuf>, config: &StoreConfig) -> Result<Self> {
        match db.get(META_FORMAT)? {
            Some(found) if found.len() == 1 && UPGRADABLE_FORMATS.contains(&found[0]) => {
                fold_dataset_keys(&db)?;
                db.insert(META_FORMAT, &[STORE_FORMAT])?;
                db.flush()?;
            }
            Some(found) if found.as_ref() != [STORE_FORMAT] => {
                return Err(StoreError::UnsupportedFormat { found: found.first().copied().unwrap_or(0) });
            }
            Some(_) => {}
            None => {
                db.insert(META_FORMAT, &[STORE_FORMAT])?;
                // A new store files every dataset and job in the graph keyspace from the start.
                db.insert(META_GRAPH_KEYS, &[1u8])?;
                db.flush()?;
            }
        }
        let has_aliases = db.scan_prefix([PREFIX_ALIAS]).next().is_some();
        let dictionaries = load_dictionaries(&db)?;
        Ok(Self {
            db: std::sync::RwLock::new(Some(db)),
            path,
            config: config.clone(),
            compress: config.compress,
            has_aliases: std::sync::atomic::AtomicBool::new(has_aliases),
            dictionaries: std::sync::RwLock::new(dictionaries),
            training: std::sync::atomic::AtomicBool::new(false),
            compaction: parking_lot::Mutex::new(None),
        })
    }

    /// Makes every applied batch durable (fsync).
    pub fn flush(&self) -> Result<()> {
        self.db()?.flush()?;
        Ok(())
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db()?.size_on_disk()?)
    }

    /// The store's size on disk right after its last online compaction, if it had one (and
    /// the record of it was flushed).
    pub fn compacted_size(&self) -> Result<Option<u64>> {
        let Some(value) = self.db()?.get(META_COMPACTED)? else {
            return Ok(None);
        };
        let bytes: [u8; 8] = value.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            key: String::from_utf8_lossy(META_COMPACTED).into_owned(),
            reason: format!("{} bytes, not a 64-bit size", value.len()),
        })?;
        Ok(Some(u64::from_be_bytes(bytes)))
    }

    /// Records `bytes` as the store's size on disk right after a compaction (read back by
    /// [`Self::compacted_size`]), durably.
    pub fn record_compacted_size(&self, bytes: u64) -> Result<()> {
        // Through the writes' path: mirrored into a compaction's copy should one be running.
        self.apply_writes(
            [(sled::IVec::from(META_COMPACTED), Some(sled::IVec::from(&bytes.to_be_bytes()[..])))],
            false,
            HashMap::new(),
        )?;
        self.flush()
    }

    /// Bytes free for this store on its file system (what an unprivileged process may use),
    /// `None` for a temporary store.
    pub fn available_space(&self) -> Result<Option<u64>> {
        let Some(root) = &self.path else {
            return Ok(None);
        };
        fs2::available_space(root).map(Some).map_err(|error| {
            StoreError::Sled(sled::Error::Io(std::io::Error::new(
                error.kind(),
                format!("reading the free space of `{}`: {error}", root.display()),
            )))
        })
    }

    /// Writes every key of this store, in key order, into a new database at `target` (which
    /// must hold none), then settles it: the same store in a file sled has written once.
    ///
    /// sled's log keeps the earlier images of every page an update rewrote until its cleaner
    /// moves them, and it cleans a segment only once at most half of it is live, so a store
    /// built by ingest (each event rewrites the records it touches) takes about four times its
    /// keys and values on disk, and a copy written in key order about two and a half (100k
    /// generated mesh: 1.94 GB and 1.10 GB for 451 MB of keys and values). The copy is
    /// consistent when no one writes meanwhile: the caller holds the only open handle.
    pub fn copy_into(&self, target: &Path) -> Result<CopyReport> {
        const BATCH: usize = 4096;
        let db = self.db()?;
        let copy = open_db(target, &self.config)?;
        let mut report = CopyReport::default();
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for entry in db.iter() {
            let (key, value) = entry?;
            report.keys += 1;
            report.bytes += (key.len() + value.len()) as u64;
            batch.insert(key, value);
            in_batch += 1;
            if in_batch == BATCH {
                copy.apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        copy.apply_batch(batch)?;
        copy.flush()?;
        drop(copy);
        Self::settle(target, &self.config, std::time::Duration::from_secs(10))?;
        Ok(report)
    }

    /// Keys and bytes under each key prefix, in prefix order (a full scan: for operators
    /// and benchmarks, not for request paths).
    pub fn stats(&self) -> Result<Vec<PrefixStats>> {
        let mut stats: std::collections::BTreeMap<u8, PrefixStats> = std::collections::BTreeMap::new();
        for entry in self.db()?.iter() {
            let (key, value) = entry?;
            let prefix = key.first().copied().unwrap_or(0);
            let slot = stats.entry(prefix).or_insert(PrefixStats { prefix, ..PrefixStats::default() });
            slot.keys += 1;
            slot.key_bytes += key.len() as u64;
            slot.value_bytes += value.len() as u64;
        }
        Ok(stats.into_values().collect())
    }

    /// Applies one event's writes atomically (not yet durable; see [`Self::flush`]).
    pub fn commit(&self, write: EventWrite) -> Result<()> {
        self.apply_writes(write.batch.0, write.puts_alias, HashMap::new())
    }

    /// Applies the writes of a group of events as one atomic batch (not yet durable; see
    /// [`Self::flush`]): after a crash the store holds every event of the group or none. A key
    /// several events of the group wrote is written once, with the last value.
    pub fn commit_group(&self, group: GroupWrite) -> Result<()> {
        if group.writes.is_empty() {
            return Ok(());
        }
        let read = group.read_datasets.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.apply_writes(group.writes, group.puts_alias, read)
    }

    /// Puts (`Some`) and removals (`None`) as one atomic sled batch. `read`: datasets' stored
    /// `D` values read since the last commit (see `GroupWrite::read_datasets`).
    fn apply_writes(
        &self,
        writes: impl IntoIterator<Item = (sled::IVec, Option<sled::IVec>)>,
        puts_alias: bool,
        mut read: HashMap<Vec<u8>, Option<sled::IVec>>,
    ) -> Result<()> {
        let db = self.db()?;
        let mut batch = Writes::default();
        // A dataset's record and facet values reach sled as its one `D` value (`fold`). The
        // stored value is read here and replaced in the same batch: only the writer thread
        // (and a rebuild, into a store of its own) commits dataset records, one batch at a
        // time, so nothing writes the value between the read and the batch.
        let mut datasets: BTreeMap<Vec<u8>, FoldWrites> = BTreeMap::new();
        for (key, value) in writes {
            match key.first().copied() {
                Some(PREFIX_DATASET) => datasets.entry(key.to_vec()).or_default().record = Some(value),
                Some(PREFIX_DATASET_FACET) => {
                    let (dataset, facet) = fold::split_facet_key(&key)
                        .ok_or_else(|| corrupt(&key, "a facet key is dataset namespace NUL name NUL facet".into()))?;
                    datasets.entry(dataset).or_default().facets.push((facet.to_vec(), value));
                }
                // The `D` key is the graph's dataset key.
                Some(PREFIX_GRAPH_DATASET) => {}
                _ => match value {
                    Some(value) => batch.insert(key, value),
                    None => batch.remove(key),
                },
            }
        }
        for (dataset, writes) in datasets {
            let stored = match read.remove(&dataset) {
                Some(stored) => stored,
                None => db.get(&dataset)?,
            };
            match writes.fold_into(&dataset, stored)? {
                Some(value) => batch.insert(dataset, value),
                None => batch.remove(dataset),
            }
        }
        drop(db);
        self.write_batch(batch)?;
        if puts_alias {
            self.has_aliases.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    /// Applies `writes` to the database as one atomic batch and, while an online compaction
    /// runs, to its copy for the keys the copy holds already (`online`). Every write to the
    /// database goes through here or [`Self::write_keys`].
    fn write_batch(&self, writes: Writes) -> Result<()> {
        let mut copy = self.lock_compaction();
        let db = self.db()?;
        match copy.as_mut() {
            // The writes are kept for the copy only while a compaction runs: otherwise they
            // move into sled's batch as they are.
            Some(copy) => {
                db.apply_batch(online::sled_batch(writes.0.iter().cloned()))?;
                copy.mirror(&writes.0);
            }
            None => db.apply_batch(online::sled_batch(writes.0))?,
        }
        Ok(())
    }

    /// Runs a write [`Self::write_batch`] cannot express (a compare-and-swap) under the
    /// compaction lock, then gives an online compaction's copy the values `keys` have now.
    fn write_keys<T>(&self, keys: &[&[u8]], write: impl FnOnce(&sled::Db) -> Result<T>) -> Result<T> {
        let mut copy = self.lock_compaction();
        let db = self.db()?;
        let written = write(&db)?;
        if let Some(copy) = copy.as_mut() {
            let mut now = Vec::with_capacity(keys.len());
            for key in keys {
                now.push((sled::IVec::from(*key), db.get(key)?));
            }
            copy.mirror(&now);
        }
        Ok(written)
    }

    /// Reads as the store will be once `group` is committed: the writer's view while it
    /// applies the events of a group one after the other.
    pub fn view<'a>(&'a self, group: &'a GroupWrite) -> View<'a> {
        View { store: self, group }
    }

    /// The value of `key` (as the callers name it) as the store holds it, or as `group` will
    /// leave it: a dataset's record (`D`), facet values (`F`) and graph key (`N`) are read out
    /// of its one stored `D` value (`fold`).
    fn get_in(&self, group: Option<&GroupWrite>, key: &[u8]) -> Result<Option<sled::IVec>> {
        if let Some(written) = group.and_then(|group| group.writes.get(key)) {
            return Ok(written.clone());
        }
        match key.first().copied() {
            Some(PREFIX_DATASET) => {
                let Some(value) = self.stored_dataset(group, key)? else { return Ok(None) };
                let record = fold::Folded::record(&value).map_err(|reason| corrupt(key, reason))?;
                Ok(record.map(|range| value.subslice(range.start, range.len())))
            }
            Some(PREFIX_DATASET_FACET) => {
                let Some((dataset, facet)) = fold::split_facet_key(key) else { return Ok(None) };
                self.folded_part(group, &dataset, |folded, value| folded.facet(value, facet))
            }
            Some(PREFIX_GRAPH_DATASET) => {
                let dataset = fold::dataset_of_graph_key(key);
                let written = group.and_then(|group| group.writes.get(dataset.as_slice()));
                let exists = match written {
                    Some(written) => written.is_some(),
                    None => self.db()?.contains_key(&dataset)?,
                };
                Ok(exists.then(sled::IVec::default))
            }
            _ => Ok(self.db()?.get(key)?),
        }
    }

    /// A dataset's stored `D` value; read while `group` is applied, it is kept for the group's
    /// commit (see `GroupWrite::read_datasets`).
    fn stored_dataset(&self, group: Option<&GroupWrite>, dataset: &[u8]) -> Result<Option<sled::IVec>> {
        let Some(group) = group else { return Ok(self.db()?.get(dataset)?) };
        // The map's lock is never held while the database is read (nor any lock taken under it).
        let read = || group.read_datasets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(stored) = read().get(dataset).cloned() {
            return Ok(stored);
        }
        let stored = self.db()?.get(dataset)?;
        read().insert(dataset.to_vec(), stored.clone());
        Ok(stored)
    }

    /// One part of a dataset's stored `D` value (`dataset`), as `part` finds it.
    fn folded_part(
        &self,
        group: Option<&GroupWrite>,
        dataset: &[u8],
        part: impl FnOnce(&fold::Folded, &[u8]) -> Option<std::ops::Range<usize>>,
    ) -> Result<Option<sled::IVec>> {
        let Some(value) = self.stored_dataset(group, dataset)? else { return Ok(None) };
        let folded = fold::Folded::read(&value).map_err(|reason| corrupt(dataset, reason))?;
        Ok(part(&folded, &value).map(|range| value.subslice(range.start, range.len())))
    }

    /// An event's stored form (codec byte + canonical JSON, lz4 when this store compresses),
    /// made by the caller before the event reaches the writer: compressing a large event is
    /// the writer's biggest single cost otherwise, and callers run in parallel.
    pub fn encode_event(&self, canonical: &[u8]) -> EncodedEvent {
        let newest =
            self.compress.then(|| self.dictionaries.read().unwrap_or_else(|poisoned| poisoned.into_inner()).newest());
        match newest.flatten() {
            Some(dictionary) => EncodedEvent::new(dictionary.compress(canonical)),
            None => EncodedEvent::new(encode_blob(canonical, self.compress)),
        }
    }

    /// Starts the writes of one event.
    pub fn write(&self) -> EventWrite {
        EventWrite { batch: Writes::default(), compress: self.compress, puts_alias: false }
    }

    /// Whether the store holds enough new events to train an event dictionary (see
    /// [`dictionary`]); cheap enough to ask after every group.
    pub fn event_dictionary_due(&self) -> Result<bool> {
        if !self.compress || self.training.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(false);
        }
        let events = self.last_sequence()?;
        Ok(self.dictionaries.read().unwrap_or_else(|poisoned| poisoned.into_inner()).due(events))
    }

    /// The ids of the stored event dictionaries, oldest first.
    pub fn event_dictionaries(&self) -> Vec<u32> {
        self.dictionaries.read().unwrap_or_else(|poisoned| poisoned.into_inner()).ids()
    }

    /// Trains a dictionary on the most recent committed events, stores it durably, then lets
    /// new events be compressed with it. `None` when none is due, another training is under
    /// way, or zstd found nothing to learn (then the next try waits for the next threshold).
    /// Runs beside the writer: it reads committed events and writes one key of its own.
    pub fn train_event_dictionary(&self) -> Result<Option<DictionaryTrained>> {
        use std::sync::atomic::Ordering;
        if !self.event_dictionary_due()? || self.training.swap(true, Ordering::AcqRel) {
            return Ok(None);
        }
        let trained = self.train_event_dictionary_now();
        self.training.store(false, Ordering::Release);
        trained
    }

    fn train_event_dictionary_now(&self) -> Result<Option<DictionaryTrained>> {
        let started = std::time::Instant::now();
        let db = self.db()?;
        let (most, budget) = dictionary::sample_limits();
        let mut samples = Vec::new();
        let (mut sample_bytes, mut last) = (0usize, 0u64);
        for entry in reverse::Descending::prefix(&db, &[PREFIX_EVENT], 9) {
            let (key, value) = entry?;
            let sequence = read_u64(&key[1..]);
            last = last.max(sequence);
            let event = self.decode_event(&key, &value)?;
            sample_bytes += event.len();
            samples.push(event);
            if samples.len() >= most || sample_bytes >= budget {
                break;
            }
        }
        let Some(bytes) = dictionary::train(&samples) else {
            self.dictionaries.write().unwrap_or_else(|poisoned| poisoned.into_inner()).gave_up_at = last.max(1);
            return Ok(None);
        };
        let id = self.dictionaries.read().unwrap_or_else(|poisoned| poisoned.into_inner()).next_id();
        let Some(ready) = dictionary::EventDictionary::new(id, last, &bytes) else {
            self.dictionaries.write().unwrap_or_else(|poisoned| poisoned.into_inner()).gave_up_at = last.max(1);
            return Ok(None);
        };
        // Durable before any event may name it.
        let mut stored = Writes::default();
        stored.insert(dictionary::dictionary_key(id), dictionary::EventDictionary::stored_value(last, &bytes));
        self.write_batch(stored)?;
        self.flush()?;
        self.dictionaries.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(ready);
        Ok(Some(DictionaryTrained {
            id,
            trained_at: last,
            samples: samples.len(),
            sample_bytes,
            dictionary_bytes: bytes.len(),
            elapsed: started.elapsed(),
        }))
    }

    pub fn last_sequence(&self) -> Result<u64> {
        self.last_sequence_in(None)
    }

    fn last_sequence_in(&self, group: Option<&GroupWrite>) -> Result<u64> {
        Ok(self.get_in(group, META_SEQUENCE)?.map(|bytes| read_u64(&bytes)).unwrap_or(0))
    }

    pub fn sequence_of_hash(&self, hash: u128) -> Result<Option<u64>> {
        self.sequence_of_hash_in(None, hash)
    }

    fn sequence_of_hash_in(&self, group: Option<&GroupWrite>, hash: u128) -> Result<Option<u64>> {
        Ok(self.get_in(group, &hash_key(hash))?.map(|bytes| read_u64(&bytes)))
    }

    /// The canonical JSON of event `sequence`.
    pub fn event(&self, sequence: u64) -> Result<Option<Vec<u8>>> {
        let key = event_key(sequence);
        match self.db()?.get(key)? {
            Some(stored) => Ok(Some(self.decode_event(&key, &stored)?)),
            None => Ok(None),
        }
    }

    /// Events after `after` in ingest order, at most `limit`.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let start = event_key(after.saturating_add(1));
        let end = [PREFIX_EVENT + 1];
        let mut events = Vec::new();
        for entry in self.db()?.range(start.as_slice()..end.as_slice()).take(limit) {
            let (key, value) = entry?;
            events.push((read_u64(&key[1..]), self.decode_event(&key, &value)?));
        }
        Ok(events)
    }

    pub fn dataset(&self, id: &DatasetId) -> Result<Option<DatasetRecord>> {
        self.dataset_in(None, id)
    }

    fn dataset_in(&self, group: Option<&GroupWrite>, id: &DatasetId) -> Result<Option<DatasetRecord>> {
        self.get_record(group, &name_key(PREFIX_DATASET, &id.namespace, &id.name), codec::decode_dataset)
    }

    /// One current facet value of a dataset.
    pub fn dataset_facet(&self, id: &DatasetId, key: &str) -> Result<Option<serde_json::Value>> {
        self.dataset_facet_in(None, id, key)
    }

    fn dataset_facet_in(
        &self,
        group: Option<&GroupWrite>,
        id: &DatasetId,
        key: &str,
    ) -> Result<Option<serde_json::Value>> {
        let key = facet_key(id, key);
        match self.get_in(group, &key)? {
            Some(stored) => Ok(Some(self.decode_facet(group, &key, &stored, &mut None)?)),
            None => Ok(None),
        }
    }

    /// Every current facet value of a dataset, by key.
    pub fn dataset_facets(&self, id: &DatasetId) -> Result<serde_json::Map<String, serde_json::Value>> {
        let mut facets = serde_json::Map::new();
        let dataset = name_key(PREFIX_DATASET, &id.namespace, &id.name);
        let Some(value) = self.db()?.get(&dataset)? else { return Ok(facets) };
        let folded = fold::Folded::read(&value).map_err(|reason| corrupt(&dataset, reason))?;
        // A dataset's facets often come from one event: it is decompressed once.
        let mut event = None;
        for (name, stored) in folded.facets {
            let name = String::from_utf8_lossy(&value[name]).into_owned();
            let key = facet_key(id, &name);
            facets.insert(name, self.decode_facet(None, &key, &value[stored], &mut event)?);
        }
        Ok(facets)
    }

    /// A stored facet value: inline JSON, or a reference into a stored event's canonical JSON
    /// (read through `group`, whose events may not be committed yet). `event` keeps the last
    /// event read, for the next value.
    fn decode_facet(
        &self,
        group: Option<&GroupWrite>,
        key: &[u8],
        stored: &[u8],
        event: &mut Option<(u64, Vec<u8>)>,
    ) -> Result<serde_json::Value> {
        let Some(reference) = FacetReference::decode(stored) else {
            return decode_value(key, stored);
        };
        let reference = reference.map_err(|reason| corrupt(key, reason))?;
        self.referenced_value(group, key, reference, event)
    }

    /// The JSON value a reference points at in a stored event (see [`Self::decode_facet`]).
    fn referenced_value(
        &self,
        group: Option<&GroupWrite>,
        key: &[u8],
        reference: FacetReference,
        event: &mut Option<(u64, Vec<u8>)>,
    ) -> Result<serde_json::Value> {
        if event.as_ref().is_none_or(|(sequence, _)| *sequence != reference.sequence) {
            let event_key = event_key(reference.sequence);
            let Some(stored_event) = self.get_in(group, &event_key)? else {
                return Err(corrupt(key, format!("the value is in event {}, which is not stored", reference.sequence)));
            };
            *event = Some((reference.sequence, self.decode_event(&event_key, &stored_event)?));
        }
        let json = event.as_ref().map(|(_, json)| json.as_slice()).unwrap_or_default();
        let bytes = json.get(reference.range()).ok_or_else(|| {
            corrupt(
                key,
                format!(
                    "the value's bytes {:?} lie outside event {} ({} bytes)",
                    reference.range(),
                    reference.sequence,
                    json.len()
                ),
            )
        })?;
        serde_json::from_slice(bytes).map_err(|error| {
            corrupt(key, format!("the value at {:?} of event {}: {error}", reference.range(), reference.sequence))
        })
    }

    pub fn job(&self, id: &JobId) -> Result<Option<JobRecord>> {
        self.job_in(None, id)
    }

    fn job_in(&self, group: Option<&GroupWrite>, id: &JobId) -> Result<Option<JobRecord>> {
        self.get_record(group, &name_key(PREFIX_JOB, &id.namespace, &id.name), codec::decode_job)
    }

    pub fn run(&self, id: &RunId) -> Result<Option<RunRecord>> {
        self.run_in(None, id)
    }

    fn run_in(&self, group: Option<&GroupWrite>, id: &RunId) -> Result<Option<RunRecord>> {
        self.get_record(group, &run_key(id), codec::decode_run)
    }

    /// The canonical dataset an alias name resolves to, if it is an alias.
    pub fn alias(&self, id: &DatasetId) -> Result<Option<DatasetId>> {
        self.alias_in(None, id)
    }

    fn alias_in(&self, group: Option<&GroupWrite>, id: &DatasetId) -> Result<Option<DatasetId>> {
        let pending = group.is_some_and(|group| group.puts_alias);
        if !pending && !self.has_aliases.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(None);
        }
        let Some(value) = self.get_in(group, &name_key(PREFIX_ALIAS, &id.namespace, &id.name))? else {
            return Ok(None);
        };
        decode_alias(id, &value).map(Some)
    }

    /// The alias `group` itself writes for `id`, if any; the committed ones are not read.
    fn pending_alias_in(&self, group: &GroupWrite, id: &DatasetId) -> Result<Option<DatasetId>> {
        if !group.puts_alias {
            return Ok(None);
        }
        match group.writes.get(name_key(PREFIX_ALIAS, &id.namespace, &id.name).as_slice()) {
            Some(Some(value)) => decode_alias(id, value).map(Some),
            _ => Ok(None),
        }
    }

    pub fn schema_version(&self, dataset: &DatasetId, hash: &str) -> Result<Option<SchemaVersionRecord>> {
        self.schema_version_in(None, dataset, hash)
    }

    fn schema_version_in(
        &self,
        group: Option<&GroupWrite>,
        dataset: &DatasetId,
        hash: &str,
    ) -> Result<Option<SchemaVersionRecord>> {
        let key = schema_key(dataset, hash);
        match self.get_in(group, &key)? {
            Some(value) => self.decode_schema_version(group, &key, &value).map(Some),
            None => Ok(None),
        }
    }

    /// Where a schema version's `fields` lie in the event that first showed them, when it is
    /// stored by reference.
    pub fn schema_version_span(&self, dataset: &DatasetId, hash: &str) -> Result<Option<std::ops::Range<usize>>> {
        Ok(self.stored_schema_version_in(None, dataset, hash)?.and_then(|version| version.fields_span()))
    }

    /// A schema version as stored, its `fields` left unread when they are a reference into
    /// an event (to rewrite its times without reading that event).
    fn stored_schema_version_in(
        &self,
        group: Option<&GroupWrite>,
        dataset: &DatasetId,
        hash: &str,
    ) -> Result<Option<StoredSchemaVersion>> {
        let key = schema_key(dataset, hash);
        let Some(value) = self.get_in(group, &key)? else { return Ok(None) };
        if value.first() != Some(&CODEC_SCHEMA_SPAN) {
            return decode_record(&key, &value).map(|record| Some(StoredSchemaVersion(StoredFields::Inline(record))));
        }
        let span = SchemaSpan::decode(&value).map_err(|reason| corrupt(&key, reason))?;
        if span.format > RECORD_FORMAT {
            return Err(StoreError::UnsupportedRecord {
                key: String::from_utf8_lossy(&key).into_owned(),
                found: span.format,
            });
        }
        Ok(Some(StoredSchemaVersion(StoredFields::Referenced(span))))
    }

    /// Every distinct schema of the dataset, oldest first.
    pub fn schema_versions(&self, dataset: &DatasetId) -> Result<Vec<SchemaVersionRecord>> {
        let prefix = name_prefix(PREFIX_SCHEMA, &dataset.namespace, &dataset.name);
        let mut versions = Vec::new();
        for entry in self.db()?.scan_prefix(&prefix) {
            let (key, value) = entry?;
            versions.push(self.decode_schema_version(None, &key, &value)?);
        }
        versions.sort_by_key(|version| (version.first_seen, version.first_sequence));
        Ok(versions)
    }

    /// A stored schema version: JSON, or by reference (its `fields` read from the event).
    fn decode_schema_version(
        &self,
        group: Option<&GroupWrite>,
        key: &[u8],
        value: &[u8],
    ) -> Result<SchemaVersionRecord> {
        if value.first() != Some(&CODEC_SCHEMA_SPAN) {
            return decode_record(key, value);
        }
        let span = SchemaSpan::decode(value).map_err(|reason| corrupt(key, reason))?;
        if span.format > RECORD_FORMAT {
            return Err(StoreError::UnsupportedRecord {
                key: String::from_utf8_lossy(key).into_owned(),
                found: span.format,
            });
        }
        let hash = key.rsplit(|&byte| byte == 0).next().unwrap_or_default();
        let hash = std::str::from_utf8(hash).map_err(|_| corrupt(key, "the schema hash is not text".into()))?;
        let fields = self.referenced_value(group, key, span.fields, &mut None)?;
        Ok(SchemaVersionRecord {
            format: span.format,
            hash: hash.to_owned(),
            fields,
            first_seen: Timestamp(span.first_seen),
            last_seen: Timestamp(span.last_seen),
            first_sequence: span.fields.sequence,
        })
    }

    /// The job's greatest observation, skipping `except` (one being replaced).
    pub fn best_observation(&self, job: &JobId, except: Option<&ObservationKey>) -> Result<Option<Observation>> {
        self.best_observation_in(None, job, except)
    }

    /// [`Self::best_observation`] as `group` will leave the store: the greatest of the stored
    /// observations the group leaves alone and the ones it writes (keys sort like observations).
    fn best_observation_in(
        &self,
        group: Option<&GroupWrite>,
        job: &JobId,
        except: Option<&ObservationKey>,
    ) -> Result<Option<Observation>> {
        let prefix = name_prefix(PREFIX_OBSERVATION, &job.namespace, &job.name);
        let skip = except.map(|key| observation_key(job, key));
        let mut stored = None;
        // Observation keys: prefix, then the 26 bytes of `ObservationKey::to_bytes`; the search
        // works to the precision of its first 9 (settled, time), which tell them apart.
        for entry in reverse::Descending::prefix(&self.db()?, &prefix, prefix.len() + 9) {
            let (key, value) = entry?;
            if skip.as_deref() == Some(key.as_ref()) || group.is_some_and(|group| group.writes.contains_key(&key[..])) {
                continue;
            }
            stored = Some((key, value));
            break;
        }
        let mut pending = None;
        if let Some(group) = group {
            let range =
                group.writes.range::<[u8], _>((std::ops::Bound::Included(&prefix[..]), std::ops::Bound::Unbounded));
            for (key, value) in range.take_while(|(key, _)| key.starts_with(&prefix)) {
                if let Some(value) = value
                    && skip.as_deref() != Some(key.as_ref())
                {
                    pending = Some((key.clone(), value.clone()));
                }
            }
        }
        let best = match (stored, pending) {
            (Some(stored), Some(pending)) => Some(if pending.0 > stored.0 { pending } else { stored }),
            (stored, pending) => stored.or(pending),
        };
        match best {
            Some((key, value)) => decode_stored(&key, &value, |_, bytes| codec::decode_observation(bytes)).map(Some),
            None => Ok(None),
        }
    }

    /// The job's runs, most recent start first.
    pub fn job_runs(&self, job: &JobId, limit: usize) -> Result<Vec<RunId>> {
        let prefix = name_prefix(PREFIX_JOB_RUN, &job.namespace, &job.name);
        self.timeline(&prefix, limit)
    }

    /// Runs that read or wrote the dataset, most recent start first.
    pub fn dataset_runs(&self, dataset: &DatasetId, limit: usize) -> Result<Vec<RunId>> {
        let prefix = name_prefix(PREFIX_DATASET_RUN, &dataset.namespace, &dataset.name);
        self.timeline(&prefix, limit)
    }

    fn timeline(&self, prefix: &[u8], limit: usize) -> Result<Vec<RunId>> {
        let mut runs = Vec::new();
        // Timeline keys: prefix, sortable time (8 bytes), run id (16 bytes); the search works to
        // the precision of the time.
        for entry in reverse::Descending::prefix(&self.db()?, prefix, prefix.len() + 8).take(limit) {
            let (key, _) = entry?;
            let tail = key.get(key.len().saturating_sub(16)..).unwrap_or_default();
            let bytes: [u8; 16] = tail.try_into().map_err(|_| StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "timeline key too short".into(),
            })?;
            runs.push(RunId(uuid::Uuid::from_bytes(bytes)));
        }
        Ok(runs)
    }

    /// Every job record (index rebuild at start-up).
    pub fn scan_jobs(&self) -> impl Iterator<Item = Result<JobRecord>> + '_ {
        self.scan_entries([PREFIX_JOB]).map(|entry| {
            let (key, value) = entry?;
            decode_stored(&key, &value, codec::decode_job)
        })
    }

    /// Every dataset id (index rebuild at start-up): the keys of the dataset records, which
    /// are the graph's dataset keys (`fold`).
    pub fn scan_dataset_ids(&self) -> impl Iterator<Item = Result<DatasetId>> + '_ {
        self.scan_name_keys(PREFIX_DATASET)
    }

    /// Every job with its current inputs and outputs, from the graph keyspace (index
    /// rebuild at start-up).
    pub fn scan_job_io(&self) -> impl Iterator<Item = Result<(JobId, Vec<DatasetId>, Vec<DatasetId>)>> + '_ {
        self.scan_entries([PREFIX_GRAPH_JOB]).map(|entry| {
            let (key, value) = entry?;
            let id = decode_name_key(&key).ok_or_else(|| StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "job key is not namespace NUL name".into(),
            })?;
            let (inputs, outputs) = decode_job_io(&key, &value)?;
            Ok((JobId::new(id.namespace, id.name), inputs, outputs))
        })
    }

    /// Whether the graph holds the dataset (it has a stored record).
    pub fn has_graph_dataset(&self, id: &DatasetId) -> Result<bool> {
        Ok(self.db()?.contains_key(name_key(PREFIX_DATASET, &id.namespace, &id.name))?)
    }

    /// One job's current inputs and outputs from the graph keyspace, if it has an entry.
    pub fn graph_job_io(&self, job: &JobId) -> Result<Option<(Vec<DatasetId>, Vec<DatasetId>)>> {
        let key = name_key(PREFIX_GRAPH_JOB, &job.namespace, &job.name);
        match self.db()?.get(&key)? {
            Some(value) => Ok(Some(decode_job_io(&key, &value)?)),
            None => Ok(None),
        }
    }

    /// Fills the graph keyspace from the dataset and job records when a store written by
    /// an earlier build lacks it; returns whether it had to. Durable when it returns.
    pub fn ensure_graph_keys(&self) -> Result<bool> {
        if self.db()?.get(META_GRAPH_KEYS)?.is_some() {
            return Ok(false);
        }
        let mut write = self.write();
        for id in self.scan_name_keys(PREFIX_DATASET) {
            write.put_graph_dataset(&id?);
        }
        for job in self.scan_jobs() {
            let job = job?;
            write.put_job_io(&job.id, &job.inputs, &job.outputs)?;
        }
        write.batch.insert(META_GRAPH_KEYS, &[1u8]);
        self.commit(write)?;
        self.flush()?;
        Ok(true)
    }

    fn scan_name_keys(&self, prefix: u8) -> impl Iterator<Item = Result<DatasetId>> + '_ {
        self.scan_entries([prefix]).map(|entry| {
            let (key, _) = entry?;
            decode_name_key(&key).ok_or_else(|| StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "dataset key is not namespace NUL name".into(),
            })
        })
    }

    /// Every dataset's column lineage (index rebuild at start-up).
    pub fn scan_column_lineage(&self) -> impl Iterator<Item = Result<(DatasetId, Vec<ColumnEdgeSpec>)>> + '_ {
        self.scan_entries([PREFIX_COLUMN_LINEAGE]).map(|entry| {
            let (key, value) = entry?;
            let output = decode_name_key(&key).ok_or_else(|| StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "column lineage key is not namespace NUL name".into(),
            })?;
            Ok((output, decode_column_lineage(&key, &value)?))
        })
    }

    /// The column lineage stored for one output dataset (empty when none).
    pub fn column_lineage(&self, output: &DatasetId) -> Result<Vec<ColumnEdgeSpec>> {
        self.column_lineage_in(None, output)
    }

    fn column_lineage_in(&self, group: Option<&GroupWrite>, output: &DatasetId) -> Result<Vec<ColumnEdgeSpec>> {
        let key = name_key(PREFIX_COLUMN_LINEAGE, &output.namespace, &output.name);
        match self.get_in(group, &key)? {
            Some(value) => decode_column_lineage(&key, &value),
            None => Ok(Vec::new()),
        }
    }

    /// The current version of a mesh document.
    pub fn document(&self, kind: DocumentKind, id: &str) -> Result<Option<DocumentRecord>> {
        let (current, _) = kind.prefixes();
        let mut key = vec![current];
        key.extend_from_slice(id.as_bytes());
        self.get_json(None, &key)
    }

    /// Every applied version of a mesh document, oldest first.
    pub fn document_versions(&self, kind: DocumentKind, id: &str) -> Result<Vec<DocumentRecord>> {
        let (_, versions) = kind.prefixes();
        let mut prefix = vec![versions];
        prefix.extend_from_slice(id.as_bytes());
        prefix.push(0);
        self.scan_json(&prefix)
    }

    /// The current version of every mesh document of a kind.
    pub fn scan_documents(&self, kind: DocumentKind) -> Result<Vec<DocumentRecord>> {
        self.scan_documents_as(kind)
    }

    /// [`Self::scan_documents`] with each body read into `B` (`Box<RawValue>`: its text, for
    /// a reader that parses it into its own type; a body `B` cannot read fails the scan).
    pub fn scan_documents_as<B: DeserializeOwned>(&self, kind: DocumentKind) -> Result<Vec<DocumentRecord<B>>> {
        let (current, _) = kind.prefixes();
        self.scan_json(&[current])
    }

    /// Stores a new version of a mesh document and makes it current, durably.
    pub fn put_document(&self, kind: DocumentKind, record: &DocumentRecord) -> Result<()> {
        self.put_document_audited(kind, record, None)
    }

    /// [`Self::put_document`] with the audit entry of the apply, in the same atomic write.
    pub fn put_document_audited(
        &self,
        kind: DocumentKind,
        record: &DocumentRecord,
        audit: Option<&tributary_model::AuditRecord>,
    ) -> Result<()> {
        let (current, versions) = kind.prefixes();
        let value = serde_json::to_vec(record)
            .map_err(|error| StoreError::Encode { key: record.id.clone(), reason: error.to_string() })?;
        let mut current_key = vec![current];
        current_key.extend_from_slice(record.id.as_bytes());
        let mut version_key = vec![versions];
        version_key.extend_from_slice(record.id.as_bytes());
        version_key.push(0);
        version_key.extend_from_slice(&record.version.to_be_bytes());
        // Behind the codec byte like every other record (bare JSON from earlier builds reads).
        let stored = encode_blob(&value, self.compress);
        let mut batch = Writes::default();
        batch.insert(current_key, stored.clone());
        batch.insert(version_key, stored);
        if let Some(audit) = audit {
            self.add_audit(&mut batch, audit)?;
        }
        self.write_batch(batch)?;
        self.flush()
    }

    /// Datasets and jobs whose `ownership` facet names `owner`.
    pub fn nodes_owned_by(&self, owner: &str) -> Result<Vec<NodeRef>> {
        self.labelled(PREFIX_OWNER, owner)
    }

    /// Every dataset and job the owner index lists, with its owners and their roles (one scan
    /// of the index, in node order). A node with an entry that does not record its role (an
    /// entry written before roles were kept) is listed with `None`: read its facet instead.
    /// Keys are read from the end: namespaces and names hold no NUL, owners may.
    pub fn owners_by_node(&self) -> Result<OwnersByNode> {
        let mut nodes = OwnersByNode::new();
        for entry in self.db()?.scan_prefix([PREFIX_OWNER]) {
            let (key, value) = entry?;
            let corrupt = |reason: &str| StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: reason.into(),
            };
            let (owner, node) = key
                .iter()
                .rposition(|&b| b == 0)
                .and_then(|name_at| {
                    let owner_end = key[..name_at].iter().rposition(|&b| b == 0)?;
                    let owner = std::str::from_utf8(&key[1..owner_end]).ok()?;
                    Some((owner, decode_label_key(&key, owner_end + 1)?))
                })
                .ok_or_else(|| corrupt("owner key is not owner NUL kind namespace NUL name"))?;
            let role = keys::decode_owner_value(&value).map_err(corrupt)?;
            let owners = nodes.entry(node).or_insert_with(|| Some(BTreeMap::new()));
            match role {
                Some(role) => {
                    if let Some(owners) = owners {
                        owners.insert(owner.to_owned(), role);
                    }
                }
                // The role is not recorded: the node's owners come from its facet.
                None => *owners = None,
            }
        }
        Ok(nodes)
    }

    /// Datasets and jobs whose `tags` facet carries `tag` (compared in lower case).
    pub fn nodes_tagged(&self, tag: &str) -> Result<Vec<NodeRef>> {
        self.labelled(PREFIX_TAG, &tag.to_lowercase())
    }

    /// Columns whose dataset's `tags` facet tags them with `tag` (lower case).
    pub fn columns_tagged(&self, tag: &str) -> Result<Vec<(DatasetId, String)>> {
        let mut prefix = vec![PREFIX_COLUMN_TAG];
        prefix.extend_from_slice(tag.to_lowercase().as_bytes());
        prefix.push(0);
        let mut columns = Vec::new();
        for entry in self.db()?.scan_prefix(&prefix) {
            let (key, _) = entry?;
            let rest = &key[prefix.len()..];
            let mut parts = rest.splitn(3, |&b| b == 0);
            let (Some(namespace), Some(name), Some(field)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "column tag key is not tag NUL ns NUL name NUL field".into(),
                });
            };
            columns.push((
                DatasetId::new(String::from_utf8_lossy(namespace), String::from_utf8_lossy(name)),
                String::from_utf8_lossy(field).into_owned(),
            ));
        }
        Ok(columns)
    }

    fn labelled(&self, prefix: u8, label: &str) -> Result<Vec<NodeRef>> {
        let mut start = vec![prefix];
        start.extend_from_slice(label.as_bytes());
        start.push(0);
        let mut nodes = Vec::new();
        for entry in self.db()?.scan_prefix(&start) {
            let (key, _) = entry?;
            nodes.push(decode_label_key(&key, start.len()).ok_or_else(|| StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "label key is not label NUL kind namespace NUL name".into(),
            })?);
        }
        Ok(nodes)
    }

    /// Records a schema change (not flushed: call [`Self::flush`]).
    pub fn put_schema_change(&self, record: &SchemaChangeRecord) -> Result<()> {
        let mut batch = Writes::default();
        self.schema_change_write(&mut batch, record)?;
        self.write_batch(batch)
    }

    /// Records the schema change seen in event `record.sequence` for `record.dataset`, and
    /// removes it from the changes waiting ([`Self::seen_schema_changes`]), in one atomic
    /// batch (not flushed: call [`Self::flush`]).
    pub fn record_seen_schema_change(&self, record: &SchemaChangeRecord) -> Result<()> {
        let mut batch = Writes::default();
        self.schema_change_write(&mut batch, record)?;
        batch.remove(seen_schema_change_key(record.sequence, &record.dataset));
        self.write_batch(batch)
    }

    /// Removes a seen schema change that will not be recorded (its versions are gone, or it
    /// cannot be classified).
    pub fn drop_seen_schema_change(&self, seen: &SeenSchemaChange) -> Result<()> {
        let mut batch = Writes::default();
        batch.remove(seen_schema_change_key(seen.sequence, &seen.dataset));
        self.write_batch(batch)
    }

    /// Schema changes seen in ingested events and not recorded yet, in event order, at most
    /// `limit`.
    pub fn seen_schema_changes(&self, limit: usize) -> Result<Vec<SeenSchemaChange>> {
        let mut found = Vec::new();
        for entry in self.scan_entries([PREFIX_SEEN_SCHEMA_CHANGE]).take(limit) {
            let (key, value) = entry?;
            found.push(decode_record(&key, &value)?);
        }
        Ok(found)
    }

    fn schema_change_write(&self, batch: &mut Writes, record: &SchemaChangeRecord) -> Result<()> {
        let mut key = vec![PREFIX_SCHEMA_CHANGE];
        key.extend_from_slice(&record.time.sortable_bytes());
        key.extend_from_slice(&record.sequence.to_be_bytes());
        key.extend_from_slice(record.dataset.namespace.as_bytes());
        key.push(0);
        key.extend_from_slice(record.dataset.name.as_bytes());
        let value = serde_json::to_vec(record).map_err(|error| StoreError::Encode {
            key: String::from_utf8_lossy(&key).into_owned(),
            reason: error.to_string(),
        })?;
        batch.insert(key, encode_blob(&value, self.compress));
        Ok(())
    }

    /// Every key and stored value under a one-byte prefix, in key order, as stored (for
    /// `verify`, which compares two stores byte for byte).
    pub fn scan_raw(&self, prefix: u8) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_ {
        self.scan_entries([prefix]).map(|entry| {
            let (key, value) = entry?;
            Ok((key.to_vec(), value.to_vec()))
        })
    }

    /// Whether two stored values of `key` say the same: equal bytes, or equal once read (a
    /// record in JSON from an earlier build and the same record in the binary layout, a value
    /// compressed and one not, a facet value inline and the same value as a reference into
    /// the event log). `a` is read from `self`, `b` from `other`. `verify` compares a store
    /// with its rebuild through this.
    pub fn same_stored(&self, other: &Store, key: &[u8], a: &[u8], b: &[u8]) -> bool {
        if a == b {
            return true;
        }
        fn same<T: PartialEq>(a: Result<T>, b: Result<T>) -> bool {
            matches!((a, b), (Ok(a), Ok(b)) if a == b)
        }
        match key.first().copied() {
            // The record as read, and each facet value by content (inline or by reference).
            Some(PREFIX_DATASET) => {
                let read = |store: &Store, value: &[u8]| -> Result<_> {
                    let folded = fold::Folded::read(value).map_err(|reason| corrupt(key, reason))?;
                    let record = match folded.record {
                        Some(range) => Some(decode_stored(key, &value[range], codec::decode_dataset)?),
                        None => None,
                    };
                    let facets = folded
                        .facets
                        .into_iter()
                        .map(|(name, stored)| {
                            Ok((value[name].to_vec(), store.decode_facet(None, key, &value[stored], &mut None)?))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Ok((record, facets))
                };
                same(read(self, a), read(other, b))
            }
            Some(PREFIX_JOB) => {
                same(decode_stored(key, a, codec::decode_job), decode_stored(key, b, codec::decode_job))
            }
            Some(PREFIX_RUN) => {
                same(decode_stored(key, a, codec::decode_run), decode_stored(key, b, codec::decode_run))
            }
            Some(PREFIX_OBSERVATION) => {
                let read = |value| decode_stored(key, value, |_, bytes| codec::decode_observation(bytes));
                same(read(a), read(b))
            }
            Some(PREFIX_GRAPH_JOB) => same(decode_job_io(key, a), decode_job_io(key, b)),
            Some(PREFIX_COLUMN_LINEAGE) => same(decode_column_lineage(key, a), decode_column_lineage(key, b)),
            // Each store's dictionaries are its own: events compare by their canonical JSON.
            Some(PREFIX_EVENT) => same(self.decode_event(key, a), other.decode_event(key, b)),
            // Inline or by reference: the records as read.
            Some(PREFIX_SCHEMA) => {
                same(self.decode_schema_version(None, key, a), other.decode_schema_version(None, key, b))
            }
            // An owner entry of an earlier build records no role (an empty value): it says what
            // any role-recording entry of the same key says.
            Some(PREFIX_OWNER) => matches!(
                (keys::decode_owner_value(a), keys::decode_owner_value(b)),
                (Ok(None), Ok(_)) | (Ok(_), Ok(None))
            ),
            // The other JSON records: the bytes behind the codec.
            Some(_) => same(decode_blob(key, a), decode_blob(key, b)),
            None => false,
        }
    }

    /// Key prefixes of records derived from the event log: `reindex` rebuilds them and
    /// `verify` compares them. Events (`E`) are the source; mesh documents (`P`, `p`, `G`,
    /// `g`) are applied, not derived; schema changes (`C`) are history as reported when seen.
    pub const DERIVED_PREFIXES: [u8; 15] = [
        PREFIX_EVENT,
        PREFIX_HASH,
        PREFIX_DATASET,
        PREFIX_JOB,
        PREFIX_GRAPH_JOB,
        PREFIX_RUN,
        PREFIX_OBSERVATION,
        PREFIX_SCHEMA,
        PREFIX_ALIAS,
        PREFIX_JOB_RUN,
        PREFIX_DATASET_RUN,
        PREFIX_COLUMN_LINEAGE,
        PREFIX_OWNER,
        PREFIX_TAG,
        PREFIX_COLUMN_TAG,
    ];

    /// Recorded schema changes, newest first, that `keep` accepts, at most `limit`.
    pub fn schema_changes(
        &self,
        limit: usize,
        keep: impl Fn(&SchemaChangeRecord) -> bool,
    ) -> Result<Vec<SchemaChangeRecord>> {
        let mut found = Vec::new();
        // Schema change keys: prefix, sortable time, sequence, then the dataset's name; the
        // search works to the precision of the time.
        for entry in reverse::Descending::prefix(&self.db()?, &[PREFIX_SCHEMA_CHANGE], 9) {
            let (key, value) = entry?;
            let record: SchemaChangeRecord = decode_record(&key, &value)?;
            if keep(&record) {
                found.push(record);
                if found.len() >= limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Every alias and its canonical dataset.
    pub fn scan_aliases(&self) -> impl Iterator<Item = Result<(DatasetId, DatasetId)>> + '_ {
        self.scan_entries([PREFIX_ALIAS]).map(|entry| {
            let (key, value) = entry?;
            let corrupt = || StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "alias is not namespace NUL name".into(),
            };
            let alias = decode_name_key(&key).ok_or_else(corrupt)?;
            let (namespace, name) = split_name(&value).ok_or_else(corrupt)?;
            Ok((alias, DatasetId::new(namespace, name)))
        })
    }

    /// A record stored in the binary layout (`binary` reads it) or, from earlier builds, as JSON.
    fn get_record<T: DeserializeOwned + Versioned>(
        &self,
        group: Option<&GroupWrite>,
        key: &[u8],
        binary: fn(&[u8], &[u8]) -> codec::Decoded<T>,
    ) -> Result<Option<T>> {
        match self.get_in(group, key)? {
            Some(value) => decode_stored(key, &value, binary).map(Some),
            None => Ok(None),
        }
    }

    fn get_json<T: DeserializeOwned + Versioned>(&self, group: Option<&GroupWrite>, key: &[u8]) -> Result<Option<T>> {
        match self.get_in(group, key)? {
            Some(value) => decode_record(key, &value).map(Some),
            None => Ok(None),
        }
    }

    fn scan_json<T: DeserializeOwned + Versioned>(&self, prefix: &[u8]) -> Result<Vec<T>> {
        self.db()?
            .scan_prefix(prefix)
            .map(|entry| {
                let (key, value) = entry?;
                decode_record(&key, &value)
            })
            .collect()
    }
}

/// A dataset's writes in one batch, folded into its `D` value at the commit (`fold`).
#[derive(Default)]
struct FoldWrites {
    /// The record's last write (`None` inside: removed), if the batch writes it.
    record: Option<Option<sled::IVec>>,
    /// Facet values in the order written (`None`: removed).
    facets: Vec<(Vec<u8>, Option<sled::IVec>)>,
}

impl FoldWrites {
    /// The dataset's new `D` value from its `stored` one and these writes (`None`: no record
    /// and no facet value is left).
    fn fold_into(self, dataset: &[u8], stored: Option<sled::IVec>) -> Result<Option<Vec<u8>>> {
        let stored = stored.unwrap_or_default();
        let folded = if stored.is_empty() {
            fold::Folded::default()
        } else {
            fold::Folded::read(&stored).map_err(|reason| corrupt(dataset, reason))?
        };
        let mut facets: BTreeMap<&[u8], &[u8]> =
            folded.facets.iter().map(|(key, value)| (&stored[key.clone()], &stored[value.clone()])).collect();
        for (key, value) in &self.facets {
            match value {
                Some(value) => facets.insert(key, value),
                None => facets.remove(key.as_slice()),
            };
        }
        let record = match &self.record {
            Some(written) => written.as_deref(),
            None => folded.record.map(|range| &stored[range]),
        };
        fold::encode(record, facets.into_iter())
            .map_err(|reason| StoreError::Encode { key: String::from_utf8_lossy(dataset).into_owned(), reason })
    }
}

/// What one key prefix holds (see [`Store::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefixStats {
    pub prefix: u8,
    pub keys: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
}

/// The writes of one event, applied atomically by [`Store::commit`].
pub struct EventWrite {
    batch: Writes,
    compress: bool,
    /// The batch stores an alias (see `Store::has_aliases`).
    puts_alias: bool,
}

/// An event's writes in order (a later write of a key replaces an earlier one).
#[derive(Default)]
pub(crate) struct Writes(pub(crate) Vec<(sled::IVec, Option<sled::IVec>)>);

impl Writes {
    pub(crate) fn insert(&mut self, key: impl Into<sled::IVec>, value: impl Into<sled::IVec>) {
        self.0.push((key.into(), Some(value.into())));
    }

    fn remove(&mut self, key: impl Into<sled::IVec>) {
        self.0.push((key.into(), None));
    }
}

/// The writes of a group of whole events, applied as one atomic batch by
/// [`Store::commit_group`]; [`Store::view`] reads through them. A key several events write is
/// kept once, with its last value: a dataset many events of the group mention is written once.
#[derive(Default)]
pub struct GroupWrite {
    writes: std::collections::BTreeMap<sled::IVec, Option<sled::IVec>>,
    puts_alias: bool,
    /// The stored `D` values of the datasets read while the group was applied, as the store
    /// held them before the group: the commit folds the group's writes into them without
    /// reading them again. Only the writer commits dataset records, one group after the other,
    /// so nothing changes them between the read and the commit. A group is read through the
    /// view of the store it is committed to (the writer's; a rebuild's new store).
    read_datasets: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Option<sled::IVec>>>,
}

impl GroupWrite {
    /// Adds the writes of one whole event (after it was applied without error).
    pub fn add(&mut self, write: EventWrite) {
        for (key, value) in write.batch.0 {
            self.writes.insert(key, value);
        }
        self.puts_alias |= write.puts_alias;
    }
}

/// The store as a [`GroupWrite`] will leave it: what the writer reads while it applies the
/// events of a group (see [`Store::view`]).
#[derive(Clone, Copy)]
pub struct View<'a> {
    store: &'a Store,
    group: &'a GroupWrite,
}

impl View<'_> {
    pub fn last_sequence(&self) -> Result<u64> {
        self.store.last_sequence_in(Some(self.group))
    }

    pub fn sequence_of_hash(&self, hash: u128) -> Result<Option<u64>> {
        self.store.sequence_of_hash_in(Some(self.group), hash)
    }

    pub fn dataset(&self, id: &DatasetId) -> Result<Option<DatasetRecord>> {
        self.store.dataset_in(Some(self.group), id)
    }

    pub fn dataset_facet(&self, id: &DatasetId, key: &str) -> Result<Option<serde_json::Value>> {
        self.store.dataset_facet_in(Some(self.group), id, key)
    }

    pub fn job(&self, id: &JobId) -> Result<Option<JobRecord>> {
        self.store.job_in(Some(self.group), id)
    }

    pub fn run(&self, id: &RunId) -> Result<Option<RunRecord>> {
        self.store.run_in(Some(self.group), id)
    }

    pub fn alias(&self, id: &DatasetId) -> Result<Option<DatasetId>> {
        self.store.alias_in(Some(self.group), id)
    }

    /// The alias an earlier event of this group wrote for `id`, without reading the committed
    /// ones (for a caller that holds those in memory).
    pub fn pending_alias(&self, id: &DatasetId) -> Result<Option<DatasetId>> {
        self.store.pending_alias_in(self.group, id)
    }

    pub fn schema_version(&self, dataset: &DatasetId, hash: &str) -> Result<Option<SchemaVersionRecord>> {
        self.store.schema_version_in(Some(self.group), dataset, hash)
    }

    pub fn schema_version_span(&self, dataset: &DatasetId, hash: &str) -> Result<Option<std::ops::Range<usize>>> {
        Ok(self.stored_schema_version(dataset, hash)?.and_then(|version| version.fields_span()))
    }

    /// Whether the dataset has a schema version with this hash (nothing decoded).
    pub fn has_schema_version(&self, dataset: &DatasetId, hash: &str) -> Result<bool> {
        Ok(self.store.get_in(Some(self.group), &schema_key(dataset, hash))?.is_some())
    }

    /// A schema version as stored, its `fields` not read when they are a reference into an
    /// event ([`StoredSchemaVersion`]).
    pub fn stored_schema_version(&self, dataset: &DatasetId, hash: &str) -> Result<Option<StoredSchemaVersion>> {
        self.store.stored_schema_version_in(Some(self.group), dataset, hash)
    }

    pub fn best_observation(&self, job: &JobId, except: Option<&ObservationKey>) -> Result<Option<Observation>> {
        self.store.best_observation_in(Some(self.group), job, except)
    }

    pub fn column_lineage(&self, output: &DatasetId) -> Result<Vec<ColumnEdgeSpec>> {
        self.store.column_lineage_in(Some(self.group), output)
    }

    pub fn source_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>> {
        self.store.source_offset_in(Some(self.group), topic, partition)
    }
}

/// An event as stored, from [`Store::encode_event`].
#[derive(Clone, Debug)]
pub struct EncodedEvent {
    event: Vec<u8>,
    /// The column lineage records of the event's datasets ([`Self::with_column_lineage`]).
    column_lineage: Vec<Option<EncodedColumnLineage>>,
}

/// A dataset's column lineage record as stored, made by the caller off the writer thread
/// ([`EncodedEvent::with_column_lineage`]) and stored with [`EventWrite::put_encoded_column_lineage`].
#[derive(Clone, Debug)]
pub struct EncodedColumnLineage(Vec<u8>);

impl EncodedEvent {
    fn new(event: Vec<u8>) -> Self {
        Self { event, column_lineage: Vec::new() }
    }

    /// Adds the column lineage records of the event's datasets, in the order given (`None`
    /// for a dataset without column lineage): the writer stores one as it is when the
    /// lineage it keeps for that dataset is those edges.
    pub fn with_column_lineage<'a>(mut self, lineage: impl IntoIterator<Item = Option<&'a [ColumnEdgeSpec]>>) -> Self {
        self.column_lineage = lineage
            .into_iter()
            .map(|edges| {
                edges
                    .filter(|edges| !edges.is_empty())
                    .map(|edges| EncodedColumnLineage(codec::encode_column_lineage(edges)))
            })
            .collect();
        self
    }

    /// The records added by [`Self::with_column_lineage`], taken out.
    pub fn take_column_lineage(&mut self) -> Vec<Option<EncodedColumnLineage>> {
        std::mem::take(&mut self.column_lineage)
    }

    /// The event's stored bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.event
    }
}

impl EventWrite {
    /// Stores the event with lz4 (or raw); [`Store::encode_event`] and
    /// [`Self::put_encoded_event`] use the store's event dictionary.
    pub fn put_event(&mut self, sequence: u64, hash: u128, canonical: &[u8]) {
        self.put_encoded_event(sequence, hash, EncodedEvent::new(encode_blob(canonical, self.compress)));
    }

    /// [`Self::put_event`] with the stored form made beforehand ([`Store::encode_event`] of
    /// the same store, so the codec matches its configuration).
    pub fn put_encoded_event(&mut self, sequence: u64, hash: u128, encoded: EncodedEvent) {
        self.batch.insert(&event_key(sequence), encoded.event);
        self.batch.insert(&hash_key(hash), &sequence.to_be_bytes());
        self.batch.insert(META_SEQUENCE, &sequence.to_be_bytes());
    }

    pub fn put_dataset(&mut self, record: &DatasetRecord) -> Result<()> {
        self.batch
            .insert(name_key(PREFIX_DATASET, &record.id.namespace, &record.id.name), codec::encode_dataset(record));
        Ok(())
    }

    /// Stores a dataset facet's value (compressed like events).
    pub fn put_dataset_facet(&mut self, id: &DatasetId, key: &str, value: &serde_json::Value) -> Result<()> {
        let json = serde_json::to_vec(value)
            .map_err(|error| StoreError::Encode { key: format!("facet {key} of {id}"), reason: error.to_string() })?;
        self.batch.insert(facet_key(id, key), encode_blob(&json, self.compress));
        Ok(())
    }

    /// [`Self::put_dataset_facet`] for a value that is `span` of the canonical JSON of event
    /// `sequence` (stored in the same group or before): a reference into that event when the
    /// value is large ([`FACET_BY_REFERENCE_MIN`]), else its JSON, not serialised again.
    pub fn put_dataset_facet_from_event(
        &mut self,
        id: &DatasetId,
        key: &str,
        canonical: &[u8],
        sequence: u64,
        span: std::ops::Range<usize>,
    ) {
        let reference = FacetReference::new(sequence, &span).filter(|_| span.len() >= FACET_BY_REFERENCE_MIN);
        let stored = match reference {
            Some(reference) => reference.encode().to_vec(),
            None => encode_blob(&canonical[span], self.compress),
        };
        self.batch.insert(facet_key(id, key), stored);
    }

    pub fn delete_dataset_facet(&mut self, id: &DatasetId, key: &str) {
        self.batch.remove(facet_key(id, key));
    }

    /// Files a dataset in the graph keyspace (once, when it is first seen).
    pub fn put_graph_dataset(&mut self, id: &DatasetId) {
        self.batch.insert(name_key(PREFIX_GRAPH_DATASET, &id.namespace, &id.name), &[]);
    }

    /// Files a job and its current inputs and outputs in the graph keyspace (when the job is
    /// new or they change).
    pub fn put_job_io(&mut self, job: &JobId, inputs: &[DatasetId], outputs: &[DatasetId]) -> Result<()> {
        self.batch.insert(name_key(PREFIX_GRAPH_JOB, &job.namespace, &job.name), codec::encode_job_io(inputs, outputs));
        Ok(())
    }

    pub fn put_job(&mut self, record: &JobRecord) -> Result<()> {
        self.batch.insert(name_key(PREFIX_JOB, &record.id.namespace, &record.id.name), codec::encode_job(record));
        Ok(())
    }

    pub fn put_run(&mut self, record: &RunRecord) -> Result<()> {
        self.batch.insert(&run_key(&record.id), codec::encode_run(record));
        Ok(())
    }

    pub fn put_observation(&mut self, job: &JobId, observation: &Observation) -> Result<()> {
        self.batch.insert(observation_key(job, &observation.key), codec::encode_observation(observation));
        Ok(())
    }

    pub fn delete_observation(&mut self, job: &JobId, key: &ObservationKey) {
        self.batch.remove(observation_key(job, key));
    }

    pub fn put_schema_version(&mut self, dataset: &DatasetId, record: &SchemaVersionRecord) -> Result<()> {
        self.put_json(schema_key(dataset, &record.hash), record)
    }

    /// A new schema version whose `fields` are bytes `span` of the canonical JSON of event
    /// `sequence`, first and last seen at `seen`: stored as a reference to them (the event log
    /// is the source of truth). `false` when the span does not fit a reference; then nothing
    /// is written and the caller stores the record with its `fields` ([`Self::put_schema_version`]).
    pub fn put_schema_version_from_event(
        &mut self,
        dataset: &DatasetId,
        hash: &str,
        seen: Timestamp,
        sequence: u64,
        span: std::ops::Range<usize>,
    ) -> bool {
        let Some(fields) = FacetReference::new(sequence, &span) else { return false };
        let stored = SchemaSpan { format: RECORD_FORMAT, first_seen: seen.0, last_seen: seen.0, fields };
        self.batch.insert(schema_key(dataset, hash), stored.encode().to_vec());
        true
    }

    /// Writes back a schema version read with [`View::stored_schema_version`] (its times
    /// changed, its `fields` as they were stored).
    pub fn put_stored_schema_version(
        &mut self,
        dataset: &DatasetId,
        hash: &str,
        version: &StoredSchemaVersion,
    ) -> Result<()> {
        match &version.0 {
            StoredFields::Referenced(span) => {
                self.batch.insert(schema_key(dataset, hash), span.encode().to_vec());
                Ok(())
            }
            StoredFields::Inline(record) => self.put_json(schema_key(dataset, hash), record),
        }
    }

    /// Replaces the column lineage into `output`; an empty list removes it.
    pub fn put_column_lineage(&mut self, output: &DatasetId, edges: &[ColumnEdgeSpec]) -> Result<()> {
        let key = name_key(PREFIX_COLUMN_LINEAGE, &output.namespace, &output.name);
        if edges.is_empty() {
            self.batch.remove(key);
            return Ok(());
        }
        self.batch.insert(key, codec::encode_column_lineage(edges));
        Ok(())
    }

    /// [`Self::put_column_lineage`] of edges encoded beforehand (a non-empty list).
    pub fn put_encoded_column_lineage(&mut self, output: &DatasetId, encoded: EncodedColumnLineage) {
        self.batch.insert(name_key(PREFIX_COLUMN_LINEAGE, &output.namespace, &output.name), encoded.0);
    }

    /// Files `node` under `owner` in the owner index, with the role its facet gives the owner
    /// (so the index alone says who owns what: [`Store::owners_by_node`]).
    pub fn put_owner(&mut self, owner: &str, role: Option<&str>, node: &NodeRef) {
        self.batch.insert(label_key(PREFIX_OWNER, owner, node), keys::owner_value(role));
    }

    pub fn delete_owner(&mut self, owner: &str, node: &NodeRef) {
        self.batch.remove(label_key(PREFIX_OWNER, owner, node));
    }

    pub fn put_tag(&mut self, tag: &str, node: &NodeRef) {
        self.batch.insert(label_key(PREFIX_TAG, &tag.to_lowercase(), node), &[]);
    }

    pub fn delete_tag(&mut self, tag: &str, node: &NodeRef) {
        self.batch.remove(label_key(PREFIX_TAG, &tag.to_lowercase(), node));
    }

    pub fn put_column_tag(&mut self, tag: &str, dataset: &DatasetId, field: &str) {
        self.batch.insert(column_tag_key(tag, dataset, field), &[]);
    }

    pub fn delete_column_tag(&mut self, tag: &str, dataset: &DatasetId, field: &str) {
        self.batch.remove(column_tag_key(tag, dataset, field));
    }

    pub fn put_alias(&mut self, alias: &DatasetId, canonical: &DatasetId) {
        let mut value = canonical.namespace.as_bytes().to_vec();
        value.push(0);
        value.extend_from_slice(canonical.name.as_bytes());
        self.batch.insert(name_key(PREFIX_ALIAS, &alias.namespace, &alias.name), value);
        self.puts_alias = true;
    }

    pub fn put_job_run(&mut self, job: &JobId, start: Timestamp, run: &RunId) {
        self.batch.insert(timeline_key(PREFIX_JOB_RUN, &job.namespace, &job.name, start, run), &[]);
    }

    pub fn delete_job_run(&mut self, job: &JobId, start: Timestamp, run: &RunId) {
        self.batch.remove(timeline_key(PREFIX_JOB_RUN, &job.namespace, &job.name, start, run));
    }

    pub fn put_dataset_run(&mut self, dataset: &DatasetId, start: Timestamp, run: &RunId, role: u8) {
        let key = timeline_key(PREFIX_DATASET_RUN, &dataset.namespace, &dataset.name, start, run);
        self.batch.insert(key, &[role]);
    }

    pub fn delete_dataset_run(&mut self, dataset: &DatasetId, start: Timestamp, run: &RunId) {
        self.batch.remove(timeline_key(PREFIX_DATASET_RUN, &dataset.namespace, &dataset.name, start, run));
    }

    /// A schema change this event showed, to be recorded after it is stored (see
    /// [`Store::seen_schema_changes`]).
    pub fn put_seen_schema_change(&mut self, seen: &SeenSchemaChange) -> Result<()> {
        self.put_json(seen_schema_change_key(seen.sequence, &seen.dataset), seen)
    }

    fn put_json<T: Serialize>(&mut self, key: Vec<u8>, record: &T) -> Result<()> {
        let value = serde_json::to_vec(record).map_err(|error| StoreError::Encode {
            key: String::from_utf8_lossy(&key).into_owned(),
            reason: error.to_string(),
        })?;
        self.batch.insert(key, encode_blob(&value, self.compress));
        Ok(())
    }
}

/// Brings a store of format 4 or earlier to format 5: each dataset's facet values (`F`)
/// move into its `D` value, and the graph's dataset keys (`N`) go (`fold`). Each batch
/// holds whole datasets (their new value and the removal of their `F` keys), so a crash
/// leaves every dataset readable and the next open carries on with what is left.
fn fold_dataset_keys(db: &sled::Db) -> Result<()> {
    const BATCH_KEYS: usize = 50_000;
    let mut batch = sled::Batch::default();
    let mut keys = 0usize;
    let mut current: Option<(Vec<u8>, FoldWrites)> = None;
    let finish = |dataset: Vec<u8>, writes: FoldWrites, batch: &mut sled::Batch| -> Result<()> {
        match writes.fold_into(&dataset, db.get(&dataset)?)? {
            Some(value) => batch.insert(dataset, value),
            None => batch.remove(dataset),
        }
        Ok(())
    };
    for entry in db.scan_prefix([PREFIX_DATASET_FACET]) {
        let (key, value) = entry?;
        let (dataset, facet) = fold::split_facet_key(&key)
            .ok_or_else(|| corrupt(&key, "a facet key is dataset namespace NUL name NUL facet".into()))?;
        if let Some((done, writes)) = current.take_if(|(open, _)| *open != dataset) {
            finish(done, writes, &mut batch)?;
            if keys >= BATCH_KEYS {
                db.apply_batch(std::mem::take(&mut batch))?;
                keys = 0;
            }
        }
        let (_, writes) = current.get_or_insert_with(|| (dataset, FoldWrites::default()));
        writes.facets.push((facet.to_vec(), Some(value)));
        batch.remove(key);
        keys += 1;
    }
    if let Some((done, writes)) = current.take() {
        finish(done, writes, &mut batch)?;
    }
    db.apply_batch(std::mem::take(&mut batch))?;
    loop {
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for key in db.scan_prefix([PREFIX_GRAPH_DATASET]).keys().take(BATCH_KEYS) {
            batch.remove(key?);
            removed += 1;
        }
        if removed == 0 {
            break;
        }
        db.apply_batch(batch)?;
    }
    db.flush()?;
    Ok(())
}

/// Decodes a record: a codec byte and (lz4-compressed) JSON, or bare JSON (which starts with
/// `{` or `[`, never a codec byte) as stores before compressed records wrote it.
/// A versioned record, refused when a newer build wrote it.
fn decode_record<T: DeserializeOwned + Versioned>(key: &[u8], value: &[u8]) -> Result<T> {
    let record: T = decode_json(key, value)?;
    if record.format() > RECORD_FORMAT {
        return Err(StoreError::UnsupportedRecord {
            key: String::from_utf8_lossy(key).into_owned(),
            found: record.format(),
        });
    }
    Ok(record)
}

/// An alias's stored value: its canonical dataset, `namespace NUL name`.
fn decode_alias(id: &DatasetId, value: &[u8]) -> Result<DatasetId> {
    let (namespace, name) = split_name(value).ok_or_else(|| StoreError::Corrupt {
        key: format!("alias {id}"),
        reason: "value is not namespace NUL name".into(),
    })?;
    Ok(DatasetId::new(namespace, name))
}

/// A record in the binary layout ([`codec`]) or, as earlier builds wrote it, JSON (behind a
/// codec byte or bare).
fn decode_stored<T: DeserializeOwned + Versioned>(
    key: &[u8],
    value: &[u8],
    binary: fn(&[u8], &[u8]) -> codec::Decoded<T>,
) -> Result<T> {
    if value.first() != Some(&CODEC_BINARY) {
        return decode_record(key, value);
    }
    binary(key, value).map_err(|error| binary_error(key, error))
}

/// Column lineage (`L`): binary, or JSON from earlier builds.
fn decode_column_lineage(key: &[u8], value: &[u8]) -> Result<Vec<ColumnEdgeSpec>> {
    if value.first() != Some(&CODEC_BINARY) {
        return decode_json(key, value);
    }
    codec::decode_column_lineage(value).map_err(|error| binary_error(key, error))
}

fn binary_error(key: &[u8], error: codec::DecodeError) -> StoreError {
    match error {
        codec::DecodeError::Newer(found) => {
            StoreError::UnsupportedRecord { key: String::from_utf8_lossy(key).into_owned(), found }
        }
        codec::DecodeError::Corrupt(reason) => corrupt(key, reason),
    }
}

/// A job's current inputs and outputs (`I`): binary, or a JSON pair from earlier builds.
fn decode_job_io(key: &[u8], value: &[u8]) -> Result<(Vec<DatasetId>, Vec<DatasetId>)> {
    if value.first() == Some(&CODEC_BINARY) {
        return codec::decode_job_io(value).map_err(|error| binary_error(key, error));
    }
    decode_json(key, value)
}

fn decode_json<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T> {
    let json = decode_blob(key, value)?;
    serde_json::from_slice(&json).map_err(|error| corrupt(key, error.to_string()))
}

/// Codec byte + bytes, lz4-compressed when asked.
fn encode_blob(bytes: &[u8], compress: bool) -> Vec<u8> {
    let mut stored = Vec::with_capacity(bytes.len() / 3 + 16);
    if compress {
        stored.push(CODEC_LZ4);
        stored.extend_from_slice(&lz4_flex::compress_prepend_size(bytes));
    } else {
        stored.push(CODEC_RAW);
        stored.extend_from_slice(bytes);
    }
    stored
}

/// Where a facet value stored by reference lies: bytes `start..start + len` of the canonical
/// JSON of event `sequence`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FacetReference {
    sequence: u64,
    start: u32,
    len: u32,
}

impl FacetReference {
    const ENCODED_LEN: usize = 1 + 8 + 4 + 4;

    /// `None` when the span does not fit the encoding (then the value is stored inline).
    fn new(sequence: u64, span: &std::ops::Range<usize>) -> Option<Self> {
        Some(Self { sequence, start: u32::try_from(span.start).ok()?, len: u32::try_from(span.len()).ok()? })
    }

    fn encode(self) -> [u8; Self::ENCODED_LEN] {
        let mut bytes = [0u8; Self::ENCODED_LEN];
        bytes[0] = CODEC_EVENT_SPAN;
        bytes[1..9].copy_from_slice(&self.sequence.to_be_bytes());
        bytes[9..13].copy_from_slice(&self.start.to_be_bytes());
        bytes[13..17].copy_from_slice(&self.len.to_be_bytes());
        bytes
    }

    /// `None` for a value stored inline; an error for a reference of the wrong length.
    fn decode(stored: &[u8]) -> Option<std::result::Result<Self, String>> {
        if stored.first() != Some(&CODEC_EVENT_SPAN) {
            return None;
        }
        let Ok(bytes) = <[u8; Self::ENCODED_LEN]>::try_from(stored) else {
            return Some(Err(format!(
                "a reference into the event log takes {} bytes, this one {}",
                Self::ENCODED_LEN,
                stored.len()
            )));
        };
        let u32_at = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        Some(Ok(Self { sequence: read_u64(&bytes[1..9]), start: u32_at(9), len: u32_at(13) }))
    }

    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// A schema version as stored ([`View::stored_schema_version`]): its times, and its `fields`
/// as they are kept, unread when they are a reference into an event.
#[derive(Clone, Debug)]
pub struct StoredSchemaVersion(StoredFields);

#[derive(Clone, Debug)]
enum StoredFields {
    Referenced(SchemaSpan),
    Inline(SchemaVersionRecord),
}

impl StoredSchemaVersion {
    pub fn last_seen(&self) -> Timestamp {
        match &self.0 {
            StoredFields::Referenced(span) => Timestamp(span.last_seen),
            StoredFields::Inline(record) => record.last_seen,
        }
    }

    /// Where the `fields` lie in the event that first showed them, when stored by reference.
    pub fn fields_span(&self) -> Option<std::ops::Range<usize>> {
        match &self.0 {
            StoredFields::Referenced(span) => Some(span.fields.range()),
            StoredFields::Inline(_) => None,
        }
    }

    pub fn set_last_seen(&mut self, time: Timestamp) {
        match &mut self.0 {
            StoredFields::Referenced(span) => span.last_seen = time.0,
            StoredFields::Inline(record) => record.last_seen = time,
        }
    }
}

/// A schema version stored by reference (codec 5; see `keys::CODEC_SCHEMA_SPAN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SchemaSpan {
    format: u8,
    first_seen: i64,
    last_seen: i64,
    fields: FacetReference,
}

impl SchemaSpan {
    const ENCODED_LEN: usize = 2 + 8 + 8 + FacetReference::ENCODED_LEN;

    fn encode(self) -> [u8; Self::ENCODED_LEN] {
        let mut bytes = [0u8; Self::ENCODED_LEN];
        bytes[0] = CODEC_SCHEMA_SPAN;
        bytes[1] = self.format;
        bytes[2..10].copy_from_slice(&self.first_seen.to_be_bytes());
        bytes[10..18].copy_from_slice(&self.last_seen.to_be_bytes());
        bytes[18..].copy_from_slice(&self.fields.encode());
        bytes
    }

    fn decode(stored: &[u8]) -> std::result::Result<Self, String> {
        let Ok(bytes) = <[u8; Self::ENCODED_LEN]>::try_from(stored) else {
            return Err(format!(
                "a schema version by reference takes {} bytes, this one {}",
                Self::ENCODED_LEN,
                stored.len()
            ));
        };
        let i64_at = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let fields = match FacetReference::decode(&bytes[18..]) {
            Some(reference) => reference?,
            None => return Err("a schema version by reference lacks its reference".into()),
        };
        Ok(Self { format: bytes[1], first_seen: i64_at(2), last_seen: i64_at(10), fields })
    }
}

fn schema_key(dataset: &DatasetId, hash: &str) -> Vec<u8> {
    let mut key = name_prefix(PREFIX_SCHEMA, &dataset.namespace, &dataset.name);
    key.extend_from_slice(hash.as_bytes());
    key
}

fn decode_value(key: &[u8], stored: &[u8]) -> Result<serde_json::Value> {
    decode_json(key, stored)
}

/// Every stored event dictionary. A damaged one is refused at open with its key: the events
/// compressed with it could not be read.
fn load_dictionaries(db: &sled::Db) -> Result<dictionary::Dictionaries> {
    let mut dictionaries = dictionary::Dictionaries::default();
    for entry in db.scan_prefix(dictionary::META_DICTIONARY_PREFIX) {
        let (key, value) = entry?;
        let id = key[dictionary::META_DICTIONARY_PREFIX.len()..]
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| corrupt(&key, "an event dictionary's key ends in a 4-byte id".into()))?;
        let ready = dictionary::EventDictionary::from_stored(id, &value)
            .ok_or_else(|| corrupt(&key, "the event dictionary is damaged".into()))?;
        dictionaries.insert(ready);
    }
    Ok(dictionaries)
}

/// What [`Store::copy_into`] copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub keys: u64,
    /// Keys and values.
    pub bytes: u64,
}

/// What [`Store::train_event_dictionary`] did.
#[derive(Clone, Debug)]
pub struct DictionaryTrained {
    pub id: u32,
    /// The newest event it learned from.
    pub trained_at: u64,
    pub samples: usize,
    pub sample_bytes: usize,
    pub dictionary_bytes: usize,
    pub elapsed: std::time::Duration,
}

/// The bytes behind a codec byte (decompressed when lz4); a value without a codec byte is
/// returned whole (bare JSON from builds before compressed records).
fn decode_blob<'a>(key: &[u8], stored: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>> {
    match stored.split_first() {
        Some((&CODEC_LZ4, rest)) => lz4_flex::decompress_size_prepended(rest)
            .map(std::borrow::Cow::Owned)
            .map_err(|error| corrupt(key, error.to_string())),
        Some((&CODEC_RAW, rest)) => Ok(std::borrow::Cow::Borrowed(rest)),
        Some(_) => Ok(std::borrow::Cow::Borrowed(stored)),
        None => Err(corrupt(key, "empty value".into())),
    }
}

impl Store {
    /// An event's canonical JSON from its stored form; a damaged one is `Corrupt`, naming the
    /// event.
    fn decode_event(&self, key: &[u8], stored: &[u8]) -> Result<Vec<u8>> {
        let decoded = match stored.split_first() {
            Some((&CODEC_ZSTD_DICT, rest)) => self.decode_with_dictionary(rest),
            _ => decode_blob(key, stored).map(std::borrow::Cow::into_owned).map_err(|error| match error {
                StoreError::Corrupt { reason, .. } => reason,
                other => other.to_string(),
            }),
        };
        decoded.map_err(|reason| StoreError::Corrupt { key: format!("event {}", read_u64(&key[1..])), reason })
    }

    fn decode_with_dictionary(&self, rest: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let Some((id, frame)) = rest.split_first_chunk::<4>() else {
            return Err("a dictionary-compressed event is shorter than its dictionary id".into());
        };
        let id = u32::from_be_bytes(*id);
        let dictionary = self.dictionaries.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(id);
        let Some(dictionary) = dictionary else {
            return Err(format!("compressed with event dictionary {id}, which the store does not hold"));
        };
        dictionary.decompress(frame).map_err(|reason| format!("with event dictionary {id}: {reason}"))
    }
}

fn corrupt(key: &[u8], reason: String) -> StoreError {
    StoreError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), reason }
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
