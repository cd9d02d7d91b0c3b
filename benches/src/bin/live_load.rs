//! Live-stream load test of a running `faultline serve`: opens many concurrent
//! `GET /api/live?q=<kfl>` Server-Sent Event subscribers, waits until every one is `ready`,
//! then uploads a capture through `POST /api/ingest?wait=false` and follows the job in
//! `GET /api/ingest` (the ingest runs while the subscribers read). It reports how many entries
//! each subscriber got (and how many the server dropped for it as `lagged`), the delivered
//! entries per second, the latency of each subscriber's first entry after the upload was
//! queued (the ingest's start) and the lag of its last one after the ingest ended.
//!
//! `live_load --url http://127.0.0.1:8899 --subscribers 200 --capture big.pcap`
//! (`benches/scripts/api_load.sh` runs it against a 10 M-entry store.)

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::Barrier;

/// How often a quiet subscriber checks whether it is done.
const POLL: Duration = Duration::from_millis(200);
/// How often the ingest job is polled.
const JOB_POLL: Duration = Duration::from_millis(20);
/// How long the subscribers may take to be `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Arguments.
#[derive(Debug, Parser)]
#[command(about = "many live subscribers on faultline serve while a capture is ingested")]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8899")]
    url: String,
    /// Concurrent subscribers.
    #[arg(long, default_value_t = 200)]
    subscribers: usize,
    /// KFL filter of every subscriber.
    #[arg(long, default_value = "response.status > 400 or error or icmp or tcp")]
    query: String,
    /// Capture to upload while the subscribers listen.
    #[arg(long)]
    capture: PathBuf,
    /// A subscriber is done once it has every matching entry, or has heard nothing for this
    /// long after the ingest ended, seconds.
    #[arg(long, default_value_t = 30.0)]
    quiet: f64,
}

/// What one subscriber saw, times relative to the moment the upload was queued.
#[derive(Debug, Default, Clone)]
struct Seen {
    entries: u64,
    dropped: u64,
    first: Option<Duration>,
    last: Option<Duration>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let capture = tokio::fs::read(&args.capture)
        .await
        .with_context(|| format!("reading {}", args.capture.display()))?;
    let name = format!("live-load-{}", std::process::id());

    // Every subscriber and the uploader meet here once all streams are `ready`.
    let ready = Arc::new(Barrier::new(args.subscribers + 1));
    let start = Arc::new(tokio::sync::OnceCell::<Instant>::new());
    let ingest_end = Arc::new(tokio::sync::OnceCell::<Instant>::new());
    let expected = Arc::new(tokio::sync::OnceCell::<u64>::new());
    let mut tasks = Vec::with_capacity(args.subscribers);
    for _ in 0..args.subscribers {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/live", args.url),
            [("q", args.query.as_str())],
        )?;
        let sub = Subscriber {
            client: client.clone(),
            ready: ready.clone(),
            start: start.clone(),
            ingest_end: ingest_end.clone(),
            expected: expected.clone(),
            quiet: Duration::from_secs_f64(args.quiet),
        };
        tasks.push(tokio::spawn(sub.run(url)));
    }
    tokio::time::timeout(READY_TIMEOUT, ready.wait())
        .await
        .context("the subscribers were not all ready in time")?;
    println!("{} subscribers ready", args.subscribers);

    let uploading = Instant::now();
    let upload = client
        .post(format!("{}/api/ingest?wait=false&name={name}", args.url))
        .body(capture)
        .send()
        .await?;
    let status = upload.status();
    let job: Value = serde_json::from_slice(&upload.bytes().await?)?;
    let t0 = Instant::now();
    start.set(t0).ok();
    if !status.is_success() {
        bail!("upload failed: {status} {job}");
    }
    println!(
        "upload of {} MiB queued in {:.2} s",
        args.capture.metadata().map(|m| m.len() >> 20).unwrap_or(0),
        uploading.elapsed().as_secs_f64()
    );
    let id = job["id"]
        .as_u64()
        .with_context(|| format!("no job id in {job}"))?;
    wait_for_job(&client, &args.url, id).await?;
    let ingest_secs = t0.elapsed();
    ingest_end.set(Instant::now()).ok();
    let count = matching_count(&client, &args, &name).await?;
    expected.set(count).ok();

    let mut seen = Vec::with_capacity(tasks.len());
    for t in tasks {
        seen.push(t.await??);
    }
    report(&seen, count, ingest_secs);
    Ok(())
}

/// Polls `GET /api/ingest` until job `id` is done.
async fn wait_for_job(client: &reqwest::Client, url: &str, id: u64) -> anyhow::Result<()> {
    loop {
        let bytes = client
            .get(format!("{url}/api/ingest"))
            .send()
            .await?
            .bytes()
            .await?;
        let jobs: Value = serde_json::from_slice(&bytes)?;
        let job = jobs
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["id"].as_u64() == Some(id)))
            .with_context(|| format!("job {id} is not listed"))?;
        match job["state"].as_str() {
            Some("done") => return Ok(()),
            Some("failed") => bail!("the ingest failed: {job}"),
            _ => tokio::time::sleep(JOB_POLL).await,
        }
    }
}

/// Entries of the uploaded capture that match the filter, counted with SQL.
async fn matching_count(client: &reqwest::Client, args: &Args, name: &str) -> anyhow::Result<u64> {
    let kfl = args.query.replace('\'', "''");
    let sql = format!(
        "SELECT count(*) AS n FROM entries WHERE capture_source = '{name}' AND kfl('{kfl}')"
    );
    let bytes = client
        .post(format!("{}/api/sql?format=json", args.url))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "sql": sql }).to_string())
        .send()
        .await?
        .bytes()
        .await?;
    let body: Value = serde_json::from_slice(&bytes)?;
    let n = &body["rows"][0]["n"];
    n.as_u64()
        .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
        .with_context(|| format!("no count in {body}"))
}

/// One SSE subscriber.
struct Subscriber {
    client: reqwest::Client,
    ready: Arc<Barrier>,
    start: Arc<tokio::sync::OnceCell<Instant>>,
    ingest_end: Arc<tokio::sync::OnceCell<Instant>>,
    expected: Arc<tokio::sync::OnceCell<u64>>,
    quiet: Duration,
}

impl Subscriber {
    /// Reads the stream until it has been quiet for `quiet` after the ingest ended.
    async fn run(self, url: reqwest::Url) -> anyhow::Result<Seen> {
        let response = self.client.get(url).send().await?;
        if !response.status().is_success() {
            bail!("live stream refused: {}", response.status());
        }
        let mut body = response.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        let mut seen = Seen::default();
        let mut event = String::new();
        let mut is_ready = false;
        let mut heard = Instant::now();
        loop {
            if self
                .expected
                .get()
                .is_some_and(|&n| seen.entries + seen.dropped >= n)
            {
                break;
            }
            let chunk = match tokio::time::timeout(POLL, body.next()).await {
                Err(_) => {
                    let ended = self.ingest_end.get().is_some_and(|end| {
                        end.elapsed() >= self.quiet && heard.elapsed() >= self.quiet
                    });
                    if ended {
                        break;
                    }
                    continue;
                }
                Ok(None) => break,
                Ok(Some(chunk)) => chunk?,
            };
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end();
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_owned();
                } else if let Some(data) = line.strip_prefix("data:") {
                    match event.as_str() {
                        "ready" if !is_ready => {
                            is_ready = true;
                            self.ready.wait().await;
                        }
                        "entry" => {
                            // Only events count: keep-alive comments arrive every 15 s.
                            heard = Instant::now();
                            let at = self.start.get().map(|t| t.elapsed()).unwrap_or_default();
                            seen.first.get_or_insert(at);
                            seen.last = Some(at);
                            seen.entries += 1;
                        }
                        "lagged" => {
                            let v: Value = serde_json::from_str(data.trim()).unwrap_or_default();
                            seen.dropped += v["dropped_rows"].as_u64().unwrap_or(0);
                        }
                        "error" => bail!("the stream failed: {data}"),
                        _ => {}
                    }
                }
            }
        }
        Ok(seen)
    }
}

/// The `p`-th percentile (0–100) of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn report(seen: &[Seen], expected: u64, ingest: Duration) {
    let total: u64 = seen.iter().map(|s| s.entries).sum();
    let dropped: u64 = seen.iter().map(|s| s.dropped).sum();
    let complete = seen.iter().filter(|s| s.entries == expected).count();
    let span = seen
        .iter()
        .filter_map(|s| s.last)
        .max()
        .unwrap_or_default()
        .as_secs_f64()
        .max(1e-9);
    let per_sub = sorted(seen.iter().map(|s| s.entries as f64).collect());
    let first = sorted(
        seen.iter()
            .filter_map(|s| s.first)
            .map(|d| d.as_secs_f64() * 1e3)
            .collect(),
    );
    let lag = sorted(
        seen.iter()
            .filter_map(|s| s.last)
            .map(|d| (d.as_secs_f64() - ingest.as_secs_f64()) * 1e3)
            .collect(),
    );
    println!(
        "ingest (queued to finished job)      {:.2} s",
        ingest.as_secs_f64()
    );
    println!("matching entries in the capture      {expected}");
    println!(
        "subscribers with every entry         {complete} of {}",
        seen.len()
    );
    println!(
        "entries per subscriber               min {} / median {} / max {}",
        percentile(&per_sub, 0.0),
        percentile(&per_sub, 50.0),
        percentile(&per_sub, 100.0)
    );
    println!("dropped for slow clients (lagged)    {dropped}");
    println!("delivered entries, all subscribers   {total}");
    println!(
        "delivered entries/s                  {:.0} (over {span:.2} s from the ingest's start)",
        total as f64 / span
    );
    println!(
        "first entry after ingest start, ms   p50 {:.0} / p99 {:.0}",
        percentile(&first, 50.0),
        percentile(&first, 99.0)
    );
    println!(
        "last entry after ingest end, ms      p50 {:.0} / p99 {:.0} / max {:.0}",
        percentile(&lag, 50.0),
        percentile(&lag, 99.0),
        percentile(&lag, 100.0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_sorted_values() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
