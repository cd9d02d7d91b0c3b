//! What the classifiers hand to the batcher: borrowed, stack-only views of one entry or one
//! finished flow. The batcher copies them straight into Arrow builders, so no row structs are
//! allocated in between.

use std::net::IpAddr;

use faultline_schemas::{EntryKind, ErrorType};

/// Identity of a flow as entries and flow records carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowIdent<'a> {
    /// Stable 64-bit flow id (joins `entries.flow_id` to `flows.flow_id`).
    pub flow_id: u64,
    /// Community ID string (`1:...`).
    pub community_id: &'a str,
    /// Originator address and port.
    pub orig: (IpAddr, u16),
    /// Responder address and port.
    pub resp: (IpAddr, u16),
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub proto: u8,
    /// Outer VLAN id, if any.
    pub vlan: Option<u16>,
}

/// An error carried by an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorView<'a> {
    /// Kubeshark's error type.
    pub error_type: ErrorType,
    /// Short message: a TCP state name or a description.
    pub msg: &'a str,
    /// Why, in words.
    pub reason: &'a str,
}

/// ICMP fields of an `icmp` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpView {
    /// 4 or 6.
    pub version: u8,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// The 5-tuple quoted in an error message: proto, (src, port), (dst, port).
    pub quoted: Option<QuotedTuple>,
}

/// The offending packet's 5-tuple quoted inside an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTuple {
    /// IP protocol of the quoted packet.
    pub proto: u8,
    /// Source address of the quoted packet.
    pub src: IpAddr,
    /// Source port (None if the quote is too short or not TCP/UDP).
    pub src_port: Option<u16>,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dst_port: Option<u16>,
}

/// Packet-loss signals of a TCP flow, counted with tshark's definitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LossCounters {
    /// `tcp.analysis.retransmission` (fast and spurious included, as tshark flags them too).
    pub retransmissions: u32,
    /// `tcp.analysis.fast_retransmission`.
    pub fast_retransmissions: u32,
    /// `tcp.analysis.lost_segment`: previous segment not captured.
    pub lost_segments: u32,
    /// `tcp.analysis.ack_lost_segment`: ACKed segment not captured.
    pub ack_lost_segments: u32,
    /// `tcp.analysis.duplicate_ack`.
    pub dup_acks: u32,
    /// `tcp.analysis.out_of_order`.
    pub out_of_order: u32,
    /// `tcp.analysis.zero_window`.
    pub zero_windows: u32,
}

impl LossCounters {
    /// True when the flow lost data or had to resend it: gaps or retransmissions.
    pub fn has_loss(&self) -> bool {
        self.retransmissions > 0 || self.lost_segments > 0 || self.ack_lost_segments > 0
    }

    /// The seven counters in column order (retransmissions, fast retransmissions, lost
    /// segments, ACKed unseen segments, duplicate ACKs, out of order, zero windows).
    pub fn to_array(&self) -> [u32; 7] {
        [
            self.retransmissions,
            self.fast_retransmissions,
            self.lost_segments,
            self.ack_lost_segments,
            self.dup_acks,
            self.out_of_order,
            self.zero_windows,
        ]
    }
}

/// Packets a live capture dropped over an interval (`capture-drop` loss entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropCount {
    /// Packets dropped.
    pub packets: u64,
    /// Length of the interval they were counted over, µs (it ends at the entry's timestamp).
    pub interval_us: i64,
}

/// One `entries` row, borrowed: the columns every entry has, and the columns of its kind.
///
/// The kind is not stored but derived from the body ([`EntryView::kind`]), so the two cannot
/// disagree, and adding a kind means adding one [`EntryBody`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// What every entry carries: time, endpoints, summary, error, names.
    pub header: EntryHeader<'a>,
    /// What only entries of this kind carry.
    pub body: EntryBody<'a>,
}

impl<'a> EntryView<'a> {
    /// An entry from its header and body.
    pub fn new(header: EntryHeader<'a>, body: EntryBody<'a>) -> Self {
        EntryView { header, body }
    }

    /// The entry's kind, as its body says.
    pub fn kind(&self) -> EntryKind {
        self.body.kind()
    }
}

/// The columns every entry has, whatever its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryHeader<'a> {
    /// Event time, µs since the epoch.
    pub ts_us: i64,
    /// Flow identity; `None` for entries not tied to a flow.
    pub flow: Option<FlowIdent<'a>>,
    /// Source endpoint of the entry (for ICMP: the sender of the message).
    pub src: (IpAddr, Option<u16>),
    /// Destination endpoint.
    pub dst: (IpAddr, Option<u16>),
    /// IP protocol of the entry's own packet/flow.
    pub proto: u8,
    /// Outer VLAN id.
    pub vlan: Option<u16>,
    /// One-line summary.
    pub summary: &'a str,
    /// Error, if the entry is one.
    pub error: Option<ErrorView<'a>>,
    /// Name of the source address learnt from DNS answers.
    pub src_name: Option<&'a str>,
    /// Name of the destination address learnt from DNS answers.
    pub dst_name: Option<&'a str>,
}

impl<'a> EntryHeader<'a> {
    /// A header from `src` to `dst` over `proto`, tied to no flow, without VLAN, error or names.
    pub fn new(
        ts_us: i64,
        src: (IpAddr, Option<u16>),
        dst: (IpAddr, Option<u16>),
        proto: u8,
        summary: &'a str,
    ) -> Self {
        EntryHeader {
            ts_us,
            flow: None,
            src,
            dst,
            proto,
            vlan: None,
            summary,
            error: None,
            src_name: None,
            dst_name: None,
        }
    }

    /// A header about `flow`, from its originator to its responder (ports included), with the
    /// flow's protocol and VLAN.
    pub fn of_flow(ts_us: i64, flow: FlowIdent<'a>, summary: &'a str) -> Self {
        EntryHeader {
            flow: Some(flow),
            vlan: flow.vlan,
            ..EntryHeader::new(
                ts_us,
                (flow.orig.0, Some(flow.orig.1)),
                (flow.resp.0, Some(flow.resp.1)),
                flow.proto,
                summary,
            )
        }
    }

    /// The same header carrying `error`.
    pub fn with_error(self, error: ErrorView<'a>) -> Self {
        EntryHeader {
            error: Some(error),
            ..self
        }
    }
}

/// The kind of an entry with the columns only that kind fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryBody<'a> {
    /// A TCP connection error (`tcp`); the header's error says which.
    Tcp,
    /// A stale TCP stream (`timeout`).
    Timeout,
    /// Packet loss on a flow (`loss`), counted with tshark's definitions.
    Loss(LossCounters),
    /// An ICMP or ICMPv6 message (`icmp`).
    Icmp(IcmpView),
    /// An HTTP/1.x transaction, or the half of one that was seen (`http`).
    Http(HttpView<'a>),
    /// A DNS transaction, or the half of one that was seen (`dns`).
    Dns(DnsView<'a>),
    /// Packets the live capture dropped (a `loss` entry tied to no flow).
    CaptureDrop(DropCount),
}

impl EntryBody<'_> {
    /// The entry kind this body makes.
    pub fn kind(&self) -> EntryKind {
        match self {
            EntryBody::Tcp => EntryKind::Tcp,
            EntryBody::Timeout => EntryKind::Timeout,
            EntryBody::Loss(_) | EntryBody::CaptureDrop(_) => EntryKind::Loss,
            EntryBody::Icmp(_) => EntryKind::Icmp,
            EntryBody::Http(_) => EntryKind::Http,
            EntryBody::Dns(_) => EntryKind::Dns,
        }
    }
}

/// HTTP fields of an `http` entry; `None` for the half that was not seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HttpView<'a> {
    /// Request method.
    pub method: Option<&'a str>,
    /// Request target (path and query).
    pub path: Option<&'a str>,
    /// `Host` header.
    pub host: Option<&'a str>,
    /// Request headers as sent (the batcher lower-cases names and joins repeats).
    pub request_headers: Option<&'a [httparse::Header<'a>]>,
    /// Response status code.
    pub status: Option<u16>,
    /// Response reason phrase.
    pub status_text: Option<&'a str>,
    /// Response headers as sent.
    pub response_headers: Option<&'a [httparse::Header<'a>]>,
    /// Request bytes: head and body.
    pub request_size: Option<u64>,
    /// Response bytes: head and body.
    pub response_size: Option<u64>,
    /// First response byte minus first request byte, ms.
    pub elapsed_ms: Option<i64>,
    /// First bytes of the request body (decoded from chunks), up to the configured prefix.
    pub request_body: Option<&'a [u8]>,
    /// First bytes of the response body (decoded from chunks), up to the configured prefix.
    pub response_body: Option<&'a [u8]>,
}

/// DNS fields of a `dns` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DnsView<'a> {
    /// First question name.
    pub name: Option<&'a str>,
    /// First question type (`A`, `AAAA`, ...).
    pub qtype: Option<&'a str>,
    /// Response code, when a response was seen.
    pub rcode: Option<u16>,
    /// Answers as text, `TYPE data` joined with `, `.
    pub answers: Option<&'a str>,
    /// Addresses from A and AAAA answers (they name `name`).
    pub addresses: &'a [IpAddr],
    /// Query message bytes.
    pub request_size: Option<u64>,
    /// Response message bytes.
    pub response_size: Option<u64>,
    /// Response time minus query time, ms.
    pub elapsed_ms: Option<i64>,
}

/// Zeek-like summary of a finished flow, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowView<'a> {
    /// Identity.
    pub ident: FlowIdent<'a>,
    /// First packet, µs.
    pub start_us: i64,
    /// Last packet, µs.
    pub end_us: i64,
    /// Zeek conn_state (TCP and UDP).
    pub conn_state: Option<&'a str>,
    /// Zeek history (TCP and UDP).
    pub history: Option<&'a str>,
    /// Kubeshark TCP error state, if the flow ended in one.
    pub tcp_error: Option<&'a str>,
    /// `closed`, `reset`, `timeout`, `end-of-input` or `reused`.
    pub end_reason: &'a str,
    /// tshark completeness bitmask (TCP only).
    pub completeness: Option<u8>,
    /// Packets, payload bytes and IP bytes from the originator.
    pub orig: DirCounts,
    /// Packets, payload bytes and IP bytes from the responder.
    pub resp: DirCounts,
    /// Loss signals (zero for non-TCP).
    pub loss: LossCounters,
    /// Handshake round-trip time, µs.
    pub handshake_rtt_us: Option<i64>,
    /// ICMP echo requests, echo replies and neighbour-discovery messages.
    pub echo_requests: u32,
    /// ICMP echo replies.
    pub echo_replies: u32,
    /// ICMPv6 neighbour discovery messages.
    pub neighbor_discovery: u32,
}

/// Per-direction counters of a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirCounts {
    /// Packets.
    pub pkts: u64,
    /// Transport payload bytes (Zeek counts sequence space for TCP; see the flows README).
    pub bytes: u64,
    /// IP-level bytes.
    pub ip_bytes: u64,
}

/// Receiver of entries and flow records: the batcher in production, a `Vec` in tests.
pub trait Emit {
    /// Takes one entry.
    fn entry(&mut self, e: &EntryView<'_>);
    /// Takes one finished flow.
    fn flow(&mut self, f: &FlowView<'_>);
}
