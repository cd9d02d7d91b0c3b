//! `faultline sql`: one read-only SQL query over the stored tables.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use arrow::record_batch::RecordBatch;
use clap::Args;
use faultline_engine::{EngineError, query_sql};

use crate::query_cmd::{Format, print_batches};

/// Arguments of `faultline sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query: one `SELECT`, `WITH ... SELECT` or `EXPLAIN` over `entries` and `flows`.
    pub sql: String,
    /// Data directory of the Parquet store.
    #[arg(long, default_value_os_t = crate::default_data_dir())]
    pub data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `faultline sql`; a refused or invalid statement exits with code 2.
pub fn run(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let batches = match runtime.block_on(query_sql(&args.data, &args.sql)) {
        Ok(b) => b,
        Err(EngineError::Sql(msg)) => {
            eprintln!("{msg}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            return Err(e).with_context(|| format!("querying {}", args.data.display()));
        }
    };
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    print_batches(&batches, args.format, None)?;
    eprintln!("{rows} rows");
    Ok(ExitCode::SUCCESS)
}
