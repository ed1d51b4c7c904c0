//! The event log as the source of truth: `reindex` rebuilds every derived record from the
//! stored events, `verify` checks that a store's derived records agree with such a rebuild.
//! Both work on a store no server has open.

use std::path::{Path, PathBuf};

use tributary_openlineage::parse_event;
use tributary_store::{DocumentKind, GroupWrite, Store, StoreConfig};

use crate::ServiceError;
use crate::apply::{Arrival, StoredAliases, apply_event};

/// Events applied between two flushes of the rebuilt store.
const FLUSH_EVERY: u64 = 4096;
/// Differences listed by `verify` (all are counted).
const SHOWN_DIFFERENCES: usize = 20;

/// What a rebuild did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub events: u64,
    pub documents: u64,
    pub schema_changes: u64,
}

/// What `verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    /// Keys compared over the derived prefixes.
    pub keys: u64,
    /// How many keys differ (missing on either side or with another value).
    pub differences: u64,
    /// The first few, for people: `D postgres://db NUL public.orders: differs`.
    pub shown: Vec<String>,
}

/// Opens a store that no server should hold; waits briefly for this process's own handles
/// (a rebuild just closed) to let go.
fn open(dir: &Path, config: &StoreConfig) -> Result<Store, ServiceError> {
    Ok(Store::open_waiting(dir, config, std::time::Duration::from_secs(2))?)
}

/// Rebuilds the store in `source` into a new store in `target` (which must not exist or be
/// empty): every event re-applied in sequence order by today's rules, mesh documents,
/// recorded schema changes, tokens and the audit trail copied. `progress` is called with the events done so far.
pub fn rebuild(
    source: &Path,
    target: &Path,
    config: &StoreConfig,
    mut progress: impl FnMut(u64),
) -> Result<RebuildReport, ServiceError> {
    refuse_nonempty_target(target)?;
    let old = open(source, config)?;
    let new = open(target, config)?;
    let mut report = RebuildReport::default();
    let mut after = 0u64;
    loop {
        let page = old.events_after(after, 1024)?;
        // A page's events are applied as one group (one atomic batch), like the writer's.
        let mut group = GroupWrite::default();
        let Some((last, _)) = page.last() else { break };
        let last = *last;
        for (sequence, canonical) in page {
            let mut event = parse_event(&canonical).map_err(|error| {
                ServiceError::Internal(format!(
                    "stored event {sequence} no longer validates ({error}); it is kept in the old store"
                ))
            })?;
            let sql = crate::sql::SqlJob::of(&event).map(|job| job.derive());
            // Encoded as live ingest does: with the new store's event dictionary once it has one.
            let encoded = new.encode_event(&event.canonical);
            let arrival = Arrival { encoded: Some(encoded), ..Arrival::default() };
            let (outcome, _) =
                apply_event(&new, &mut group, &mut event, sql.as_ref(), arrival, StoredAliases::InStore)?;
            if outcome.sequence != sequence || outcome.duplicate {
                return Err(ServiceError::Internal(format!(
                    "stored event {sequence} was applied as {}{}: the log has a gap or a repeated event",
                    outcome.sequence,
                    if outcome.duplicate { " (duplicate)" } else { "" }
                )));
            }
            report.events += 1;
            if report.events.is_multiple_of(FLUSH_EVERY) {
                new.commit_group(std::mem::take(&mut group))?;
                new.flush()?;
                progress(report.events);
            }
        }
        new.commit_group(group)?;
        after = last;
        // The rebuilt log is compressed like a live one: a dictionary once enough events are in.
        new.train_event_dictionary()?;
    }
    for kind in [DocumentKind::Domain, DocumentKind::Product] {
        for current in old.scan_documents(kind)? {
            for version in old.document_versions(kind, &current.id)? {
                new.put_document(kind, &version)?;
                report.documents += 1;
            }
            // Current last, in case the version history is shorter than the current record
            // (stores from builds that kept only the current one).
            new.put_document(kind, &current)?;
        }
    }
    for change in old.schema_changes(usize::MAX, |_| true)? {
        new.put_schema_change(&change)?;
        report.schema_changes += 1;
    }
    // Tokens, the audit trail (who sent each event) and the redaction key are not derived.
    new.copy_access_records(&old)?;
    new.flush()?;
    drop((old, new));
    settle(target, config)?;
    progress(report.events);
    Ok(report)
}

/// What [`compact`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    pub keys: u64,
    /// Keys and values copied.
    pub bytes: u64,
    /// The store's size on disk before and after (sled's files; the index snapshot apart).
    pub before: u64,
    pub after: u64,
}

/// Copies the store in `source` (no server may have it open) into `target` (which must not
/// exist or be empty), every key in order, in a database written once (see
/// [`Store::copy_into`]), with its index snapshot, which stays valid (same identity, same
/// sequence): the next start reads it as it would have read the original's.
pub fn compact(source: &Path, target: &Path, config: &StoreConfig) -> Result<CompactReport, ServiceError> {
    refuse_nonempty_target(target)?;
    let store = open(source, config)?;
    let before = store.size_on_disk()?;
    let copied = store.copy_into(target)?;
    drop(store);
    let snapshot = crate::snapshot::path(source);
    if snapshot.exists() {
        std::fs::copy(&snapshot, crate::snapshot::path(target))
            .map_err(|error| ServiceError::Internal(format!("copying `{}`: {error}", snapshot.display())))?;
    }
    let copy = open(target, config)?;
    let after = copy.size_on_disk()?;
    // The baseline a server's automatic compaction measures the store's growth against.
    copy.record_compacted_size(after)?;
    Ok(CompactReport { keys: copied.keys, bytes: copied.bytes, before, after })
}

fn refuse_nonempty_target(target: &Path) -> Result<(), ServiceError> {
    if target.exists() && std::fs::read_dir(target).map(|mut entries| entries.next().is_some()).unwrap_or(true) {
        return Err(ServiceError::invalid(
            "target",
            format!("`{}` exists and is not empty: write into a new directory", target.display()),
        ));
    }
    Ok(())
}

/// Brings sled's recovery snapshot of the store in `dir` (no server may have it open) up to
/// date, so that its next open does not read the log written since the previous one: after a
/// bulk load (`import`, `rebuild`), which writes the whole store in one open.
pub fn settle(dir: &Path, config: &StoreConfig) -> Result<(), ServiceError> {
    Ok(Store::settle(dir, config, std::time::Duration::from_secs(10))?)
}

/// Rebuilds `dir` into a temporary directory beside it and compares every derived record;
/// the temporary rebuild is removed afterwards.
pub fn verify(dir: &Path, config: &StoreConfig, progress: impl FnMut(u64)) -> Result<VerifyReport, ServiceError> {
    let scratch = scratch_dir(dir, "verify");
    let outcome = verify_into(dir, &scratch, config, progress);
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

fn verify_into(
    dir: &Path,
    scratch: &Path,
    config: &StoreConfig,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, ServiceError> {
    let rebuilt = rebuild(dir, scratch, config, progress)?;
    let stored = open(dir, config)?;
    let fresh = open(scratch, config)?;
    let mut report = VerifyReport { events: rebuilt.events, ..VerifyReport::default() };
    for prefix in Store::DERIVED_PREFIXES {
        let mut left = stored.scan_raw(prefix).peekable();
        let mut right = fresh.scan_raw(prefix).peekable();
        loop {
            let order = match (left.peek(), right.peek()) {
                (None, None) => break,
                (Some(Err(_)), _) => {
                    return Err(left
                        .next()
                        .and_then(Result::err)
                        .map(Into::into)
                        .unwrap_or_else(|| ServiceError::Internal("store scan failed".into())));
                }
                (_, Some(Err(_))) => {
                    return Err(right
                        .next()
                        .and_then(Result::err)
                        .map(Into::into)
                        .unwrap_or_else(|| ServiceError::Internal("rebuild scan failed".into())));
                }
                (Some(Ok((a, _))), Some(Ok((b, _)))) => a.cmp(b),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
            };
            report.keys += 1;
            let finding = match order {
                std::cmp::Ordering::Less => left.next().and_then(Result::ok).map(|(key, _)| (key, "only in the store")),
                std::cmp::Ordering::Greater => {
                    right.next().and_then(Result::ok).map(|(key, _)| (key, "missing from the store"))
                }
                std::cmp::Ordering::Equal => {
                    let (key, a) = left.next().and_then(Result::ok).unwrap_or_default();
                    let (_, b) = right.next().and_then(Result::ok).unwrap_or_default();
                    (!stored.same_stored(&fresh, &key, &a, &b)).then_some((key, "differs"))
                }
            };
            if let Some((key, what)) = finding {
                report.differences += 1;
                if report.shown.len() < SHOWN_DIFFERENCES {
                    report.shown.push(format!("{}: {what}", printable_key(&key)));
                }
            }
        }
    }
    Ok(report)
}

/// `<dir>.<what>-<unix seconds>` beside `dir`.
pub fn scratch_dir(dir: &Path, what: &str) -> PathBuf {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let mut name = dir.file_name().map(|name| name.to_os_string()).unwrap_or_else(|| "store".into());
    name.push(format!(".{what}-{seconds}"));
    dir.with_file_name(name)
}

fn printable_key(key: &[u8]) -> String {
    key.iter()
        .map(|&byte| match byte {
            0 => " NUL ".to_owned(),
            0x20..=0x7e => (byte as char).to_string(),
            other => format!("\\x{other:02x}"),
        })
        .collect()
}

/// Writes every stored event of the store in `dir` as NDJSON (one canonical JSON event per
/// line, in ingest order) to `out`, streaming page by page; the store must not be in use by a
/// server. `tributary import` of the output into an empty store gives the same store (same
/// events, same sequences, same answers): the backup path. Returns the events written.
pub fn export(
    dir: &Path,
    config: &StoreConfig,
    out: &mut impl std::io::Write,
    mut progress: impl FnMut(u64),
) -> Result<u64, ServiceError> {
    let store = open(dir, config)?;
    let write_error = |error: std::io::Error| ServiceError::Internal(format!("writing the export failed: {error}"));
    let mut written = 0u64;
    let mut after = 0u64;
    loop {
        let page = store.events_after(after, 1024)?;
        let Some((last, _)) = page.last() else { break };
        let last = *last;
        for (_, canonical) in page {
            out.write_all(&canonical).map_err(write_error)?;
            out.write_all(b"\n").map_err(write_error)?;
            written += 1;
        }
        progress(written);
        after = last;
    }
    out.flush().map_err(write_error)?;
    Ok(written)
}
