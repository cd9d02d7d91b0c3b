//! Running a report over `[now - window, now)` and keeping its runs on disk. The queries are
//! [`faultline_engine::analytics::report`]'s; this module turns their results into sections.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use faultline_engine::analytics::fragments::ERRORS_KFL;
use faultline_engine::analytics::report::{self, TimeUnit};
use faultline_engine::analytics::{TimeRange, collect, string_literal};
use faultline_engine::{Engine, KflQuery, Order};
use serde_json::Value;

use super::ReportError;
use super::config::{OutputFormat, ReportDef, ReportQuery, validate_name};
use super::output::{RunDoc, Section, TimePoint, render};

/// Most rows a KFL or SQL report keeps per run.
pub const MAX_ROWS: usize = 10_000;
/// Title of the summary's errors-by-kind section.
pub const BY_KIND: &str = "errors by kind";
/// Title of the summary's destinations section.
pub const TOP_DESTINATIONS: &str = "top 10 failing destinations";
/// Title of the summary's new-kinds section.
pub const NEW_KINDS: &str = "new error kinds since the previous run";
/// Layout of run ids (and file stems).
const RUN_ID_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// The reports of a server or command, and where their runs are stored.
#[derive(Debug)]
pub struct Reports {
    root: PathBuf,
    defs: Vec<ReportDef>,
    /// One run at a time, so "the previous run" and pruning never race.
    lock: tokio::sync::Mutex<()>,
}

/// What one run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run document (also in the JSON file).
    pub doc: RunDoc,
    /// The files written.
    pub files: Vec<PathBuf>,
}

impl Reports {
    /// `defs` storing their runs under `<data_dir>/reports`.
    pub fn new(data_dir: &Path, defs: Vec<ReportDef>) -> Reports {
        Reports {
            root: data_dir.join("reports"),
            defs,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The definitions.
    pub fn defs(&self) -> &[ReportDef] {
        &self.defs
    }

    /// The report named `name` (validated first).
    pub fn get(&self, name: &str) -> Result<&ReportDef, ReportError> {
        validate_name(name)?;
        self.defs
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| ReportError::NotFound(format!("no report named `{name}`")))
    }

    fn dir(&self, def: &ReportDef) -> PathBuf {
        self.root.join(&def.name)
    }

    /// Ids of the stored runs of `name`, oldest first.
    pub fn runs(&self, name: &str) -> Result<Vec<String>, ReportError> {
        let dir = self.dir(self.get(name)?);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut runs: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".json")?;
                is_run_id(stem).then(|| stem.to_string())
            })
            .collect();
        runs.sort();
        Ok(runs)
    }

    /// The file of run `run` (the latest without one) of `name` in `format`.
    pub fn run_file(
        &self,
        name: &str,
        run: Option<&str>,
        format: OutputFormat,
    ) -> Result<PathBuf, ReportError> {
        let def = self.get(name)?;
        let run = match run {
            Some(r) if is_run_id(r) => r.to_string(),
            Some(r) => return Err(ReportError::InvalidRun(r.to_string())),
            None => self
                .runs(name)?
                .pop()
                .ok_or_else(|| ReportError::NotFound(format!("report `{name}` has not run yet")))?,
        };
        let path = self.dir(def).join(format!("{run}.{}", format.extension()));
        if path.is_file() {
            Ok(path)
        } else {
            Err(ReportError::NotFound(format!(
                "report `{name}` has no {} file for run {run}",
                format.extension()
            )))
        }
    }

    /// Runs `name` over `[now - window, now)` on `engine`, writes its files and deletes the
    /// runs beyond its `keep`.
    pub async fn run(
        &self,
        engine: &Engine,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<RunOutcome, ReportError> {
        let def = self.get(name)?;
        let _one_at_a_time = self.lock.lock().await;
        let run_id = now.format(RUN_ID_FORMAT).to_string();
        // A re-run at the same time replaces that run: it compares with the one before.
        let previous = self.runs(name)?.into_iter().rfind(|r| *r < run_id);
        let from = now
            - chrono::Duration::from_std(def.window)
                .map_err(|e| ReportError::Config(format!("window: {e}")))?;
        let mut doc = RunDoc {
            report: def.name.clone(),
            run: run_id,
            from: from.to_rfc3339_opts(SecondsFormat::Micros, true),
            to: now.to_rfc3339_opts(SecondsFormat::Micros, true),
            previous_run: previous.clone(),
            sections: Vec::new(),
            timeline: Vec::new(),
        };
        doc.sections = sections(engine, def, &doc, from, now).await?;
        if def.query == ReportQuery::Summary {
            let before = match &previous {
                Some(p) => Some(self.read_doc(def, p)?),
                None => None,
            };
            doc.sections.push(new_kinds(&doc, before.as_ref()));
        }
        let timeline_kfl = match &def.query {
            ReportQuery::Kfl(k) => k.as_str(),
            _ => ERRORS_KFL,
        };
        doc.timeline = timeline(engine, timeline_kfl, def.window, (from, now)).await?;
        let files = self.write(def, &doc)?;
        self.prune(def)?;
        Ok(RunOutcome { doc, files })
    }

    fn read_doc(&self, def: &ReportDef, run: &str) -> Result<RunDoc, ReportError> {
        let bytes = std::fs::read(self.dir(def).join(format!("{run}.json")))?;
        serde_json::from_slice(&bytes).map_err(|e| ReportError::Output(e.to_string()))
    }

    /// Writes the other formats, then the JSON (through a rename): a run is listed once its
    /// JSON exists.
    fn write(&self, def: &ReportDef, doc: &RunDoc) -> Result<Vec<PathBuf>, ReportError> {
        let dir = self.dir(def);
        std::fs::create_dir_all(&dir)?;
        let mut files = Vec::new();
        for format in def.formats.iter().filter(|f| **f != OutputFormat::Json) {
            let path = dir.join(format!("{}.{}", doc.run, format.extension()));
            std::fs::write(&path, render(doc, *format)?)?;
            files.push(path);
        }
        let path = dir.join(format!("{}.json", doc.run));
        let tmp = dir.join(format!("{}.json.tmp", doc.run));
        std::fs::write(&tmp, render(doc, OutputFormat::Json)?)?;
        std::fs::rename(&tmp, &path)?;
        files.push(path);
        Ok(files)
    }

    /// Deletes every file of the runs before the last `keep`.
    fn prune(&self, def: &ReportDef) -> Result<(), ReportError> {
        let runs = self.runs(&def.name)?;
        let dir = self.dir(def);
        for run in runs.iter().take(runs.len().saturating_sub(def.keep)) {
            for format in OutputFormat::ALL {
                let path = dir.join(format!("{run}.{}", format.extension()));
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// True for `YYYYMMDDTHHMMSS.mmmZ`.
pub fn is_run_id(s: &str) -> bool {
    s.len() == 20 && chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S%.3fZ").is_ok()
}

/// The result sections of `def` (the summary's new kinds are added by the caller).
async fn sections(
    engine: &Engine,
    def: &ReportDef,
    doc: &RunDoc,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Section>, ReportError> {
    let range = TimeRange {
        from_us: from.timestamp_micros(),
        to_us: to.timestamp_micros(),
    };
    Ok(match &def.query {
        ReportQuery::Summary => vec![
            Section::from_batches(BY_KIND, &report::errors_by_kind(engine, &range).await?)?,
            Section::from_batches(
                TOP_DESTINATIONS,
                &report::top_destinations(engine, &range).await?,
            )?,
        ],
        ReportQuery::Kfl(kfl) => {
            let q = KflQuery {
                kfl: kfl.clone(),
                from_us: Some(range.from_us),
                to_us: Some(range.to_us),
                limit: Some(MAX_ROWS),
                order: Order::Ascending,
            };
            let batches = engine.query_kfl(&q).await?.collect().await?;
            vec![Section::from_batches("matching entries", &batches)?]
        }
        ReportQuery::Sql(text) => {
            let text = text
                .replace("{from}", &string_literal(&doc.from))
                .replace("{to}", &string_literal(&doc.to));
            let mut section = Section::from_batches("result", &collect(engine, &text).await?)?;
            section.rows.truncate(MAX_ROWS);
            vec![section]
        }
    })
}

/// The error kinds (kind, error type, detail) of this run that the previous one did not have;
/// every kind when there is no previous run.
fn new_kinds(doc: &RunDoc, previous: Option<&RunDoc>) -> Section {
    const KEY: [&str; 3] = ["kind", "error_type", "detail"];
    let keys = |section: &Section, row: &[Value]| -> Vec<Value> {
        KEY.iter()
            .map(|c| section.value(row, c).cloned().unwrap_or(Value::Null))
            .collect()
    };
    let seen: HashSet<String> = previous
        .and_then(|p| p.sections.iter().find(|s| s.title == BY_KIND))
        .map(|s| {
            s.rows
                .iter()
                .map(|r| Value::Array(keys(s, r)).to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut out = Section {
        title: NEW_KINDS.into(),
        columns: KEY
            .iter()
            .map(|c| (*c).to_string())
            .chain(["errors".into()])
            .collect(),
        rows: Vec::new(),
    };
    if let Some(current) = doc.sections.iter().find(|s| s.title == BY_KIND) {
        for row in &current.rows {
            let mut key = keys(current, row);
            if !seen.contains(&Value::Array(key.clone()).to_string()) {
                key.push(current.value(row, "errors").cloned().unwrap_or(Value::Null));
                out.rows.push(key);
            }
        }
    }
    out
}

/// Most bars the chart fills in; a window with more buckets shows only non-empty ones.
const MAX_BARS: i64 = 500;

/// Bucket unit of the chart for a window: minutes up to 3 h, hours up to a week, then days.
fn chart_unit(window: std::time::Duration) -> TimeUnit {
    match window.as_secs() {
        s if s <= 3 * 3600 => TimeUnit::Minute,
        s if s <= 7 * 86_400 => TimeUnit::Hour,
        _ => TimeUnit::Day,
    }
}

/// Bucket of the chart for a window (unit name, seconds).
fn bucket(window: std::time::Duration) -> (&'static str, i64) {
    let unit = chart_unit(window);
    (unit.name(), unit.seconds())
}

/// Entries of `kfl` per bucket over the window, empty buckets included.
async fn timeline(
    engine: &Engine,
    kfl: &str,
    window: std::time::Duration,
    range: (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<TimePoint>, ReportError> {
    let (_, step) = bucket(window);
    let window_range = TimeRange {
        from_us: range.0.timestamp_micros(),
        to_us: range.1.timestamp_micros(),
    };
    let counts = report::timeline(engine, kfl, chart_unit(window), &window_range).await?;
    Ok(fill(
        &counts,
        range.0.timestamp(),
        range.1.timestamp(),
        step,
    ))
}

/// One point per `step`-second bucket from `from`'s bucket up to `to` (exclusive), with the
/// counts of `counts` (bucket start, count) and zero elsewhere; only `counts` when that would
/// be more than [`MAX_BARS`] points.
fn fill(counts: &[(i64, u64)], from: i64, to: i64, step: i64) -> Vec<TimePoint> {
    let point = |t: i64, count: u64| TimePoint {
        t: DateTime::from_timestamp(t, 0)
            .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default(),
        count,
    };
    let first = from.div_euclid(step) * step;
    if (to - first) / step > MAX_BARS {
        return counts.iter().map(|&(t, n)| point(t, n)).collect();
    }
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t < to)
        .map(|t| {
            let n = counts.iter().find(|(c, _)| *c == t).map_or(0, |(_, n)| *n);
            point(t, n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc_with_kinds(kinds: &[(&str, &str)]) -> RunDoc {
        RunDoc {
            report: "default".into(),
            run: "20261126T000000.000Z".into(),
            from: String::new(),
            to: String::new(),
            previous_run: None,
            sections: vec![Section {
                title: BY_KIND.into(),
                columns: ["kind", "error_type", "detail", "errors"]
                    .map(String::from)
                    .to_vec(),
                rows: kinds
                    .iter()
                    .map(|(t, d)| vec![json!("tcp"), json!(t), json!(d), json!(2)])
                    .collect(),
            }],
            timeline: Vec::new(),
        }
    }

    #[test]
    fn new_kinds_are_those_the_previous_run_lacked() {
        let before = doc_with_kinds(&[("connection", "Reset")]);
        let now = doc_with_kinds(&[("connection", "Reset"), ("timeout", "stale stream")]);
        let new = new_kinds(&now, Some(&before));
        assert_eq!(
            new.rows,
            vec![vec![
                json!("tcp"),
                json!("timeout"),
                json!("stale stream"),
                json!(2)
            ]]
        );
        assert_eq!(new_kinds(&now, None).rows.len(), 2);
        assert!(new_kinds(&before, Some(&now)).rows.is_empty());
    }

    #[test]
    fn run_ids() {
        assert!(is_run_id("20261126T140512.123Z"));
        for bad in [
            "",
            "latest",
            "../20261126T140512.123Z",
            "20261126T140512Z",
            "20261326T140512.123Z",
        ] {
            assert!(!is_run_id(bad), "{bad}");
        }
    }

    #[test]
    fn chart_buckets_follow_the_window() {
        assert_eq!(bucket(std::time::Duration::from_secs(3600)).0, "minute");
        assert_eq!(bucket(std::time::Duration::from_secs(86_400)).0, "hour");
        assert_eq!(bucket(std::time::Duration::from_secs(30 * 86_400)).0, "day");
    }

    #[test]
    fn the_chart_has_a_bar_per_bucket() {
        // 00:30 to 03:30 by hours: buckets 00:00, 01:00, 02:00, 03:00.
        let points = fill(&[(3600, 5)], 1800, 3 * 3600 + 1800, 3600);
        let got: Vec<(&str, u64)> = points.iter().map(|p| (p.t.as_str(), p.count)).collect();
        assert_eq!(
            got,
            [
                ("1970-01-01T00:00:00Z", 0),
                ("1970-01-01T01:00:00Z", 5),
                ("1970-01-01T02:00:00Z", 0),
                ("1970-01-01T03:00:00Z", 0)
            ]
        );
        // Too many buckets: only the non-empty ones.
        let sparse = fill(&[(86_400, 2)], 0, 10_000 * 86_400, 86_400);
        assert_eq!(sparse.len(), 1);
        assert_eq!(sparse[0].count, 2);
    }
}
