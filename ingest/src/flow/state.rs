//! One flow's state: packet counters, timing, protocol-specific state, and when and how it
//! leaves the table.

use std::net::IpAddr;

use super::key::{FlowKey, IcmpKeying, Side, icmp_counterpart};
use super::table::{EndReason, FlowConfig};
use crate::decode::{IcmpMessage, Packet, TcpSegment};
use crate::emit::DirCounts;
use crate::tcp::history::History;
use crate::tcp::state::TcpConn;
use crate::tcp::verdict::Ending;

/// UDP flow state: Zeek's `D`/`d` history and which sides sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UdpFlow {
    pub(super) history: History,
}

/// ICMP flow state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IcmpFlow {
    /// Type and code from the originator's point of view (the flow's "ports").
    pub(super) icmp_type: u8,
    pub(super) code: u8,
    pub(super) echo_requests: u32,
    pub(super) echo_replies: u32,
    pub(super) neighbor_discovery: u32,
}

/// Protocol-specific state, inline so that a flow is one fixed-size value (most flows are TCP,
/// and boxing the TCP state would cost an allocation per flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub(super) enum FlowKind {
    Tcp(TcpConn),
    Udp(UdpFlow),
    Icmp(IcmpFlow),
    Other,
}

/// One flow (fixed size; see the size test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flow {
    /// Deterministic id: digest of the key and the first packet's time.
    pub(super) id: u64,
    /// First packet, µs.
    pub(super) start_us: i64,
    /// Latest packet, µs.
    pub(super) last_us: i64,
    /// Due time of the flow's live timer entry, µs.
    pub(super) timer_due_us: i64,
    /// `[originator, responder]`; TCP payload bytes are filled in from sequence space at the end.
    pub(super) counts: [DirCounts; 2],
    /// Which side of the key is the originator.
    pub(super) orig_side: Side,
    /// Protocol-specific state.
    pub(super) kind: FlowKind,
}

impl Flow {
    pub(super) fn new(key: &FlowKey, ts_us: i64, orig_side: Side, kind: FlowKind) -> Flow {
        Flow {
            id: key.digest(ts_us as u64),
            start_us: ts_us,
            last_us: ts_us,
            timer_due_us: i64::MAX,
            counts: [DirCounts::default(); 2],
            orig_side,
            kind,
        }
    }

    /// The flow's id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Time of the flow's latest packet, µs.
    pub(crate) fn last_us(&self) -> i64 {
        self.last_us
    }

    /// Counts a packet from `side`; returns true when it came from the originator.
    pub(super) fn count(&mut self, side: Side, pkt: &Packet<'_>, payload: u64) -> bool {
        let from_orig = side == self.orig_side;
        let c = &mut self.counts[usize::from(!from_orig)];
        c.pkts += 1;
        c.bytes += payload;
        c.ip_bytes += u64::from(pkt.ip.total_len);
        self.last_us = self.last_us.max(pkt.ts_us);
        from_orig
    }

    /// When the flow should leave the table, given no further packets.
    pub(super) fn deadline_us(&self, cfg: &FlowConfig) -> i64 {
        match &self.kind {
            FlowKind::Tcp(c) if c.is_closed() || c.is_reset() => {
                self.last_us.saturating_add(cfg.close_linger_us)
            }
            FlowKind::Tcp(c) => {
                let idle = self.last_us.saturating_add(cfg.stream_timeout_us);
                match (cfg.attempt_timeout_us, c.pending_attempt_us()) {
                    (Some(a), Some(t)) => idle.min(t.saturating_add(a)),
                    _ => idle,
                }
            }
            _ => self.last_us.saturating_add(cfg.idle_timeout_us),
        }
    }

    /// How a flow that reached its deadline ends.
    pub(super) fn expiry(&self, now_us: i64, cfg: &FlowConfig) -> (EndReason, Ending) {
        let idle_us = now_us - self.last_us;
        match &self.kind {
            FlowKind::Tcp(c) if c.is_closed() => (EndReason::Closed, Ending::Closed),
            FlowKind::Tcp(c) if c.is_reset() => (EndReason::Reset, Ending::Reset),
            FlowKind::Tcp(c) => {
                let attempt = cfg.attempt_timeout_us.zip(c.pending_attempt_us());
                let timeout_us = match attempt {
                    Some((a, t)) if t.saturating_add(a) <= now_us => a,
                    _ => cfg.stream_timeout_us,
                };
                (
                    EndReason::Timeout,
                    Ending::Timeout {
                        idle_us,
                        timeout_us,
                    },
                )
            }
            _ => {
                let timeout_us = cfg.idle_timeout_us;
                (
                    EndReason::Timeout,
                    Ending::Timeout {
                        idle_us,
                        timeout_us,
                    },
                )
            }
        }
    }

    /// How a flow still in the table ends when the input does.
    pub(super) fn at_end_of_input(&self, now_us: i64, cfg: &FlowConfig) -> (EndReason, Ending) {
        if now_us >= self.deadline_us(cfg) {
            return self.expiry(now_us, cfg);
        }
        match &self.kind {
            FlowKind::Tcp(c) if c.is_closed() => (EndReason::Closed, Ending::Closed),
            FlowKind::Tcp(c) if c.is_reset() => (EndReason::Reset, Ending::Reset),
            _ => (EndReason::EndOfInput, Ending::EndOfInput),
        }
    }

    /// Originator and responder endpoints, with ICMP type/code in place of ports.
    pub(super) fn endpoints(&self, key: &FlowKey) -> ((IpAddr, u16), (IpAddr, u16)) {
        let (o, r) = (
            key.endpoint(self.orig_side),
            key.endpoint(self.orig_side.other()),
        );
        match &self.kind {
            FlowKind::Icmp(i) => ((o.0, u16::from(i.icmp_type)), (r.0, u16::from(i.code))),
            FlowKind::Other => ((o.0, 0), (r.0, 0)),
            _ => (o, r),
        }
    }
}

/// Applies one TCP segment to its flow.
pub(super) fn tcp_packet(flow: &mut Flow, side: Side, pkt: &Packet<'_>, seg: &TcpSegment<'_>) {
    let from_orig = flow.count(side, pkt, 0);
    if let FlowKind::Tcp(c) = &mut flow.kind {
        c.on_segment(from_orig, seg, pkt.ts_us);
    }
}

/// A new ICMP flow; an echo flow first seen at its reply belongs to the reply's receiver.
pub(super) fn new_icmp_flow(
    key: &FlowKey,
    pkt: &Packet<'_>,
    m: &IcmpMessage<'_>,
    keying: &IcmpKeying,
    side: Side,
) -> Flow {
    let (orig, icmp_type, code) = if keying.echo && keying.reply {
        let request = icmp_counterpart(m.version, m.icmp_type).unwrap_or(m.icmp_type);
        (side.other(), request, m.code)
    } else {
        (side, m.icmp_type, m.code)
    };
    let state = IcmpFlow {
        icmp_type,
        code,
        echo_requests: 0,
        echo_replies: 0,
        neighbor_discovery: 0,
    };
    Flow::new(key, pkt.ts_us, orig, FlowKind::Icmp(state))
}
