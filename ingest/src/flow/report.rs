//! What flows yield: `icmp` entries as ICMP messages arrive, and, when a flow leaves the table,
//! its `tcp` or `timeout` entry, its `loss` entry and its flow record. Texts are written into
//! buffers the reporter keeps, so emitting allocates nothing once they have grown.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use faultline_schemas::{ErrorType, TcpErrorState};

use super::community_id::CommunityId;
use super::key::FlowKey;
use super::state::{Flow, FlowKind};
use super::table::{EndReason, FlowStats};
use crate::decode::{IcmpMessage, Packet};
use crate::emit::{
    Emit, EntryBody, EntryHeader, EntryView, ErrorView, FlowIdent, FlowView, IcmpView,
    LossCounters, QuotedTuple,
};
use crate::icmp;
use crate::tcp::history::udp_conn_state;
use crate::tcp::state::TcpConn;
use crate::tcp::verdict::{Ending, Verdict};

/// A flow's identity with its Community ID computed (once, when needed).
pub(crate) struct Ident {
    flow_id: u64,
    community_id: CommunityId,
    orig: (IpAddr, u16),
    resp: (IpAddr, u16),
    proto: u8,
    vlan: Option<u16>,
}

impl Ident {
    pub(crate) fn of(key: &FlowKey, flow: &Flow) -> Ident {
        let (orig, resp) = flow.endpoints(key);
        Ident {
            flow_id: flow.id,
            community_id: CommunityId::new(orig, resp, key.proto()),
            orig,
            resp,
            proto: key.proto(),
            vlan: key.vlan(),
        }
    }

    pub(crate) fn view(&self) -> FlowIdent<'_> {
        FlowIdent {
            flow_id: self.flow_id,
            community_id: self.community_id.as_str(),
            orig: self.orig,
            resp: self.resp,
            proto: self.proto,
            vlan: self.vlan,
        }
    }

    fn sockets(&self) -> (SocketAddr, SocketAddr) {
        (SocketAddr::from(self.orig), SocketAddr::from(self.resp))
    }
}

/// Writes entries and flow records.
#[derive(Debug)]
pub(super) struct Reporter {
    /// Reusable text buffers for reasons and summaries.
    reason: String,
    summary: String,
}

impl Reporter {
    pub(super) fn new() -> Self {
        Reporter {
            reason: String::with_capacity(160),
            summary: String::with_capacity(96),
        }
    }

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

    /// Emits what a flow leaving the table yields: for TCP its error (or stale) entry and its
    /// loss entry, then the flow record.
    ///
    /// A `SynSent` connection gets no loss entry: nothing but its own SYNs (or data nobody
    /// answered) can have been resent, and its reason already counts the SYNs. Its flow record
    /// still carries the counters.
    pub(super) fn retire(
        &mut self,
        key: &FlowKey,
        flow: &Flow,
        (reason, ending): (EndReason, Ending),
        stats: &mut FlowStats,
        out: &mut impl Emit,
    ) {
        let ident = Ident::of(key, flow);
        let mut tcp_error = None;
        if let FlowKind::Tcp(c) = &flow.kind {
            let verdict = c.verdict(ending);
            if let Some(v) = verdict {
                let span = (flow.start_us, flow.last_us);
                tcp_error = self.verdict_entry(&ident, c, (v, ending), span, stats, out);
            }
            let syn_sent = matches!(verdict, Some(Verdict::Error(TcpErrorState::SynSent, _)));
            let loss = c.loss();
            if loss.has_loss() && !syn_sent {
                let ts = c.first_loss_us().unwrap_or(flow.start_us);
                self.loss_entry(&ident, loss, ts, stats, out);
            }
        }
        if let FlowKind::Icmp(i) = &flow.kind
            && i.echo_requests > 0
            && i.echo_replies == 0
            && matches!(i.icmp_type, 8 | 128)
        {
            self.echo_entry(
                &ident,
                flow,
                (i.icmp_type, i.code),
                (reason, ending),
                stats,
                out,
            );
        }
        self.flow_record(&ident, flow, reason, tcp_error, out);
    }

    /// Emits the half connection of echo requests that got no reply (an `icmp` entry with
    /// `pair-not-found`), stamped with the first request.
    fn echo_entry(
        &mut self,
        ident: &Ident,
        flow: &Flow,
        (icmp_type, code): (u8, u8),
        (reason, ending): (EndReason, Ending),
        stats: &mut FlowStats,
        out: &mut impl Emit,
    ) {
        let FlowKind::Icmp(i) = &flow.kind else {
            return;
        };
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

    /// Emits the `tcp` or `timeout` entry; returns the TCP error state name.
    fn verdict_entry(
        &mut self,
        ident: &Ident,
        conn: &TcpConn,
        (verdict, ending): (Verdict, Ending),
        (start_us, last_us): (i64, i64),
        stats: &mut FlowStats,
        out: &mut impl Emit,
    ) -> Option<&'static str> {
        conn.write_reason(verdict, ending, ident.sockets(), &mut self.reason);
        let (body, error_type, msg, ts_us, state) = match verdict {
            Verdict::Error(state, ts) => {
                let name = state.as_str();
                let ts = ts.max(start_us);
                (EntryBody::Tcp, ErrorType::Connection, name, ts, Some(name))
            }
            Verdict::Stale => (
                EntryBody::Timeout,
                ErrorType::Timeout,
                "stale stream",
                last_us,
                None,
            ),
        };
        let header = EntryHeader::of_flow(ts_us, ident.view(), msg);
        let view = EntryView::new(
            header.with_error(ErrorView {
                error_type,
                msg,
                reason: &self.reason,
            }),
            body,
        );
        out.entry(&view);
        match body {
            EntryBody::Tcp => stats.tcp_entries += 1,
            _ => stats.timeout_entries += 1,
        }
        state
    }

    fn loss_entry(
        &mut self,
        ident: &Ident,
        loss: LossCounters,
        ts_us: i64,
        stats: &mut FlowStats,
        out: &mut impl Emit,
    ) {
        write_loss_summary(&loss, &mut self.summary);
        write_loss_reason(&loss, &mut self.reason);
        let header = EntryHeader::of_flow(ts_us, ident.view(), &self.summary);
        let view = EntryView::new(
            header.with_error(ErrorView {
                error_type: ErrorType::Loss,
                msg: "packet loss",
                reason: &self.reason,
            }),
            EntryBody::Loss(loss),
        );
        out.entry(&view);
        stats.loss_entries += 1;
    }

    fn flow_record(
        &self,
        ident: &Ident,
        flow: &Flow,
        reason: EndReason,
        tcp_error: Option<&'static str>,
        out: &mut impl Emit,
    ) {
        let mut counts = flow.counts;
        let mut view = FlowView {
            ident: ident.view(),
            start_us: flow.start_us,
            end_us: flow.last_us,
            conn_state: None,
            history: None,
            tcp_error,
            end_reason: reason.as_str(),
            completeness: None,
            orig: counts[0],
            resp: counts[1],
            loss: LossCounters::default(),
            handshake_rtt_us: None,
            echo_requests: 0,
            echo_replies: 0,
            neighbor_discovery: 0,
        };
        match &flow.kind {
            FlowKind::Tcp(c) => {
                let (o, r) = c.sizes();
                counts[0].bytes = o;
                counts[1].bytes = r;
                view.orig = counts[0];
                view.resp = counts[1];
                view.conn_state = Some(c.conn_state());
                view.history = Some(c.history());
                view.completeness = Some(c.completeness());
                view.loss = c.loss();
                view.handshake_rtt_us = c.handshake_rtt_us();
            }
            FlowKind::Udp(u) => {
                view.conn_state = Some(udp_conn_state(counts[0].pkts > 0, counts[1].pkts > 0));
                view.history = Some(u.history.as_str());
            }
            FlowKind::Icmp(i) => {
                view.echo_requests = i.echo_requests;
                view.echo_replies = i.echo_replies;
                view.neighbor_discovery = i.neighbor_discovery;
            }
            FlowKind::Other => {}
        }
        out.flow(&view);
    }
}

/// `3 retransmissions, 1 lost segment`.
fn write_loss_summary(l: &LossCounters, out: &mut String) {
    out.clear();
    let mut sep = "";
    for (n, what) in [
        (l.retransmissions, "retransmission"),
        (l.lost_segments, "lost segment"),
        (l.ack_lost_segments, "ACKed unseen segment"),
    ] {
        if n > 0 {
            let s = if n == 1 { "" } else { "s" };
            let _ = write!(out, "{sep}{n} {what}{s}");
            sep = ", ";
        }
    }
}

/// Every non-zero tshark counter, in words.
fn write_loss_reason(l: &LossCounters, out: &mut String) {
    out.clear();
    out.push_str("segments flagged by tshark's analysis: ");
    let mut sep = "";
    for (n, what) in [
        (l.retransmissions, "retransmitted"),
        (l.fast_retransmissions, "fast-retransmitted"),
        (l.lost_segments, "after a segment not captured"),
        (l.ack_lost_segments, "ACKing unseen data"),
        (l.dup_acks, "duplicate ACKs"),
        (l.out_of_order, "out of order"),
        (l.zero_windows, "zero-window"),
    ] {
        if n > 0 {
            let _ = write!(out, "{sep}{n} {what}");
            sep = ", ";
        }
    }
}
