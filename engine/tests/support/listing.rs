//! The legacy query path, kept as a reference for tests and the `query_compare` benchmark: the
//! store's Parquet directories registered as plain DataFusion listing tables with hive
//! partitions (`date=`, `hour=`), with no catalog and no live buffer. The engine's own queries
//! ([`faultline_engine::Engine::query_kfl`], [`faultline_engine::Engine::query_sql`]) must agree
//! with it on a flushed store.
//!
//! Only public engine API is used here, so `benches` includes this same file.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use faultline_engine::session::{limited_runtime, query_error, session_config};
use faultline_engine::sql::{plan_read_only, prepare_query};
use faultline_engine::views::register_views;
use faultline_engine::{EngineError, SqlLimits};
use faultline_schemas::{entries_schema, flows_schema};

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

/// Runs one read-only SQL query over the tables stored under `data` (`entries` and `flows`,
/// plus the analytic views) with the default [`SqlLimits`].
pub async fn query_sql(data: &Path, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
    query_sql_with_limits(data, sql, SqlLimits::default()).await
}

/// Runs one read-only SQL query over the tables stored under `data` within `limits`.
/// Refused and unplannable statements are [`EngineError::Sql`].
pub async fn query_sql_with_limits(
    data: &Path,
    sql: &str,
    limits: SqlLimits,
) -> Result<Vec<RecordBatch>, EngineError> {
    let statement = prepare_query(sql)?;
    let runtime = limited_runtime(&limits, None)?;
    let ctx = SessionContext::new_with_config_rt(session_config(), runtime);
    register_entries(&ctx, data)?;
    register_flows(&ctx, data)?;
    register_views(&ctx).await?;
    // The query runs as its own task so that, on a multi-threaded runtime, the timer fires on
    // time even while an operator computes without yielding; the task is aborted on timeout.
    let mut task = tokio::spawn(async move {
        let plan = plan_read_only(&ctx, statement).await?;
        Ok::<_, EngineError>(ctx.execute_logical_plan(plan).await?.collect().await?)
    });
    match tokio::time::timeout(limits.timeout, &mut task).await {
        Err(_) => {
            task.abort();
            Err(EngineError::Timeout(limits.timeout))
        }
        Ok(Err(join)) => Err(EngineError::Sql(format!("query task failed: {join}"))),
        Ok(Ok(result)) => result.map_err(|e| match e {
            EngineError::DataFusion(df) => query_error(df, limits.memory_bytes),
            other => other,
        }),
    }
}
