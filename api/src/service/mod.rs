//! The ingest service: everything that turns captures into stored rows, below the commands
//! and the HTTP handlers, which only wire it.
//!
//! An [`IngestService`] holds the engine, the pipeline settings, an [`IngestObserver`] (the
//! server's metrics, the CLI's progress bar) and optionally an [`AckLog`]; every pipeline it
//! builds writes through one [`StoreSink`] into the engine. On top of it:
//!
//! - files: [`IngestService::ingest_captures`] reads capture files (`faultline ingest`, and
//!   each file of a job);
//! - jobs: [`IngestService::start_queue`] starts a worker thread behind a bounded
//!   [`IngestQueue`] (files given to `serve`, uploads);
//! - live capture: [`IngestService::run_capture`] on the caller's thread (`faultline capture`),
//!   [`IngestService::start_capture`] on a thread of its own (`serve --interface`).
//!
//! Extension points: [`IngestService::pipeline`] is the only place a pipeline is built (more
//! workers or flow-sharded pipelines start there); a [`CaptureFile`] is the unit a job reads
//! and reports (where a source fingerprint and progress records belong); shutdown is
//! [`IngestQueue::stop`], [`CaptureHandle::stop`] and [`IngestWorker::wait`], in that order.

mod capture;
mod files;
mod observer;
mod queue;
mod sink;

use std::sync::Arc;

use faultline_engine::Engine;
use faultline_ingest::pipeline::{Pipeline, PipelineConfig};

pub use capture::{CaptureError, CaptureHandle, CaptureRun};
pub use files::{CaptureFile, CapturesRead, SourceCounts};
pub use observer::{IngestObserver, NoObserver};
pub use queue::{
    IngestJob, IngestQueue, IngestSource, IngestStatus, IngestWorker, JobState, SubmitError,
};
pub use sink::{AckLog, StoreSink};

/// Ingest into one engine with one set of pipeline settings; clones share the engine, the
/// observer and the ack log.
#[derive(Clone)]
pub struct IngestService {
    engine: Engine,
    config: PipelineConfig,
    observer: Arc<dyn IngestObserver>,
    acks: Option<AckLog>,
}

impl std::fmt::Debug for IngestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestService")
            .field("engine", &self.engine)
            .field("config", &self.config)
            .field("acks", &self.acks)
            .finish_non_exhaustive()
    }
}

impl IngestService {
    /// A service ingesting into `engine` with `config`, reporting to `observer`.
    pub fn new(engine: Engine, config: PipelineConfig, observer: Arc<dyn IngestObserver>) -> Self {
        Self {
            engine,
            config,
            observer,
            acks: None,
        }
    }

    /// Also records every acknowledged append in `log` (see [`AckLog`]).
    pub fn with_ack_log(mut self, log: std::fs::File) -> Self {
        self.acks = Some(AckLog::new(log));
        self
    }

    /// The engine the service writes to.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The observer the service reports to.
    pub fn observer(&self) -> &dyn IngestObserver {
        self.observer.as_ref()
    }

    /// A new pipeline writing to the store: the one place a pipeline and its sink are built.
    pub fn pipeline(&self) -> Pipeline<StoreSink> {
        let sink = StoreSink::new(
            self.engine.clone(),
            self.observer.clone(),
            self.acks.clone(),
        );
        Pipeline::new(self.config.clone(), sink)
    }
}
