//! `faultline serve`: opens the store for writing, ingests the given captures (and live
//! interfaces) in the background, and serves the HTTP API until SIGINT or SIGTERM; then live
//! streams end, ingest stops and the store is flushed and closed. With no source and an empty
//! store it ingests the demo capture (the README's first command), unless `--no-demo`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use faultline::reports::{self, Reports};
use faultline::server::{self, AppState, Limits, Metrics, ServerConfig};
use faultline::service::{IngestService, IngestSource};
use faultline_engine::{Engine, SqlLimits};
use faultline_ingest::live::LiveConfig;
use faultline_ingest::pipeline::{PipelineConfig, expand_inputs};

use crate::ingest_cmd::{report_recovery, seconds_to_us};
use crate::store_args::{StoreArgs, runtime};

/// Environment variable holding the bearer token when `--token` is not given.
const TOKEN_ENV: &str = "FAULTLINE_TOKEN";
/// How long shutdown waits for a running file ingest before closing the store under it.
const INGEST_GRACE: Duration = Duration::from_secs(5);

/// Arguments of `faultline serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the store is.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Capture files or directories to ingest in the background; repeat for several.
    #[arg(long = "pcap")]
    pub pcaps: Vec<PathBuf>,
    /// Interfaces to capture live traffic on while serving; repeat for several.
    #[arg(long = "interface", short = 'i')]
    pub interfaces: Vec<String>,
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8899")]
    pub listen: String,
    /// Bearer token required on every request but /healthz (default: $FAULTLINE_TOKEN;
    /// none: no authentication).
    #[arg(long)]
    pub token: Option<String>,
    /// Largest capture upload, MiB.
    #[arg(long, default_value_t = 2048)]
    pub max_upload_mib: u64,
    /// Most rows one response may carry.
    #[arg(long, default_value_t = Limits::default().max_result_rows)]
    pub max_result_rows: usize,
    /// Longest a query may run, seconds.
    #[arg(long, default_value_t = 60.0)]
    pub query_timeout: f64,
    /// Most memory one query may use, MiB.
    #[arg(long, default_value_t = 1024)]
    pub query_memory_mib: usize,
    /// Flush the live buffer to Parquet at least this often, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub flush_interval: f64,
    /// Flow timers.
    #[command(flatten)]
    pub flow: crate::flow_args::FlowArgs,
    /// TOML config with `[[report]]` definitions (the built-in default report runs daily
    /// without one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Start empty instead of generating the demo capture when no `--pcap` or `--interface`
    /// is given and the store is empty.
    #[arg(long)]
    pub no_demo: bool,
    /// Raw packets kept for `GET /api/pcap` and `faultline export-pcap`.
    #[command(flatten)]
    pub record: crate::record_args::RecordArgs,
}

/// Runs the command.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut files = expand_inputs(&args.pcaps).context("listing --pcap inputs")?;
    let report_defs = reports::config::load(args.config.as_deref())?;
    if !args.pcaps.is_empty() && files.is_empty() {
        anyhow::bail!("no capture files found in the --pcap inputs");
    }
    let mut pipeline = PipelineConfig::default();
    args.flow.apply(&mut pipeline.flow)?;
    let mut engine_config = args.store.config();
    engine_config.flush.max_age = Duration::from_micros(
        seconds_to_us(args.flush_interval, "--flush-interval")?.unsigned_abs(),
    );
    engine_config.query_limits = SqlLimits {
        memory_bytes: args.query_memory_mib.max(1) << 20,
        timeout: Duration::from_micros(
            seconds_to_us(args.query_timeout, "--query-timeout")?.unsigned_abs(),
        ),
    };
    let runtime = runtime()?;
    let engine = runtime
        .block_on(Engine::open(engine_config))
        .with_context(|| format!("opening {}", args.store.data))?;
    report_recovery(&engine);
    if wants_demo(&args, &engine) {
        files.push(demo_capture(&args.store)?);
    }
    let upload_dir = args.store.local_dir().map(|d| upload_dir(&d));
    if let Some(dir) = &upload_dir {
        remove_stale_uploads(dir);
    }
    let config = ServerConfig {
        token: args
            .token
            .clone()
            .or_else(|| std::env::var(TOKEN_ENV).ok())
            .filter(|t| !t.is_empty()),
        limits: Limits {
            max_upload_bytes: args.max_upload_mib.saturating_mul(1 << 20),
            max_result_rows: args.max_result_rows,
            ..Limits::default()
        },
        upload_dir,
    };
    let recorder = args.record.open(&args.store)?;
    pipeline.recorder = recorder.clone();
    let metrics = Metrics::new(engine.clone());
    let service = IngestService::new(engine.clone(), pipeline, metrics.clone());
    let (queue, worker) = service
        .start_queue()
        .context("starting the ingest worker")?;
    if !files.is_empty() {
        queue
            .submit(IngestSource::Files(files))
            .map_err(|e| anyhow::anyhow!("queueing the captures: {e}"))?;
    }
    let capture = (!args.interfaces.is_empty())
        .then(|| service.start_capture(LiveConfig::new(args.interfaces.clone())))
        .transpose()?;
    if let Some(c) = &capture {
        eprintln!("capturing on {}", c.label());
    }
    let state = AppState::new(engine.clone(), config, metrics, queue.clone());
    if let Some(r) = &recorder {
        state.set_recorder(r.clone());
    }
    let authenticated = state.config().token.is_some();
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        announce(&args.store.data, addr);
        if !authenticated && !addr.ip().is_loopback() {
            tracing::warn!("listening beyond loopback without --token");
        }
        let mut extra = server::dashboard::routes();
        match args.store.local_dir() {
            Some(dir) => {
                let reports = Arc::new(Reports::new(&dir, report_defs));
                extra = extra.merge(reports::api::routes(reports.clone()));
                reports::spawn_scheduler(engine.clone(), reports, state.shutdown_token());
            }
            None => tracing::warn!("reports need a local --data directory; not scheduled"),
        }
        let app = server::app(state.clone(), extra);
        server::serve(listener, app, state, signal_received())
            .await
            .context("serving")
    });
    eprintln!("stopping");
    queue.stop();
    if let Some(capture) = capture {
        capture.stop();
    }
    // A file still being read after the grace is cut short when the store closes (its appends
    // then fail, what was appended stays).
    if !worker.wait(INGEST_GRACE) {
        tracing::warn!("the running ingest is cut short: closing the store");
    }
    crate::record_args::finish(recorder.as_ref());
    runtime
        .block_on(engine.close())
        .context("flushing the store")?;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The dashboard link printed at start: the errors-first query Kubeshark users know.
const DASHBOARD_SEED: &str = "?q=response.status%20%3E%20400%20or%20error%20or%20icmp%20or%20tcp";

/// Prints the address and the dashboard link in one write; a reader that closed stdout after
/// the first line must not stop the server, so write errors are ignored.
fn announce(data: &str, addr: std::net::SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = write!(
        out,
        "faultline serving {data} on http://{addr}/\ndashboard: http://{addr}/{DASHBOARD_SEED}\n"
    );
    let _ = out.flush();
}

/// The embedded default: no source given, an empty store and no `--no-demo`.
fn wants_demo(args: &ServeArgs, engine: &Engine) -> bool {
    let stats = engine.stats();
    !args.no_demo
        && args.pcaps.is_empty()
        && args.interfaces.is_empty()
        && stats.stored_rows == 0
        && stats.live_rows == 0
}

/// `<data>/demo.pcap` (generated if missing), to ingest in the background.
fn demo_capture(store: &StoreArgs) -> anyhow::Result<PathBuf> {
    let dir = store
        .local_dir()
        .context("the demo capture needs a local --data directory (or give --no-demo)")?;
    eprintln!(
        "no --pcap or --interface and an empty store: ingesting a demo capture (--no-demo skips it)"
    );
    crate::ingest_cmd::demo_capture(&dir)
}

/// `<data>/_faultline/uploads`: uploads stay inside the data directory.
fn upload_dir(data: &Path) -> PathBuf {
    data.join("_faultline").join("uploads")
}

/// Deletes uploads a previous run left behind when it was killed mid-ingest.
fn remove_stale_uploads(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("upload-") && name.ends_with(".part") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Completes on the first SIGINT or SIGTERM (`serve` and `capture` stop on it).
pub(crate) async fn signal_received() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
            let _ = ctrl_c.await;
        }
    }
}
