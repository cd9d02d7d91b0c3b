//! The README's first command, `faultline serve --data <dir>` with no capture, through a real
//! socket: on an empty store it generates the demo capture, ingests it in the background and
//! prints a dashboard link whose seed query finds errors; on a store that has data it ingests
//! nothing more; `--no-demo` starts empty.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
mod support;

use std::io::BufReader;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// How long the background ingest of the demo capture may take.
const INGEST_WAIT: Duration = Duration::from_secs(120);

/// A `faultline serve` child, sent SIGTERM (and waited for) when dropped.
struct Served {
    child: Child,
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    base: String,
    /// The dashboard link the command printed.
    dashboard: String,
    _stdout: BufReader<ChildStdout>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts `faultline serve --listen 127.0.0.1:0 --data <data> <extra>` and reads the two
    /// lines it prints: the address, then the dashboard link.
    fn start(data: &Path, extra: &[&str]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env_remove("FAULTLINE_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let base = support::next_url(&mut stdout)
            .trim_end_matches('/')
            .to_owned();
        let dashboard = support::next_url(&mut stdout);
        Served {
            child,
            base,
            dashboard,
            _stdout: stdout,
        }
    }

    async fn json(&self, path_and_query: &str) -> (u16, Value) {
        let r = reqwest::get(format!("{}{path_and_query}", self.base))
            .await
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_slice(&r.bytes().await.unwrap()).unwrap(),
        )
    }

    /// The ingest jobs once none is queued or running.
    async fn settled_jobs(&self) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + INGEST_WAIT;
        loop {
            let (status, jobs) = self.json("/api/ingest").await;
            assert_eq!(status, 200, "{jobs}");
            let jobs = jobs.as_array().unwrap().clone();
            if jobs
                .iter()
                .all(|j| j["state"] != "queued" && j["state"] != "running")
            {
                return jobs;
            }
            assert!(tokio::time::Instant::now() < deadline, "{jobs:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The seed query of a dashboard link.
fn seed_query(link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no q in {link}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_capture_serves_the_demo_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("faultline-data");
    let served = Served::start(&data, &[]);
    assert!(
        served
            .dashboard
            .starts_with(&format!("{}/?q=", served.base))
    );
    let q = seed_query(&served.dashboard);
    assert_eq!(q, "response.status > 400 or error or icmp or tcp");

    let jobs = served.settled_jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["state"], "done", "{jobs:?}");
    assert!(data.join("demo.pcap").is_file());

    // The page the link opens, and the rows its query shows: errors of several kinds.
    let page = reqwest::get(&served.dashboard).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"kfl\""));
    let encoded: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let (status, body) = served
        .json(&format!(
            "/api/entries?q={encoded}&limit=100000&format=json"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let rows = body["rows"].as_array().unwrap();
    let errors: Vec<&Value> = rows.iter().filter(|r| !r["error_type"].is_null()).collect();
    assert!(errors.len() > 10, "{} error rows", errors.len());
    let mut kinds: Vec<&str> = errors.iter().filter_map(|r| r["kind"].as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in ["icmp", "tcp"] {
        assert!(kinds.contains(&kind), "no {kind} errors among {kinds:?}");
    }
    // The demo ends about when it was made: the dashboard's "last 15 min" shows its errors.
    let (_, recent) = served
        .json(&format!(
            "/api/entries?q={encoded}&from=now-15m&limit=100000&format=json"
        ))
        .await;
    assert_eq!(recent["rows"].as_array().unwrap().len(), rows.len());
    let (_, summary) = served.json("/api/errors/summary").await;
    assert!(
        !summary["buckets"].as_array().unwrap().is_empty(),
        "{summary}"
    );
    drop(served);

    // Started again on the same store: the data is there, nothing is ingested twice.
    let again = Served::start(&data, &[]);
    assert!(again.settled_jobs().await.is_empty());
    let (_, body) = again
        .json(&format!(
            "/api/entries?q={encoded}&limit=100000&format=json"
        ))
        .await;
    assert_eq!(body["rows"].as_array().unwrap().len(), rows.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_demo_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let served = Served::start(&data, &["--no-demo"]);
    assert!(served.settled_jobs().await.is_empty());
    let (status, body) = served.json("/api/entries?format=json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["row_count"], 0);
    assert!(!data.join("demo.pcap").exists());
}
