//! The HTTP side of ingest while serving: `POST /api/ingest?name=&wait=` streams the request
//! body (a pcap or pcapng, optionally gzipped) to a temporary file in the upload directory
//! (inside the data directory), never holding it in memory, refuses it past the upload limit,
//! then queues it as a job of the ingest service ([`crate::service::IngestQueue`]); the file is
//! deleted once ingested. `GET /api/ingest` lists recent jobs.

use std::path::Path;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use futures::StreamExt;
use serde::Deserialize;
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

use crate::service::{IngestSource, IngestStatus, JobState};

use super::error::ApiError;
use super::params::Params;
use super::state::AppState;

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
        .submit(IngestSource::Upload { path, label })
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
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
}
