//! `faultline ingest`: captures in, Parquet out, a summary table at the end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use faultline_engine::StoreConfig;
use faultline_ingest::pipeline::{IngestSummary, Pipeline, PipelineConfig, expand_inputs};
use faultline_schemas::EntryKind;
use indicatif::{ProgressBar, ProgressStyle};

use faultline::store_sink::StoreSink;

/// Arguments of `faultline ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Capture files (pcap, pcapng, optionally .gz) or directories of them. With none, a demo
    /// capture is generated as `<data>/demo.pcap` (if missing) and ingested.
    pub inputs: Vec<PathBuf>,
    /// Data directory of the Parquet store.
    #[arg(long, default_value_os_t = crate::default_data_dir())]
    pub data: PathBuf,
    /// Seconds of capture time after which an idle, incomplete stream is stale.
    #[arg(long, default_value_t = 10.0)]
    pub stream_timeout: f64,
    /// Rows per record batch.
    #[arg(long, default_value_t = faultline_ingest::batch::DEFAULT_BATCH_ROWS)]
    pub batch_rows: usize,
}

/// Runs the command.
pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let inputs = if args.inputs.is_empty() {
        vec![demo_capture(&args.data)?]
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
    config.flow.stream_timeout_us = seconds_to_us(args.stream_timeout)?;
    let sink = StoreSink::new(StoreConfig::new(&args.data))?;
    let mut pipeline = Pipeline::new(config, sink);

    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = progress_bar(total);
    let started = std::time::Instant::now();
    let mut done_before = 0u64;
    for file in &files {
        bar.set_message(
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let report =
            pipeline.ingest_file(file, &mut |bytes| bar.set_position(done_before + bytes))?;
        if let Some(e) = &report.error {
            bar.suspend(|| eprintln!("warning: {e}"));
        }
        done_before += std::fs::metadata(file)
            .map(|m| m.len())
            .unwrap_or(report.source.bytes);
        bar.set_position(done_before);
    }
    bar.finish_and_clear();
    let (sink, summary) = pipeline.finish()?;
    let (entries, flows) = sink.close()?;
    print_summary(
        &summary,
        started.elapsed(),
        &args.data,
        entries.files + flows.files,
    );
    Ok(if summary.read_anything() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn seconds_to_us(s: f64) -> anyhow::Result<i64> {
    if !(s.is_finite() && s > 0.0 && s < 1e9) {
        anyhow::bail!("--stream-timeout must be a positive number of seconds, got {s}");
    }
    Ok((s * 1e6) as i64)
}

/// The embedded default input: `<data>/demo.pcap`, generated once.
fn demo_capture(data: &Path) -> anyhow::Result<PathBuf> {
    let pcap = data.join("demo.pcap");
    if !pcap.exists() {
        let truth = crate::generate_cmd::truth_path(&pcap);
        crate::generate_cmd::write(&pcap, &truth, 1, 20_000)?;
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

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn print_summary(s: &IngestSummary, elapsed: std::time::Duration, data: &Path, parquet_files: u64) {
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
        "parquet files".into(),
        format!("{parquet_files} under {}", data.display()),
    ));
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
