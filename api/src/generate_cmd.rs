//! `faultline generate`: a synthetic capture with injected errors and its truth file.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use faultline_ingest::generate::{self, Config as GenerateConfig};

/// Arguments of `faultline generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output pcap file.
    #[arg(long)]
    pub out: PathBuf,
    /// Truth file (JSON lines); defaults to `<out stem>.truth.jsonl` beside the capture.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Seed of the generator; the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Approximate number of packets to write.
    #[arg(long, default_value_t = 20_000)]
    pub packets: u64,
    /// Time of the first packet: RFC 3339 or `YYYY-MM-DD[ HH:MM[:SS]]` (UTC), or `now`
    /// (default 2024-01-01T00:00:00Z, so that a seed always gives the same bytes).
    #[arg(long)]
    pub start: Option<String>,
}

/// The truth file that goes with a capture path.
pub fn truth_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "capture".into());
    out.with_file_name(format!("{stem}.truth.jsonl"))
}

/// The generator's settings: `seed`, about `packets` packets, the first at `start_us`
/// (default: the generator's fixed start).
pub fn config(seed: u64, packets: u64, start_us: Option<i64>) -> GenerateConfig {
    let default = GenerateConfig::default();
    GenerateConfig {
        seed,
        target_packets: packets,
        start_us: start_us.unwrap_or(default.start_us),
        ..default
    }
}

/// Writes a capture and its truth file; prints what was written.
pub fn write(out: &Path, truth: &Path, cfg: &GenerateConfig) -> anyhow::Result<()> {
    let seed = cfg.seed;
    let pcap = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let truth_file =
        File::create(truth).with_context(|| format!("creating {}", truth.display()))?;
    let summary = generate::write_capture(cfg, BufWriter::new(pcap), BufWriter::new(truth_file))
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "wrote {} ({} packets, seed {seed}) and {} ({} injected events)",
        out.display(),
        summary.packets,
        truth.display(),
        summary.truth_records
    );
    Ok(())
}

/// Runs the command.
pub fn run(args: GenerateArgs) -> anyhow::Result<std::process::ExitCode> {
    let truth = args.truth.unwrap_or_else(|| truth_path(&args.out));
    let start_us = args
        .start
        .as_deref()
        .map(crate::query_cmd::parse_time)
        .transpose()?;
    write(
        &args.out,
        &truth,
        &config(args.seed, args.packets, start_us),
    )?;
    Ok(std::process::ExitCode::SUCCESS)
}
