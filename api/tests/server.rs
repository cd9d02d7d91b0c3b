//! The HTTP API through a real TCP socket: every endpoint in every format, the error cases,
//! the bearer token, live entries over SSE and WebSocket after an upload, and the binary's
//! `serve` command from start to SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
mod support;

use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use faultline::server::{
    AppState, IngestQueue, IngestSource, JobState, Limits, Metrics, ServerConfig,
};
use faultline_engine::{Engine, EngineConfig, KflQuery};
use faultline_ingest::pipeline::PipelineConfig;
use futures::StreamExt;
use serde_json::{Value, json};

/// Packets in the generated capture.
const PACKETS: u64 = 4000;

/// Writes a generated capture with injected errors to `path`.
fn generate(path: &Path, seed: u64) {
    let cfg = faultline_ingest::generate::Config {
        seed,
        target_packets: PACKETS,
        ..Default::default()
    };
    let out = BufWriter::new(std::fs::File::create(path).unwrap());
    faultline_ingest::generate::write_capture(&cfg, out, std::io::sink()).unwrap();
}

/// A server on 127.0.0.1:0 over its own store, with one generated capture ingested.
struct TestServer {
    addr: SocketAddr,
    state: AppState,
    dir: tempfile::TempDir,
    capture: PathBuf,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

#[derive(Default)]
struct Options {
    token: Option<String>,
    limits: Limits,
    engine: Option<fn(&mut EngineConfig)>,
    ingest: bool,
}

impl TestServer {
    async fn start(opts: Options) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let capture = dir.path().join("gen.pcap");
        generate(&capture, 7);
        let data = dir.path().join("data");
        let mut config = EngineConfig::new(data.to_string_lossy().into_owned());
        if let Some(tweak) = opts.engine {
            tweak(&mut config);
        }
        let engine = Engine::open(config).await.unwrap();
        let metrics = Metrics::new(engine.clone());
        let (queue, _worker) =
            IngestQueue::start(engine.clone(), PipelineConfig::default(), metrics.clone()).unwrap();
        let state = AppState::new(
            engine,
            ServerConfig {
                token: opts.token,
                limits: opts.limits,
                upload_dir: Some(data.join("_faultline").join("uploads")),
            },
            metrics,
            queue.clone(),
        );
        if opts.ingest {
            let (_, done) = queue
                .submit(IngestSource::Files(vec![capture.clone()]))
                .unwrap();
            let status = done.await.unwrap();
            assert_eq!(status.state, JobState::Done, "{status:?}");
            assert!(status.entries > 0);
        }
        let support::Running { addr, stop, task } =
            support::serve(&state, axum::Router::new()).await;
        TestServer {
            addr,
            state,
            dir,
            capture,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn ingested() -> TestServer {
        TestServer::start(Options {
            ingest: true,
            ..Options::default()
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_slice(&r.bytes().await.unwrap()).unwrap(),
        )
    }

    async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    fn engine(&self) -> &Engine {
        self.state.engine()
    }

    /// What the engine itself answers for a KFL query (the reference for the API).
    async fn kfl_rows(&self, kfl: &str) -> Vec<RecordBatch> {
        let q = KflQuery {
            kfl: kfl.into(),
            limit: None,
            ..KflQuery::default()
        };
        self.engine()
            .query_kfl(&q)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    }

    async fn sql_count(&self, sql: &str) -> i64 {
        let batches = self
            .engine()
            .query_sql(sql)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let col = batches[0].column(0);
        arrow::compute::cast(col, &arrow::datatypes::DataType::Int64)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap()
            .value(0)
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the server stops")
                .unwrap()
                .unwrap();
        }
        self.state.ingest().stop();
        self.state.engine().clone().close().await.unwrap();
    }
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn ids_of(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let ids = b
            .column_by_name("id")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::UInt64Array>()
            .unwrap();
        out.extend(ids.values().iter().map(|v| v.to_string()));
    }
    out
}

fn error_code(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_in_every_format() {
    let s = TestServer::ingested().await;
    let kfl = "error or icmp";
    let want = s.kfl_rows(kfl).await;
    let want_ids = ids_of(&want);
    assert!(want_ids.len() > 10, "the capture has errors");
    let base = "/api/entries?q=error%20or%20icmp";
    let q = &format!("{base}&limit=100000");

    // JSON: column metadata, every row, ids as strings, in time order.
    let (status, doc) = s.get_json(q).await;
    assert_eq!(status, 200);
    let columns: Vec<&str> = doc["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns[..3], ["id", "timestamp", "kind"]);
    assert_eq!(doc["columns"][0]["type"], "UInt64");
    assert_eq!(doc["row_count"], want_ids.len());
    let got_ids: Vec<&str> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(got_ids, want_ids);
    for r in doc["rows"].as_array().unwrap() {
        assert!(r["error_type"].is_string() || r["kind"] == "icmp", "{r}");
        assert!(r.as_object().unwrap().contains_key("response_status"));
    }

    // NDJSON, chosen by Accept.
    let r = s
        .client
        .get(s.url(q))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let nd_ids: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(nd_ids, want_ids);

    // CSV: header and one line per row, flat columns only.
    let r = s.get(&format!("{q}&format=csv")).await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = r.text().await.unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(header[0], "id");
    assert!(!header.contains(&"request_headers"));
    // Parsed as CSV, not counted as lines: body prefixes may hold quoted newlines.
    let format = arrow::csv::reader::Format::default().with_header(true);
    let (schema, _) = format
        .infer_schema(std::io::Cursor::new(text.as_bytes()), None)
        .unwrap();
    let csv_rows: usize = arrow::csv::ReaderBuilder::new(std::sync::Arc::new(schema))
        .with_format(format)
        .build(std::io::Cursor::new(text.as_bytes()))
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(csv_rows, want_ids.len());

    // Arrow IPC stream: the full schema and every row.
    let r = s
        .client
        .get(s.url(q))
        .header("accept", "application/vnd.apache.arrow.stream")
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert!(schema.index_of("request_headers").is_ok());
    assert_eq!(ids_of(&batches), want_ids);

    // limit, order and time bounds.
    let (_, doc) = s.get_json(&format!("{base}&limit=5&order=desc")).await;
    let rows_desc = doc["rows"].as_array().unwrap();
    assert_eq!(rows_desc.len(), 5);
    let times: Vec<&str> = rows_desc
        .iter()
        .map(|r| r["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let mid = doc["rows"][2]["timestamp"].as_str().unwrap().to_owned();
    let (_, doc) = s.get_json(&format!("{q}&from={}", urlencode(&mid))).await;
    let after = doc["rows"].as_array().unwrap();
    assert!(after.len() >= 3 && after.len() < want_ids.len());
    assert!(
        after
            .iter()
            .all(|r| r["timestamp"].as_str().unwrap() >= mid.as_str())
    );
    let (_, doc) = s.get_json(&format!("{q}&to={}", urlencode(&mid))).await;
    assert_eq!(
        doc["row_count"].as_u64().unwrap() + after.len() as u64,
        want_ids.len() as u64
    );

    // Default limit: 1000 rows of everything.
    let (_, doc) = s.get_json("/api/entries").await;
    let all = s.sql_count("SELECT count(*) FROM entries").await;
    assert_eq!(doc["row_count"].as_i64().unwrap(), all.min(1000));
    s.shutdown().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_entry_with_its_flow() {
    let s = TestServer::ingested().await;
    let (_, doc) = s.get_json("/api/entries?q=tcp&limit=1").await;
    let row = &doc["rows"][0];
    let id = row["id"].as_str().unwrap();
    let (status, one) = s.get_json(&format!("/api/entries/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["entry"], *row);
    assert_eq!(one["flow"]["flow_id"], row["flow_id"]);
    assert!(one["flow"]["start"].is_string());
    assert_eq!(one["pcap"], false, "this server records no packets");

    let (status, body) = s.get_json("/api/entries/1").await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    let (status, body) = s.get_json("/api/entries/abc").await;
    assert_eq!((status, error_code(&body)), (400, "bad_request"));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kfl_check_and_kfl_errors() {
    let s = TestServer::start(Options::default()).await;
    let r = s
        .post_json(
            "/api/kfl/check",
            &json!({"q": "tcp or http and response.status == 200"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json_value().await;
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["tree"]["node"], "logic");
    assert_eq!(doc["tree"]["op"], "or");
    assert!(doc["outline"].as_str().unwrap().contains("or"));
    let w = &doc["warnings"][0];
    assert!(w["message"].as_str().unwrap().contains("binds tighter"));
    assert_eq!(w["position"]["line"], 1);
    assert!(
        doc["sql"]
            .as_str()
            .unwrap()
            .starts_with("SELECT * FROM entries WHERE ")
    );
    assert!(
        doc["sql"]
            .as_str()
            .unwrap()
            .contains("response_status = 200")
    );

    let r = s
        .post_json(
            "/api/kfl/check",
            &json!({"q": "tcp and\n  response.stauts == 5"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json_value().await;
    assert_eq!(error_code(&body), "invalid_kfl");
    assert_eq!(body["position"]["line"], 2);
    assert_eq!(body["position"]["column"], 3);
    assert!(body["help"].as_str().unwrap().contains("response.status"));

    // The same error from the entries endpoint, and from a live stream, before any data.
    let (status, body) = s
        .get_json("/api/entries?q=response.stauts%20%3D%3D%205")
        .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_kfl"));
    assert_eq!(body["position"]["column"], 1);
    let (status, body) = s.get_json("/api/live?q=(tcp").await;
    assert_eq!((status, error_code(&body)), (400, "invalid_kfl"));

    // Malformed bodies.
    let r = s
        .client
        .post(s.url("/api/kfl/check"))
        .header("content-type", "application/json")
        .body("{\"kfl\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.json_value().await), "bad_request");
    s.shutdown().await;
}

/// `reqwest` without its `json` feature: parse the body with serde_json.
trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_in_every_format_and_refusals() {
    let s = TestServer::ingested().await;
    let sql = "SELECT kind, count(*) AS n FROM entries GROUP BY kind ORDER BY kind";
    let r = s.post_json("/api/sql", &json!({ "sql": sql })).await;
    assert_eq!(r.status(), 200);
    let doc = r.json_value().await;
    let total: i64 = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["n"].as_i64().unwrap())
        .sum();
    assert_eq!(total, s.sql_count("SELECT count(*) FROM entries").await);
    assert_eq!(
        doc["columns"][1],
        json!({"name": "n", "type": "Int64", "nullable": false})
    );
    let kinds = doc["row_count"].as_u64().unwrap();

    for (format, check) in [("ndjson", 0usize), ("csv", 1), ("arrow", 2)] {
        let r = s
            .post_json(&format!("/api/sql?format={format}"), &json!({ "sql": sql }))
            .await;
        assert_eq!(r.status(), 200, "{format}");
        let bytes = r.bytes().await.unwrap();
        let n = match check {
            0 => std::str::from_utf8(&bytes).unwrap().lines().count(),
            1 => std::str::from_utf8(&bytes).unwrap().lines().count() - 1,
            _ => {
                let reader =
                    arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
                        .unwrap();
                reader.map(|b| b.unwrap().num_rows()).sum()
            }
        };
        assert_eq!(n as u64, kinds, "{format}");
    }

    // The views and kfl() are there.
    let r = s
        .post_json(
            "/api/sql",
            &json!({"sql": "SELECT sum(errors) AS n FROM error_counts_per_minute"}),
        )
        .await;
    let n = r.json_value().await["rows"][0]["n"].as_i64().unwrap();
    assert_eq!(
        n,
        s.sql_count("SELECT count(*) FROM entries WHERE kfl('error or icmp')")
            .await
    );

    for (bad, code) in [
        ("DROP TABLE entries", "invalid_sql"),
        ("SELECT 1; SELECT 2", "invalid_sql"),
        ("SELECT nope FROM entries", "invalid_sql"),
        ("SELECT * FROM entries WHERE kfl('tcp and')", "invalid_sql"),
    ] {
        let r = s.post_json("/api/sql", &json!({ "sql": bad })).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(error_code(&r.json_value().await), code, "{bad}");
    }
    let r = s
        .post_json("/api/sql?format=xml", &json!({ "sql": sql }))
        .await;
    assert_eq!(r.status(), 400);
    let r = s
        .client
        .post(s.url("/api/sql"))
        .header("accept", "image/png")
        .header("content-type", "application/json")
        .body(json!({ "sql": sql }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    assert_eq!(error_code(&r.json_value().await), "not_acceptable");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_become_statuses() {
    let limits = Limits {
        max_result_rows: 5,
        max_body_bytes: 1024,
        ..Limits::default()
    };
    let s = TestServer::start(Options {
        ingest: true,
        limits,
        ..Options::default()
    })
    .await;
    // Over the row limit while the result still fits the head: an exact status.
    let r = s
        .post_json(
            "/api/sql",
            &json!({"sql": "SELECT id FROM entries LIMIT 6"}),
        )
        .await;
    assert_eq!(r.status(), 507);
    assert_eq!(error_code(&r.json_value().await), "result_too_large");
    let r = s
        .post_json(
            "/api/sql",
            &json!({"sql": "SELECT id FROM entries LIMIT 5"}),
        )
        .await;
    assert_eq!(r.json_value().await["row_count"], 5);
    let (status, body) = s.get_json("/api/entries?limit=6").await;
    assert_eq!((status, error_code(&body)), (400, "bad_request"));
    let (_, body) = s.get_json("/api/entries").await;
    assert_eq!(body["row_count"], 5);
    let r = s
        .post_json(
            "/api/sql",
            &json!({"sql": format!("SELECT '{}'", "x".repeat(2000))}),
        )
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(error_code(&r.json_value().await), "payload_too_large");
    s.shutdown().await;

    // Past the head, the body is cut: the client sees a broken transfer, not a short result.
    let s = TestServer::start(Options {
        ingest: true,
        limits: Limits {
            head_bytes: 64,
            ..limits
        },
        ..Options::default()
    })
    .await;
    let r = s
        .client
        .post(s.url("/api/sql?format=ndjson"))
        .header("content-type", "application/json")
        .body(json!({"sql": "SELECT * FROM entries"}).to_string())
        .send()
        .await;
    // Depending on how soon the server notices, the head may not even have been sent.
    if let Ok(r) = r {
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.is_err(), "the body must be aborted");
    }
    s.shutdown().await;

    // The engine's time and memory limits.
    let s = TestServer::start(Options {
        ingest: true,
        engine: Some(|c| c.query_limits.timeout = Duration::from_millis(1)),
        ..Options::default()
    })
    .await;
    let heavy = "SELECT a.id FROM entries a CROSS JOIN entries b CROSS JOIN entries c ORDER BY 1";
    let r = s.post_json("/api/sql", &json!({ "sql": heavy })).await;
    assert_eq!(r.status(), 504);
    assert_eq!(error_code(&r.json_value().await), "timeout");
    s.shutdown().await;
    let s = TestServer::start(Options {
        ingest: true,
        engine: Some(|c| c.query_limits.memory_bytes = 64 << 10),
        ..Options::default()
    })
    .await;
    let r = s
        .post_json(
            "/api/sql",
            &json!({"sql": "SELECT * FROM entries ORDER BY summary, id"}),
        )
        .await;
    assert_eq!(r.status(), 507);
    assert_eq!(error_code(&r.json_value().await), "memory_limit");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_summary_matches_sql() {
    let s = TestServer::ingested().await;
    let (status, doc) = s.get_json("/api/errors/summary").await;
    assert_eq!(status, 200, "{doc}");
    let totals = doc["totals"].as_object().unwrap();
    for (kind, n) in totals {
        let want = s
            .sql_count(&format!(
                "SELECT count(*) FROM entries WHERE kfl('error or icmp') AND kind = '{kind}'"
            ))
            .await;
        assert_eq!(n.as_i64().unwrap(), want, "{kind}");
    }
    let all: i64 = totals.values().map(|v| v.as_i64().unwrap()).sum();
    assert_eq!(
        all,
        s.sql_count("SELECT count(*) FROM entries WHERE kfl('error or icmp')")
            .await
    );
    let bucketed: i64 = doc["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["counts"].as_object().unwrap().values())
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(bucketed, all);
    assert_eq!(doc["bucket_seconds"], 60);
    let (from, to) = (doc["from"].as_str().unwrap(), doc["to"].as_str().unwrap());
    for b in doc["buckets"].as_array().unwrap() {
        let start = b["start"].as_str().unwrap();
        assert!(from <= start && start < to, "{start} outside {from}..{to}");
        assert!(start.ends_with(":00Z"), "{start}");
    }
    let top = &doc["top_destinations"][0];
    let want = s
        .sql_count(&format!(
            "SELECT count(*) FROM entries WHERE kfl('error') AND transport = '{}' \
             AND dst_ip = '{}' AND dst_port {}",
            top["transport"].as_str().unwrap(),
            top["dst_ip"].as_str().unwrap(),
            top["dst_port"]
                .as_u64()
                .map_or("IS NULL".to_owned(), |p| format!("= {p}"))
        ))
        .await;
    assert_eq!(top["errors"].as_i64().unwrap(), want);
    assert!(!doc["top_sources"].as_array().unwrap().is_empty());
    let services = doc["services"].as_array().unwrap();
    assert!(!services.is_empty());
    for svc in services {
        assert!(
            svc["service"].is_string() && svc["errors"].as_i64().unwrap() > 0,
            "{svc}"
        );
    }

    // An explicit window and bucket: a subset.
    let from = doc["from"].as_str().unwrap().to_owned();
    let (status, part) = s
        .get_json(&format!(
            "/api/errors/summary?from={}&to={}&bucket=1h",
            urlencode(&from),
            urlencode(doc["to"].as_str().unwrap())
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(part["bucket_seconds"], 3600);
    assert_eq!(part["totals"], doc["totals"]);
    // Only the parts asked for are computed and returned.
    let (status, chart) = s
        .get_json("/api/errors/summary?parts=buckets,services")
        .await;
    assert_eq!(status, 200, "{chart}");
    assert_eq!(
        (&chart["totals"], &chart["services"], &chart["buckets"]),
        (&doc["totals"], &doc["services"], &doc["buckets"])
    );
    assert!(chart.get("top_destinations").is_none() && chart.get("top_sources").is_none());
    let (_, tops) = s.get_json("/api/errors/summary?parts=top_sources").await;
    assert_eq!(tops["top_sources"], doc["top_sources"]);
    assert!(tops.get("buckets").is_none() && tops.get("services").is_none());
    for bad in [
        "parts=",
        "parts=totals",
        "bucket=30s",
        "bucket=x",
        "from=yesterday",
        "from=2024-01-02&to=2024-01-01",
    ] {
        let (status, body) = s.get_json(&format!("/api/errors/summary?{bad}")).await;
        assert_eq!((status, error_code(&body)), (400, "bad_request"), "{bad}");
    }
    s.shutdown().await;
}

/// Reads SSE events (name, data) from a streaming response until `until` says stop.
async fn read_events(
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    mut until: impl FnMut(&str, &str) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = "message";
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n;
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if !block.starts_with(':') && until(name, &data) {
                return;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events in time")
            .expect("the stream stays open")
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn upload(s: &TestServer, body: Vec<u8>, query: &str) -> reqwest::Response {
    s.client
        .post(s.url(&format!("/api/ingest{query}")))
        .header("content-type", "application/vnd.tcpdump.pcap")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_live_entries_over_sse_and_websocket() {
    let s = TestServer::start(Options::default()).await;
    // Both streams subscribe before anything is stored.
    let r = s.get("/api/live?q=error").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut sse = r.bytes_stream();
    let mut buf = String::new();
    read_events(&mut sse, &mut buf, |name, data| {
        assert_eq!(name, "ready");
        assert_eq!(
            serde_json::from_str::<Value>(data).unwrap()["warnings"],
            json!([])
        );
        true
    })
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/live?q=icmp", s.addr))
        .await
        .unwrap();
    let first = ws.next().await.unwrap().unwrap().into_text().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&first).unwrap()["type"],
        "ready"
    );

    let r = upload(
        &s,
        std::fs::read(&s.capture).unwrap(),
        "?name=../up%20load.pcap",
    )
    .await;
    assert_eq!(r.status(), 200);
    let job = r.json_value().await;
    assert_eq!(job["state"], "done");
    assert_eq!(job["source"], "..upload.pcap");
    assert!(job["packets"].as_u64().unwrap() > PACKETS / 2);
    let errors = s
        .sql_count("SELECT count(*) FROM entries WHERE kfl('error')")
        .await;
    let icmp = s
        .sql_count("SELECT count(*) FROM entries WHERE kfl('icmp')")
        .await;
    assert!(errors > 0 && icmp > 0);

    let mut seen = Vec::new();
    read_events(&mut sse, &mut buf, |name, data| {
        assert_eq!(name, "entry", "{data}");
        let e: Value = serde_json::from_str(data).unwrap();
        assert!(e["error_type"].is_string(), "{e}");
        assert_eq!(e["capture_source"], "..upload.pcap");
        seen.push(e["id"].as_str().unwrap().to_owned());
        seen.len() as i64 == errors
    })
    .await;
    let mut ws_seen = 0;
    while ws_seen < icmp {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(&frame.into_text().unwrap()).unwrap();
        assert_eq!(v["type"], "entry", "{v}");
        assert_eq!(v["entry"]["kind"], "icmp");
        ws_seen += 1;
    }
    let metrics_doc = s.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics_doc.contains("faultline_live_streams{transport=\"sse\"} 1"),
        "{metrics_doc}"
    );
    assert!(metrics_doc.contains("faultline_live_streams{transport=\"websocket\"} 1"));

    // The upload's temporary file is gone; the job is listed.
    let uploads = s.dir.path().join("data/_faultline/uploads");
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 0);
    let (_, jobs) = s.get_json("/api/ingest").await;
    assert_eq!(jobs[0]["source"], "..upload.pcap");

    // Shutdown ends the open streams instead of waiting for them.
    s.shutdown().await;
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = sse.next().await {}
    })
    .await;
    assert!(rest.is_ok(), "the SSE stream ends at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_live_clients_get_lag_markers() {
    let s = TestServer::start(Options {
        limits: Limits {
            live_capacity_rows: 3,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let mut sse = s.get("/api/live").await.bytes_stream();
    let mut buf = String::new();
    read_events(&mut sse, &mut buf, |name, _| name == "ready").await;
    // Not reading while a whole capture is ingested: the queue overflows.
    let r = upload(&s, std::fs::read(&s.capture).unwrap(), "").await;
    assert_eq!(r.status(), 200);
    let total = s.sql_count("SELECT count(*) FROM entries").await;
    let (mut entries, mut dropped) = (0i64, 0i64);
    read_events(&mut sse, &mut buf, |name, data| {
        match name {
            "entry" => entries += 1,
            "lagged" => {
                let n = serde_json::from_str::<Value>(data).unwrap()["dropped_rows"]
                    .as_i64()
                    .unwrap();
                assert!(n > 0);
                dropped += n;
            }
            other => panic!("{other}: {data}"),
        }
        entries + dropped == total
    })
    .await;
    assert!(dropped > 0 && entries > 0, "{entries} {dropped}");
    let metrics = s.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(&format!("faultline_live_lagged_rows_total {dropped}")));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_limits_and_bad_captures() {
    let s = TestServer::start(Options {
        limits: Limits {
            max_upload_bytes: 1000,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let pcap = std::fs::read(&s.capture).unwrap();
    let r = upload(&s, pcap.clone(), "").await;
    assert_eq!(r.status(), 413);
    // The unread rest of the body ends the connection: the client is told not to reuse it.
    assert_eq!(r.headers()["connection"], "close");
    assert_eq!(error_code(&r.json_value().await), "payload_too_large");
    // Without a length up front (chunked), the limit applies while streaming.
    // Two chunks that together pass the limit (all sent before the server answers).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(pcap[..600].to_vec()), Ok(pcap[600..1100].to_vec())];
    let r = s
        .client
        .post(s.url("/api/ingest"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = upload(&s, b"this is not a capture".to_vec(), "").await;
    assert_eq!(r.status(), 400);
    assert!(
        r.json_value().await["message"]
            .as_str()
            .unwrap()
            .contains("ingested")
    );
    let r = upload(&s, Vec::new(), "").await;
    assert_eq!(r.status(), 400);
    let uploads = s.dir.path().join("data/_faultline/uploads");
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), 0);
    assert_eq!(s.sql_count("SELECT count(*) FROM entries").await, 0);

    // wait=false answers once queued.
    let s2 = TestServer::start(Options::default()).await;
    let r = upload(&s2, pcap, "?wait=false").await;
    assert_eq!(r.status(), 202);
    let id = r.json_value().await["id"].as_u64().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, jobs) = s2.get_json("/api/ingest").await;
        let job = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .cloned()
            .unwrap();
        if job["state"] == "done" {
            assert!(job["entries"].as_u64().unwrap() > 0);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.shutdown().await;
    s2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_guards_all_but_healthz() {
    let s = TestServer::start(Options {
        token: Some("s3cret+token".into()),
        ingest: true,
        ..Options::default()
    })
    .await;
    assert_eq!(s.get("/healthz").await.status(), 200);
    for path in [
        "/api/entries",
        "/metrics",
        "/api/openapi.json",
        "/api/live",
        "/nope",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(error_code(&r.json_value().await), "unauthorized");
    }
    let r = s
        .client
        .get(s.url("/api/entries"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .client
        .get(s.url("/api/entries?limit=1"))
        .bearer_auth("s3cret+token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .get("/api/entries?limit=1&access_token=s3cret%2Btoken")
        .await;
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .post(s.url("/api/ingest"))
        .body(std::fs::read(&s.capture).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_openapi() {
    let s = TestServer::ingested().await;
    let r = s.get("/healthz").await;
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "ok".into())
    );
    s.get("/api/entries?q=tcp").await.bytes().await.unwrap();
    let text = s.get("/metrics").await.text().await.unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    assert!(value("faultline_ingest_packets_total ") > (PACKETS / 2) as f64);
    assert!(value("faultline_ingest_frames_total ") >= value("faultline_ingest_packets_total "));
    let tcp = s
        .sql_count("SELECT count(*) FROM entries WHERE kind = 'tcp'")
        .await;
    assert_eq!(value("faultline_entries_total{kind=\"tcp\"} "), tcp as f64);
    let all = s.sql_count("SELECT count(*) FROM entries").await;
    assert!(value("faultline_engine_appended_rows_total ") as i64 >= all);
    assert_eq!(value("faultline_ingest_jobs_total{outcome=\"done\"} "), 1.0);
    assert!(
        text.contains(
            "faultline_http_request_duration_seconds_bucket{le=\"0.0005\",route=\"/api/entries\"}"
        ) || text.contains(
            "faultline_http_request_duration_seconds_bucket{route=\"/api/entries\",le=\"0.0005\"}"
        ),
        "{text}"
    );
    assert!(text.contains(
        "faultline_http_requests_total{route=\"/api/entries\",method=\"GET\",status=\"200\"} 1"
    ));
    assert!(text.ends_with("# EOF\n"));

    let (status, doc) = s.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/healthz",
        "/metrics",
        "/api/openapi.json",
        "/api/entries",
        "/api/entries/{id}",
        "/api/kfl/check",
        "/api/sql",
        "/api/live",
        "/api/errors/summary",
        "/api/ingest",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    let (status, body) = s.get_json("/api/nothing-here").await;
    assert_eq!(status, 404, "{body}");
    s.shutdown().await;
}

/// The binary: `faultline serve` ingests `--pcap` in the background, answers on the printed
/// address, ends an open live stream and exits 0 on SIGTERM with everything flushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_command_runs_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.pcap");
    generate(&capture, 11);
    let data = dir.path().join("data");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--pcap")
        .arg(&capture)
        .env_remove("FAULTLINE_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    // Kept open until the end: the child may still write to it.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let url = support::next_url(&mut stdout)
        .trim_end_matches('/')
        .to_owned();
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let jobs: Value = serde_json::from_slice(
            &client
                .get(format!("{url}/api/ingest"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        if jobs[0]["state"] == "done" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{jobs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body: Value = serde_json::from_slice(
        &client
            .get(format!("{url}/api/entries?q=error&limit=100000"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let served = body["row_count"].as_u64().unwrap();
    assert!(served > 0);
    let live = client.get(format!("{url}/api/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);

    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    drop(live);
    drop(stdout);

    // Everything was flushed: a fresh read-only engine sees the same entries.
    let mut config = EngineConfig::new(data.to_string_lossy().into_owned());
    config.read_only = true;
    let engine = Engine::open(config).await.unwrap();
    assert_eq!(engine.stats().live_rows, 0);
    let batches = engine
        .query_kfl(&KflQuery {
            kfl: "error".into(),
            ..KflQuery::default()
        })
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(rows(&batches) as u64, served);
}
