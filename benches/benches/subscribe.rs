//! Live subscriptions: publish throughput (published rows per second) of 8192-row generated
//! `entries` batches offered to 1 and to 8 subscribers, with a broad filter (`error or icmp`)
//! and a selective one (`dst.port == 5432`); 8 subscribers of one query share one evaluation,
//! so `mixed/8_distinct` runs eight different queries. "drained" consumers take their events
//! after every batch (the filtered rows are queued and handed over); "never_read" consumers
//! never poll, so after their queue fills every match is dropped and counted.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use arrow::record_batch::RecordBatch;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use faultline_benches::entries_gen::{EntriesGenerator, GenConfig};
use faultline_engine::{Subscription, SubscriptionEvent, Subscriptions};
use futures::FutureExt;

const BATCH_ROWS: usize = 8192;
const BATCHES: u64 = 64;
const FILTERS: [(&str, &str); 2] = [
    ("error_or_icmp", "error or icmp"),
    ("dst_port_5432", "dst.port == 5432"),
];
/// Eight different queries, from broad to selective.
const MIXED: [&str; 8] = [
    "error or icmp",
    "dst.port == 5432",
    "timeout",
    "loss and loss.retransmissions > 3",
    "icmp.type == 3",
    "error.type == \"connection\"",
    "tcp and dst.port == 443",
    "src.ip.startsWith(\"10.1.\")",
];

fn batches() -> Vec<RecordBatch> {
    let cfg = GenConfig {
        rows: BATCHES * BATCH_ROWS as u64,
        batch_rows: BATCH_ROWS,
        ..GenConfig::default()
    };
    EntriesGenerator::new(cfg).map(|b| b.unwrap()).collect()
}

/// Takes every ready event; returns the rows delivered.
fn drain(sub: &mut Subscription) -> usize {
    let mut rows = 0;
    while let Some(Some(event)) = sub.next_event().now_or_never() {
        if let SubscriptionEvent::Rows(b) = event {
            rows += b.num_rows();
        }
    }
    rows
}

/// Benchmarks publishing `data` to one subscriber per query in `kfls`.
fn bench_case(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    data: &[RecordBatch],
    name: &str,
    kfls: &[&str],
    read: bool,
) {
    let hub = Subscriptions::new();
    let capacity = if read { 1 << 20 } else { 64 * 1024 };
    let mut subs: Vec<Subscription> = kfls
        .iter()
        .map(|kfl| hub.subscribe(kfl, capacity).unwrap())
        .collect();
    let subscribers = subs.len();
    let mode = if read { "drained" } else { "never_read" };
    group.bench_function(format!("{name}/{subscribers}_{mode}"), |b| {
        b.iter(|| {
            let mut delivered = 0;
            for batch in data {
                hub.publish(batch).unwrap();
                if read {
                    delivered += subs.iter_mut().map(drain).sum::<usize>();
                }
            }
            black_box(delivered)
        })
    });
    let stats = hub.stats();
    let per_sub = stats.rows_matched as f64 / subscribers as f64;
    println!(
        "  {name}: each subscriber matched {:.1}% of published rows (mean); delivered {}, dropped {}",
        100.0 * per_sub / stats.rows_published.max(1) as f64,
        stats.rows_delivered,
        stats.rows_dropped
    );
}

fn bench_subscribe(c: &mut Criterion) {
    let data = batches();
    let rows: usize = data.iter().map(RecordBatch::num_rows).sum();
    let mut group = c.benchmark_group("subscribe");
    group.throughput(Throughput::Elements(rows as u64));
    group.sample_size(20);
    for (name, kfl) in FILTERS {
        for subscribers in [1, 8] {
            bench_case(&mut group, &data, name, &vec![kfl; subscribers], true);
        }
    }
    bench_case(&mut group, &data, "mixed", &MIXED, true);
    bench_case(&mut group, &data, FILTERS[0].0, &[FILTERS[0].1; 8], false);
    group.finish();
}

criterion_group!(benches, bench_subscribe);
criterion_main!(benches);
