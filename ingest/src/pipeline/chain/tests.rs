//! Tests of the flow table with faultline's analyzer chain, with hand-built packets: TCP states
//! and reasons, timeouts, eviction, originator detection, port reuse, VLANs, UDP, ICMP and
//! other protocols.

use std::net::IpAddr;

use faultline_schemas::{EntryKind, ErrorType};

use super::*;
use crate::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use crate::decode::{IcmpMessage, IpInfo, Packet, TcpSegment, Transport, UdpDatagram};
use crate::emit::{Emit, EntryBody, EntryView, FlowView, LossCounters, QuotedTuple};
use crate::flow::{CommunityId, FlowConfig, FlowStats};

const C: &str = "10.0.0.1";
const S: &str = "10.0.0.2";
const CP: u16 = 40000;
const SP: u16 = 80;
const MS: i64 = 1_000;
const SEC: i64 = 1_000_000;
/// Capture start, µs.
const T0: i64 = 1_700_000_000 * SEC;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An entry as recorded by [`Rec`].
#[derive(Debug, Clone, PartialEq)]
struct E {
    ts_us: i64,
    kind: EntryKind,
    flow_id: Option<u64>,
    summary: String,
    error_type: Option<ErrorType>,
    msg: String,
    reason: String,
    loss: Option<LossCounters>,
    quoted: Option<QuotedTuple>,
    src: (IpAddr, Option<u16>),
}

/// A flow record as recorded by [`Rec`].
#[derive(Debug, Clone, PartialEq)]
struct F {
    id: u64,
    community_id: String,
    orig: (IpAddr, u16),
    resp: (IpAddr, u16),
    proto: u8,
    vlan: Option<u16>,
    start_us: i64,
    end_us: i64,
    conn_state: Option<String>,
    history: Option<String>,
    tcp_error: Option<String>,
    end_reason: String,
    completeness: Option<u8>,
    orig_pkts: u64,
    resp_pkts: u64,
    orig_bytes: u64,
    resp_bytes: u64,
    orig_ip_bytes: u64,
    rtt: Option<i64>,
    retransmissions: u32,
    echo: (u32, u32, u32),
}

#[derive(Debug, Default)]
struct Rec {
    entries: Vec<E>,
    flows: Vec<F>,
}

impl Emit for Rec {
    fn entry(&mut self, e: &EntryView<'_>) {
        let h = &e.header;
        let (loss, quoted) = match e.body {
            EntryBody::Loss(l) => (Some(l), None),
            EntryBody::Icmp(i) => (None, i.quoted),
            _ => (None, None),
        };
        self.entries.push(E {
            ts_us: h.ts_us,
            kind: e.kind(),
            flow_id: h.flow.map(|f| f.flow_id),
            summary: h.summary.to_string(),
            error_type: h.error.map(|x| x.error_type),
            msg: h.error.map(|x| x.msg.to_string()).unwrap_or_default(),
            reason: h.error.map(|x| x.reason.to_string()).unwrap_or_default(),
            loss,
            quoted,
            src: h.src,
        });
    }

    fn flow(&mut self, f: &FlowView<'_>) {
        self.flows.push(F {
            id: f.ident.flow_id,
            community_id: f.ident.community_id.to_string(),
            orig: f.ident.orig,
            resp: f.ident.resp,
            proto: f.ident.proto,
            vlan: f.ident.vlan,
            start_us: f.start_us,
            end_us: f.end_us,
            conn_state: f.conn_state.map(str::to_string),
            history: f.history.map(str::to_string),
            tcp_error: f.tcp_error.map(str::to_string),
            end_reason: f.end_reason.to_string(),
            completeness: f.completeness,
            orig_pkts: f.orig.pkts,
            resp_pkts: f.resp.pkts,
            orig_bytes: f.orig.bytes,
            resp_bytes: f.resp.bytes,
            orig_ip_bytes: f.orig.ip_bytes,
            rtt: f.handshake_rtt_us,
            retransmissions: f.loss.retransmissions,
            echo: (f.echo_requests, f.echo_replies, f.neighbor_discovery),
        });
    }
}

/// A packet under construction.
#[derive(Clone, Copy)]
struct P {
    ts_us: i64,
    src: (&'static str, u16),
    dst: (&'static str, u16),
    vlan: Option<u16>,
}

fn at(ms: i64) -> P {
    P {
        ts_us: T0 + ms * MS,
        src: (C, CP),
        dst: (S, SP),
        vlan: None,
    }
}

impl P {
    /// Server to client.
    fn rev(mut self) -> P {
        std::mem::swap(&mut self.src, &mut self.dst);
        self
    }

    fn from(mut self, src: (&'static str, u16), dst: (&'static str, u16)) -> P {
        self.src = src;
        self.dst = dst;
        self
    }

    fn vlan(mut self, v: u16) -> P {
        self.vlan = Some(v);
        self
    }

    fn packet(&self, proto: u8, payload: u32, transport: Transport<'static>) -> Packet<'static> {
        Packet {
            ts_us: self.ts_us,
            vlan: self.vlan,
            ip: IpInfo {
                version: if ip(self.src.0).is_ipv6() { 6 } else { 4 },
                src: ip(self.src.0),
                dst: ip(self.dst.0),
                proto,
                total_len: 40 + payload,
                fragment: false,
            },
            transport,
        }
    }

    fn tcp(&self, flags: u8, seq: u32, ack: u32, len: u32) -> Packet<'static> {
        self.tcp_win(flags, seq, ack, len, 8192)
    }

    fn tcp_win(&self, flags: u8, seq: u32, ack: u32, len: u32, window: u16) -> Packet<'static> {
        self.segment(flags, seq, ack, window, &ZEROS[..len as usize])
    }

    /// A segment carrying `payload` (window 8192).
    fn tcp_with(&self, flags: u8, seq: u32, ack: u32, payload: &'static [u8]) -> Packet<'static> {
        self.segment(flags, seq, ack, 8192, payload)
    }

    fn segment(
        &self,
        flags: u8,
        seq: u32,
        ack: u32,
        window: u16,
        payload: &'static [u8],
    ) -> Packet<'static> {
        let seg = TcpSegment {
            src_port: self.src.1,
            dst_port: self.dst.1,
            seq,
            ack,
            flags,
            window,
            window_scale: None,
            payload_len: payload.len() as u32,
            payload,
        };
        self.packet(6, payload.len() as u32, Transport::Tcp(seg))
    }

    fn udp(&self, payload: &'static [u8]) -> Packet<'static> {
        let d = UdpDatagram {
            src_port: self.src.1,
            dst_port: self.dst.1,
            payload,
        };
        self.packet(17, payload.len() as u32, Transport::Udp(d))
    }

    fn icmp(&self, icmp_type: u8, code: u8, rest: [u8; 4], body: &'static [u8]) -> Packet<'static> {
        let m = IcmpMessage {
            version: 4,
            icmp_type,
            code,
            rest,
            body,
        };
        self.packet(1, 8 + body.len() as u32, Transport::Icmp(m))
    }
}

/// Payload bytes for hand-built segments.
static ZEROS: [u8; 1500] = [0; 1500];

/// Client ISN 1000, server ISN 5000.
const CI: u32 = 1000;
const SI: u32 = 5000;

/// The three-way handshake at 0, 10 and 20 ms.
fn handshake() -> Vec<Packet<'static>> {
    vec![
        at(0).tcp(SYN, CI, 0, 0),
        at(10).rev().tcp(SYN | ACK, SI, CI + 1, 0),
        at(20).tcp(ACK, CI + 1, SI + 1, 0),
    ]
}

fn run(cfg: FlowConfig, pkts: &[Packet<'_>]) -> (Rec, FlowStats) {
    // These tests cover the L4 classifiers; their payload on port 80 is filler, not HTTP, so
    // the application layer (tested in `crate::app`) is off.
    let app = crate::app::AppConfig {
        enabled: false,
        ..crate::app::AppConfig::default()
    };
    let mut t = FlowAnalysis::with_app(cfg, app);
    let mut rec = Rec::default();
    for p in pkts {
        t.process(p, &mut rec);
    }
    t.finish(&mut rec);
    (rec, *t.stats())
}

fn run_default(pkts: &[Packet<'_>]) -> Rec {
    run(FlowConfig::default(), pkts).0
}

/// A packet of an unrelated flow, to move the clock.
fn tick(ms: i64) -> Packet<'static> {
    at(ms)
        .from(("192.168.9.9", 5000), ("192.168.9.8", 6000))
        .udp(b"x")
}

fn tcp_flows(rec: &Rec) -> Vec<&F> {
    rec.flows.iter().filter(|f| f.proto == 6).collect()
}

fn only_tcp_flow(rec: &Rec) -> &F {
    let flows = tcp_flows(rec);
    assert_eq!(flows.len(), 1, "{flows:#?}");
    flows[0]
}

fn kinds(rec: &Rec) -> Vec<EntryKind> {
    rec.entries.iter().map(|e| e.kind).collect()
}

#[test]
fn normal_close_is_sf_without_entries() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(PSH | ACK, CI + 1, SI + 1, 100),
        at(40).rev().tcp(ACK, SI + 1, CI + 101, 0),
        at(50).rev().tcp(PSH | ACK, SI + 1, CI + 101, 200),
        at(60).tcp(ACK, CI + 101, SI + 201, 0),
        at(70).tcp(FIN | ACK, CI + 101, SI + 201, 0),
        at(80).rev().tcp(FIN | ACK, SI + 201, CI + 102, 0),
        at(90).tcp(ACK, CI + 102, SI + 202, 0),
    ]);
    let rec = run_default(&p);
    assert!(rec.entries.is_empty(), "{:#?}", rec.entries);
    let f = only_tcp_flow(&rec);
    assert_eq!(f.conn_state.as_deref(), Some("SF"));
    assert_eq!(f.history.as_deref(), Some("ShADadFf"));
    assert_eq!(f.end_reason, "closed");
    assert_eq!(f.completeness, Some(31));
    assert_eq!((f.orig_bytes, f.resp_bytes), (100, 200));
    assert_eq!((f.orig_pkts, f.resp_pkts), (6, 4));
    assert_eq!(f.orig_ip_bytes, 6 * 40 + 100);
    assert_eq!(f.orig, (ip(C), CP));
    assert_eq!(f.resp, (ip(S), SP));
    assert_eq!(f.rtt, Some(10 * MS));
    assert_eq!(f.tcp_error, None);
    assert_eq!((f.start_us, f.end_us), (T0, T0 + 90 * MS));
}

#[test]
fn closed_flow_leaves_after_the_linger() {
    let mut p = handshake();
    p.extend([
        at(70).tcp(FIN | ACK, CI + 1, SI + 1, 0),
        at(80).rev().tcp(FIN | ACK, SI + 1, CI + 2, 0),
        at(90).tcp(ACK, CI + 2, SI + 2, 0),
        tick(3_000),
    ]);
    let mut t = FlowAnalysis::new(FlowConfig::default());
    let mut rec = Rec::default();
    for x in &p {
        t.process(x, &mut rec);
    }
    assert_eq!(tcp_flows(&rec).len(), 0, "still lingering after 3 s");
    t.process(&tick(6_000), &mut rec);
    assert_eq!(only_tcp_flow(&rec).end_reason, "closed");
    assert_eq!(t.stats().ended_closed, 1);
}

#[test]
fn unanswered_syns_time_out_as_syn_sent() {
    let p = [
        at(0).tcp(SYN, CI, 0, 0),
        at(1_000).tcp(SYN, CI, 0, 0),
        at(3_000).tcp(SYN, CI, 0, 0),
        tick(20_000),
    ];
    let rec = run_default(&p);
    assert_eq!(
        kinds(&rec),
        vec![EntryKind::Tcp],
        "SYN retries are part of SynSent, not a loss entry"
    );
    let e = &rec.entries[0];
    assert_eq!(e.summary, "SynSent");
    assert_eq!(e.msg, "SynSent");
    assert_eq!(e.error_type, Some(ErrorType::Connection));
    assert_eq!(
        e.reason,
        "no SYN-ACK to 3 SYNs; stream timed out after 10 s"
    );
    assert_eq!(e.ts_us, T0, "stamped at the first SYN");
    assert_eq!(e.src, (ip(C), Some(CP)));
    let f = only_tcp_flow(&rec);
    assert_eq!(e.flow_id, Some(f.id));
    assert_eq!(f.conn_state.as_deref(), Some("S0"));
    assert_eq!(f.history.as_deref(), Some("S"));
    assert_eq!(f.end_reason, "timeout");
    assert_eq!(f.tcp_error.as_deref(), Some("SynSent"));
    assert_eq!(f.completeness, Some(1));
    assert_eq!(
        f.retransmissions, 2,
        "the flow record keeps tshark's counters"
    );
}

#[test]
fn unanswered_syn_at_end_of_input() {
    let rec = run_default(&[at(0).tcp(SYN, CI, 0, 0)]);
    assert_eq!(rec.entries[0].reason, "no SYN-ACK to 1 SYN; capture ended");
    assert_eq!(only_tcp_flow(&rec).end_reason, "end-of-input");
}

#[test]
fn idle_flow_at_end_of_input_counts_as_timed_out() {
    let rec = run_default(&[at(0).tcp(SYN, CI, 0, 0), tick(10_500)]);
    assert_eq!(
        rec.entries[0].reason,
        "no SYN-ACK to 1 SYN; stream timed out after 10 s"
    );
    assert_eq!(only_tcp_flow(&rec).end_reason, "timeout");
}

#[test]
fn refused_connection() {
    let p = [
        at(0).tcp(SYN, CI, 0, 0),
        at(5).rev().tcp(RST | ACK, 0, CI + 1, 0),
    ];
    let rec = run_default(&p);
    assert_eq!(kinds(&rec), vec![EntryKind::Tcp]);
    assert_eq!(rec.entries[0].summary, "SynSent");
    assert_eq!(
        rec.entries[0].reason,
        "connection refused: RST from responder after 1 SYN"
    );
    assert_eq!(rec.entries[0].ts_us, T0 + 5 * MS, "stamped at the RST");
    let f = only_tcp_flow(&rec);
    assert_eq!(f.conn_state.as_deref(), Some("REJ"));
    assert_eq!(f.history.as_deref(), Some("Sr"));
    assert_eq!(f.end_reason, "reset");
    assert_eq!(f.completeness, Some(1 + 4 + 32));
}

#[test]
fn originator_abort_before_answer_is_rstos0() {
    let rec = run_default(&[at(0).tcp(SYN, CI, 0, 0), at(5).tcp(RST, CI + 1, 0, 0)]);
    assert_eq!(rec.entries[0].summary, "SynSent");
    assert_eq!(
        rec.entries[0].reason,
        "no SYN-ACK to 1 SYN; originator aborted with RST"
    );
    assert_eq!(only_tcp_flow(&rec).conn_state.as_deref(), Some("RSTOS0"));
}

#[test]
fn reset_after_establishment() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(PSH | ACK, CI + 1, SI + 1, 100),
        at(40).rev().tcp(RST, SI + 1, 0, 0),
    ]);
    let rec = run_default(&p);
    assert_eq!(kinds(&rec), vec![EntryKind::Tcp]);
    let e = &rec.entries[0];
    assert_eq!(e.summary, "Reset");
    assert_eq!(e.reason, "reset by responder 10.0.0.2:80 after 100 bytes");
    assert_eq!(e.ts_us, T0 + 40 * MS);
    let f = only_tcp_flow(&rec);
    assert_eq!(f.conn_state.as_deref(), Some("RSTR"));
    assert_eq!(f.history.as_deref(), Some("ShADr"));
    assert_eq!(f.tcp_error.as_deref(), Some("Reset"));
}

#[test]
fn reset_by_originator_after_its_fin() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(FIN | ACK, CI + 1, SI + 1, 0),
        at(40).rev().tcp(PSH | ACK, SI + 1, CI + 2, 10),
        at(50).tcp(RST, CI + 2, 0, 0),
    ]);
    let rec = run_default(&p);
    assert_eq!(
        rec.entries[0].reason,
        "reset by originator 10.0.0.1:40000 after 10 bytes following its own FIN"
    );
    assert_eq!(only_tcp_flow(&rec).conn_state.as_deref(), Some("RSTO"));
}

#[test]
fn mid_stream_rst_is_a_reset() {
    let rec = run_default(&[at(0).from((C, 1234), (S, 5555)).tcp(RST, 77, 0, 0)]);
    assert_eq!(rec.entries[0].summary, "Reset");
    let f = only_tcp_flow(&rec);
    assert_eq!(f.conn_state.as_deref(), Some("OTH"));
    assert_eq!(f.history.as_deref(), Some("R"));
    assert_eq!(
        f.completeness,
        Some(0),
        "tshark ignores a lone non-SYN packet"
    );
}

#[test]
fn half_close_times_out_as_close_wait() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(FIN | ACK, CI + 1, SI + 1, 0),
        at(40).rev().tcp(ACK, SI + 1, CI + 2, 0),
        tick(15_000),
    ]);
    let rec = run_default(&p);
    assert_eq!(kinds(&rec), vec![EntryKind::Tcp]);
    let e = &rec.entries[0];
    assert_eq!(e.summary, "CloseWait");
    assert_eq!(
        e.reason,
        "FIN from originator 10.0.0.1:40000, none from responder 10.0.0.2:80; stream timed out after 10 s"
    );
    assert_eq!(e.ts_us, T0 + 30 * MS);
    let f = only_tcp_flow(&rec);
    assert_eq!(f.conn_state.as_deref(), Some("S2"));
    assert_eq!(f.end_reason, "timeout");
}

#[test]
fn missing_final_ack_is_last_ack() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(FIN | ACK, CI + 1, SI + 1, 0),
        at(40).rev().tcp(FIN | ACK, SI + 1, CI + 2, 0),
    ]);
    let rec = run_default(&p);
    assert_eq!(rec.entries[0].summary, "LastAck");
    assert_eq!(
        rec.entries[0].reason,
        "both sides sent FIN; final ACK of the responder's FIN missing; capture ended"
    );
    assert_eq!(rec.entries[0].ts_us, T0 + 40 * MS);
    let f = only_tcp_flow(&rec);
    assert_eq!(f.conn_state.as_deref(), Some("SF"));
    assert_eq!(f.end_reason, "end-of-input");
}

#[test]
fn rst_instead_of_the_final_ack_is_a_normal_close() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(FIN | ACK, CI + 1, SI + 1, 0),
        at(40).rev().tcp(FIN | ACK, SI + 1, CI + 2, 0),
        at(50).tcp(RST, CI + 2, 0, 0),
    ]);
    let rec = run_default(&p);
    assert!(rec.entries.is_empty(), "{:#?}", rec.entries);
    let f = only_tcp_flow(&rec);
    assert_eq!(f.conn_state.as_deref(), Some("SF"));
    assert_eq!(f.history.as_deref(), Some("ShAFfR"));
    assert_eq!(f.end_reason, "closed");
}

#[test]
fn unacknowledged_data_goes_stale() {
    let mut p = handshake();
    p.extend([at(30).tcp(PSH | ACK, CI + 1, SI + 1, 100), tick(12_000)]);
    let rec = run_default(&p);
    assert_eq!(kinds(&rec), vec![EntryKind::Timeout]);
    let e = &rec.entries[0];
    assert_eq!(e.summary, "stale stream");
    assert_eq!(e.msg, "stale stream");
    assert_eq!(e.error_type, Some(ErrorType::Timeout));
    assert_eq!(
        e.reason,
        "100 bytes from 10.0.0.1:40000 unacknowledged; idle 12.0 s"
    );
    assert_eq!(e.ts_us, T0 + 30 * MS, "stamped at the last packet");
    assert_eq!(only_tcp_flow(&rec).conn_state.as_deref(), Some("S1"));
}

#[test]
fn unfinished_handshake_goes_stale() {
    let p = [
        at(0).tcp(SYN, CI, 0, 0),
        at(10).rev().tcp(SYN | ACK, SI, CI + 1, 0),
        tick(11_000),
    ];
    let rec = run_default(&p);
    assert_eq!(kinds(&rec), vec![EntryKind::Timeout]);
    assert_eq!(
        rec.entries[0].reason,
        "handshake incomplete: no ACK after SYN-ACK; idle 11.0 s"
    );
}

#[test]
fn complete_idle_connection_times_out_quietly() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(PSH | ACK, CI + 1, SI + 1, 100),
        at(40).rev().tcp(ACK, SI + 1, CI + 101, 0),
        tick(12_000),
    ]);
    let rec = run_default(&p);
    assert!(rec.entries.is_empty(), "{:#?}", rec.entries);
    assert_eq!(only_tcp_flow(&rec).end_reason, "timeout");
}

#[test]
fn open_connection_at_end_of_input_is_not_stale() {
    let mut p = handshake();
    p.push(at(30).tcp(PSH | ACK, CI + 1, SI + 1, 100));
    let rec = run_default(&p);
    assert!(rec.entries.is_empty(), "{:#?}", rec.entries);
    assert_eq!(only_tcp_flow(&rec).end_reason, "end-of-input");
}

#[test]
fn retransmission_yields_a_loss_entry() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(PSH | ACK, CI + 1, SI + 1, 100),
        at(300).tcp(PSH | ACK, CI + 1, SI + 1, 100),
        at(310).rev().tcp(ACK, SI + 1, CI + 101, 0),
    ]);
    let rec = run_default(&p);
    assert_eq!(kinds(&rec), vec![EntryKind::Loss]);
    let e = &rec.entries[0];
    assert_eq!(e.summary, "1 retransmission");
    assert_eq!(e.error_type, Some(ErrorType::Loss));
    assert_eq!(e.msg, "packet loss");
    assert!(e.reason.contains("1 retransmitted"), "{}", e.reason);
    assert_eq!(e.loss.map(|l| l.retransmissions), Some(1));
    assert_eq!(
        e.ts_us,
        T0 + 300 * MS,
        "stamped at the first flagged segment"
    );
    assert_eq!(only_tcp_flow(&rec).history.as_deref(), Some("ShADTa"));
}

#[test]
fn error_and_loss_come_together() {
    let p = [
        at(0).tcp(SYN, CI, 0, 0),
        at(10).rev().tcp(SYN | ACK, SI, CI + 1, 0),
        at(20).tcp(PSH | ACK, CI + 1, SI + 1, 100),
        at(500).tcp(PSH | ACK, CI + 1, SI + 1, 100),
        at(600).rev().tcp(RST, SI + 1, 0, 0),
    ];
    let rec = run_default(&p);
    assert_eq!(kinds(&rec), vec![EntryKind::Tcp, EntryKind::Loss]);
    let f = only_tcp_flow(&rec);
    assert!(rec.entries.iter().all(|e| e.flow_id == Some(f.id)));
}

#[test]
fn acked_unseen_data_is_a_gap() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(PSH | ACK, CI + 101, SI + 1, 100),
        at(40).rev().tcp(ACK, SI + 1, CI + 201, 0),
    ]);
    let rec = run_default(&p);
    assert_eq!(only_tcp_flow(&rec).history.as_deref(), Some("ShADaG"));
}

#[test]
fn acked_payload_cut_by_the_snaplen_is_a_gap() {
    let mut p = handshake();
    let mut cut = at(30).tcp(PSH | ACK, CI + 1, SI + 1, 100);
    if let Transport::Tcp(seg) = &mut cut.transport {
        seg.payload = &ZEROS[..40];
    }
    p.extend([cut, at(40).rev().tcp(ACK, SI + 1, CI + 101, 0)]);
    let rec = run_default(&p);
    let f = only_tcp_flow(&rec);
    assert_eq!(f.history.as_deref(), Some("ShADaG"));
    assert_eq!(
        f.orig_bytes, 100,
        "sizes come from sequence numbers, not captured bytes"
    );
}

#[test]
fn zero_window_and_scaled_history_letters() {
    let mut p = handshake();
    for i in 0..10 {
        p.push(at(30 + i).rev().tcp_win(ACK, SI + 1, CI + 1, 0, 0));
    }
    let rec = run_default(&p);
    assert_eq!(
        only_tcp_flow(&rec).history.as_deref(),
        Some("ShAaww"),
        "1st and 10th zero window"
    );
}

#[test]
fn new_syn_after_close_starts_a_new_flow() {
    let mut p = handshake();
    p.extend([
        at(30).tcp(FIN | ACK, CI + 1, SI + 1, 0),
        at(40).rev().tcp(FIN | ACK, SI + 1, CI + 2, 0),
        at(50).tcp(ACK, CI + 2, SI + 2, 0),
        at(1_000).tcp(SYN, 90_000, 0, 0),
        at(1_010).rev().tcp(SYN | ACK, 70_000, 90_001, 0),
        at(1_020).tcp(ACK, 90_001, 70_001, 0),
    ]);
    let (rec, stats) = run(FlowConfig::default(), &p);
    let flows = tcp_flows(&rec);
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].end_reason, "closed");
    assert_eq!(flows[0].conn_state.as_deref(), Some("SF"));
    assert_eq!(flows[1].conn_state.as_deref(), Some("S1"));
    assert_eq!(flows[1].start_us, T0 + 1_000 * MS);
    assert_ne!(flows[0].id, flows[1].id);
    assert_eq!(flows[0].community_id, flows[1].community_id);
    assert_eq!(stats.flows_created, 2);
    assert!(rec.entries.is_empty());
}

#[test]
fn syn_with_new_isn_replaces_an_attempt() {
    let p = [
        at(0).tcp(SYN, CI, 0, 0),
        at(1_000).tcp(SYN, CI, 0, 0),
        at(2_000).tcp(SYN, 777, 0, 0),
    ];
    let (rec, stats) = run(FlowConfig::default(), &p);
    let flows = tcp_flows(&rec);
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].end_reason, "reused");
    let tcp: Vec<&E> = rec
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Tcp)
        .collect();
    assert_eq!(
        tcp[0].reason,
        "no SYN-ACK to 2 SYNs; port reused by a new connection"
    );
    assert_eq!(tcp[1].reason, "no SYN-ACK to 1 SYN; capture ended");
    assert_eq!(stats.ended_reused, 1);
}

#[test]
fn syn_ack_first_makes_its_receiver_the_originator() {
    let p = [
        at(0).rev().tcp(SYN | ACK, SI, CI + 1, 0),
        at(10).tcp(ACK, CI + 1, SI + 1, 0),
    ];
    let rec = run_default(&p);
    let f = only_tcp_flow(&rec);
    assert_eq!(f.orig, (ip(C), CP));
    assert_eq!(f.resp, (ip(S), SP));
    assert_eq!(f.history.as_deref(), Some("^hA"));
    assert_eq!(f.conn_state.as_deref(), Some("S1"));
    assert_eq!((f.orig_pkts, f.resp_pkts), (1, 1));
}

#[test]
fn mid_stream_originator_follows_server_ports() {
    let from_server = [
        at(0).rev().tcp(PSH | ACK, SI + 1, CI + 1, 50),
        at(5).tcp(ACK, CI + 1, SI + 51, 0),
    ];
    let f = only_tcp_flow(&run_default(&from_server)).clone();
    assert_eq!(f.orig, (ip(C), CP));
    assert_eq!(f.history.as_deref(), Some("^dA"));
    assert_eq!(f.conn_state.as_deref(), Some("OTH"));
    let high_ports = [at(0).from((S, 50000), (C, 40000)).tcp(PSH | ACK, 1, 1, 5)];
    let f = only_tcp_flow(&run_default(&high_ports)).clone();
    assert_eq!(
        f.orig,
        (ip(S), 50000),
        "no server port: the first sender originates"
    );
    assert_eq!(f.history.as_deref(), Some("D"));
}

#[test]
fn vlans_separate_flows() {
    let p = [
        at(0).vlan(10).tcp(SYN, CI, 0, 0),
        at(0).vlan(20).tcp(SYN, CI, 0, 0),
        at(5).vlan(10).rev().tcp(RST | ACK, 0, CI + 1, 0),
    ];
    let rec = run_default(&p);
    let flows = tcp_flows(&rec);
    assert_eq!(flows.len(), 2);
    let by_vlan = |v| flows.iter().find(|f| f.vlan == Some(v)).unwrap();
    assert_eq!(by_vlan(10).conn_state.as_deref(), Some("REJ"));
    assert_eq!(by_vlan(20).conn_state.as_deref(), Some("S0"));
    assert_ne!(by_vlan(10).id, by_vlan(20).id);
}

#[test]
fn flow_ids_are_deterministic() {
    let mut p = handshake();
    p.push(at(30).tcp(PSH | ACK, CI + 1, SI + 1, 10));
    let a = run_default(&p);
    let b = run_default(&p);
    assert_eq!(a.flows, b.flows);
    let mut shifted = handshake();
    shifted.remove(0);
    let c = run_default(&shifted);
    assert_ne!(
        a.flows[0].id, c.flows[0].id,
        "another first packet time, another id"
    );
}

#[test]
fn attempt_timeout_splits_like_zeek() {
    let p = [
        at(0).tcp(SYN, CI, 0, 0),
        at(1_000).tcp(ACK, CI + 1, 1, 0),
        at(2_000).tcp(PSH | ACK, CI + 1, 1, 10),
        at(7_000).tcp(PSH | ACK, CI + 11, 1, 10),
        at(7_050).tcp(ACK, CI + 21, 1, 0),
        at(7_100).tcp(FIN | ACK, CI + 21, 1, 0),
    ];
    let zeek = run(FlowConfig::zeek(), &p).0;
    let flows = tcp_flows(&zeek);
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].history.as_deref(), Some("SAD"));
    assert_eq!(flows[0].conn_state.as_deref(), Some("S0"));
    assert_eq!(flows[0].end_reason, "timeout");
    assert_eq!(flows[1].history.as_deref(), Some("DAF"));
    assert_eq!(flows[1].conn_state.as_deref(), Some("SH"));
    let kube = run_default(&p);
    assert_eq!(only_tcp_flow(&kube).history.as_deref(), Some("SADF"));
    assert_eq!(only_tcp_flow(&kube).conn_state.as_deref(), Some("SH"));
}

#[test]
fn stats_track_creation_eviction_and_peak() {
    let p = [
        at(0).tcp(SYN, CI, 0, 0),
        at(1).from((C, 40001), (S, SP)).tcp(SYN, CI, 0, 0),
        at(2).from((C, 40002), (S, SP)).tcp(SYN, CI, 0, 0),
        tick(30_000),
    ];
    let mut t = FlowAnalysis::new(FlowConfig::default());
    let mut rec = Rec::default();
    for x in &p {
        t.process(x, &mut rec);
    }
    let s = *t.stats();
    assert_eq!(s.flows_created, 4);
    assert_eq!(s.ended_timeout, 3);
    assert_eq!(s.active, 1);
    assert_eq!(
        s.active_max, 3,
        "the three attempts expired before the fourth flow came"
    );
    assert_eq!(s.tcp_entries, 3);
    assert_eq!(t.len(), 1);
    t.finish(&mut rec);
    assert_eq!(t.stats().ended_end_of_input, 1);
    assert!(t.is_empty());
}

#[test]
fn clock_going_backwards_is_harmless() {
    let p = [
        at(1_000).tcp(SYN, CI, 0, 0),
        at(500).rev().tcp(SYN | ACK, SI, CI + 1, 0),
    ];
    let rec = run_default(&p);
    let f = only_tcp_flow(&rec);
    assert_eq!((f.start_us, f.end_us), (T0 + 1_000 * MS, T0 + 1_000 * MS));
}

#[test]
fn udp_flows_have_zeek_states() {
    let p = [
        at(0).from((C, 5353), (S, 53)).udp(b"query"),
        at(1).from((S, 53), (C, 5353)).udp(b"answer!"),
        at(2).from((S, 53), (C, 6000)).udp(b"lone answer"),
    ];
    let rec = run_default(&p);
    assert_eq!(rec.flows.len(), 2);
    let q = rec.flows.iter().find(|f| f.orig.1 == 5353).unwrap();
    assert_eq!(q.conn_state.as_deref(), Some("SF"));
    assert_eq!(q.history.as_deref(), Some("Dd"));
    assert_eq!((q.orig_bytes, q.resp_bytes), (5, 7));
    let lone = rec.flows.iter().find(|f| f.orig.1 == 6000).unwrap();
    assert_eq!(lone.resp, (ip(S), 53), "the answer's receiver originates");
    assert_eq!(lone.conn_state.as_deref(), Some("SHR"));
    assert_eq!(lone.history.as_deref(), Some("^d"));
    assert!(rec.entries.is_empty());
}

#[test]
fn echo_request_and_reply_share_a_flow() {
    let id = [0x12, 0x34, 0, 1];
    let p = [
        at(0).rev().icmp(0, 0, id, b"ping"),
        at(1).icmp(8, 0, id, b"ping"),
        at(2).rev().icmp(0, 0, id, b"ping"),
        at(3).icmp(8, 0, [0x99, 0x99, 0, 1], b"ping"),
    ];
    let rec = run_default(&p);
    assert_eq!(rec.entries.len(), 1, "{:#?}", rec.entries);
    let lone = &rec.entries[0];
    assert_eq!(lone.kind, EntryKind::Icmp);
    assert_eq!(
        lone.ts_us,
        at(3).ts_us,
        "stamped with the unanswered request"
    );
    assert_eq!(lone.error_type, Some(ErrorType::PairNotFound));
    assert_eq!(
        lone.reason,
        "1 echo request, no reply before the capture ended"
    );
    assert_eq!(rec.flows.len(), 2, "another identifier, another flow");
    let f = rec
        .flows
        .iter()
        .find(|f| f.echo.0 == 1 && f.echo.1 == 2)
        .unwrap();
    assert_eq!(f.orig, (ip(C), 8), "the requester originates, port = type");
    assert_eq!(f.resp, (ip(S), 0));
    assert_eq!(f.conn_state, None);
    assert_eq!(
        f.community_id,
        CommunityId::new((ip(C), 8), (ip(S), 0), 1).to_string()
    );
}

#[test]
fn router_advertisement_flow_belongs_to_its_sender() {
    let rec = run_default(&[at(0).rev().icmp(9, 0, [0; 4], &[])]);
    assert_eq!(kinds(&rec), vec![EntryKind::Icmp]);
    assert_eq!(rec.entries[0].summary, "RouterAdvertisement");
    assert_eq!(
        (rec.flows[0].orig, rec.flows[0].resp),
        ((ip(S), 9), (ip(C), 0))
    );
}

/// An IPv4 header (20 bytes) + UDP ports, as an ICMP error quotes it.
const QUOTED_UDP: &[u8] = &[
    0x45, 0, 0, 40, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x13, 0x88, 0x00, 0x35, 0,
    20, 0, 0,
];

#[test]
fn icmp_error_points_at_the_quoted_flow() {
    let udp = at(0).from((C, 5000), (S, 53)).udp(b"q");
    let err = at(1).rev().icmp(3, 3, [0; 4], QUOTED_UDP);
    let rec = run_default(&[udp, err]);
    assert_eq!(kinds(&rec), vec![EntryKind::Icmp]);
    let e = &rec.entries[0];
    assert_eq!(e.summary, "DestinationUnreachable(Port)");
    assert_eq!(e.error_type, None);
    assert_eq!(e.src, (ip(S), None));
    let q = e.quoted.unwrap();
    assert_eq!(
        (q.src, q.src_port, q.dst, q.dst_port),
        (ip(C), Some(5000), ip(S), Some(53))
    );
    let udp_flow = rec.flows.iter().find(|f| f.proto == 17).unwrap();
    assert_eq!(e.flow_id, Some(udp_flow.id));
    let icmp_flow = rec.flows.iter().find(|f| f.proto == 1).unwrap();
    assert_eq!((icmp_flow.orig, icmp_flow.resp), ((ip(S), 3), (ip(C), 3)));
}

#[test]
fn icmp_error_without_its_flow_uses_its_own() {
    let rec = run_default(&[
        at(1).rev().icmp(3, 3, [0; 4], QUOTED_UDP),
        at(2).rev().icmp(11, 0, [0; 4], &[]),
    ]);
    assert_eq!(kinds(&rec), vec![EntryKind::Icmp, EntryKind::Icmp]);
    let own = rec.flows.iter().find(|f| f.orig.1 == 3).unwrap();
    assert_eq!(rec.entries[0].flow_id, Some(own.id));
    assert_eq!(rec.entries[1].summary, "TimeExceeded(TTLExceeded)");
    assert_eq!(rec.entries[1].quoted, None);
}

#[test]
fn other_protocols_get_flow_records() {
    let gre = |ms| at(ms).packet(47, 100, Transport::Other);
    let frag = at(2).packet(6, 100, Transport::Other);
    let (rec, stats) = run(FlowConfig::default(), &[gre(0), gre(1), frag]);
    assert_eq!(rec.flows.len(), 1);
    let f = &rec.flows[0];
    assert_eq!((f.proto, f.orig_pkts, f.orig.1), (47, 2, 0));
    assert_eq!(
        stats.unattributed, 1,
        "a TCP packet without header is counted, not tracked"
    );
}

#[test]
fn flow_struct_stays_small() {
    let size = std::mem::size_of::<ChainFlow>();
    let tcp = std::mem::size_of::<crate::tcp::TcpConn>();
    let analyzer = std::mem::size_of::<crate::tcp::analysis::TcpAnalyzer>();
    println!("Flow {size} B (TcpConn {tcp} B, of which TcpAnalyzer {analyzer} B); key 40 B");
    assert!(size <= 560, "Flow is {size} bytes");
}

/// TCP Fast Open: the request rides on the SYN, whose own sequence number comes before it.
/// The HTTP transaction is complete, and nothing is taken for a gap.
#[test]
fn fast_open_request_on_the_syn_is_dissected() {
    const REQ: &[u8] = b"GET /tfo HTTP/1.1\r\nHost: a\r\n\r\n";
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (rl, sl) = (REQ.len() as u32, RESP.len() as u32);
    let pkts = [
        at(0).tcp_with(SYN, CI, 0, REQ),
        at(10).rev().tcp(SYN | ACK, SI, CI + 1 + rl, 0),
        at(11).rev().tcp_with(ACK | PSH, SI + 1, CI + 1 + rl, RESP),
        at(20).tcp(ACK, CI + 1 + rl, SI + 1 + sl, 0),
        at(30).tcp(FIN | ACK, CI + 1 + rl, SI + 1 + sl, 0),
        at(40).rev().tcp(FIN | ACK, SI + 1 + sl, CI + 2 + rl, 0),
        at(50).tcp(ACK, CI + 2 + rl, SI + 2 + sl, 0),
    ];
    let mut t = FlowAnalysis::with_app(FlowConfig::default(), crate::app::AppConfig::default());
    let mut rec = Rec::default();
    for p in &pkts {
        t.process(p, &mut rec);
    }
    t.finish(&mut rec);
    let http: Vec<&E> = rec
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Http)
        .collect();
    assert_eq!(http.len(), 1, "{:#?}", rec.entries);
    assert_eq!(http[0].summary, "GET /tfo 200");
    assert_eq!(http[0].error_type, None, "{:#?}", http[0]);
    assert!(
        rec.entries.iter().all(|e| e.kind == EntryKind::Http),
        "{:#?}",
        rec.entries
    );
}
