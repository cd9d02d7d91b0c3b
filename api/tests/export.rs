//! Pcap export end to end: `faultline ingest` of a real capture records its raw packets,
//! `faultline export-pcap --q error` writes those of the error flows, and `GET /api/pcap`
//! serves the same through a real TCP socket. tshark must read both files without a warning,
//! in time order, with as many packets as the `flows` table counts for those flows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use faultline::pcap_export::recorder_dir;
use faultline::server::{AppState, IngestQueue, IngestSource, JobState, Metrics};
use faultline_engine::{Engine, EngineConfig};
use faultline_ingest::pipeline::PipelineConfig;
use faultline_ingest::recorder::{Recorder, RecorderConfig};
use futures::TryStreamExt;
use serde_json::Value;

const CAPTURE: &str = "http__zeek_1000-requests-one-dropped-response.pcap";
const SECOND: &str = "rst__http-client-refuse_ppa1e.pcap";

/// The captures directory, or `None` (skip) when it is missing outside CI.
fn pcaps() -> Option<PathBuf> {
    let dir = std::env::var_os("FAULTLINE_PCAPS").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/pcaps")),
        PathBuf::from,
    );
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} missing",
        dir.display()
    );
    eprintln!("skipping: {} missing", dir.display());
    None
}

/// True when tshark runs; under CI its absence fails the test.
fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "tshark not found");
        eprintln!("skipping the tshark checks: tshark not found");
    }
    ok
}

/// Packet times tshark reads from `file`; asserts it says nothing on stderr but the notice
/// about running as root, and that the times are in order.
fn tshark_times(file: &Path) -> Vec<f64> {
    let out = Command::new("tshark")
        .args([
            "-r",
            file.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.lines().all(|l| l.starts_with("Running as user")),
        "tshark: {stderr}"
    );
    let times: Vec<f64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "out of order");
    times
}

fn faultline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .unwrap()
}

/// Packets of the flows with an error entry, as the `flows` table counts them.
async fn error_flow_packets(engine: &Engine) -> (i64, i64) {
    let sql = "SELECT count(*) AS flows, sum(orig_pkts + resp_pkts) AS packets FROM flows \
               WHERE flow_id IN (SELECT flow_id FROM entries WHERE kfl('error'))";
    let batches: Vec<_> = engine
        .query_sql(sql)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let value = |name: &str| {
        let c = batches[0].column_by_name(name).unwrap();
        let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Int64).unwrap();
        c.as_primitive::<Int64Type>().value(0)
    };
    (value("flows"), value("packets"))
}

#[test]
fn export_pcap_command() {
    let Some(pcaps) = pcaps() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    let captures = [pcaps.join(CAPTURE), pcaps.join(SECOND)];
    let mut args = vec!["ingest", "--data", data_s];
    args.extend(captures.iter().map(|p| p.to_str().unwrap()));
    let out = faultline(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pcap = dir.path().join("errors.pcap");
    let out = faultline(&[
        "export-pcap",
        "--data",
        data_s,
        "--q",
        "error",
        "--out",
        pcap.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (flows, packets) = runtime.block_on(async {
        let mut config = EngineConfig::new(data_s.to_owned());
        config.read_only = true;
        error_flow_packets(&Engine::open(config).await.unwrap()).await
    });
    assert!(flows >= 3 && packets > flows, "{flows} {packets}");
    assert!(
        stdout.contains(&format!("wrote {packets} packets of {flows} flows")),
        "{stdout}"
    );
    assert!(!stdout.contains("no retained packets"), "{stdout}");
    if have_tshark() {
        assert_eq!(tshark_times(&pcap).len() as i64, packets);
    }

    // An invalid query is refused with its place, before anything is written.
    let bad = dir.path().join("bad.pcap");
    let out = faultline(&[
        "export-pcap",
        "--data",
        data_s,
        "--q",
        "tcp and (",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!bad.exists());

    // With --no-record nothing is kept, and the export says which flows have no packets.
    let other = dir.path().join("other");
    let other_s = other.to_str().unwrap();
    let out = faultline(&[
        "ingest",
        "--no-record",
        "--data",
        other_s,
        captures[1].to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(!recorder_dir(&other).exists());
    std::fs::create_dir_all(recorder_dir(&other)).unwrap();
    let out = faultline(&[
        "export-pcap",
        "--data",
        other_s,
        "--q",
        "error",
        "--out",
        bad.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("wrote 0 packets of 0 flows"), "{stdout}");
    assert!(
        stdout.contains("flows have no retained packets"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcap_endpoint() {
    let Some(pcaps) = pcaps() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let engine = Engine::open(EngineConfig::new(data.to_string_lossy().into_owned()))
        .await
        .unwrap();
    let recorder = Recorder::open(&recorder_dir(&data), RecorderConfig::default()).unwrap();
    let pipeline = PipelineConfig {
        recorder: Some(recorder.clone()),
        ..PipelineConfig::default()
    };
    let metrics = Metrics::new(engine.clone());
    let (queue, _worker) = IngestQueue::start(engine.clone(), pipeline, metrics.clone()).unwrap();
    let state = AppState::new(engine.clone(), Default::default(), metrics, queue.clone());
    let (_, done) = queue
        .submit(IngestSource::Files(vec![pcaps.join(CAPTURE)]))
        .unwrap();
    assert_eq!(done.await.unwrap().state, JobState::Done);

    let support::Running { addr, stop, task } = support::serve(&state, axum::Router::new()).await;
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();

    // No recorder handed to the server yet: 503.
    let r = get("/api/pcap?q=error").await.unwrap();
    assert_eq!(r.status(), 503);
    state.set_recorder(recorder);

    let r = get("/api/pcap?q=error").await.unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert_eq!(headers["content-type"], "application/vnd.tcpdump.pcap");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"faultline-"),
        "{disposition}"
    );
    assert!(disposition.ends_with(".pcap\""), "{disposition}");
    let body = r.bytes().await.unwrap();
    let (flows, packets) = error_flow_packets(&engine).await;
    assert!(flows >= 1 && packets > 1, "{flows} {packets}");
    assert_eq!(headers["x-faultline-flows"], flows.to_string().as_str());
    assert_eq!(headers["x-faultline-packets"], packets.to_string().as_str());
    let file = dir.path().join("http.pcap");
    std::fs::write(&file, &body).unwrap();
    if have_tshark() {
        assert_eq!(tshark_times(&file).len() as i64, packets);
    }

    // Invalid KFL: 400 with the place of the error.
    let r = get("/api/pcap?q=tcp%20and%20response.stauts%20%3D%3D%205")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_kfl");
    assert_eq!(body["position"]["column"], 9);
    // A malformed time: 400.
    let r = get("/api/pcap?from=yesterday-ish").await.unwrap();
    assert_eq!(r.status(), 400);
    // No query, a time range that holds nothing: an empty but valid capture.
    let r = get("/api/pcap?from=2000-01-01&to=2000-01-02")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-faultline-packets"], "0");
    assert_eq!(r.bytes().await.unwrap().len(), 24);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    queue.stop();
    engine.close().await.unwrap();
}
