//! File-driven KFL conformance suite (sqllogictest style): `tests/slt/*.slt`.
//!
//! Every `query` case runs twice against an in-memory `entries` table built from the file's
//! fixture rows: once as the compiled DataFusion `Expr` (`DataFrame::filter`) and once as the
//! rendered SQL (`SELECT id FROM entries WHERE <sql>`); both must return exactly the expected
//! ids. `error` cases compare the rendered error (message, line:column, caret, help) exactly.
//! The file format is described in `tests/slt/README.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, MapBuilder, RecordBatch, StringArray, StringBuilder, UInt64Array,
    new_null_array,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use faultline_kfl::{check_at, time};
use faultline_schemas::entries_schema;

/// One parsed case.
#[derive(Debug)]
struct Case {
    file: String,
    line: usize,
    label: String,
    query: String,
    now_ms: i64,
    fixture: String,
    expect: Expect,
}

#[derive(Debug)]
enum Expect {
    Rows {
        ids: Vec<u64>,
        sql: Option<String>,
        limit: Option<u64>,
        warnings: Vec<String>,
    },
    Error(String),
}

/// Fixture rows as written: column names and cells.
#[derive(Debug, Clone)]
struct Fixture {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

struct SltFile {
    fixtures: HashMap<String, Fixture>,
    cases: Vec<Case>,
}

fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt")
}

fn parse_file(path: &Path) -> SltFile {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = SltFile {
        fixtures: HashMap::new(),
        cases: Vec::new(),
    };
    let (mut now_ms, mut fixture) = (0i64, String::new());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "" | "#" => i += 1,
            _ if line.starts_with('#') => i += 1,
            "now" => {
                now_ms = parse_now(rest.trim());
                i += 1;
            }
            "use" => {
                fixture = rest.trim().to_string();
                assert!(
                    out.fixtures.contains_key(&fixture),
                    "{file}:{}: unknown fixture {fixture}",
                    i + 1
                );
                i += 1;
            }
            "fixture" => {
                fixture = rest.trim().to_string();
                let (fx, next) = parse_fixture(&lines, i + 1);
                out.fixtures.insert(fixture.clone(), fx);
                i = next;
            }
            "query" | "error" => {
                let start = i + 1;
                let (query, expect_lines, next) = parse_block(&lines, i + 1, &file);
                let expect = if word == "query" {
                    parse_expect(&expect_lines, &file, start)
                } else {
                    Expect::Error(expect_lines.join("\n"))
                };
                let label = rest.trim().to_string();
                out.cases.push(Case {
                    file: file.clone(),
                    line: start,
                    label,
                    query,
                    now_ms,
                    fixture: fixture.clone(),
                    expect,
                });
                i = next;
            }
            other => panic!("{file}:{}: unknown directive `{other}`", i + 1),
        }
    }
    out
}

fn parse_now(text: &str) -> i64 {
    text.parse::<i64>()
        .unwrap_or_else(|_| time::parse_datetime(text).expect("now: ms or a datetime") / 1000)
}

fn parse_fixture(lines: &[&str], mut i: usize) -> (Fixture, usize) {
    let split = |l: &str| {
        l.split('|')
            .map(|c| c.trim().to_string())
            .collect::<Vec<_>>()
    };
    let columns = split(lines[i]);
    i += 1;
    let mut rows = Vec::new();
    while i < lines.len() && !lines[i].trim().is_empty() {
        if !lines[i].trim_start().starts_with('#') {
            let row = split(lines[i]);
            assert_eq!(
                row.len(),
                columns.len(),
                "fixture row {}: {} cells for {} columns",
                i + 1,
                row.len(),
                columns.len()
            );
            rows.push(row);
        }
        i += 1;
    }
    (Fixture { columns, rows }, i)
}

/// The query lines up to `----`, then the expectation lines up to a blank line.
fn parse_block(lines: &[&str], mut i: usize, file: &str) -> (String, Vec<String>, usize) {
    let mut query = Vec::new();
    while i < lines.len() && lines[i].trim_end() != "----" {
        query.push(lines[i]);
        i += 1;
    }
    assert!(i < lines.len(), "{file}:{i}: missing ----");
    i += 1;
    let mut expect = Vec::new();
    while i < lines.len() && !lines[i].trim().is_empty() {
        expect.push(lines[i].trim_end().to_string());
        i += 1;
    }
    (query.join("\n"), expect, i)
}

fn parse_expect(lines: &[String], file: &str, line: usize) -> Expect {
    let (mut ids, mut sql, mut limit, mut warnings) = (None, None, None, Vec::new());
    for l in lines {
        let (key, value) = l
            .split_once(':')
            .unwrap_or_else(|| panic!("{file}:{line}: bad expectation `{l}`"));
        let value = value.trim();
        match key {
            "ids" => {
                ids = Some(
                    value
                        .split_whitespace()
                        .map(|v| v.parse().unwrap())
                        .collect(),
                )
            }
            "sql" => sql = Some(value.to_string()),
            "limit" => limit = Some(value.parse().unwrap()),
            "warning" => warnings.push(value.to_string()),
            other => panic!("{file}:{line}: unknown expectation `{other}`"),
        }
    }
    let ids = ids.unwrap_or_else(|| panic!("{file}:{line}: a query case needs `ids:`"));
    Expect::Rows {
        ids,
        sql,
        limit,
        warnings,
    }
}

/// Builds an `entries` batch: listed columns from the cells, the rest NULL (or a default for
/// non-nullable ones: "" for text, 0 for numbers and times).
fn build_batch(fx: &Fixture) -> RecordBatch {
    let schema = entries_schema();
    let n = fx.rows.len();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(
            |field| match fx.columns.iter().position(|c| c == field.name()) {
                Some(j) => {
                    let cells: Vec<&str> = fx.rows.iter().map(|r| r[j].as_str()).collect();
                    column_from_cells(&cells, field.data_type())
                }
                None if field.is_nullable() => new_null_array(field.data_type(), n),
                None => {
                    let default = if field.data_type() == &DataType::Utf8 {
                        "\"\""
                    } else {
                        "0"
                    };
                    column_from_cells(&vec![default; n], field.data_type())
                }
            },
        )
        .collect();
    for c in &fx.columns {
        assert!(
            schema.field_with_name(c).is_ok(),
            "fixture column `{c}` is not in the entries schema"
        );
    }
    RecordBatch::try_new(schema, columns).unwrap()
}

fn column_from_cells(cells: &[&str], dt: &DataType) -> ArrayRef {
    if let DataType::Map(..) = dt {
        return map_column(cells);
    }
    let strings: StringArray = cells.iter().map(|c| cell_text(c)).collect();
    if dt == &DataType::Utf8 {
        return Arc::new(strings);
    }
    // Times may be written as Unix milliseconds.
    let strings: StringArray = if matches!(dt, DataType::Timestamp(..)) {
        strings
            .iter()
            .map(|s| {
                s.map(|s| {
                    s.parse::<i64>()
                        .map_or(s.to_string(), |ms| time::format_us(ms * 1000))
                })
            })
            .collect()
    } else {
        strings
    };
    cast_with_options(
        &strings,
        dt,
        &CastOptions {
            safe: false,
            ..Default::default()
        },
    )
    .unwrap()
}

/// `NULL` is null, `""` is the empty string, anything else is itself.
fn cell_text(cell: &str) -> Option<String> {
    match cell {
        "NULL" => None,
        "\"\"" => Some(String::new()),
        c => Some(c.to_string()),
    }
}

/// `k=v; k2=v2`, `{}` for an empty map, `NULL`.
fn map_column(cells: &[&str]) -> ArrayRef {
    let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for cell in cells {
        if *cell == "NULL" {
            b.append(false).unwrap();
            continue;
        }
        for pair in cell
            .trim_matches(|c| c == '{' || c == '}')
            .split(';')
            .filter(|p| !p.trim().is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap();
            b.keys().append_value(k.trim());
            b.values().append_option(cell_text(v.trim()));
        }
        b.append(true).unwrap();
    }
    Arc::new(b.finish())
}

fn ids_of(batches: &[RecordBatch]) -> Vec<u64> {
    let mut ids: Vec<u64> = batches
        .iter()
        .flat_map(|b| {
            let col = b
                .column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap()
                .clone();
            (0..col.len()).map(move |i| col.value(i))
        })
        .collect();
    ids.sort_unstable();
    ids
}

async fn run_case(ctx: &SessionContext, case: &Case) -> Result<(), String> {
    let checked = check_at(&case.query, case.now_ms);
    match (&case.expect, checked) {
        (Expect::Error(want), Err(e)) => {
            let got = e.render(&case.query);
            (got == *want)
                .then_some(())
                .ok_or(format!("error differs:\n--- want\n{want}\n--- got\n{got}"))
        }
        (Expect::Error(_), Ok(q)) => Err(format!("expected an error, got a query: {}", q.to_sql())),
        (Expect::Rows { .. }, Err(e)) => {
            Err(format!("unexpected error:\n{}", e.render(&case.query)))
        }
        (
            Expect::Rows {
                ids,
                sql,
                limit,
                warnings,
            },
            Ok(q),
        ) => {
            let got_warnings: Vec<String> =
                q.warnings.iter().map(|w| w.message().to_string()).collect();
            if got_warnings != *warnings {
                return Err(format!(
                    "warnings differ: want {warnings:#?}, got {got_warnings:#?}"
                ));
            }
            if q.limit != *limit {
                return Err(format!("limit differs: want {limit:?}, got {:?}", q.limit));
            }
            let rendered = q.to_sql();
            if let Some(sql) = sql.as_ref().filter(|s| **s != rendered) {
                return Err(format!("sql differs:\n  want {sql}\n  got  {rendered}"));
            }
            let df = ctx.table("entries").await.map_err(|e| e.to_string())?;
            let df = df
                .filter(q.to_expr())
                .and_then(|d| d.select_columns(&["id"]))
                .map_err(|e| format!("DataFusion: {e}"))?;
            let by_expr = ids_of(&df.collect().await.map_err(|e| format!("DataFusion: {e}"))?);
            let statement = format!("SELECT id FROM entries WHERE {rendered}");
            let by_sql = match ctx.sql(&statement).await {
                Ok(df) => ids_of(
                    &df.collect()
                        .await
                        .map_err(|e| format!("SQL `{statement}`: {e}"))?,
                ),
                Err(e) => return Err(format!("SQL `{statement}`: {e}")),
            };
            if by_expr != *ids || by_sql != *ids {
                return Err(format!(
                    "ids differ: want {ids:?}, Expr gave {by_expr:?}, SQL `{rendered}` gave {by_sql:?}"
                ));
            }
            Ok(())
        }
    }
}

#[tokio::test]
async fn conformance() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(slt_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no .slt files in {}",
        slt_dir().display()
    );
    let (mut passed, mut failures) = (0usize, Vec::new());
    for path in &paths {
        let file = parse_file(path);
        let mut contexts: HashMap<String, SessionContext> = HashMap::new();
        for (name, fx) in &file.fixtures {
            let ctx = SessionContext::new();
            ctx.register_batch("entries", build_batch(fx)).unwrap();
            contexts.insert(name.clone(), ctx);
        }
        let empty = SessionContext::new();
        empty
            .register_batch(
                "entries",
                build_batch(&Fixture {
                    columns: vec![],
                    rows: vec![],
                }),
            )
            .unwrap();
        for case in &file.cases {
            let ctx = contexts.get(&case.fixture).unwrap_or(&empty);
            match run_case(ctx, case).await {
                Ok(()) => passed += 1,
                Err(msg) => failures.push(format!(
                    "{}:{} [{}] {}\n{msg}",
                    case.file, case.line, case.label, case.query
                )),
            }
        }
    }
    println!(
        "kfl conformance: {passed} cases passed in {} files",
        paths.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        passed + failures.len(),
        failures.join("\n\n")
    );
}
