//! Result formats and how a query's stream of record batches becomes a response.
//!
//! Formats: JSON (`{"columns": [...], "rows": [...], "row_count": n}`), NDJSON (one object per
//! line), CSV (flat columns only: maps such as `request_headers` are left out) and the Arrow
//! IPC stream format. In JSON and NDJSON, 64-bit id columns (`id`, `*_id`) are strings, since
//! JavaScript numbers cannot hold them exactly; timestamps are RFC 3339 text; nulls are written.
//! Rows and CSV come from the shared renderer ([`crate::render`], [`JsonStyle::API`]); this
//! module adds the JSON document around the rows, Arrow IPC and streaming under limits.
//!
//! A result is read up to [`Limits::head_bytes`] before the response starts: if it ends by
//! then, every error gets its own status code. A longer result streams; an error (or the row
//! limit) after that point aborts the response mid-body, which clients see as a broken
//! transfer rather than a short, valid-looking result.

use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use faultline_engine::QueryStream;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::OwnedSemaphorePermit;

use crate::render::{CsvEncoder, JsonStyle, json_lines, json_rows};

use super::error::ApiError;
use super::state::Limits;

/// A response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON document with column metadata and the rows as objects.
    Json,
    /// Newline-delimited JSON, one object per row.
    Ndjson,
    /// CSV with a header line.
    Csv,
    /// The Arrow IPC stream format.
    Arrow,
}

const FORMATS: [(Format, &str, &str); 4] = [
    (Format::Json, "json", "application/json"),
    (Format::Ndjson, "ndjson", "application/x-ndjson"),
    (Format::Csv, "csv", "text/csv"),
    (
        Format::Arrow,
        "arrow",
        "application/vnd.apache.arrow.stream",
    ),
];

impl Format {
    /// The format asked for: the `format=` parameter (`json`, `ndjson`, `csv`, `arrow`) wins;
    /// otherwise the `Accept` header's most preferred supported type; JSON by default.
    pub fn negotiate(param: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
        if let Some(name) = param.map(str::trim).filter(|p| !p.is_empty()) {
            return FORMATS
                .iter()
                .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
                .map(|(f, _, _)| *f)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("`format={name}`: use json, ndjson, csv or arrow"))
                });
        }
        let Some(accept) = headers.get(header::ACCEPT) else {
            return Ok(Format::Json);
        };
        let accept = accept.to_str().unwrap_or_default();
        from_accept(accept).ok_or_else(|| {
            ApiError::NotAcceptable(format!(
                "cannot answer `Accept: {accept}`; supported: {}",
                FORMATS.map(|(_, _, m)| m).join(", ")
            ))
        })
    }

    /// The `Content-Type` of responses in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

/// The supported media type with the highest `q` (first listed on ties); `*/*` and
/// `application/*` mean JSON.
fn from_accept(accept: &str) -> Option<Format> {
    let mut best: Option<(f32, Format)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|v| v.parse::<f32>().ok())
            .unwrap_or(1.0);
        let format = match media.as_str() {
            "*/*" | "application/*" => Some(Format::Json),
            "text/*" => Some(Format::Csv),
            m => FORMATS.iter().find(|(_, _, t)| *t == m).map(|(f, _, _)| *f),
        };
        if let Some(f) = format
            && q > 0.0
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, f));
        }
    }
    best.map(|(_, f)| f)
}

/// One column in the JSON format's `columns`.
#[derive(Debug, Serialize)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// Arrow data type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether it may be null.
    pub nullable: bool,
}

/// The JSON format's column metadata for `schema`.
pub fn columns(schema: &Schema) -> Vec<ColumnInfo> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnInfo {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        })
        .collect()
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("encoding the result: {e}"))
}

/// The rows of `batch` as JSON objects in the API's style (nulls written, ids as strings), one
/// per line (each line ends in `\n`).
pub fn ndjson_rows(batch: &RecordBatch) -> Result<Vec<u8>, ApiError> {
    json_lines(batch, JsonStyle::API).map_err(internal)
}

/// Turns batches into the bytes of one format, piece by piece.
enum Encoder {
    Json { rows_written: bool },
    Ndjson,
    Csv(CsvEncoder),
    Arrow(Box<StreamWriter<Vec<u8>>>),
}

impl Encoder {
    /// The encoder and the bytes that open the response.
    fn begin(format: Format, schema: &SchemaRef) -> Result<(Encoder, Vec<u8>), ApiError> {
        Ok(match format {
            Format::Json => {
                let cols = serde_json::to_string(&columns(schema)).map_err(internal)?;
                let head = format!("{{\"columns\":{cols},\"rows\":[");
                (
                    Encoder::Json {
                        rows_written: false,
                    },
                    head.into_bytes(),
                )
            }
            Format::Ndjson => (Encoder::Ndjson, Vec::new()),
            Format::Csv => (Encoder::Csv(CsvEncoder::new(schema.clone())), Vec::new()),
            Format::Arrow => {
                let mut w = StreamWriter::try_new(Vec::new(), schema).map_err(internal)?;
                let head = std::mem::take(w.get_mut());
                (Encoder::Arrow(Box::new(w)), head)
            }
        })
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, ApiError> {
        if batch.num_rows() == 0 {
            return Ok(Vec::new());
        }
        match self {
            Encoder::Json { rows_written } => {
                let mut lines = ndjson_rows(batch)?;
                if lines.last() == Some(&b'\n') {
                    lines.pop();
                }
                for b in &mut lines {
                    // Raw newlines never occur inside JSON strings: each one separates rows.
                    if *b == b'\n' {
                        *b = b',';
                    }
                }
                if std::mem::replace(rows_written, true) {
                    lines.insert(0, b',');
                }
                Ok(lines)
            }
            Encoder::Ndjson => ndjson_rows(batch),
            Encoder::Csv(csv) => csv.batch(batch).map_err(internal),
            Encoder::Arrow(w) => {
                w.write(batch).map_err(internal)?;
                Ok(std::mem::take(w.get_mut()))
            }
        }
    }

    /// The bytes that close the response.
    fn end(&mut self, rows: usize) -> Result<Vec<u8>, ApiError> {
        match self {
            Encoder::Json { .. } => Ok(format!("],\"row_count\":{rows}}}").into_bytes()),
            Encoder::Ndjson => Ok(Vec::new()),
            // No rows: still the header line.
            Encoder::Csv(csv) => csv.finish().map_err(internal),
            Encoder::Arrow(w) => {
                w.finish().map_err(internal)?;
                Ok(std::mem::take(w.get_mut()))
            }
        }
    }
}

/// A query's rows being encoded: the stream, the encoder and the count against the limit.
struct Encoding {
    stream: QueryStream,
    encoder: Encoder,
    rows: usize,
    max_rows: usize,
    /// The row limit was reached with rows to spare: the next step fails.
    over: bool,
    done: bool,
    /// Held until the body is finished, so the query counts against the concurrency limit.
    _permit: Option<OwnedSemaphorePermit>,
}

/// What one step of reading a result produced.
enum Step {
    Bytes(Vec<u8>),
    End(Vec<u8>),
}

impl Encoding {
    async fn step(&mut self) -> Result<Step, ApiError> {
        if self.over {
            self.done = true;
            return Err(ApiError::ResultTooLarge(format!(
                "the result has more than {} rows; add a LIMIT or narrow the query",
                self.max_rows
            )));
        }
        match self.stream.next().await {
            None => {
                self.done = true;
                Ok(Step::End(self.encoder.end(self.rows)?))
            }
            Some(Err(e)) => {
                self.done = true;
                Err(e.into())
            }
            Some(Ok(mut batch)) => {
                let room = self.max_rows - self.rows;
                if batch.num_rows() > room {
                    // Send the rows up to the limit; the next step reports the overflow.
                    self.over = true;
                    batch = batch.slice(0, room);
                }
                self.rows += batch.num_rows();
                Ok(Step::Bytes(self.encoder.batch(&batch)?))
            }
        }
    }
}

/// Encodes `stream` as `format` into a response, within `limits` (see the module doc for how
/// errors surface). `permit` is held until the body is complete.
pub async fn respond(
    stream: QueryStream,
    format: Format,
    limits: &Limits,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<Response, ApiError> {
    let schema = stream.schema();
    let (encoder, head) = Encoder::begin(format, &schema)?;
    let mut enc = Encoding {
        stream,
        encoder,
        rows: 0,
        max_rows: limits.max_result_rows,
        over: false,
        done: false,
        _permit: permit,
    };
    let mut buffered = head;
    while buffered.len() < limits.head_bytes {
        match enc.step().await? {
            Step::Bytes(b) => buffered.extend_from_slice(&b),
            Step::End(b) => {
                buffered.extend_from_slice(&b);
                return Ok(with_type(Body::from(buffered), format));
            }
        }
    }
    let first = futures::stream::once(async move { Ok::<_, ApiError>(Bytes::from(buffered)) });
    let rest = futures::stream::unfold(enc, |mut enc| async move {
        if enc.done {
            return None;
        }
        let item = match enc.step().await {
            Ok(Step::Bytes(b) | Step::End(b)) => Ok(Bytes::from(b)),
            Err(e) => Err(e),
        };
        Some((item, enc))
    });
    Ok(with_type(Body::from_stream(first.chain(rest)), format))
}

fn with_type(body: Body, format: Format) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

/// The first row of `batches` as a JSON object (ids as strings), if there is one.
pub fn first_row_json(batches: &[RecordBatch]) -> Result<Option<serde_json::Value>, ApiError> {
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let lines = ndjson_rows(&batch.slice(0, 1))?;
    serde_json::from_slice(&lines).map(Some).map_err(internal)
}

/// The rows of `batch` as JSON objects in the API's style.
pub fn rows_json(batch: &RecordBatch) -> Result<Vec<serde_json::Value>, ApiError> {
    Ok(json_rows(batch, JsonStyle::API)
        .map_err(internal)?
        .into_iter()
        .map(serde_json::Value::Object)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field};

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        h
    }

    #[test]
    fn negotiation() {
        let none = HeaderMap::new();
        assert_eq!(Format::negotiate(None, &none).unwrap(), Format::Json);
        assert_eq!(
            Format::negotiate(Some("CSV"), &headers("application/json")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::negotiate(None, &headers("application/x-ndjson")).unwrap(),
            Format::Ndjson
        );
        assert_eq!(
            Format::negotiate(
                None,
                &headers("text/csv;q=0.5, application/vnd.apache.arrow.stream")
            )
            .unwrap(),
            Format::Arrow
        );
        assert_eq!(
            Format::negotiate(None, &headers("text/html, */*;q=0.8")).unwrap(),
            Format::Json
        );
        assert!(matches!(
            Format::negotiate(None, &headers("image/png")),
            Err(ApiError::NotAcceptable(_))
        ));
        assert!(matches!(
            Format::negotiate(Some("xml"), &none),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn ids_become_strings_in_json() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::UInt64, false),
            Field::new("count", DataType::UInt64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(UInt64Array::from(vec![u64::MAX, 1])),
                Arc::new(UInt64Array::from(vec![5, 6])),
                Arc::new(StringArray::from(vec![Some("a\nb"), None])),
            ],
        )
        .unwrap();
        let rows = rows_json(&batch).unwrap();
        assert_eq!(rows[0]["id"], u64::MAX.to_string());
        assert_eq!(rows[0]["count"], 5);
        assert_eq!(rows[0]["name"], "a\nb");
        assert!(rows[1]["name"].is_null());
        let mut enc = Encoder::Json {
            rows_written: false,
        };
        let mut doc = b"[".to_vec();
        doc.extend(enc.batch(&batch).unwrap());
        doc.extend(enc.batch(&batch).unwrap());
        doc.push(b']');
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&doc).unwrap();
        assert_eq!(parsed.len(), 4);
    }
}
