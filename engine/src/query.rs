//! Queries over the stored `entries`: the Parquet directory registered as a DataFusion listing
//! table with hive partitions (`date=`, `hour=`), a compiled KFL filter pushed into the scan,
//! an optional time range (which also prunes partitions), order and limit.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use faultline_schemas::{entries_schema, entry_col, flows_schema};

use crate::EngineError;

/// Row order of a query result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    #[default]
    Ascending,
    /// Newest first.
    Descending,
}

/// A query over `entries`.
#[derive(Debug, Clone, Default)]
pub struct EntryQuery {
    /// Row filter (a compiled KFL expression), if any.
    pub filter: Option<Expr>,
    /// Inclusive lower time bound, µs since the epoch.
    pub from_us: Option<i64>,
    /// Exclusive upper time bound, µs since the epoch.
    pub to_us: Option<i64>,
    /// At most this many rows.
    pub limit: Option<usize>,
    /// Order by timestamp.
    pub order: Order,
}

/// A DataFusion session configured for faultline's tables: Parquet filter pushdown on.
pub fn session() -> SessionContext {
    SessionContext::new_with_config(session_config())
}

/// The session settings every faultline query uses: Parquet filter pushdown on, no
/// information schema. URL tables (`FROM 'file.parquet'`) stay off: DataFusion only reads
/// them after `SessionContext::enable_url_table`, which faultline never calls.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(false);
    let opts = config.options_mut();
    opts.execution.parquet.pushdown_filters = true;
    opts.execution.parquet.reorder_filters = true;
    config
}

/// Registers `<data>/entries` as table `entries` in `ctx`.
pub fn register_entries(ctx: &SessionContext, data: &Path) -> Result<(), EngineError> {
    register_partitioned(ctx, data, "entries", entries_schema())
}

/// Registers `<data>/flows` as table `flows` in `ctx`.
pub fn register_flows(ctx: &SessionContext, data: &Path) -> Result<(), EngineError> {
    register_partitioned(ctx, data, "flows", flows_schema())
}

/// Registers `<data>/<table>` (hour-partitioned Parquet, `date=`/`hour=` directories) as
/// table `table` with `schema`; the directory is created if missing so an empty store queries
/// as an empty table.
fn register_partitioned(
    ctx: &SessionContext,
    data: &Path,
    table: &str,
    schema: SchemaRef,
) -> Result<(), EngineError> {
    let dir = data.join(table);
    std::fs::create_dir_all(&dir).map_err(EngineError::io("creating", &dir))?;
    let dir = std::fs::canonicalize(&dir).map_err(EngineError::io("resolving", &dir))?;
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            ("date".into(), DataType::Utf8),
            ("hour".into(), DataType::Utf8),
        ]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(table, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

fn ts_lit(us: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(us),
        Some("UTC".into()),
    ))
}

fn date_of(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// Time bounds as predicates: on `timestamp`, and on the `date` partition so whole days are
/// pruned without opening their files.
fn time_predicates(q: &EntryQuery) -> Vec<Expr> {
    let mut out = Vec::new();
    if let Some(from) = q.from_us {
        out.push(col(entry_col::TIMESTAMP).gt_eq(ts_lit(from)));
        out.push(col("date").gt_eq(lit(date_of(from))));
    }
    if let Some(to) = q.to_us {
        out.push(col(entry_col::TIMESTAMP).lt(ts_lit(to)));
        out.push(col("date").lt_eq(lit(date_of(to))));
    }
    out
}

/// Runs `q` over the entries stored under `data`; returns the matching rows with the table's
/// columns (partition columns dropped).
pub async fn query_entries(data: &Path, q: &EntryQuery) -> Result<Vec<RecordBatch>, EngineError> {
    let ctx = session();
    register_entries(&ctx, data)?;
    let mut df = ctx.table("entries").await?;
    for p in q.filter.iter().cloned().chain(time_predicates(q)) {
        df = df.filter(p)?;
    }
    let ts = col(entry_col::TIMESTAMP);
    let asc = q.order == Order::Ascending;
    df = df.sort(vec![
        ts.sort(asc, false),
        col(entry_col::ID).sort(true, false),
    ])?;
    if let Some(n) = q.limit {
        df = df.limit(0, Some(n))?;
    }
    let schema = entries_schema();
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    Ok(df.select_columns(&columns)?.collect().await?)
}
