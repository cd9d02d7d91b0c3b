//! Report definitions: the `[[report]]` tables of the TOML config (`--config faultline.toml`)
//! and the built-in default report that runs daily without any config.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::ReportError;
use super::schedule::Schedule;

/// Name of the built-in report; a config may redefine it.
pub const DEFAULT_REPORT: &str = "default";
/// Runs a report keeps when its definition does not say.
const DEFAULT_KEEP: usize = 30;
/// Longest report name (it is a directory name).
const MAX_NAME_LEN: usize = 64;

/// An output file format of a report run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// The whole run as one JSON document (also what "new since the previous run" reads).
    Json,
    /// Every section's rows, one CSV block per section.
    Csv,
    /// A self-contained HTML page: tables and an inline SVG chart of errors over time.
    Html,
}

impl OutputFormat {
    /// Every format, in the order files are written.
    pub const ALL: [OutputFormat; 3] = [OutputFormat::Json, OutputFormat::Csv, OutputFormat::Html];

    /// The file extension (and `format=` value).
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Csv => "csv",
            OutputFormat::Html => "html",
        }
    }

    /// The format named by a file extension or `format=` value.
    pub fn from_extension(ext: &str) -> Option<OutputFormat> {
        Self::ALL
            .into_iter()
            .find(|f| f.extension().eq_ignore_ascii_case(ext))
    }

    /// The `Content-Type` of a file in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Json => "application/json",
            OutputFormat::Csv => "text/csv; charset=utf-8",
            OutputFormat::Html => "text/html; charset=utf-8",
        }
    }
}

/// What a report queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportQuery {
    /// The built-in summary: errors by kind, top 10 failing destinations, new error kinds.
    Summary,
    /// The entries matching a KFL filter within the window.
    Kfl(String),
    /// A SQL query; `{from}` and `{to}` become the window's bounds as timestamp literals.
    Sql(String),
}

/// One report, validated.
#[derive(Debug, Clone)]
pub struct ReportDef {
    /// Its name: also its directory under `<data>/reports`.
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
    /// What it queries.
    pub query: ReportQuery,
    /// How far back from the run time it looks.
    pub window: Duration,
    /// The files each run writes.
    pub formats: Vec<OutputFormat>,
    /// Runs kept on disk; older ones are deleted.
    pub keep: usize,
}

/// A `[[report]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    name: String,
    schedule: String,
    kfl: Option<String>,
    sql: Option<String>,
    #[serde(default = "default_window")]
    window: String,
    #[serde(default = "all_formats")]
    formats: Vec<OutputFormat>,
    #[serde(default = "default_keep")]
    keep: usize,
}

fn default_window() -> String {
    "24h".into()
}

fn all_formats() -> Vec<OutputFormat> {
    OutputFormat::ALL.to_vec()
}

fn default_keep() -> usize {
    DEFAULT_KEEP
}

/// The config file: `[[report]]` tables (other top-level tables belong to other features).
#[derive(Debug, Deserialize)]
struct RawConfig {
    #[serde(default)]
    report: Vec<RawReport>,
}

/// The built-in default report: daily at 00:00 UTC over the last 24 hours, every format.
pub fn default_report() -> ReportDef {
    ReportDef {
        name: DEFAULT_REPORT.into(),
        schedule: Schedule::daily(),
        query: ReportQuery::Summary,
        window: Duration::from_secs(24 * 3600),
        formats: all_formats(),
        keep: DEFAULT_KEEP,
    }
}

/// Parses a config's text: its reports plus the default one (unless the config redefines
/// `default`). Names must be unique and valid.
pub fn parse(text: &str) -> Result<Vec<ReportDef>, ReportError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ReportError::Config(e.to_string()))?;
    let mut reports = Vec::with_capacity(raw.report.len() + 1);
    for r in raw.report {
        let def = validate(r)?;
        if reports.iter().any(|d: &ReportDef| d.name == def.name) {
            return Err(ReportError::Config(format!(
                "report `{}` is defined twice",
                def.name
            )));
        }
        reports.push(def);
    }
    if !reports.iter().any(|d| d.name == DEFAULT_REPORT) {
        reports.push(default_report());
    }
    Ok(reports)
}

/// The reports of the config file at `path`, or only the default report without one.
pub fn load(path: Option<&Path>) -> Result<Vec<ReportDef>, ReportError> {
    let Some(path) = path else {
        return Ok(vec![default_report()]);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ReportError::Config(format!("reading {}: {e}", path.display())))?;
    parse(&text)
}

fn validate(r: RawReport) -> Result<ReportDef, ReportError> {
    validate_name(&r.name)?;
    let bad = |msg: String| ReportError::Config(format!("report `{}`: {msg}", r.name));
    let query = match (r.kfl, r.sql) {
        (Some(k), None) => {
            faultline_kfl::check(&k).map_err(|e| bad(format!("kfl: {e}")))?;
            ReportQuery::Kfl(k)
        }
        (None, Some(s)) => ReportQuery::Sql(s),
        (None, None) if r.name == DEFAULT_REPORT => ReportQuery::Summary,
        _ => return Err(bad("give exactly one of `kfl` and `sql`".into())),
    };
    let schedule = Schedule::parse(&r.schedule).map_err(|e| bad(e.to_string()))?;
    let window = faultline_kfl::time::parse_duration(&r.window).ok_or_else(|| {
        bad(format!(
            "window `{}`: use {}",
            r.window,
            faultline_kfl::time::DURATION_FORMS
        ))
    })?;
    if window.is_zero() {
        return Err(bad("the window must be longer than zero".into()));
    }
    if r.formats.is_empty() || r.keep == 0 {
        return Err(bad(
            "`formats` must not be empty and `keep` must be ≥ 1".into()
        ));
    }
    let mut formats = r.formats;
    formats.dedup();
    Ok(ReportDef {
        name: r.name,
        schedule,
        query,
        window,
        formats,
        keep: r.keep,
    })
}

/// A report name is a directory name: 1 to 64 ASCII letters, digits, `-` or `_`, not starting
/// with `-`, so no name can reach outside `<data>/reports`.
pub fn validate_name(name: &str) -> Result<(), ReportError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ReportError::InvalidName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reports_and_adds_the_default() {
        let reports = parse(
            r#"
            [[report]]
            name = "resets"
            schedule = "*/2 * * * * *"
            kfl = "tcp and error"
            window = "1h"
            formats = ["json", "csv"]
            keep = 3

            [[report]]
            name = "by-kind"
            schedule = "0 6 * * *"
            sql = "SELECT kind, sum(errors) FROM error_counts_per_minute WHERE minute >= {from} GROUP BY kind"
            "#,
        )
        .unwrap();
        assert_eq!(reports.len(), 3);
        assert_eq!(reports[0].name, "resets");
        assert_eq!(reports[0].query, ReportQuery::Kfl("tcp and error".into()));
        assert_eq!(reports[0].window, Duration::from_secs(3600));
        assert_eq!(reports[0].formats, [OutputFormat::Json, OutputFormat::Csv]);
        assert_eq!(reports[0].keep, 3);
        assert!(matches!(reports[1].query, ReportQuery::Sql(_)));
        assert_eq!(reports[1].window, Duration::from_secs(86_400));
        assert_eq!(reports[1].formats, OutputFormat::ALL);
        assert_eq!(reports[2].name, DEFAULT_REPORT);
        assert_eq!(reports[2].query, ReportQuery::Summary);
    }

    #[test]
    fn the_default_report_can_be_redefined() {
        let reports =
            parse("[[report]]\nname = \"default\"\nschedule = \"0 0 6 * * *\"\nkeep = 2\n")
                .unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].query, ReportQuery::Summary);
        assert_eq!(reports[0].keep, 2);
    }

    #[test]
    fn refuses_bad_definitions() {
        let cases = [
            (
                "name = \"../x\"\nschedule = \"* * * * *\"\nkfl = \"tcp\"",
                "name",
            ),
            (
                "name = \"a/b\"\nschedule = \"* * * * *\"\nkfl = \"tcp\"",
                "name",
            ),
            ("name = \"x\"\nschedule = \"* * * * *\"", "exactly one"),
            (
                "name = \"x\"\nschedule = \"* * * * *\"\nkfl = \"tcp\"\nsql = \"SELECT 1\"",
                "exactly one",
            ),
            (
                "name = \"x\"\nschedule = \"every day\"\nkfl = \"tcp\"",
                "schedule",
            ),
            (
                "name = \"x\"\nschedule = \"* * * * *\"\nkfl = \"tcp\"\nwindow = \"soon\"",
                "window",
            ),
            (
                "name = \"x\"\nschedule = \"* * * * *\"\nkfl = \"tcp\"\nformats = [\"pdf\"]",
                "pdf",
            ),
            (
                "name = \"x\"\nschedule = \"* * * * *\"\nkfl = \"tcp\"\nkeep = 0",
                "keep",
            ),
            (
                "name = \"x\"\nschedule = \"* * * * *\"\nkfl = \"tcp\"\nlimit = 3",
                "limit",
            ),
            (
                "name = \"x\"\nschedule = \"* * * * *\"\nkfl = \"tcp and (\"",
                "kfl",
            ),
        ];
        for (body, needle) in cases {
            let err = parse(&format!("[[report]]\n{body}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
        let twice = "[[report]]\nname = \"x\"\nschedule = \"* * * * *\"\nkfl = \"tcp\"\n";
        let err = parse(&format!("{twice}{twice}")).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn names_cannot_leave_the_reports_directory() {
        for ok in ["default", "a", "errors-24h", "A_1"] {
            validate_name(ok).unwrap();
        }
        let long = "x".repeat(65);
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "a\\b",
            "-rf",
            "a b",
            "é",
            long.as_str(),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
