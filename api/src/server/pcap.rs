//! `GET /api/pcap?q=&from=&to=`: the traffic recorder's packets of the flows whose entries
//! match the KFL query, as a pcap download (pcapng when they span several link types). Without
//! `q`, every retained packet in the time range. Only the recorder directory inside the data
//! directory is read; the request names no path.
//!
//! The file is streamed while it is written (bounded memory): a packet that turns out
//! unreadable is skipped, and the counts of what was planned are in `X-Faultline-*` headers.

use std::io::Write;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use faultline_engine::KflQuery;
use faultline_ingest::recorder::ExportPlan;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::error::ApiError;
use super::params::{Params, time_range};
use super::state::AppState;
use crate::pcap_export::select;

/// Bytes per chunk of the streamed body.
const CHUNK: usize = 64 * 1024;
/// Chunks written ahead of the client at most.
const CHUNKS_AHEAD: usize = 8;

/// Parameters of `GET /api/pcap`.
#[derive(Debug, Default, Deserialize)]
pub struct PcapParams {
    /// KFL filter over entries; empty or absent: every packet in the time range.
    pub q: Option<String>,
    /// Inclusive lower time bound (of entries; of packets without `q`).
    pub from: Option<String>,
    /// Exclusive upper time bound.
    pub to: Option<String>,
}

/// `GET /api/pcap?q=&from=&to=`.
pub async fn handler(
    State(state): State<AppState>,
    Params(p): Params<PcapParams>,
) -> Result<Response, ApiError> {
    let Some(recorder) = state.recorder().cloned() else {
        return Err(ApiError::Unavailable(
            "this server does not record packets (--no-record, or a remote store)".into(),
        ));
    };
    let (from_us, to_us) = time_range(p.from.as_deref(), p.to.as_deref())?;
    let query = KflQuery {
        kfl: p.q.unwrap_or_default(),
        from_us,
        to_us,
        ..KflQuery::default()
    };
    faultline_kfl::compile(&query.kfl)?;
    let selection = {
        let _permit = state.query_permit().await?;
        select(state.engine(), &query).await?
    };
    let plan = tokio::task::spawn_blocking(move || {
        recorder.flush()?;
        ExportPlan::new(&recorder.root(), &selection.filter).map(|plan| (plan, selection))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("export task: {e}")))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (plan, selection) = plan;
    let (kind, ext) = if plan.pcapng() {
        ("application/x-pcapng", "pcapng")
    } else {
        ("application/vnd.tcpdump.pcap", "pcap")
    };
    let packets = plan.packets();
    let (tx, rx) = mpsc::channel::<Bytes>(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        // A client that goes away closes the channel, which ends the export with an error.
        let _ = plan.write(ChunkWriter::new(tx));
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    }));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    let name = format!(
        "attachment; filename=\"faultline-{}.{ext}\"",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert("x-faultline-packets", HeaderValue::from(packets));
    headers.insert(
        "x-faultline-flows",
        HeaderValue::from(selection.flows.len()),
    );
    Ok(response)
}

/// A `Write` that hands the bytes to the response body in chunks.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Bytes>,
}

impl ChunkWriter {
    fn new(tx: mpsc::Sender<Bytes>) -> Self {
        ChunkWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Bytes::from(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
