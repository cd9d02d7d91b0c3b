//! Query-string parameters shared by the endpoints: time bounds, order, limits.

use axum::extract::{FromRequest, FromRequestParts, Json, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use faultline_engine::Order;
use faultline_kfl::time::TIME_FORMS;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `Query<T>` whose rejection is an [`ApiError`] (JSON body) instead of axum's plain text.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Params(t))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// `Json<T>` whose rejection is an [`ApiError`]: 413 over the body limit, 400 otherwise.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(t)) => Ok(JsonBody(t)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge(e.body_text()))
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// A time bound in µs since the epoch, in faultline's one time grammar
/// ([`faultline_kfl::time::parse_time`]): RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` (UTC), µs since
/// the epoch, `now`, `now-<duration>` (`now-24h`) or KFL's `datetime()` layout. `name` is the
/// parameter, for the error message.
pub fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    faultline_kfl::time::parse_time(text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`{name}={}` is not a time: use {TIME_FORMS}",
            text.trim()
        ))
    })
}

/// Both optional bounds, checked to be in order.
pub fn time_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let from = from.map(|t| parse_time("from", t)).transpose()?;
    let to = to.map(|t| parse_time("to", t)).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::BadRequest("`from` must not be after `to`".into()));
    }
    Ok((from, to))
}

/// `asc` (default) or `desc`.
pub fn parse_order(text: Option<&str>) -> Result<Order, ApiError> {
    match text.map(str::trim) {
        None | Some("") | Some("asc") => Ok(Order::Ascending),
        Some("desc") => Ok(Order::Descending),
        Some(other) => Err(ApiError::BadRequest(format!(
            "`order={other}`: use `asc` or `desc`"
        ))),
    }
}

/// A row limit: `default` when absent, an error above `max` (so a client learns the cap
/// instead of silently getting fewer rows).
pub fn parse_limit(text: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(text) = text else {
        return Ok(default.min(max));
    };
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("`limit={text}` is not a row count")))?;
    if n > max {
        return Err(ApiError::BadRequest(format!(
            "`limit={n}` is over the server's maximum of {max} rows"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z
        assert_eq!(parse_time("from", "2024-01-01T00:00:00Z").unwrap(), t);
        assert_eq!(parse_time("from", "2024-01-01").unwrap(), t);
        assert_eq!(parse_time("from", "2024-01-01 00:00").unwrap(), t);
        assert_eq!(parse_time("from", &t.to_string()).unwrap(), t);
        let now = chrono::Utc::now().timestamp_micros();
        let day_ago = parse_time("from", "now-1d").unwrap();
        assert!((now - 86_400_000_000 - day_ago).abs() < 5_000_000);
        assert!(parse_time("from", "yesterday").is_err());
        assert!(parse_time("from", "now+1d").is_err());
        assert!(time_range(Some("2024-01-02"), Some("2024-01-01")).is_err());
    }

    #[test]
    fn orders_and_limits() {
        assert_eq!(parse_order(None).unwrap(), Order::Ascending);
        assert_eq!(parse_order(Some("desc")).unwrap(), Order::Descending);
        assert!(parse_order(Some("up")).is_err());
        assert_eq!(parse_limit(None, 1000, 50).unwrap(), 50);
        assert_eq!(parse_limit(Some("7"), 1000, 50).unwrap(), 7);
        assert!(parse_limit(Some("51"), 1000, 50).is_err());
        assert!(parse_limit(Some("-1"), 1000, 50).is_err());
    }
}
