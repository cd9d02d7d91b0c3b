//! Robustness: tcpdump's 830 test captures (truncated, malformed, fuzz-found) go through the
//! reader and the decoder, then through the whole pipeline (flow table, classifiers, batcher),
//! without a panic or a hang, with undecodable frames counted (`FAULTLINE_CORPUS` overrides the
//! folder).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)] // shared by the oracle tests; this one only finds its folder with it
mod oracle_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use faultline_ingest::pipeline::{Pipeline, PipelineConfig};
use faultline_ingest::sink::MemorySink;
use faultline_ingest::{CaptureReader, decode};

/// Longest time one file may take before the test calls it a hang.
const HANG_LIMIT: Duration = Duration::from_secs(20);

/// `FAULTLINE_CORPUS` or `<workspace>/../shared/corpus/tcpdump`; `None` (skip) when missing
/// outside CI.
fn corpus_dir() -> Option<PathBuf> {
    oracle_support::shared_dir("FAULTLINE_CORPUS", "corpus/tcpdump", Path::is_dir, "corpus")
}

/// Totals over the corpus.
#[derive(Debug, Default)]
struct Summary {
    files: u64,
    not_opened: u64,
    frames: u64,
    decoded: u64,
    decode_errors: BTreeMap<String, u64>,
    reader_errors: BTreeMap<&'static str, u64>,
    files_with_reader_error: u64,
    flows: u64,
    entries: u64,
}

/// Reads and decodes one file, adding to the summary.
fn run_file(path: &Path, s: &mut Summary) {
    s.files += 1;
    let mut reader = match CaptureReader::open(path) {
        Ok(r) => r,
        Err(_) => {
            s.not_opened += 1;
            return;
        }
    };
    let mut errors = 0;
    let (frames_before, undecodable_before) = (s.frames, s.decode_errors.values().sum::<u64>());
    while let Some(item) = reader.next_frame() {
        match item {
            Ok(frame) => {
                assert_eq!(errors, 0, "{}: frame after an error", path.display());
                s.frames += 1;
                match decode(&frame) {
                    Ok(_) => s.decoded += 1,
                    Err(e) => *s.decode_errors.entry(e.to_string()).or_default() += 1,
                }
            }
            Err(e) => {
                errors += 1;
                let kind = match e {
                    faultline_ingest::SourceError::Truncated { .. } => "truncated",
                    faultline_ingest::SourceError::Corrupt { .. } => "corrupt",
                    faultline_ingest::SourceError::Oversized { .. } => "oversized",
                    _ => "other",
                };
                *s.reader_errors.entry(kind).or_default() += 1;
            }
        }
    }
    assert!(errors <= 1, "{}: {errors} errors", path.display());
    s.files_with_reader_error += errors;
    assert_eq!(reader.stats().errors, errors);

    // The same file through the whole pipeline: same frames, the same undecodable count, and
    // one flow record per flow.
    let mut pipeline = Pipeline::new(PipelineConfig::default(), MemorySink::default());
    let report = pipeline.ingest_file(path, &mut |_| {}).unwrap();
    assert_eq!(
        report.source.frames,
        s.frames - frames_before,
        "{}",
        path.display()
    );
    let undecodable = s.decode_errors.values().sum::<u64>() - undecodable_before;
    assert_eq!(
        report.undecodable.total(),
        undecodable,
        "{}",
        path.display()
    );
    let (sink, summary) = pipeline.finish().unwrap();
    let flow_rows: usize = sink.flows.iter().map(|b| b.num_rows()).sum();
    assert_eq!(flow_rows as u64, summary.batches.flows);
    s.entries += summary.batches.entries();
    s.flows += summary.batches.flows;
}

#[test]
fn tcpdump_corpus_reads_without_panic_or_hang() {
    let Some(dir) = corpus_dir() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus at {}", dir.display());

    // A worker reads the files and reports each one it starts; silence means a hang.
    let (tx, rx) = mpsc::channel::<Result<PathBuf, Summary>>();
    let worker = std::thread::spawn(move || {
        let mut summary = Summary::default();
        for path in files {
            tx.send(Ok(path.clone())).unwrap();
            run_file(&path, &mut summary);
        }
        tx.send(Err(summary)).unwrap();
    });
    let mut current = None;
    let summary = loop {
        match rx.recv_timeout(HANG_LIMIT) {
            Ok(Ok(path)) => current = Some(path),
            Ok(Err(summary)) => break summary,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("hang reading {current:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let panic = worker.join().err();
                panic!("worker died on {current:?}: {panic:?}");
            }
        }
    };
    worker.join().unwrap();

    println!("{summary:#?}");
    assert!(summary.files >= 1);
    assert!(summary.frames > 0, "no frames in the whole corpus");
    assert!(summary.decoded > 0, "nothing decoded");
    // Most of tcpdump's captures are readable; a corpus mostly refused would mean a reader bug.
    assert!(
        summary.not_opened * 10 < summary.files,
        "{} of {} files not opened",
        summary.not_opened,
        summary.files
    );
}
