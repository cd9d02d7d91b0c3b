//! One flow as the tracker keeps it: identity, packet counters and timing, and when and how it
//! leaves the table given what its analyzers say ([`Liveness`]). The analyzers' own per-flow
//! state rides beside it in a [`Tracked`] entry.

use std::net::IpAddr;

use super::key::{FlowKey, IcmpKeying, Side, icmp_counterpart};
use super::lifecycle::{Ending, FlowConfig, Liveness};
use crate::decode::{IcmpMessage, Packet};
use crate::emit::DirCounts;

/// One flow, as the tracker knows it (fixed size, no heap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Deterministic id: digest of the key and the first packet's time.
    pub(crate) id: u64,
    /// First packet, µs.
    pub(crate) start_us: i64,
    /// Latest packet, µs.
    pub(crate) last_us: i64,
    /// Due time of the flow's live timer entry, µs.
    pub(super) timer_due_us: i64,
    /// `[originator, responder]`.
    pub(crate) counts: [DirCounts; 2],
    /// Which side of the key is the originator.
    pub(super) orig_side: Side,
    /// ICMP: type and code from the originator's point of view, the flow's "ports" in records.
    pub(crate) icmp_ports: Option<(u8, u8)>,
    /// The flow's transport is TCP (its timeouts are the stream timeouts).
    pub(super) tcp: bool,
}

/// A flow with its analyzers' per-flow state `S`: one entry of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked<S> {
    /// What the tracker keeps.
    pub(super) flow: Flow,
    /// What the analyzers keep.
    pub(super) state: S,
}

impl Flow {
    /// A flow whose first packet came at `ts_us`, with `orig_side` of the key as originator.
    pub(super) fn new(key: &FlowKey, ts_us: i64, orig_side: Side) -> Flow {
        Flow {
            id: key.digest(ts_us as u64),
            start_us: ts_us,
            last_us: ts_us,
            timer_due_us: i64::MAX,
            counts: [DirCounts::default(); 2],
            orig_side,
            icmp_ports: None,
            tcp: key.proto() == super::key::proto::TCP,
        }
    }

    /// The flow's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Time of the flow's first packet, µs.
    pub fn start_us(&self) -> i64 {
        self.start_us
    }

    /// Time of the flow's latest packet, µs.
    pub fn last_us(&self) -> i64 {
        self.last_us
    }

    /// Packets and bytes `[from the originator, from the responder]` (payload bytes as the
    /// tracker counts them; an analyzer may know better, as TCP's sequence space does).
    pub fn counts(&self) -> [DirCounts; 2] {
        self.counts
    }

    /// True when a packet from `side` of the key comes from the originator.
    pub fn from_orig(&self, side: Side) -> bool {
        side == self.orig_side
    }

    /// Counts a packet from `side`; returns true when it came from the originator.
    pub(super) fn count(&mut self, side: Side, pkt: &Packet<'_>, payload: u64) -> bool {
        let from_orig = self.from_orig(side);
        let c = &mut self.counts[usize::from(!from_orig)];
        c.pkts += 1;
        c.bytes += payload;
        c.ip_bytes += u64::from(pkt.ip.total_len);
        self.last_us = self.last_us.max(pkt.ts_us);
        from_orig
    }

    /// The idle timeout of this flow's transport.
    fn idle_timeout_us(&self, cfg: &FlowConfig) -> i64 {
        if self.tcp {
            cfg.stream_timeout_us
        } else {
            cfg.idle_timeout_us
        }
    }

    /// When the flow should leave the table, given no further packets.
    pub(super) fn deadline_us(&self, live: Liveness, cfg: &FlowConfig) -> i64 {
        let idle = self.last_us.saturating_add(self.idle_timeout_us(cfg));
        match live {
            Liveness::Closed | Liveness::Reset => self.last_us.saturating_add(cfg.close_linger_us),
            Liveness::Attempt { since_us } => match cfg.attempt_timeout_us {
                Some(a) => idle.min(since_us.saturating_add(a)),
                None => idle,
            },
            Liveness::Open => idle,
        }
    }

    /// How a flow that reached its deadline ends.
    pub(super) fn expiry(&self, live: Liveness, now_us: i64, cfg: &FlowConfig) -> Ending {
        let idle_us = now_us - self.last_us;
        let timeout_us = match live {
            Liveness::Closed => return Ending::Closed,
            Liveness::Reset => return Ending::Reset,
            Liveness::Attempt { since_us } => match cfg.attempt_timeout_us {
                Some(a) if since_us.saturating_add(a) <= now_us => a,
                _ => self.idle_timeout_us(cfg),
            },
            Liveness::Open => self.idle_timeout_us(cfg),
        };
        Ending::Timeout {
            idle_us,
            timeout_us,
        }
    }

    /// How a flow still in the table ends when the input does.
    pub(super) fn at_end_of_input(&self, live: Liveness, now_us: i64, cfg: &FlowConfig) -> Ending {
        if now_us >= self.deadline_us(live, cfg) {
            return self.expiry(live, now_us, cfg);
        }
        match live {
            Liveness::Closed => Ending::Closed,
            Liveness::Reset => Ending::Reset,
            Liveness::Open | Liveness::Attempt { .. } => Ending::EndOfInput,
        }
    }

    /// Originator and responder endpoints, with ICMP type/code in place of ports.
    pub fn endpoints(&self, key: &FlowKey) -> ((IpAddr, u16), (IpAddr, u16)) {
        let (o, r) = (
            key.endpoint(self.orig_side),
            key.endpoint(self.orig_side.other()),
        );
        match self.icmp_ports {
            Some((t, c)) => ((o.0, u16::from(t)), (r.0, u16::from(c))),
            None => (o, r),
        }
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
    let mut flow = Flow::new(key, pkt.ts_us, orig);
    flow.icmp_ports = Some((icmp_type, code));
    flow
}
