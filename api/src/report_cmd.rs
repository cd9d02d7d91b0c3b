//! `faultline report run <name>`: runs one report now over a read-only view of the store and
//! writes its files under `<data>/reports/<name>/`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use faultline::reports::{self, Reports};

use crate::store_args::{StoreArgs, runtime};

/// `faultline report …`.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Run a report now and write its files (`default` is the built-in daily summary).
    Run(RunArgs),
}

/// Arguments of `faultline report run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The report's name.
    pub name: String,
    /// TOML config with `[[report]]` definitions.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// End of the window (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` in UTC, µs since the epoch,
    /// `now-24h`, …; default: now).
    #[arg(long)]
    pub at: Option<String>,
    /// Where the store is (a local data directory).
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs the command: prints the files written.
pub fn run(cmd: ReportCommand) -> anyhow::Result<ExitCode> {
    let ReportCommand::Run(args) = cmd;
    let defs = reports::config::load(args.config.as_deref())?;
    let dir = args
        .store
        .local_dir()
        .context("reports need a local --data directory")?;
    let at = match &args.at {
        Some(text) => DateTime::<Utc>::from_timestamp_micros(crate::query_cmd::parse_time(text)?)
            .with_context(|| format!("--at {text}: out of range"))?,
        None => Utc::now(),
    };
    let reports = Arc::new(Reports::new(&dir, defs));
    reports.get(&args.name)?;
    let runtime = runtime()?;
    let engine = args.store.open_read_only(&runtime)?;
    let outcome = runtime.block_on(reports.run(&engine, &args.name, at))?;
    for file in &outcome.files {
        println!("{}", file.display());
    }
    eprintln!(
        "report {} run {} over [{}, {})",
        outcome.doc.report, outcome.doc.run, outcome.doc.from, outcome.doc.to
    );
    Ok(ExitCode::SUCCESS)
}
