//! `tributary import`: bulk load of an NDJSON file straight into a store, through the same
//! validation and writer as the server (so the same rules and durability apply).

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tributary_service::{IngestOutcome, PendingAck, Service, ServiceError, parse_event};

use super::StoreArgs;

/// Events enqueued and not yet acknowledged.
const MAX_IN_FLIGHT: usize = 1024;
/// Rejected lines listed in the summary.
const SHOWN_REJECTIONS: usize = 10;

#[derive(Default)]
struct Tally {
    lines: u64,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    shown: Vec<String>,
}

impl Tally {
    fn record(&mut self, line: u64, result: Result<IngestOutcome, ServiceError>) {
        match result {
            Ok(outcome) if outcome.duplicate => self.duplicates += 1,
            Ok(_) => self.accepted += 1,
            Err(error) => {
                self.rejected += 1;
                if self.shown.len() < SHOWN_REJECTIONS {
                    self.shown.push(format!("line {line}: {error}"));
                }
            }
        }
    }
}

pub(super) async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    // The index snapshot is written once, at the end: a bulk load is not slowed by saves
    // along the way (an interrupted import is run again; its events already stored are
    // duplicates).
    let config = tributary_service::ServiceConfig { snapshot_every: 0, ..args.store.service_config() };
    let data_dir = args.store.data_dir.clone();
    let service = tokio::task::spawn_blocking(move || Service::open(config).map(|service| service.as_local_operator()))
        .await?
        .with_context(|| format!("opening the store in `{}`", data_dir.display()))?;

    let (reader, total_bytes): (Box<dyn BufRead + Send>, u64) = if args.file.as_os_str() == "-" {
        (Box::new(std::io::BufReader::new(std::io::stdin())), 0)
    } else {
        let file = std::fs::File::open(&args.file).with_context(|| format!("opening `{}`", args.file.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(std::io::BufReader::with_capacity(1 << 20, file)), size)
    };
    let progress = if args.quiet || total_bytes == 0 {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };

    // Lines are read on a blocking thread and parsed there; the async side enqueues.
    // `None`: a blank line, skipped.
    type Parsed = Option<Result<tributary_service::ParsedEvent, ServiceError>>;
    let (line_tx, mut line_rx) = tokio::sync::mpsc::channel::<(u64, usize, Parsed)>(1024);
    // Acknowledged events come back to the reading thread to be freed: a parsed event is a
    // tree of thousands of blocks that thread allocated, and the allocator takes them back
    // there without cross-thread traffic (measured: about a fifth of the import's CPU
    // outside the writer went to freeing events on the async side).
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<tributary_service::ParsedEvent>();
    let reading = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut line_number = 0u64;
        for line in reader.split(b'\n') {
            while let Ok(spent) = spent_rx.try_recv() {
                drop(spent);
            }
            let line = line.context("reading the input")?;
            line_number += 1;
            let length = line.len() + 1;
            let parsed = if line.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(parse_event(&line).map_err(ServiceError::from))
            };
            if line_tx.blocking_send((line_number, length, parsed)).is_err() {
                break;
            }
        }
        Ok(())
    });

    let started = Instant::now();
    let mut tally = Tally::default();
    let mut in_flight: VecDeque<(u64, PendingAck)> = VecDeque::new();
    while let Some((line, length, parsed)) = line_rx.recv().await {
        progress.inc(length as u64);
        let Some(parsed) = parsed else { continue };
        tally.lines += 1;
        match parsed {
            Err(error) => tally.record(line, Err(error)),
            Ok(event) => match service.enqueue(event).await {
                Ok(pending) => in_flight.push_back((line, pending)),
                Err(error) => tally.record(line, Err(error)),
            },
        }
        while in_flight.len() >= MAX_IN_FLIGHT {
            if let Some((line, pending)) = in_flight.pop_front() {
                tally.record(line, settle(pending, &spent_tx).await);
            }
        }
        if tally.lines % 1000 == 0 {
            progress.set_message(format!("{} events", tally.lines));
        }
    }
    for (line, pending) in in_flight {
        tally.record(line, settle(pending, &spent_tx).await);
    }
    reading.await??;
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let closing = service.clone();
    tokio::task::spawn_blocking(move || closing.close()).await?;
    drop(service);
    // The whole store was written in one open: settle it now, so that the server's first
    // start does not read sled's whole log (see `maintenance::settle`).
    let (dir, store_config) = (data_dir.clone(), args.store.service_config().store);
    if let Err(error) =
        tokio::task::spawn_blocking(move || tributary_service::maintenance::settle(&dir, &store_config)).await?
    {
        eprintln!(
            "warning: the store is imported, but settling it failed ({error}): the server's first start will take longer"
        );
    }

    println!(
        "imported {} events from {} lines in {:.1}s ({:.0} events/s): {} new, {} duplicates, {} rejected",
        tally.accepted + tally.duplicates,
        tally.lines,
        elapsed,
        (tally.accepted + tally.duplicates) as f64 / elapsed.max(1e-9),
        tally.accepted,
        tally.duplicates,
        tally.rejected
    );
    for shown in &tally.shown {
        println!("  rejected {shown}");
    }
    if tally.rejected as usize > tally.shown.len() {
        println!("  … and {} more rejected lines", tally.rejected as usize - tally.shown.len());
    }
    Ok(if tally.rejected == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// Waits for an event's acknowledgement and hands the event back to the reading thread to be
/// freed (once that thread is done, it is freed here).
async fn settle(
    pending: PendingAck,
    spent: &std::sync::mpsc::Sender<tributary_service::ParsedEvent>,
) -> Result<IngestOutcome, ServiceError> {
    let (outcome, event) = pending.outcome_and_event().await;
    if let Some(event) = event {
        // A send fails only when the reading thread has finished; the event is freed here.
        let _ = spent.send(event);
    }
    outcome
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// NDJSON file, one OpenLineage event per line (`-` for standard input).
    pub(crate) file: PathBuf,
    /// Hide the progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
}
