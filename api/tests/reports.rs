//! Scheduled reports end to end: `faultline report run` writes the default report, whose
//! content matches SQL over the analytic views of the same store; runs are pruned to `keep`;
//! and under `faultline serve` a report scheduled every 2 s appears on disk and over the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
mod support;

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use faultline::reports::output::{RunDoc, Section};
use faultline::reports::run::{BY_KIND, NEW_KINDS, TOP_DESTINATIONS};
use faultline_engine::{Engine, EngineConfig};
use serde_json::Value;

fn faultline(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// A generated capture (with injected errors) at `<d>/g.pcap`.
fn generate(d: &Path) {
    let out = faultline(
        &[
            "generate",
            "--out",
            "g.pcap",
            "--packets",
            "4000",
            "--seed",
            "5",
        ],
        d,
    );
    assert!(out.status.success(), "{out:?}");
}

async fn sql_section(engine: &Engine, sql: &str) -> Section {
    let batches = engine
        .query_sql(sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    Section::from_batches("sql", &batches).unwrap()
}

fn read_doc(path: &Path) -> RunDoc {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn section<'a>(doc: &'a RunDoc, title: &str) -> &'a Section {
    doc.sections.iter().find(|s| s.title == title).unwrap()
}

fn json_runs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|e| e.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "json"));
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_default_report_matches_sql_and_keeps_the_last_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    let ingest = faultline(&["ingest", "g.pcap", "--data", "data"], d);
    assert!(ingest.status.success(), "{ingest:?}");

    let mut config = EngineConfig::new(d.join("data").to_string_lossy().into_owned());
    config.read_only = true;
    let engine = Engine::open(config).await.unwrap();
    let last = sql_section(
        &engine,
        "SELECT to_unixtime(max(\"timestamp\")) AS t FROM entries",
    )
    .await;
    let last = chrono::DateTime::from_timestamp(last.rows[0][0].as_i64().unwrap(), 0).unwrap();
    // Whole seconds: the last entry is before `last + 1 s`.
    let at = (last + chrono::Duration::seconds(1)).to_rfc3339();

    std::fs::write(
        d.join("faultline.toml"),
        "[[report]]\nname = \"default\"\nschedule = \"0 0 * * *\"\nkeep = 2\n",
    )
    .unwrap();
    let run = faultline(
        &[
            "report",
            "run",
            "default",
            "--data",
            "data",
            "--at",
            &at,
            "--config",
            "faultline.toml",
        ],
        d,
    );
    assert!(run.status.success(), "{run:?}");
    let printed = String::from_utf8(run.stdout).unwrap();
    let files: Vec<&str> = printed.lines().collect();
    assert_eq!(files.len(), 3, "{printed}");
    for ext in ["csv", "html", "json"] {
        assert!(
            files
                .iter()
                .any(|f| f.ends_with(ext) && d.join(f).is_file()),
            "{printed}"
        );
    }
    let json = files.iter().find(|f| f.ends_with(".json")).unwrap();
    let doc = read_doc(&d.join(json));
    assert!(doc.previous_run.is_none());

    // The window ends 1 s after the last entry and spans 24 h: it holds the whole capture
    // (generated within one day), so the views over all days must agree.
    let by_kind = sql_section(
        &engine,
        "SELECT kind, error_type, detail, sum(errors) AS errors FROM error_counts_per_minute \
         GROUP BY 1, 2, 3 ORDER BY errors DESC, kind, error_type, detail",
    )
    .await;
    let got = section(&doc, BY_KIND);
    assert!(!got.rows.is_empty(), "the generated capture has errors");
    assert_eq!(got.rows, by_kind.rows);
    let top = sql_section(
        &engine,
        "SELECT transport, dst_ip, dst_port, failing_entries FROM top_failing_destinations \
         ORDER BY failing_entries DESC, transport, dst_ip, dst_port LIMIT 10",
    )
    .await;
    let got = section(&doc, TOP_DESTINATIONS);
    let got_rows: Vec<Vec<Value>> = got
        .rows
        .iter()
        .map(|r| {
            ["transport", "dst_ip", "dst_port", "failing_entries"]
                .iter()
                .map(|c| got.value(r, c).cloned().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(got_rows, top.rows);
    // First run: every kind is new.
    assert_eq!(section(&doc, NEW_KINDS).rows.len(), by_kind.rows.len());
    let chart_total: u64 = doc.timeline.iter().map(|p| p.count).sum();
    let errors_total: u64 = by_kind.rows.iter().map(|r| r[3].as_u64().unwrap()).sum();
    assert_eq!(chart_total, errors_total);
    let html =
        std::fs::read_to_string(d.join(files.iter().find(|f| f.ends_with(".html")).unwrap()))
            .unwrap();
    assert!(html.contains("<svg") && html.contains("<table>"));

    // Later runs: nothing new; only the last two runs are kept.
    let mut later = Vec::new();
    for secs in [2, 3] {
        let at = (last + chrono::Duration::seconds(secs)).to_rfc3339();
        let run = faultline(
            &[
                "report",
                "run",
                "default",
                "--data",
                "data",
                "--at",
                &at,
                "--config",
                "faultline.toml",
            ],
            d,
        );
        assert!(run.status.success(), "{run:?}");
        later.push(String::from_utf8(run.stdout).unwrap());
    }
    let runs = json_runs(&d.join("data/reports/default"));
    assert_eq!(runs.len(), 2, "{runs:?}");
    let newest = read_doc(runs.last().unwrap());
    assert!(newest.previous_run.is_some());
    assert!(section(&newest, NEW_KINDS).rows.is_empty());
    let files = std::fs::read_dir(d.join("data/reports/default"))
        .unwrap()
        .count();
    assert_eq!(files, 6, "three formats of two runs");

    // A SQL report: `{from}` and `{to}` are the window's bounds.
    std::fs::write(
        d.join("sql.toml"),
        "[[report]]\nname = \"by-type\"\nschedule = \"0 * * * *\"\nwindow = \"1h\"\n\
         formats = [\"csv\"]\nsql = \"SELECT error_type, count(*) AS n FROM entries WHERE \
         kfl('error') AND \\\"timestamp\\\" >= {from} AND \\\"timestamp\\\" < {to} \
         GROUP BY 1 ORDER BY 1\"\n",
    )
    .unwrap();
    let first = sql_section(
        &engine,
        "SELECT to_unixtime(min(\"timestamp\")) AS t FROM entries",
    )
    .await;
    let first = chrono::DateTime::from_timestamp(first.rows[0][0].as_i64().unwrap(), 0).unwrap();
    // A window that ends 30 s into the capture holds only part of it.
    let cut = first + chrono::Duration::seconds(30);
    let run = faultline(
        &[
            "report",
            "run",
            "by-type",
            "--data",
            "data",
            "--config",
            "sql.toml",
            "--at",
            &cut.to_rfc3339(),
        ],
        d,
    );
    assert!(run.status.success(), "{run:?}");
    let doc = read_doc(&json_runs(&d.join("data/reports/by-type"))[0]);
    let expected = sql_section(
        &engine,
        &format!(
            "SELECT error_type, count(*) AS n FROM entries WHERE kfl('error') AND \
             to_unixtime(\"timestamp\") < {} GROUP BY 1 ORDER BY 1",
            cut.timestamp()
        ),
    )
    .await;
    assert!(!expected.rows.is_empty());
    assert_eq!(doc.sections[0].rows, expected.rows);
    assert_eq!(doc.sections[0].title, "result");

    let bad = faultline(&["report", "run", "../x", "--data", "data"], d);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid report name"));
    assert!(!d.join("data/x").exists() && !d.join("x").exists());
}

/// `faultline serve` with the config, until dropped (then killed).
struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(d: &Path) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "serve",
            "--data",
            "data",
            "--listen",
            "127.0.0.1:0",
            "--pcap",
            "g.pcap",
            "--config",
            "faultline.toml",
        ])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = support::next_url(&mut BufReader::new(child.stdout.take().unwrap()))
        .trim_end_matches('/')
        .to_string();
    Serve { child, base }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_report_appears_on_disk_and_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(d);
    std::fs::write(
        d.join("faultline.toml"),
        "[[report]]\nname = \"errors-2s\"\nschedule = \"*/2 * * * * *\"\nkfl = \"error\"\n\
         window = \"36500days\"\nformats = [\"json\", \"html\"]\nkeep = 3\n",
    )
    .unwrap();
    let server = serve(d);
    let client = reqwest::Client::new();
    let reports_dir = d.join("data/reports/errors-2s");

    // Runs every 2 s: within 20 s one has run after the capture was ingested.
    let deadline = Instant::now() + Duration::from_secs(20);
    let doc = loop {
        let found = json_runs(&reports_dir)
            .last()
            .map(|p| read_doc(p))
            .filter(|doc| !doc.sections[0].rows.is_empty());
        if let Some(doc) = found {
            break doc;
        }
        assert!(
            Instant::now() < deadline,
            "no run with entries in {reports_dir:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(doc.report, "errors-2s");
    assert!(reports_dir.join(format!("{}.html", doc.run)).is_file());
    assert!(!reports_dir.join(format!("{}.csv", doc.run)).exists());
    let error_type = doc.sections[0]
        .columns
        .iter()
        .position(|c| c == "error_type")
        .unwrap();
    assert!(
        doc.sections[0]
            .rows
            .iter()
            .all(|r| !r[error_type].is_null()),
        "kfl `error` only"
    );

    let (status, _, body) = get(&client, &format!("{}/api/reports", server.base)).await;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["errors-2s", "default"]);
    let mine = &list["reports"][0];
    assert!(
        mine["last_run"].is_string() && mine["next_run"].is_string(),
        "{mine}"
    );
    assert!(
        mine["runs"].as_array().unwrap().len() <= 3,
        "keep = 3: {mine}"
    );

    let url = format!("{}/api/reports/errors-2s?run={}", server.base, doc.run);
    let (status, ct, body) = get(&client, &url).await;
    assert_eq!((status, ct.as_str()), (200, "application/json"), "{body}");
    assert_eq!(serde_json::from_str::<RunDoc>(&body).unwrap(), doc);
    let (status, ct, body) = get(&client, &format!("{url}&format=html")).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html") && body.contains("<svg"), "{ct}");
    let (status, _, _) = get(&client, &format!("{url}&format=csv")).await;
    assert_eq!(status, 404, "csv is not among this report's formats");
    let (status, _, body) = get(&client, &format!("{}/api/reports/errors-2s", server.base)).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<RunDoc>(&body).unwrap().run >= doc.run);

    // Run now: the default report, over the server's engine.
    let r = client
        .post(format!("{}/api/reports/default/run", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let made: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let run = made["run"].as_str().unwrap();
    assert!(d.join(format!("data/reports/default/{run}.csv")).is_file());
    let (status, ct, _) = get(
        &client,
        &format!("{}/api/reports/default?run={run}&format=csv", server.base),
    )
    .await;
    assert_eq!((status, ct.starts_with("text/csv")), (200, true));

    // Error cases.
    for (path, want) in [
        ("/api/reports/nope", 404),
        ("/api/reports/..%2F..%2Fetc", 400),
        ("/api/reports/errors-2s?run=..%2Fx", 400),
        ("/api/reports/errors-2s?run=20000101T000000.000Z", 404),
        ("/api/reports/errors-2s?format=pdf", 400),
    ] {
        let (status, _, body) = get(&client, &format!("{}{path}", server.base)).await;
        assert_eq!(status, want, "{path}: {body}");
    }
    let r = client
        .post(format!("{}/api/reports/nope/run", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    drop(server);
}
