//! End to end against the generator's truth file: every injected event yields exactly the entry
//! the truth file names (kind, flow, TCP state, ICMP type/code and quoted tuple, loss counters,
//! timestamp), and nothing else is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use arrow::array::{Array, AsArray, PrimitiveArray, RecordBatch, StringArray, UInt16Array};
use arrow::datatypes::{
    ArrowPrimitiveType, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type,
};
use faultline_ingest::CaptureReader;
use faultline_ingest::generate::{self, Config, TruthRecord};
use faultline_ingest::pipeline::{Pipeline, PipelineConfig};
use faultline_ingest::sink::MemorySink;
use faultline_schemas::entry_col as c;

/// Canonical text of one expected or produced entry, so the two sides compare as multisets.
fn signature(
    kind: &str,
    ts: i64,
    tuple: String,
    state: Option<&str>,
    icmp: Option<String>,
    counters: Option<[u32; 7]>,
) -> String {
    format!("{kind} ts={ts} {tuple} state={state:?} icmp={icmp:?} counters={counters:?}")
}

fn endpoint(ip: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{ip}:{p}"),
        None => ip.to_owned(),
    }
}

fn expected(r: &TruthRecord) -> String {
    let f = &r.flow;
    let tuple = format!(
        "{} -> {}",
        endpoint(&f.orig_ip.to_string(), f.orig_port),
        endpoint(&f.resp_ip.to_string(), f.resp_port)
    );
    let icmp = r.icmp.map(|i| {
        let q = i.quoted.map(|q| {
            format!(
                "{} {} -> {}",
                q.proto,
                endpoint(&q.src_ip.to_string(), q.src_port),
                endpoint(&q.dst_ip.to_string(), q.dst_port)
            )
        });
        format!("v{} {}/{} quoted={q:?}", i.version, i.icmp_type, i.code)
    });
    let counters = (r.kind == "loss").then(|| {
        let k = r.counters.unwrap_or_default();
        [
            k.retransmissions,
            k.fast_retransmissions,
            k.lost_segments,
            k.ack_lost_segments,
            k.dup_acks,
            k.out_of_order,
            k.zero_windows,
        ]
    });
    let state = if r.kind == "tcp" {
        r.state.as_deref()
    } else {
        None
    };
    signature(&r.kind, r.ts_us, tuple, state, icmp, counters)
}

/// Column `name` of `b` as strings.
fn strings(b: &RecordBatch, name: &str) -> StringArray {
    b.column_by_name(name).unwrap().as_string::<i32>().clone()
}

/// Column `name` of `b` as primitive values of type `T`.
fn values<T: ArrowPrimitiveType>(b: &RecordBatch, name: &str) -> PrimitiveArray<T> {
    b.column_by_name(name).unwrap().as_primitive::<T>().clone()
}

/// Row `i` of a port column, `None` when null.
fn port(a: &UInt16Array, i: usize) -> Option<u16> {
    (!a.is_null(i)).then(|| a.value(i))
}

fn produced(b: &RecordBatch) -> Vec<String> {
    let s = |n: &str| strings(b, n);
    let u16c = |n: &str| values::<UInt16Type>(b, n);
    let u8c = |n: &str| values::<UInt8Type>(b, n);
    let u32c = |n: &str| values::<UInt32Type>(b, n);
    let ts = values::<TimestampMicrosecondType>(b, c::TIMESTAMP);
    let (kind, msg) = (s(c::KIND), s(c::ERROR_MSG));
    let (sip, dip, sp, dp) = (
        s(c::SRC_IP),
        s(c::DST_IP),
        u16c(c::SRC_PORT),
        u16c(c::DST_PORT),
    );
    let (iv, it, ic) = (u8c(c::ICMP_VERSION), u8c(c::ICMP_TYPE), u8c(c::ICMP_CODE));
    let (qp, qs, qsp, qd, qdp) = (
        u8c(c::QUOTED_PROTO),
        s(c::QUOTED_SRC_IP),
        u16c(c::QUOTED_SRC_PORT),
        s(c::QUOTED_DST_IP),
        u16c(c::QUOTED_DST_PORT),
    );
    let loss: Vec<_> = [
        c::RETRANSMISSIONS,
        c::FAST_RETRANSMISSIONS,
        c::LOST_SEGMENTS,
        c::ACK_LOST_SEGMENTS,
        c::DUP_ACKS,
        c::OUT_OF_ORDER,
        c::ZERO_WINDOWS,
    ]
    .iter()
    .map(|n| u32c(n))
    .collect();
    // Application-layer entries are compared on their own (`produced_app`).
    (0..b.num_rows())
        .filter(|&i| !matches!(kind.value(i), "http" | "dns"))
        .map(|i| {
            let k = kind.value(i);
            let tuple = format!(
                "{} -> {}",
                endpoint(sip.value(i), port(&sp, i)),
                endpoint(dip.value(i), port(&dp, i))
            );
            let icmp = (k == "icmp").then(|| {
                let q = (!qp.is_null(i)).then(|| {
                    format!(
                        "{} {} -> {}",
                        qp.value(i),
                        endpoint(qs.value(i), port(&qsp, i)),
                        endpoint(qd.value(i), port(&qdp, i))
                    )
                });
                format!(
                    "v{} {}/{} quoted={q:?}",
                    iv.value(i),
                    it.value(i),
                    ic.value(i)
                )
            });
            let counters = (k == "loss").then(|| std::array::from_fn(|j| loss[j].value(i)));
            let state = (k == "tcp").then(|| msg.value(i));
            signature(k, ts.value(i), tuple, state, icmp, counters)
        })
        .collect()
}

/// `http`/`dns` error entries: (`kind client -> server error_type | msg`, reason, timestamp).
/// Complete transactions are the generator's background traffic, not events.
fn produced_app(b: &RecordBatch) -> Vec<(String, String, i64)> {
    let s = |n: &str| strings(b, n);
    let u16c = |n: &str| values::<UInt16Type>(b, n);
    let (kind, et, msg, reason) = (
        s(c::KIND),
        s(c::ERROR_TYPE),
        s(c::ERROR_MSG),
        s(c::ERROR_REASON),
    );
    let (sip, dip, sp, dp) = (
        s(c::SRC_IP),
        s(c::DST_IP),
        u16c(c::SRC_PORT),
        u16c(c::DST_PORT),
    );
    let ts = values::<TimestampMicrosecondType>(b, c::TIMESTAMP);
    (0..b.num_rows())
        .filter(|&i| matches!(kind.value(i), "http" | "dns") && !et.is_null(i))
        .map(|i| {
            let sig = format!(
                "{} {} -> {} {} | {}",
                kind.value(i),
                endpoint(sip.value(i), port(&sp, i)),
                endpoint(dip.value(i), port(&dp, i)),
                et.value(i),
                msg.value(i)
            );
            (sig, reason.value(i).to_owned(), ts.value(i))
        })
        .collect()
}

/// The expected application-layer entry of a record: signature, reason fragment, and the span
/// of the flow its timestamp must fall in (when the record's flow is the entry's).
type AppExpectation = (String, String, Option<(i64, i64)>);

fn expected_app(r: &TruthRecord) -> Option<AppExpectation> {
    let (a, f) = (r.app.as_ref()?, r.app_flow?);
    let sig = format!(
        "{} {} -> {} {} | {}",
        a.kind,
        endpoint(&f.orig_ip.to_string(), f.orig_port),
        endpoint(&f.resp_ip.to_string(), f.resp_port),
        a.error_type,
        a.msg
    );
    let span = r.first_us.zip(r.last_us).filter(|_| r.related.is_none());
    Some((sig, a.reason.clone(), span))
}

fn multiset(v: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in v {
        *m.entry(s).or_insert(0) += 1;
    }
    m
}

fn check(cfg: Config) {
    let mut pcap = Vec::new();
    let mut truth = Vec::new();
    generate::write_capture(&cfg, &mut pcap, &mut truth).unwrap();
    let records: Vec<TruthRecord> = truth
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let reader = CaptureReader::from_read(Cursor::new(pcap), "truth.pcap").unwrap();
    let mut p = Pipeline::new(PipelineConfig::default(), MemorySink::default());
    p.ingest_reader(reader, Path::new("truth.pcap"), &mut |_| {});
    let (sink, _) = p.finish().unwrap();
    let ours = multiset(sink.entries.iter().flat_map(produced));
    // Application-layer events are compared below with the entries they cause.
    let want = multiset(
        records
            .iter()
            .filter(|r| r.entry && !matches!(r.kind.as_str(), "http" | "dns"))
            .map(expected),
    );
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, n)| ours.get(*k) != Some(n))
        .collect();
    let extra: Vec<_> = ours
        .iter()
        .filter(|(k, n)| want.get(*k) != Some(n))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "seed {}: {} expected entries, {} produced\nmissing or miscounted:\n{:#?}\nunexpected:\n{:#?}",
        cfg.seed,
        want.values().sum::<usize>(),
        ours.values().sum::<usize>(),
        missing,
        extra
    );
    // Application-layer errors: exactly those the events cause, each with its reason.
    let ours_app: Vec<(String, String, i64)> = sink.entries.iter().flat_map(produced_app).collect();
    let want_app: Vec<_> = records.iter().filter_map(expected_app).collect();
    assert_eq!(
        multiset(ours_app.iter().map(|(k, _, _)| k.clone())),
        multiset(want_app.iter().map(|(k, _, _)| k.clone())),
        "seed {}: application-layer errors",
        cfg.seed
    );
    // Each with its reason, at a time within its flow.
    for (sig, fragment, span) in &want_app {
        let within = |ts: i64| span.is_none_or(|(first, last)| (first..=last).contains(&ts));
        assert!(
            ours_app
                .iter()
                .any(|(k, r, ts)| k == sig && r.contains(fragment.as_str()) && within(*ts)),
            "seed {}: {sig}: no reason containing {fragment:?} within {span:?} in {:?}",
            cfg.seed,
            ours_app
                .iter()
                .filter(|(k, _, _)| k == sig)
                .collect::<Vec<_>>()
        );
    }
    // Every kind of injected entry really occurs.
    for kind in ["tcp", "timeout", "loss", "icmp"] {
        assert!(
            want.keys().any(|k| k.starts_with(kind)),
            "no {kind} entry injected"
        );
    }
    for kind in ["http", "dns"] {
        assert!(
            want_app.iter().any(|(k, _, _)| k.starts_with(kind)),
            "no {kind} error injected"
        );
    }
}

#[test]
fn default_capture_matches_truth() {
    check(Config::default());
}

#[test]
fn other_seeds_match_truth() {
    for seed in [2, 42] {
        check(Config {
            seed,
            target_packets: 60_000,
            ..Config::default()
        });
    }
}
