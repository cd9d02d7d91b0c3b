//! API errors: a JSON body `{error, message, position?, help?}` with the status code that fits.
//!
//! | `error` | status | when |
//! |---|---|---|
//! | `invalid_kfl` | 400 | the KFL does not parse or check; `position` has line, column and byte span |
//! | `invalid_sql` | 400 | the SQL is not one read-only query, or does not plan |
//! | `bad_request` | 400 | a parameter is malformed (time, limit, bucket, id) |
//! | `unauthorized` | 401 | the bearer token is missing or wrong |
//! | `not_found` | 404 | no such entry |
//! | `not_acceptable` | 406 | no supported format in `Accept` / `format=` |
//! | `payload_too_large` | 413 | a request body or upload over its limit |
//! | `timeout` | 504 | a query ran past the engine's time limit |
//! | `memory_limit` | 507 | a query needed more than the engine's memory limit |
//! | `result_too_large` | 507 | a result has more rows than the server sends |
//! | `unavailable` | 503 | uploads are off, the ingest queue is full, or the server is stopping |
//! | `internal` | 500 | anything else (storage, engine) |

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use faultline_engine::EngineError;
use faultline_kfl::KflError;
use serde::Serialize;

/// Where in the KFL text an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ErrorPosition {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// Byte offset of the start.
    pub start: usize,
    /// Byte offset one past the end.
    pub end: usize,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The KFL text was rejected.
    #[error("{message}")]
    InvalidKfl {
        /// What is wrong and where (`… at 1:7`).
        message: String,
        /// The place in the text.
        position: ErrorPosition,
        /// A hint, if the checker has one.
        help: Option<String>,
    },
    /// The SQL was refused or did not plan.
    #[error("{0}")]
    InvalidSql(String),
    /// A malformed parameter.
    #[error("{0}")]
    BadRequest(String),
    /// No valid bearer token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// Nothing at that address.
    #[error("{0}")]
    NotFound(String),
    /// No format the server writes was asked for.
    #[error("{0}")]
    NotAcceptable(String),
    /// A request body over its limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A query ran out of time.
    #[error("{0}")]
    Timeout(String),
    /// A query ran out of memory.
    #[error("{0}")]
    MemoryLimit(String),
    /// A result over the row limit.
    #[error("{0}")]
    ResultTooLarge(String),
    /// The server cannot take the request now.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The machine-readable code in the body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidKfl { .. } => "invalid_kfl",
            ApiError::InvalidSql(_) => "invalid_sql",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::NotAcceptable(_) => "not_acceptable",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Timeout(_) => "timeout",
            ApiError::MemoryLimit(_) => "memory_limit",
            ApiError::ResultTooLarge(_) => "result_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidKfl { .. } | ApiError::InvalidSql(_) | ApiError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::MemoryLimit(_) | ApiError::ResultTooLarge(_) => {
                StatusCode::INSUFFICIENT_STORAGE
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<KflError> for ApiError {
    fn from(e: KflError) -> Self {
        let d = e.diagnostic();
        ApiError::InvalidKfl {
            message: e.to_string(),
            position: ErrorPosition {
                line: d.position.line,
                column: d.position.column,
                start: d.span.start,
                end: d.span.end,
            },
            help: d.help.clone(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Kfl(k) => k.into(),
            EngineError::Sql(m) => ApiError::InvalidSql(m),
            EngineError::Timeout(_) => ApiError::Timeout(e.to_string()),
            EngineError::MemoryLimit { .. } => ApiError::MemoryLimit(e.to_string()),
            EngineError::DataFusion(ref df) if is_plan_error(df) => {
                ApiError::InvalidSql(e.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// True for DataFusion errors that describe the query rather than the server (unknown
/// column or table, type mismatch): they are the client's to fix.
fn is_plan_error(e: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError as D;
    matches!(
        e.find_root(),
        D::Plan(_) | D::SchemaError(..) | D::SQL(..) | D::NotImplemented(_)
    )
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<ErrorPosition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (position, help) = match &self {
            ApiError::InvalidKfl { position, help, .. } => (Some(*position), help.as_deref()),
            _ => (None, None),
        };
        let body = Body {
            error: self.code(),
            message: self.to_string(),
            position,
            help,
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, ApiError::PayloadTooLarge(_)) {
            // The rest of the body is not read: the connection ends with this answer, and the
            // client must not send its next request on it.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kfl_errors_carry_their_position() {
        let err = faultline_kfl::check("tcp and response.stauts == 5").unwrap_err();
        let api = ApiError::from(err);
        assert_eq!(api.status(), StatusCode::BAD_REQUEST);
        match api {
            ApiError::InvalidKfl { position, .. } => {
                assert_eq!((position.line, position.column), (1, 9));
                assert_eq!(position.start, 8);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn engine_errors_map_to_statuses() {
        let timeout = ApiError::from(EngineError::Timeout(std::time::Duration::from_secs(1)));
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        let memory = ApiError::from(EngineError::MemoryLimit {
            limit: 1,
            detail: "x".into(),
        });
        assert_eq!(memory.status(), StatusCode::INSUFFICIENT_STORAGE);
        let sql = ApiError::from(EngineError::Sql("only SELECT".into()));
        assert_eq!(sql.code(), "invalid_sql");
        assert_eq!(
            ApiError::from(EngineError::Closed).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
