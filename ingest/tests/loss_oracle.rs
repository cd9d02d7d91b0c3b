//! `TcpAnalyzer` against tshark 4.0.17: for every capture, the flags it raises must be the
//! `tcp.analysis.*` flags in the oracle's `tcp_analysis.tsv`, column by column and frame by
//! frame (the per-capture totals are printed as a table).
//!
//! Connections are keyed like tshark's TCP conversations: the unordered pair of (address, port)
//! endpoints. The VLAN is not part of tshark 4.0's key, so it is not part of this one either (a
//! flow table that keys by VLAN too will split what tshark merges: see
//! `link__vlan_zeek_vlan-collisions.pcap`). A SYN with a new ISN restarts the analysis, as tshark
//! starts a new `tcp.stream`; `TcpAnalyzer` does that itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod oracle_support;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use faultline_ingest::decode::Transport;
use faultline_ingest::tcp::analysis::{SegmentFlags, TcpAnalyzer};

/// Oracle columns compared (their names in `tcp_analysis.tsv` are tshark's fields; the flags
/// behind each come from [`SegmentFlags::TSHARK_FIELDS`]).
const COLUMNS: [&str; 11] = [
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.lost_segment",
    "tcp.analysis.ack_lost_segment",
    "tcp.analysis.out_of_order",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe",
    "tcp.analysis.keep_alive",
    "tcp.analysis.reused_ports",
];

/// Captures where a column may legitimately differ, with the reason. Empty: every capture
/// agrees with tshark on every column and every frame.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// Which oracle columns are set on a packet, as a bit set over `COLUMNS`.
type ColumnSet = u16;

fn columns_of(flags: SegmentFlags) -> ColumnSet {
    COLUMNS
        .iter()
        .enumerate()
        .filter(|(_, name)| flags.intersects(SegmentFlags::of_tshark_field(name).unwrap()))
        .fold(0, |acc, (i, _)| acc | 1 << i)
}

/// tshark's rows: frame number -> columns set. The oracle already leaves out window updates.
fn oracle_frames(dirs: &oracle_support::Dirs, capture: &str) -> BTreeMap<u64, ColumnSet> {
    let rows = dirs.oracle_rows(capture, "tcp_analysis.tsv");
    let Some((header, rows)) = rows.split_first() else {
        return BTreeMap::new();
    };
    let index: Vec<usize> = COLUMNS
        .iter()
        .map(|name| {
            header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("no column {name}"))
        })
        .collect();
    let mut frames = BTreeMap::new();
    for row in rows {
        let set = index
            .iter()
            .enumerate()
            .filter(|(_, col)| row.get(**col).is_some_and(|v| !v.is_empty()))
            .fold(0, |acc, (i, _)| acc | 1 << i);
        if set != 0 {
            frames.insert(row[0].parse().unwrap(), set);
        }
    }
    frames
}

type Endpoint = (IpAddr, u16);

/// Our rows, computed like tshark: frame number -> columns set (window updates left out).
fn our_frames(path: &std::path::Path) -> BTreeMap<u64, ColumnSet> {
    let mut conns: HashMap<(Endpoint, Endpoint), (TcpAnalyzer, Endpoint)> = HashMap::new();
    let mut frames = BTreeMap::new();
    oracle_support::for_each_packet(path, |number, packet| {
        let Transport::Tcp(seg) = packet.transport else {
            return;
        };
        let src = (packet.ip.src, seg.src_port);
        let dst = (packet.ip.dst, seg.dst_port);
        let key = if src <= dst { (src, dst) } else { (dst, src) };
        let (analyzer, orig) = conns
            .entry(key)
            .or_insert_with(|| (TcpAnalyzer::new(), src));
        let flags = analyzer.on_segment(*orig == src, &seg, packet.ts_us);
        let set = columns_of(flags);
        if set != 0 && !flags.contains(SegmentFlags::WINDOW_UPDATE) {
            frames.insert(number, set);
        }
    });
    frames
}

fn totals(frames: &BTreeMap<u64, ColumnSet>) -> [usize; COLUMNS.len()] {
    std::array::from_fn(|i| frames.values().filter(|set| *set & (1 << i) != 0).count())
}

fn short(name: &str) -> &str {
    name.trim_start_matches("tcp.analysis.")
}

#[test]
fn tcp_analysis_flags_match_tshark_on_every_capture() {
    let Some(dirs) = oracle_support::dirs() else {
        return;
    };
    let mut failures = Vec::new();
    println!(
        "{:<55} {}",
        "capture (ours/tshark)",
        COLUMNS.map(short).join(" ")
    );
    for capture in dirs.captures() {
        let theirs = oracle_frames(&dirs, &capture);
        let ours = our_frames(&dirs.pcaps.join(&capture));
        let (t_ours, t_theirs) = (totals(&ours), totals(&theirs));
        let cells: Vec<String> = (0..COLUMNS.len())
            .map(|i| {
                let mark = if t_ours[i] == t_theirs[i] { "" } else { "!" };
                format!("{}/{}{mark}", t_ours[i], t_theirs[i])
            })
            .collect();
        if ours.values().chain(theirs.values()).any(|s| *s != 0) {
            println!("{capture:<55} {}", cells.join(" "));
        }
        for (i, name) in COLUMNS.iter().enumerate() {
            let differing: Vec<u64> = ours
                .keys()
                .chain(theirs.keys())
                .filter(|f| {
                    let bit =
                        |m: &BTreeMap<u64, ColumnSet>| m.get(f).is_some_and(|s| s & (1 << i) != 0);
                    bit(&ours) != bit(&theirs)
                })
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let excused = EXCEPTIONS
                .iter()
                .any(|(c, col, _)| *c == capture && col == name);
            if !differing.is_empty() && !excused {
                failures.push(format!(
                    "{capture}: {} ours {} tshark {}, frames {:?}",
                    short(name),
                    t_ours[i],
                    t_theirs[i],
                    &differing[..differing.len().min(10)]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "differences from tshark:\n{}",
        failures.join("\n")
    );
}
