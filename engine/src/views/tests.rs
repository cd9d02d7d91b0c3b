//! The views, `kfl()` and `kfl_datetime` over small in-memory tables whose answers are worked
//! out by hand below.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, UInt16Array, UInt64Array};
use arrow::record_batch::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use faultline_schemas::{entries_schema, entry_col as e, flow_col as f, flows_schema};

use super::*;
use crate::sql::{plan_read_only, prepare_query};
use crate::test_batches::{batch, ts};

/// 2021-10-19T18:29:00Z, µs.
const T: i64 = 1_634_668_140_000_000;
const S: i64 = 1_000_000;
const DAY: i64 = 86_400 * S;

fn strings(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn opt_strings(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn u64s(v: &[u64]) -> ArrayRef {
    Arc::new(UInt64Array::from(v.to_vec()))
}

fn u16s(v: &[u16]) -> ArrayRef {
    Arc::new(UInt16Array::from(v.to_vec()))
}

/// Six entries: on day 1 two refused connections and a reset to 10.0.0.9:80 (flows 10, 11,
/// 12, from two sources), loss on flow 12 a minute later, an ICMP port unreachable; on day 2
/// a stale stream to [2001:db8::1]:443 (flow 14, which started on day 1).
fn entries() -> RecordBatch {
    batch(
        entries_schema(),
        6,
        &[
            (e::ID, u64s(&[1, 2, 3, 4, 5, 6])),
            (
                e::TIMESTAMP,
                ts(vec![
                    T + S,
                    T + 2 * S,
                    T + 61 * S,
                    T + 62 * S,
                    T + DAY,
                    T + 3 * S,
                ]),
            ),
            (
                e::KIND,
                strings(&["tcp", "tcp", "loss", "icmp", "timeout", "tcp"]),
            ),
            (
                e::PROTOCOL_NAME,
                strings(&["tcp", "tcp", "tcp", "icmp", "tcp", "tcp"]),
            ),
            (
                e::TRANSPORT,
                strings(&["tcp", "tcp", "tcp", "icmp", "tcp", "tcp"]),
            ),
            (e::FLOW_ID, u64s(&[10, 11, 12, 13, 14, 12])),
            (
                e::SRC_IP,
                strings(&[
                    "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.9", "10.0.0.3", "10.0.0.1",
                ]),
            ),
            (
                e::DST_IP,
                strings(&[
                    "10.0.0.9",
                    "10.0.0.9",
                    "10.0.0.9",
                    "10.0.0.1",
                    "2001:db8::1",
                    "10.0.0.9",
                ]),
            ),
            (e::DST_PORT, u16s(&[80, 80, 80, 0, 443, 80])),
            (
                e::SUMMARY,
                strings(&[
                    "SynSent",
                    "SynSent",
                    "3 retransmissions",
                    "DestinationUnreachable(Port)",
                    "stale stream",
                    "Reset",
                ]),
            ),
            (
                e::ERROR_TYPE,
                opt_strings(&[
                    Some("connection"),
                    Some("connection"),
                    Some("loss"),
                    None,
                    Some("timeout"),
                    Some("connection"),
                ]),
            ),
            (
                e::ERROR_MSG,
                opt_strings(&[
                    Some("SynSent"),
                    Some("SynSent"),
                    Some("packet loss"),
                    None,
                    Some("stale stream"),
                    Some("Reset"),
                ]),
            ),
        ],
    )
}

/// Flows 10, 11, 12, 15 to 10.0.0.9:80 (15 without error), 13 UDP to 10.0.0.1:53, 14 to
/// [2001:db8::1]:443 starting late on day 1, 16 ICMP (not a service).
fn flows() -> RecordBatch {
    batch(
        flows_schema(),
        7,
        &[
            (f::FLOW_ID, u64s(&[10, 11, 12, 15, 13, 14, 16])),
            (f::START, ts(vec![T, T + S, T, T, T, T + 5 * 3600 * S, T])),
            (
                f::TRANSPORT,
                strings(&["tcp", "tcp", "tcp", "tcp", "udp", "tcp", "icmp"]),
            ),
            (
                f::RESP_IP,
                strings(&[
                    "10.0.0.9",
                    "10.0.0.9",
                    "10.0.0.9",
                    "10.0.0.9",
                    "10.0.0.1",
                    "2001:db8::1",
                    "10.0.0.1",
                ]),
            ),
            (f::RESP_PORT, u16s(&[80, 80, 80, 80, 53, 443, 3])),
        ],
    )
}

async fn context() -> SessionContext {
    let ctx = SessionContext::new();
    for (name, b) in [("entries", entries()), ("flows", flows())] {
        let table = MemTable::try_new(b.schema(), vec![vec![b]]).unwrap();
        ctx.register_table(name, Arc::new(table)).unwrap();
    }
    register_views(&ctx).await.unwrap();
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
    let plan = plan_read_only(ctx, prepare_query(sql)?).await?;
    Ok(ctx.execute_logical_plan(plan).await?.collect().await?)
}

async fn table(ctx: &SessionContext, sql: &str) -> String {
    let batches = run(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test]
async fn error_counts_per_minute() {
    let ctx = context().await;
    let expected = "\
+----------------------+---------+------------+------------------------------+--------+
| minute               | kind    | error_type | detail                       | errors |
+----------------------+---------+------------+------------------------------+--------+
| 2021-10-19T18:29:00Z | tcp     | connection | Reset                        | 1      |
| 2021-10-19T18:29:00Z | tcp     | connection | SynSent                      | 2      |
| 2021-10-19T18:30:00Z | icmp    |            | DestinationUnreachable(Port) | 1      |
| 2021-10-19T18:30:00Z | loss    | loss       | packet loss                  | 1      |
| 2021-10-20T18:29:00Z | timeout | timeout    | stale stream                 | 1      |
+----------------------+---------+------------+------------------------------+--------+";
    assert_eq!(
        table(
            &ctx,
            "SELECT * FROM error_counts_per_minute ORDER BY minute, kind, detail"
        )
        .await,
        expected
    );
}

#[tokio::test]
async fn top_failing_destinations() {
    let ctx = context().await;
    let expected = "\
+----------------------+------+-----------+-------------+----------+-----------------+-------------------+----------+--------------+---------------+------------------+----------------------+----------------------+
| day                  | rank | transport | dst_ip      | dst_port | failing_entries | connection_errors | timeouts | loss_entries | failing_flows | distinct_sources | first_seen           | last_seen            |
+----------------------+------+-----------+-------------+----------+-----------------+-------------------+----------+--------------+---------------+------------------+----------------------+----------------------+
| 2021-10-19T00:00:00Z | 1    | tcp       | 10.0.0.9    | 80       | 4               | 3                 | 0        | 1            | 3             | 2                | 2021-10-19T18:29:01Z | 2021-10-19T18:30:01Z |
| 2021-10-20T00:00:00Z | 1    | tcp       | 2001:db8::1 | 443      | 1               | 0                 | 1        | 0            | 1             | 1                | 2021-10-20T18:29:00Z | 2021-10-20T18:29:00Z |
+----------------------+------+-----------+-------------+----------+-----------------+-------------------+----------+--------------+---------------+------------------+----------------------+----------------------+";
    let all_but_name = "SELECT day, rank, transport, dst_ip, dst_port, failing_entries, \
        connection_errors, timeouts, loss_entries, failing_flows, distinct_sources, first_seen, \
        last_seen FROM top_failing_destinations ORDER BY day, rank";
    assert_eq!(table(&ctx, all_but_name).await, expected);
}

#[tokio::test]
async fn error_rate_per_service() {
    let ctx = context().await;
    let expected = "\
+----------------------+-----------+-------------------+-------+--------------+--------+------------+
| day                  | transport | service           | flows | failed_flows | errors | error_rate |
+----------------------+-----------+-------------------+-------+--------------+--------+------------+
| 2021-10-19T00:00:00Z | tcp       | 10.0.0.9:80       | 4     | 3            | 4      | 0.75       |
| 2021-10-19T00:00:00Z | tcp       | [2001:db8::1]:443 | 1     | 0            | 0      | 0.0        |
| 2021-10-19T00:00:00Z | udp       | 10.0.0.1:53       | 1     | 0            | 0      | 0.0        |
| 2021-10-20T00:00:00Z | tcp       | [2001:db8::1]:443 | 0     | 1            | 1      |            |
+----------------------+-----------+-------------------+-------+--------------+--------+------------+";
    let sql = "SELECT day, transport, service, flows, failed_flows, errors, error_rate \
               FROM error_rate_per_service ORDER BY day, error_rate DESC, transport, service";
    assert_eq!(table(&ctx, sql).await, expected);
}

/// The optimized logical plan of `sql`, as text.
async fn optimized(ctx: &SessionContext, sql: &str) -> String {
    let batches = run(ctx, &format!("EXPLAIN {sql}")).await.unwrap();
    let text = pretty_format_batches(&batches).unwrap().to_string();
    let logical = text.split("physical_plan").next().unwrap();
    logical.to_owned()
}

#[tokio::test]
async fn time_filters_on_views_become_ranges_on_the_tables() {
    let ctx = context().await;
    let day = "'2021-10-19T00:00:00Z'";
    for sql in [
        format!("SELECT * FROM error_counts_per_minute WHERE minute >= {day}"),
        format!("SELECT * FROM top_failing_destinations WHERE day = {day} AND rank <= 10"),
        format!("SELECT * FROM error_rate_per_service WHERE day = {day}"),
    ] {
        let plan = optimized(&ctx, &sql).await;
        // The filter on the bucket reaches each scan as a plain bound on the timestamp.
        assert!(
            !plan.contains("date_trunc(Utf8(\"minute\"), entries.timestamp) >="),
            "{plan}"
        );
        assert!(
            !plan.contains("date_trunc(Utf8(\"day\"), entries.timestamp) ="),
            "{plan}"
        );
        assert!(
            plan.contains("entries.timestamp >= TimestampMicrosecond(1634601600000000"),
            "{sql}\n{plan}"
        );
        if sql.contains("error_rate") {
            assert!(
                plan.contains("flows.start >= TimestampMicrosecond(1634601600000000")
                    && plan.contains("flows.start < TimestampMicrosecond(1634688000000000"),
                "{plan}"
            );
        }
    }
    // Same rows as filtering afterwards.
    let filtered = table(
        &ctx,
        &format!("SELECT day, service, flows FROM error_rate_per_service WHERE day = {day}"),
    )
    .await;
    assert!(filtered.contains("10.0.0.9:80") && !filtered.contains("2021-10-20"));
    assert_eq!(filtered.lines().count(), 4 + 3, "{filtered}");
    // A boundary that is no bucket start is still answered correctly, without the rewrite.
    let counts = table(
        &ctx,
        "SELECT sum(errors) AS n FROM error_counts_per_minute \
         WHERE minute > '2021-10-19T18:29:30Z' AND minute < '2021-10-20T00:00:00Z'",
    )
    .await;
    assert!(counts.contains("| 2 |"), "{counts}");
}

#[tokio::test]
async fn kfl_in_sql() {
    let ctx = context().await;
    let n = table(
        &ctx,
        "SELECT count(*) AS n FROM entries WHERE kfl('error or icmp') AND id > 1",
    )
    .await;
    assert!(n.contains("| 5 |"), "{n}");
    // Qualified for a join with flows, whose columns overlap those of entries.
    let joined = table(
        &ctx,
        "SELECT count(*) AS n FROM entries e JOIN flows f ON e.flow_id = f.flow_id \
         WHERE kfl('error.type == \"connection\" and dst.port == 80', 'e')",
    )
    .await;
    assert!(joined.contains("| 3 |"), "{joined}");
    let e = run(&ctx, "SELECT * FROM entries WHERE kfl('dst.prot == 80')")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `dst.port`?"), "{e}");
}

#[tokio::test]
async fn kfl_datetime_in_sql() {
    let ctx = context().await;
    let ids = table(
        &ctx,
        "SELECT id FROM entries WHERE \"timestamp\" > kfl_datetime('10/19/2021, 6:29:02.000 PM') \
         AND \"timestamp\" < kfl_datetime('10/20/2021, 6:00:00 PM') ORDER BY id",
    )
    .await;
    assert_eq!(
        ids,
        "+----+\n| id |\n+----+\n| 3  |\n| 4  |\n| 6  |\n+----+"
    );
    // Over a column, and NULL in, NULL out.
    let parsed = table(
        &ctx,
        "SELECT kfl_datetime(t) AS ts FROM (VALUES ('1/2/2006, 3:04:05.000 AM'), (NULL)) v(t)",
    )
    .await;
    assert!(parsed.contains("2006-01-02T03:04:05Z"), "{parsed}");
    let e = run(&ctx, "SELECT kfl_datetime('2021-10-19')")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a KFL datetime"), "{e}");
}

#[tokio::test]
async fn views_are_read_only() {
    let ctx = context().await;
    for sql in [
        "DROP VIEW error_counts_per_minute",
        "CREATE VIEW error_counts_per_minute AS SELECT 1",
        "CREATE OR REPLACE VIEW top_failing_destinations AS SELECT * FROM entries",
        "INSERT INTO error_rate_per_service VALUES (1)",
        "DELETE FROM error_counts_per_minute",
    ] {
        let e = run(&ctx, sql).await.unwrap_err().to_string();
        assert!(e.contains("refused"), "{sql}: {e}");
    }
    // DataFusion's own check behind the parser's: a view is no DDL/DML target either.
    let options = datafusion::prelude::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false);
    let e = ctx
        .sql_with_options("DROP VIEW error_counts_per_minute", options)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("DDL not supported"), "{e}");
}

#[test]
fn every_view_is_documented() {
    let docs = include_str!("../views.rs");
    let readme = include_str!("../../../README.md");
    for v in VIEWS {
        assert!(docs.contains(&format!("| `{}` |", v.name)), "{}", v.name);
        assert!(
            readme.contains(&format!("`{}`", v.name)),
            "README: {}",
            v.name
        );
    }
}
