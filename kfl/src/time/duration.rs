//! The one duration grammar of faultline: retention and recorder ages, summary buckets, report
//! windows and the `<age>` of `now-<age>` all read durations with [`parse_duration`].
//!
//! A duration is one or more terms, each a whole or decimal number directly followed by a unit,
//! optionally separated by whitespace: `30s`, `90m`, `36h`, `7d`, `2w`, `1h 30m`, `1h30m`,
//! `1.5h`, `250ms`, `2hours`. A number and its unit are not separated (`7 d` is refused). This is the union of the compact ages (`7d`) the CLI and the HTTP API took and the
//! humantime forms report windows took (`36500days`, `1hour 12min`, `1.5h`), with the same
//! values: a month is 30.44 days and a year 365.25 days as in humantime (KFL's `months(n)` and
//! `years(n)` helpers are functions with Kubeshark's own values, see [`super::UNITS`]).

use std::time::Duration;

/// The accepted forms, as shown to users in error messages.
pub const DURATION_FORMS: &str =
    "a number and a unit such as 30s, 90m, 36h, 7d, 2w, 1.5h or 1h 30m";

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A unit's spellings and its length in nanoseconds.
const UNITS: &[(&[&str], u128)] = &[
    (&["ns", "nsec", "nanos"], 1),
    (&["us", "usec", "µs"], 1_000),
    (&["ms", "msec", "millis"], 1_000_000),
    (&["s", "sec", "secs", "second", "seconds"], NANOS_PER_SEC),
    (
        &["m", "min", "mins", "minute", "minutes"],
        60 * NANOS_PER_SEC,
    ),
    (&["h", "hr", "hrs", "hour", "hours"], 3600 * NANOS_PER_SEC),
    (&["d", "day", "days"], 86_400 * NANOS_PER_SEC),
    (
        &["w", "wk", "wks", "week", "weeks"],
        7 * 86_400 * NANOS_PER_SEC,
    ),
    (&["M", "month", "months"], 2_630_016 * NANOS_PER_SEC),
    (
        &["y", "yr", "yrs", "year", "years"],
        31_557_600 * NANOS_PER_SEC,
    ),
];

/// Parses a duration (see the module doc); `None` for anything else, a negative or
/// fractional-nanosecond value, or one that does not fit a [`Duration`].
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = term(rest)?;
        total = total.checked_add(nanos)?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).ok()?;
    // The remainder is below 10^9: it fits a u32.
    let nanos = u32::try_from(total % NANOS_PER_SEC).ok()?;
    Some(Duration::new(secs, nanos))
}

/// One `<number><unit>` term at the start of `text`: its nanoseconds and the text after it.
fn term(text: &str) -> Option<(u128, &str)> {
    let int_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if int_end == 0 {
        return None;
    }
    let whole: u128 = text[..int_end].parse().ok()?;
    let mut rest = &text[int_end..];
    let mut fraction = None;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits_end = after_dot
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after_dot.len());
        // At most 19 fractional digits: the denominator then fits comfortably.
        if digits_end == 0 || digits_end > 19 {
            return None;
        }
        let numerator: u128 = after_dot[..digits_end].parse().ok()?;
        fraction = Some((numerator, 10u128.pow(u32::try_from(digits_end).ok()?)));
        rest = &after_dot[digits_end..];
    }
    let unit_end = rest
        .find(|c: char| !(c.is_alphabetic()))
        .unwrap_or(rest.len());
    let (unit, after) = rest.split_at(unit_end);
    let unit_ns = UNITS
        .iter()
        .find(|(names, _)| names.contains(&unit))
        .map(|(_, ns)| *ns)?;
    let mut nanos = whole.checked_mul(unit_ns)?;
    if let Some((numerator, denominator)) = fraction {
        nanos = nanos.checked_add(fraction_nanos(numerator, denominator, unit_ns)?)?;
    }
    Some((nanos, after))
}

/// `numerator / denominator` of a unit, in nanoseconds, rounded down as humantime rounds it:
/// to the nanosecond up to minutes, to the second from hours up; no fraction of a nanosecond.
fn fraction_nanos(numerator: u128, denominator: u128, unit_ns: u128) -> Option<u128> {
    if unit_ns == 1 {
        return None;
    }
    if unit_ns >= 3600 * NANOS_PER_SEC {
        let unit_secs = unit_ns / NANOS_PER_SEC;
        return (numerator.checked_mul(unit_secs)? / denominator).checked_mul(NANOS_PER_SEC);
    }
    Some(numerator.checked_mul(unit_ns)? / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    const DAY: u64 = 86_400;

    #[test]
    fn every_accepted_form() {
        // (text, seconds, extra nanoseconds): the compact ages, then humantime's forms.
        let cases: &[(&str, u64, u32)] = &[
            ("30s", 30, 0),
            ("90m", 90 * MIN, 0),
            ("36h", 36 * HOUR, 0),
            ("7d", 7 * DAY, 0),
            ("2w", 14 * DAY, 0),
            ("0d", 0, 0),
            (" 1h ", HOUR, 0),
            ("24h", 24 * HOUR, 0),
            ("36500days", 36_500 * DAY, 0),
            ("1hour 12min 5s", HOUR + 12 * MIN + 5, 0),
            ("1h30m", HOUR + 30 * MIN, 0),
            ("1h  30m", HOUR + 30 * MIN, 0),
            ("2hours", 2 * HOUR, 0),
            ("1.5h", HOUR + 30 * MIN, 0),
            ("0.5s", 0, 500_000_000),
            ("1.0001h", HOUR, 0),
            ("250ms", 0, 250_000_000),
            ("3us", 0, 3_000),
            ("3µs", 0, 3_000),
            ("7ns", 0, 7),
            ("1sec", 1, 0),
            ("2mins", 2 * MIN, 0),
            ("1hr", HOUR, 0),
            ("1day", DAY, 0),
            ("1wk", 7 * DAY, 0),
            ("1M", 2_630_016, 0),
            ("2months", 2 * 2_630_016, 0),
            ("1y", 31_557_600, 0),
            ("1year", 31_557_600, 0),
        ];
        for (text, secs, nanos) in cases {
            assert_eq!(
                parse_duration(text),
                Some(Duration::new(*secs, *nanos)),
                "{text}"
            );
        }
    }

    #[test]
    fn the_rest_is_refused() {
        for bad in [
            "",
            " ",
            "d",
            "7",
            "7x",
            "-1d",
            "+1d",
            "7 d",
            "1 2h",
            "1.h",
            ".5h",
            "1.5ns",
            "1h,30m",
            "soon",
            "99999999999999999999d",
            "999999999999999999y",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
