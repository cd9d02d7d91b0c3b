//! The `faultline` command: generate captures, ingest them into the store, query it.

mod capture_cmd;
mod export_cmd;
mod flow_args;
mod generate_cmd;
mod ingest_cmd;
mod query_cmd;
mod record_args;
mod report_cmd;
mod serve_cmd;
mod sql_cmd;
mod store_args;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

/// faultline: network errors from packet captures, as a queryable time series.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about)]
struct Cli {
    /// How log lines are written to stderr: `text` for people, `json` (one object per line)
    /// for log collectors. Which lines: `RUST_LOG` (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, message and fields).
    Json,
}

/// Installs the process's log subscriber: the libraries log through `tracing`, the binary
/// decides where it goes (stderr) and in what shape. `RUST_LOG` filters (default `info`).
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation cannot happen here (main runs once); ignore it all the same.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest capture files or directories into the Parquet store. With no input, a demo
    /// capture is generated in the data directory and ingested.
    Ingest(ingest_cmd::IngestArgs),
    /// Capture live traffic from network interfaces into the store until SIGINT/SIGTERM.
    Capture(capture_cmd::CaptureArgs),
    /// Write a synthetic capture with injected errors and a truth file.
    Generate(generate_cmd::GenerateArgs),
    /// Filter the stored entries with KFL.
    Query(query_cmd::QueryArgs),
    /// Write the recorded raw packets of the flows of matching entries to a pcap file.
    ExportPcap(export_cmd::ExportArgs),
    /// Run one read-only SQL query over the stored `entries` and `flows` tables.
    Sql(sql_cmd::SqlArgs),
    /// Serve the HTTP API (entries, SQL, live streams, summaries, uploads, metrics) while
    /// ingesting captures in the background, until SIGINT/SIGTERM.
    Serve(serve_cmd::ServeArgs),
    /// Scheduled error reports.
    #[command(subcommand)]
    Report(report_cmd::ReportCommand),
    /// KFL tools.
    #[command(subcommand)]
    Kfl(query_cmd::KflCommand),
}

/// Default data directory of every command.
pub(crate) const DEFAULT_DATA_DIR: &str = "faultline-data";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Ingest(args) => ingest_cmd::run(args),
        Command::Capture(args) => capture_cmd::run(args),
        Command::Generate(args) => generate_cmd::run(args),
        Command::Query(args) => query_cmd::run(args),
        Command::ExportPcap(args) => export_cmd::run(args),
        Command::Sql(args) => sql_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Report(cmd) => report_cmd::run(cmd),
        Command::Kfl(cmd) => query_cmd::run_kfl(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
