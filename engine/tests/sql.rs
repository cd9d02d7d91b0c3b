//! `query_sql` (a plain DataFusion listing table over the store's directories) over a small
//! store of `entries` and `flows` written by the engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, StringArray, UInt64Array};
use arrow::record_batch::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use faultline_engine::storage::HOUR_US;
use faultline_engine::{Engine, EngineConfig, EngineError, SqlLimits, Table};
use faultline_schemas::{entries_schema, entry_col, flow_col, flows_schema};
use support::listing::{query_sql, query_sql_with_limits};
use support::{T0, batch, ts};

async fn write(data: &Path, table: Table, b: &RecordBatch) {
    let mut config = EngineConfig::new(data.to_str().unwrap());
    config.background = false;
    let engine = Engine::open(config).await.unwrap();
    engine.append(table, b.clone()).unwrap();
    engine.close().await.unwrap();
}

/// Five entries over two hours in three flows (1: tcp, 2: icmp, 3: udp).
async fn store(data: &Path) {
    let entries = batch(
        entries_schema(),
        5,
        &[
            (
                entry_col::ID,
                Arc::new(UInt64Array::from(vec![1, 2, 3, 4, 5])) as ArrayRef,
            ),
            (
                entry_col::TIMESTAMP,
                ts(vec![T0, T0 + 1, T0 + HOUR_US, T0 + HOUR_US + 1, T0 + 2]),
            ),
            (
                entry_col::KIND,
                Arc::new(StringArray::from(vec!["tcp", "tcp", "icmp", "loss", "tcp"])),
            ),
            (
                entry_col::FLOW_ID,
                Arc::new(UInt64Array::from(vec![1, 1, 2, 3, 1])),
            ),
        ],
    );
    write(data, Table::Entries, &entries).await;
    let flows = batch(
        flows_schema(),
        3,
        &[
            (
                flow_col::FLOW_ID,
                Arc::new(UInt64Array::from(vec![1, 2, 3])) as ArrayRef,
            ),
            (flow_col::START, ts(vec![T0, T0 + HOUR_US, T0 + HOUR_US])),
            (flow_col::END, ts(vec![T0 + 5, T0 + HOUR_US, T0 + HOUR_US])),
            (
                flow_col::TRANSPORT,
                Arc::new(StringArray::from(vec!["tcp", "icmp", "udp"])),
            ),
        ],
    );
    write(data, Table::Flows, &flows).await;
}

async fn table(data: &Path, sql: &str) -> String {
    let batches = query_sql(data, sql).await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test]
async fn aggregate_join_and_partitions() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path()).await;

    let per_kind = table(
        dir.path(),
        "SELECT kind, count(*) AS n FROM entries GROUP BY kind ORDER BY kind",
    )
    .await;
    let expected = "\
+------+---+
| kind | n |
+------+---+
| icmp | 1 |
| loss | 1 |
| tcp  | 3 |
+------+---+";
    assert_eq!(per_kind, expected);

    let joined = table(
        dir.path(),
        "SELECT f.transport, count(*) AS n, min(e.id) AS first \
         FROM entries e JOIN flows f ON e.flow_id = f.flow_id \
         GROUP BY f.transport ORDER BY n DESC, f.transport",
    )
    .await;
    let expected = "\
+-----------+---+-------+
| transport | n | first |
+-----------+---+-------+
| tcp       | 3 | 1     |
| icmp      | 1 | 3     |
| udp       | 1 | 4     |
+-----------+---+-------+";
    assert_eq!(joined, expected);

    let by_hour = table(
        dir.path(),
        "WITH h AS (SELECT hour FROM entries) SELECT hour, count(*) AS n FROM h \
         GROUP BY hour ORDER BY hour",
    )
    .await;
    assert!(
        by_hour.contains("| 00   | 3 |") && by_hour.contains("| 01   | 2 |"),
        "{by_hour}"
    );
}

#[tokio::test]
async fn empty_store_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let n = query_sql(dir.path(), "SELECT count(*) AS n FROM flows")
        .await
        .unwrap();
    assert_eq!(
        pretty_format_batches(&n).unwrap().to_string(),
        "+---+\n| n |\n+---+\n| 0 |\n+---+"
    );
    for sql in [
        "DROP TABLE entries",
        "SELECT * FROM '/etc/passwd'",
        "SELECT nope FROM entries",
    ] {
        let e = query_sql(dir.path(), sql).await.unwrap_err();
        assert!(matches!(e, EngineError::Sql(_)), "{sql}: {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let slow = SqlLimits {
        timeout: Duration::from_millis(50),
        ..SqlLimits::default()
    };
    let e = query_sql_with_limits(
        dir.path(),
        "SELECT count(*) FROM generate_series(1, 30000) a CROSS JOIN generate_series(1, 30000) b",
        slow,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EngineError::Timeout(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    // Spilling is off, so the aggregation fails as soon as its state outgrows the pool.
    let small = SqlLimits {
        memory_bytes: 64 * 1024,
        timeout: Duration::from_secs(300),
    };
    let e = query_sql_with_limits(
        dir.path(),
        "SELECT value % 500000 AS k, count(*) FROM generate_series(1, 2000000) GROUP BY k",
        small,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EngineError::MemoryLimit { .. }), "{e:?}");
}
