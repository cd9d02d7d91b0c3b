//! The flow table: one entry per bidirectional flow, its originator, its timers and its
//! eviction, by capture time. What the packets mean is left to the [`Analyzer`] chain the table
//! is built with; the table hands them each packet with its flow, and emits each flow's record
//! when it leaves.
//!
//! Per packet: one hash lookup (FxHash over a 40-byte key), fixed-size per-flow state, no
//! allocation and no formatting. Text (reasons, summaries) is written only when an entry is
//! emitted, into buffers the analyzers reuse.

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

use super::analyzer::{Analyzer, FlowEnded, FlowPacket};
use super::key::{FlowKey, Side, icmp_keying, proto};
use super::lifecycle::{Ending, FlowConfig, FlowStats, Liveness};
use super::report::{Ident, flow_record};
use super::roles::{tcp_receiver_is_originator, udp_receiver_is_originator};
use super::state::{Flow, Tracked, new_icmp_flow};
use super::timer::{Timer, Wheel};
use crate::decode::{Packet, Transport};
use crate::emit::Emit;

/// The flow table over the analyzer chain `A`. Feed packets in capture order with
/// [`FlowTable::process`], then call [`FlowTable::finish`].
#[derive(Debug)]
pub struct FlowTable<A: Analyzer> {
    cfg: FlowConfig,
    flows: FxHashMap<FlowKey, Tracked<A::State>>,
    wheel: Wheel,
    /// Latest capture time seen, µs.
    now_us: i64,
    stats: FlowStats,
    analyzers: A,
}

/// Where a packet goes: its flow's key, the key side it came from, and its payload bytes.
fn place(pkt: &Packet<'_>) -> Option<(FlowKey, Side, u64)> {
    let (src, dst, vlan) = (pkt.ip.src, pkt.ip.dst, pkt.vlan);
    Some(match &pkt.transport {
        Transport::Tcp(seg) => {
            let (key, side) =
                FlowKey::new((src, seg.src_port), (dst, seg.dst_port), proto::TCP, vlan);
            (key, side, u64::from(seg.payload_len))
        }
        Transport::Udp(d) => {
            let (key, side) = FlowKey::new((src, d.src_port), (dst, d.dst_port), proto::UDP, vlan);
            (key, side, d.payload.len() as u64)
        }
        Transport::Icmp(m) => {
            let (key, side) = FlowKey::icmp(pkt, &icmp_keying(m));
            (key, side, m.body.len() as u64)
        }
        Transport::Other => {
            if matches!(
                pkt.ip.proto,
                proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6
            ) {
                return None;
            }
            let (key, side) = FlowKey::new((src, 0), (dst, 0), pkt.ip.proto, vlan);
            (key, side, 0)
        }
    })
}

/// A new flow for `pkt`, which came from `side` of `key`, with its originator decided.
fn new_flow(key: &FlowKey, side: Side, pkt: &Packet<'_>) -> Flow {
    let flip = match &pkt.transport {
        Transport::Tcp(seg) => tcp_receiver_is_originator(seg),
        Transport::Udp(d) => udp_receiver_is_originator(d.src_port, d.dst_port),
        Transport::Icmp(m) => return new_icmp_flow(key, pkt, m, &icmp_keying(m), side),
        Transport::Other => false,
    };
    let orig = if flip { side.other() } else { side };
    Flow::new(key, pkt.ts_us, orig)
}

impl<A: Analyzer> FlowTable<A> {
    /// An empty table whose flows go through `analyzers`.
    pub fn with_analyzers(cfg: FlowConfig, analyzers: A) -> Self {
        FlowTable {
            wheel: Wheel::new(cfg.max_timeout_us()),
            cfg,
            flows: FxHashMap::default(),
            now_us: i64::MIN,
            stats: FlowStats::default(),
            analyzers,
        }
    }

    /// The analyzer chain.
    pub fn analyzers(&self) -> &A {
        &self.analyzers
    }

    /// Counters so far.
    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// Flows currently in the table.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// True when no flow is in the table.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Processes one packet: expires flows whose time has come, then updates (or creates) the
    /// packet's flow and hands the packet to the analyzers. Returns the id of the flow the
    /// packet was counted in (for an ICMP error about a tracked flow: that flow's id), or 0
    /// when it belongs to none; the traffic recorder indexes packets by it.
    pub fn process(&mut self, pkt: &Packet<'_>, out: &mut impl Emit) -> u64 {
        self.stats.packets += 1;
        self.advance(pkt.ts_us, out);
        let Some((key, side, payload)) = place(pkt) else {
            self.stats.unattributed += 1;
            return 0;
        };
        let related = self.related(pkt);
        let FlowTable {
            cfg,
            flows,
            wheel,
            stats,
            analyzers,
            ..
        } = self;
        let len = flows.len();
        let (t, from_orig) = match flows.entry(key) {
            Entry::Occupied(o) => {
                let t = o.into_mut();
                if analyzers.starts_new_flow(&t.state, pkt) {
                    // A new connection on the key: the old flow ends, the new one takes its
                    // place (and its timer entry goes stale).
                    let (fresh, from_orig) = start(analyzers, &key, side, payload, pkt);
                    let old = std::mem::replace(t, fresh);
                    stats.flows_created += 1;
                    let ending = match analyzers.liveness(&old.state) {
                        Liveness::Closed => Ending::Closed,
                        Liveness::Reset => Ending::Reset,
                        Liveness::Open | Liveness::Attempt { .. } => Ending::Reused,
                    };
                    retire(analyzers, stats, len, (&key, &old, ending), out);
                    (t, from_orig)
                } else {
                    let from_orig = t.flow.count(side, pkt, payload);
                    (t, from_orig)
                }
            }
            Entry::Vacant(v) => {
                let (fresh, from_orig) = start(analyzers, &key, side, payload, pkt);
                stats.flows_created += 1;
                stats.active = len as u64 + 1;
                stats.active_max = stats.active_max.max(stats.active);
                (v.insert(fresh), from_orig)
            }
        };
        let p = FlowPacket {
            pkt,
            key: &key,
            flow: &t.flow,
            side,
            from_orig,
            related: related.as_ref().map(|(k, f)| (k, f)),
        };
        analyzers.on_packet(&p, &mut t.state, stats, out);
        let deadline = t.flow.deadline_us(analyzers.liveness(&t.state), cfg);
        if deadline < t.flow.timer_due_us {
            t.flow.timer_due_us = deadline;
            wheel.schedule(key, t.flow.id, deadline);
        }
        related.map_or(t.flow.id, |(_, f)| f.id)
    }

    /// The tracked flow `pkt` is about, if any, after telling its analyzers (an ICMP error
    /// quoting one of its packets).
    fn related(&mut self, pkt: &Packet<'_>) -> Option<(FlowKey, Flow)> {
        let Transport::Icmp(m) = &pkt.transport else {
            return None;
        };
        let key = self.analyzers.related_flow(pkt)?;
        let t = self.flows.get_mut(&key)?;
        self.analyzers.on_icmp_error(&key, &t.flow, &mut t.state, m);
        Some((key, t.flow))
    }

    /// Ends every flow still in the table (the input is over), oldest first.
    pub fn finish(&mut self, out: &mut impl Emit) {
        let mut keys: Vec<(i64, u64, FlowKey)> = self
            .flows
            .iter()
            .map(|(k, t)| (t.flow.start_us, t.flow.id, *k))
            .collect();
        keys.sort_unstable();
        let now = self.now_us;
        for (_, _, key) in keys {
            if let Some(t) = self.flows.remove(&key) {
                let live = self.analyzers.liveness(&t.state);
                let ending = t.flow.at_end_of_input(live, now, &self.cfg);
                retire(
                    &mut self.analyzers,
                    &mut self.stats,
                    self.flows.len(),
                    (&key, &t, ending),
                    out,
                );
            }
        }
        self.stats.active = 0;
    }

    /// Moves the clock to `now_us` without a packet and expires the flows due by then: a live
    /// capture calls it with the wall clock, so idle flows end on time even when no traffic
    /// arrives. Earlier times are ignored.
    pub fn advance_to(&mut self, now_us: i64, out: &mut impl Emit) {
        self.advance(now_us, out);
    }

    /// Moves the capture clock and expires due flows: a bucket per new capture second, and
    /// the entries due within the current second once their time has come.
    fn advance(&mut self, ts_us: i64, out: &mut impl Emit) {
        if ts_us <= self.now_us {
            return;
        }
        self.now_us = ts_us;
        if let Some(due) = self.wheel.take_soon(ts_us) {
            self.check_timers(due, out);
        }
        if let Some((from, to)) = self.wheel.advance(ts_us) {
            for sec in from..=to {
                let due = self.wheel.take(sec);
                self.check_timers(due, out);
            }
        }
    }

    fn check_timers(&mut self, mut due: Vec<Timer>, out: &mut impl Emit) {
        for t in due.drain(..) {
            self.check_timer(t, out);
        }
        self.wheel.recycle(due);
    }

    fn check_timer(&mut self, timer: Timer, out: &mut impl Emit) {
        let Some(t) = self.flows.get_mut(&timer.key) else {
            return;
        };
        if t.flow.id != timer.id || t.flow.timer_due_us != timer.due_us {
            return;
        }
        let live = self.analyzers.liveness(&t.state);
        let deadline = t.flow.deadline_us(live, &self.cfg);
        if self.now_us < deadline {
            t.flow.timer_due_us = deadline;
            self.wheel.schedule(timer.key, timer.id, deadline);
            return;
        }
        if let Some(t) = self.flows.remove(&timer.key) {
            let ending = t.flow.expiry(live, self.now_us, &self.cfg);
            retire(
                &mut self.analyzers,
                &mut self.stats,
                self.flows.len(),
                (&timer.key, &t, ending),
                out,
            );
        }
    }
}

/// A new flow for `pkt` with its analyzers' state, the packet counted; also returns whether
/// the packet came from the originator.
fn start<A: Analyzer>(
    analyzers: &mut A,
    key: &FlowKey,
    side: Side,
    payload: u64,
    pkt: &Packet<'_>,
) -> (Tracked<A::State>, bool) {
    let mut flow = new_flow(key, side, pkt);
    let from_orig = flow.count(side, pkt, payload);
    let first = FlowPacket {
        pkt,
        key,
        flow: &flow,
        side,
        from_orig,
        related: None,
    };
    let state = analyzers.new_state(&first);
    (Tracked { flow, state }, from_orig)
}

/// A flow leaves the table (`active` flows stay): counts it, lets the analyzers emit what it
/// yields, then emits its flow record.
fn retire<A: Analyzer>(
    analyzers: &mut A,
    stats: &mut FlowStats,
    active: usize,
    (key, t, ending): (&FlowKey, &Tracked<A::State>, Ending),
    out: &mut impl Emit,
) {
    let reason = ending.reason();
    stats.count_end(reason);
    stats.active = active as u64;
    let ident = Ident::of(key, &t.flow);
    let end = FlowEnded {
        key,
        flow: &t.flow,
        ident: &ident,
        ending,
    };
    let mut record = flow_record(&ident, &t.flow, reason);
    analyzers.on_flow_end(&end, &t.state, &mut record, stats, out);
    out.flow(&record);
}
