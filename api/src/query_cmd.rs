//! `faultline query` and `faultline kfl check`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use arrow::record_batch::RecordBatch;
use clap::{Args, Subcommand, ValueEnum};
use faultline::render::{JsonStyle, TextFormat, write_batches};
use faultline_engine::{KflQuery, Order};
use faultline_schemas::entry_col as c;

/// Output formats of `faultline query` and `faultline sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table (`query`: the list columns: time, protocol, endpoints, summary, error;
    /// `sql`: every column of the result).
    Table,
    /// One JSON object per line, every column.
    Json,
    /// CSV with a header, every flat column (no maps, structs or lists).
    Csv,
}

/// Arguments of `faultline query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The KFL filter, e.g. `error or icmp`; empty matches everything.
    pub kfl: String,
    /// Where the store is.
    #[command(flatten)]
    pub store: crate::store_args::StoreArgs,
    /// Only entries at or after this time (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` in UTC, µs since
    /// the epoch, `now`, `now-24h`).
    #[arg(long)]
    pub from: Option<String>,
    /// Only entries before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// At most this many entries (`limit(n)` in the query also applies; the smaller wins).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Newest first.
    #[arg(long)]
    pub desc: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `faultline kfl ...`
#[derive(Debug, Subcommand)]
pub enum KflCommand {
    /// Parse and check a query; print its tree, warnings and equivalent SQL.
    Check {
        /// The KFL text.
        kfl: String,
    },
}

/// Parses a time bound to µs since the epoch, in faultline's one time grammar
/// ([`faultline_kfl::time::parse_time`]).
pub(crate) fn parse_time(s: &str) -> anyhow::Result<i64> {
    match faultline_kfl::time::parse_time(s) {
        Some(us) => Ok(us),
        None => bail!(
            "cannot read time `{s}`: use {}",
            faultline_kfl::time::TIME_FORMS
        ),
    }
}

/// Runs `faultline query`.
pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let compiled = match faultline_kfl::compile(&args.kfl) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}", e.render(&args.kfl));
            return Ok(ExitCode::from(2));
        }
    };
    for w in &compiled.warnings {
        eprintln!("{}", w.render(&args.kfl));
    }
    let query = KflQuery {
        kfl: args.kfl.clone(),
        from_us: args.from.as_deref().map(parse_time).transpose()?,
        to_us: args.to.as_deref().map(parse_time).transpose()?,
        limit: args.limit,
        order: if args.desc {
            Order::Descending
        } else {
            Order::Ascending
        },
    };
    let runtime = crate::store_args::runtime()?;
    let engine = args.store.open_read_only(&runtime)?;
    let batches = runtime
        .block_on(async { engine.query_kfl(&query).await?.collect().await })
        .with_context(|| format!("querying {}", args.store.data))?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    print_batches(&batches, args.format, Some(&TABLE_COLUMNS))?;
    eprintln!("{rows} entries");
    Ok(ExitCode::SUCCESS)
}

/// The list view's columns.
const TABLE_COLUMNS: [&str; 10] = [
    c::TIMESTAMP,
    c::KIND,
    c::PROTOCOL_ABBR,
    c::SRC_IP,
    c::SRC_PORT,
    c::DST_IP,
    c::DST_PORT,
    c::SUMMARY,
    c::ERROR_TYPE,
    c::ERROR_REASON,
];

/// Prints `batches` to stdout in `format` with the shared renderer ([`faultline::render`]);
/// the table format shows only `table_columns` (those present, in that order) when given,
/// every column otherwise.
pub(crate) fn print_batches(
    batches: &[RecordBatch],
    format: Format,
    table_columns: Option<&[&str]>,
) -> anyhow::Result<()> {
    let format = match format {
        Format::Table => TextFormat::Table,
        Format::Json => TextFormat::Ndjson,
        Format::Csv => TextFormat::Csv,
    };
    let mut stdout = std::io::stdout().lock();
    write_batches(&mut stdout, batches, format, JsonStyle::CLI, table_columns)?;
    Ok(())
}

/// Runs `faultline kfl ...`.
pub fn run_kfl(cmd: KflCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KflCommand::Check { kfl } => {
            let checked = match faultline_kfl::check(&kfl) {
                Ok(q) => q,
                Err(e) => {
                    eprintln!("{}", e.render(&kfl));
                    return Ok(ExitCode::from(2));
                }
            };
            let tree = faultline_kfl::parse(&kfl)
                .ok()
                .and_then(|q| q.expr)
                .map(|e| e.tree());
            println!(
                "parse tree:\n{}",
                tree.as_deref()
                    .unwrap_or("  (empty: matches everything)\n")
                    .trim_end()
            );
            for w in &checked.warnings {
                println!("{}", w.render(&kfl));
            }
            if let Some(n) = checked.limit {
                println!("limit: {n}");
            }
            println!("sql: SELECT * FROM entries WHERE {}", checked.to_sql());
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        let t = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z
        assert_eq!(parse_time("2024-01-01T00:00:00Z").unwrap(), t);
        assert_eq!(parse_time("2024-01-01").unwrap(), t);
        assert_eq!(parse_time("2024-01-01 00:00").unwrap(), t);
        assert_eq!(
            parse_time("2024-01-01 01:00:00").unwrap(),
            t + 3_600_000_000
        );
        assert!(parse_time("yesterday").is_err());
    }
}
