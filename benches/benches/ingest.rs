//! Ingest throughput: reader + decode, the full pipeline into memory, and the full pipeline
//! through the engine (WAL, live buffer, flush to Parquet), over a generated capture.
//! Reported as packets per second.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_benches::generated_capture;
use faultline_engine::{Engine, EngineConfig};
use faultline_ingest::pipeline::{Pipeline, PipelineConfig};
use faultline_ingest::sink::MemorySink;
use faultline_ingest::{CaptureReader, decode};

const PACKETS: u64 = 200_000;

/// A reader over the capture in memory (no copy per iteration: the bytes live for the run).
fn reader(bytes: &'static [u8]) -> CaptureReader {
    CaptureReader::from_read(Cursor::new(bytes), "bench.pcap").unwrap()
}

fn engine(runtime: &tokio::runtime::Runtime, dir: &Path) -> Engine {
    let config = EngineConfig::new(dir.to_str().unwrap());
    runtime.block_on(Engine::open(config)).unwrap()
}

fn bench_ingest(c: &mut Criterion) {
    let capture = generated_capture(PACKETS, 7).unwrap();
    let bytes: &'static [u8] = Box::leak(capture.bytes.into_boxed_slice());
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(capture.packets));
    group.sample_size(10);
    group.bench_function("read+decode", |b| {
        b.iter(|| {
            let mut r = reader(bytes);
            let mut ip = 0u64;
            while let Some(Ok(f)) = r.next_frame() {
                ip += u64::from(decode(&f).is_ok());
            }
            ip
        })
    });
    group.bench_function("pipeline->memory", |b| {
        b.iter(|| {
            let mut p = Pipeline::new(PipelineConfig::default(), MemorySink::default());
            p.ingest_reader(reader(bytes), Path::new("bench.pcap"), &mut |_| {});
            p.finish().unwrap().1.batches.entries()
        })
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    group.bench_function("pipeline->engine->parquet", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let engine = engine(&runtime, dir.path());
            let mut p = Pipeline::new(PipelineConfig::default(), engine.clone());
            p.ingest_reader(reader(bytes), Path::new("bench.pcap"), &mut |_| {});
            let (_, summary) = p.finish().unwrap();
            runtime.block_on(engine.close()).unwrap();
            summary.batches.entries()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
