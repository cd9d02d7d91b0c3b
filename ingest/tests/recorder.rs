//! The traffic recorder on real captures: ingest with the recorder on, export the packets of
//! the flows that carry an error, and check the export with tshark: it reads without a
//! warning, in time order, and holds exactly the packets tshark finds in the original capture
//! for those flows' address/port pairs (and the packet counts of the `flows` table).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampMicrosecondType, UInt16Type, UInt64Type};
use faultline_ingest::pipeline::{Pipeline, PipelineConfig};
use faultline_ingest::recorder::{ExportFilter, Recorder, RecorderConfig, export_to_file};
use faultline_ingest::sink::MemorySink;
use faultline_schemas::{entry_col as ec, flow_col as fc};

/// The captures directory, or `None` (skip) when it is missing outside CI.
fn pcaps() -> Option<PathBuf> {
    let dir = std::env::var_os("FAULTLINE_PCAPS").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/pcaps")),
        PathBuf::from,
    );
    available(dir.is_dir().then_some(dir), "captures")
}

/// tshark, or `None` (skip) when it is not installed outside CI.
fn tshark() -> Option<PathBuf> {
    let found = Command::new("tshark")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("tshark"));
    available(found, "tshark")
}

fn available(found: Option<PathBuf>, what: &str) -> Option<PathBuf> {
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{what} not found");
        eprintln!("skipping: {what} not found");
    }
    found
}

/// Runs tshark; returns the stdout lines and asserts stderr says nothing but the root notice.
fn run_tshark(tshark: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new(tshark).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("Running as user"))
        .collect();
    assert!(
        out.status.success() && complaints.is_empty(),
        "tshark {args:?}: {stderr}"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// One flow of the `flows` table.
#[derive(Debug)]
struct FlowRow {
    id: u64,
    orig: (String, u16),
    resp: (String, u16),
    /// First and last packet, µs.
    span: (i64, i64),
    packets: u64,
}

/// Ingests `capture` with a recorder in `root`; returns the ids of the flows with an error
/// entry and every flow.
fn ingest(capture: &Path, root: &Path, config: RecorderConfig) -> (HashSet<u64>, Vec<FlowRow>) {
    let recorder = Recorder::open(root, config).unwrap();
    let pipeline_config = PipelineConfig {
        recorder: Some(recorder.clone()),
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(pipeline_config, MemorySink::default());
    let report = pipeline.ingest_file(capture, &mut |_| {}).unwrap();
    assert!(report.error.is_none(), "{:?}", report.error);
    let (sink, _) = pipeline.finish().unwrap();
    recorder.close().unwrap();
    let stats = recorder.stats();
    assert!(stats.failed.is_none(), "{stats:?}");
    (error_flows(&sink.entries), flows(&sink.flows))
}

fn error_flows(entries: &[RecordBatch]) -> HashSet<u64> {
    let mut ids = HashSet::new();
    for b in entries {
        let errors = b.column_by_name(ec::ERROR_TYPE).unwrap();
        let flow = b.column_by_name(ec::FLOW_ID).unwrap();
        let flow = flow.as_primitive::<UInt64Type>();
        for row in 0..b.num_rows() {
            if errors.is_valid(row) && flow.is_valid(row) {
                ids.insert(flow.value(row));
            }
        }
    }
    ids
}

fn flows(batches: &[RecordBatch]) -> Vec<FlowRow> {
    let mut out = Vec::new();
    for b in batches {
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let id = col(fc::FLOW_ID);
        let (oip, rip) = (col(fc::ORIG_IP), col(fc::RESP_IP));
        let (oport, rport) = (col(fc::ORIG_PORT), col(fc::RESP_PORT));
        let (opk, rpk) = (col(fc::ORIG_PKTS), col(fc::RESP_PKTS));
        let (start, end) = (col(fc::START), col(fc::END));
        for row in 0..b.num_rows() {
            let u64_at = |c: &arrow::array::ArrayRef| {
                let a = c.as_primitive::<UInt64Type>();
                if a.is_valid(row) { a.value(row) } else { 0 }
            };
            out.push(FlowRow {
                id: id.as_primitive::<UInt64Type>().value(row),
                orig: (
                    oip.as_string::<i32>().value(row).to_owned(),
                    oport.as_primitive::<UInt16Type>().value(row),
                ),
                resp: (
                    rip.as_string::<i32>().value(row).to_owned(),
                    rport.as_primitive::<UInt16Type>().value(row),
                ),
                span: (
                    start.as_primitive::<TimestampMicrosecondType>().value(row),
                    end.as_primitive::<TimestampMicrosecondType>().value(row),
                ),
                packets: u64_at(&opk) + u64_at(&rpk),
            });
        }
    }
    out
}

/// A tshark display filter for the TCP/UDP address and port pairs of `flows`, each within
/// its flow's time span (a 4-tuple may carry several flows over time, e.g. after an idle
/// timeout; tshark's `tcp.stream` would join them).
fn tuple_filter(flows: &[&FlowRow]) -> String {
    let one = |f: &FlowRow| {
        let ip = if f.orig.0.contains(':') {
            "ipv6.addr"
        } else {
            "ip.addr"
        };
        // One µs either side: captures with nanosecond times are recorded in µs.
        let secs = |us: i64| {
            format!(
                "{}.{:06}",
                us.div_euclid(1_000_000),
                us.rem_euclid(1_000_000)
            )
        };
        format!(
            "({ip}=={} && {ip}=={} && (tcp.port=={} || udp.port=={}) && (tcp.port=={} || udp.port=={}) \
             && frame.time_epoch >= {} && frame.time_epoch <= {})",
            f.orig.0,
            f.resp.0,
            f.orig.1,
            f.orig.1,
            f.resp.1,
            f.resp.1,
            secs(f.span.0 - 1),
            secs(f.span.1 + 1)
        )
    };
    flows
        .iter()
        .map(|f| one(f))
        .collect::<Vec<_>>()
        .join(" || ")
}

/// Ingests `name`, exports its error flows and checks the export with tshark; returns the
/// packets exported.
fn check_capture(pcaps: &Path, tshark: &Path, name: &str) -> u64 {
    let capture = pcaps.join(name);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("recorder");
    let (errors, flows) = ingest(&capture, &root, RecorderConfig::default());
    assert!(!errors.is_empty(), "{name}: no error flows");
    let error_rows: Vec<&FlowRow> = flows.iter().filter(|f| errors.contains(&f.id)).collect();
    assert_eq!(
        error_rows.len(),
        errors.len(),
        "{name}: every error flow has a row"
    );
    let out = dir.path().join("out.pcap");
    let filter = ExportFilter {
        flows: Some(errors.clone()),
        ..ExportFilter::default()
    };
    let report = export_to_file(&root, &filter, &out).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // Every packet of every error flow, as the flows table counted them.
    let expected: u64 = error_rows.iter().map(|f| f.packets).sum();
    assert_eq!(report.packets, expected, "{name}");
    let exported: BTreeSet<u64> = report.per_flow.keys().copied().collect();
    assert_eq!(exported, errors.iter().copied().collect(), "{name}");

    let out_s = out.to_str().unwrap();
    let times = run_tshark(
        tshark,
        &["-r", out_s, "-T", "fields", "-e", "frame.time_epoch"],
    );
    assert_eq!(times.len() as u64, report.packets, "{name}");
    let times: Vec<f64> = times.iter().map(|t| t.parse().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "{name}: out of order"
    );
    let original = run_tshark(
        tshark,
        &[
            "-r",
            capture.to_str().unwrap(),
            "-Y",
            &tuple_filter(&error_rows),
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
    );
    assert_eq!(original.len() as u64, report.packets, "{name}");
    report.packets
}

#[test]
fn error_flows_export_as_tshark_sees_them() {
    let (Some(pcaps), Some(tshark)) = (pcaps(), tshark()) else {
        return;
    };
    for (name, at_least) in [
        ("rst__http-client-refuse_ppa1e.pcap", 2),
        ("rst__zeek_syn-then-stuff-then-rst.pcap", 4),
        ("http__zeek_1000-requests-one-dropped-response.pcap", 10),
        ("http__latency1.pcapng", 6),
    ] {
        let packets = check_capture(&pcaps, &tshark, name);
        assert!(packets >= at_least, "{name}: {packets}");
    }
}

/// A ring far smaller than the capture: it stays bounded, the error flows that were known
/// before their packets left the ring are complete in the error store, and a time-range
/// export of what is left reads cleanly.
#[test]
fn small_ring_keeps_error_flows() {
    let Some(pcaps) = pcaps() else { return };
    let capture = pcaps.join("rst__evilprogram_ppa1e.pcap");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("recorder");
    let config = RecorderConfig {
        ring_bytes: 64 << 10,
        segment_bytes: 8 << 10,
        ..RecorderConfig::default()
    };
    let (errors, flows) = ingest(&capture, &root, config);
    let recorder = Recorder::open(&root, config).unwrap();
    let (ring, kept) = recorder.disk_bytes();
    assert!(ring <= 64 << 10, "{ring}");
    assert!(kept > 0);
    let filter = ExportFilter {
        flows: Some(errors.clone()),
        ..ExportFilter::default()
    };
    let out = dir.path().join("errors.pcap");
    let report = export_to_file(&root, &filter, &out).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let complete = flows
        .iter()
        .filter(|f| errors.contains(&f.id))
        .filter(|f| report.per_flow.get(&f.id) == Some(&f.packets))
        .count();
    eprintln!(
        "{complete} of {} error flows complete; ring {ring} bytes, error store {kept} bytes",
        errors.len()
    );
    // In this capture every error entry comes before its flow's first packet leaves the
    // 64 KiB ring, so no error flow lost a packet.
    assert_eq!(complete, errors.len());
    assert!(report.per_flow.keys().all(|id| errors.contains(id)));
    // Everything retained, by time range: the ring's tail and the error store.
    let everything = dir.path().join("all.pcap");
    let all = export_to_file(&root, &ExportFilter::default(), &everything).unwrap();
    assert!(all.problems.is_empty(), "{:?}", all.problems);
    assert!(all.packets > report.packets);
    if let Some(tshark) = tshark() {
        for (file, packets) in [(&out, report.packets), (&everything, all.packets)] {
            let lines = run_tshark(&tshark, &["-r", file.to_str().unwrap()]);
            assert_eq!(lines.len() as u64, packets);
        }
    }
}
