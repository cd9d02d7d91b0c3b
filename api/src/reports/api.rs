//! HTTP routes of the reports, merged into the server through `server::app`'s `extra` router:
//! `GET /api/reports`, `GET /api/reports/{name}` and `POST /api/reports/{name}/run`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::config::OutputFormat;
use super::{ReportError, Reports};
use crate::server::{ApiError, AppState};

/// The report routes over `reports`, run on the server's engine.
pub fn routes(reports: Arc<Reports>) -> Router<AppState> {
    Router::new()
        .route("/api/reports", get(list))
        .route("/api/reports/{name}", get(latest))
        .route("/api/reports/{name}/run", post(run_now))
        .layer(Extension(reports))
}

fn api_error(e: ReportError) -> ApiError {
    match e {
        ReportError::InvalidName(_) | ReportError::InvalidRun(_) => {
            ApiError::BadRequest(e.to_string())
        }
        ReportError::NotFound(m) => ApiError::NotFound(m),
        ReportError::Query(faultline_engine::EngineError::Sql(m)) => ApiError::InvalidSql(m),
        other => ApiError::Internal(other.to_string()),
    }
}

/// One report in the listing.
#[derive(Debug, Serialize)]
struct ReportInfo {
    name: String,
    schedule: String,
    window_seconds: u64,
    formats: Vec<&'static str>,
    keep: usize,
    next_run: Option<String>,
    last_run: Option<String>,
    runs: Vec<String>,
}

/// `GET /api/reports`: every report with its schedule, next run and stored runs.
async fn list(Extension(reports): Extension<Arc<Reports>>) -> Result<Response, ApiError> {
    let now = Utc::now();
    let mut out = Vec::with_capacity(reports.defs().len());
    for d in reports.defs() {
        let runs = reports.runs(&d.name).map_err(api_error)?;
        out.push(ReportInfo {
            name: d.name.clone(),
            schedule: d.schedule.expr().to_string(),
            window_seconds: d.window.as_secs(),
            formats: d.formats.iter().map(|f| f.extension()).collect(),
            keep: d.keep,
            next_run: d.schedule.next_after(now).map(|t| t.to_rfc3339()),
            last_run: runs.last().cloned(),
            runs,
        });
    }
    Ok(Json(serde_json::json!({ "reports": out })).into_response())
}

/// Parameters of `GET /api/reports/{name}`.
#[derive(Debug, Deserialize)]
struct RunParams {
    /// A run id (default: the latest run).
    run: Option<String>,
    /// `json` (default), `csv` or `html`.
    format: Option<String>,
}

/// `GET /api/reports/{name}`: a stored run's file.
async fn latest(
    Extension(reports): Extension<Arc<Reports>>,
    Path(name): Path<String>,
    Query(params): Query<RunParams>,
) -> Result<Response, ApiError> {
    let format = match params.format.as_deref() {
        None | Some("") => OutputFormat::Json,
        Some(f) => OutputFormat::from_extension(f)
            .ok_or_else(|| ApiError::BadRequest(format!("`format={f}`: use json, csv or html")))?,
    };
    let path = reports
        .run_file(&name, params.run.as_deref(), format)
        .map_err(api_error)?;
    let body = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("reading the report: {e}")))?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// `POST /api/reports/{name}/run`: runs the report now; 201 with the run id and files.
async fn run_now(
    State(state): State<AppState>,
    Extension(reports): Extension<Arc<Reports>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    reports.get(&name).map_err(api_error)?;
    // A run's queries count against the server's concurrent queries like any other.
    let _permit = state.query_permit().await?;
    let outcome = reports
        .run(state.engine(), &name, Utc::now())
        .await
        .map_err(api_error)?;
    let files: Vec<String> = outcome
        .files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let body = serde_json::json!({
        "report": outcome.doc.report,
        "run": outcome.doc.run,
        "from": outcome.doc.from,
        "to": outcome.doc.to,
        "files": files,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
