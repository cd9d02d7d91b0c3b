//! Time in faultline: KFL's helpers (`datetime("…")`, `now()` and `seconds(n)` … `years(n)`),
//! and the one grammar of points in time ([`parse_time`], in [`bounds`]) and of durations
//! ([`parse_duration`], in [`duration`]) that every command, the HTTP API and the reports use.
//!
//! KFL works in Unix milliseconds (Kubeshark's `timestamp`); the table stores microseconds, so
//! every helper returns microseconds since the epoch, UTC.

pub mod bounds;
pub mod duration;

use chrono::NaiveDateTime;

pub use bounds::{TIME_FORMS, parse_time, parse_time_at};
pub use duration::{DURATION_FORMS, parse_duration};

/// Milliseconds per unit of the relative-time helpers, Kubeshark's values (a month is 30 days,
/// a year 365).
pub const UNITS: &[(&str, i64)] = &[
    ("seconds", 1_000),
    ("minutes", 60_000),
    ("hours", 3_600_000),
    ("days", 86_400_000),
    ("weeks", 7 * 86_400_000),
    ("months", 30 * 86_400_000),
    ("years", 365 * 86_400_000),
];

/// The layout `datetime()` accepts, as shown to users.
pub const DATETIME_LAYOUT: &str = "M/D/YYYY, h:mm:ss.SSS AM|PM";

/// Parses Kubeshark's `datetime()` text, `10/19/2021, 6:29:02.000 PM` (milliseconds optional), as
/// UTC; returns microseconds since the epoch.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let dt = NaiveDateTime::parse_from_str(text.trim(), "%m/%d/%Y, %I:%M:%S%.f %p").ok()?;
    Some(dt.and_utc().timestamp_micros())
}

/// The current time in milliseconds since the epoch (the clock `now()` reads).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `now_ms + n * unit_ms`, in microseconds; `None` when it leaves the range of a timestamp.
pub fn relative_us(now_ms: i64, n: f64, unit_ms: i64) -> Option<i64> {
    ms_to_us(now_ms as f64 + n * unit_ms as f64)
}

/// A millisecond count (possibly fractional) as whole microseconds; `None` out of range.
pub fn ms_to_us(ms: f64) -> Option<i64> {
    let us = (ms * 1000.0).round();
    // i64::MAX as f64 rounds up to 2^63, so compare strictly.
    (us.is_finite() && us > i64::MIN as f64 && us < i64::MAX as f64).then_some(us as i64)
}

/// Microseconds since the epoch as RFC 3339 text, `2021-10-19T18:29:02.000Z`.
pub fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_layouts() {
        // Kubeshark's test: 10/19/2021, 6:29:02.000 PM UTC = 1634668142000 ms.
        assert_eq!(
            parse_datetime("10/19/2021, 6:29:02.000 PM"),
            Some(1_634_668_142_000_000)
        );
        assert_eq!(
            parse_datetime("10/19/2021, 6:29:02 PM"),
            Some(1_634_668_142_000_000)
        );
        assert_eq!(
            parse_datetime("10/19/2021, 7:29:02.999 pm"),
            Some(1_634_671_742_999_000)
        );
        assert_eq!(
            parse_datetime("1/2/2006, 3:04:05.000 AM"),
            Some(1_136_171_045_000_000)
        );
        assert_eq!(
            parse_datetime("12/31/1999, 12:00:00 AM"),
            Some(946_598_400_000_000)
        );
        for bad in [
            "2021-10-19",
            "13/1/2021, 1:00:00 PM",
            "10/19/2021 6:29:02 PM",
            "10/19/2021, 6:29:02",
            "",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn relative() {
        assert_eq!(relative_us(1_000_000, -5.0, 1_000), Some(995_000_000));
        assert_eq!(relative_us(0, 1.5, 60_000), Some(90_000_000));
        assert_eq!(relative_us(0, 1e300, 1_000), None);
        assert_eq!(relative_us(0, f64::NAN, 1_000), None);
    }

    #[test]
    fn format() {
        assert_eq!(format_us(1_634_668_142_000_000), "2021-10-19T18:29:02Z");
        assert_eq!(format_us(1_634_668_142_123_000), "2021-10-19T18:29:02.123Z");
    }
}
