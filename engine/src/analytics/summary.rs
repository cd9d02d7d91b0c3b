//! The error summary (`GET /api/errors/summary`): error counts per time bucket and kind, the
//! top failing destinations and sources, and the error rate per service, over a time range.
//!
//! - Bucket counts come from the `error_counts_per_minute` view (KFL `error or icmp`), so
//!   bounds are whole minutes and a bucket is a whole number of minutes.
//! - The top destinations and sources count KFL `error` entries in exactly `[from, to)`, with
//!   the measures of the `top_failing_destinations` view.
//! - The services sum the `error_rate_per_service` view over the days the range touches (the
//!   view is per day), `error_rate = failed_flows / flows`.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;

use super::fragments::{ERROR_ENTRIES_KFL, ERRORS_KFL, destinations_in};
use super::{TimeRange, collect, i64_column, string_column, timestamp_literal};
use crate::{Engine, EngineError};

/// How many rows the top lists have.
pub const TOP: usize = 10;
/// One minute in µs: the unit of buckets.
pub const MINUTE_US: i64 = 60_000_000;
const DAY_US: i64 = 1440 * MINUTE_US;

/// Error counts per bucket and kind over a range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketCounts {
    /// Bucket start (seconds since the epoch) → kind → errors, for buckets with errors.
    pub buckets: BTreeMap<i64, BTreeMap<String, i64>>,
    /// Kind → errors over the whole range.
    pub totals: BTreeMap<String, i64>,
}

/// `us` rounded down to a whole minute.
pub fn floor_minute(us: i64) -> i64 {
    us.div_euclid(MINUTE_US) * MINUTE_US
}

/// About 60 buckets over `span` µs, rounded up to a usual width.
pub fn auto_bucket(span: i64) -> i64 {
    const WIDTHS_MIN: [i64; 10] = [1, 5, 10, 15, 30, 60, 180, 360, 720, 1440];
    let want = span / 60;
    WIDTHS_MIN
        .iter()
        .map(|m| m * MINUTE_US)
        .find(|w| *w >= want)
        .unwrap_or_else(|| (want / DAY_US + 1) * DAY_US)
}

/// The summary's range: `from` rounded down to a minute, with missing bounds taken from the
/// stored error entries (whole minutes); `None` when a bound is missing and there are no
/// error entries, or the range is empty.
pub async fn resolve_range(
    engine: &Engine,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Option<TimeRange>, EngineError> {
    if let (Some(f), Some(t)) = (from, to) {
        return Ok(Some(TimeRange {
            from_us: floor_minute(f),
            to_us: t,
        }));
    }
    // The entries of `error_counts_per_minute`, without grouping them by minute.
    let batches = collect(
        engine,
        &format!(
            "SELECT CAST(min(\"timestamp\") AS BIGINT) AS lo, \
             CAST(max(\"timestamp\") AS BIGINT) AS hi \
             FROM entries WHERE kfl('{ERRORS_KFL}')"
        ),
    )
    .await?;
    let first = |name: &str| {
        batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| i64_column(b, name).first().copied().flatten())
    };
    let (Some(lo), Some(hi)) = (first("lo"), first("hi")) else {
        return Ok(from
            .zip(to)
            .map(|(from_us, to_us)| TimeRange { from_us, to_us }));
    };
    let from_us = floor_minute(from.unwrap_or(lo));
    let to_us = to.unwrap_or(floor_minute(hi) + MINUTE_US);
    Ok((from_us < to_us).then_some(TimeRange { from_us, to_us }))
}

/// Error entries per `bucket`-µs bucket (a whole number of minutes) and kind in `range`.
pub async fn bucket_counts(
    engine: &Engine,
    range: &TimeRange,
    bucket: i64,
) -> Result<BucketCounts, EngineError> {
    let sql = format!(
        "SELECT CAST(date_part('epoch', date_bin(INTERVAL '{secs} seconds', minute)) AS BIGINT) \
                AS bucket, kind, \
                CAST(sum(errors) AS BIGINT) AS errors \
         FROM error_counts_per_minute \
         WHERE {range} \
         GROUP BY 1, 2 ORDER BY 1, 2",
        secs = bucket / 1_000_000,
        range = range.condition("minute"),
    );
    let mut counts = BucketCounts::default();
    for batch in collect(engine, &sql).await? {
        let starts = i64_column(&batch, "bucket");
        let kinds = string_column(&batch, "kind");
        let errors = i64_column(&batch, "errors");
        for ((start, kind), n) in starts.into_iter().zip(kinds).zip(errors) {
            let (Some(start), Some(kind), Some(n)) = (start, kind, n) else {
                continue;
            };
            *counts
                .buckets
                .entry(start)
                .or_default()
                .entry(kind.clone())
                .or_default() += n;
            *counts.totals.entry(kind).or_default() += n;
        }
    }
    Ok(counts)
}

/// The [`TOP`] destinations with the most error entries in `range`, with the measures of
/// `top_failing_destinations` (`failing_entries` named `errors`).
pub async fn top_destinations(
    engine: &Engine,
    range: &TimeRange,
) -> Result<Vec<RecordBatch>, EngineError> {
    let sql = format!(
        "SELECT transport, dst_ip, dst_port, dst_name, failing_entries AS errors, \
                connection_errors, timeouts, loss_entries, failing_flows, distinct_sources \
         FROM ({}) \
         ORDER BY errors DESC, dst_ip, dst_port LIMIT {TOP}",
        destinations_in(range)
    );
    collect(engine, &sql).await
}

/// The [`TOP`] sources with the most error entries in `range`.
pub async fn top_sources(
    engine: &Engine,
    range: &TimeRange,
) -> Result<Vec<RecordBatch>, EngineError> {
    let sql = format!(
        "SELECT src_ip, max(src_name) AS src_name, count(*) AS errors, \
                count(DISTINCT dst_ip) AS distinct_destinations, \
                count(DISTINCT flow_id) AS failing_flows \
         FROM entries \
         WHERE kfl('{ERROR_ENTRIES_KFL}') AND {} \
         GROUP BY 1 \
         ORDER BY errors DESC, src_ip LIMIT {TOP}",
        range.condition("\"timestamp\"")
    );
    collect(engine, &sql).await
}

/// The [`TOP`] services with errors over the days `range` touches, by errors then error rate.
pub async fn services(engine: &Engine, range: &TimeRange) -> Result<Vec<RecordBatch>, EngineError> {
    let sql = format!(
        "SELECT transport, service, service_ip, service_port, \
                max(service_name) AS service_name, \
                CAST(sum(flows) AS BIGINT) AS flows, \
                CAST(sum(failed_flows) AS BIGINT) AS failed_flows, \
                CAST(sum(errors) AS BIGINT) AS errors, \
                CAST(sum(failed_flows) AS DOUBLE) / nullif(sum(flows), 0) AS error_rate \
         FROM error_rate_per_service \
         WHERE day >= {} AND day < {} \
         GROUP BY 1, 2, 3, 4 \
         HAVING sum(errors) > 0 \
         ORDER BY errors DESC, error_rate DESC NULLS LAST, service LIMIT {TOP}",
        timestamp_literal(range.from_us.div_euclid(DAY_US) * DAY_US),
        timestamp_literal(range.to_us)
    );
    collect(engine, &sql).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(auto_bucket(10 * MINUTE_US), MINUTE_US);
        assert_eq!(auto_bucket(24 * 60 * MINUTE_US), 30 * MINUTE_US);
        assert_eq!(auto_bucket(3000 * 1440 * MINUTE_US), 51 * 1440 * MINUTE_US);
        assert_eq!(floor_minute(MINUTE_US + 5), MINUTE_US);
    }
}
