//! tshark 4.0's per-packet `tcp.analysis` flags against faultline's [`TcpAnalyzer`] on random
//! TCP conversations: new data, segments missing from the capture (lost on the wire, or only
//! at the capture point), retransmissions of old ranges, pure and duplicate ACKs, window
//! updates and zero windows, keep-alives, out-of-order arrivals, repeated SYNs, SYN-ACKs and
//! FINs, resets, ports used again with new sequence numbers, at random intervals around the
//! thresholds tshark uses (20 ms for fast retransmissions, the handshake RTT for out-of-order).
//! Half the conversations carry TCP options (MSS, SACK permitted, window scaling and timestamps
//! on the SYNs, timestamps and some SACK blocks after), and faultline reads every frame with its
//! own decoder. Every packet of every conversation must carry the same flags in both, and the
//! same `tcp.completeness` (tshark's conversation completeness, which faultline's flow table
//! keeps).
//! Needs `tshark` on the PATH (CI installs it); skipped without it unless `CI` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod prop_support;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use etherparse::{PacketBuilder, TcpOptionElement};
use faultline_ingest::decode::Transport;
use faultline_ingest::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use faultline_ingest::source::pcap_file::{file_header, record_header};
use faultline_ingest::tcp::analysis::{SegmentFlags, TcpAnalyzer};
use faultline_ingest::tcp::history::{self, completeness_update};
use faultline_ingest::{LinkType, decode};
use prop_support::Rng;

/// One packet of a conversation; side 0 is the client.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    from: usize,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    len: u32,
    ts_us: i64,
}

/// A conversation being scripted.
struct Conv {
    /// Next sequence number each side sends.
    next: [u32; 2],
    /// What each side has received of its peer's bytes (the ACK number it sends).
    rcv: [u32; 2],
    window: [u16; 2],
    ts_us: i64,
    pkts: Vec<Pkt>,
    /// The last pure ACK of each side, to repeat as a duplicate.
    last_ack: [Option<Pkt>; 2],
    /// Packets carry TCP options: MSS, SACK permitted, timestamps and window scaling on the
    /// SYNs, timestamps (and SACK blocks on some ACKs) after.
    options: bool,
}

impl Conv {
    fn push(&mut self, rng: &mut Rng, mut p: Pkt) {
        // Intervals around 20 ms (fast retransmission) and around the handshake RTT.
        self.ts_us += [10, 300, 2_000, 15_000, 25_000, 120_000][rng.range(0, 5)] as i64;
        p.ts_us = self.ts_us;
        self.pkts.push(p);
    }

    fn segment(&self, from: usize, seq: u32, flags: u8, len: u32) -> Pkt {
        Pkt {
            from,
            seq,
            ack: self.rcv[from],
            flags,
            window: self.window[from],
            len,
            ts_us: 0,
        }
    }

    fn new(rng: &mut Rng) -> Conv {
        let mut c = Conv {
            next: [0, 0],
            rcv: [0, 0],
            window: [64_000, 29_000],
            ts_us: 1_700_000_000_000_000 + rng.range(0, 1_000_000) as i64,
            pkts: Vec::new(),
            last_ack: [None, None],
            options: rng.chance(50),
        };
        c.handshake(rng);
        c
    }

    /// A three-way handshake with new sequence numbers (the SYN or the SYN-ACK sometimes
    /// sent twice); on a used connection, a reuse of its ports.
    fn handshake(&mut self, rng: &mut Rng) {
        let isn = [rng.next() as u32, rng.next() as u32];
        self.next = [isn[0].wrapping_add(1), isn[1].wrapping_add(1)];
        self.rcv = [0, isn[0].wrapping_add(1)];
        self.last_ack = [None, None];
        let syn = Pkt {
            ack: 0,
            ..self.segment(0, isn[0], SYN, 0)
        };
        self.push(rng, syn);
        if rng.chance(10) {
            self.push(rng, syn);
        }
        let syn_ack = self.segment(1, isn[1], SYN | ACK, 0);
        self.push(rng, syn_ack);
        if rng.chance(5) {
            self.push(rng, syn_ack);
        }
        self.rcv[0] = isn[1].wrapping_add(1);
        let ack = self.segment(0, self.next[0], ACK, 0);
        self.push(rng, ack);
    }

    /// One random event from side `d`.
    fn event(&mut self, rng: &mut Rng, d: usize) {
        let to = 1 - d;
        match rng.range(0, 99) {
            // New data; sometimes missing from the capture, received or not.
            0..=44 => {
                let len = if rng.chance(10) {
                    1
                } else {
                    rng.range(1, 1460) as u32
                };
                let seq = self.next[d];
                self.next[d] = seq.wrapping_add(len);
                let captured = !rng.chance(12);
                let received = captured || rng.chance(50);
                if received && self.rcv[to] == seq {
                    self.rcv[to] = self.next[d];
                }
                if captured {
                    let p = self.segment(d, seq, ACK | PSH, len);
                    self.push(rng, p);
                }
            }
            // A retransmission of an earlier range, or of everything not yet acknowledged.
            45..=54 => {
                let unacked = self.next[d].wrapping_sub(self.rcv[to]);
                let (seq, len) = if unacked > 0 && rng.chance(60) {
                    (self.rcv[to], unacked.min(1460))
                } else {
                    let back = rng.range(1, 4000) as u32;
                    let seq = self.next[d].wrapping_sub(back);
                    (seq, back.min(rng.range(1, 1460) as u32))
                };
                if self.rcv[to] == seq {
                    self.rcv[to] = seq.wrapping_add(len);
                }
                let p = self.segment(d, seq, ACK, len);
                self.push(rng, p);
            }
            // A pure ACK, sometimes with a new or zero window.
            55..=74 => {
                if rng.chance(15) {
                    self.window[d] = [0, 512, 8_192, 64_000][rng.range(0, 3)];
                }
                let p = self.segment(d, self.next[d], ACK, 0);
                self.last_ack[d] = Some(p);
                self.push(rng, p);
            }
            // The last pure ACK again (a duplicate ACK, if nothing moved).
            75..=87 => {
                if let Some(p) = self.last_ack[d] {
                    self.push(rng, p);
                }
            }
            // A keep-alive: 0 or 1 byte one below the next sequence number.
            88..=92 => {
                let len = rng.range(0, 1) as u32;
                let p = self.segment(d, self.next[d].wrapping_sub(1), ACK, len);
                self.push(rng, p);
            }
            // One byte into a zero window, or just past what was sent.
            93..=96 => {
                let p = self.segment(d, self.next[d], ACK, 1);
                self.next[d] = self.next[d].wrapping_add(1);
                if self.rcv[to] == p.seq {
                    self.rcv[to] = self.next[d];
                }
                self.push(rng, p);
            }
            // Two segments of new data, the second captured first.
            _ => {
                let (a, b) = (rng.range(1, 1460) as u32, rng.range(1, 1460) as u32);
                let seq = self.next[d];
                self.next[d] = seq.wrapping_add(a + b);
                if self.rcv[to] == seq {
                    self.rcv[to] = self.next[d];
                }
                let second = self.segment(d, seq.wrapping_add(a), ACK, b);
                let first = self.segment(d, seq, ACK, a);
                self.push(rng, second);
                self.push(rng, first);
            }
        }
    }

    /// FIN both ways and the last ACK, or a RST.
    fn close(&mut self, rng: &mut Rng) {
        let d = rng.range(0, 1);
        if rng.chance(15) {
            let p = self.segment(d, self.next[d], RST | ACK, 0);
            self.push(rng, p);
            return;
        }
        for side in [d, 1 - d] {
            let p = self.segment(side, self.next[side], FIN | ACK, 0);
            self.next[side] = self.next[side].wrapping_add(1);
            self.rcv[1 - side] = self.next[side];
            self.push(rng, p);
            if rng.chance(5) {
                // The FIN again, as a retransmission.
                self.push(rng, p);
            }
        }
        let p = self.segment(d, self.next[d], ACK, 0);
        self.push(rng, p);
    }
}

/// The tshark field names whose flags `flags` raises.
fn names(flags: SegmentFlags) -> BTreeSet<&'static str> {
    SegmentFlags::TSHARK_FIELDS
        .iter()
        .filter(|(_, f)| flags.intersects(*f))
        .map(|(n, _)| *n)
        .collect()
}

/// One captured frame: conversation, packet index in it, time, bytes.
struct Frame {
    conv: usize,
    index: usize,
    ts_us: i64,
    bytes: Vec<u8>,
}

/// Every packet of the conversations as an Ethernet frame, in capture (time) order;
/// conversation `i` is on client port 20000 + i.
fn frames(convs: &[Conv]) -> Vec<Frame> {
    let mut all: Vec<(usize, usize, Pkt)> = convs
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.pkts.iter().enumerate().map(move |(k, p)| (i, k, *p)))
        .collect();
    all.sort_by_key(|(i, k, p)| (p.ts_us, *i, *k));
    let payload = [0x5au8; 1460];
    all.into_iter()
        .map(|(i, k, p)| {
            let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
            let (cport, sport) = (20_000 + i as u16, 80);
            let (src, dst, sp, dp) = if p.from == 0 {
                (a, b, cport, sport)
            } else {
                (b, a, sport, cport)
            };
            let mut tcp = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(src, dst, 64)
                .tcp(sp, dp, p.seq, p.window);
            if p.flags & SYN != 0 {
                tcp = tcp.syn();
            }
            if p.flags & ACK != 0 {
                tcp = tcp.ack(p.ack);
            }
            if p.flags & PSH != 0 {
                tcp = tcp.psh();
            }
            if p.flags & FIN != 0 {
                tcp = tcp.fin();
            }
            if p.flags & RST != 0 {
                tcp = tcp.rst();
            }
            if convs[i].options {
                tcp = tcp.options(&options(&p)).unwrap();
            }
            let mut bytes = Vec::new();
            tcp.write(&mut bytes, &payload[..p.len as usize]).unwrap();
            Frame {
                conv: i,
                index: k,
                ts_us: p.ts_us,
                bytes,
            }
        })
        .collect()
}

/// The options of a packet of a conversation that uses them.
fn options(p: &Pkt) -> Vec<TcpOptionElement> {
    let tsval = (p.ts_us / 1_000) as u32;
    if p.flags & SYN != 0 {
        let echo = if p.flags & ACK != 0 { tsval - 1 } else { 0 };
        return vec![
            TcpOptionElement::MaximumSegmentSize(1460),
            TcpOptionElement::SelectiveAcknowledgementPermitted,
            TcpOptionElement::Timestamp(tsval, echo),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(7),
        ];
    }
    let mut out = vec![
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Timestamp(tsval, tsval - 3),
    ];
    if p.len == 0 && p.seq.is_multiple_of(3) {
        // A SACK block beyond the ACK number, as a receiver holding later data sends.
        let left = p.ack.wrapping_add(1460);
        out.push(TcpOptionElement::Noop);
        out.push(TcpOptionElement::Noop);
        out.push(TcpOptionElement::SelectiveAcknowledgement(
            (left, left.wrapping_add(1460)),
            [None, None, None],
        ));
    }
    out
}

/// A classic pcap of the frames.
fn pcap(frames: &[Frame]) -> Vec<u8> {
    let mut out = file_header(1, 65_535).to_vec();
    for f in frames {
        let len = f.bytes.len() as u32;
        out.extend_from_slice(&record_header(f.ts_us, len, len));
        out.extend_from_slice(&f.bytes);
    }
    out
}

/// What tshark shows on one packet.
struct Row {
    /// The client's port: the conversation.
    port: u16,
    /// `tcp.stream`.
    stream: u32,
    /// `tcp.completeness` so far (single pass).
    completeness: u8,
    flags: BTreeSet<&'static str>,
}

/// tshark's view of every packet, in capture order.
fn tshark_rows(pcap: &[u8]) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.pcap");
    std::fs::write(&path, pcap).unwrap();
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(&path)
        .args(["-T", "fields", "-E", "occurrence=f", "-e", "tcp.srcport"])
        .args([
            "-e",
            "tcp.dstport",
            "-e",
            "tcp.stream",
            "-e",
            "tcp.completeness",
        ]);
    for (f, _) in SegmentFlags::TSHARK_FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            let (sp, dp): (u16, u16) = (c[0].parse().unwrap(), c[1].parse().unwrap());
            let flags = SegmentFlags::TSHARK_FIELDS
                .iter()
                .zip(&c[4..])
                .filter(|(_, v)| !v.is_empty())
                .map(|((n, _), _)| *n)
                .collect();
            Row {
                port: if sp == 80 { dp } else { sp },
                stream: c[2].parse().unwrap(),
                completeness: c[3].parse().unwrap(),
                flags,
            }
        })
        .collect()
}

#[test]
fn random_conversations_get_tsharks_flags_packet_by_packet() {
    if Command::new("tshark").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "tshark is not installed");
        eprintln!("SKIP: tshark is not installed");
        return;
    }
    let mut rng = Rng(2026);
    let convs: Vec<Conv> = (0..300)
        .map(|_| {
            let mut c = Conv::new(&mut rng);
            // Sometimes the ports are used again after the close, with new sequence numbers.
            for round in 0..1 + usize::from(rng.chance(10)) {
                if round > 0 {
                    c.handshake(&mut rng);
                }
                for _ in 0..rng.range(5, 40) {
                    let d = rng.range(0, 1);
                    c.event(&mut rng, d);
                }
                c.close(&mut rng);
            }
            c
        })
        .collect();
    let frames = frames(&convs);
    let rows = tshark_rows(&pcap(&frames));
    assert_eq!(rows.len(), frames.len());
    let mut analyzers = vec![TcpAnalyzer::new(); convs.len()];
    let mut mismatches = Vec::new();
    let mut flagged = 0;
    // tcp.completeness per tshark stream, folded over the stream's packets as faultline does.
    // In one pass tshark shows on each packet the value before that packet's own part.
    let mut completeness: HashMap<u32, u8> = HashMap::new();
    let mut differ = Vec::new();
    for (f, row) in frames.iter().zip(&rows) {
        assert_eq!(row.port, 20_000 + f.conv as u16, "packet order");
        // Through faultline's own decoder: options, lengths and flags as read from the wire.
        let frame = faultline_ingest::Frame {
            ts_us: f.ts_us,
            link: LinkType::Ethernet,
            data: &f.bytes,
            orig_len: f.bytes.len() as u32,
            interface: 0,
        };
        let Transport::Tcp(seg) = decode(&frame).unwrap().transport else {
            panic!("not TCP");
        };
        let from_orig = seg.dst_port == 80;
        let mut first = !completeness.contains_key(&row.stream);
        let ours = completeness.entry(row.stream).or_default();
        if first && f.index > 0 {
            // A stream tshark opens on a reused port starts from the SYN bit, then judges
            // that SYN inside the stream (see tcp_oracle.rs).
            *ours = history::completeness::SYN;
            first = false;
        }
        if *ours != row.completeness {
            differ.push((row.stream, f.index, *ours, row.completeness));
        }
        *ours = completeness_update(*ours, seg.flags, seg.payload_len, first);
        let flags = names(analyzers[f.conv].on_segment(from_orig, &seg, f.ts_us));
        flagged += usize::from(!row.flags.is_empty());
        if flags != row.flags {
            let p = convs[f.conv].pkts[f.index];
            mismatches.push(format!(
                "conversation {} packet {} {p:?}: tshark {:?}, faultline {flags:?}",
                f.conv, f.index, row.flags
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "tcp.completeness differs (stream, packet, faultline, tshark): {differ:?}"
    );
    assert!(
        completeness.len() > convs.len(),
        "ports used again: more streams"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} packets differ:\n{}",
        mismatches.len(),
        frames.len(),
        mismatches[..mismatches.len().min(15)].join("\n")
    );
    assert!(flagged > 1000, "only {flagged} flagged packets");
    // Every flag occurs.
    for (field, _) in SegmentFlags::TSHARK_FIELDS {
        let n = rows.iter().filter(|r| r.flags.contains(field)).count();
        assert!(n > 0, "no packet with {field}");
    }
}
