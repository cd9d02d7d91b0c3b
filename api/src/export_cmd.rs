//! `faultline export-pcap`: the retained raw packets of the flows whose entries match a KFL
//! query, from the traffic recorder, as one pcap (pcapng when they span several link types).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use faultline::pcap_export::{recorder_dir, select};
use faultline_engine::{EngineError, KflQuery};
use faultline_ingest::recorder::export_to_file;

use crate::query_cmd::parse_time;
use crate::store_args::{StoreArgs, runtime};

/// Flow ids listed at most when saying which flows had no packets.
const MAX_LISTED: usize = 20;

/// Arguments of `faultline export-pcap`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where the store is (a local data directory).
    #[command(flatten)]
    pub store: StoreArgs,
    /// KFL filter: every retained packet of the flows of the matching entries is written.
    /// Empty: every retained packet in the time range (packets without a flow included).
    #[arg(long, default_value = "")]
    pub q: String,
    /// Only entries (or, without `--q`, packets) at or after this time (RFC 3339,
    /// `YYYY-MM-DD[ HH:MM[:SS]]` in UTC, µs since the epoch, `now`, `now-24h`).
    #[arg(long)]
    pub from: Option<String>,
    /// Only entries (or packets) before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// The pcap file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs the command.
pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let Some(data) = args.store.local_dir() else {
        anyhow::bail!("the traffic recorder is kept only for a local --data directory");
    };
    let query = KflQuery {
        kfl: args.q.clone(),
        from_us: args.from.as_deref().map(parse_time).transpose()?,
        to_us: args.to.as_deref().map(parse_time).transpose()?,
        ..KflQuery::default()
    };
    if let Err(e) = faultline_kfl::compile(&query.kfl) {
        eprintln!("{}", e.render(&query.kfl));
        return Ok(ExitCode::from(2));
    }
    let runtime = runtime()?;
    let engine = args.store.open_read_only(&runtime)?;
    let selection = runtime
        .block_on(select(&engine, &query))
        .map_err(|e: EngineError| anyhow::anyhow!(e))
        .with_context(|| format!("querying {}", args.store.data))?;
    let root = recorder_dir(&data);
    if !root.is_dir() {
        anyhow::bail!(
            "{} holds no recorded packets (ingest without --no-record first)",
            root.display()
        );
    }
    let report = export_to_file(&root, &selection.filter, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    for p in &report.problems {
        tracing::warn!(problem = %p, "skipped");
    }
    let missing: Vec<String> = selection
        .flows
        .iter()
        .filter(|id| !report.per_flow.contains_key(id))
        .map(u64::to_string)
        .collect();
    let format = if report.pcapng { "pcapng" } else { "pcap" };
    if args.q.trim().is_empty() {
        println!(
            "wrote {} packets to {} ({format})",
            report.packets,
            args.out.display()
        );
    } else {
        println!(
            "wrote {} packets of {} flows to {} ({format}); {} matching flows",
            report.packets,
            report.per_flow.len(),
            args.out.display(),
            selection.flows.len()
        );
    }
    if !missing.is_empty() {
        let more = missing.len().saturating_sub(MAX_LISTED);
        println!(
            "{} flows have no retained packets (expired, or ingested with --no-record): {}{}",
            missing.len(),
            missing[..missing.len().min(MAX_LISTED)].join(" "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
