//! Scheduled error reports: named queries (the built-in summary, a KFL filter or SQL) over a
//! time window ending at the run time, run on a cron schedule while `faultline serve` runs, or
//! on demand (`faultline report run`, `POST /api/reports/{name}/run`).
//!
//! Each run writes `<data>/reports/<name>/<run>.{json,csv,html}` (`<run>` is the UTC run time,
//! `YYYYMMDDTHHMMSS.mmmZ`) and keeps the last `keep` runs. The JSON file is always written:
//! it is the run's record (listing, "new since the previous run"); `formats` chooses the
//! others. Names are validated ([`config::validate_name`]) so nothing is written outside
//! `<data>/reports`.
//!
//! - [`config`]: the TOML `[[report]]` definitions and the default report.
//! - [`schedule`]: cron schedules and the scheduler task.
//! - [`run`]: executing a report and storing its runs ([`Reports`]).
//! - [`output`]: the run document and its JSON, CSV and HTML renderings.
//! - [`api`]: the HTTP routes merged into the server.

pub mod api;
pub mod config;
pub mod output;
pub mod run;
pub mod schedule;

pub use config::{OutputFormat, ReportDef, ReportQuery};
pub use output::RunDoc;
pub use run::{Reports, RunOutcome};
pub use schedule::{Schedule, spawn_scheduler};

/// Why a report could not be defined, run, stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The config file or a definition in it is invalid.
    #[error("report config: {0}")]
    Config(String),
    /// A report name that is not a plain directory name.
    #[error("invalid report name `{0}`: use 1 to 64 letters, digits, `-` or `_`")]
    InvalidName(String),
    /// A run id that is not of the form `YYYYMMDDTHHMMSS.mmmZ`.
    #[error("invalid run id `{0}`")]
    InvalidRun(String),
    /// No report, run or file by that name.
    #[error("{0}")]
    NotFound(String),
    /// The report's query failed.
    #[error("report query: {0}")]
    Query(#[from] faultline_engine::EngineError),
    /// Rendering the results failed.
    #[error("rendering the report: {0}")]
    Output(String),
    /// Reading or writing the report files failed.
    #[error("report files: {0}")]
    Io(#[from] std::io::Error),
}
