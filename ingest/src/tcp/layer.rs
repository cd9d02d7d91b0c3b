//! TCP's analyzer in the flow table's chain: feeds each segment to the flow's [`TcpConn`] (Zeek's
//! state machine and tshark's analysis), tells the table when a connection closed, was reset,
//! is an unanswered attempt or is replaced by a new one on the same ports, and when the flow
//! leaves emits its `tcp` or `timeout` entry and its `loss` entry and fills in the TCP fields of
//! its flow record. Texts are written into buffers the analyzer keeps, so emitting allocates
//! nothing once they have grown.

use std::fmt::Write as _;

use faultline_schemas::{ErrorType, TcpErrorState};

use super::state::TcpConn;
use super::verdict::Verdict;
use crate::decode::{Packet, Transport};
use crate::emit::{Emit, EntryBody, EntryHeader, EntryView, ErrorView, FlowView, LossCounters};
use crate::flow::{Analyzer, Ending, FlowEnded, FlowPacket, FlowStats, Ident, Liveness};

/// TCP's analyzer (per-flow state: [`TcpConn`]).
#[derive(Debug)]
pub struct TcpLayer {
    /// Reusable text buffers for reasons and summaries.
    reason: String,
    summary: String,
}

impl Default for TcpLayer {
    fn default() -> Self {
        TcpLayer {
            reason: String::with_capacity(160),
            summary: String::with_capacity(96),
        }
    }
}

impl Analyzer for TcpLayer {
    type State = TcpConn;

    fn new_state(&mut self, first: &FlowPacket<'_, '_>) -> TcpConn {
        let mut conn = TcpConn::new();
        if !first.from_orig {
            conn.mark_flipped();
        }
        conn
    }

    fn starts_new_flow(&self, conn: &TcpConn, pkt: &Packet<'_>) -> bool {
        matches!(&pkt.transport, Transport::Tcp(seg) if conn.is_reuse(seg))
    }

    fn liveness(&self, conn: &TcpConn) -> Liveness {
        if conn.is_closed() {
            Liveness::Closed
        } else if conn.is_reset() {
            Liveness::Reset
        } else if let Some(since_us) = conn.pending_attempt_us() {
            Liveness::Attempt { since_us }
        } else {
            Liveness::Open
        }
    }

    fn on_packet<E: Emit>(
        &mut self,
        p: &FlowPacket<'_, '_>,
        conn: &mut TcpConn,
        _stats: &mut FlowStats,
        _out: &mut E,
    ) {
        if let Transport::Tcp(seg) = &p.pkt.transport {
            conn.on_segment(p.from_orig, seg, p.pkt.ts_us);
        }
    }

    /// Emits the connection's error (or stale) entry and its loss entry, and fills in the TCP
    /// fields of the flow record.
    ///
    /// A `SynSent` connection gets no loss entry: nothing but its own SYNs (or data nobody
    /// answered) can have been resent, and its reason already counts the SYNs. Its flow record
    /// still carries the counters.
    fn on_flow_end<'f, E: Emit>(
        &mut self,
        end: &FlowEnded<'f>,
        c: &'f TcpConn,
        record: &mut FlowView<'f>,
        stats: &mut FlowStats,
        out: &mut E,
    ) {
        let (ident, flow, ending) = (end.ident, end.flow, end.ending);
        let verdict = c.verdict(ending);
        if let Some(v) = verdict {
            let span = (flow.start_us, flow.last_us);
            record.tcp_error = self.verdict_entry(ident, c, (v, ending), span, stats, out);
        }
        let syn_sent = matches!(verdict, Some(Verdict::Error(TcpErrorState::SynSent, _)));
        let loss = c.loss();
        if loss.has_loss() && !syn_sent {
            let ts = c.first_loss_us().unwrap_or(flow.start_us);
            self.loss_entry(ident, loss, ts, stats, out);
        }
        let (o, r) = c.sizes();
        record.orig.bytes = o;
        record.resp.bytes = r;
        record.conn_state = Some(c.conn_state());
        record.history = Some(c.history());
        record.completeness = Some(c.completeness());
        record.loss = loss;
        record.handshake_rtt_us = c.handshake_rtt_us();
    }
}

impl TcpLayer {
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
