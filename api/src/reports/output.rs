//! A report run as a document ([`RunDoc`]) and its files: JSON (the document itself), CSV (one
//! block per section) and a self-contained HTML page (tables and an inline SVG bar chart of
//! errors over time).

use std::fmt::Write as _;

use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::render::{JsonStyle, json_rows};

use super::ReportError;
use super::config::OutputFormat;

/// One run of a report: what the JSON file holds and the other formats render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDoc {
    /// The report's name.
    pub report: String,
    /// The run's id: its UTC time as `YYYYMMDDTHHMMSS.mmmZ`, also the files' stem.
    pub run: String,
    /// Start of the window (RFC 3339, inclusive).
    pub from: String,
    /// End of the window (RFC 3339, exclusive): the run time.
    pub to: String,
    /// The previous run this one compares with (new error kinds), if any.
    pub previous_run: Option<String>,
    /// The result tables.
    pub sections: Vec<Section>,
    /// Errors (or matching entries) per time bucket over the window, for the chart.
    pub timeline: Vec<TimePoint>,
}

/// One result table of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Its heading.
    pub title: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, values in column order.
    pub rows: Vec<Vec<Value>>,
}

/// One bar of the chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimePoint {
    /// Start of the bucket (RFC 3339).
    pub t: String,
    /// Entries in the bucket.
    pub count: u64,
}

impl Section {
    /// A section over query results, values as JSON by the shared renderer (timestamps as
    /// RFC 3339 text, nulls written, ids as numbers).
    pub fn from_batches(title: &str, batches: &[RecordBatch]) -> Result<Section, ReportError> {
        let columns: Vec<String> = batches
            .first()
            .map(|b| {
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .unwrap_or_default();
        let mut rows = Vec::new();
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            for object in json_rows(batch, JsonStyle::REPORT)
                .map_err(|e| ReportError::Output(e.to_string()))?
            {
                rows.push(
                    columns
                        .iter()
                        .map(|c| object.get(c).cloned().unwrap_or(Value::Null))
                        .collect(),
                );
            }
        }
        Ok(Section {
            title: title.to_string(),
            columns,
            rows,
        })
    }

    /// The value of `column` in `row`.
    pub fn value<'a>(&'a self, row: &'a [Value], column: &str) -> Option<&'a Value> {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|i| row.get(i))
    }
}

/// The bytes of `doc` in `format`.
pub fn render(doc: &RunDoc, format: OutputFormat) -> Result<Vec<u8>, ReportError> {
    match format {
        OutputFormat::Json => {
            serde_json::to_vec_pretty(doc).map_err(|e| ReportError::Output(e.to_string()))
        }
        OutputFormat::Csv => csv(doc),
        OutputFormat::Html => Ok(html(doc).into_bytes()),
    }
}

/// A value as table text: strings bare, null empty, the rest as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One CSV block per section: a header line `section,<columns>`, then its rows.
fn csv(doc: &RunDoc) -> Result<Vec<u8>, ReportError> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let err = |e: csv::Error| ReportError::Output(e.to_string());
    for s in &doc.sections {
        w.write_record(std::iter::once("section").chain(s.columns.iter().map(String::as_str)))
            .map_err(err)?;
        for row in &s.rows {
            w.write_record(std::iter::once(s.title.clone()).chain(row.iter().map(cell)))
                .map_err(err)?;
        }
    }
    w.into_inner()
        .map_err(|e| ReportError::Output(e.to_string()))
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin-bottom:2em}th,td{border:1px solid #ccc;padding:4px 8px;\
text-align:left}th{background:#f3f3f3}rect{fill:#c0392b}.axis{font-size:11px;fill:#555}";

/// A self-contained page: heading, window, chart, one table per section.
fn html(doc: &RunDoc) -> String {
    let title = escape(&format!("faultline report {} — {}", doc.report, doc.run));
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n<p>Window: {} to {}</p>\n",
        escape(&doc.from),
        escape(&doc.to)
    );
    page.push_str("<h2>Over time</h2>\n");
    page.push_str(&svg_chart(&doc.timeline));
    for s in &doc.sections {
        let _ = write!(page, "<h2>{}</h2>\n<table><tr>", escape(&s.title));
        for c in &s.columns {
            let _ = write!(page, "<th>{}</th>", escape(c));
        }
        page.push_str("</tr>\n");
        for row in &s.rows {
            page.push_str("<tr>");
            for v in row {
                let _ = write!(page, "<td>{}</td>", escape(&cell(v)));
            }
            page.push_str("</tr>\n");
        }
        if s.rows.is_empty() {
            let _ = writeln!(
                page,
                "<tr><td colspan=\"{}\">none</td></tr>",
                s.columns.len().max(1)
            );
        }
        page.push_str("</table>\n");
    }
    page.push_str("</body></html>\n");
    page
}

const CHART_W: f64 = 800.0;
const CHART_H: f64 = 200.0;

/// An inline SVG bar chart of `points` (one bar per bucket, tallest = chart height).
fn svg_chart(points: &[TimePoint]) -> String {
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_W}\" height=\"{}\" \
         role=\"img\" aria-label=\"entries over time\">\n",
        CHART_H + 20.0
    );
    let max = points.iter().map(|p| p.count).max().unwrap_or(0);
    if max == 0 {
        let _ = writeln!(
            svg,
            "<text class=\"axis\" x=\"10\" y=\"20\">no entries in the window</text>"
        );
    } else {
        let width = CHART_W / points.len() as f64;
        for (i, p) in points.iter().enumerate() {
            let h = CHART_H * p.count as f64 / max as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
                 <title>{}: {}</title></rect>",
                i as f64 * width,
                CHART_H - h,
                (width - 1.0).max(1.0),
                escape(&p.t),
                p.count
            );
        }
        let first = points.first().map(|p| p.t.as_str()).unwrap_or_default();
        let _ = writeln!(
            svg,
            "<text class=\"axis\" x=\"0\" y=\"{}\">{}</text>\
             <text class=\"axis\" x=\"{CHART_W}\" y=\"{}\" text-anchor=\"end\">max {max}</text>",
            CHART_H + 15.0,
            escape(first),
            CHART_H + 15.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> RunDoc {
        RunDoc {
            report: "r".into(),
            run: "20261126T000000.000Z".into(),
            from: "2026-11-25T00:00:00Z".into(),
            to: "2026-11-26T00:00:00Z".into(),
            previous_run: None,
            sections: vec![Section {
                title: "by kind".into(),
                columns: vec!["kind".into(), "errors".into()],
                rows: vec![
                    vec![json!("tcp<x>"), json!(3)],
                    vec![json!("a,b"), Value::Null],
                ],
            }],
            timeline: vec![
                TimePoint {
                    t: "t0".into(),
                    count: 1,
                },
                TimePoint {
                    t: "t1".into(),
                    count: 4,
                },
            ],
        }
    }

    #[test]
    fn csv_has_a_header_per_section_and_quotes() {
        let text = String::from_utf8(render(&doc(), OutputFormat::Csv).unwrap()).unwrap();
        assert_eq!(
            text,
            "section,kind,errors\nby kind,tcp<x>,3\nby kind,\"a,b\",\n"
        );
    }

    #[test]
    fn html_escapes_and_draws_one_bar_per_bucket() {
        let page = String::from_utf8(render(&doc(), OutputFormat::Html).unwrap()).unwrap();
        assert!(page.contains("<td>tcp&lt;x&gt;</td>"));
        assert!(!page.contains("tcp<x>"));
        assert_eq!(page.matches("<rect").count(), 2);
        assert!(
            page.contains("height=\"200.0\""),
            "the tallest bar fills the chart"
        );
        assert!(page.contains("height=\"50.0\""));
    }

    #[test]
    fn json_round_trips() {
        let bytes = render(&doc(), OutputFormat::Json).unwrap();
        let back: RunDoc = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, doc());
    }
}
