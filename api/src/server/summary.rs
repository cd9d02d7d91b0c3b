//! `GET /api/errors/summary?from=&to=&bucket=`: error counts by kind over time buckets, top
//! failing destinations and sources, and the error rate per service.
//!
//! - `buckets` come from the `error_counts_per_minute` view (KFL `error or icmp`), so bounds
//!   are whole minutes and `bucket` is a multiple of a minute (`1m`, `5m`, `1h`, `1d`; by
//!   default about 60 buckets over the range).
//! - `top_destinations` and `top_sources` count KFL `error` entries in exactly `[from, to)`,
//!   with the counting of the `top_failing_destinations` view.
//! - `services` sums the `error_rate_per_service` view over the days the range touches (the
//!   view is per day), `error_rate = failed_flows / flows`.
//!
//! Without `from`/`to`, the range is that of the stored error entries.
//!
//! `parts=buckets,services` computes only the parts named (`buckets` includes `totals`); the
//! others are left out of the answer. Each part is a query over the range, so a client that
//! draws only the chart asks only for it (the dashboard does: on a 10 M-entry store the top
//! lists are most of the cost).

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use axum::Json;
use axum::extract::State;
use faultline_engine::parse_age;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::format::rows_json;
use super::params::{Params, time_range};
use super::state::AppState;

/// How many rows the top lists have.
const TOP: usize = 10;
/// Most buckets one summary may have.
const MAX_BUCKETS: i64 = 10_000;
const MINUTE_US: i64 = 60_000_000;

/// Parameters of the summary.
#[derive(Debug, Default, Deserialize)]
pub struct SummaryParams {
    /// Inclusive lower bound (default: the first error).
    pub from: Option<String>,
    /// Exclusive upper bound (default: just after the last error).
    pub to: Option<String>,
    /// Bucket width: `1m`, `5m`, `1h`, `1d`, … (a whole number of minutes).
    pub bucket: Option<String>,
    /// Comma-separated parts to compute (default all): `buckets`, `top_destinations`,
    /// `top_sources`, `services`.
    pub parts: Option<String>,
}

/// The parts of a summary a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    buckets: bool,
    top_destinations: bool,
    top_sources: bool,
    services: bool,
}

impl Parts {
    const NAMES: [&'static str; 4] = ["buckets", "top_destinations", "top_sources", "services"];

    /// Every part, or those named in `text` (comma-separated, at least one).
    fn parse(text: Option<&str>) -> Result<Parts, ApiError> {
        let Some(text) = text else {
            return Ok(Parts {
                buckets: true,
                top_destinations: true,
                top_sources: true,
                services: true,
            });
        };
        let mut on = [false; 4];
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let i = Self::NAMES.iter().position(|n| *n == name).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "`parts`: unknown part `{name}` (use {})",
                    Self::NAMES.join(", ")
                ))
            })?;
            on[i] = true;
        }
        if on == [false; 4] {
            return Err(ApiError::BadRequest(format!(
                "`parts` is empty (use {})",
                Self::NAMES.join(", ")
            )));
        }
        let [buckets, top_destinations, top_sources, services] = on;
        Ok(Parts {
            buckets,
            top_destinations,
            top_sources,
            services,
        })
    }
}

/// `GET /api/errors/summary`.
pub async fn handler(
    State(state): State<AppState>,
    Params(p): Params<SummaryParams>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = time_range(p.from.as_deref(), p.to.as_deref())?;
    let requested = p.bucket.as_deref().map(parse_bucket).transpose()?;
    let parts = Parts::parse(p.parts.as_deref())?;
    let _permit = state.query_permit().await?;
    let Some((from, to)) = resolve_range(&state, from, to).await? else {
        let mut doc = json!({
            "from": null, "to": null, "bucket_seconds": requested.map(|b| b / 1_000_000),
        });
        let empty = [
            (parts.buckets, "buckets", json!([])),
            (parts.buckets, "totals", json!({})),
            (parts.top_destinations, "top_destinations", json!([])),
            (parts.top_sources, "top_sources", json!([])),
            (parts.services, "services", json!([])),
        ];
        for (on, key, value) in empty {
            if on {
                doc[key] = value;
            }
        }
        return Ok(Json(doc));
    };
    let bucket = match requested {
        Some(b) => b,
        None => auto_bucket(to - from),
    };
    if (to - from) / bucket > MAX_BUCKETS {
        return Err(ApiError::BadRequest(format!(
            "{} buckets of {}s: use a wider bucket (at most {MAX_BUCKETS})",
            (to - from) / bucket,
            bucket / 1_000_000
        )));
    }
    let mut doc = json!({
        "from": rfc3339(from),
        "to": rfc3339(to),
        "bucket_seconds": bucket / 1_000_000,
    });
    if parts.buckets {
        let (buckets, totals) = bucket_counts(&state, from, to, bucket).await?;
        doc["buckets"] = json!(buckets);
        doc["totals"] = json!(totals);
    }
    let lists = [
        (
            parts.top_destinations,
            "top_destinations",
            top_destinations_sql as fn(i64, i64) -> String,
        ),
        (parts.top_sources, "top_sources", top_sources_sql),
        (parts.services, "services", services_sql),
    ];
    for (on, key, sql) in lists {
        if on {
            doc[key] = json!(rows(&state, &sql(from, to)).await?);
        }
    }
    Ok(Json(doc))
}

/// A bucket width in µs: an age such as `5m`, a whole number of minutes.
fn parse_bucket(text: &str) -> Result<i64, ApiError> {
    let us = parse_age(text)
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .filter(|us| *us >= MINUTE_US && us % MINUTE_US == 0);
    us.ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`bucket={text}`: use a whole number of minutes such as 1m, 5m, 1h or 1d"
        ))
    })
}

/// About 60 buckets over `span` µs, rounded up to a usual width.
fn auto_bucket(span: i64) -> i64 {
    const WIDTHS_MIN: [i64; 10] = [1, 5, 10, 15, 30, 60, 180, 360, 720, 1440];
    let want = span / 60;
    WIDTHS_MIN
        .iter()
        .map(|m| m * MINUTE_US)
        .find(|w| *w >= want)
        .unwrap_or_else(|| (want / (1440 * MINUTE_US) + 1) * 1440 * MINUTE_US)
}

/// The range, with missing bounds taken from the stored error entries (whole minutes), or
/// `None` when a bound is missing and there are no error entries.
async fn resolve_range(
    state: &AppState,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Option<(i64, i64)>, ApiError> {
    if let (Some(f), Some(t)) = (from, to) {
        return Ok(Some((floor_minute(f), t)));
    }
    // The entries of `error_counts_per_minute`, without grouping them by minute.
    let batches = collect(
        state,
        "SELECT CAST(min(\"timestamp\") AS BIGINT) AS lo, CAST(max(\"timestamp\") AS BIGINT) AS hi \
         FROM entries WHERE kfl('error or icmp')",
    )
    .await?;
    let row = batches.first().map(rows_json).transpose()?;
    let bound = |name: &str| {
        row.as_ref()
            .and_then(|r| r.first())
            .and_then(|r| r[name].as_i64())
    };
    let (Some(lo), Some(hi)) = (bound("lo"), bound("hi")) else {
        return Ok(from.zip(to));
    };
    let from = floor_minute(from.unwrap_or(lo));
    let to = to.unwrap_or(floor_minute(hi) + MINUTE_US);
    Ok((from < to).then_some((from, to)))
}

fn floor_minute(us: i64) -> i64 {
    us.div_euclid(MINUTE_US) * MINUTE_US
}

fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// A timestamp literal for SQL (generated from an integer: nothing from the request).
fn ts(us: i64) -> String {
    format!("CAST('{}' AS TIMESTAMP)", rfc3339(us))
}

/// `[{"start": …, "counts": {kind: n}}]` for every bucket with errors, and totals by kind.
async fn bucket_counts(
    state: &AppState,
    from: i64,
    to: i64,
    bucket: i64,
) -> Result<(Vec<Value>, BTreeMap<String, i64>), ApiError> {
    let sql = format!(
        "SELECT CAST(date_part('epoch', date_bin(INTERVAL '{secs} seconds', minute)) AS BIGINT) \
                AS bucket, kind, \
                CAST(sum(errors) AS BIGINT) AS errors \
         FROM error_counts_per_minute \
         WHERE minute >= {from} AND minute < {to} \
         GROUP BY 1, 2 ORDER BY 1, 2",
        secs = bucket / 1_000_000,
        from = ts(from),
        to = ts(to),
    );
    // Bucket starts in seconds, as the query gives them.
    let mut buckets: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for batch in collect(state, &sql).await? {
        for row in rows_json(&batch)? {
            let (Some(start), Some(kind), Some(n)) = (
                row["bucket"].as_i64(),
                row["kind"].as_str(),
                row["errors"].as_i64(),
            ) else {
                continue;
            };
            *buckets
                .entry(start)
                .or_default()
                .entry(kind.into())
                .or_default() += n;
            *totals.entry(kind.into()).or_default() += n;
        }
    }
    let list = buckets
        .into_iter()
        .map(|(start, counts)| {
            json!({ "start": rfc3339(start.saturating_mul(1_000_000)), "counts": counts })
        })
        .collect();
    Ok((list, totals))
}

fn top_destinations_sql(from: i64, to: i64) -> String {
    format!(
        "SELECT transport, dst_ip, dst_port, max(dst_name) AS dst_name, \
                count(*) AS errors, \
                count(*) FILTER (WHERE error_type = 'connection') AS connection_errors, \
                count(*) FILTER (WHERE error_type = 'timeout') AS timeouts, \
                count(*) FILTER (WHERE error_type = 'loss') AS loss_entries, \
                count(DISTINCT flow_id) AS failing_flows, \
                count(DISTINCT src_ip) AS distinct_sources \
         FROM entries \
         WHERE kfl('error') AND \"timestamp\" >= {} AND \"timestamp\" < {} \
         GROUP BY 1, 2, 3 \
         ORDER BY errors DESC, dst_ip, dst_port LIMIT {TOP}",
        ts(from),
        ts(to)
    )
}

fn top_sources_sql(from: i64, to: i64) -> String {
    format!(
        "SELECT src_ip, max(src_name) AS src_name, count(*) AS errors, \
                count(DISTINCT dst_ip) AS distinct_destinations, \
                count(DISTINCT flow_id) AS failing_flows \
         FROM entries \
         WHERE kfl('error') AND \"timestamp\" >= {} AND \"timestamp\" < {} \
         GROUP BY 1 \
         ORDER BY errors DESC, src_ip LIMIT {TOP}",
        ts(from),
        ts(to)
    )
}

fn services_sql(from: i64, to: i64) -> String {
    let day = 1440 * MINUTE_US;
    format!(
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
        ts(from.div_euclid(day) * day),
        ts(to)
    )
}

async fn collect(state: &AppState, sql: &str) -> Result<Vec<RecordBatch>, ApiError> {
    Ok(state.engine().query_sql(sql).await?.collect().await?)
}

async fn rows(state: &AppState, sql: &str) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for batch in collect(state, sql).await? {
        out.extend(rows_json(&batch)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(parse_bucket("5m").unwrap(), 5 * MINUTE_US);
        assert_eq!(parse_bucket("1d").unwrap(), 1440 * MINUTE_US);
        assert!(parse_bucket("30s").is_err());
        assert!(parse_bucket("90s").is_err());
        assert!(parse_bucket("x").is_err());
        assert_eq!(auto_bucket(10 * MINUTE_US), MINUTE_US);
        assert_eq!(auto_bucket(24 * 60 * MINUTE_US), 30 * MINUTE_US);
        assert_eq!(auto_bucket(3000 * 1440 * MINUTE_US), 51 * 1440 * MINUTE_US);
        assert_eq!(floor_minute(MINUTE_US + 5), MINUTE_US);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn parts() {
        let all = Parts::parse(None).unwrap();
        assert!(all.buckets && all.top_destinations && all.top_sources && all.services);
        let some = Parts::parse(Some("services, buckets")).unwrap();
        assert_eq!(
            some,
            Parts {
                buckets: true,
                top_destinations: false,
                top_sources: false,
                services: true
            }
        );
        for bad in ["", " , ", "buckets,totals", "Services"] {
            assert!(Parts::parse(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
