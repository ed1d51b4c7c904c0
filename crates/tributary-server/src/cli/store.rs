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
        b'D' => "datasets",
        b'F' => "dataset facet values",
        b'J' => "jobs",
        b'N' => "graph: datasets",
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

pub(super) fn reindex(args: &StoreArgs) -> anyhow::Result<()> {
    use tributary_service::maintenance;
    let dir = &args.data_dir;
    anyhow::ensure!(dir.is_dir(), "no store at `{}`", dir.display());
    let rebuilt = maintenance::scratch_dir(dir, "reindex");
    let report = maintenance::rebuild(dir, &rebuilt, &store_config(args), |events| {
        eprintln!("  {events} events re-applied");
    })
    .with_context(|| format!("rebuilding `{}` into `{}`", dir.display(), rebuilt.display()))?;
    let kept = maintenance::scratch_dir(dir, "before-reindex");
    std::fs::rename(dir, &kept).with_context(|| format!("moving the old store to `{}`", kept.display()))?;
    std::fs::rename(&rebuilt, dir).with_context(|| format!("moving the rebuilt store to `{}`", dir.display()))?;
    println!(
        "reindexed `{}`: {} events re-applied, {} document versions and {} schema changes copied; the old store is kept in `{}`",
        dir.display(),
        report.events,
        report.documents,
        report.schema_changes,
        kept.display()
    );
    Ok(())
}

pub(super) fn compact(args: &StoreArgs) -> anyhow::Result<()> {
    use tributary_service::maintenance;
    let dir = &args.data_dir;
    anyhow::ensure!(dir.is_dir(), "no store at `{}`", dir.display());
    let compacted = maintenance::scratch_dir(dir, "compact");
    let report = maintenance::compact(dir, &compacted, &store_config(args))
        .with_context(|| format!("compacting `{}` into `{}`", dir.display(), compacted.display()))?;
    let kept = maintenance::scratch_dir(dir, "before-compact");
    std::fs::rename(dir, &kept).with_context(|| format!("moving the old store to `{}`", kept.display()))?;
    std::fs::rename(&compacted, dir).with_context(|| format!("moving the compacted store to `{}`", dir.display()))?;
    println!(
        "compacted `{}`: {} keys ({} bytes of keys and values) in {} bytes on disk, from {}; the old store is kept in `{}`: remove it once the server runs on the compacted one",
        dir.display(),
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
