//! Capture files through the service: each [`CaptureFile`] is read by a pipeline writing to the
//! store, and what it gave is reported to the observer. The CLI reads all its files through
//! one pipeline; the job worker reads each file of a job through its own, so that a file's
//! rows are stored when it is done.

use std::path::{Path, PathBuf};

use faultline_ingest::CaptureReader;
use faultline_ingest::pipeline::{FileReport, IngestSummary, Pipeline, PipelineError};

use super::IngestService;
use super::sink::StoreSink;

/// One capture file to read, labelled in `capture_source` by its file name or by `label`.
#[derive(Debug, Clone)]
pub struct CaptureFile {
    /// Where the capture is.
    pub path: PathBuf,
    /// The name stored instead of the file's (an upload's client-given name).
    pub label: Option<String>,
}

impl CaptureFile {
    /// The file at `path`, labelled by its name.
    pub fn named(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            label: None,
        }
    }

    /// The file at `path`, labelled `label`.
    pub fn labelled(path: &Path, label: &str) -> Self {
        Self {
            path: path.to_owned(),
            label: Some(label.to_owned()),
        }
    }
}

/// What reading one source gave: the counters metrics and job statuses show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCounts {
    /// Frames read.
    pub frames: u64,
    /// IP packets decoded.
    pub packets: u64,
    /// Frames that did not decode to IP.
    pub undecodable: u64,
    /// Why reading stopped early (damage, not a capture, unreadable), if it did.
    pub error: Option<String>,
}

impl SourceCounts {
    /// The counters of a file's report.
    pub fn of_file(r: &FileReport) -> Self {
        Self {
            frames: r.source.frames,
            packets: r.packets,
            undecodable: r.undecodable.total(),
            error: r.error.as_ref().map(ToString::to_string),
        }
    }
}

/// What [`IngestService::ingest_captures`] read.
#[derive(Debug, Default)]
pub struct CapturesRead {
    /// One entry per capture, in order.
    pub counts: Vec<SourceCounts>,
    /// The pipeline's summary: per-file reports (of the captures read under their own name)
    /// and the rows written.
    pub summary: IngestSummary,
}

impl IngestService {
    /// Reads `captures` one after the other through one pipeline and hands every row to the
    /// store; a damaged or unreadable capture is reported in its counts, not as an error. The
    /// error is a failure to store (the reading stops there).
    pub fn ingest_captures(&self, captures: &[CaptureFile]) -> Result<CapturesRead, PipelineError> {
        let mut pipeline = self.pipeline();
        let counts = captures
            .iter()
            .map(|capture| self.read_capture(&mut pipeline, capture))
            .collect::<Result<Vec<_>, _>>()?;
        let (_, summary) = pipeline.finish()?;
        for c in &counts {
            self.observer().source_ingested(c);
        }
        Ok(CapturesRead { counts, summary })
    }

    /// Runs one capture through `pipeline`, telling the observer how far it got.
    fn read_capture(
        &self,
        pipeline: &mut Pipeline<StoreSink>,
        capture: &CaptureFile,
    ) -> Result<SourceCounts, PipelineError> {
        let observer = self.observer();
        let path = capture.path.as_path();
        observer.file_started(path);
        let progress = &mut |bytes| observer.file_progress(bytes);
        let counts = match &capture.label {
            None => {
                let report = pipeline.ingest_file(path, progress)?;
                observer.file_read(path, report);
                SourceCounts::of_file(report)
            }
            Some(label) => match CaptureReader::open(path) {
                Ok(reader) => {
                    let report = pipeline.ingest_reader(reader, Path::new(label), progress);
                    observer.file_read(path, &report);
                    SourceCounts::of_file(&report)
                }
                Err(e) => SourceCounts {
                    error: Some(e.to_string()),
                    ..SourceCounts::default()
                },
            },
        };
        Ok(counts)
    }
}
