//! The queries of the reports: the default report's errors by kind and top failing
//! destinations over its window, and the entries of a KFL filter per time bucket (the chart of
//! every report).

use arrow::record_batch::RecordBatch;

use super::fragments::{ERROR_DETAIL, ERRORS_KFL, destinations_in};
use super::{TimeRange, collect, i64_column, string_literal};
use crate::{Engine, EngineError};

/// How many destinations the default report lists.
pub const TOP: usize = 10;

/// The SQL of the errors by kind in `range`: what `error_counts_per_minute` counts, per kind,
/// error type and detail, most first.
pub fn by_kind_sql(range: &TimeRange) -> String {
    format!(
        "SELECT kind, error_type, {ERROR_DETAIL} AS detail, count(*) AS errors \
         FROM entries WHERE kfl({}) AND {} \
         GROUP BY 1, 2, 3 ORDER BY errors DESC, kind, error_type, detail",
        string_literal(ERRORS_KFL),
        range.condition("\"timestamp\"")
    )
}

/// The SQL of the [`TOP`] failing destinations in `range` (the measures of
/// `top_failing_destinations`, without the distinct sources and times).
pub fn top_destinations_sql(range: &TimeRange) -> String {
    format!(
        "SELECT transport, dst_ip, dst_port, dst_name, failing_entries, connection_errors, \
                timeouts, loss_entries, failing_flows \
         FROM ({}) \
         ORDER BY failing_entries DESC, transport, dst_ip, dst_port LIMIT {TOP}",
        destinations_in(range)
    )
}

/// The errors by kind in `range` ([`by_kind_sql`]).
pub async fn errors_by_kind(
    engine: &Engine,
    range: &TimeRange,
) -> Result<Vec<RecordBatch>, EngineError> {
    collect(engine, &by_kind_sql(range)).await
}

/// The [`TOP`] failing destinations in `range` ([`top_destinations_sql`]).
pub async fn top_destinations(
    engine: &Engine,
    range: &TimeRange,
) -> Result<Vec<RecordBatch>, EngineError> {
    collect(engine, &top_destinations_sql(range)).await
}

/// A bucket of [`timeline`]: a `date_trunc` unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Whole minutes.
    Minute,
    /// Whole hours.
    Hour,
    /// Whole days (UTC).
    Day,
}

impl TimeUnit {
    /// The unit's name in `date_trunc`.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Minute => "minute",
            TimeUnit::Hour => "hour",
            TimeUnit::Day => "day",
        }
    }

    /// Its length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            TimeUnit::Minute => 60,
            TimeUnit::Hour => 3600,
            TimeUnit::Day => 86_400,
        }
    }
}

/// The entries of the KFL filter `kfl` in `range` per `unit`: (bucket start in seconds since
/// the epoch, entries), for the buckets with entries, in time order.
pub async fn timeline(
    engine: &Engine,
    kfl: &str,
    unit: TimeUnit,
    range: &TimeRange,
) -> Result<Vec<(i64, u64)>, EngineError> {
    let sql = format!(
        "SELECT to_unixtime(date_trunc('{}', \"timestamp\")) AS t, count(*) AS n \
         FROM entries WHERE kfl({}) AND {} GROUP BY 1 ORDER BY 1",
        unit.name(),
        string_literal(kfl),
        range.condition("\"timestamp\"")
    );
    let mut counts = Vec::new();
    for batch in collect(engine, &sql).await? {
        let starts = i64_column(&batch, "t");
        let ns = i64_column(&batch, "n");
        for (t, n) in starts.into_iter().zip(ns) {
            if let Some(t) = t {
                counts.push((t, n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)));
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_sql_counts_over_the_window() {
        let range = TimeRange {
            from_us: 0,
            to_us: 86_400_000_000,
        };
        let by_kind = by_kind_sql(&range);
        assert!(by_kind.contains("kfl('error or icmp')"), "{by_kind}");
        assert!(by_kind.contains("\"timestamp\" < CAST('1970-01-02T00:00:00Z' AS TIMESTAMP)"));
        let top = top_destinations_sql(&range);
        assert!(
            top.contains("kfl('error')") && top.ends_with("LIMIT 10"),
            "{top}"
        );
    }
}
