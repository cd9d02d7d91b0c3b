//! The truth file: one JSON object per line for every injected event, saying which flow it
//! happened on and which entry faultline is expected to produce. See the module doc of
//! [`crate::generate`] for the schema in words.

use std::net::IpAddr;

use faultline_schemas::{EntryKind, ErrorType, TcpErrorState};
use serde::{Deserialize, Serialize};

use super::GenerateError;
use super::script::Conv;
use super::wire::{L4, Node, Spec};

/// Every kind of event the generator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// SYN plus retransmissions after 1 s and 3 s, never answered.
    SynNoAnswer,
    /// SYN answered by RST-ACK.
    SynRefused,
    /// A SYN whose only answer was an ICMP time exceeded (by-product of `icmp4-time-exceeded`).
    SynTimeExceeded,
    /// Established, then RST from the originator in the middle of a response.
    ResetByOriginator,
    /// Established, then RST from the responder in the middle of a response.
    ResetByResponder,
    /// On a keep-alive HTTP connection, the capture missed a whole request (the server
    /// acknowledged it); its response was captured.
    HttpRequestLost,
    /// An HTTP request the server acknowledged, then reset the connection instead of
    /// answering (a crashed worker, or a proxy whose upstream failed).
    HttpRequestReset,
    /// One side sent FIN, the other acknowledged it and never closed.
    CloseWait,
    /// FIN both ways, the final ACK never came.
    LastAck,
    /// Established, the originator sent data that was never acknowledged, then silence.
    IdleUnacked,
    /// Download with segments missing from the capture, duplicate ACKs and fast retransmissions.
    LossGap,
    /// Upload whose last segment was lost after the capture point and resent on timeout.
    LossRetransmission,
    /// ICMP destination unreachable, port (3/3), quoting a UDP DNS query.
    Icmp4PortUnreachable,
    /// ICMP destination unreachable, host (3/1), quoting a UDP NTP query.
    Icmp4HostUnreachable,
    /// ICMP time exceeded in transit (11/0), quoting a TCP SYN.
    Icmp4TimeExceeded,
    /// ICMP fragmentation needed (3/4, next-hop MTU 1400), quoting a UDP datagram with DF.
    Icmp4FragNeeded,
    /// ICMP redirect for host (5/1), quoting a UDP NTP query.
    Icmp4Redirect,
    /// ICMP source quench (4/0), quoting a UDP syslog datagram.
    Icmp4SourceQuench,
    /// ICMP parameter problem (12/0, pointer 21), quoting a UDP datagram with a bad IP option.
    Icmp4ParameterProblem,
    /// ICMP router advertisement (9/0) to 224.0.0.1.
    Icmp4RouterAdvertisement,
    /// ICMP router solicitation (10/0) to 224.0.0.2.
    Icmp4RouterSolicitation,
    /// ICMPv6 destination unreachable, port (1/4), quoting a UDP DNS query.
    Icmp6PortUnreachable,
    /// ICMPv6 packet too big (2/0, MTU 1280), quoting a UDP datagram.
    Icmp6PacketTooBig,
    /// ICMPv6 time exceeded, hop limit (3/0), quoting a UDP traceroute probe.
    Icmp6TimeExceeded,
    /// ICMPv6 parameter problem, unrecognised option (4/2, pointer 42), quoting a UDP datagram
    /// with a hop-by-hop header.
    Icmp6ParameterProblem,
    /// ICMPv6 router solicitation (133) to ff02::2.
    Icmp6RouterSolicitation,
    /// ICMPv6 router advertisement (134) to ff02::1.
    Icmp6RouterAdvertisement,
    /// ICMPv6 redirect (137).
    Icmp6Redirect,
    /// Three echo requests (IPv4 or IPv6) that got no reply.
    EchoNoReply,
    /// An HTTP request the server acknowledged but never answered; the client closed.
    HttpNoResponse,
    /// An HTTP response shorter than its Content-Length; the server closed.
    HttpResponseCut,
    /// Bytes that are not HTTP sent to an HTTP port; the server closed.
    HttpNotHttp,
    /// A DNS query never answered (no ICMP error either), then silence.
    DnsNoResponse,
    /// A DNS response with no query before it.
    DnsUnsolicited,
    /// A datagram to port 53 too short to hold a DNS header (a broken client or a probe).
    DnsMalformed,
    /// On a keep-alive HTTP connection, the capture missed the whole response to one request
    /// (the client acknowledged it); the next exchange was captured.
    HttpResponseLost,
    /// A response announcing `Transfer-Encoding: chunked` whose body is not chunked; the server
    /// closed.
    HttpBadChunk,
    /// A keep-alive HTTP connection opened before the capture began, first seen at the
    /// response to a request sent before it (the first conversation of every capture, so never
    /// scheduled at random).
    HttpMidStream,
    /// An HTTP request still waiting for its response when the capture ends (the last
    /// conversation of every capture, so never scheduled at random).
    HttpCaptureEnded,
}

impl Event {
    /// The events the generator schedules on purpose (all but by-products), in a stable order.
    pub const INJECTED: [Event; 39] = [
        Event::SynNoAnswer,
        Event::SynRefused,
        Event::ResetByOriginator,
        Event::ResetByResponder,
        Event::CloseWait,
        Event::LastAck,
        Event::IdleUnacked,
        Event::LossGap,
        Event::LossRetransmission,
        Event::Icmp4PortUnreachable,
        Event::Icmp4HostUnreachable,
        Event::Icmp4TimeExceeded,
        Event::Icmp4FragNeeded,
        Event::Icmp4Redirect,
        Event::Icmp4SourceQuench,
        Event::Icmp4ParameterProblem,
        Event::Icmp4RouterAdvertisement,
        Event::Icmp4RouterSolicitation,
        Event::Icmp6PortUnreachable,
        Event::Icmp6PacketTooBig,
        Event::Icmp6TimeExceeded,
        Event::Icmp6ParameterProblem,
        Event::Icmp6RouterSolicitation,
        Event::Icmp6RouterAdvertisement,
        Event::Icmp6Redirect,
        Event::EchoNoReply,
        Event::HttpNoResponse,
        Event::HttpResponseCut,
        Event::HttpNotHttp,
        Event::DnsNoResponse,
        Event::DnsUnsolicited,
        Event::DnsMalformed,
        Event::HttpResponseLost,
        Event::HttpBadChunk,
        Event::HttpRequestReset,
        Event::HttpRequestLost,
        Event::SynTimeExceeded,
        Event::HttpCaptureEnded,
        Event::HttpMidStream,
    ];

    /// The kebab-case name used in the truth file.
    pub fn name(self) -> &'static str {
        match self {
            Event::SynNoAnswer => "syn-no-answer",
            Event::SynRefused => "syn-refused",
            Event::SynTimeExceeded => "syn-time-exceeded",
            Event::ResetByOriginator => "reset-by-originator",
            Event::ResetByResponder => "reset-by-responder",
            Event::CloseWait => "close-wait",
            Event::LastAck => "last-ack",
            Event::IdleUnacked => "idle-unacked",
            Event::LossGap => "loss-gap",
            Event::LossRetransmission => "loss-retransmission",
            Event::Icmp4PortUnreachable => "icmp4-port-unreachable",
            Event::Icmp4HostUnreachable => "icmp4-host-unreachable",
            Event::Icmp4TimeExceeded => "icmp4-time-exceeded",
            Event::Icmp4FragNeeded => "icmp4-frag-needed",
            Event::Icmp4Redirect => "icmp4-redirect",
            Event::Icmp4SourceQuench => "icmp4-source-quench",
            Event::Icmp4ParameterProblem => "icmp4-parameter-problem",
            Event::Icmp4RouterAdvertisement => "icmp4-router-advertisement",
            Event::Icmp4RouterSolicitation => "icmp4-router-solicitation",
            Event::Icmp6PortUnreachable => "icmp6-port-unreachable",
            Event::Icmp6PacketTooBig => "icmp6-packet-too-big",
            Event::Icmp6TimeExceeded => "icmp6-time-exceeded",
            Event::Icmp6ParameterProblem => "icmp6-parameter-problem",
            Event::Icmp6RouterSolicitation => "icmp6-router-solicitation",
            Event::Icmp6RouterAdvertisement => "icmp6-router-advertisement",
            Event::Icmp6Redirect => "icmp6-redirect",
            Event::EchoNoReply => "echo-no-reply",
            Event::HttpNoResponse => "http-no-response",
            Event::HttpResponseCut => "http-response-cut",
            Event::HttpNotHttp => "http-not-http",
            Event::DnsNoResponse => "dns-no-response",
            Event::DnsUnsolicited => "dns-unsolicited",
            Event::DnsMalformed => "dns-malformed",
            Event::HttpCaptureEnded => "http-capture-ended",
            Event::HttpResponseLost => "http-response-lost",
            Event::HttpBadChunk => "http-bad-chunk",
            Event::HttpRequestReset => "http-request-reset",
            Event::HttpRequestLost => "http-request-lost",
            Event::HttpMidStream => "http-mid-stream",
        }
    }

    /// True for events scheduled on purpose; false for by-products of another event.
    pub fn scheduled(self) -> bool {
        !matches!(
            self,
            Event::SynTimeExceeded | Event::HttpCaptureEnded | Event::HttpMidStream
        )
    }

    /// The entry kind expected for this event.
    pub fn entry_kind(self) -> EntryKind {
        match self {
            Event::SynNoAnswer
            | Event::SynRefused
            | Event::SynTimeExceeded
            | Event::ResetByOriginator
            | Event::ResetByResponder
            | Event::HttpRequestReset
            | Event::CloseWait
            | Event::LastAck => EntryKind::Tcp,
            Event::IdleUnacked => EntryKind::Timeout,
            Event::LossGap
            | Event::LossRetransmission
            | Event::HttpResponseLost
            | Event::HttpRequestLost => EntryKind::Loss,
            Event::HttpNoResponse
            | Event::HttpResponseCut
            | Event::HttpNotHttp
            | Event::HttpCaptureEnded
            | Event::HttpBadChunk
            | Event::HttpMidStream => EntryKind::Http,
            Event::DnsNoResponse | Event::DnsUnsolicited | Event::DnsMalformed => EntryKind::Dns,
            _ => EntryKind::Icmp,
        }
    }

    /// The expected `error_type` (none for ICMP entries).
    pub fn error_type(self) -> Option<ErrorType> {
        match self.entry_kind() {
            EntryKind::Tcp => Some(ErrorType::Connection),
            EntryKind::Timeout => Some(ErrorType::Timeout),
            EntryKind::Loss => Some(ErrorType::Loss),
            EntryKind::Icmp if self == Event::EchoNoReply => Some(ErrorType::PairNotFound),
            EntryKind::Http | EntryKind::Dns => {
                self.app_effect().map(|a| match a.error_type.as_str() {
                    "dissection" => ErrorType::Dissection,
                    _ => ErrorType::PairNotFound,
                })
            }
            _ => None,
        }
    }

    /// The expected TCP error state, for `tcp` entries.
    pub fn tcp_state(self) -> Option<TcpErrorState> {
        match self {
            Event::SynNoAnswer | Event::SynRefused | Event::SynTimeExceeded => {
                Some(TcpErrorState::SynSent)
            }
            Event::ResetByOriginator | Event::ResetByResponder | Event::HttpRequestReset => {
                Some(TcpErrorState::Reset)
            }
            Event::CloseWait => Some(TcpErrorState::CloseWait),
            Event::LastAck => Some(TcpErrorState::LastAck),
            _ => None,
        }
    }

    /// The application-layer entry the event causes besides its own, if any: the response
    /// cut by a reset is an HTTP `unexpected EOF`, the request left idle is an HTTP request
    /// without response, the DNS query answered by a port unreachable is a DNS query without
    /// response whose reason is the ICMP error.
    pub fn app_effect(self) -> Option<AppTruth> {
        let t = |kind: &str, error_type: ErrorType, msg: &str, reason: &str| AppTruth {
            kind: kind.to_owned(),
            error_type: error_type.as_str().to_owned(),
            msg: msg.to_owned(),
            reason: reason.to_owned(),
        };
        Some(match self {
            Event::ResetByOriginator => t(
                "http",
                ErrorType::Dissection,
                "unexpected EOF",
                "peer reset: the client reset the connection",
            ),
            Event::ResetByResponder => t(
                "http",
                ErrorType::Dissection,
                "unexpected EOF",
                "peer reset: the server reset the connection",
            ),
            Event::IdleUnacked => t(
                "http",
                ErrorType::PairNotFound,
                "request without response",
                "stream timed out: idle for 10 s",
            ),
            Event::Icmp4PortUnreachable | Event::Icmp6PortUnreachable => t(
                "dns",
                ErrorType::PairNotFound,
                "query without response",
                "ICMP error received for the flow: DestinationUnreachable",
            ),
            Event::HttpNoResponse => t(
                "http",
                ErrorType::PairNotFound,
                "request without response",
                "connection closed by the client",
            ),
            Event::HttpResponseCut => t(
                "http",
                ErrorType::Dissection,
                "unexpected EOF",
                "connection closed by the server",
            ),
            Event::HttpNotHttp => t(
                "http",
                ErrorType::Dissection,
                "parser error: invalid request head: invalid token",
                "the client sent bytes that are not HTTP/1.x",
            ),
            Event::DnsNoResponse => t(
                "dns",
                ErrorType::PairNotFound,
                "query without response",
                "stream timed out: idle for 10 s",
            ),
            Event::DnsUnsolicited => t(
                "dns",
                ErrorType::PairNotFound,
                "response without query",
                "capture began mid-stream",
            ),
            Event::HttpCaptureEnded => t(
                "http",
                ErrorType::PairNotFound,
                "request without response",
                "capture ended while the flow was open",
            ),
            Event::HttpResponseLost => t(
                "http",
                ErrorType::PairNotFound,
                "request without response",
                "packets lost: the response fell in a gap of the server's stream",
            ),
            Event::HttpRequestLost => t(
                "http",
                ErrorType::PairNotFound,
                "response without request",
                "packets lost: the request fell in a gap of the client's stream",
            ),
            Event::HttpRequestReset => t(
                "http",
                ErrorType::PairNotFound,
                "request without response",
                "peer reset: the server reset the connection",
            ),
            Event::HttpBadChunk => t(
                "http",
                ErrorType::Dissection,
                "parser error: bad chunk size",
                "the server sent bytes that are not HTTP/1.x",
            ),
            Event::HttpMidStream => t(
                "http",
                ErrorType::PairNotFound,
                "response without request",
                "capture began mid-stream",
            ),
            Event::DnsMalformed => t(
                "dns",
                ErrorType::Dissection,
                "parser error: message shorter than the 12-byte DNS header",
                "malformed DNS message",
            ),
            _ => return None,
        })
    }

    /// Whether an `entries` row is expected: for every event (echo requests without reply are
    /// an `icmp` entry with `pair-not-found`).
    pub fn expects_entry(self) -> bool {
        true
    }
}

/// A flow's identity, originator first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FlowKey {
    /// IP protocol number (6, 17, 1, 58).
    pub proto: u8,
    /// Originator address (for ICMP error and router messages: the sender).
    pub orig_ip: IpAddr,
    /// Originator port (none for ICMP).
    pub orig_port: Option<u16>,
    /// Responder address.
    pub resp_ip: IpAddr,
    /// Responder port.
    pub resp_port: Option<u16>,
    /// 802.1Q VLAN id of the flow's frames.
    pub vlan: Option<u16>,
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.proto {
            6 => "tcp",
            17 => "udp",
            1 => "icmp",
            58 => "icmp6",
            _ => "ip",
        };
        let ep = |ip: IpAddr, port: Option<u16>| match (ip, port) {
            (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
            (a, Some(p)) => format!("{a}:{p}"),
            (a, None) => a.to_string(),
        };
        write!(
            f,
            "{name} {} -> {}",
            ep(self.orig_ip, self.orig_port),
            ep(self.resp_ip, self.resp_port)
        )?;
        if let Some(v) = self.vlan {
            write!(f, " vlan {v}")?;
        }
        Ok(())
    }
}

/// The 5-tuple of the packet quoted in an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotedTuple {
    /// Transport protocol of the quoted packet, after IPv6 extension headers (17 for the
    /// hop-by-hop case, where tshark's `ipv6.nxt` shows 0).
    pub proto: u8,
    /// Its source address.
    pub src_ip: IpAddr,
    /// Its source port.
    pub src_port: Option<u16>,
    /// Its destination address.
    pub dst_ip: IpAddr,
    /// Its destination port.
    pub dst_port: Option<u16>,
}

/// ICMP fields expected on an `icmp` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcmpTruth {
    /// 4 or 6.
    pub version: u8,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// The quoted packet's 5-tuple (error messages only; none for router messages, echo and
    /// the ICMPv6 redirect, whose body is not a quoted packet).
    pub quoted: Option<QuotedTuple>,
}

/// Expected tshark `tcp.analysis.*` counts for one TCP flow: the very counters faultline
/// stores (fast retransmissions are also counted as retransmissions).
pub type Counters = crate::emit::LossCounters;

/// An application-layer entry an event is expected to cause (besides its own entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppTruth {
    /// `http` or `dns`.
    pub kind: String,
    /// `pair-not-found` or `dissection`.
    pub error_type: String,
    /// The `error_msg`: `request without response`, `unexpected EOF`, ...
    pub msg: String,
    /// What the `error_reason` must contain.
    pub reason: String,
}

/// One line of the truth file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthRecord {
    /// 0-based line number.
    pub id: u64,
    /// What was injected.
    pub event: Event,
    /// Expected entry kind (`tcp`, `timeout`, `loss`, `icmp`), as stored in `entries.kind`.
    pub kind: String,
    /// Whether an `entries` row is expected at all (see [`Event::expects_entry`]).
    pub entry: bool,
    /// Capture time of the packet that makes the event visible (µs): the first SYN, the RST, the
    /// FIN, the second FIN, the unacknowledged data, the first packet tshark flags for loss,
    /// the ICMP message, the first unanswered echo request.
    pub ts_us: i64,
    /// The flow, originator first; for ICMP error/router messages sender -> receiver.
    pub flow: FlowKey,
    /// `flow` as text, e.g. `tcp 10.0.0.12:40001 -> 10.1.0.10:80 vlan 100`.
    pub tuple: String,
    /// First packet of the flow (TCP, UDP and echo flows).
    pub first_us: Option<i64>,
    /// Last packet of the flow.
    pub last_us: Option<i64>,
    /// Packets of the flow in the capture, both directions.
    pub packets: Option<u32>,
    /// Expected `error_type` (`connection`, `timeout`, `loss`), null for ICMP.
    pub error_type: Option<String>,
    /// Expected TCP error state (`SynSent`, `Reset`, `CloseWait`, `LastAck`) for `tcp` entries.
    pub state: Option<String>,
    /// Why, as a token: `no-answer`, `refused`, `rst-by-originator`, `rst-by-responder`,
    /// `fin-by-originator`, `fin-by-responder`, `final-ack-missing`, `unacked-data-idle`,
    /// `gap-fast-retransmission`, `rto-retransmission`, `response-not-captured`, `no-reply`,
    /// and for application-layer events the token of their scenario.
    pub reason: Option<String>,
    /// ICMP fields for `icmp` events.
    pub icmp: Option<IcmpTruth>,
    /// For ICMP errors: the flow the quoted packet belongs to (it is in the capture).
    pub related: Option<FlowKey>,
    /// Expected tshark counters of the TCP flow (every TCP event; all zero unless stated).
    pub counters: Option<Counters>,
    /// The application-layer entry the event causes, on `app_flow` (client first).
    pub app: Option<AppTruth>,
    /// The flow of the application-layer entry: the event's flow, or for an ICMP error the
    /// flow it quotes.
    pub app_flow: Option<FlowKey>,
}

/// What a scenario knows about an event before its conversation is finished.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draft {
    /// The event.
    pub(crate) event: Event,
    /// Ordinal of the decisive packet.
    pub(crate) decisive: u32,
    /// Ordinal of the quoted packet (ICMP errors).
    pub(crate) related: Option<u32>,
    /// Reason token.
    pub(crate) reason: Option<&'static str>,
    /// Expected counters (TCP events).
    pub(crate) counters: Option<Counters>,
}

impl Draft {
    /// A draft with only the event and decisive packet.
    pub(crate) fn new(event: Event, decisive: u32) -> Self {
        Draft {
            event,
            decisive,
            related: None,
            reason: None,
            counters: None,
        }
    }
}

/// Turns a draft into a record, reading times and addresses from the finished conversation.
pub(crate) fn resolve(conv: &Conv, d: &Draft, id: u64) -> Result<TruthRecord, GenerateError> {
    let find = |ord: u32| {
        conv.specs
            .iter()
            .find(|s| s.ord == ord)
            .ok_or(GenerateError::Internal("draft refers to no packet"))
    };
    let spec = find(d.decisive)?;
    let icmp_msg = matches!(spec.l4, L4::Icmp { ty, .. } if !is_echo(ty));
    let flow = flow_key(conv, spec, !icmp_msg);
    let (first_us, last_us, packets) = if icmp_msg {
        (None, None, None)
    } else {
        let mut it = conv
            .specs
            .iter()
            .filter(|s| flow_key(conv, s, true) == flow);
        let first = it.next().map(|s| s.ts);
        let (last, n) = it.fold((first, 1u32), |(_, n), s| (Some(s.ts), n + 1));
        (first, last, first.map(|_| n))
    };
    let related = d.related.map(find).transpose()?;
    let icmp = match spec.l4 {
        L4::Icmp { ty, code, .. } => Some(IcmpTruth {
            version: if node(conv, spec.src).ip.is_ipv6() {
                6
            } else {
                4
            },
            icmp_type: ty,
            code,
            quoted: related.map(|q| quoted_tuple(conv, q)),
        }),
        _ => None,
    };
    Ok(TruthRecord {
        id,
        event: d.event,
        kind: d.event.entry_kind().as_str().to_owned(),
        entry: d.event.expects_entry(),
        ts_us: spec.ts,
        tuple: flow.to_string(),
        flow,
        first_us,
        last_us,
        packets,
        error_type: d.event.error_type().map(|e| e.as_str().to_owned()),
        state: d.event.tcp_state().map(|s| s.as_str().to_owned()),
        reason: d.reason.map(str::to_owned),
        icmp,
        related: related.map(|q| flow_key(conv, q, true)),
        counters: d.counters,
        app: d.event.app_effect(),
        app_flow: d.event.app_effect().map(|_| {
            client_first(match related {
                Some(q) => flow_key(conv, q, true),
                None => flow,
            })
        }),
    })
}

/// `f` with the client first: the server is the end on a DNS or HTTP port.
fn client_first(f: FlowKey) -> FlowKey {
    let server_port = |p: Option<u16>| matches!(p, Some(53 | 80 | 8080));
    if server_port(f.orig_port) && !server_port(f.resp_port) {
        FlowKey {
            orig_ip: f.resp_ip,
            orig_port: f.resp_port,
            resp_ip: f.orig_ip,
            resp_port: f.orig_port,
            ..f
        }
    } else {
        f
    }
}

fn is_echo(ty: u8) -> bool {
    matches!(ty, 0 | 8 | 128 | 129)
}

fn node(conv: &Conv, i: u8) -> Node {
    conv.nodes[usize::from(i) % conv.nodes.len()]
}

fn proto(spec: &Spec, v6: bool) -> u8 {
    match spec.l4 {
        L4::Tcp { .. } => 6,
        L4::Udp { .. } => 17,
        L4::Icmp { .. } if v6 => 58,
        L4::Icmp { .. } => 1,
    }
}

fn ports(spec: &Spec) -> (Option<u16>, Option<u16>) {
    match spec.l4 {
        L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport } => (Some(sport), Some(dport)),
        L4::Icmp { .. } => (None, None),
    }
}

/// The flow of `spec`: with `canonical`, the lower node index (the conversation's originator)
/// first, so both directions map to one key; otherwise sender first.
fn flow_key(conv: &Conv, spec: &Spec, canonical: bool) -> FlowKey {
    let (src, dst) = (node(conv, spec.src), node(conv, spec.dst));
    let (sp, dp) = ports(spec);
    let p = proto(spec, src.ip.is_ipv6());
    if canonical && spec.dst < spec.src {
        FlowKey {
            proto: p,
            orig_ip: dst.ip,
            orig_port: dp,
            resp_ip: src.ip,
            resp_port: sp,
            vlan: conv.vlan,
        }
    } else {
        FlowKey {
            proto: p,
            orig_ip: src.ip,
            orig_port: sp,
            resp_ip: dst.ip,
            resp_port: dp,
            vlan: conv.vlan,
        }
    }
}

fn quoted_tuple(conv: &Conv, q: &Spec) -> QuotedTuple {
    let (src, dst) = (node(conv, q.src), node(conv, q.dst));
    let (src_port, dst_port) = ports(q);
    QuotedTuple {
        proto: proto(q, src.ip.is_ipv6()),
        src_ip: src.ip,
        src_port,
        dst_ip: dst.ip,
        dst_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_match_serde() {
        for e in Event::INJECTED {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.name()));
            assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
        }
    }

    #[test]
    fn kinds_states_and_types_line_up() {
        for e in Event::INJECTED {
            let k = e.entry_kind();
            assert_eq!(e.tcp_state().is_some(), k == EntryKind::Tcp, "{e:?}");
            let icmp_message = k == EntryKind::Icmp && e != Event::EchoNoReply;
            assert_eq!(e.error_type().is_none(), icmp_message, "{e:?}");
        }
    }

    #[test]
    fn flow_key_text() {
        let k = FlowKey {
            proto: 6,
            orig_ip: "2001:db8::1".parse().unwrap(),
            orig_port: Some(40000),
            resp_ip: "2001:db8:1::10".parse().unwrap(),
            resp_port: Some(80),
            vlan: Some(100),
        };
        assert_eq!(
            k.to_string(),
            "tcp [2001:db8::1]:40000 -> [2001:db8:1::10]:80 vlan 100"
        );
    }
}
