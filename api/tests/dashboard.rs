//! The dashboard through a real TCP socket: `/` serves the page with its stylesheet and script
//! inlined, `/?q=<KFL>` serves the same page (the script applies the query), the token guards
//! the page like the API and `?access_token=` opens it, and the API calls the page makes
//! answer in the shapes the script reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
mod support;

use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::Path;

use faultline::server::{self, AppState, IngestQueue, IngestSource, JobState, ServerConfig};
use faultline_engine::{Engine, EngineConfig};
use faultline_ingest::pipeline::PipelineConfig;
use faultline_ingest::recorder::{Recorder, RecorderConfig};
use serde_json::{Value, json};

/// A server on 127.0.0.1:0 with the dashboard routes, stopped when dropped.
struct TestServer {
    addr: SocketAddr,
    client: reqwest::Client,
    queue: IngestQueue,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Writes a small generated capture with injected errors to `path`.
fn generate(path: &Path, seed: u64) {
    let cfg = faultline_ingest::generate::Config {
        seed,
        target_packets: 3000,
        ..Default::default()
    };
    let out = BufWriter::new(std::fs::File::create(path).unwrap());
    faultline_ingest::generate::write_capture(&cfg, out, std::io::sink()).unwrap();
}

impl TestServer {
    async fn start(token: Option<&str>, ingest: bool) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let engine = Engine::open(EngineConfig::new(data.to_string_lossy().into_owned()))
            .await
            .unwrap();
        let metrics = server::Metrics::new(engine.clone());
        let (queue, _worker) =
            IngestQueue::start(engine.clone(), PipelineConfig::default(), metrics.clone()).unwrap();
        let config = ServerConfig {
            token: token.map(str::to_owned),
            limits: server::Limits::default(),
            upload_dir: None,
        };
        let state = AppState::new(engine, config, metrics, queue.clone());
        // A recorder, so that the detail pane offers the flow's packets.
        let recorder =
            Recorder::open(&dir.path().join("recorder"), RecorderConfig::default()).unwrap();
        state.set_recorder(recorder);
        let support::Running { addr, stop, .. } =
            support::serve(&state, server::dashboard::routes()).await;
        let s = TestServer {
            addr,
            client: reqwest::Client::new(),
            queue,
            dir,
            _stop: stop,
        };
        if ingest {
            s.ingest(11).await;
        }
        s
    }

    /// Generates a capture with `seed` and ingests it, waiting for the job to finish.
    async fn ingest(&self, seed: u64) {
        let capture = self.dir.path().join(format!("gen-{seed}.pcap"));
        generate(&capture, seed);
        let (_, done) = self
            .queue
            .submit(IngestSource::Files(vec![capture]))
            .unwrap();
        assert_eq!(done.await.unwrap().state, JobState::Done);
    }

    async fn get(&self, path_and_query: &str) -> reqwest::Response {
        let url = format!("http://{}{path_and_query}", self.addr);
        self.client.get(url).send().await.unwrap()
    }

    /// `GET path` as JSON, with its status.
    async fn get_json(&self, path_and_query: &str) -> (u16, Value) {
        json_of(self.get(path_and_query).await).await
    }

    /// `GET path` expecting the dashboard page; returns its text.
    async fn page(&self, path_and_query: &str) -> String {
        let r = self.get(path_and_query).await;
        assert_eq!(r.status(), 200, "{path_and_query}");
        let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ctype.starts_with("text/html"), "{ctype}");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        r.text().await.unwrap()
    }
}

/// A response's status and JSON body.
async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// The page as served is the HTML skeleton with the embedded stylesheet and script in it.
fn assert_is_dashboard(page: &str) {
    let css = include_str!("../src/server/dashboard/style.css");
    let js = concat!(
        include_str!("../src/server/dashboard/core.js"),
        include_str!("../src/server/dashboard/kfl_box.js"),
        include_str!("../src/server/dashboard/entries.js"),
        include_str!("../src/server/dashboard/panels.js"),
        include_str!("../src/server/dashboard/app.js"),
    );
    assert!(page.starts_with("<!doctype html>"), "{}", &page[..40]);
    assert!(page.contains(&format!("<style>{css}</style>")));
    assert!(page.contains(&format!("<script>{js}</script>")));
    for id in [
        "kfl",
        "kfl-error",
        "viewport",
        "detail",
        "chart",
        "favourites",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    // The script reads these endpoints and the `q` parameter.
    for needle in [
        "/api/entries",
        "/api/kfl/check",
        "/api/live",
        "/api/errors/summary",
        "pageParams.get(\"q\")",
    ] {
        assert!(js.contains(needle), "the script lacks {needle}");
    }
}

#[tokio::test]
async fn root_serves_the_page_with_its_assets() {
    let s = TestServer::start(None, false).await;
    let page = s.page("/").await;
    assert_is_dashboard(&page);
    // Unknown paths still get the API's JSON 404, not the page.
    let (status, body) = s.get_json("/no/such/page").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn a_query_in_the_url_serves_the_same_page_without_echoing_it() {
    let s = TestServer::start(None, false).await;
    let plain = s.page("/").await;
    let q = "/?q=%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E%20or%20error";
    let with_query = s.page(q).await;
    assert_eq!(plain, with_query);
    assert!(!with_query.contains("alert(1)"));
}

#[tokio::test]
async fn the_token_guards_the_page_and_access_token_opens_it() {
    let s = TestServer::start(Some("s3cret"), false).await;
    assert_eq!(s.get("/").await.status(), 401);
    assert_eq!(s.get("/?q=error&access_token=wrong").await.status(), 401);
    assert_is_dashboard(&s.page("/?q=error&access_token=s3cret").await);
    // What the script sends: a bearer header on fetches, `access_token` on EventSource.
    let url = format!("http://{}/api/errors/summary", s.addr);
    let r = s
        .client
        .get(url)
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_api_calls_of_the_page_answer_what_it_reads() {
    let s = TestServer::start(None, true).await;
    let (status, body) = s
        .get_json("/api/entries?q=error&limit=1000&order=desc&format=json")
        .await;
    assert_eq!(status, 200, "{body}");
    let rows = body["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    for field in ["id", "timestamp", "kind", "src_ip", "dst_ip", "summary"] {
        assert!(
            rows[0].get(field).is_some(),
            "rows lack {field}: {}",
            rows[0]
        );
    }
    let id = rows[0]["id"].as_str().unwrap();
    let (_, detail) = s.get_json(&format!("/api/entries/{id}")).await;
    assert_eq!(detail["entry"]["id"], json!(id));

    let (_, summary) = s.get_json("/api/errors/summary").await;
    let buckets = summary["buckets"].as_array().unwrap();
    assert!(!buckets.is_empty());
    assert!(buckets[0]["start"].is_string() && buckets[0]["counts"].is_object());
    assert!(summary["totals"].is_object());

    let r = s
        .client
        .post(format!("http://{}/api/kfl/check", s.addr))
        .header("content-type", "application/json")
        .body(json!({"q": "src.port == "}).to_string())
        .send()
        .await
        .unwrap();
    let (status, err) = json_of(r).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_kfl");
    for key in ["line", "column", "start", "end"] {
        assert!(err["position"][key].is_u64(), "{err}");
    }
}

/// The page in headless Chromium, driven over the DevTools protocol (a WebSocket, so no
/// WebDriver is needed): the query from the URL is applied, rows render, live entries arrive,
/// a row opens the detail pane, the chart draws and a bad query shows its error position.
/// Skips when Chromium is missing (`$FAULTLINE_CHROMIUM`, default `chromium`) unless `CI` is set.
mod browser {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use futures::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;

    use super::TestServer;

    type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    /// How long a condition on the page may take to hold.
    const WAIT: Duration = Duration::from_secs(20);

    /// A headless Chromium with one page attached, killed when dropped.
    struct Browser {
        child: Child,
        ws: Socket,
        session: String,
        next_id: u64,
        _profile: tempfile::TempDir,
    }

    impl Drop for Browser {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Browser {
        /// Starts Chromium on `url`, or `None` (after saying why) when it is not installed.
        async fn open(url: &str) -> Option<Browser> {
            let binary = std::env::var("FAULTLINE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
            let profile = tempfile::tempdir().unwrap();
            let spawned = Command::new(&binary)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--window-size=1400,900",
                    "--remote-debugging-port=0",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg("about:blank")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn();
            let mut child = match spawned {
                Ok(c) => c,
                Err(e) if std::env::var_os("CI").is_none() => {
                    eprintln!("skipping the browser test: cannot run {binary}: {e}");
                    return None;
                }
                Err(e) => panic!("CI is set and {binary} cannot run: {e}"),
            };
            let stderr = child.stderr.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(ws) = line.strip_prefix("DevTools listening on ") {
                        let _ = tx.send(ws.trim().to_owned());
                    }
                }
            });
            let endpoint = rx
                .recv_timeout(WAIT)
                .expect("Chromium printed no DevTools address");
            let (ws, _) = tokio_tungstenite::connect_async(endpoint).await.unwrap();
            let mut b = Browser {
                child,
                ws,
                session: String::new(),
                next_id: 0,
                _profile: profile,
            };
            let target = b.call("Target.createTarget", json!({ "url": url })).await;
            let attached = b
                .call(
                    "Target.attachToTarget",
                    json!({ "targetId": target["targetId"], "flatten": true }),
                )
                .await;
            b.session = attached["sessionId"].as_str().unwrap().to_owned();
            Some(b)
        }

        /// Sends one DevTools command (to the page once attached) and returns its result.
        async fn call(&mut self, method: &str, params: Value) -> Value {
            self.next_id += 1;
            let id = self.next_id;
            let mut msg = json!({ "id": id, "method": method, "params": params });
            if !self.session.is_empty() {
                msg["sessionId"] = json!(self.session);
            }
            self.ws.send(Message::text(msg.to_string())).await.unwrap();
            loop {
                let frame = tokio::time::timeout(WAIT, self.ws.next())
                    .await
                    .expect("DevTools did not answer")
                    .unwrap()
                    .unwrap();
                let Ok(text) = frame.into_text() else {
                    continue;
                };
                let reply: Value = serde_json::from_str(&text).unwrap();
                if reply["id"] == json!(id) {
                    assert!(reply.get("error").is_none(), "{method}: {reply}");
                    return reply["result"].clone();
                }
            }
        }

        /// The value of a JavaScript expression on the page.
        async fn eval(&mut self, expression: &str) -> Value {
            let r = self
                .call(
                    "Runtime.evaluate",
                    json!({ "expression": expression, "returnByValue": true }),
                )
                .await;
            assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
            r["result"]["value"].clone()
        }

        /// Waits until `expression` is truthy on the page (an exception, as while a page
        /// loads, counts as not yet); panics with `what` after [`WAIT`].
        async fn wait_for(&mut self, expression: &str, what: &str) {
            let start = Instant::now();
            while start.elapsed() < WAIT {
                let probe = format!(
                    "(() => {{ try {{ return !!({expression}); }} catch (_) {{ return false; }} }})()"
                );
                let v = self.eval(&probe).await;
                if v == json!(true) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let status = self
                .eval("document.getElementById('status').textContent")
                .await;
            panic!("timed out waiting for {what} (status: {status})");
        }
    }

    /// Rows in the table's DOM (only the visible ones exist).
    const ROWS: &str = "document.querySelectorAll('#rows .row[data-id]').length";
    /// The entry count the status line reports.
    const COUNT: &str = "(parseInt(document.getElementById('status').textContent, 10) || 0)";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_page_works_in_a_real_browser() {
        let s = TestServer::start(None, true).await;
        let url = format!("http://{}/?q=error", s.addr);
        let Some(mut b) = Browser::open(&url).await else {
            return;
        };
        b.wait_for(&format!("{ROWS} > 5"), "rows of the initial query")
            .await;
        assert_eq!(
            b.eval("document.getElementById('kfl').value").await,
            json!("error")
        );
        b.wait_for(
            "document.getElementById('status').textContent.includes('live')",
            "live",
        )
        .await;
        let before = b.eval(COUNT).await.as_u64().unwrap();
        let visible = b.eval(ROWS).await.as_u64().unwrap();
        assert!(
            visible < before.max(60),
            "{visible} rows in the DOM for {before} entries"
        );
        // Every row matches the query: each one has an error type.
        let untyped = "Array.from(document.querySelectorAll('#rows .row[data-id]'))\
                       .filter(r => r.children[4].textContent === '').length";
        assert_eq!(b.eval(untyped).await, json!(0));

        sorting(&mut b).await;
        time_range(&mut b).await;
        let before = b.eval(COUNT).await.as_u64().unwrap();

        // Paused, live entries wait; resumed, they show.
        b.eval("document.getElementById('pause').click()").await;
        s.ingest(12).await;
        b.wait_for("state.pending.length > 0", "live entries while paused")
            .await;
        assert_eq!(b.eval(COUNT).await.as_u64().unwrap(), before);
        assert!(
            b.eval("document.getElementById('status').textContent")
                .await
                .as_str()
                .unwrap()
                .contains("paused")
        );
        b.eval("document.getElementById('pause').click()").await;
        b.wait_for(&format!("{COUNT} > {before}"), "live entries")
            .await;

        b.eval("document.querySelector('#rows .row[data-id]').click()")
            .await;
        b.wait_for(
            "!document.getElementById('detail').hidden && \
             document.getElementById('detail-body').textContent.includes('error_type')",
            "the detail pane",
        )
        .await;
        let pcap = b
            .eval("decodeURIComponent(document.getElementById('pcap-link').getAttribute('href'))")
            .await;
        assert!(
            pcap.as_str()
                .unwrap()
                .starts_with("/api/pcap?q=flow_id+==+"),
            "{pcap}"
        );
        b.wait_for(
            "document.querySelectorAll('#chart rect').length > 0",
            "the chart",
        )
        .await;
        b.wait_for(
            "document.querySelectorAll('#services .svc').length > 0",
            "the top failing services",
        )
        .await;

        // A burst of 12 000 live entries: the table keeps the newest 10 000 and only the
        // visible rows in the DOM.
        let burst = "(() => { const t0 = performance.now(); \
                     for (let i = 0; i < 12000; i++) state.pending.push({ id: String(1e9 + i), \
                       timestamp: '2024-01-01T00:00:00Z', kind: 'tcp', error_type: 'connection', \
                       src_ip: '10.0.0.1', src_port: i, dst_ip: '10.0.0.2', dst_port: 80, \
                       summary: 'burst ' + i }); \
                     flushPending(); render(); \
                     const ms = performance.now() - t0; \
                     const v = document.getElementById('viewport'); \
                     const t1 = performance.now(); \
                     for (let k = 1; k <= 50; k++) { v.scrollTop = k * 4000; render(); } \
                     return [ms, (performance.now() - t1) / 50]; })()";
        let times = b.eval(burst).await;
        eprintln!(
            "12 000 entries flushed and rendered in {} ms; a scrolled render takes {} ms",
            times[0], times[1]
        );
        // Sorted by time, a second of 1000 new entries over 10 000 rows stays in a frame or so.
        let sorted_burst = "(() => { setSort(0); const t0 = performance.now(); \
                     for (let i = 0; i < 1000; i++) state.pending.push({ id: String(2e9 + i), \
                       timestamp: '2024-01-01T00:00:0' + (i % 10) + 'Z', kind: 'tcp', \
                       error_type: 'connection', src_ip: '10.0.0.3', src_port: i, \
                       dst_ip: '10.0.0.2', dst_port: 80, summary: 'sorted ' + i }); \
                     flushPending(); render(); const ms = performance.now() - t0; \
                     const sorted = state.view.every((r, i, a) => \
                       i === 0 || sortKey(a[i - 1], 0)[0] <= sortKey(r, 0)[0]); \
                     setSort(0); setSort(0); return [ms, sorted, state.view.length]; })()";
        let sorted = b.eval(sorted_burst).await;
        eprintln!(
            "1000 entries merged into 10 000 rows sorted by time in {} ms",
            sorted[0]
        );
        assert_eq!(sorted[1], json!(true));
        assert_eq!(sorted[2], json!(10_000));
        assert_eq!(b.eval(COUNT).await, json!(10_000));
        assert!(b.eval(ROWS).await.as_u64().unwrap() < 200);
        assert_eq!(
            b.eval("document.querySelector('#rows .row[data-id]') !== null")
                .await,
            json!(true)
        );

        let bad = format!("http://{}/?q=src.port%20%3D%3D", s.addr);
        b.call("Page.navigate", json!({ "url": bad })).await;
        b.wait_for(
            "!document.getElementById('kfl-error').hidden && \
             document.getElementById('kfl-error').textContent.includes('^')",
            "the KFL error position",
        )
        .await;
        suggestions_and_fixes(&mut b, &s).await;
    }

    /// Clicking a column header sorts ascending, then descending, then back to newest first.
    async fn sorting(b: &mut Browser) {
        let head = "document.querySelector('#head span[data-col=\"3\"]')";
        let in_order = |dir: &str| {
            format!(
                "state.view.every((r, i, a) => i === 0 || \
                 compareRows(a[i - 1], r) <= 0) && {head}.classList.contains('{dir}') && \
                 document.querySelector('#rows .row[data-id]').dataset.id === String(state.view[0].id)"
            )
        };
        b.eval(&format!("{head}.click()")).await;
        b.wait_for(&in_order("asc"), "rows sorted by destination, ascending")
            .await;
        // The smallest destination first ascending is the last one descending.
        let first_asc = b.eval("JSON.stringify(sortKey(state.view[0], 3))").await;
        b.eval(&format!("{head}.click()")).await;
        b.wait_for(&in_order("desc"), "rows sorted by destination, descending")
            .await;
        let last = b
            .eval("JSON.stringify(sortKey(state.view[state.view.length - 1], 3))")
            .await;
        assert_eq!(first_asc, last);
        b.eval(&format!("{head}.click()")).await;
        b.wait_for(
            &format!("state.sort === null && state.view === state.rows && !{head}.className"),
            "the default order",
        )
        .await;
    }

    /// The time range picker narrows the table and the chart and goes into the URL.
    async fn time_range(b: &mut Browser) {
        let pick = |value: &str| {
            format!(
                "(() => {{ const r = document.getElementById('range'); r.value = '{value}'; \
                 r.dispatchEvent(new Event('change')); }})()"
            )
        };
        // The generated capture is from 2024: nothing in the last 15 minutes.
        b.eval(&pick("now-15m")).await;
        b.wait_for(
            &format!(
                "{COUNT} === 0 && document.getElementById('status').textContent.includes('live') \
                 && location.search.includes('from=now-15m')"
            ),
            "an empty last 15 minutes",
        )
        .await;
        b.eval(
            "document.getElementById('from').value = '2023-12-31T00:00:00'; \
             document.getElementById('to').value = '2024-01-02T00:00:00'",
        )
        .await;
        b.eval(&pick("custom")).await;
        b.wait_for(
            &format!(
                "{COUNT} > 5 && !document.getElementById('status').textContent.includes('live') \
                 && location.search.includes('to=2024-01-02T00%3A00%3A00Z')"
            ),
            "a custom range with rows and no live stream",
        )
        .await;
        b.eval(&pick("")).await;
        b.wait_for(
            &format!(
                "{COUNT} > 5 && document.getElementById('status').textContent.includes('live') \
                 && !location.search.includes('from=')"
            ),
            "all time again, live",
        )
        .await;
    }

    /// Typing a field prefix lists completions; a misspelt field offers its fix as a button.
    async fn suggestions_and_fixes(b: &mut Browser, s: &TestServer) {
        b.eval(
            "(() => { const k = document.getElementById('kfl'); k.focus(); \
             k.value = 'response.st'; k.setSelectionRange(11, 11); \
             k.dispatchEvent(new Event('input')); })()",
        )
        .await;
        b.wait_for(
            "!document.getElementById('kfl-suggest').hidden && \
             document.getElementById('kfl-suggest').textContent.includes('response.status')",
            "field completions",
        )
        .await;
        let misspelt = format!("http://{}/?q=response.stauts%20%3E%20400", s.addr);
        b.call("Page.navigate", json!({ "url": misspelt })).await;
        b.wait_for(
            "document.querySelector('#kfl-fix button') !== null && \
             document.querySelector('#kfl-fix button').textContent === 'response.status'",
            "the suggested fix",
        )
        .await;
        b.eval("document.querySelector('#kfl-fix button').click()")
            .await;
        b.wait_for(
            "document.getElementById('kfl').value === 'response.status > 400' && \
             document.getElementById('kfl-error').hidden && \
             location.search.includes('response.status')",
            "the fixed query applied",
        )
        .await;
    }
}
