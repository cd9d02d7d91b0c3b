//! Compiled filters reach the Parquet scan as they are: the scan's predicate compares columns
//! with literals of their own type (no cast on the column) and prunes row groups by statistics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt16Array, UInt64Array,
};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::physical_plan::collect;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use faultline_kfl::compile_at;
use faultline_schemas::entries_schema;

/// 1000 HTTP entries, statuses 200 for ids < 500 and 503 above, in row groups of 100.
fn batch() -> RecordBatch {
    let schema = entries_schema();
    let n = 1000u64;
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.name().as_str() {
                "id" => Arc::new(UInt64Array::from_iter_values(0..n)),
                "timestamp" => Arc::new(
                    TimestampMicrosecondArray::from_iter_values(
                        (0..n).map(|i| 1_600_000_000_000_000 + i as i64 * 1_000_000),
                    )
                    .with_timezone("UTC"),
                ),
                "response_status" => Arc::new(UInt16Array::from_iter_values(
                    (0..n).map(|i| if i < 500 { 200 } else { 503 }),
                )),
                "request_path" => Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("/p{:04}", i)),
                )),
                "kind" | "protocol_name" => {
                    Arc::new(StringArray::from_iter_values((0..n).map(|_| "http")))
                }
                "protocol_abbr" => Arc::new(StringArray::from_iter_values((0..n).map(|_| "HTTP"))),
                "transport" => Arc::new(StringArray::from_iter_values((0..n).map(|_| "tcp"))),
                "summary" => Arc::new(StringArray::from_iter_values((0..n).map(|_| "GET"))),
                _ => arrow::array::new_null_array(f.data_type(), n as usize),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

async fn parquet_context(dir: &std::path::Path) -> SessionContext {
    let writer = SessionContext::new();
    writer.register_batch("src", batch()).unwrap();
    let mut options = datafusion::config::TableParquetOptions::default();
    options.global.max_row_group_size = 100;
    let path = dir.join("entries.parquet");
    writer
        .table("src")
        .await
        .unwrap()
        .write_parquet(
            path.to_str().unwrap(),
            DataFrameWriteOptions::new().with_single_file_output(true),
            Some(options),
        )
        .await
        .unwrap();
    let config = SessionConfig::new().with_target_partitions(1);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_parquet(
        "entries",
        path.to_str().unwrap(),
        ParquetReadOptions::default(),
    )
    .await
    .unwrap();
    ctx
}

/// Runs the query; returns (matching rows, the plan text with metrics).
async fn run(ctx: &SessionContext, kfl: &str) -> (usize, String) {
    let compiled = compile_at(kfl, 0).unwrap();
    let df = ctx
        .table("entries")
        .await
        .unwrap()
        .filter(compiled.expr)
        .unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let rows: usize = collect(plan.clone(), ctx.task_ctx())
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let text = DisplayableExecutionPlan::with_metrics(plan.as_ref())
        .indent(true)
        .to_string();
    (rows, text)
}

fn scan_line(plan: &str) -> &str {
    plan.lines()
        .find(|l| l.contains("DataSourceExec"))
        .unwrap_or("")
}

#[tokio::test]
async fn predicates_reach_the_scan_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = parquet_context(dir.path()).await;

    let (rows, plan) = run(&ctx, "response.status == 503").await;
    assert_eq!(rows, 500);
    let scan = scan_line(&plan);
    assert!(scan.contains("predicate=response_status@"), "{plan}");
    assert!(
        !scan.contains("CAST"),
        "the column must not be cast: {scan}"
    );
    assert!(
        scan.contains("row_groups_pruned_statistics=10 total \u{2192} 5 matched"),
        "{scan}"
    );

    let (rows, plan) = run(&ctx, "timestamp < 1600000100000").await;
    assert_eq!(rows, 100);
    let scan = scan_line(&plan);
    assert!(!scan.contains("CAST"), "{scan}");
    assert!(
        scan.contains("row_groups_pruned_statistics=10 total \u{2192} 1 matched"),
        "{scan}"
    );

    let (rows, plan) = run(&ctx, "request.path.startsWith(\"/p00\")").await;
    assert_eq!(rows, 100);
    assert!(
        scan_line(&plan).contains("row_groups_pruned_statistics=10 total \u{2192} 1 matched"),
        "{plan}"
    );

    let (rows, _) = run(&ctx, "response.status > 400 or error or icmp or tcp").await;
    assert_eq!(rows, 500);
}
