//! The engine end to end on a local store: appends visible at once, flushes, WAL replay,
//! catalog rebuild, orphan clean-up, compaction and retention under running queries,
//! back-pressure, and results equal to plain DataFusion over the same Parquet files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use faultline_engine::{Engine, EngineConfig, EngineError, KflQuery, Order, Table};
use support::{HOUR, T0, entries, flows, ids, rows};

/// A config for tests: no background thread (flushes happen when the test says).
fn config(dir: &Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir.to_str().unwrap());
    c.background = false;
    c
}

async fn kfl(engine: &Engine, q: &str) -> Vec<RecordBatch> {
    let query = KflQuery {
        kfl: q.into(),
        ..KflQuery::default()
    };
    engine
        .query_kfl(&query)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}

async fn count(engine: &Engine, sql: &str) -> i64 {
    let batches = engine
        .query_sql(sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_rows_are_visible_before_and_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    // Three hours of entries, out of order across batches.
    engine
        .append(Table::Entries, entries(100, 50, T0 + 2 * HOUR, 1_000))
        .unwrap();
    engine
        .append(Table::Entries, entries(0, 100, T0, 60_000_000))
        .unwrap();
    engine
        .append(Table::Flows, flows(0, 30, T0, 1_000))
        .unwrap();
    assert_eq!(rows(&kfl(&engine, "").await), 150);
    assert_eq!(count(&engine, "SELECT count(*) FROM flows").await, 30);

    let stats = engine.flush().await.unwrap();
    assert_eq!(stats.rows, 180);
    assert_eq!(stats.files, 4, "entries hours 0, 1, 2 and flows hour 0");
    let s = engine.stats();
    assert_eq!((s.live_rows, s.stored_rows, s.files), (0, 180, 4));

    let all = kfl(&engine, "").await;
    let got = ids(&all);
    let mut want: Vec<u64> = (0..150).collect();
    want.sort_by_key(|&i| {
        if i < 100 {
            T0 + i as i64 * 60_000_000
        } else {
            T0 + 2 * HOUR + (i as i64 - 100) * 1_000
        }
    });
    assert_eq!(got, want, "timestamp order across live and stored rows");

    let tcp = kfl(&engine, r#"kind == "tcp" and error.type == "SynSent""#).await;
    assert_eq!(rows(&tcp), (0..150).filter(|i| i % 3 == 0).count());
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kfl_time_bounds_order_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    engine
        .append(Table::Entries, entries(0, 600, T0, 60_000_000))
        .unwrap();
    engine.flush().await.unwrap();
    engine
        .append(Table::Entries, entries(600, 60, T0 + 10 * HOUR, 60_000_000))
        .unwrap();
    let q = KflQuery {
        kfl: r#"kind == "tcp" or icmp"#.into(),
        from_us: Some(T0 + HOUR),
        to_us: Some(T0 + 10 * HOUR + 30 * 60_000_000),
        limit: Some(7),
        order: Order::Descending,
    };
    // Newest first with a limit reads a window back from the newest entry (1 h, then 8 h,
    // then the whole range): limits that the first, the second and no window hold, with and
    // without bounds. Entry i is at minute i; ids 600.. are live rows after a gap.
    let matching = |i: &u64| i.is_multiple_of(3) || i.is_multiple_of(5);
    let bounded = |lo: u64, hi: u64| (lo..hi).filter(matching).rev().collect::<Vec<u64>>();
    let cases = [
        (
            Some(T0 + HOUR),
            Some(T0 + 10 * HOUR + 30 * 60_000_000),
            bounded(60, 630),
        ),
        (None, None, bounded(0, 660)),
        (None, Some(T0 + 5 * HOUR), bounded(0, 300)),
        (Some(T0 + 9 * HOUR), Some(T0 + 10 * HOUR), bounded(540, 600)),
    ];
    for (from_us, to_us, all) in cases {
        for limit in [7, 40, 200, 1000] {
            let q = KflQuery {
                from_us,
                to_us,
                limit: Some(limit),
                ..q.clone()
            };
            let got = ids(&engine.query_kfl(&q).await.unwrap().collect().await.unwrap());
            assert_eq!(got, all[..limit.min(all.len())], "{q:?}");
        }
    }
    let limited = kfl(&engine, r#"kind == "tcp" and limit(3)"#).await;
    assert_eq!(ids(&limited), vec![0, 3, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unflushed_rows_are_replayed_once_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(config(dir.path())).await.unwrap();
        engine
            .append(Table::Entries, entries(0, 10, T0, 1))
            .unwrap();
        engine.flush().await.unwrap();
        engine
            .append(Table::Entries, entries(10, 5, T0, 1))
            .unwrap();
        engine.append(Table::Flows, flows(0, 3, T0, 1)).unwrap();
        // Dropped without close: what a kill leaves behind.
    }
    let engine = Engine::open(config(dir.path())).await.unwrap();
    let report = engine.open_report();
    assert_eq!(report.replayed_batches, 2);
    assert!(report.torn_tail.is_none());
    assert_eq!(rows(&kfl(&engine, "").await), 15);
    assert_eq!(count(&engine, "SELECT count(*) FROM flows").await, 3);
    engine.flush().await.unwrap();
    drop(engine);
    let engine = Engine::open(config(dir.path())).await.unwrap();
    assert_eq!(engine.open_report().replayed_batches, 0);
    assert_eq!(count(&engine, "SELECT count(*) FROM entries").await, 15);
    assert_eq!(
        count(&engine, "SELECT count(DISTINCT id) FROM entries").await,
        15
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_flushed_but_not_truncated_are_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("_faultline/wal");
    {
        let engine = Engine::open(config(dir.path())).await.unwrap();
        engine
            .append(Table::Entries, entries(0, 10, T0, 1))
            .unwrap();
        // Keep a copy of the log as it was before the flush truncated it.
        let saved = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(&wal).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, saved.path().join(p.file_name().unwrap())).unwrap();
        }
        engine.flush().await.unwrap();
        drop(engine);
        // A crash between the manifest commit and the truncation leaves the old segments.
        for e in std::fs::read_dir(saved.path()).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, wal.join(p.file_name().unwrap())).unwrap();
        }
    }
    let engine = Engine::open(config(dir.path())).await.unwrap();
    assert_eq!(engine.open_report().skipped_batches, 1);
    assert_eq!(count(&engine, "SELECT count(*) FROM entries").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_is_rebuilt_when_missing_or_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("_faultline/manifest.json");
    {
        let engine = Engine::open(config(dir.path())).await.unwrap();
        engine
            .append(Table::Entries, entries(0, 100, T0, HOUR / 20))
            .unwrap();
        engine.flush().await.unwrap();
        engine.append(Table::Flows, flows(0, 10, T0, 1)).unwrap();
        engine.close().await.unwrap();
    }
    let before = std::fs::read(&manifest).unwrap();
    for damage in [None, Some(b"{\"version\": 1, \"files\": [".to_vec())] {
        match damage {
            None => std::fs::remove_file(&manifest).unwrap(),
            Some(bytes) => std::fs::write(&manifest, bytes).unwrap(),
        }
        let engine = Engine::open(config(dir.path())).await.unwrap();
        let why = engine.open_report().catalog.rebuilt.clone().unwrap();
        assert!(why.contains("manifest"), "{why}");
        assert_eq!(engine.stats().files, 6);
        assert_eq!(count(&engine, "SELECT count(*) FROM entries").await, 100);
        assert_eq!(count(&engine, "SELECT count(*) FROM flows").await, 10);
        drop(engine);
        let rebuilt: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        let original: serde_json::Value = serde_json::from_slice(&before).unwrap();
        let paths = |v: &serde_json::Value| {
            let mut p: Vec<String> = v["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["path"].as_str().unwrap().to_owned())
                .collect();
            p.sort();
            p
        };
        assert_eq!(paths(&rebuilt), paths(&original));
        assert_eq!(rebuilt["flushed_seq"], original["flushed_seq"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_of_a_crashed_flush_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(config(dir.path())).await.unwrap();
        engine
            .append(Table::Entries, entries(0, 10, T0, 1))
            .unwrap();
        engine.close().await.unwrap();
    }
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), 1);
    let orphan = files[0].with_file_name("part-orphan.parquet");
    std::fs::copy(&files[0], &orphan).unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    assert_eq!(engine.open_report().orphans_removed.len(), 1);
    assert!(!orphan.exists());
    assert_eq!(count(&engine, "SELECT count(*) FROM entries").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_and_retention_keep_running_queries_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.compaction.settle = Duration::ZERO;
    cfg.compaction.min_files = 2;
    let engine = Engine::open(cfg).await.unwrap();
    // Five flushes into hour 0, two into hour 5.
    for i in 0..5u64 {
        engine
            .append(
                Table::Entries,
                entries(i * 100, 100, T0 + i as i64 * 1000, 7),
            )
            .unwrap();
        engine.flush().await.unwrap();
    }
    for i in 5..7u64 {
        engine
            .append(
                Table::Entries,
                entries(i * 100, 100, T0 + 5 * HOUR + (i as i64 - 5) * 1000, 7),
            )
            .unwrap();
        engine.flush().await.unwrap();
    }
    assert_eq!(parquet_files(dir.path()).len(), 7);
    let expected = ids(&kfl(&engine, "").await);

    // A query that has started (holds its snapshot) but not read yet.
    let running = engine.query_kfl(&KflQuery::default()).await.unwrap();
    let compacted = engine.compact().await.unwrap();
    assert_eq!(
        (compacted.hours, compacted.files_in, compacted.files_out),
        (2, 7, 2)
    );
    assert_eq!(
        engine.stats().files_pending_delete,
        7,
        "held by the running query"
    );
    assert_eq!(parquet_files(dir.path()).len(), 9);
    assert_eq!(ids(&running.collect().await.unwrap()), expected);
    assert_eq!(engine.collect_garbage().await.unwrap(), 7);
    assert_eq!(parquet_files(dir.path()).len(), 2);
    assert_eq!(ids(&kfl(&engine, "").await), expected);

    // Retention: everything before hour 5 goes.
    let running = engine.query_kfl(&KflQuery::default()).await.unwrap();
    let dropped = engine.retain_after(T0 + 5 * HOUR).await.unwrap();
    assert_eq!((dropped.files, dropped.rows), (1, 500));
    assert_eq!(parquet_files(dir.path()).len(), 2, "still held");
    assert_eq!(rows(&running.collect().await.unwrap()), 700);
    engine.collect_garbage().await.unwrap();
    assert_eq!(parquet_files(dir.path()).len(), 1);
    assert_eq!(ids(&kfl(&engine, "").await), (500..700).collect::<Vec<_>>());

    // The merged store reopens from its manifest with the same content.
    drop(engine);
    let engine = Engine::open(config(dir.path())).await.unwrap();
    assert!(engine.open_report().catalog.rebuilt.is_none());
    assert_eq!(ids(&kfl(&engine, "").await), (500..700).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_live_buffer_applies_backpressure_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EngineConfig::new(dir.path().to_str().unwrap());
    let one = entries(0, 1000, T0, 1).get_array_memory_size();
    cfg.live_max_bytes = one * 4;
    cfg.flush.max_age = Duration::from_secs(3600);
    cfg.tick = Duration::from_millis(10);
    let engine = Engine::open(cfg).await.unwrap();
    let writer = engine.clone();
    let peak = tokio::task::spawn_blocking(move || {
        let mut peak = 0;
        for i in 0..100u64 {
            writer
                .append(
                    Table::Entries,
                    entries(i * 1000, 1000, T0 + i as i64 * 1000, 1),
                )
                .unwrap();
            peak = peak.max(writer.stats().live_bytes);
        }
        peak
    })
    .await
    .unwrap();
    let stats = engine.stats();
    assert!(
        peak <= (one * 5) as u64,
        "peak {peak} over the bound {}",
        one * 4
    );
    assert!(stats.backpressure_waits > 0, "{stats:?}");
    assert!(stats.flushes > 0);
    assert_eq!(
        count(&engine, "SELECT count(*) FROM entries").await,
        100_000
    );
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_equal_plain_datafusion_over_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    for i in 0..6u64 {
        engine
            .append(
                Table::Entries,
                entries(i * 500, 500, T0 + i as i64 * HOUR / 2, 3_000_000),
            )
            .unwrap();
        engine
            .append(
                Table::Flows,
                flows(i * 50, 50, T0 + i as i64 * HOUR / 2, 1_000),
            )
            .unwrap();
        engine.flush().await.unwrap();
    }
    let queries = [
        "SELECT kind, count(*) AS n FROM entries GROUP BY kind ORDER BY kind",
        "SELECT src_ip, count(*) AS n FROM entries WHERE error_type = 'SynSent' GROUP BY src_ip ORDER BY n DESC, src_ip",
        "SELECT date_trunc('hour', timestamp) AS h, count(*) AS n FROM entries GROUP BY h ORDER BY h",
        "SELECT count(*) FROM entries e JOIN flows f ON e.flow_id = f.flow_id",
        "SELECT id FROM entries WHERE timestamp >= '2024-01-01T01:00:00Z' AND timestamp < '2024-01-01T02:00:00Z' ORDER BY id",
    ];
    for sql in queries {
        let ours = engine
            .query_sql(sql)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let plain = support::listing::query_sql(dir.path(), sql).await.unwrap();
        assert_eq!(
            arrow::util::pretty::pretty_format_batches(&ours)
                .unwrap()
                .to_string(),
            arrow::util::pretty::pretty_format_batches(&plain)
                .unwrap()
                .to_string(),
            "{sql}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    let err = engine
        .append(Table::Flows, entries(0, 1, T0, 1))
        .unwrap_err();
    assert!(matches!(err, EngineError::Schema(_)), "{err}");
    for sql in [
        "DROP TABLE entries",
        "INSERT INTO entries SELECT * FROM entries",
        "COPY entries TO '/tmp/x.parquet'",
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/etc'",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT 1; SELECT 2",
    ] {
        let err = engine.query_sql(sql).await.unwrap_err();
        assert!(matches!(err, EngineError::Sql(_)), "{sql}: {err}");
    }
    let err = engine
        .query_kfl(&KflQuery {
            kfl: "response.stauts == 500".into(),
            ..KflQuery::default()
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("status"), "{err}");
    engine.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_view_sees_acknowledged_rows_of_a_running_writer() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Engine::open(config(dir.path())).await.unwrap();
    writer
        .append(Table::Entries, entries(0, 10, T0, 1))
        .unwrap();
    writer.flush().await.unwrap();
    writer
        .append(Table::Entries, entries(10, 5, T0, 1))
        .unwrap();

    // A second writer is refused; a reader is not.
    let err = Engine::open(config(dir.path())).await.unwrap_err();
    assert!(matches!(err, EngineError::Locked(..)), "{err}");
    let mut ro = config(dir.path());
    ro.read_only = true;
    let reader = Engine::open(ro.clone()).await.unwrap();
    assert_eq!(count(&reader, "SELECT count(*) FROM entries").await, 15);
    assert!(matches!(
        reader.append(Table::Entries, entries(0, 1, T0, 1)),
        Err(EngineError::ReadOnly)
    ));
    assert!(matches!(reader.flush().await, Err(EngineError::ReadOnly)));
    // The writer's WAL is untouched by the reader.
    writer.flush().await.unwrap();
    let reader = Engine::open(ro).await.unwrap();
    assert_eq!(reader.open_report().replayed_batches, 0);
    assert_eq!(count(&reader, "SELECT count(*) FROM entries").await, 15);
    writer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_matching_appended_rows() {
    use faultline_engine::SubscriptionEvent;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    let mut sub = engine.subscribe(r#"kind == "tcp""#, 1_000).unwrap();
    engine
        .append(Table::Entries, entries(0, 30, T0, 1))
        .unwrap();
    engine.append(Table::Flows, flows(0, 30, T0, 1)).unwrap();
    match sub.next_event().await.unwrap() {
        SubscriptionEvent::Rows(b) => {
            assert_eq!(
                ids(&[b]),
                (0..30).filter(|i| i % 3 == 0).collect::<Vec<_>>()
            )
        }
        other => panic!("{other:?}"),
    }
    engine.close().await.unwrap();
    assert!(
        sub.next_event().await.is_none(),
        "closing ends subscriptions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_has_kfl_conditions_and_views_over_live_and_stored_rows() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    engine
        .append(Table::Entries, entries(0, 90, T0, 1_000_000))
        .unwrap();
    engine.flush().await.unwrap();
    engine
        .append(Table::Entries, entries(90, 30, T0, 1_000_000))
        .unwrap();
    let tcp = (0..120).filter(|i| i % 3 == 0).count() as i64;
    assert_eq!(
        count(
            &engine,
            r#"SELECT count(*) FROM entries WHERE kfl('kind == "tcp"')"#
        )
        .await,
        tcp
    );
    let per_minute = engine
        .query_sql("SELECT sum(errors) FROM error_counts_per_minute")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let total =
        arrow::compute::cast(per_minute[0].column(0), &arrow::datatypes::DataType::Int64).unwrap();
    let errors_or_icmp = count(
        &engine,
        "SELECT count(*) FROM entries WHERE kfl('error or icmp')",
    )
    .await;
    assert_eq!(
        errors_or_icmp,
        tcp + (0..120).filter(|i| i % 5 == 0 && i % 3 != 0).count() as i64
    );
    assert_eq!(total.as_primitive::<Int64Type>().value(0), errors_or_icmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_buffer_counts_rows_not_spare_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    let big = entries(0, 100_000, T0, 1);
    let small = big.slice(0, 10);
    engine.append(Table::Entries, small).unwrap();
    let held = engine.stats().live_bytes;
    assert!(
        held < (big.get_array_memory_size() / 100) as u64,
        "a 10-row slice of a 100 000-row batch holds {held} bytes"
    );
    assert_eq!(ids(&kfl(&engine, "").await), (0..10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_releases_the_store_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // Handles kept alive on purpose: a closed engine must not hold the store.
    let mut closed_handles = Vec::new();
    for round in 0..5u64 {
        let mut c = config(dir.path());
        // The background thread flushes on a short tick; close must still hand the store over
        // the moment it returns, even if that thread was busy.
        c.background = true;
        c.tick = std::time::Duration::from_millis(1);
        c.flush.max_rows = 50;
        let engine = Engine::open(c).await.unwrap();
        let kept = engine.clone();
        engine
            .append(Table::Entries, entries(round * 100, 100, T0, 1_000))
            .unwrap();
        engine.close().await.unwrap();
        assert!(matches!(
            kept.append(Table::Entries, entries(0, 1, T0, 1)),
            Err(faultline_engine::EngineError::Closed)
        ));
        closed_handles.push(kept);
    }
    let engine = Engine::open(config(dir.path())).await.unwrap();
    assert_eq!(count(&engine, "SELECT count(*) FROM entries").await, 500);
}

/// Time bounds are applied by the provider itself (`Exact`): files wholly inside the range
/// unfiltered, straddling files and live rows filtered, with or without the timestamp among
/// the selected columns. Every boundary shape must give the same counts as the row arithmetic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_bounds_are_exact_on_files_and_live_rows() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    // 3 hours of flushed entries, one a minute, then one live hour after them.
    engine
        .append(Table::Entries, entries(0, 180, T0, 60_000_000))
        .unwrap();
    engine.flush().await.unwrap();
    engine
        .append(Table::Entries, entries(180, 60, T0 + 3 * HOUR, 60_000_000))
        .unwrap();
    let ts = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .unwrap()
            .format("'%Y-%m-%dT%H:%M:%S%.6fZ'")
            .to_string()
    };
    let minute = 60_000_000;
    let cases = [
        // (from, to, expected rows): [from, to)
        (T0, T0 + 4 * HOUR, 240),
        (T0 + 30 * minute, T0 + 90 * minute, 60),
        (T0 + HOUR, T0 + 2 * HOUR, 60),
        (T0 + 170 * minute, T0 + 190 * minute, 20),
        (T0 + 200 * minute, T0 + 300 * minute, 40),
        (T0 + 5 * HOUR, T0 + 6 * HOUR, 0),
    ];
    for (from, to, want) in cases {
        let bounds = format!("timestamp >= {} AND timestamp < {}", ts(from), ts(to));
        let sql = format!("SELECT count(*) FROM entries WHERE {bounds}");
        assert_eq!(count(&engine, &sql).await, want, "{sql}");
        let sql = format!("SELECT count(src_ip) FROM entries WHERE {bounds} AND kind = 'tcp'");
        let tcp = (0..240i64)
            .filter(|i| (from..to).contains(&(T0 + i * minute)) && i % 3 == 0)
            .count() as i64;
        assert_eq!(count(&engine, &sql).await, tcp, "{sql}");
        let sql = format!(
            "SELECT count(*) FROM (SELECT id FROM entries WHERE {bounds} ORDER BY timestamp LIMIT 7)"
        );
        assert_eq!(count(&engine, &sql).await, want.min(7), "{sql}");
    }
    // Inclusive and exclusive bounds at a row's exact time; an equality.
    let at = T0 + 100 * minute;
    for (cond, want) in [
        (format!("timestamp > {}", ts(at)), 139),
        (format!("timestamp >= {}", ts(at)), 140),
        (format!("timestamp <= {}", ts(at)), 101),
        (format!("timestamp = {}", ts(at)), 1),
        (format!("timestamp = {} OR kind = 'icmp'", ts(at)), 32),
    ] {
        let sql = format!("SELECT count(*) FROM entries WHERE {cond}");
        assert_eq!(count(&engine, &sql).await, want, "{sql}");
    }
}
