//! The one time grammar of faultline: `--from`/`--to` of the CLI, `from=`/`to=` of the HTTP API,
//! `faultline report run --at` and `faultline generate --start` all read a point in time with
//! [`parse_time`].
//!
//! Accepted, after trimming surrounding whitespace (the union of what the CLI and the HTTP API
//! took, plus KFL's `datetime()` layout):
//!
//! | form | example |
//! |---|---|
//! | µs since the epoch | `1704067200000000` |
//! | `now`, `now-<duration>` (see [`super::parse_duration`]) | `now`, `now-24h`, `now-1h 30m` |
//! | RFC 3339 | `2024-01-01T10:00:00Z`, `2024-01-01T11:00:00.5+01:00` |
//! | `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DD HH:MM` (UTC) | `2024-01-01 10:00` |
//! | `YYYY-MM-DD` (midnight UTC) | `2024-01-01` |
//! | KFL's `datetime()` layout (UTC) | `1/1/2024, 10:00:00 AM` |

use super::{parse_datetime, parse_duration};

/// The accepted forms, as shown to users in error messages.
pub const TIME_FORMS: &str = "RFC 3339 (2024-01-01T10:00:00Z), `YYYY-MM-DD[ HH:MM[:SS]]` (UTC), \
     µs since the epoch, `now`, `now-24h` or KFL's `M/D/YYYY, h:mm:ss AM|PM`";

/// Layouts of a date and time without a zone, read as UTC.
const NAIVE_LAYOUTS: [&str; 3] = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"];

/// Parses a point in time (see the module doc) to µs since the epoch; `now` reads the system
/// clock.
pub fn parse_time(text: &str) -> Option<i64> {
    parse_time_at(text, chrono::Utc::now().timestamp_micros())
}

/// [`parse_time`] with `now` at `now_us` (µs since the epoch).
pub fn parse_time_at(text: &str, now_us: i64) -> Option<i64> {
    let text = text.trim();
    if let Ok(us) = text.parse::<i64>() {
        return Some(us);
    }
    if let Some(rest) = text.strip_prefix("now") {
        if rest.is_empty() {
            return Some(now_us);
        }
        let age = parse_duration(rest.strip_prefix('-')?)?;
        return Some(now_us.saturating_sub(i64::try_from(age.as_micros()).ok()?));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    for layout in NAIVE_LAYOUTS {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, layout) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    if let Some(t) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Some(t.and_utc().timestamp_micros());
    }
    parse_datetime(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01T00:00:00Z.
    const T: i64 = 1_704_067_200_000_000;
    const HOUR: i64 = 3_600_000_000;
    const NOW: i64 = T + 50 * HOUR;

    #[test]
    fn every_accepted_form() {
        let cases: &[(&str, i64)] = &[
            // µs since the epoch
            ("1704067200000000", T),
            ("0", 0),
            ("-5", -5),
            // now and now-<duration>
            ("now", NOW),
            ("now-24h", NOW - 24 * HOUR),
            ("now-1d", NOW - 24 * HOUR),
            ("now-90m", NOW - 3 * HOUR / 2),
            ("now-1h 30m", NOW - 3 * HOUR / 2),
            ("now-1.5h", NOW - 3 * HOUR / 2),
            // RFC 3339
            ("2024-01-01T00:00:00Z", T),
            ("2024-01-01T01:00:00+01:00", T),
            ("2024-01-01T00:00:00.5Z", T + 500_000),
            ("2024-01-01t00:00:00z", T),
            // naive layouts, UTC
            ("2024-01-01 01:00:00", T + HOUR),
            ("2024-01-01T01:00:00", T + HOUR),
            ("2024-01-01 00:00", T),
            ("2024-01-01", T),
            ("  2024-01-01\n", T),
            // KFL's datetime() layout
            ("1/1/2024, 1:00:00 AM", T + HOUR),
            ("1/1/2024, 12:00:00.250 AM", T + 250_000),
        ];
        for (text, us) in cases {
            assert_eq!(parse_time_at(text, NOW), Some(*us), "{text:?}");
        }
    }

    #[test]
    fn the_rest_is_refused() {
        for bad in [
            "",
            "yesterday",
            "now+1d",
            "now-",
            "now-soon",
            "nowish",
            "2024-13-01",
            "2024-01-01 25:00",
            "01/01/2024",
            "2024/01/01",
            "99999999999999999999",
        ] {
            assert_eq!(parse_time_at(bad, NOW), None, "{bad:?}");
        }
    }

    #[test]
    fn now_reads_the_clock() {
        let before = chrono::Utc::now().timestamp_micros();
        let got = parse_time("now-1d").unwrap_or_default();
        assert!((before - 24 * HOUR - got).abs() < 60_000_000, "{got}");
    }
}
