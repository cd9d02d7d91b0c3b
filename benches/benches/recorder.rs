//! Traffic recorder: write throughput (packets/s and bytes/s of frames from a generated
//! capture, held in memory), the pipeline with and without recording, and the export of N
//! flows out of a ring holding the whole capture.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::Cursor;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline_benches::generated_capture;
use faultline_ingest::pipeline::{Pipeline, PipelineConfig};
use faultline_ingest::recorder::{ExportFilter, Recorder, RecorderConfig, export};
use faultline_ingest::sink::MemorySink;
use faultline_ingest::{CaptureReader, Frame};

const PACKETS: u64 = 200_000;
/// Distinct flow ids the write benchmark spreads packets over.
const FLOWS: u64 = 5_000;

/// One frame held in memory.
struct Owned {
    ts_us: i64,
    link: faultline_ingest::LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

fn frames(bytes: &'static [u8]) -> Vec<Owned> {
    let mut r = CaptureReader::from_read(Cursor::new(bytes), "bench.pcap").unwrap();
    let mut out = Vec::new();
    while let Some(Ok(f)) = r.next_frame() {
        out.push(Owned {
            ts_us: f.ts_us,
            link: f.link,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        });
    }
    out
}

/// Records every frame, flow ids `i % FLOWS + 1`, into a recorder in `dir`.
fn record_all(dir: &Path, frames: &[Owned]) -> Recorder {
    let rec = Recorder::open(dir, RecorderConfig::default()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let frame = Frame {
            ts_us: f.ts_us,
            link: f.link,
            data: &f.data,
            orig_len: f.orig_len,
            interface: 0,
        };
        rec.record(i as u64 % FLOWS + 1, &frame);
    }
    rec.close().unwrap();
    rec
}

fn bench_recorder(c: &mut Criterion) {
    let capture = generated_capture(PACKETS, 7).unwrap();
    let bytes: &'static [u8] = Box::leak(capture.bytes.into_boxed_slice());
    let frames = frames(bytes);
    let frame_bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();

    let mut group = c.benchmark_group("recorder");
    group.sample_size(10);
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("write (packets)", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            record_all(dir.path(), &frames).stats().packets
        })
    });
    group.throughput(Throughput::Bytes(frame_bytes));
    group.bench_function("write (bytes)", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            record_all(dir.path(), &frames).stats().bytes
        })
    });

    group.throughput(Throughput::Elements(capture.packets));
    for record in [false, true] {
        let name = if record {
            "pipeline->memory+recorder"
        } else {
            "pipeline->memory"
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let dir = tempfile::tempdir().unwrap();
                let recorder =
                    record.then(|| Recorder::open(dir.path(), RecorderConfig::default()).unwrap());
                let config = PipelineConfig {
                    recorder: recorder.clone(),
                    ..PipelineConfig::default()
                };
                let mut p = Pipeline::new(config, MemorySink::default());
                let reader = CaptureReader::from_read(Cursor::new(bytes), "bench.pcap").unwrap();
                p.ingest_reader(reader, Path::new("bench.pcap"), &mut |_| {});
                if let Some(r) = &recorder {
                    r.close().unwrap();
                }
                p.finish().unwrap().1.batches.entries()
            })
        });
    }

    let dir = tempfile::tempdir().unwrap();
    record_all(dir.path(), &frames);
    for n in [1u64, 100, FLOWS] {
        let filter = ExportFilter {
            flows: Some((1..=n).collect::<HashSet<u64>>()),
            ..ExportFilter::default()
        };
        let packets = export(dir.path(), &filter, std::io::sink())
            .unwrap()
            .packets;
        group.throughput(Throughput::Elements(packets));
        group.bench_with_input(BenchmarkId::new("export flows", n), &filter, |b, f| {
            b.iter(|| export(dir.path(), f, std::io::sink()).unwrap().packets)
        });
    }
    group.finish();
}

criterion_group!(benches, bench_recorder);
criterion_main!(benches);
