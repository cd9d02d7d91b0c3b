//! `GET /api/entries` (KFL over `entries`, in any format) and `GET /api/entries/{id}` (one
//! entry in full, with its flow).

use arrow::array::{Array, UInt64Array};
use arrow::record_batch::RecordBatch;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use faultline_engine::KflQuery;
use faultline_schemas::{entry_col, flow_col};
use serde::Deserialize;

use super::error::ApiError;
use super::format::{Format, first_row_json, respond};
use super::params::{Params, parse_limit, parse_order, time_range};
use super::state::AppState;

/// Parameters of `GET /api/entries`.
#[derive(Debug, Default, Deserialize)]
pub struct EntriesParams {
    /// KFL filter; empty or absent: every entry.
    pub q: Option<String>,
    /// Inclusive lower time bound.
    pub from: Option<String>,
    /// Exclusive upper time bound.
    pub to: Option<String>,
    /// Most rows (default and maximum from the server's limits).
    pub limit: Option<String>,
    /// `asc` (default) or `desc` by timestamp.
    pub order: Option<String>,
    /// `json`, `ndjson`, `csv` or `arrow` (overrides `Accept`).
    pub format: Option<String>,
}

/// `GET /api/entries?q=&from=&to=&limit=&order=&format=`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(p): Params<EntriesParams>,
) -> Result<Response, ApiError> {
    let format = Format::negotiate(p.format.as_deref(), &headers)?;
    let limits = state.config().limits;
    let (from_us, to_us) = time_range(p.from.as_deref(), p.to.as_deref())?;
    let query = KflQuery {
        kfl: p.q.unwrap_or_default(),
        from_us,
        to_us,
        limit: Some(parse_limit(
            p.limit.as_deref(),
            limits.default_entries_limit,
            limits.max_result_rows,
        )?),
        order: parse_order(p.order.as_deref())?,
    };
    let permit = state.query_permit().await?;
    let stream = state.engine().query_kfl(&query).await?;
    respond(stream, format, &limits, Some(permit)).await
}

/// `GET /api/entries/{id}`: `{"entry": {...every column...}, "flow": {...} | null, "pcap":
/// bool}`; `pcap` tells whether this server records packets, so that `GET /api/pcap` can give
/// the flow's.
pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("`{id}` is not an entry id")))?;
    let _permit = state.query_permit().await?;
    // `id` is a parsed integer: nothing from the request reaches the SQL text unparsed.
    let entry = collect(
        &state,
        &format!(
            "SELECT * FROM entries WHERE {} = {id} LIMIT 1",
            entry_col::ID
        ),
    )
    .await?;
    let Some(entry_json) = first_row_json(&entry)? else {
        return Err(ApiError::NotFound(format!("no entry with id {id}")));
    };
    let flow = match flow_id(&entry) {
        Some(fid) => {
            let flows = collect(
                &state,
                &format!(
                    "SELECT * FROM flows WHERE {} = {fid} LIMIT 1",
                    flow_col::FLOW_ID
                ),
            )
            .await?;
            first_row_json(&flows)?
        }
        None => None,
    };
    let pcap = state.recorder().is_some();
    Ok(Json(
        serde_json::json!({ "entry": entry_json, "flow": flow, "pcap": pcap }),
    ))
}

async fn collect(state: &AppState, sql: &str) -> Result<Vec<RecordBatch>, ApiError> {
    Ok(state.engine().query_sql(sql).await?.collect().await?)
}

/// The `flow_id` of the first row, when it has one.
fn flow_id(batches: &[RecordBatch]) -> Option<u64> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let column = batch.column_by_name(entry_col::FLOW_ID)?;
    let ids = column.as_any().downcast_ref::<UInt64Array>()?;
    ids.is_valid(0).then(|| ids.value(0))
}
