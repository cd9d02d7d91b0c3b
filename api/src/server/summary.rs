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
//! Without `from`/`to`, the range is that of the stored error entries. The queries are
//! [`faultline_engine::analytics::summary`]'s; this module reads the request and renders.
//!
//! `parts=buckets,services` computes only the parts named (`buckets` includes `totals`); the
//! others are left out of the answer. Each part is a query over the range, so a client that
//! draws only the chart asks only for it (the dashboard does: on a 10 M-entry store the top
//! lists are most of the cost).

use arrow::record_batch::RecordBatch;
use axum::Json;
use axum::extract::State;
use faultline_engine::analytics::rfc3339;
use faultline_engine::analytics::summary::{self, MINUTE_US, auto_bucket};
use faultline_kfl::time::parse_duration;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::format::rows_json;
use super::params::{Params, time_range};
use super::state::AppState;

/// Most buckets one summary may have.
const MAX_BUCKETS: i64 = 10_000;

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
    let Some(range) = summary::resolve_range(state.engine(), from, to).await? else {
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
    let (from, to) = (range.from_us, range.to_us);
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
        let counts = summary::bucket_counts(state.engine(), &range, bucket).await?;
        let buckets: Vec<Value> = counts
            .buckets
            .into_iter()
            .map(|(start, counts)| {
                json!({ "start": rfc3339(start.saturating_mul(1_000_000)), "counts": counts })
            })
            .collect();
        doc["buckets"] = json!(buckets);
        doc["totals"] = json!(counts.totals);
    }
    let engine = state.engine();
    if parts.top_destinations {
        doc["top_destinations"] = rows(&summary::top_destinations(engine, &range).await?)?;
    }
    if parts.top_sources {
        doc["top_sources"] = rows(&summary::top_sources(engine, &range).await?)?;
    }
    if parts.services {
        doc["services"] = rows(&summary::services(engine, &range).await?)?;
    }
    Ok(Json(doc))
}

/// A bucket width in µs: an age such as `5m`, a whole number of minutes.
fn parse_bucket(text: &str) -> Result<i64, ApiError> {
    let us = parse_duration(text)
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .filter(|us| *us >= MINUTE_US && us % MINUTE_US == 0);
    us.ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`bucket={text}`: use a whole number of minutes such as 1m, 5m, 1h or 1d"
        ))
    })
}

/// The rows of a part as a JSON array, in the API's JSON style.
fn rows(batches: &[RecordBatch]) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    for batch in batches {
        out.extend(rows_json(batch)?);
    }
    Ok(Value::Array(out))
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
        // auto_bucket, floor_minute and rfc3339: faultline_engine::analytics's tests.
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
