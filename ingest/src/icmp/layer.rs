//! ICMP's analyzer in the flow table's chain: counts echo and neighbour-discovery messages per
//! flow, emits the `icmp` entry of each error or router message (tied to the flow whose packet
//! an error quotes, when it is tracked), and when an echo flow leaves unanswered, its half
//! connection. Texts are written into buffers the analyzer keeps.

use std::fmt::Write as _;

use faultline_schemas::ErrorType;

use crate::decode::{IcmpMessage, Packet, Transport};
use crate::emit::{
    Emit, EntryBody, EntryHeader, EntryView, ErrorView, FlowView, IcmpView, QuotedTuple,
};
use crate::flow::{
    Analyzer, EndReason, Ending, Flow, FlowEnded, FlowKey, FlowPacket, FlowStats, Ident,
};
use crate::icmp::{self, IcmpClass, classify, quoted_tuple};

/// Per-flow state of ICMP's analyzer: messages counted by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoCounts {
    /// Echo requests.
    pub echo_requests: u32,
    /// Echo replies.
    pub echo_replies: u32,
    /// ICMPv6 neighbour solicitations and advertisements.
    pub neighbor_discovery: u32,
}

/// ICMP's (and ICMPv6's) analyzer (per-flow state: [`EchoCounts`]).
#[derive(Debug)]
pub struct IcmpLayer {
    /// Reusable text buffers for reasons and summaries.
    reason: String,
    summary: String,
}

impl Default for IcmpLayer {
    fn default() -> Self {
        IcmpLayer {
            reason: String::with_capacity(160),
            summary: String::with_capacity(96),
        }
    }
}

impl Analyzer for IcmpLayer {
    type State = EchoCounts;

    fn new_state(&mut self, _first: &FlowPacket<'_, '_>) -> EchoCounts {
        EchoCounts::default()
    }

    /// The flow of the packet an ICMP error quotes.
    fn related_flow(&self, pkt: &Packet<'_>) -> Option<FlowKey> {
        let Transport::Icmp(m) = &pkt.transport else {
            return None;
        };
        let q = quoted_tuple(m)?;
        let ports = (q.src_port.unwrap_or(0), q.dst_port.unwrap_or(0));
        let (key, _) = FlowKey::new((q.src, ports.0), (q.dst, ports.1), q.proto, pkt.vlan);
        Some(key)
    }

    fn on_packet<E: Emit>(
        &mut self,
        p: &FlowPacket<'_, '_>,
        i: &mut EchoCounts,
        stats: &mut FlowStats,
        out: &mut E,
    ) {
        let Transport::Icmp(m) = &p.pkt.transport else {
            return;
        };
        let class = classify(m);
        match class {
            IcmpClass::EchoRequest => i.echo_requests += 1,
            IcmpClass::EchoReply => i.echo_replies += 1,
            IcmpClass::NeighborDiscovery => i.neighbor_discovery += 1,
            _ => {}
        }
        if class.produces_entry() {
            let (key, flow) = p.related.unwrap_or((p.key, p.flow));
            let ident = Ident::of(key, flow);
            self.icmp_entry(p.pkt, m, quoted_tuple(m), &ident, stats, out);
        }
    }

    fn on_flow_end<'f, E: Emit>(
        &mut self,
        end: &FlowEnded<'f>,
        i: &'f EchoCounts,
        record: &mut FlowView<'f>,
        stats: &mut FlowStats,
        out: &mut E,
    ) {
        if let Some((icmp_type, code)) = end.flow.icmp_ports
            && i.echo_requests > 0
            && i.echo_replies == 0
            && matches!(icmp_type, 8 | 128)
        {
            let ending = end.ending;
            self.echo_entry(
                end.ident,
                (end.flow, i),
                (icmp_type, code),
                (ending.reason(), ending),
                stats,
                out,
            );
        }
        record.echo_requests = i.echo_requests;
        record.echo_replies = i.echo_replies;
        record.neighbor_discovery = i.neighbor_discovery;
    }
}

impl IcmpLayer {
    /// Emits the `icmp` entry of an error or router message, tied to `ident`'s flow.
    pub(super) fn icmp_entry(
        &mut self,
        pkt: &Packet<'_>,
        m: &IcmpMessage<'_>,
        quoted: Option<QuotedTuple>,
        ident: &Ident,
        stats: &mut FlowStats,
        out: &mut impl Emit,
    ) {
        let name = icmp::icmp_name(m.version, m.icmp_type, m.code);
        let summary = match name.as_static() {
            Some(s) => s,
            None => {
                self.summary.clear();
                let _ = write!(self.summary, "{name}");
                self.summary.as_str()
            }
        };
        let header = EntryHeader::new(
            pkt.ts_us,
            (pkt.ip.src, None),
            (pkt.ip.dst, None),
            pkt.ip.proto,
            summary,
        );
        let view = EntryView::new(
            EntryHeader {
                flow: Some(ident.view()),
                vlan: pkt.vlan,
                ..header
            },
            EntryBody::Icmp(IcmpView {
                version: m.version,
                icmp_type: m.icmp_type,
                code: m.code,
                quoted,
            }),
        );
        out.entry(&view);
        stats.icmp_entries += 1;
    }

    /// Emits the half connection of echo requests that got no reply (an `icmp` entry with
    /// `pair-not-found`), stamped with the first request.
    fn echo_entry(
        &mut self,
        ident: &Ident,
        (flow, i): (&Flow, &EchoCounts),
        (icmp_type, code): (u8, u8),
        (reason, ending): (EndReason, Ending),
        stats: &mut FlowStats,
        out: &mut impl Emit,
    ) {
        self.reason.clear();
        let n = i.echo_requests;
        let s = if n == 1 { "" } else { "s" };
        let _ = match (reason, ending) {
            (EndReason::Timeout, Ending::Timeout { timeout_us, .. }) => write!(
                self.reason,
                "{n} echo request{s}, no reply within {} s",
                timeout_us / 1_000_000
            ),
            _ => write!(
                self.reason,
                "{n} echo request{s}, no reply before the capture ended"
            ),
        };
        let version = if icmp_type == 128 { 6 } else { 4 };
        let header =
            EntryHeader::of_flow(flow.start_us, ident.view(), "echo request without reply");
        let view = EntryView::new(
            EntryHeader {
                src: (ident.orig.0, None),
                dst: (ident.resp.0, None),
                ..header
            }
            .with_error(ErrorView {
                error_type: ErrorType::PairNotFound,
                msg: "echo request without reply",
                reason: &self.reason,
            }),
            EntryBody::Icmp(IcmpView {
                version,
                icmp_type,
                code,
                quoted: None,
            }),
        );
        out.entry(&view);
        stats.icmp_entries += 1;
    }
}
