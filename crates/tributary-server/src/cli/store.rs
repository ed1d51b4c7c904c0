//! Offline store tools (the server must not be running on the store): `stats`, `reindex`,
//! `verify`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tributary_service::{Service, StoreConfig};

use super::StoreArgs;

#[derive(Args)]
pub(super) struct StoreOnlyArgs {
    #[command(flatten)]
    pub(super) store: StoreArgs,
}

#[derive(Args)]
pub(super) struct StatsArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// What each store key prefix holds, named for people.
fn prefix_name(prefix: u8) -> &'static str {
    match prefix {
        b'M' => "meta",
        b'E' => "events",
        b'H' => "event hashes",
        b'D' => "datasets, facet values",
        b'J' => "jobs",
        b'I' => "graph: job inputs/outputs",
        b'R' => "runs",
        b'O' => "job observations",
        b'S' => "schema versions",
        b'A' => "aliases",
        b'r' => "job run timeline",
        b'w' => "dataset run timeline",
        b'L' => "column lineage",
        b'P' | b'G' => "mesh documents",
        b'p' | b'g' => "mesh document versions",
        b'o' => "owner index",
        b't' => "tag index",
        b'c' => "column tag index",
        b'C' => "schema changes",
        b'K' => "API tokens",
        b'U' => "audit trail",
        b'Q' => "consumed offsets",
        b'X' => "rejected consumed records",
        _ => "other",
    }
}

pub(super) async fn stats(args: StatsArgs) -> anyhow::Result<()> {
    let config = args.store.service_config();
    let data_dir = args.store.data_dir.clone();
    let (stats, disk) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let service =
            Service::open(config).with_context(|| format!("opening the store in `{}`", data_dir.display()))?;
        let stats = service.store_stats()?;
        let disk = service.size_on_disk()?;
        service.close();
        Ok((stats, disk))
    })
    .await??;
    let logical: u64 = stats.iter().map(|s| s.key_bytes + s.value_bytes).sum();
    if args.json {
        let prefixes: Vec<_> = stats
            .iter()
            .map(|s| {
                serde_json::json!({
                    "prefix": (s.prefix as char).to_string(),
                    "what": prefix_name(s.prefix),
                    "keys": s.keys,
                    "key_bytes": s.key_bytes,
                    "value_bytes": s.value_bytes,
                })
            })
            .collect();
        println!("{}", serde_json::json!({"disk_bytes": disk, "logical_bytes": logical, "prefixes": prefixes}));
        return Ok(());
    }
    println!("{:<6} {:<24} {:>12} {:>14} {:>14}", "prefix", "what", "keys", "key bytes", "value bytes");
    for s in &stats {
        println!(
            "{:<6} {:<24} {:>12} {:>14} {:>14}",
            s.prefix as char,
            prefix_name(s.prefix),
            s.keys,
            s.key_bytes,
            s.value_bytes
        );
    }
    println!("logical bytes (keys + values): {logical}");
    println!("on disk: {disk}");
    Ok(())
}

fn store_config(args: &StoreArgs) -> StoreConfig {
    StoreConfig { cache_bytes: args.cache_mb * 1024 * 1024, ..StoreConfig::default() }
}

/// Writes a new store beside `args.data_dir` with `make` (into an empty scratch directory
/// named after `what`), then swaps it in and keeps the old store beside it; returns what
/// `make` reported and where the old store is.
fn replace_store<R>(
    args: &StoreArgs,
    what: &str,
    make: impl FnOnce(&std::path::Path, &std::path::Path, &StoreConfig) -> Result<R, tributary_service::ServiceError>,
) -> anyhow::Result<(R, std::path::PathBuf)> {
    use tributary_service::maintenance;
    let dir = &args.data_dir;
    anyhow::ensure!(dir.is_dir(), "no store at `{}`", dir.display());
    let made = maintenance::scratch_dir(dir, what);
    let ours = !made.exists();
    let report = match make(dir, &made, &store_config(args)) {
        Ok(report) => report,
        Err(error) => {
            // A half-written store is of no use; one that was there before is not ours.
            if ours && let Err(cleanup) = std::fs::remove_dir_all(&made) {
                eprintln!("warning: cannot remove the unfinished `{}`: {cleanup}", made.display());
            }
            return Err(error)
                .with_context(|| format!("writing `{}` anew into `{}` ({what})", dir.display(), made.display()));
        }
    };
    let kept = maintenance::scratch_dir(dir, &format!("before-{what}"));
    std::fs::rename(dir, &kept).with_context(|| format!("moving the old store to `{}`", kept.display()))?;
    std::fs::rename(&made, dir).with_context(|| format!("moving the new store to `{}`", dir.display()))?;
    Ok((report, kept))
}

pub(super) fn reindex(args: &StoreArgs) -> anyhow::Result<()> {
    let (report, kept) = replace_store(args, "reindex", |dir, target, config| {
        tributary_service::maintenance::rebuild(dir, target, config, |events| {
            eprintln!("  {events} events re-applied");
        })
    })?;
    println!(
        "reindexed `{}`: {} events re-applied, {} document versions and {} schema changes copied; the old store is kept in `{}`",
        args.data_dir.display(),
        report.events,
        report.documents,
        report.schema_changes,
        kept.display()
    );
    Ok(())
}

pub(super) fn compact(args: &StoreArgs) -> anyhow::Result<()> {
    let (report, kept) = replace_store(args, "compact", tributary_service::maintenance::compact)?;
    println!(
        "compacted `{}`: {} keys ({} bytes of keys and values) in {} bytes on disk, from {}; the old store is kept in `{}`: remove it once the server runs on the compacted one",
        args.data_dir.display(),
        report.keys,
        report.bytes,
        report.after,
        report.before,
        kept.display()
    );
    Ok(())
}

pub(super) fn verify(args: &StoreArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.data_dir;
    anyhow::ensure!(dir.is_dir(), "no store at `{}`", dir.display());
    let report = tributary_service::maintenance::verify(dir, &store_config(args), |_| {})
        .with_context(|| format!("verifying `{}`", dir.display()))?;
    println!("{} events, {} derived keys compared, {} differences", report.events, report.keys, report.differences);
    for shown in &report.shown {
        println!("  {shown}");
    }
    if report.differences > report.shown.len() as u64 {
        println!("  … and {} more", report.differences - report.shown.len() as u64);
    }
    Ok(if report.differences == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
