//! `POST /api/sql`: one read-only SQL query over `entries`, `flows` and the analytic views,
//! under the engine's time and memory limits, in any result format.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::error::ApiError;
use super::format::{Format, respond};
use super::params::{JsonBody, Params};
use super::state::AppState;

/// The request body.
#[derive(Debug, Deserialize)]
pub struct SqlRequest {
    /// One `SELECT`, `WITH … SELECT` or `EXPLAIN`.
    pub sql: String,
}

/// Query-string parameters.
#[derive(Debug, Default, Deserialize)]
pub struct SqlParams {
    /// `json`, `ndjson`, `csv` or `arrow` (overrides `Accept`).
    pub format: Option<String>,
}

/// `POST /api/sql?format=` with `{"sql": "…"}`.
pub async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<SqlParams>,
    JsonBody(req): JsonBody<SqlRequest>,
) -> Result<Response, ApiError> {
    let format = Format::negotiate(p.format.as_deref(), &headers)?;
    let permit = state.query_permit().await?;
    let stream = state.engine().query_sql(&req.sql).await?;
    respond(stream, format, &state.config().limits, Some(permit)).await
}
