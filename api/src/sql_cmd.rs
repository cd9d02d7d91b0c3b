//! `faultline sql`: one read-only SQL query over the stored tables.

use std::process::ExitCode;

use anyhow::Context;
use arrow::record_batch::RecordBatch;
use clap::Args;
use faultline_engine::EngineError;

use crate::query_cmd::{Format, print_batches};

/// Arguments of `faultline sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query: one `SELECT`, `WITH ... SELECT` or `EXPLAIN` over `entries` and `flows`.
    pub sql: String,
    /// Where the store is.
    #[command(flatten)]
    pub store: crate::store_args::StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `faultline sql`; a refused or invalid statement exits with code 2.
pub fn run(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let runtime = crate::store_args::runtime()?;
    let engine = args.store.open_read_only(&runtime)?;
    let batches =
        match runtime.block_on(async { engine.query_sql(&args.sql).await?.collect().await }) {
            Ok(b) => b,
            Err(EngineError::Sql(msg)) => {
                eprintln!("{msg}");
                return Ok(ExitCode::from(2));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("querying {}", args.store.data));
            }
        };
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    print_batches(&batches, args.format, None)?;
    eprintln!("{rows} rows");
    Ok(ExitCode::SUCCESS)
}
