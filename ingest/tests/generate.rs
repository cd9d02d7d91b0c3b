#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tests of the synthetic capture generator: determinism, pcap validity, presence of every
//! injected event, consistency of the truth file with the packets, agreement with tshark
//! (when installed) and bounded memory at scale.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::process::Command;

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use faultline_ingest::generate::{
    Config, Counters, Event, FlowKey, QUIET_US, Summary, TruthRecord, write_capture,
};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

fn generate(cfg: &Config) -> (Vec<u8>, Vec<u8>, Summary) {
    let (mut pcap, mut truth) = (Vec::new(), Vec::new());
    let s = write_capture(cfg, &mut pcap, &mut truth).unwrap();
    (pcap, truth, s)
}

fn records(truth: &[u8]) -> Vec<TruthRecord> {
    std::str::from_utf8(truth)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What the tests need of one captured packet.
#[derive(Debug, Clone)]
struct Pkt<'a> {
    ts: i64,
    vlan: Option<u16>,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: Option<u16>,
    dport: Option<u16>,
    flags: u8,
    payload_len: usize,
    icmp: Option<(u8, u8, &'a [u8])>,
}

impl Pkt<'_> {
    /// True when the packet belongs to `k` (either direction).
    fn in_flow(&self, k: &FlowKey) -> bool {
        self.proto == k.proto
            && self.vlan == k.vlan
            && ((self.src, self.sport, self.dst, self.dport)
                == (k.orig_ip, k.orig_port, k.resp_ip, k.resp_port)
                || (self.dst, self.dport, self.src, self.sport)
                    == (k.orig_ip, k.orig_port, k.resp_ip, k.resp_port))
    }

    fn sent_by_orig(&self, k: &FlowKey) -> bool {
        self.src == k.orig_ip && self.sport == k.orig_port
    }
}

fn ip_of(net: &LaxNetSlice<'_>) -> (IpAddr, IpAddr, u8) {
    match net {
        LaxNetSlice::Ipv4(s) => (
            s.header().source_addr().into(),
            s.header().destination_addr().into(),
            s.payload().ip_number.0,
        ),
        LaxNetSlice::Ipv6(s) => (
            s.header().source_addr().into(),
            s.header().destination_addr().into(),
            s.payload().ip_number.0,
        ),
        LaxNetSlice::Arp(_) => panic!("ARP in capture"),
    }
}

fn slice(data: &[u8], ts: i64) -> Pkt<'_> {
    let p = LaxSlicedPacket::from_ethernet(data).unwrap();
    assert!(
        p.stop_err.is_none(),
        "frame at {ts} does not decode fully: {:?}",
        p.stop_err
    );
    let (src, dst, proto) = ip_of(p.net.as_ref().expect("IP layer"));
    let mut pkt = Pkt {
        ts,
        vlan: p.vlan_ids().first().map(|v| v.value()),
        src,
        dst,
        proto,
        sport: None,
        dport: None,
        flags: 0,
        payload_len: 0,
        icmp: None,
    };
    match p.transport.expect("transport layer") {
        TransportSlice::Tcp(t) => {
            pkt.sport = Some(t.source_port());
            pkt.dport = Some(t.destination_port());
            pkt.flags = u8::from(t.fin())
                | u8::from(t.syn()) << 1
                | u8::from(t.rst()) << 2
                | u8::from(t.ack()) << 4;
            pkt.payload_len = t.payload().len();
        }
        TransportSlice::Udp(u) => {
            pkt.sport = Some(u.source_port());
            pkt.dport = Some(u.destination_port());
            pkt.payload_len = u.payload().len();
        }
        TransportSlice::Icmpv4(i) => pkt.icmp = Some((i.type_u8(), i.code_u8(), i.payload())),
        TransportSlice::Icmpv6(i) => pkt.icmp = Some((i.type_u8(), i.code_u8(), i.payload())),
        TransportSlice::Igmp(_) => panic!("IGMP in capture"),
    }
    pkt
}

/// Parses the whole capture with `pcap_parser`, checking the file and record headers.
fn parse(pcap: &[u8]) -> Vec<Pkt<'_>> {
    let (rest, cap) = pcap_parser::parse_pcap(pcap).unwrap();
    assert!(rest.is_empty(), "trailing bytes after the last record");
    assert_eq!(cap.header.network, pcap_parser::Linktype::ETHERNET);
    assert_eq!((cap.header.version_major, cap.header.version_minor), (2, 4));
    assert!(!cap.header.is_bigendian() && !cap.header.is_nanosecond_precision());
    cap.blocks
        .iter()
        .map(|b| {
            assert_eq!(b.caplen, b.origlen);
            assert_eq!(b.caplen as usize, b.data.len());
            slice(
                b.data,
                i64::from(b.ts_sec) * 1_000_000 + i64::from(b.ts_usec),
            )
        })
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_differs() {
    let cfg = Config {
        target_packets: 4_000,
        ..Config::default()
    };
    let (p1, t1, s1) = generate(&cfg);
    let (p2, t2, s2) = generate(&cfg);
    assert!(
        p1 == p2 && t1 == t2 && s1 == s2,
        "same config, different output"
    );
    let (p3, t3, _) = generate(&Config { seed: 2, ..cfg });
    assert_ne!(p1, p3);
    assert_ne!(t1, t3);
}

#[test]
fn capture_parses_in_time_order_with_the_announced_counts() {
    let (pcap, truth, s) = generate(&Config::default());
    let pkts = parse(&pcap);
    assert_eq!(pkts.len() as u64, s.packets);
    assert_eq!(pcap.len() as u64, s.bytes);
    assert!(s.packets >= 20_000 && s.packets < 21_000, "{}", s.packets);
    assert!(
        pkts.windows(2).all(|w| w[0].ts <= w[1].ts),
        "timestamps go backwards"
    );
    assert_eq!(
        (pkts[0].ts, pkts[pkts.len() - 1].ts),
        (s.first_us, s.last_us)
    );
    assert_eq!(records(&truth).len() as u64, s.truth_records);
    // Realism: both IP versions, tagged frames, TCP, UDP and ICMP.
    assert!(pkts.iter().any(|p| p.src.is_ipv6()) && pkts.iter().any(|p| p.vlan == Some(100)));
    for proto in [6, 17, 1, 58] {
        assert!(
            pkts.iter().any(|p| p.proto == proto),
            "no packet of protocol {proto}"
        );
    }
    let v6 = pkts.iter().filter(|p| p.src.is_ipv6()).count();
    assert!(
        v6 * 50 > pkts.len() && v6 * 4 < pkts.len(),
        "IPv6 share {v6}/{}",
        pkts.len()
    );
}

#[test]
fn default_config_injects_every_event() {
    let cfg = Config::default();
    let (_, truth, s) = generate(&cfg);
    let recs = records(&truth);
    for ev in Event::INJECTED {
        let n = recs.iter().filter(|r| r.event == ev).count() as u64;
        // The connections open at the start and at the end of the capture exist once per
        // capture by design.
        if matches!(ev, Event::HttpMidStream | Event::HttpCaptureEnded) {
            assert_eq!(n, 1, "{}", ev.name());
        } else {
            assert!(
                n >= u64::from(cfg.min_per_event),
                "{} appears {n} times",
                ev.name()
            );
        }
        assert_eq!(s.events.get(&ev).copied().unwrap_or(0), n);
    }
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.id, i as u64);
        assert_eq!(r.kind, r.event.entry_kind().as_str());
        assert_eq!(r.tuple, r.flow.to_string());
    }
}

#[test]
fn truth_matches_the_packets() {
    let (pcap, truth, _) = generate(&Config::default());
    let pkts = parse(&pcap);
    let end = pkts[pkts.len() - 1].ts;
    for r in records(&truth) {
        if r.kind == "icmp" && r.event != Event::EchoNoReply {
            check_icmp(&pkts, &r);
        } else {
            check_flow(&pkts, &r, end);
        }
    }
}

/// TCP, timeout, loss and echo records: the flow's packets, span and final state.
fn check_flow(pkts: &[Pkt<'_>], r: &TruthRecord, end: i64) {
    let flow: Vec<&Pkt<'_>> = pkts.iter().filter(|p| p.in_flow(&r.flow)).collect();
    let name = r.event.name();
    assert_eq!(Some(flow.len() as u32), r.packets, "{name} {}", r.tuple);
    assert_eq!(Some(flow[0].ts), r.first_us, "{name}");
    assert_eq!(Some(flow[flow.len() - 1].ts), r.last_us, "{name}");
    assert!(
        flow.iter().any(|p| p.ts == r.ts_us),
        "{name}: no packet at ts_us"
    );
    let last = flow[flow.len() - 1];
    let fins = flow.iter().filter(|p| p.flags & FIN != 0).count();
    let from_resp = flow.iter().filter(|p| !p.sent_by_orig(&r.flow)).count();
    if r.flow.proto == 6 && r.event != Event::HttpMidStream {
        assert_eq!(
            flow[0].flags, SYN,
            "{name}: flow starts with a SYN from the originator"
        );
        assert!(flow[0].sent_by_orig(&r.flow));
        assert!(r.counters.is_some(), "{name}: TCP record without counters");
    }
    match r.event {
        Event::SynNoAnswer => {
            assert_eq!((flow.len(), from_resp), (3, 0), "{name}");
            assert_eq!(r.counters.unwrap().retransmissions, 2);
        }
        Event::SynTimeExceeded => assert_eq!(flow.len(), 1),
        Event::SynRefused => {
            assert_eq!(flow.len(), 2);
            assert_eq!(last.flags, RST | ACK);
        }
        Event::ResetByOriginator | Event::ResetByResponder => {
            assert!(last.flags & RST != 0 && fins == 0, "{name}");
            assert_eq!(
                last.sent_by_orig(&r.flow),
                r.event == Event::ResetByOriginator
            );
            assert!(
                flow.iter()
                    .any(|p| p.payload_len > 0 && !p.sent_by_orig(&r.flow)),
                "{name}: not mid-transfer"
            );
        }
        Event::CloseWait => assert!(fins == 1 && last.flags == ACK, "{name}"),
        Event::LastAck => assert!(fins == 2 && last.flags & FIN != 0, "{name}"),
        Event::IdleUnacked => assert!(last.payload_len > 0 && last.sent_by_orig(&r.flow), "{name}"),
        Event::LossGap => {
            let c = r.counters.unwrap();
            assert!(
                c.lost_segments >= 1 && c.fast_retransmissions == c.lost_segments,
                "{c:?}"
            );
            assert!(
                c.dup_acks >= 3 * c.lost_segments && c.retransmissions == c.fast_retransmissions
            );
        }
        Event::LossRetransmission => {
            let c = r.counters.unwrap();
            assert!(
                (1..=2).contains(&c.retransmissions) && c.dup_acks == 0 && c.lost_segments == 0,
                "{c:?}"
            );
        }
        Event::EchoNoReply => assert!(from_resp == 0 && flow.len() == 3, "{name}"),
        Event::HttpNoResponse | Event::HttpNotHttp => {
            let server_data = flow
                .iter()
                .filter(|p| p.payload_len > 0 && !p.sent_by_orig(&r.flow))
                .count();
            let requests = flow
                .iter()
                .filter(|p| p.payload_len > 0 && p.sent_by_orig(&r.flow))
                .count();
            // Earlier exchanges on the connection were answered; the last request was not.
            assert!(
                fins == 2 && requests > server_data.min(requests - 1),
                "{name}"
            );
            let last_data = flow.iter().rev().find(|p| p.payload_len > 0).unwrap();
            assert!(
                last_data.sent_by_orig(&r.flow),
                "{name}: the client spoke last"
            );
        }
        Event::HttpCaptureEnded => {
            assert!(fins == 0, "{name}: still open when the capture ends");
            let last_data = flow.iter().rev().find(|p| p.payload_len > 0).unwrap();
            assert!(last_data.sent_by_orig(&r.flow), "{name}: the request");
        }
        Event::HttpResponseCut => {
            assert!(fins == 2, "{name}");
            let last_data = flow.iter().rev().find(|p| p.payload_len > 0).unwrap();
            assert!(
                !last_data.sent_by_orig(&r.flow),
                "{name}: cut inside the response"
            );
        }
        Event::HttpResponseLost | Event::HttpRequestLost => {
            let c = r.counters.unwrap();
            assert_eq!(
                (c.lost_segments, c.ack_lost_segments, c.retransmissions),
                (1, 2, 0),
                "{name}"
            );
            // The first packet acknowledging the missed message comes from its receiver: the
            // client's pure ACK of a response, the server's packet after a request.
            let ack = flow.iter().find(|p| p.ts == r.ts_us).unwrap();
            let response = r.event == Event::HttpResponseLost;
            assert_eq!(ack.sent_by_orig(&r.flow), response, "{name}");
            assert!(!response || ack.payload_len == 0, "{name}");
            assert!(fins >= 2, "{name}: closes normally");
        }
        Event::HttpRequestReset => {
            assert!(last.flags & RST != 0 && fins == 0, "{name}");
            assert!(!last.sent_by_orig(&r.flow), "{name}: reset by the server");
            let last_data = flow.iter().rev().find(|p| p.payload_len > 0).unwrap();
            assert!(last_data.sent_by_orig(&r.flow), "{name}: the request");
        }
        Event::HttpBadChunk => {
            assert!(fins == 2, "{name}");
            let resp = flow.iter().find(|p| p.ts == r.ts_us).unwrap();
            assert!(
                !resp.sent_by_orig(&r.flow) && resp.payload_len > 0,
                "{name}"
            );
        }
        Event::HttpMidStream => {
            // Begun before the capture: first seen at the server's response, never a SYN.
            assert_eq!(flow[0].ts, r.ts_us, "{name}");
            assert!(!flow[0].sent_by_orig(&r.flow) && flow[0].payload_len > 0);
            assert!(flow.iter().all(|p| p.flags & SYN == 0), "{name}");
            assert_eq!(r.counters, Some(Counters::default()), "{name}");
        }
        Event::DnsNoResponse | Event::DnsMalformed => {
            assert!(flow.len() == 1 && r.flow.resp_port == Some(53), "{name}")
        }
        Event::DnsUnsolicited => {
            // One packet, sent by the DNS server.
            let from_53 = flow[0].sent_by_orig(&r.flow) == (r.flow.orig_port == Some(53));
            assert!(flow.len() == 1 && from_53, "{name}");
        }
        other => panic!("unexpected flow event {other:?}"),
    }
    if matches!(r.event, Event::LossGap | Event::LossRetransmission) {
        assert!(fins == 3 || fins == 2, "{name}: loss flows close normally");
    }
    let silent = matches!(
        r.event,
        Event::SynNoAnswer
            | Event::SynTimeExceeded
            | Event::CloseWait
            | Event::LastAck
            | Event::IdleUnacked
            | Event::DnsNoResponse
    );
    if silent {
        assert!(
            end - last.ts >= QUIET_US,
            "{name}: only {} µs of capture after the flow",
            end - last.ts
        );
    }
}

/// ICMP records: the message is in the capture and quotes a packet of the related flow.
fn check_icmp(pkts: &[Pkt<'_>], r: &TruthRecord) {
    let icmp = r.icmp.unwrap();
    let name = r.event.name();
    let msg = pkts
        .iter()
        .find(|p| {
            p.ts == r.ts_us
                && p.src == r.flow.orig_ip
                && p.dst == r.flow.resp_ip
                && p.icmp.is_some()
        })
        .unwrap_or_else(|| panic!("{name}: message not in capture"));
    let (ty, code, body) = msg.icmp.unwrap();
    assert_eq!(
        (ty, code, msg.vlan),
        (icmp.icmp_type, icmp.code, r.flow.vlan),
        "{name}"
    );
    assert_eq!(msg.proto, if icmp.version == 6 { 58 } else { 1 });
    let (Some(q), Some(related)) = (icmp.quoted, r.related) else {
        assert!(icmp.quoted.is_none() && r.related.is_none(), "{name}");
        return;
    };
    let inner = LaxSlicedPacket::from_ip(body).unwrap();
    let (src, dst, proto) = ip_of(inner.net.as_ref().unwrap());
    let ports = match inner.transport {
        Some(TransportSlice::Tcp(t)) => (Some(t.source_port()), Some(t.destination_port())),
        Some(TransportSlice::Udp(u)) => (Some(u.source_port()), Some(u.destination_port())),
        _ => (None, None),
    };
    assert_eq!(
        (q.proto, q.src_ip, q.src_port, q.dst_ip, q.dst_port),
        (proto, src, ports.0, dst, ports.1),
        "{name}"
    );
    assert!(
        pkts.iter()
            .any(|p| p.ts <= r.ts_us && p.in_flow(&related) && p.src == q.src_ip),
        "{name}: quoted packet's flow {related} not captured before the error"
    );
}

#[test]
fn normal_tcp_flows_are_complete() {
    let (pcap, truth, _) = generate(&Config {
        target_packets: 10_000,
        ..Config::default()
    });
    let pkts = parse(&pcap);
    let injected: Vec<FlowKey> = records(&truth).iter().map(|r| r.flow).collect();
    let mut flows: HashMap<(IpAddr, u16, IpAddr, u16), Vec<&Pkt<'_>>> = HashMap::new();
    for p in pkts.iter().filter(|p| p.proto == 6) {
        let (a, b) = ((p.src, p.sport.unwrap()), (p.dst, p.dport.unwrap()));
        let key = if p.flags == SYN || b.1 == 80 || b.1 == 8080 {
            (a.0, a.1, b.0, b.1)
        } else {
            (b.0, b.1, a.0, a.1)
        };
        flows.entry(key).or_default().push(p);
    }
    let mut normal = 0;
    for ((oi, op, ri, rp), f) in &flows {
        if injected.iter().any(|k| {
            k.orig_ip == *oi
                && k.orig_port == Some(*op)
                && k.resp_ip == *ri
                && k.resp_port == Some(*rp)
        }) {
            continue;
        }
        normal += 1;
        let flags: Vec<u8> = f.iter().map(|p| p.flags).collect();
        assert_eq!(&flags[..3], &[SYN, SYN | ACK, ACK], "{oi}:{op} handshake");
        assert_eq!(
            flags.iter().filter(|&&x| x & FIN != 0).count(),
            2,
            "{oi}:{op} close"
        );
        assert_eq!(*flags.last().unwrap(), ACK, "{oi}:{op} final ACK");
        assert!(flags.iter().all(|&x| x & RST == 0));
    }
    assert!(normal > 100, "only {normal} normal TCP flows");
}

/// Compares the truth counters with tshark's `tcp.analysis` flags for every TCP flow (flows
/// absent from the truth file must have none). Needs `tshark` (Debian package) on the PATH.
#[test]
fn tshark_agrees_with_the_expected_counters() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("SKIP tshark_agrees_with_the_expected_counters: tshark is not installed");
        return;
    }
    let cfg = Config {
        target_packets: 30_000,
        error_permille: 300,
        seed: 7,
        ..Config::default()
    };
    let (pcap, truth, _) = generate(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.pcap");
    std::fs::write(&path, &pcap).unwrap();
    let flags = [
        "tcp.analysis.retransmission",
        "tcp.analysis.fast_retransmission",
        "tcp.analysis.lost_segment",
        "tcp.analysis.ack_lost_segment",
        "tcp.analysis.duplicate_ack",
        "tcp.analysis.out_of_order",
        "tcp.analysis.zero_window",
        "tcp.analysis.spurious_retransmission",
        "tcp.analysis.keep_alive",
    ];
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(&path)
        .args(["-Y", "tcp", "-T", "fields", "-E", "occurrence=f"]);
    for f in [
        "ip.src",
        "ipv6.src",
        "tcp.srcport",
        "ip.dst",
        "ipv6.dst",
        "tcp.dstport",
    ]
    .iter()
    .chain(&flags)
    {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen: HashMap<[(String, String); 2], [u32; 9]> = HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let a = (format!("{}{}", c[0], c[1]), c[2].to_owned());
        let b = (format!("{}{}", c[3], c[4]), c[5].to_owned());
        let key = if a < b { [a, b] } else { [b, a] };
        let counts = seen.entry(key).or_default();
        for (i, v) in c[6..].iter().enumerate() {
            counts[i] += u32::from(!v.is_empty());
        }
    }
    let mut expected: HashMap<[(String, String); 2], [u32; 9]> = HashMap::new();
    for r in records(&truth).into_iter().filter(|r| r.flow.proto == 6) {
        let c = r.counters.unwrap();
        let a = (
            r.flow.orig_ip.to_string(),
            r.flow.orig_port.unwrap().to_string(),
        );
        let b = (
            r.flow.resp_ip.to_string(),
            r.flow.resp_port.unwrap().to_string(),
        );
        let key = if a < b { [a, b] } else { [b, a] };
        let v = [
            c.retransmissions,
            c.fast_retransmissions,
            c.lost_segments,
            c.ack_lost_segments,
            c.dup_acks,
            c.out_of_order,
            c.zero_windows,
            0,
            0,
        ];
        expected.insert(key, v);
    }
    assert!(
        expected.len() > 150,
        "too few injected TCP flows: {}",
        expected.len()
    );
    for (key, got) in &seen {
        let want = expected.get(key).copied().unwrap_or_default();
        assert_eq!(
            *got, want,
            "flow {key:?}: tshark {got:?} truth {want:?} ({flags:?})"
        );
    }
    assert!(expected.keys().all(|k| seen.contains_key(k)));
}

#[test]
fn memory_is_bounded_by_concurrency_not_size() {
    let small = generate(&Config {
        target_packets: 20_000,
        ..Config::default()
    })
    .2;
    let big = write_capture(
        &Config {
            target_packets: 200_000,
            ..Config::default()
        },
        io::sink(),
        io::sink(),
    )
    .unwrap();
    assert!(big.packets >= 200_000);
    assert!(
        big.peak_conversations <= 2 * small.peak_conversations + 50,
        "peak conversations grew with size: {} vs {}",
        big.peak_conversations,
        small.peak_conversations
    );
    // Error share at scale: a few percent of conversations.
    let errors: u64 = big.events.values().sum();
    assert!(
        errors * 100 < big.conversations * 4,
        "{errors} events in {} conversations",
        big.conversations
    );
}

/// 1 M packets to a sink; prints time and peak RSS (run with `--ignored --nocapture`, in
/// release for meaningful numbers).
#[test]
#[ignore]
fn one_million_packets() {
    let start = std::time::Instant::now();
    let cfg = Config {
        target_packets: 1_000_000,
        ..Config::default()
    };
    let s = write_capture(&cfg, io::sink(), io::sink()).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_owned();
    let errors: u64 = s.events.values().sum();
    println!(
        "{} packets, {} bytes, {} conversations, {} truth records ({:.2} % of conversations), peak {} concurrent, \
         {:.1} s capture time, generated in {secs:.2} s ({:.0} packets/s), {hwm}",
        s.packets,
        s.bytes,
        s.conversations,
        s.truth_records,
        errors as f64 * 100.0 / s.conversations as f64,
        s.peak_conversations,
        (s.last_us - s.first_us) as f64 / 1e6,
        s.packets as f64 / secs
    );
    assert!(s.packets >= 1_000_000);
    let kib: u64 = hwm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(kib < 256 * 1024, "peak RSS {kib} KiB");
}
