//! Comparison harness: runs `faultline ingest` and `tshark -r` on the same generated capture
//! and prints packets per second for each and their ratio (median of several runs).
//!
//! `cargo build --release -p faultline && cargo run --release -p faultline-benches --bin compare -- --packets 1000000`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

/// Arguments.
#[derive(Debug, Parser)]
struct Args {
    /// Packets in the generated capture.
    #[arg(long, default_value_t = 1_000_000)]
    packets: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Runs per tool; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Use this capture instead of generating one.
    #[arg(long)]
    capture: Option<PathBuf>,
    /// The faultline binary (default: the one built beside this harness).
    #[arg(long)]
    faultline: Option<PathBuf>,
}

/// The `faultline` binary built beside this harness (same target directory and profile).
fn default_faultline() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("faultline")))
        .unwrap_or_else(|| PathBuf::from("faultline"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_runs(
    runs: usize,
    mut cmd: impl FnMut() -> anyhow::Result<Command>,
) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let mut c = cmd()?;
        let start = Instant::now();
        let status = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("starting")?;
        times.push(start.elapsed());
        if !status.success() {
            bail!("{c:?} failed: {status}");
        }
    }
    Ok(median(times))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let work = tempfile::tempdir()?;
    let (capture, packets) = match &args.capture {
        Some(c) => (c.clone(), count_packets(c)?),
        None => {
            let path = work.path().join("compare.pcap");
            let cap = faultline_benches::generated_capture(args.packets, args.seed)?;
            std::fs::write(&path, &cap.bytes)?;
            (path, cap.packets)
        }
    };
    let bytes = std::fs::metadata(&capture)?.len();
    println!(
        "capture: {} ({packets} packets, {:.1} MB)",
        capture.display(),
        bytes as f64 / 1e6
    );
    let faultline = args.faultline.clone().unwrap_or_else(default_faultline);
    if !faultline.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p faultline`",
            faultline.display()
        );
    }
    let data = work.path().join("data");
    let ours = time_runs(args.runs, || {
        let _ = std::fs::remove_dir_all(&data);
        let mut c = Command::new(&faultline);
        c.arg("ingest").arg(&capture).arg("--data").arg(&data);
        Ok(c)
    })?;
    let rate = |d: Duration| packets as f64 / d.as_secs_f64();
    println!(
        "{:<28} {:>10.3} s {:>12.0} packets/s",
        "faultline ingest (parquet)",
        ours.as_secs_f64(),
        rate(ours)
    );
    match which("tshark") {
        Some(tshark) => {
            let theirs = time_runs(args.runs, || {
                let mut c = Command::new(&tshark);
                c.arg("-n").arg("-r").arg(&capture);
                Ok(c)
            })?;
            println!(
                "{:<28} {:>10.3} s {:>12.0} packets/s",
                "tshark -n -r",
                theirs.as_secs_f64(),
                rate(theirs)
            );
            println!(
                "ratio faultline / tshark: {:.1}x",
                theirs.as_secs_f64() / ours.as_secs_f64()
            );
        }
        None => println!("tshark not found (apt-get install tshark): no comparison"),
    }
    println!(
        "reference on this machine kind (shared/oracles/README.md): nDPI ndpiReader 2.1 M packets/s"
    );
    Ok(())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn count_packets(path: &Path) -> anyhow::Result<u64> {
    let mut r = faultline_ingest::CaptureReader::open(path)?;
    let mut n = 0;
    while let Some(f) = r.next_frame() {
        f?;
        n += 1;
    }
    Ok(n)
}
