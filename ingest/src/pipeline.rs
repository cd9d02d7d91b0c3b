//! The ingest pipeline wired end to end: capture file or live interfaces -> decode -> flow table
//! (with its analyzer chain, [`chain`]: TCP, UDP, ICMP, application layer) -> batcher -> sink. One [`Pipeline`] ingests any
//! number of files or live captures through one loop over a [`FrameSource`]; flows are tracked
//! per source and closed at its end ("end of input": the file's end, or the capture's stop).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::app::AppConfig;
use crate::batch::{BatchError, BatchStats, Batcher, DEFAULT_BATCH_ROWS};
use crate::decode::{DecodeError, decode};
use crate::flow::FlowConfig;
use crate::live::{DropEntryText, DropTotals, LiveCapture, LiveError};
use crate::recorder::{MarkErrors, Recorder};
use crate::sink::BatchSink;
use crate::source::{CaptureReader, FrameSource, SourceError, SourceEvent, SourceStats};

pub mod chain;

pub use chain::{Chain, FlowAnalysis};

/// Settings of a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Flow tracking and timeouts.
    pub flow: FlowConfig,
    /// Rows per record batch handed to the sink.
    pub batch_rows: usize,
    /// Application layer (HTTP and DNS dissection).
    pub app: AppConfig,
    /// Traffic recorder every frame is written to, indexed by flow; `None`: no recording.
    pub recorder: Option<Recorder>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            flow: FlowConfig::default(),
            batch_rows: DEFAULT_BATCH_ROWS,
            app: AppConfig::default(),
            recorder: None,
        }
    }
}

/// Frames that did not decode to an IP packet, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UndecodableCounts {
    /// Link types faultline does not decode.
    pub unsupported_link: u64,
    /// Frames without an IP packet (ARP, LLDP, ...).
    pub not_ip: u64,
    /// Frames too short or malformed.
    pub malformed: u64,
}

impl UndecodableCounts {
    /// All undecodable frames.
    pub fn total(&self) -> u64 {
        self.unsupported_link + self.not_ip + self.malformed
    }

    fn count(&mut self, e: DecodeError) {
        match e {
            DecodeError::UnsupportedLink(_) => self.unsupported_link += 1,
            DecodeError::NotIp => self.not_ip += 1,
            DecodeError::Malformed(_) => self.malformed += 1,
        }
    }
}

/// Outcome of one file.
#[derive(Debug)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Reader counters (frames, bytes, link types).
    pub source: SourceStats,
    /// IP packets decoded.
    pub packets: u64,
    /// Frames that did not decode.
    pub undecodable: UndecodableCounts,
    /// The error that stopped reading early (damage, not a capture, unreadable), if any.
    pub error: Option<SourceError>,
}

/// Totals over every file of a pipeline.
#[derive(Debug, Default)]
pub struct IngestSummary {
    /// One report per file, in order.
    pub files: Vec<FileReport>,
    /// Rows written.
    pub batches: BatchStats,
}

impl IngestSummary {
    /// Frames read over all files.
    pub fn frames(&self) -> u64 {
        self.files.iter().map(|f| f.source.frames).sum()
    }

    /// IP packets decoded over all files.
    pub fn packets(&self) -> u64 {
        self.files.iter().map(|f| f.packets).sum()
    }

    /// Undecodable frames over all files.
    pub fn undecodable(&self) -> UndecodableCounts {
        self.files
            .iter()
            .fold(UndecodableCounts::default(), |mut a, f| {
                a.unsupported_link += f.undecodable.unsupported_link;
                a.not_ip += f.undecodable.not_ip;
                a.malformed += f.undecodable.malformed;
                a
            })
    }

    /// Files that stopped early because of damage or could not be read.
    pub fn damaged_files(&self) -> usize {
        self.files.iter().filter(|f| f.error.is_some()).count()
    }

    /// True when at least one frame was read from some file.
    pub fn read_anything(&self) -> bool {
        self.frames() > 0
    }
}

/// Outcome of a live capture.
#[derive(Debug)]
pub struct LiveReport {
    /// Frames and bytes captured, over all interfaces.
    pub source: SourceStats,
    /// IP packets decoded.
    pub packets: u64,
    /// Frames that did not decode.
    pub undecodable: UndecodableCounts,
    /// Packets the capture dropped, over the whole run.
    pub drops: DropTotals,
    /// The error that stopped the capture, if it did not stop on request.
    pub error: Option<LiveError>,
}

/// Counters of one pass of [`Pipeline::drive`].
#[derive(Debug, Default)]
struct DriveCounts {
    packets: u64,
    undecodable: UndecodableCounts,
    bytes: u64,
}

/// Errors that stop the whole pipeline (a damaged input does not: it is reported per file).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Storing results failed.
    #[error(transparent)]
    Batch(#[from] BatchError),
}

/// How often (in frames) the progress callback is called.
const PROGRESS_EVERY: u64 = 16 * 1024;

/// Reads captures and writes classified entries and flow records to a sink.
pub struct Pipeline<S: BatchSink> {
    config: PipelineConfig,
    batcher: Batcher<S>,
    files: Vec<FileReport>,
    drop_text: DropEntryText,
}

impl<S: BatchSink> Pipeline<S> {
    /// A pipeline writing to `sink`.
    pub fn new(config: PipelineConfig, sink: S) -> Self {
        let batcher = Batcher::new(sink, config.batch_rows);
        Self {
            config,
            batcher,
            files: Vec::new(),
            drop_text: DropEntryText::default(),
        }
    }

    /// Ingests one capture file. `progress` gets the captured bytes read so far, now and then.
    /// A damaged or unreadable file is recorded in its [`FileReport`], not returned as an error.
    pub fn ingest_file(
        &mut self,
        path: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<&FileReport, PipelineError> {
        let report = match CaptureReader::open(path) {
            Ok(reader) => self.ingest_reader(reader, path, progress),
            Err(e) => FileReport {
                path: path.to_owned(),
                source: SourceStats::default(),
                packets: 0,
                undecodable: UndecodableCounts::default(),
                error: Some(e),
            },
        };
        self.files.push(report);
        if let Some(e) = self.batcher.take_error() {
            return Err(PipelineError::Batch(e));
        }
        Ok(&self.files[self.files.len() - 1])
    }

    /// Ingests from an open reader (any `Read`, e.g. an upload); `path` labels the report.
    pub fn ingest_reader(
        &mut self,
        mut reader: CaptureReader,
        path: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> FileReport {
        self.batcher.set_source(&file_label(path));
        let (counts, error) = self.drive(&mut reader, progress);
        FileReport {
            path: path.to_owned(),
            source: reader.stats().clone(),
            packets: counts.packets,
            undecodable: counts.undecodable,
            error,
        }
    }

    /// Ingests live traffic until `capture` stops (its stop flag is raised, or it fails), then
    /// ends the flows still open and hands every buffered row to the sink. Rows are labelled
    /// with the capture's interface names; entry ids are salted with the start time.
    pub fn ingest_live(&mut self, capture: &mut LiveCapture) -> Result<LiveReport, PipelineError> {
        self.batcher
            .set_source_salted(&capture.label(), capture.started_us().unsigned_abs());
        let (counts, error) = self.drive(capture, &mut |_| {});
        self.batcher.flush_pending();
        if let Some(e) = self.batcher.take_error() {
            return Err(PipelineError::Batch(e));
        }
        Ok(LiveReport {
            source: FrameSource::stats(capture).clone(),
            packets: counts.packets,
            undecodable: counts.undecodable,
            drops: capture.drop_totals(),
            error,
        })
    }

    /// The one ingest loop: decode each frame, track it in a fresh flow table, expire flows on
    /// ticks, store capture drops; at the end (or on a sink error) end every open flow.
    fn drive<F: FrameSource>(
        &mut self,
        source: &mut F,
        progress: &mut dyn FnMut(u64),
    ) -> (DriveCounts, Option<F::Error>) {
        let mut table = FlowAnalysis::with_app(self.config.flow, self.config.app.clone());
        let mut counts = DriveCounts::default();
        let batcher = &mut self.batcher;
        let text = &mut self.drop_text;
        let recorder = self.config.recorder.as_ref();
        let result = source.run(&mut |event| {
            match event {
                SourceEvent::Frame(frame) => {
                    counts.bytes += frame.data.len() as u64;
                    let flow_id = match decode(&frame) {
                        Ok(pkt) => {
                            counts.packets += 1;
                            table.process(&pkt, &mut MarkErrors::new(batcher, recorder))
                        }
                        Err(e) => {
                            counts.undecodable.count(e);
                            0
                        }
                    };
                    if let Some(r) = recorder {
                        r.record(flow_id, &frame);
                    }
                    if (counts.packets + counts.undecodable.total()).is_multiple_of(PROGRESS_EVERY)
                    {
                        progress(counts.bytes);
                    }
                }
                SourceEvent::Tick { now_us } => {
                    table.advance_to(now_us, &mut MarkErrors::new(batcher, recorder));
                    batcher.flush_pending();
                    if let Some(r) = recorder {
                        r.tick();
                    }
                }
                SourceEvent::Drop(drop) => text.emit(&drop, batcher),
            }
            if batcher.error().is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        table.finish(&mut MarkErrors::new(batcher, recorder));
        if let Some(r) = recorder {
            r.tick();
        }
        progress(counts.bytes);
        (counts, result.err())
    }

    /// Reports of the files ingested so far.
    pub fn files(&self) -> &[FileReport] {
        &self.files
    }

    /// Writes out what is buffered, flushes the sink and returns it with the summary.
    pub fn finish(self) -> Result<(S, IngestSummary), PipelineError> {
        let batches = *self.batcher.stats();
        let sink = self.batcher.finish()?;
        Ok((
            sink,
            IngestSummary {
                files: self.files,
                batches,
            },
        ))
    }
}

/// The label stored in `capture_source`: the file name without directories.
fn file_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Expands files and directories (recursively) into capture files, sorted by path within each
/// directory. Directory members are kept when their name ends in `.pcap`, `.pcapng`, `.cap`,
/// `.dmp` or one of those plus `.gz`; named files are always kept.
pub fn expand_inputs(inputs: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut out)?;
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_capture_name(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn is_capture_name(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".pcap", ".pcapng", ".cap", ".dmp"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_names() {
        for ok in ["a.pcap", "b.PCAPNG", "c.pcap.gz", "d.cap"] {
            assert!(is_capture_name(Path::new(ok)), "{ok}");
        }
        for no in ["MANIFEST.tsv", "x.txt", "pcap"] {
            assert!(!is_capture_name(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn expands_directories_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.pcap", "a.pcapng", "notes.txt"] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let got = expand_inputs(&[dir.path().to_owned()]).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a.pcapng", "b.pcap"]);
    }
}
