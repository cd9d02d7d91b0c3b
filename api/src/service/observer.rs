//! What the ingest service reports while it works, to whoever watches: the HTTP server's
//! metrics count rows, sources and jobs; the CLI's progress bar follows the files. Every method
//! has a default that ignores the event, so an observer implements only what it shows.

use std::path::Path;

use arrow::record_batch::RecordBatch;
use faultline_ingest::pipeline::FileReport;
use faultline_schemas::Table;

use super::files::SourceCounts;
use super::queue::JobState;

/// Receives the service's progress events; called from the service's threads, so it must be
/// shareable (`Send + Sync`) and quick.
pub trait IngestObserver: Send + Sync {
    /// A capture file starts being read.
    fn file_started(&self, _path: &Path) {}

    /// Captured bytes of the file being read so far (now and then, and at its end).
    fn file_progress(&self, _bytes: u64) {}

    /// The capture file at `path` was read to its end (or to its damage: see `report.error`).
    fn file_read(&self, _path: &Path, _report: &FileReport) {}

    /// Every row of one source (a file, an upload, a live capture) is in the store.
    fn source_ingested(&self, _counts: &SourceCounts) {}

    /// A live capture dropped `packets` (kernel and interfaces) over its run.
    fn capture_dropped(&self, _packets: u64) {}

    /// The store acknowledged one batch of `table`.
    fn stored(&self, _table: Table, _batch: &RecordBatch) {}

    /// A queued job ended, [`JobState::Done`] or [`JobState::Failed`].
    fn job_finished(&self, _state: JobState) {}
}

/// An observer that ignores every event (commands without progress display).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl IngestObserver for NoObserver {}
