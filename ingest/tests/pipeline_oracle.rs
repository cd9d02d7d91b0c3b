//! The whole pipeline (reader, decode, flow table, classifiers, batcher) against tshark 4.0.17,
//! capture by capture: the loss counters summed over the `flows` table must equal the number of
//! packets tshark flags in `tcp_analysis.tsv`, and the `icmp` entries must have exactly the
//! (version, type, code) histogram of `icmp_errors.tsv`.
//!
//! The component tests (`loss_oracle.rs`, `icmp_oracle.rs`, `tcp_oracle.rs`) compare frame by
//! frame on tshark's own keying; this one checks that nothing is lost or double-counted on the
//! way to the stored tables. Two known differences, each limited to the captures listed:
//! flows are keyed by VLAN as well ([`VLAN_SPLITS`]) and a new connection on a used 4-tuple is
//! a new flow ([`REUSED_4TUPLES`]). With faultline's default 10 s stream timeout, nine more
//! captures differ (a connection idle for longer is a new flow with a fresh analysis, so e.g.
//! a retransmission after a long stall is not recognised); the test therefore runs with
//! tshark's behaviour, no timeout; the timeout itself is covered by the flow table's unit tests
//! and by `truth.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Shared with the other oracle tests; this one does not walk packets itself.
#[allow(dead_code)]
mod oracle_support;

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{UInt8Type, UInt32Type};
use faultline_ingest::pipeline::{Pipeline, PipelineConfig};
use faultline_ingest::sink::MemorySink;
use faultline_schemas::{entry_col as ec, flow_col as fc};

/// (tshark column, `flows` column).
const LOSS: [(&str, &str); 7] = [
    ("tcp.analysis.retransmission", fc::RETRANSMISSIONS),
    ("tcp.analysis.fast_retransmission", fc::FAST_RETRANSMISSIONS),
    ("tcp.analysis.lost_segment", fc::LOST_SEGMENTS),
    ("tcp.analysis.ack_lost_segment", fc::ACK_LOST_SEGMENTS),
    ("tcp.analysis.duplicate_ack", fc::DUP_ACKS),
    ("tcp.analysis.out_of_order", fc::OUT_OF_ORDER),
    ("tcp.analysis.zero_window", fc::ZERO_WINDOWS),
];

/// Captures where faultline's loss counters differ from tshark's because faultline keys flows
/// by VLAN and tshark 4.0 does not. In both, the same packets appear on two VLANs (or one
/// direction is tagged and the other is not): tshark folds the copies into one conversation and
/// flags the second copy of each segment as a retransmission; faultline keeps one flow per VLAN,
/// where no segment repeats. `loss_oracle.rs` shows the analyser agrees exactly when keyed like
/// tshark. Ours must stay strictly below tshark's retransmission count here.
const VLAN_SPLITS: [&str; 2] = [
    "link__vlan_zeek_vlan-collisions.pcap",
    "loss__suricata_syn_retransmit_with_ts.pcap",
];

/// Captures where a client opens new connections on a 4-tuple it used before (after a RST or a
/// completed close). tshark 4.0 keeps them in one `tcp.stream` and flags every packet of the
/// later attempts as a retransmission (`rst__zeek_pop3_REJ`: 5 repeated SYNs to a closed port;
/// `rst__evilprogram_ppa1e`: 59; `rst__nowebaccess2`: 2; `loss__ftp-crack_ppa1e`: an FTP
/// brute-forcer reusing source ports for 706 complete connections, 6344 packets flagged).
/// faultline, like Zeek, makes each attempt its own flow (Zeek logs 6 REJ connections for
/// `pop3_REJ`), so those packets are not retransmissions. Ours must stay strictly below.
const REUSED_4TUPLES: [&str; 4] = [
    "loss__ftp-crack_ppa1e.pcap",
    "rst__evilprogram_ppa1e.pcap",
    "rst__nowebaccess2.pcapng",
    "rst__zeek_pop3_REJ.pcap",
];

/// tshark never times a conversation out; with faultline's 10 s stream timeout a connection
/// idle longer than that is a new flow whose analysis starts afresh. Compare like with like.
fn tshark_like() -> PipelineConfig {
    let mut cfg = PipelineConfig::default();
    cfg.flow.stream_timeout_us = 86_400_000_000;
    cfg.flow.idle_timeout_us = 86_400_000_000;
    cfg
}

fn run(path: &Path) -> MemorySink {
    let mut p = Pipeline::new(tshark_like(), MemorySink::default());
    p.ingest_file(path, &mut |_| {}).unwrap();
    p.finish().unwrap().0
}

fn sum_u32(batches: &[RecordBatch], column: &str) -> u64 {
    batches
        .iter()
        .map(|b| {
            let a = b
                .column_by_name(column)
                .unwrap()
                .as_primitive::<UInt32Type>();
            a.iter().flatten().map(u64::from).sum::<u64>()
        })
        .sum()
}

fn icmp_histogram(batches: &[RecordBatch]) -> BTreeMap<(u8, u8, u8), u64> {
    let mut h = BTreeMap::new();
    for b in batches {
        let kind = b.column_by_name(ec::KIND).unwrap().as_string::<i32>();
        let col = |n| {
            b.column_by_name(n)
                .unwrap()
                .as_primitive::<UInt8Type>()
                .clone()
        };
        let (v, t, c) = (
            col(ec::ICMP_VERSION),
            col(ec::ICMP_TYPE),
            col(ec::ICMP_CODE),
        );
        // ICMP messages only: echo requests without reply are `icmp` entries too, with an
        // error type (`pair-not-found`), and are not in tshark's ICMP error list.
        let error = b.column_by_name(ec::ERROR_TYPE).unwrap();
        for i in (0..b.num_rows()).filter(|&i| kind.value(i) == "icmp" && error.is_null(i)) {
            *h.entry((v.value(i), t.value(i), c.value(i))).or_default() += 1;
        }
    }
    h
}

fn oracle_icmp(rows: &[Vec<String>]) -> BTreeMap<(u8, u8, u8), u64> {
    let mut h = BTreeMap::new();
    let Some((header, rows)) = rows.split_first() else {
        return h;
    };
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (t4, c4, t6, c6) = (
        at("icmp.type"),
        at("icmp.code"),
        at("icmpv6.type"),
        at("icmpv6.code"),
    );
    for r in rows {
        let get = |i: usize| {
            r.get(i)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<u8>().unwrap())
        };
        let key = match (get(t4), get(c4), get(t6), get(c6)) {
            (Some(t), Some(c), _, _) => (4, t, c),
            (_, _, Some(t), Some(c)) => (6, t, c),
            _ => panic!("ICMP row without type/code: {r:?}"),
        };
        *h.entry(key).or_default() += 1;
    }
    h
}

fn oracle_loss(rows: &[Vec<String>]) -> [u64; 7] {
    let Some((header, rows)) = rows.split_first() else {
        return [0; 7];
    };
    std::array::from_fn(|k| {
        let i = header.iter().position(|h| h == LOSS[k].0).unwrap();
        rows.iter()
            .filter(|r| r.get(i).is_some_and(|v| !v.is_empty()))
            .count() as u64
    })
}

#[test]
fn pipeline_agrees_with_tshark() {
    let Some(dirs) = oracle_support::dirs() else {
        return;
    };
    let mut failures = Vec::new();
    println!(
        "{:<55} {:>28} {:>28}",
        "capture", "ours (retx lost acklost dup)", "tshark"
    );
    for capture in dirs.captures() {
        let sink = run(&dirs.pcaps.join(&capture));
        let ours: [u64; 7] = std::array::from_fn(|k| sum_u32(&sink.flows, LOSS[k].1));
        let theirs = oracle_loss(&dirs.oracle_rows(&capture, "tcp_analysis.tsv"));
        if ours != [0; 7] || theirs != [0; 7] {
            println!(
                "{capture:<55} {:>28} {:>28}",
                format!("{:?}", &ours[..5]),
                format!("{:?}", &theirs[..5])
            );
        }
        if VLAN_SPLITS.contains(&capture.as_str()) || REUSED_4TUPLES.contains(&capture.as_str()) {
            if ours[0] >= theirs[0] {
                failures.push(format!("{capture}: expected fewer retransmissions than tshark (split flows), got {ours:?} vs {theirs:?}"));
            }
        } else if ours != theirs {
            failures.push(format!("{capture}: loss {ours:?} != tshark {theirs:?}"));
        }
        let icmp = icmp_histogram(&sink.entries);
        let want = oracle_icmp(&dirs.oracle_rows(&capture, "icmp_errors.tsv"));
        if icmp != want {
            failures.push(format!("{capture}: icmp {icmp:?} != tshark {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
