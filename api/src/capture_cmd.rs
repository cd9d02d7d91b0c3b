//! `faultline capture`: live traffic from network interfaces through the engine into the
//! store, until SIGINT or SIGTERM; then open flows are ended, everything is flushed and the
//! command exits 0. Capture drops are stored as `loss` entries (`error.msg == "capture-drop"`).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::Args;
use faultline_engine::Engine;
use faultline_ingest::live::{Backend, DEFAULT_SNAPLEN, LiveCapture, LiveConfig, StopFlag};
use faultline_ingest::pipeline::{LiveReport, PipelineConfig};

use faultline::service::{IngestService, NoObserver};

use crate::ingest_cmd::{report_recovery, seconds_to_us};
use crate::store_args::{StoreArgs, runtime};

/// Arguments of `faultline capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Interface to capture on; repeat for several.
    #[arg(long = "interface", short = 'i', required = true)]
    pub interfaces: Vec<String>,
    /// Capture filter in tcpdump syntax (e.g. 'not port 22'), run in the kernel.
    #[arg(long)]
    pub filter: Option<String>,
    /// Bytes kept of each packet.
    #[arg(long, default_value_t = DEFAULT_SNAPLEN)]
    pub snaplen: u32,
    /// Put the interfaces in promiscuous mode.
    #[arg(long)]
    pub promisc: bool,
    /// Capture implementation: `pcap` (memory-mapped ring, the fast path) or `pnet`
    /// (portable, one system call per packet); both count kernel drops.
    #[arg(long, default_value = "pcap")]
    pub backend: Backend,
    /// Kernel buffer per interface, MiB: the ring (pcap) or the socket receive buffer (pnet,
    /// capped at net.core.rmem_max).
    #[arg(long, default_value_t = 32)]
    pub buffer_mib: usize,
    /// Read the drop counters this often, seconds.
    #[arg(long, default_value_t = 5.0)]
    pub stats_interval: f64,
    /// Where the store is.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Flush the live buffer to Parquet at least this often, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub flush_interval: f64,
    /// Flow timers.
    #[command(flatten)]
    pub flow: crate::flow_args::FlowArgs,
    /// Raw packets kept for `faultline export-pcap`.
    #[command(flatten)]
    pub record: crate::record_args::RecordArgs,
}

/// Runs the command.
pub fn run(args: CaptureArgs) -> anyhow::Result<ExitCode> {
    let mut config = PipelineConfig::default();
    args.flow.apply(&mut config.flow)?;
    let live = LiveConfig {
        backend: args.backend,
        snaplen: args.snaplen,
        promiscuous: args.promisc,
        filter: args.filter.clone(),
        buffer_bytes: args.buffer_mib.max(1) << 20,
        stats_interval: std::time::Duration::from_micros(
            seconds_to_us(args.stats_interval, "--stats-interval")?.unsigned_abs(),
        ),
        ..LiveConfig::new(args.interfaces.clone())
    };
    let stop = StopFlag::default();
    let mut capture = LiveCapture::open(&live, stop.clone())?;

    let runtime = runtime()?;
    runtime.spawn(stop_on_signal(stop));
    let mut engine_config = args.store.config();
    engine_config.flush.max_age = std::time::Duration::from_micros(
        seconds_to_us(args.flush_interval, "--flush-interval")?.unsigned_abs(),
    );
    let engine = runtime
        .block_on(Engine::open(engine_config))
        .with_context(|| format!("opening {}", args.store.data))?;
    report_recovery(&engine);
    eprintln!(
        "capturing on {} ({} backend){}; Ctrl-C to stop",
        capture.label(),
        args.backend.as_str(),
        args.filter
            .as_deref()
            .map(|f| format!(", filter `{f}`"))
            .unwrap_or_default()
    );
    let recorder = args.record.open(&args.store)?;
    config.recorder = recorder.clone();
    let service = IngestService::new(engine.clone(), config, Arc::new(NoObserver));
    let run = service.run_capture(&mut capture);
    let report = run.report?;
    let summary = run.summary?;
    crate::record_args::finish(recorder.as_ref());
    runtime
        .block_on(engine.close())
        .context("flushing the store")?;
    print_report(&report, summary.batches.entries(), summary.batches.flows);
    match report.error {
        Some(e) => Err(e).context("capture stopped"),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Raises `stop` on the first SIGINT or SIGTERM.
async fn stop_on_signal(stop: StopFlag) {
    crate::serve_cmd::signal_received().await;
    stop.store(true, Ordering::Relaxed);
}

fn print_report(r: &LiveReport, entries: u64, flows: u64) {
    let drops = if r.drops.counted {
        format!(
            "{} by the kernel (capture buffer full), {} by the interfaces",
            r.drops.kernel, r.drops.interface
        )
    } else {
        "not counted (the capture's drop counters could not be read)".into()
    };
    eprintln!(
        "captured {} frames ({} IP packets, {} undecodable); {entries} entries, {flows} flows; \
         dropped: {drops}",
        r.source.frames,
        r.packets,
        r.undecodable.total()
    );
}
