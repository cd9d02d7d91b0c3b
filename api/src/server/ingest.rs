//! Ingest while serving: one worker thread takes jobs (capture files given at start, uploads)
//! from a bounded queue and runs each through its own [`Pipeline`] into the engine, so every
//! job's entries are in the store (and delivered to live streams) when it finishes.
//!
//! `POST /api/ingest?name=&wait=` streams the request body (a pcap or pcapng, optionally
//! gzipped) to a temporary file in the upload directory (inside the data directory), never
//! holding it in memory, refuses it past the upload limit, then queues it; the file is deleted
//! once ingested. `GET /api/ingest` lists recent jobs.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use faultline_engine::Engine;
use faultline_ingest::CaptureReader;
use faultline_ingest::batch::BatchStats;
use faultline_ingest::pipeline::{FileReport, Pipeline, PipelineConfig};
use faultline_ingest::sink::{BatchSink, SinkError, Table};
use faultline_schemas::{EntryKind, entry_col};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

use crate::engine_sink::EngineSink;

use super::error::ApiError;
use super::metrics::Metrics;
use super::params::Params;
use super::state::AppState;

/// Jobs waiting beyond the running one; more are refused with 503.
const QUEUE_DEPTH: usize = 16;
/// Finished jobs kept for `GET /api/ingest`.
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl IngestQueue {
    /// Starts the worker thread that ingests into `engine` with `config`.
    pub fn start(
        engine: Engine,
        config: PipelineConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(IngestQueue, std::thread::JoinHandle<()>)> {
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
            engine,
            config,
            metrics,
            queue: queue.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("faultline-ingest".into())
            .spawn(move || worker.run(rx))?;
        Ok((queue, handle))
    }

    /// Queues a job; the receiver gets its final status.
    pub fn submit(
        &self,
        source: IngestSource,
    ) -> Result<(u64, tokio::sync::oneshot::Receiver<IngestStatus>), ApiError> {
        if self.shared.stopping.load(Ordering::Acquire) {
            return Err(ApiError::Unavailable("the server is shutting down".into()));
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
                    TrySendError::Full(_) => "the ingest queue is full; try again later",
                    TrySendError::Disconnected(_) => "the ingest worker has stopped",
                };
                self.update(id, |s| {
                    s.state = JobState::Failed;
                    s.error = Some(why.into());
                });
                Err(ApiError::Unavailable(why.into()))
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

struct Worker {
    engine: Engine,
    config: PipelineConfig,
    metrics: Arc<Metrics>,
    queue: IngestQueue,
}

impl Worker {
    fn run(self, rx: Receiver<Message>) {
        while let Ok(Message::Job(job)) = rx.recv() {
            let IngestJob { id, source, reply } = job;
            let final_status = if self.queue.shared.stopping.load(Ordering::Acquire) {
                self.queue.update(id, |s| {
                    s.state = JobState::Failed;
                    s.error = Some("the server stopped before this job ran".into());
                })
            } else {
                self.queue.update(id, |s| s.state = JobState::Running);
                let outcome = self.ingest(&source);
                self.metrics.job_finished(match outcome.state {
                    JobState::Failed => "failed",
                    _ => "done",
                });
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

    /// Ingests a job's captures; everything is in the engine on return.
    fn ingest(&self, source: &IngestSource) -> IngestStatus {
        let mut s = status(0, source, JobState::Done);
        let outcomes: Vec<Result<(FileCounts, BatchStats), String>> = match source {
            IngestSource::Files(files) => files
                .iter()
                .take_while(|_| !self.queue.shared.stopping.load(Ordering::Acquire))
                .map(|path| self.ingest_one(path, None))
                .collect(),
            IngestSource::Upload { path, label } => vec![self.ingest_one(path, Some(label))],
        };
        let mut errors = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok((counts, batches)) => {
                    self.metrics
                        .ingested(counts.frames, counts.packets, counts.undecodable);
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

    /// Runs one capture through a fresh pipeline; `label` replaces the file name as the
    /// entries' `capture_source`.
    fn ingest_one(
        &self,
        path: &Path,
        label: Option<&str>,
    ) -> Result<(FileCounts, BatchStats), String> {
        let sink = CountingSink::new(self.engine.clone(), self.metrics.clone());
        let mut pipeline = Pipeline::new(self.config.clone(), sink);
        let counts = match label {
            None => pipeline
                .ingest_file(path, &mut |_| {})
                .map(file_counts)
                .map_err(|e| e.to_string())?,
            Some(label) => match CaptureReader::open(path) {
                Ok(reader) => {
                    file_counts(&pipeline.ingest_reader(reader, Path::new(label), &mut |_| {}))
                }
                Err(e) => FileCounts {
                    error: Some(e.to_string()),
                    ..FileCounts::default()
                },
            },
        };
        let (_, summary) = pipeline.finish().map_err(|e| e.to_string())?;
        Ok((counts, summary.batches))
    }
}

#[derive(Debug, Default)]
struct FileCounts {
    frames: u64,
    packets: u64,
    undecodable: u64,
    error: Option<String>,
}

fn file_counts(r: &FileReport) -> FileCounts {
    FileCounts {
        frames: r.source.frames,
        packets: r.packets,
        undecodable: r.undecodable.total(),
        error: r.error.as_ref().map(ToString::to_string),
    }
}

/// An [`EngineSink`] that also counts what it stores into the metrics (entries by kind, per
/// batch), so live captures are counted as they go.
#[derive(Debug)]
pub struct CountingSink {
    inner: EngineSink,
    metrics: Arc<Metrics>,
}

impl CountingSink {
    /// A sink appending to `engine` and counting into `metrics`.
    pub fn new(engine: Engine, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: EngineSink::new(engine),
            metrics,
        }
    }
}

impl BatchSink for CountingSink {
    fn write(&mut self, table: Table, batch: RecordBatch) -> Result<(), SinkError> {
        let counts = match table {
            Table::Entries => (kind_counts(&batch), 0),
            Table::Flows => ([0; 6], batch.num_rows() as u64),
        };
        self.inner.write(table, batch)?;
        self.metrics.stored(&counts.0, counts.1);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }
}

/// Rows per kind, indexed like [`EntryKind::ALL`].
fn kind_counts(batch: &RecordBatch) -> [u64; 6] {
    let mut counts = [0u64; 6];
    let Some(kinds) = batch
        .column_by_name(entry_col::KIND)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
    else {
        return counts;
    };
    for i in 0..kinds.len() {
        if kinds.is_valid(i)
            && let Some(pos) = EntryKind::ALL
                .iter()
                .position(|k| k.as_str() == kinds.value(i))
        {
            counts[pos] += 1;
        }
    }
    counts
}

/// Parameters of `POST /api/ingest`.
#[derive(Debug, Default, Deserialize)]
pub struct UploadParams {
    /// A name for the capture, stored as the entries' `capture_source`.
    pub name: Option<String>,
    /// `false`: answer 202 as soon as the upload is queued; default: wait until ingested.
    pub wait: Option<bool>,
}

/// `POST /api/ingest`: the body is the capture.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<UploadParams>,
    body: Body,
) -> Result<(StatusCode, Json<IngestStatus>), ApiError> {
    let dir = state
        .config()
        .upload_dir
        .clone()
        .ok_or_else(|| ApiError::Unavailable("this server does not take uploads".into()))?;
    let max = state.config().limits.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        drain(body.into_data_stream()).await;
        return Err(too_large(max));
    }
    let path = receive(body, &dir, max).await?;
    let label = upload_label(p.name.as_deref());
    let (id, done) = state
        .ingest()
        .submit(IngestSource::Upload { path, label })?;
    if p.wait == Some(false) {
        let queued = state
            .ingest()
            .jobs()
            .into_iter()
            .find(|j| j.id == id)
            .ok_or_else(|| ApiError::Internal("the queued job is gone".into()))?;
        return Ok((StatusCode::ACCEPTED, Json(queued)));
    }
    let status = done
        .await
        .map_err(|_| ApiError::Unavailable("the ingest worker stopped".into()))?;
    if status.state == JobState::Failed {
        return Err(ApiError::BadRequest(format!(
            "the upload could not be ingested: {}",
            status.error.as_deref().unwrap_or("unknown error")
        )));
    }
    Ok((StatusCode::OK, Json(status)))
}

/// Most bytes of a refused upload read and dropped before answering.
const DRAIN_BYTES: usize = 1 << 20;
/// Longest wait for them.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_millis(250);

/// Reads and drops what a client is still sending of a refused upload, up to [`DRAIN_BYTES`]
/// or [`DRAIN_TIME`] (a lingering close, as web servers do): a socket closed with unread data
/// is reset by the kernel, and the reset can destroy the 413 before the client reads it.
async fn drain(mut stream: axum::body::BodyDataStream) {
    let read = async {
        let mut dropped = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            dropped += chunk.len();
            if dropped > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

fn too_large(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!("uploads are limited to {max} bytes"))
}

/// Streams `body` into a new temporary file in `dir`, at most `max` bytes.
async fn receive(body: Body, dir: &Path, max: u64) -> Result<TempPath, ApiError> {
    let io = |what: &str, e: std::io::Error| {
        ApiError::Internal(format!("{what} in {}: {e}", dir.display()))
    };
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| io("creating the upload directory", e))?;
    let temp = tempfile::Builder::new()
        .prefix("upload-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| io("creating a temporary file", e))?;
    let (file, path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the upload: {e}")))?;
        written += chunk.len() as u64;
        if written > max {
            drain(stream).await;
            return Err(too_large(max));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| io("writing the upload", e))?;
    }
    file.flush()
        .await
        .map_err(|e| io("writing the upload", e))?;
    if written == 0 {
        return Err(ApiError::BadRequest("the upload is empty".into()));
    }
    Ok(path)
}

/// The client's name reduced to letters, digits and `._-` (at most 100), or `upload`.
fn upload_label(name: Option<&str>) -> String {
    let clean: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(100)
        .collect();
    if clean.trim_matches('.').is_empty() {
        "upload".into()
    } else {
        clean
    }
}

/// `GET /api/ingest`: recent jobs, oldest first.
pub async fn list(State(state): State<AppState>) -> Json<Vec<IngestStatus>> {
    Json(state.ingest().jobs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sanitised() {
        assert_eq!(upload_label(Some("../../etc/passwd")), "....etcpasswd");
        assert_eq!(upload_label(Some("my capture.pcapng")), "mycapture.pcapng");
        assert_eq!(upload_label(Some("..")), "upload");
        assert_eq!(upload_label(None), "upload");
        assert_eq!(upload_label(Some(&"a".repeat(500))).len(), 100);
    }

    #[test]
    fn kinds_are_counted() {
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new(entry_col::KIND, arrow::datatypes::DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(vec![
                Some("tcp"),
                Some("icmp"),
                Some("tcp"),
                None,
                Some("nope"),
            ]))],
        )
        .unwrap();
        assert_eq!(kind_counts(&batch), [2, 0, 0, 1, 0, 0]);
    }
}
