//! The flow table's Zeek-style `conn_state` and `history` against Zeek's own regression
//! baselines (`shared/oracles/zeek`): for every baseline `conn.log` whose trace is one of the
//! shared captures (MANIFEST.tsv `path_in_repo`), each connection, matched by its 5-tuple (and,
//! for a 5-tuple Zeek logs several times, as a multiset), must have Zeek's `conn_state`,
//! `history` and packet counts. The flow table runs with Zeek's timeouts ([`FlowConfig::zeek`])
//! on packets without VLAN tags (Zeek's default connection key has none).
//!
//! Known differences are listed in [`EXCEPTIONS`], each with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)] // shared by the oracle tests; this one reads only the captures
mod oracle_support;

use std::collections::BTreeMap;
use std::path::Path;

use faultline_ingest::Packet;
use faultline_ingest::emit::{Emit, EntryView, FlowView};
use faultline_ingest::flow::FlowConfig;
use faultline_ingest::pipeline::FlowAnalysis;

/// Baseline logs with `#fields` headers and the trace (under Zeek's `testing/btest/Traces/`)
/// each was made from, per the oracle README.
const LOGS: &[(&str, &str)] = &[
    (
        "core.pcapng-pktsrc/conn.log",
        "pcapng-multi-interface.pcapng",
    ),
    ("core.q-in-q/conn.log", "q-in-q.pcap"),
    (
        "core.tcp.rxmit-history/conn-1.log",
        "tcp/retransmit-fast009.pcap",
    ),
    ("core.tcp.rxmit-history/conn-2.log", "wikipedia.pcap"),
    ("core.vlan-mpls/conn.log", "mixed-vlan-mpls.pcap"),
    ("opt.basic/conn.log", "wikipedia.pcap"),
    (
        "scripts.base.protocols.http.http-no-crlf/conn.log",
        "http/no_crlf.pcap",
    ),
    (
        "scripts.base.protocols.pop3.basic/conn.log",
        "pop3/pop3.pcap",
    ),
    (
        "scripts.base.protocols.ssh.half-duplex-client/conn.log",
        "ssh/ssh.client-side-half-duplex.pcap",
    ),
];

/// `conn_state-RST-behavior/out` has one `history, conn_state` line per trace, in this order.
const RST_BEHAVIOR: (&str, [&str; 4]) = (
    "scripts.base.protocols.conn.conn_state-RST-behavior/out",
    [
        "tcp/single-rst.pcap",
        "tcp/syn-then-rst.pcap",
        "tcp/syn-then-ack-then-rst.pcap",
        "tcp/syn-then-stuff-then-rst.pcap",
    ],
);

/// `core.udp-corrupt/conn.log` logs `orig_pkts resp_pkts history conn_state` of its one
/// connection: `0 0 Cc OTH`, because Zeek drops both datagrams for their bad UDP checksums.
/// faultline does not verify checksums (it behaves like `zeek -C`), so it sees a complete DNS
/// exchange instead: `1 1 Dd SF`, checked here.
const UDP_CORRUPT: (&str, &str, &str) = (
    "core.udp-corrupt/conn.log",
    "dns/dns-corrupt.pcap",
    "1 1 Dd SF",
);

/// A difference from Zeek that is understood: (log, connection as `proto orig:port > resp:port`,
/// what faultline gives for it, why).
const EXCEPTIONS: &[(&str, &str, &str, &str)] = &[];

/// What is compared per connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Conn {
    conn_state: String,
    history: String,
    orig_pkts: u64,
    resp_pkts: u64,
}

impl std::fmt::Display for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.orig_pkts, self.resp_pkts, self.history, self.conn_state
        )
    }
}

/// Connections by `proto orig:port > resp:port`.
type Conns = BTreeMap<String, Vec<Conn>>;

#[derive(Default)]
struct Collect(Conns);

impl Emit for Collect {
    fn entry(&mut self, _: &EntryView<'_>) {}
    fn flow(&mut self, f: &FlowView<'_>) {
        let proto = match f.ident.proto {
            6 => "tcp",
            17 => "udp",
            _ => return,
        };
        let (o, r) = (f.ident.orig, f.ident.resp);
        let key = format!("{proto} {}:{} > {}:{}", o.0, o.1, r.0, r.1);
        self.0.entry(key).or_default().push(Conn {
            conn_state: f.conn_state.unwrap_or("-").to_string(),
            history: f.history.unwrap_or("-").to_string(),
            orig_pkts: f.orig.pkts,
            resp_pkts: f.resp.pkts,
        });
    }
}

/// faultline's connections for one capture.
fn faultline(path: &Path) -> Conns {
    let mut table = FlowAnalysis::new(FlowConfig::zeek());
    let mut out = Collect::default();
    oracle_support::for_each_packet(path, |_, p| {
        let untagged = Packet { vlan: None, ..*p };
        table.process(&untagged, &mut out);
    });
    table.finish(&mut out);
    for v in out.0.values_mut() {
        v.sort();
    }
    out.0
}

/// TCP and UDP connections of a Zeek `conn.log` with a `#fields` header.
fn zeek_log(path: &Path) -> Conns {
    let text = std::fs::read_to_string(path).unwrap();
    let fields: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .unwrap()
        .split('\t')
        .collect();
    let col = |n: &str| fields.iter().position(|f| *f == n).unwrap();
    let cols = [
        col("proto"),
        col("id.orig_h"),
        col("id.orig_p"),
        col("id.resp_h"),
        col("id.resp_p"),
        col("conn_state"),
        col("history"),
        col("orig_pkts"),
        col("resp_pkts"),
    ];
    let mut conns = Conns::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let v = |i: usize| f[cols[i]];
        if !matches!(v(0), "tcp" | "udp") {
            continue;
        }
        let key = format!("{} {}:{} > {}:{}", v(0), v(1), v(2), v(3), v(4));
        conns.entry(key).or_default().push(Conn {
            conn_state: v(5).to_string(),
            history: v(6).to_string(),
            orig_pkts: v(7).parse().unwrap(),
            resp_pkts: v(8).parse().unwrap(),
        });
    }
    for v in conns.values_mut() {
        v.sort();
    }
    conns
}

/// Capture file name of a Zeek trace, from MANIFEST.tsv.
fn capture_of(pcaps: &Path, trace: &str) -> String {
    let text = std::fs::read_to_string(pcaps.join("MANIFEST.tsv")).unwrap();
    let want = format!("testing/btest/Traces/{trace}");
    text.lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| {
            f.get(2)
                .is_some_and(|p| p.trim_end_matches(".gz") == want || *p == want)
        })
        .map(|f| f[0].to_string())
        .unwrap_or_else(|| panic!("{trace} not in MANIFEST.tsv"))
}

/// Compares one log's connections; returns the differences not covered by an exception.
fn compare(log: &str, zeek: &Conns, ours: &Conns, used: &mut Vec<usize>) -> Vec<String> {
    let mut problems = Vec::new();
    let keys: std::collections::BTreeSet<&String> = zeek.keys().chain(ours.keys()).collect();
    for key in keys {
        let texts = |conns: &Conns| -> Vec<String> {
            conns
                .get(key)
                .into_iter()
                .flatten()
                .map(ToString::to_string)
                .collect()
        };
        let (z, o) = (texts(zeek), texts(ours));
        if z == o {
            continue;
        }
        let got = o.join(" | ");
        let excused = EXCEPTIONS
            .iter()
            .position(|(l, k, g, _)| *l == log && *k == key && *g == got);
        match excused {
            Some(i) => used.push(i),
            None => problems.push(format!(
                "{log}: {key}: zeek [{}] faultline [{got}]",
                z.join(" | ")
            )),
        }
    }
    problems
}

#[test]
fn conn_state_and_history_match_zeek() {
    let Some(dirs) = oracle_support::dirs() else {
        return;
    };
    let zeek_dir = dirs.pcaps.join("../oracles/zeek");
    let mut problems = Vec::new();
    let mut used = Vec::new();
    let mut compared = 0;
    for (log, trace) in LOGS {
        let capture = capture_of(&dirs.pcaps, trace);
        let zeek = zeek_log(&zeek_dir.join(log));
        let ours = faultline(&dirs.pcaps.join(&capture));
        compared += zeek.values().map(Vec::len).sum::<usize>();
        println!(
            "{log} ({capture}): {} connections",
            zeek.values().map(Vec::len).sum::<usize>()
        );
        problems.extend(compare(log, &zeek, &ours, &mut used));
    }
    let (out, traces) = RST_BEHAVIOR;
    let expected = std::fs::read_to_string(zeek_dir.join(out)).unwrap();
    let lines: Vec<&str> = expected.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), traces.len());
    for (trace, line) in traces.iter().zip(lines) {
        let ours = faultline(&dirs.pcaps.join(capture_of(&dirs.pcaps, trace)));
        let got: Vec<String> = ours
            .values()
            .flatten()
            .map(|c| format!("{}, {}", c.history, c.conn_state))
            .collect();
        compared += 1;
        if got != [line] {
            problems.push(format!("{out} {trace}: zeek [{line}] faultline {got:?}"));
        }
    }
    let (log, trace, want) = UDP_CORRUPT;
    let ours = faultline(&dirs.pcaps.join(capture_of(&dirs.pcaps, trace)));
    let got: Vec<String> = ours.values().flatten().map(ToString::to_string).collect();
    assert_eq!(got, [want], "{log}");
    let unused: Vec<_> = (0..EXCEPTIONS.len())
        .filter(|i| !used.contains(i))
        .map(|i| EXCEPTIONS[i])
        .collect();
    println!(
        "{compared} Zeek connections compared, {} known differences",
        used.len()
    );
    assert!(
        unused.is_empty(),
        "exceptions that no longer apply: {unused:#?}"
    );
    assert!(
        problems.is_empty(),
        "differences from Zeek:\n{}",
        problems.join("\n")
    );
}
