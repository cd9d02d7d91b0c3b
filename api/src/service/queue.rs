//! The job queue: jobs (capture files given at start, uploads) wait in a bounded queue and one
//! worker thread runs them through the service, so every job's rows are in the store (and
//! delivered to live streams) when it finishes. Recent jobs and their outcome stay listed.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use faultline_engine::Engine;
use faultline_ingest::batch::BatchStats;
use faultline_ingest::pipeline::PipelineConfig;
use serde::Serialize;
use tempfile::TempPath;

use super::IngestService;
use super::files::{CaptureFile, SourceCounts};
use super::observer::IngestObserver;

/// Jobs waiting beyond the running one; more are refused.
const QUEUE_DEPTH: usize = 16;
/// Finished jobs kept for [`IngestQueue::jobs`].
const KEPT_JOBS: usize = 100;

/// Where a job's capture comes from.
#[derive(Debug)]
pub enum IngestSource {
    /// Capture files named when the server started, ingested one after the other (each
    /// file's entries reach the store when it is done).
    Files(Vec<PathBuf>),
    /// An uploaded capture in a temporary file (deleted when the job is dropped), with the
    /// label stored as its `capture_source`.
    Upload {
        /// The temporary file.
        path: TempPath,
        /// The client's name for it (sanitised).
        label: String,
    },
}

impl IngestSource {
    fn label(&self) -> String {
        match self {
            IngestSource::Files(files) => match files.as_slice() {
                [one] => one.display().to_string(),
                many => format!("{} files", many.len()),
            },
            IngestSource::Upload { label, .. } => label.clone(),
        }
    }

    /// The captures the job reads, in order.
    fn captures(&self) -> Vec<CaptureFile> {
        match self {
            IngestSource::Files(files) => files.iter().map(|f| CaptureFile::named(f)).collect(),
            IngestSource::Upload { path, label } => vec![CaptureFile::labelled(path, label)],
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the worker.
    Queued,
    /// Being ingested.
    Running,
    /// Ingested (possibly only in part: see `error`).
    Done,
    /// Nothing could be ingested, or the server stopped first.
    Failed,
}

/// A job's progress and outcome, as `GET /api/ingest` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IngestStatus {
    /// Job number, from 1.
    pub id: u64,
    /// The file (or upload name).
    pub source: String,
    /// Where the job is.
    pub state: JobState,
    /// Frames read.
    pub frames: u64,
    /// IP packets decoded.
    pub packets: u64,
    /// Frames that did not decode to IP.
    pub undecodable: u64,
    /// Entry rows written.
    pub entries: u64,
    /// Flow rows written.
    pub flows: u64,
    /// Why reading stopped early, or why the job failed.
    pub error: Option<String>,
}

/// One queued job.
#[derive(Debug)]
pub struct IngestJob {
    id: u64,
    source: IngestSource,
    reply: Option<tokio::sync::oneshot::Sender<IngestStatus>>,
}

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// [`IngestQueue::stop`] was called.
    #[error("the server is shutting down")]
    Stopping,
    /// [`QUEUE_DEPTH`] jobs are already waiting.
    #[error("the ingest queue is full; try again later")]
    Full,
    /// The worker thread is gone.
    #[error("the ingest worker has stopped")]
    WorkerGone,
}

enum Message {
    Job(IngestJob),
    Stop,
}

struct QueueShared {
    tx: SyncSender<Message>,
    jobs: Mutex<VecDeque<IngestStatus>>,
    next_id: AtomicU64,
    stopping: AtomicBool,
}

/// The handle to the ingest worker; clones share it.
#[derive(Clone)]
pub struct IngestQueue {
    shared: Arc<QueueShared>,
}

impl std::fmt::Debug for IngestQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestQueue").finish_non_exhaustive()
    }
}

/// The worker thread of a queue.
#[derive(Debug)]
pub struct IngestWorker(std::thread::JoinHandle<()>);

impl IngestWorker {
    /// Whether the worker has ended (after [`IngestQueue::stop`] and its running job).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Waits up to `grace` for the worker to end; true if it did.
    pub fn wait(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        while !self.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.is_finished()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl IngestQueue {
    /// Starts the worker thread that ingests into `engine` with `config`, reporting to
    /// `observer` (see [`IngestService::start_queue`]).
    pub fn start(
        engine: Engine,
        config: PipelineConfig,
        observer: Arc<dyn IngestObserver>,
    ) -> std::io::Result<(IngestQueue, IngestWorker)> {
        IngestService::new(engine, config, observer).start_queue()
    }

    /// Queues a job; the receiver gets its final status.
    pub fn submit(
        &self,
        source: IngestSource,
    ) -> Result<(u64, tokio::sync::oneshot::Receiver<IngestStatus>), SubmitError> {
        if self.stopping() {
            return Err(SubmitError::Stopping);
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.record(status(id, &source, JobState::Queued));
        let job = IngestJob {
            id,
            source,
            reply: Some(reply),
        };
        match self.shared.tx.try_send(Message::Job(job)) {
            Ok(()) => Ok((id, rx)),
            Err(e) => {
                let why = match e {
                    TrySendError::Full(_) => SubmitError::Full,
                    TrySendError::Disconnected(_) => SubmitError::WorkerGone,
                };
                self.update(id, |s| {
                    s.state = JobState::Failed;
                    s.error = Some(why.to_string());
                });
                Err(why)
            }
        }
    }

    /// Recent jobs, oldest first.
    pub fn jobs(&self) -> Vec<IngestStatus> {
        lock(&self.shared.jobs).iter().cloned().collect()
    }

    /// Tells the worker to stop after the job it is running; queued jobs are dropped.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        // If the queue is full the worker sees the flag before its next job instead.
        let _ = self.shared.tx.try_send(Message::Stop);
    }

    fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire)
    }

    fn record(&self, s: IngestStatus) {
        let mut jobs = lock(&self.shared.jobs);
        jobs.push_back(s);
        while jobs.len() > KEPT_JOBS {
            jobs.pop_front();
        }
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut IngestStatus)) -> Option<IngestStatus> {
        let mut jobs = lock(&self.shared.jobs);
        let s = jobs.iter_mut().find(|s| s.id == id)?;
        f(s);
        Some(s.clone())
    }
}

fn status(id: u64, source: &IngestSource, state: JobState) -> IngestStatus {
    IngestStatus {
        id,
        source: source.label(),
        state,
        frames: 0,
        packets: 0,
        undecodable: 0,
        entries: 0,
        flows: 0,
        error: None,
    }
}

impl IngestService {
    /// Starts a job queue whose worker thread runs each job through this service.
    pub fn start_queue(&self) -> std::io::Result<(IngestQueue, IngestWorker)> {
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let queue = IngestQueue {
            shared: Arc::new(QueueShared {
                tx,
                jobs: Mutex::new(VecDeque::new()),
                next_id: AtomicU64::new(1),
                stopping: AtomicBool::new(false),
            }),
        };
        let worker = Worker {
            service: self.clone(),
            queue: queue.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("faultline-ingest".into())
            .spawn(move || worker.run(rx))?;
        Ok((queue, IngestWorker(handle)))
    }
}

struct Worker {
    service: IngestService,
    queue: IngestQueue,
}

impl Worker {
    fn run(self, rx: Receiver<Message>) {
        while let Ok(Message::Job(job)) = rx.recv() {
            let IngestJob { id, source, reply } = job;
            let final_status = if self.queue.stopping() {
                self.queue.update(id, |s| {
                    s.state = JobState::Failed;
                    s.error = Some("the server stopped before this job ran".into());
                })
            } else {
                self.queue.update(id, |s| s.state = JobState::Running);
                let outcome = self.ingest(&source);
                self.service.observer().job_finished(outcome.state);
                self.queue.update(id, |s| {
                    *s = IngestStatus {
                        id,
                        source: s.source.clone(),
                        ..outcome
                    }
                })
            };
            // Deletes an upload's temporary file.
            drop(source);
            if let (Some(reply), Some(s)) = (reply, final_status) {
                let _ = reply.send(s);
            }
        }
    }

    /// Ingests a job's captures, each through its own pipeline (so each is in the store when
    /// it is done), until the queue stops; everything is in the engine on return.
    fn ingest(&self, source: &IngestSource) -> IngestStatus {
        let mut s = status(0, source, JobState::Done);
        // Between the files given at start a stop ends the job; an upload is one capture.
        let stoppable = matches!(source, IngestSource::Files(_));
        let outcomes: Vec<Result<(SourceCounts, BatchStats), String>> = source
            .captures()
            .into_iter()
            .take_while(|_| !(stoppable && self.queue.stopping()))
            .map(|capture| self.ingest_one(capture))
            .collect();
        let mut errors = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok((counts, batches)) => {
                    s.frames += counts.frames;
                    s.packets += counts.packets;
                    s.undecodable += counts.undecodable;
                    s.entries += batches.entries();
                    s.flows += batches.flows;
                    errors.extend(counts.error);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            s.error = Some(errors.join("; "));
            if s.frames == 0 {
                s.state = JobState::Failed;
            }
        }
        s
    }

    /// Runs one capture through a fresh pipeline.
    fn ingest_one(&self, capture: CaptureFile) -> Result<(SourceCounts, BatchStats), String> {
        let read = self
            .service
            .ingest_captures(std::slice::from_ref(&capture))
            .map_err(|e| e.to_string())?;
        let counts = read.counts.into_iter().next().unwrap_or_default();
        Ok((counts, read.summary.batches))
    }
}
