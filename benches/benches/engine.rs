//! Engine throughput and latency on generated entries (1 M rows over 7 days): append with the
//! WAL on (default settings, background flushing), and queries (a) `error or icmp or tcp` in
//! the last hour and (d) a selective `src.ip == "…"` over the whole span, on a flushed store.
//! The full-size comparison with DuckDB is the `query_compare` binary.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_benches::entries_gen::{EntriesGenerator, GenConfig};
use faultline_benches::query_bench::{Bounds, EngineQuery, load, queries, run_engine};
use faultline_engine::{Engine, EngineConfig, Table};

const ROWS: u64 = 1_000_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn generated() -> (GenConfig, String, Vec<RecordBatch>) {
    let cfg = GenConfig {
        rows: ROWS,
        ..GenConfig::default()
    };
    let generator = EntriesGenerator::new(cfg.clone());
    let rare = generator.rare_src_ip().to_owned();
    (cfg, rare, generator.map(|b| b.unwrap()).collect())
}

fn bench_append(c: &mut Criterion, rt: &tokio::runtime::Runtime, batches: &[RecordBatch]) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    group.bench_function("append_wal", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let engine = rt
                    .block_on(Engine::open(EngineConfig::new(
                        dir.path().to_string_lossy(),
                    )))
                    .unwrap();
                let started = Instant::now();
                for batch in batches {
                    engine.append(Table::Entries, batch.clone()).unwrap();
                }
                total += started.elapsed();
                rt.block_on(engine.close()).unwrap();
            }
            total
        })
    });
    group.finish();
}

fn bench_queries(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    (cfg, rare, batches): (GenConfig, String, Vec<RecordBatch>),
) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path().to_string_lossy());
    config.background = false;
    let engine = rt.block_on(Engine::open(config)).unwrap();
    load(rt, &engine, &batches).unwrap();
    drop(batches);
    let max_sql = EngineQuery::Sql("SELECT CAST(max(\"timestamp\") AS BIGINT) FROM entries".into());
    let max = rt.block_on(run_engine(&engine, &max_sql)).unwrap();
    let max_us =
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(max[0].column(0))
            .value(0);
    let bounds = Bounds {
        start_us: cfg.start_us,
        end_us: cfg.end_us(),
        max_us,
    };
    let qs = queries(&bounds, &rare).unwrap();
    let mut group = c.benchmark_group("engine");
    group.sample_size(20);
    for q in qs.iter().filter(|q| q.key == "a" || q.key == "d") {
        let rows: usize = rt
            .block_on(run_engine(&engine, &q.engine))
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        eprintln!("query ({}) {}: {rows} rows of {ROWS}", q.key, q.title);
        group.bench_function(format!("query_{}", q.key), |b| {
            b.iter(|| {
                rt.block_on(run_engine(&engine, black_box(&q.engine)))
                    .unwrap()
            })
        });
    }
    group.finish();
    rt.block_on(engine.close()).unwrap();
}

fn bench_engine(c: &mut Criterion) {
    let rt = runtime();
    let data = generated();
    bench_append(c, &rt, &data.2);
    bench_queries(c, &rt, data);
}

criterion_group!(benches, bench_engine);
criterion_main!(benches);
