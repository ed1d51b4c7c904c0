//! Compaction while the store is in use, and the directory layout that allows it.
//!
//! sled 0.34 keeps the earlier images of every page an update rewrote until its cleaner moves
//! the live part of a segment, which it does only once the segment is at most half live, and
//! it offers no way to rewrite its file in place. A store built by ingest therefore takes about
//! twice the space of the same keys written once (`Store::copy_into`). The offline
//! `tributary compact` copies the store into a new directory while no server runs; this module
//! does the same under a running server:
//!
//! 1. A new database is opened in a new *generation* directory inside the store's directory
//!    (`generation-N`).
//! 2. A copier walks the live database in key order and writes each slice of keys into the new
//!    one. It reads each slice once without the lock first (so the slice under the lock reads
//!    pages sled has in memory, not the old file from disk), and a slice under the lock stops
//!    at `SLICE_KEYS` keys or `SLICE_TIME`, whichever comes first. Every write to the live
//!    database takes the store's compaction lock and, while it holds it, makes the same write
//!    in the new database when the key is at or below the copier's position; a key above it is
//!    copied later, with whatever value it has then. A
//!    slice of the copy is read and written under that lock too, so a write and the copier's
//!    progress never interleave, and when the copier reaches the end the new database holds
//!    exactly what the live one does.
//!    Every `SETTLE_EVERY_BYTES`, and at the end, the copier closes the copy and reopens it,
//!    so that sled writes its recovery snapshot (it does only when it opens): writes mirrored
//!    meanwhile wait in a list and go into the reopened copy before the next slice. The first
//!    open after the switch then reads only the log written since the last reopen.
//! 3. The copy is flushed without the lock; then, under it, the keys written past the copier
//!    since its last slice are copied, the new database is flushed again (little is left), the
//!    file `CURRENT` is replaced (a temporary file, fsync, rename, fsync of the directory) to
//!    name the new generation, and the store's handle is swapped. Writes after that go to the
//!    new database only.
//! 4. The old database is deleted once every handle on it is gone (sled releases its file lock
//!    then), or at the next open.
//!
//! A crash before step 3 leaves the old database current and a partial generation, which the
//! next open removes; after it, the new one is current and durable with every write the old one
//! had acknowledged (they were all in it before the flush). A store that was never compacted
//! online has no `CURRENT` file and keeps its database in the store's directory itself.

use std::path::{Path, PathBuf};

use crate::{Result, Store, StoreError};

/// The file in a store's directory that names the generation directory its database is in.
pub(crate) const CURRENT_FILE: &str = "CURRENT";
const GENERATION_PREFIX: &str = "generation-";
/// The files sled 0.34 keeps in its directory (a database in the store's directory itself).
const SLED_FILES: [&str; 3] = ["db", "conf", "blobs"];
const SLED_SNAPSHOT_PREFIX: &str = "snap.";
/// Keys copied per slice while the compaction lock is held: writers wait at most one slice.
const SLICE_KEYS: usize = 2048;
/// A slice also ends once it has held the lock this long (checked every `SLICE_CHECK` keys).
const SLICE_TIME: std::time::Duration = std::time::Duration::from_millis(20);
const SLICE_CHECK: usize = 64;
/// The copy is flushed after this many slices, outside the lock (see `copy_slices`).
const FLUSH_EVERY_SLICES: u64 = 16;
/// The copy is closed and opened again (`Store::settle_copy`) after each this many bytes of
/// keys and values copied (about twice that on disk), and once more when the copier reaches
/// the end, so that no open reads much more than that of its log.
const SETTLE_EVERY_BYTES: u64 = if cfg!(test) { 16 << 10 } else { 512 << 20 };
/// How long reopening the copy waits for sled to let go of its file lock.
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a finished compaction waits for the last handle on the old database before it
/// leaves the deletion to the next open.
const OLD_DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

fn io_error(path: &Path, what: &str, error: std::io::Error) -> StoreError {
    StoreError::Sled(sled::Error::Io(std::io::Error::new(
        error.kind(),
        format!("{what} `{}`: {error}", path.display()),
    )))
}

/// The directory holding the database of the store in `root`: the generation `CURRENT` names,
/// or `root` itself when there is no `CURRENT`.
pub(crate) fn database_dir(root: &Path) -> Result<PathBuf> {
    let current = root.join(CURRENT_FILE);
    match std::fs::read_to_string(&current) {
        Ok(name) => {
            let name = name.trim();
            if generation_number(name).is_none() {
                return Err(StoreError::Corrupt {
                    key: current.display().to_string(),
                    reason: format!("names `{name}`, not a generation directory (`{GENERATION_PREFIX}<number>`)"),
                });
            }
            Ok(root.join(name))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(root.to_path_buf()),
        Err(error) => Err(io_error(&current, "reading", error)),
    }
}

fn generation_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(GENERATION_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Removes what no longer belongs to the store in `root` whose database is in `current`:
/// generation directories other than the current one (a compaction that did not finish, or
/// one whose old database was still held when it finished), and the database files in `root`
/// itself once the database lives in a generation. Called with the current database open (its
/// lock held), so no other process uses the store.
pub(crate) fn remove_dead_databases(root: &Path, current: &Path) -> Result<()> {
    let entries = std::fs::read_dir(root).map_err(|error| io_error(root, "listing", error))?;
    for entry in entries {
        let entry = entry.map_err(|error| io_error(root, "listing", error))?;
        let path = entry.path();
        if path == current {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let generation = generation_number(&name).is_some();
        let legacy = current != root && (SLED_FILES.contains(&name.as_ref()) || name.starts_with(SLED_SNAPSHOT_PREFIX));
        if generation || legacy {
            remove_path(&path)?;
        }
    }
    Ok(())
}

fn remove_path(path: &Path) -> Result<()> {
    let removed = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    match removed {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error(path, "removing", error)),
    }
}

/// Points `root`'s `CURRENT` at `generation`, atomically and durably.
fn write_current(root: &Path, generation: &str) -> Result<()> {
    use std::io::Write;
    let temporary = root.join(format!("{CURRENT_FILE}.new"));
    let mut file = std::fs::File::create(&temporary).map_err(|error| io_error(&temporary, "creating", error))?;
    file.write_all(format!("{generation}\n").as_bytes()).map_err(|error| io_error(&temporary, "writing", error))?;
    file.sync_all().map_err(|error| io_error(&temporary, "syncing", error))?;
    drop(file);
    let current = root.join(CURRENT_FILE);
    std::fs::rename(&temporary, &current).map_err(|error| io_error(&current, "replacing", error))?;
    std::fs::File::open(root)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| io_error(root, "syncing", error))
}

/// An online compaction's copy (see the module documentation), kept in the store's compaction
/// lock while it runs.
pub(crate) struct OnlineCopy {
    /// The new database; `None` while the copier reopens it (`settle_copy`), when mirrored
    /// writes wait in `pending`, in the order they were made.
    target: Option<sled::Db>,
    pending: Vec<(sled::IVec, Option<sled::IVec>)>,
    /// Every key up to this one (inclusive) is in `target`; `None` before the first slice.
    copied_through: Option<sled::IVec>,
    /// A write could not be made in `target`: the copy is abandoned at its next slice.
    failed: Option<String>,
}

impl OnlineCopy {
    fn covers(&self, key: &[u8]) -> bool {
        self.copied_through.as_deref().is_some_and(|through| key <= through)
    }

    /// Makes in the copy the writes of a batch just applied to the live database, for the
    /// keys the copy holds already (the others are copied later with their values then).
    pub(crate) fn mirror(&mut self, writes: &[(sled::IVec, Option<sled::IVec>)]) {
        if self.failed.is_some() {
            return;
        }
        let covered: Vec<_> = writes.iter().filter(|(key, _)| self.covers(key)).cloned().collect();
        if covered.is_empty() {
            return;
        }
        match &self.target {
            Some(target) => {
                if let Err(error) = target.apply_batch(sled_batch(covered)) {
                    self.failed = Some(format!("writing into the new database: {error}"));
                }
            }
            None => self.pending.extend(covered),
        }
    }
}

/// Puts (`Some`) and removals (`None`) as one sled batch.
pub(crate) fn sled_batch(writes: impl IntoIterator<Item = (sled::IVec, Option<sled::IVec>)>) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (key, value) in writes {
        match value {
            Some(value) => batch.insert(key, value),
            None => batch.remove(key),
        }
    }
    batch
}

/// What [`Store::compact_online`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnlineCompactReport {
    /// Keys copied by the copier (writes mirrored into the copy meanwhile are not counted).
    pub keys: u64,
    /// Bytes of keys and values copied.
    pub bytes: u64,
    /// The database's size on disk before and after (sled's files).
    pub before: u64,
    pub after: u64,
    /// The generation directory the store's database is in now.
    pub generation: String,
    /// Whether the old database was already deleted (else it goes once its last reader lets
    /// go of it, or at the next open).
    pub old_removed: bool,
    /// The longest the copy held writes back: one slice, or the switch at the end.
    pub longest_hold: std::time::Duration,
    /// How long the switch at the end held writes back (the last keys, a flush, `CURRENT`).
    pub switch_hold: std::time::Duration,
    /// Slices copied under the lock.
    pub slices: u64,
    /// Times the copy was closed and opened again while copying (`SETTLE_EVERY_BYTES`).
    pub settles: u64,
}

impl Store {
    /// Copies the store into a new database while it stays in use (reads and writes go on;
    /// each write waits at most one slice of the copy), then makes the copy current. See the
    /// module documentation for the protocol. `progress` is called after each slice with the
    /// keys copied so far; when it breaks with a reason the compaction stops, the store stays
    /// as it was and the error gives that reason. Refused for a temporary store and while
    /// another compaction runs. A finished compaction records the store's new size on disk
    /// ([`Store::compacted_size`]).
    pub fn compact_online(
        &self,
        mut progress: impl FnMut(u64) -> std::ops::ControlFlow<String>,
    ) -> Result<OnlineCompactReport> {
        let Some(root) = self.path.clone() else {
            return Err(StoreError::Closed { reason: "a temporary store cannot be compacted".into() });
        };
        if self.lock_compaction().is_some() {
            return Err(StoreError::Busy { reason: "a compaction of this store is already running".into() });
        }
        let old_dir = database_dir(&root)?;
        let generation = next_generation(&root, &old_dir)?;
        let new_dir = root.join(&generation);
        remove_path(&new_dir)?;
        let before = self.db()?.size_on_disk()?;
        let target = crate::open_db(&new_dir, &self.config)?;
        {
            let mut slot = self.lock_compaction();
            if slot.is_some() {
                drop(slot);
                drop(target);
                let _ = remove_path(&new_dir);
                return Err(StoreError::Busy { reason: "a compaction of this store is already running".into() });
            }
            *slot = Some(OnlineCopy { target: Some(target), pending: Vec::new(), copied_through: None, failed: None });
        }
        let mut report = OnlineCompactReport { before, generation: generation.clone(), ..Default::default() };
        let copied = self
            .copy_slices(&new_dir, &mut report, &mut progress)
            .and_then(|()| self.finish_copy(&root, &generation, &mut report));
        let old = match copied {
            Ok(old) => old,
            Err(error) => {
                // The copy goes, unless `CURRENT` names it already (a failure after the switch):
                // the directory `CURRENT` names is never removed.
                let copy = self.lock_compaction().take();
                drop(copy);
                if database_dir(&root).is_ok_and(|current| current != new_dir) {
                    let _ = remove_path(&new_dir);
                }
                return Err(error);
            }
        };
        report.after = self.db()?.size_on_disk()?;
        // The baseline of the next automatic compaction; a crash before the store's next flush
        // loses it, and the store then counts as never compacted (compacted again at its minimum size).
        self.record_compacted_size(report.after)?;
        report.old_removed = release_old_database(old, old_dir, &root);
        Ok(report)
    }

    pub(crate) fn lock_compaction(&self) -> parking_lot::MutexGuard<'_, Option<OnlineCopy>> {
        self.compaction.lock()
    }

    /// Copies slices until one reaches the end of the live database; returns with the last
    /// slice done (the caller finishes under the lock it takes again).
    fn copy_slices(
        &self,
        new_dir: &Path,
        report: &mut OnlineCompactReport,
        progress: &mut impl FnMut(u64) -> std::ops::ControlFlow<String>,
    ) -> Result<()> {
        // Only this thread moves the copier's position, so it keeps its own copy of it for the
        // reads it makes without the lock.
        let mut through: Option<sled::IVec> = None;
        // Copied bytes when the copy was last reopened (`settle_copy`).
        let mut settled_at = 0u64;
        loop {
            // Read ahead without the lock: the values may change before the slice below reads
            // them again under it, but the pages it needs are then in sled's cache.
            for entry in keys_after(&self.db()?, through.as_ref()).take(SLICE_KEYS) {
                entry?;
            }
            let mut slot = self.lock_compaction();
            let held = std::time::Instant::now();
            let copy =
                slot.as_mut().ok_or_else(|| StoreError::Closed { reason: "the compaction was abandoned".into() })?;
            if let Some(reason) = copy.failed.take() {
                return Err(StoreError::Closed { reason });
            }
            let mut range = keys_after(&self.db()?, copy.copied_through.as_ref());
            let mut batch = sled::Batch::default();
            let mut last = None;
            let mut keys = 0;
            let mut at_end = false;
            while keys < SLICE_KEYS {
                if keys > 0 && keys.is_multiple_of(SLICE_CHECK) && held.elapsed() >= SLICE_TIME {
                    break;
                }
                let Some(entry) = range.next() else {
                    at_end = true;
                    break;
                };
                let (key, value) = entry?;
                report.bytes += (key.len() + value.len()) as u64;
                batch.insert(key.clone(), value);
                last = Some(key);
                keys += 1;
            }
            let target =
                copy.target.clone().ok_or_else(|| StoreError::Closed { reason: "the copy is not open".into() })?;
            target.apply_batch(batch)?;
            report.keys += keys as u64;
            if let Some(last) = last {
                copy.copied_through = Some(last);
            }
            through.clone_from(&copy.copied_through);
            // Handed straight to a waiting writer, if any: a plain unlock would let this thread
            // take the lock again for the next slice before a woken writer runs.
            parking_lot::MutexGuard::unlock_fair(slot);
            report.longest_hold = report.longest_hold.max(held.elapsed());
            report.slices += 1;
            // Written out as it goes, outside the lock: the flush at the switch, which writers
            // wait for, then has only the last keys to write (at 1M, a single flush of the
            // whole copy there held single events for 2 s).
            if at_end || report.slices.is_multiple_of(FLUSH_EVERY_SLICES) {
                target.flush()?;
            }
            drop(target);
            // Once more at the end, with the copy's last pages still in the page cache: the
            // first open after the switch then reads only what was written after it.
            if report.bytes - settled_at >= SETTLE_EVERY_BYTES || (at_end && report.bytes > settled_at) {
                self.settle_copy(new_dir)?;
                settled_at = report.bytes;
                report.settles += 1;
            }
            if let std::ops::ControlFlow::Break(reason) = progress(report.keys) {
                return Err(StoreError::Closed { reason: format!("the compaction was stopped: {reason}") });
            }
            if at_end {
                return Ok(());
            }
        }
    }

    /// Closes the copy and opens it again, so that sled brings its recovery snapshot up to date
    /// (it does so only when it opens, reading every log segment written since the previous
    /// open). Without this the first open after the switch reads the whole copy: 2 min 47 s
    /// for the 8 GB copy of the 1M store with the page cache cold. Writers are not held back
    /// meanwhile: the writes they mirror wait in the copy's `pending` and go into the reopened
    /// copy, in order, before its next slice.
    fn settle_copy(&self, dir: &Path) -> Result<()> {
        let abandoned = || StoreError::Closed { reason: "the compaction was abandoned".into() };
        let target = {
            let mut slot = self.lock_compaction();
            let copy = slot.as_mut().ok_or_else(abandoned)?;
            copy.target.take().ok_or_else(|| StoreError::Closed { reason: "the copy is not open".into() })?
        };
        target.flush()?;
        drop(target);
        let reopened = crate::open_db_waiting(dir, &self.config, SETTLE_WAIT)?;
        let mut slot = self.lock_compaction();
        let copy = slot.as_mut().ok_or_else(abandoned)?;
        let pending = std::mem::take(&mut copy.pending);
        if !pending.is_empty() {
            reopened.apply_batch(sled_batch(pending))?;
        }
        copy.target = Some(reopened);
        Ok(())
    }

    /// Under the compaction lock: copies what was added past the copier since its last slice,
    /// flushes the copy, makes it current and swaps the handles. Returns the old database.
    fn finish_copy(&self, root: &Path, generation: &str, report: &mut OnlineCompactReport) -> Result<sled::Db> {
        let mut slot = self.lock_compaction();
        let held = std::time::Instant::now();
        let mut copy =
            slot.take().ok_or_else(|| StoreError::Closed { reason: "the compaction was abandoned".into() })?;
        if let Some(reason) = copy.failed.take() {
            return Err(StoreError::Closed { reason });
        }
        let rest = keys_after(&self.db()?, copy.copied_through.as_ref());
        let mut batch = sled::Batch::default();
        for entry in rest {
            let (key, value) = entry?;
            report.keys += 1;
            report.bytes += (key.len() + value.len()) as u64;
            batch.insert(key, value);
        }
        let target = copy.target.take().ok_or_else(|| StoreError::Closed { reason: "the copy is not open".into() })?;
        target.apply_batch(batch)?;
        target.flush()?;
        // Readers wait for the switch (a rename and two fsyncs) instead of reading the old
        // database after it; the compaction lock keeps writers out until the handle is swapped.
        let mut handle = self.db.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if handle.is_none() {
            return Err(StoreError::Closed { reason: "the store was closed during the compaction".into() });
        }
        let switched = write_current(root, generation);
        if !database_dir(root).is_ok_and(|current| current == root.join(generation)) {
            // `CURRENT` still names the old database: nothing changed.
            return Err(switched.err().unwrap_or_else(|| StoreError::Corrupt {
                key: root.join(CURRENT_FILE).display().to_string(),
                reason: format!("does not name `{generation}` after it was written"),
            }));
        }
        // From here the new database is the store, on disk and for every later call. A failure
        // after the rename (syncing the directory) leaves it current too: the store goes on
        // with it, and the failure is reported.
        let old = handle.replace(target);
        drop(handle);
        drop(slot);
        report.switch_hold = held.elapsed();
        report.longest_hold = report.longest_hold.max(report.switch_hold);
        switched.map_err(|error| match error {
            StoreError::Sled(sled::Error::Io(io)) => StoreError::Sled(sled::Error::Io(std::io::Error::new(
                io.kind(),
                format!(
                    "the compacted database `{generation}` is current, but its switch may not be durable yet \
                     (the old one is kept until the next open): {io}"
                ),
            ))),
            other => other,
        })?;
        old.ok_or_else(|| StoreError::Closed { reason: "the store was closed during the compaction".into() })
    }
}

/// Every entry of `db` after `through` (all of them when `None`), in key order.
fn keys_after(db: &sled::Db, through: Option<&sled::IVec>) -> sled::Iter {
    match through {
        Some(through) => {
            db.range::<&[u8], _>((std::ops::Bound::Excluded(through.as_ref()), std::ops::Bound::Unbounded))
        }
        None => db.iter(),
    }
}

/// The next generation's directory name: one past the current (and any left over).
fn next_generation(root: &Path, current: &Path) -> Result<String> {
    let mut highest = current.file_name().and_then(|name| generation_number(&name.to_string_lossy())).unwrap_or(0);
    let entries = std::fs::read_dir(root).map_err(|error| io_error(root, "listing", error))?;
    for entry in entries {
        let entry = entry.map_err(|error| io_error(root, "listing", error))?;
        if let Some(number) = generation_number(&entry.file_name().to_string_lossy()) {
            highest = highest.max(number);
        }
    }
    Ok(format!("{GENERATION_PREFIX}{}", highest + 1))
}

/// Drops this handle on the old database and deletes its files once sled lets go of them
/// (when the last reader still holding a handle finishes): at once if it already has, else
/// from a thread that waits for it. Returns whether they were deleted at once.
fn release_old_database(old: sled::Db, old_dir: PathBuf, root: &Path) -> bool {
    drop(old);
    let lock_file = lock_file_of(&old_dir);
    let remove = {
        let root = root.to_path_buf();
        move || {
            // The old database file first, shrunk step by step: unlinking many gigabytes at
            // once frees all their extents in one go, and the file system's journal makes the
            // writer's flushes wait meanwhile (at 1M, single events waited 1.7 s).
            let _ = shrink_gradually(&lock_file_of(&old_dir));
            let outcome = if old_dir == root {
                SLED_FILES
                    .iter()
                    .map(|name| root.join(name))
                    .chain(snapshot_files(&root))
                    .try_for_each(|path| remove_path(&path))
            } else {
                remove_path(&old_dir)
            };
            outcome.is_ok()
        }
    };
    if database_released(&lock_file) {
        return remove();
    }
    let spawned = std::thread::Builder::new().name("tributary-old-db".into()).spawn(move || {
        let deadline = std::time::Instant::now() + OLD_DATABASE_WAIT;
        while std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
            if database_released(&lock_file) {
                remove();
                return;
            }
        }
    });
    drop(spawned);
    false
}

fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.file_name().to_string_lossy().starts_with(SLED_SNAPSHOT_PREFIX))
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default()
}

fn lock_file_of(dir: &Path) -> PathBuf {
    dir.join("db")
}

/// Truncates a large file to nothing in steps, pausing between them, so that freeing its
/// blocks never holds up other writes to the same file system for long. Best effort: the
/// file is removed afterwards either way.
fn shrink_gradually(path: &Path) -> std::io::Result<()> {
    const STEP: u64 = 64 << 20;
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    let mut length = file.metadata()?.len();
    while length > STEP {
        length -= STEP;
        file.set_len(length)?;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

/// Whether no open database holds the sled file `lock_file` (sled locks it while open).
fn database_released(lock_file: &Path) -> bool {
    let Ok(file) = std::fs::OpenOptions::new().read(true).write(true).open(lock_file) else {
        // Gone already, or not ours to open: nothing holds it that we could wait for.
        return true;
    };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            true
        }
        Err(_) => false,
    }
}
