//! Application-layer throughput: TCP reassembly and HTTP/1.x parsing over generated
//! HTTP-heavy traffic (`generate::app_load`), reported in payload bytes per second (web-like
//! body mix) and transactions per second (small bodies), and DNS over UDP in transactions per
//! second. Each iteration runs a fresh flow table over frames held in memory: decode, flow
//! tracking, reassembly, dissection and entry making, single-threaded.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline_ingest::app::AppConfig;
use faultline_ingest::emit::{Emit, EntryView, FlowView};
use faultline_ingest::flow::FlowConfig;
use faultline_ingest::generate::app_load::{BodySizes, HttpLoad, RawCapture, dns_load, http_load};
use faultline_ingest::pipeline::FlowAnalysis;
use faultline_ingest::{Frame, decode};

/// Counts entries, so that the work cannot be optimised away.
struct Count(u64);

impl Emit for Count {
    fn entry(&mut self, _: &EntryView<'_>) {
        self.0 += 1;
    }
    fn flow(&mut self, _: &FlowView<'_>) {}
}

fn run(frames: &[Frame<'_>], app: AppConfig) -> u64 {
    let mut table = FlowAnalysis::with_app(FlowConfig::default(), app);
    let mut out = Count(0);
    for f in frames {
        table.process(&decode(f).unwrap(), &mut out);
    }
    table.finish(&mut out);
    out.0
}

fn bench_capture(c: &mut Criterion, name: &str, cap: &RawCapture, bytes: bool) {
    let frames: Vec<Frame<'_>> = cap.frames().collect();
    let mut group = c.benchmark_group(format!("app/{name}"));
    group.throughput(if bytes {
        Throughput::Bytes(cap.payload_bytes)
    } else {
        Throughput::Elements(cap.transactions)
    });
    group.sample_size(10);
    for (label, enabled) in [("dissect", true), ("l4-only", false)] {
        let app = AppConfig {
            enabled,
            ..AppConfig::default()
        };
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| run(&frames, app.clone()))
        });
    }
    group.finish();
}

fn bench_app(c: &mut Criterion) {
    let mixed = http_load(&HttpLoad {
        connections: 32,
        requests: 20,
        ..HttpLoad::default()
    });
    bench_capture(c, "http-mixed-bodies", &mixed, true);
    let small = http_load(&HttpLoad {
        connections: 256,
        requests: 40,
        bodies: BodySizes::Fixed(300),
        ..HttpLoad::default()
    });
    bench_capture(c, "http-small-bodies", &small, false);
    bench_capture(c, "dns-udp", &dns_load(100_000, 1), false);
}

criterion_group!(benches, bench_app);
criterion_main!(benches);
