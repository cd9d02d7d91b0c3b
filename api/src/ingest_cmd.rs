//! `faultline ingest`: captures in, through the engine (WAL, live buffer, flushes, catalog)
//! into Parquet, a summary table at the end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use clap::Args;
use faultline_engine::{Engine, EngineStats, parse_age};
use faultline_ingest::pipeline::{FileReport, IngestSummary, PipelineConfig, expand_inputs};
use faultline_schemas::EntryKind;
use indicatif::{ProgressBar, ProgressStyle};

use faultline::service::{CaptureFile, IngestObserver, IngestService};

use crate::store_args::{StoreArgs, runtime};

/// Arguments of `faultline ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Capture files (pcap, pcapng, optionally .gz) or directories of them. With none, a demo
    /// capture is generated as `<data>/demo.pcap` (if missing) and ingested.
    pub inputs: Vec<PathBuf>,
    /// Where the store is.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Delete data older than this (`7d`, `36h`, `90m`, `2w`) while ingesting.
    #[arg(long, value_parser = parse_retention)]
    pub retention: Option<std::time::Duration>,
    /// Flush the live buffer to Parquet at least this often, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub flush_interval: f64,
    /// Flush the live buffer once it holds this many rows.
    #[arg(long, default_value_t = 1_000_000)]
    pub flush_rows: usize,
    /// Append a line per acknowledged batch to this file (for crash tests).
    #[arg(long, hide = true)]
    pub ack_log: Option<PathBuf>,
    /// Flow timers.
    #[command(flatten)]
    pub flow: crate::flow_args::FlowArgs,
    /// Rows per record batch.
    #[arg(long, default_value_t = faultline_ingest::batch::DEFAULT_BATCH_ROWS)]
    pub batch_rows: usize,
    /// Bytes of each HTTP body kept in `request.body` / `response.body` (0: none).
    #[arg(long, default_value_t = faultline_ingest::app::http::HttpLimits::default().body_prefix)]
    pub body_prefix: usize,
    /// Raw packets kept for `faultline export-pcap`.
    #[command(flatten)]
    pub record: crate::record_args::RecordArgs,
}

/// Runs the command.
pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let inputs = if args.inputs.is_empty() {
        let Some(dir) = args.store.local_dir() else {
            anyhow::bail!("give capture files to ingest into {}", args.store.data);
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        vec![demo_capture(&dir)?]
    } else {
        args.inputs.clone()
    };
    let files = expand_inputs(&inputs).context("listing inputs")?;
    if files.is_empty() {
        anyhow::bail!("no capture files found in {}", display_list(&inputs));
    }
    let mut config = PipelineConfig {
        batch_rows: args.batch_rows.max(1),
        ..PipelineConfig::default()
    };
    args.flow.apply(&mut config.flow)?;
    config.app.http.body_prefix = args.body_prefix;
    let runtime = runtime()?;
    let mut engine_config = args.store.config();
    engine_config.retention = args.retention;
    engine_config.flush.max_rows = args.flush_rows.max(1);
    engine_config.flush.max_age = std::time::Duration::from_micros(
        seconds_to_us(args.flush_interval, "--flush-interval")?.unsigned_abs(),
    );
    let engine = runtime
        .block_on(Engine::open(engine_config))
        .with_context(|| format!("opening {}", args.store.data))?;
    report_recovery(&engine);
    let ack_log = args
        .ack_log
        .as_ref()
        .map(|path| {
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))
        })
        .transpose()?;
    let recorder = args.record.open(&args.store)?;
    config.recorder = recorder.clone();
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let progress = Arc::new(ProgressObserver::new(total));
    let mut service = IngestService::new(engine.clone(), config, progress.clone());
    if let Some(log) = ack_log {
        service = service.with_ack_log(log);
    }
    let captures: Vec<CaptureFile> = files.iter().map(|f| CaptureFile::named(f)).collect();
    let started = std::time::Instant::now();
    let read = service.ingest_captures(&captures);
    progress.bar.finish_and_clear();
    let summary = read?.summary;
    crate::record_args::finish(recorder.as_ref());
    runtime
        .block_on(engine.clone().close())
        .context("flushing the store")?;
    print_summary(
        &summary,
        started.elapsed(),
        &args.store.data,
        &engine.stats(),
    );
    Ok(if summary.read_anything() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_retention(s: &str) -> Result<std::time::Duration, String> {
    parse_age(s).ok_or_else(|| format!("`{s}` is not an age like 7d, 36h, 90m or 2w"))
}

/// Says what opening the store recovered from a previous run that did not finish.
pub(crate) fn report_recovery(engine: &Engine) {
    let r = engine.open_report();
    if let Some(why) = &r.catalog.rebuilt
        && !r.catalog.removed.is_empty()
    {
        eprintln!(
            "catalog rebuilt ({why}); {} incomplete files removed",
            r.catalog.removed.len()
        );
    }
    if r.replayed_batches > 0 {
        eprintln!(
            "recovered {} unflushed batches from the write-ahead log",
            r.replayed_batches
        );
    }
    if !r.orphans_removed.is_empty() {
        eprintln!(
            "removed {} files of an interrupted flush",
            r.orphans_removed.len()
        );
    }
}

pub(crate) fn seconds_to_us(s: f64, option: &str) -> anyhow::Result<i64> {
    if !(s.is_finite() && s > 0.0 && s < 1e9) {
        anyhow::bail!("{option} must be a positive number of seconds, got {s}");
    }
    Ok((s * 1e6) as i64)
}

/// The embedded default input: `<data>/demo.pcap`, generated once. It ends about now (its
/// minute-long traffic starts two minutes ago, to the second), so a dashboard's "last 15 min"
/// shows it.
pub(crate) fn demo_capture(data: &Path) -> anyhow::Result<PathBuf> {
    let pcap = data.join("demo.pcap");
    if !pcap.exists() {
        let truth = crate::generate_cmd::truth_path(&pcap);
        let start = chrono::Utc::now().timestamp() - 120;
        let cfg = crate::generate_cmd::config(1, 20_000, Some(start * 1_000_000));
        crate::generate_cmd::write(&pcap, &truth, &cfg)?;
    }
    Ok(pcap)
}

fn display_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The progress bar over every input's bytes (drawn only on a terminal): the name of the file
/// being read, and a warning for each damaged file.
struct ProgressObserver {
    bar: ProgressBar,
    /// Bytes of the files read before the current one.
    done_before: AtomicU64,
}

impl ProgressObserver {
    fn new(total: u64) -> Self {
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Self {
            bar,
            done_before: AtomicU64::new(0),
        }
    }
}

impl IngestObserver for ProgressObserver {
    fn file_started(&self, path: &Path) {
        self.bar.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
    }

    fn file_progress(&self, bytes: u64) {
        self.bar
            .set_position(self.done_before.load(Ordering::Relaxed) + bytes);
    }

    fn file_read(&self, path: &Path, report: &FileReport) {
        if let Some(e) = &report.error {
            self.bar.suspend(|| eprintln!("warning: {e}"));
        }
        let size = std::fs::metadata(path)
            .map(|m| m.len())
            .unwrap_or(report.source.bytes);
        let done = self.done_before.fetch_add(size, Ordering::Relaxed) + size;
        self.bar.set_position(done);
    }
}

fn print_summary(s: &IngestSummary, elapsed: std::time::Duration, data: &str, store: &EngineStats) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let undecodable = s.undecodable();
    let truncated: u64 = s.files.iter().map(|f| f.source.snapped).sum();
    let mut rows: Vec<(String, String)> = vec![
        (
            "files".into(),
            format!("{} ({} damaged)", s.files.len(), s.damaged_files()),
        ),
        ("frames".into(), s.frames().to_string()),
        (
            "IP packets".into(),
            format!(
                "{} ({:.0} packets/s)",
                s.packets(),
                s.packets() as f64 / secs
            ),
        ),
        ("flows".into(), s.batches.flows.to_string()),
        ("entries".into(), s.batches.entries().to_string()),
    ];
    for (kind, n) in EntryKind::ALL.iter().zip(s.batches.entries_by_kind) {
        if n > 0 {
            rows.push((format!("  {}", kind.as_str()), n.to_string()));
        }
    }
    rows.push((
        "undecodable frames".into(),
        format!(
            "{} (unsupported link {}, not IP {}, malformed {})",
            undecodable.total(),
            undecodable.unsupported_link,
            undecodable.not_ip,
            undecodable.malformed
        ),
    ));
    rows.push(("truncated records (snaplen)".into(), truncated.to_string()));
    rows.push((
        "stored".into(),
        format!(
            "{} rows in {} parquet files, {} bytes ({:.1} bytes/row) under {data}",
            store.stored_rows,
            store.files,
            store.stored_bytes,
            store.stored_bytes as f64 / store.stored_rows.max(1) as f64
        ),
    ));
    if store.backpressure_waits > 0 {
        rows.push((
            "back-pressure".into(),
            format!(
                "{} waits, {:.2} s",
                store.backpressure_waits,
                store.backpressure_us as f64 / 1e6
            ),
        ));
    }
    rows.push(("elapsed".into(), format!("{secs:.2} s")));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<width$}  {v}");
    }
    for f in s.files.iter().filter(|f| f.error.is_some()) {
        if let Some(e) = &f.error {
            println!(
                "damaged: {e} (kept {} frames before the damage)",
                f.source.frames
            );
        }
    }
}
