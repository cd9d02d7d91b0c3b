//! `/metrics` in the Prometheus text format: ingest counters (frames, packets, undecodable
//! frames, capture drops, entries by kind, flows, jobs), live streams and lagged rows, HTTP
//! requests and their latency by route, and the engine's own counters read at scrape time.
//!
//! Request latency is measured to the response head; results that fit the head buffer (see
//! [`super::format`]) are complete by then, so for them it is the query's full time.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use faultline_engine::Engine;
use faultline_schemas::{EntryKind, Table, entry_col};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::service::{IngestObserver, JobState, SourceCounts};

use super::error::ApiError;
use super::state::AppState;

type Labels = Vec<(&'static str, String)>;

/// Seconds, from 0.5 ms doubling to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The server's metrics and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    frames: Counter,
    packets: Counter,
    undecodable: Counter,
    capture_drops: Counter,
    entries: Family<Labels, Counter>,
    flows: Counter,
    ingest_jobs: Family<Labels, Counter>,
    live_streams: Family<Labels, Gauge>,
    live_lagged: Counter,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    /// A registry with every metric, including the counters of `engine`.
    pub fn new(engine: Engine) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("faultline");
        let m = Metrics {
            frames: Counter::default(),
            packets: Counter::default(),
            undecodable: Counter::default(),
            capture_drops: Counter::default(),
            entries: Family::default(),
            flows: Counter::default(),
            ingest_jobs: Family::default(),
            live_streams: Family::default(),
            live_lagged: Counter::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            registry: Registry::default(),
        };
        registry.register(
            "ingest_frames",
            "Frames read from captures",
            m.frames.clone(),
        );
        registry.register("ingest_packets", "IP packets decoded", m.packets.clone());
        registry.register(
            "ingest_undecodable_frames",
            "Frames that did not decode to an IP packet",
            m.undecodable.clone(),
        );
        registry.register(
            "capture_drops",
            "Packets dropped by live captures (kernel and interfaces)",
            m.capture_drops.clone(),
        );
        registry.register("entries", "Entries ingested, by kind", m.entries.clone());
        registry.register("flows", "Flow records ingested", m.flows.clone());
        registry.register(
            "ingest_jobs",
            "Ingest jobs finished, by outcome",
            m.ingest_jobs.clone(),
        );
        registry.register(
            "live_streams",
            "Open live streams, by transport",
            m.live_streams.clone(),
        );
        registry.register(
            "live_lagged_rows",
            "Matching entries dropped because a live client was slow",
            m.live_lagged.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests, by route, method and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route",
            m.latency.clone(),
        );
        registry.register_collector(Box::new(EngineCollector { engine }));
        Arc::new(Metrics { registry, ..m })
    }

    /// Counts rows dropped for a slow live client.
    pub fn live_lagged(&self, rows: u64) {
        self.live_lagged.inc_by(rows);
    }

    /// Counts an open live stream until the guard is dropped.
    pub fn live_stream(&self, transport: &'static str) -> LiveGuard {
        let gauge = self
            .live_streams
            .get_or_create(&vec![("transport", transport.to_owned())])
            .clone();
        gauge.inc();
        LiveGuard(gauge)
    }

    /// The text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&vec![
                ("route", route.to_owned()),
                ("method", method.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("route", route.to_owned())])
            .observe(seconds);
    }
}

/// The ingest counters follow the ingest service: frames, packets and undecodable frames per
/// finished source, capture drops, stored entries by kind and flow records, jobs by outcome.
impl IngestObserver for Metrics {
    fn source_ingested(&self, counts: &SourceCounts) {
        self.frames.inc_by(counts.frames);
        self.packets.inc_by(counts.packets);
        self.undecodable.inc_by(counts.undecodable);
    }

    fn capture_dropped(&self, packets: u64) {
        self.capture_drops.inc_by(packets);
    }

    fn stored(&self, table: Table, batch: &RecordBatch) {
        match table {
            Table::Entries => {
                for (kind, n) in EntryKind::ALL.iter().zip(kind_counts(batch)) {
                    if n > 0 {
                        self.entries
                            .get_or_create(&vec![("kind", kind.as_str().to_owned())])
                            .inc_by(n);
                    }
                }
            }
            Table::Flows => {
                self.flows.inc_by(batch.num_rows() as u64);
            }
        }
    }

    fn job_finished(&self, state: JobState) {
        let outcome = match state {
            JobState::Failed => "failed",
            _ => "done",
        };
        self.ingest_jobs
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
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

/// Keeps a live stream counted while it exists.
#[derive(Debug)]
pub struct LiveGuard(Gauge);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The engine's counters, read on each scrape.
#[derive(Debug)]
struct EngineCollector {
    engine: Engine,
}

impl Collector for EngineCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.engine.stats();
        let subs = self.engine.subscription_stats();
        let counters: [(&str, &str, u64); 6] = [
            (
                "engine_appended_rows",
                "Rows appended to the engine",
                s.appended_rows,
            ),
            (
                "engine_flushes",
                "Flushes of the live buffer to Parquet",
                s.flushes,
            ),
            (
                "engine_backpressure_waits",
                "Appends that waited for a flush",
                s.backpressure_waits,
            ),
            (
                "engine_files_deleted",
                "Files deleted after compaction or retention",
                s.files_deleted,
            ),
            (
                "live_rows_delivered",
                "Rows handed to live subscribers",
                subs.rows_delivered,
            ),
            (
                "live_rows_dropped",
                "Rows dropped from full live queues (all subscribers)",
                subs.rows_dropped,
            ),
        ];
        for (name, help, value) in counters {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let gauges: [(&str, &str, u64); 6] = [
            ("engine_live_rows", "Rows in the live buffer", s.live_rows),
            (
                "engine_live_bytes",
                "Bytes in the live buffer",
                s.live_bytes,
            ),
            ("engine_stored_rows", "Rows in Parquet files", s.stored_rows),
            (
                "engine_stored_bytes",
                "Bytes of Parquet files",
                s.stored_bytes,
            ),
            ("engine_files", "Parquet files in the catalog", s.files),
            (
                "live_subscribers",
                "Live subscriptions in the engine",
                subs.subscribers as u64,
            ),
        ];
        for (name, help, value) in gauges {
            let g = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

/// `GET /metrics`.
pub async fn handler(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state
        .metrics()
        .encode()
        .map_err(|e| ApiError::Internal(format!("encoding metrics: {e}")))?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}

/// Middleware: counts each request and its time to the response head, by matched route.
pub async fn track_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics().request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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
