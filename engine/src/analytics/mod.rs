//! faultline's analytics, each query written once: the SQL of the analytic views, the error
//! summary of `GET /api/errors/summary` and the queries of the default report. The HTTP API and
//! the reports call these functions and only render what they return.
//!
//! - [`fragments`]: the pieces several queries share (what counts as an error, the measures of
//!   a failing destination, the detail of an error).
//! - [`view_defs`]: the views `error_counts_per_minute`, `top_failing_destinations` and
//!   `error_rate_per_service` ([`VIEWS`], registered by [`crate::views::register_views`]).
//! - [`summary`]: error counts per bucket and kind, top failing destinations and sources, and
//!   the error rate per service over a time range.
//! - [`report`]: the default report's errors by kind and top destinations, and the entries of
//!   a KFL filter per time bucket (every report's chart).
//!
//! Time ranges are `[from, to)` in µs since the epoch; they reach the SQL as timestamp literals
//! generated from integers, so nothing from a request is pasted into a query unparsed.

#[macro_use]
pub mod fragments;
pub mod report;
pub mod summary;
pub mod view_defs;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;

pub use view_defs::{VIEWS, View};

use crate::{Engine, EngineError};

/// `[from, to)` in µs since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive lower bound.
    pub from_us: i64,
    /// Exclusive upper bound.
    pub to_us: i64,
}

impl TimeRange {
    /// The SQL condition of this range on `column` (a timestamp column or bucket).
    pub fn condition(&self, column: &str) -> String {
        format!(
            "{column} >= {} AND {column} < {}",
            timestamp_literal(self.from_us),
            timestamp_literal(self.to_us)
        )
    }
}

/// µs since the epoch as RFC 3339 text, whole seconds without fraction (`AutoSi`); empty out of
/// chrono's range.
pub fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// A timestamp literal for SQL, generated from an integer.
pub fn timestamp_literal(us: i64) -> String {
    format!("CAST('{}' AS TIMESTAMP)", rfc3339(us))
}

/// `text` as a SQL string literal.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Runs one of our queries on `engine` and collects its batches.
pub async fn collect(engine: &Engine, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
    engine.query_sql(sql).await?.collect().await
}

/// The values of column `name` of `batch` as `i64` (cast from any integer, timestamp or float
/// type); `None` for nulls, and for every row when the column is missing or cannot be cast.
fn i64_column(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let values = batch
        .column_by_name(name)
        .and_then(|c| cast(c, &DataType::Int64).ok());
    match values {
        Some(a) => a.as_primitive::<Int64Type>().iter().collect(),
        None => vec![None; batch.num_rows()],
    }
}

/// The values of column `name` of `batch` as text; `None` for nulls, and for every row when the
/// column is missing or cannot be cast.
fn string_column(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let values = batch
        .column_by_name(name)
        .and_then(|c| cast(c, &DataType::Utf8).ok());
    match values {
        Some(a) => a
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_owned))
            .collect(),
        None => vec![None; batch.num_rows()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            timestamp_literal(1_500_000),
            "CAST('1970-01-01T00:00:01.500Z' AS TIMESTAMP)"
        );
        assert_eq!(string_literal("it's"), "'it''s'");
        let r = TimeRange {
            from_us: 0,
            to_us: 60_000_000,
        };
        assert_eq!(
            r.condition("minute"),
            "minute >= CAST('1970-01-01T00:00:00Z' AS TIMESTAMP) \
             AND minute < CAST('1970-01-01T00:01:00Z' AS TIMESTAMP)"
        );
    }
}
