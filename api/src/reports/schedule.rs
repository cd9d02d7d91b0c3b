//! When reports run: cron expressions (the `cron` crate's syntax, with an optional seconds
//! field) evaluated in UTC.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use faultline_engine::Engine;
use tokio_util::sync::CancellationToken;

use super::{ReportError, Reports};

/// A report's schedule: a cron expression in UTC.
///
/// Five fields (`min hour day month weekday`) are classic cron and run at second 0; six or
/// seven fields start with seconds (and may end with a year), e.g. `*/2 * * * * *`.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    cron: cron::Schedule,
}

impl Schedule {
    /// Daily at 00:00:00 UTC: the default report's schedule.
    pub fn daily() -> Schedule {
        // A fixed, valid expression: parsing cannot fail.
        match Schedule::parse("0 0 * * *") {
            Ok(s) => s,
            Err(_) => unreachable!("the daily schedule is a valid cron expression"),
        }
    }

    /// Parses a cron expression.
    pub fn parse(expr: &str) -> Result<Schedule, ReportError> {
        let trimmed = expr.split_whitespace().collect::<Vec<_>>();
        let full = if trimmed.len() == 5 {
            format!("0 {}", trimmed.join(" "))
        } else {
            trimmed.join(" ")
        };
        let cron = cron::Schedule::from_str(&full)
            .map_err(|e| ReportError::Config(format!("schedule `{expr}`: {e}")))?;
        Ok(Schedule {
            expr: expr.trim().to_string(),
            cron,
        })
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first time strictly after `after` when the report runs (`None`: never again).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.after(&after).next()
    }
}

/// The next run time after `after` and the reports due then (several may share a time).
fn next_due(reports: &Reports, after: DateTime<Utc>) -> Option<(DateTime<Utc>, Vec<String>)> {
    let times: Vec<(DateTime<Utc>, &str)> = reports
        .defs()
        .iter()
        .filter_map(|d| Some((d.schedule.next_after(after)?, d.name.as_str())))
        .collect();
    let first = times.iter().map(|(t, _)| *t).min()?;
    let due = times
        .into_iter()
        .filter(|(t, _)| *t == first)
        .map(|(_, n)| n.to_string())
        .collect();
    Some((first, due))
}

/// Starts the scheduler: runs each report at its scheduled times on `engine` until `stop` is
/// cancelled. A run that fails is reported on stderr; times missed while a run was going are
/// skipped, not caught up.
pub fn spawn_scheduler(
    engine: Engine,
    reports: Arc<Reports>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut after = Utc::now();
        while let Some((at, due)) = next_due(&reports, after.max(Utc::now())) {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            for name in due {
                match reports.run(&engine, &name, at).await {
                    Ok(outcome) => {
                        tracing::info!(report = %name, run = %outcome.doc.run, "report run")
                    }
                    Err(e) => tracing::error!(report = %name, error = %e, "report failed"),
                }
            }
            after = at;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_fields_are_classic_cron() {
        let s = Schedule::parse("30 6 * * *").unwrap();
        assert_eq!(
            s.next_after(at("2026-11-26T05:00:00Z")),
            Some(at("2026-11-26T06:30:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-11-26T06:30:00Z")),
            Some(at("2026-11-27T06:30:00Z"))
        );
        assert_eq!(s.expr(), "30 6 * * *");
    }

    #[test]
    fn six_fields_have_seconds() {
        let s = Schedule::parse("*/2 * * * * *").unwrap();
        assert_eq!(
            s.next_after(at("2026-11-26T05:00:01Z")),
            Some(at("2026-11-26T05:00:02Z"))
        );
        assert_eq!(
            s.next_after(at("2026-11-26T05:00:02.5Z")),
            Some(at("2026-11-26T05:00:04Z"))
        );
    }

    #[test]
    fn daily_runs_at_midnight_utc() {
        assert_eq!(
            Schedule::daily().next_after(at("2026-11-26T14:00:00Z")),
            Some(at("2026-11-27T00:00:00Z"))
        );
    }

    #[test]
    fn weekdays_and_years() {
        // Mondays at 09:00; 2026-11-26 is a Thursday.
        let s = Schedule::parse("0 9 * * Mon").unwrap();
        assert_eq!(
            s.next_after(at("2026-11-26T00:00:00Z")),
            Some(at("2026-11-30T09:00:00Z"))
        );
        let past = Schedule::parse("0 0 0 1 1 * 2020").unwrap();
        assert_eq!(past.next_after(at("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn next_due_picks_the_earliest_reports() {
        let def = |name: &str, expr: &str| super::super::ReportDef {
            name: name.into(),
            schedule: Schedule::parse(expr).unwrap(),
            query: super::super::ReportQuery::Summary,
            window: std::time::Duration::from_secs(60),
            formats: vec![],
            keep: 1,
        };
        let reports = Reports::new(
            std::path::Path::new("/nonexistent"),
            vec![
                def("a", "0 * * * * *"),
                def("b", "*/10 * * * * *"),
                def("c", "0 0 * * *"),
            ],
        );
        let (t, due) = next_due(&reports, at("2026-11-26T05:00:55Z")).unwrap();
        assert_eq!(t, at("2026-11-26T05:01:00Z"));
        assert_eq!(due, ["a", "b"]);
        let (t, due) = next_due(&reports, t).unwrap();
        assert_eq!(t, at("2026-11-26T05:01:10Z"));
        assert_eq!(due, ["b"]);
    }

    #[test]
    fn refuses_invalid_expressions() {
        for bad in ["", "every day", "* * *", "61 * * * *", "0 25 * * *"] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?}");
        }
    }
}
