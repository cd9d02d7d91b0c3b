//! What every handler shares: the engine, the settings, the metrics, the ingest queue, the
//! query permits and the shutdown signal.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use faultline_engine::Engine;
use faultline_ingest::recorder::Recorder;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::service::IngestQueue;

use super::error::ApiError;
use super::metrics::Metrics;

/// Size limits of requests and results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body of the JSON endpoints (`/api/sql`, `/api/kfl/check`), bytes.
    pub max_body_bytes: usize,
    /// Largest capture upload (`POST /api/ingest`), bytes.
    pub max_upload_bytes: u64,
    /// Most rows one response may carry (`/api/entries` refuses a larger `limit`, `/api/sql`
    /// fails past it).
    pub max_result_rows: usize,
    /// Rows `/api/entries` returns when the request gives no `limit`.
    pub default_entries_limit: usize,
    /// A result is read up to this many encoded bytes before the response starts: a result
    /// that fits (most do) gets an exact status code for every error; a larger one streams,
    /// and an error after that point aborts the response.
    pub head_bytes: usize,
    /// Queries (`/api/entries`, `/api/sql`, the summary) running at once; more wait in line.
    pub max_concurrent_queries: usize,
    /// Rows a live subscriber may have queued before it lags (rows are dropped and a lag
    /// marker is sent).
    pub live_capacity_rows: usize,
}

impl Default for Limits {
    /// 1 MiB bodies, 2 GiB uploads, 1 M result rows, 1000 entries by default, 4 MiB head,
    /// 8 queries at once, 10 000 queued live rows.
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_upload_bytes: 2 << 30,
            max_result_rows: 1_000_000,
            default_entries_limit: 1000,
            head_bytes: 4 << 20,
            max_concurrent_queries: 8,
            live_capacity_rows: 10_000,
        }
    }
}

/// Settings of a server.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// The bearer token every request but `/healthz` must carry; `None`: no authentication.
    pub token: Option<String>,
    /// Request and result limits.
    pub limits: Limits,
    /// Where uploads are written while they are ingested (inside the data directory);
    /// `None` refuses uploads.
    pub upload_dir: Option<PathBuf>,
}

struct Shared {
    engine: Engine,
    config: ServerConfig,
    metrics: Arc<Metrics>,
    ingest: IngestQueue,
    queries: Arc<Semaphore>,
    shutdown: CancellationToken,
    recorder: OnceLock<Recorder>,
}

/// The state of a running server; clones share it.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("engine", &self.shared.engine)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state over `engine`; `ingest` feeds uploads (and anything else) to the engine.
    pub fn new(
        engine: Engine,
        config: ServerConfig,
        metrics: Arc<Metrics>,
        ingest: IngestQueue,
    ) -> Self {
        let queries = Arc::new(Semaphore::new(config.limits.max_concurrent_queries.max(1)));
        Self {
            shared: Arc::new(Shared {
                engine,
                config,
                metrics,
                ingest,
                queries,
                shutdown: CancellationToken::new(),
                recorder: OnceLock::new(),
            }),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// The ingest service's job queue (uploads go there).
    pub fn ingest(&self) -> &IngestQueue {
        &self.shared.ingest
    }

    /// Hands `GET /api/pcap` the traffic recorder the server's ingest writes to (set once;
    /// a later call is ignored). Without one, the endpoint answers 503.
    pub fn set_recorder(&self, recorder: Recorder) {
        let _ = self.shared.recorder.set(recorder);
    }

    /// The traffic recorder, if the server records packets.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.shared.recorder.get()
    }

    /// Cancelled when the server shuts down: long-lived responses (live streams) end on it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }

    /// Waits for a query slot; the permit frees it when dropped (with the response body).
    pub(crate) async fn query_permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.shared
            .queries
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))
    }
}
