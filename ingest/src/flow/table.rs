//! The flow table: one entry per bidirectional flow, TCP connection tracking, expiry by capture
//! time, and the entries and flow records emitted when flows end.
//!
//! Per packet: one hash lookup (FxHash over a 40-byte key), fixed-size per-flow state, no
//! allocation and no formatting. Text (reasons, summaries) is written only when an entry is
//! emitted, into buffers the table reuses.

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

use super::key::{FlowKey, Side, icmp_keying, proto};
use super::report::{Ident, Reporter};
use super::roles::{tcp_receiver_is_originator, udp_receiver_is_originator};
use super::state::{Flow, FlowKind, UdpFlow, new_icmp_flow, tcp_packet};
use super::timer::{Timer, Wheel};
use crate::app::names::{NameTable, Resolver};
use crate::app::reason::FlowEnd;
use crate::app::{AppConfig, AppLayer, AppStats};
use crate::decode::{IcmpMessage, Packet, TcpSegment, Transport, UdpDatagram};
use crate::emit::Emit;
use crate::icmp::{self, IcmpClass};
use crate::tcp::history::{History, mask};
use crate::tcp::state::TcpConn;
use crate::tcp::verdict::Ending;

const SEC_US: i64 = 1_000_000;

/// Timeouts of the flow table, all in capture-time microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// A TCP flow idle this long is expired (Kubeshark's stream timeout).
    pub stream_timeout_us: i64,
    /// A UDP, ICMP or other flow idle this long is expired.
    pub idle_timeout_us: i64,
    /// A TCP connection that closed (both FINs acknowledged) or was reset stays this long, so
    /// that late ACKs and RSTs still find it, then leaves.
    pub close_linger_us: i64,
    /// Zeek's `tcp_attempt_delay`: when set, an unanswered connection attempt (SYN sent, nothing
    /// from the responder) ends this long after its first SYN. Off by default, so that the SYN
    /// retries of one attempt stay one flow.
    pub attempt_timeout_us: Option<i64>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            stream_timeout_us: 10 * SEC_US,
            idle_timeout_us: 10 * SEC_US,
            close_linger_us: 5 * SEC_US,
            attempt_timeout_us: None,
        }
    }
}

impl FlowConfig {
    /// Zeek's default timeouts: TCP inactivity 5 min, UDP/ICMP 1 min, close/reset delay 5 s,
    /// connection attempts 5 s. Used to compare flows with Zeek's `conn.log`.
    pub fn zeek() -> Self {
        FlowConfig {
            stream_timeout_us: 300 * SEC_US,
            idle_timeout_us: 60 * SEC_US,
            close_linger_us: 5 * SEC_US,
            attempt_timeout_us: Some(5 * SEC_US),
        }
    }

    fn max_timeout_us(&self) -> i64 {
        self.stream_timeout_us
            .max(self.idle_timeout_us)
            .max(self.close_linger_us)
            .max(self.attempt_timeout_us.unwrap_or(0))
    }
}

/// Why a flow left the table (the `end_reason` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// TCP: both FINs acknowledged.
    Closed,
    /// TCP: reset.
    Reset,
    /// Idle past its timeout.
    Timeout,
    /// Still open when the input ended.
    EndOfInput,
    /// TCP: a new connection (a SYN with a new sequence number, or after a close) took over the
    /// 4-tuple.
    Reused,
}

impl EndReason {
    /// The string stored in `end_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Closed => "closed",
            EndReason::Reset => "reset",
            EndReason::Timeout => "timeout",
            EndReason::EndOfInput => "end-of-input",
            EndReason::Reused => "reused",
        }
    }
}

/// Counters of the flow table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Packets processed.
    pub packets: u64,
    /// TCP/UDP/ICMP packets without a usable transport header (non-first fragments, headers
    /// cut by the snaplen): counted, not attributed to a flow.
    pub unattributed: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows that ended closed.
    pub ended_closed: u64,
    /// Flows that ended reset.
    pub ended_reset: u64,
    /// Flows expired by idle (or attempt) timeout.
    pub ended_timeout: u64,
    /// Flows replaced by a new connection on the same 4-tuple.
    pub ended_reused: u64,
    /// Flows still open at the end of the input.
    pub ended_end_of_input: u64,
    /// Flows in the table now.
    pub active: u64,
    /// Most flows in the table at once.
    pub active_max: u64,
    /// `tcp` entries emitted.
    pub tcp_entries: u64,
    /// `timeout` entries emitted.
    pub timeout_entries: u64,
    /// `loss` entries emitted.
    pub loss_entries: u64,
    /// `icmp` entries emitted.
    pub icmp_entries: u64,
}

/// The flow table. Feed packets in capture order with [`FlowTable::process`], then call
/// [`FlowTable::finish`].
#[derive(Debug)]
pub struct FlowTable {
    cfg: FlowConfig,
    flows: FxHashMap<FlowKey, Flow>,
    wheel: Wheel,
    /// Latest capture time seen, µs.
    now_us: i64,
    stats: FlowStats,
    report: Reporter,
    app: AppLayer,
    /// Names learnt from DNS answers; entries are named on their way out.
    names: NameTable,
}

impl FlowTable {
    /// An empty table with the default application layer.
    pub fn new(cfg: FlowConfig) -> Self {
        Self::with_app(cfg, AppConfig::default())
    }

    /// An empty table with the given application layer settings.
    pub fn with_app(cfg: FlowConfig, app: AppConfig) -> Self {
        FlowTable {
            wheel: Wheel::new(cfg.max_timeout_us()),
            cfg,
            flows: FxHashMap::default(),
            now_us: i64::MIN,
            stats: FlowStats::default(),
            report: Reporter::new(),
            app: AppLayer::new(app),
            names: NameTable::default(),
        }
    }

    /// Counters of the application layer (HTTP and DNS).
    pub fn app_stats(&self) -> &AppStats {
        self.app.stats()
    }

    /// Heap bytes held by the application layer's streams and dissectors now.
    pub fn app_heap_bytes(&self) -> usize {
        self.app.heap_bytes()
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
    /// packet's flow; ICMP errors and router messages are emitted at once. Returns the id of
    /// the flow the packet was counted in (for an ICMP error about a tracked flow: that flow's
    /// id), or 0 when it belongs to none; the traffic recorder indexes packets by it.
    pub fn process(&mut self, pkt: &Packet<'_>, out: &mut impl Emit) -> u64 {
        let mut names = std::mem::take(&mut self.names);
        let id = self.process_named(
            pkt,
            &mut Resolver {
                names: &mut names,
                out,
            },
        );
        self.names = names;
        id
    }

    fn process_named(&mut self, pkt: &Packet<'_>, out: &mut impl Emit) -> u64 {
        self.stats.packets += 1;
        self.advance(pkt.ts_us, out);
        match &pkt.transport {
            Transport::Tcp(seg) => self.tcp(pkt, seg, out),
            Transport::Udp(d) => self.udp(pkt, d, out),
            Transport::Icmp(m) => self.icmp(pkt, m, out),
            Transport::Other => self.other(pkt),
        }
    }

    /// Ends every flow still in the table (the input is over), oldest first.
    pub fn finish(&mut self, out: &mut impl Emit) {
        let mut names = std::mem::take(&mut self.names);
        self.finish_named(&mut Resolver {
            names: &mut names,
            out,
        });
        self.names = names;
    }

    fn finish_named(&mut self, out: &mut impl Emit) {
        let mut keys: Vec<(i64, u64, FlowKey)> = self
            .flows
            .iter()
            .map(|(k, f)| (f.start_us, f.id, *k))
            .collect();
        keys.sort_unstable();
        let now = self.now_us;
        for (_, _, key) in keys {
            if let Some(flow) = self.flows.remove(&key) {
                let (reason, ending) = flow.at_end_of_input(now, &self.cfg);
                self.retire(&key, &flow, reason, ending, out);
            }
        }
        self.stats.active = 0;
    }

    /// Moves the clock to `now_us` without a packet and expires the flows due by then: a live
    /// capture calls it with the wall clock, so idle flows end on time even when no traffic
    /// arrives. Earlier times are ignored.
    pub fn advance_to(&mut self, now_us: i64, out: &mut impl Emit) {
        let mut names = std::mem::take(&mut self.names);
        self.advance(
            now_us,
            &mut Resolver {
                names: &mut names,
                out,
            },
        );
        self.names = names;
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

    fn check_timer(&mut self, t: Timer, out: &mut impl Emit) {
        let Some(flow) = self.flows.get_mut(&t.key) else {
            return;
        };
        if flow.id != t.id || flow.timer_due_us != t.due_us {
            return;
        }
        let deadline = flow.deadline_us(&self.cfg);
        if self.now_us < deadline {
            flow.timer_due_us = deadline;
            self.wheel.schedule(t.key, t.id, deadline);
            return;
        }
        if let Some(flow) = self.flows.remove(&t.key) {
            let (reason, ending) = flow.expiry(self.now_us, &self.cfg);
            self.retire(&t.key, &flow, reason, ending, out);
        }
    }

    /// Registers a new flow's timer and the table-size statistics.
    fn created(
        stats: &mut FlowStats,
        wheel: &mut Wheel,
        cfg: &FlowConfig,
        key: FlowKey,
        flow: &mut Flow,
        len: usize,
    ) {
        stats.flows_created += 1;
        stats.active = len as u64;
        stats.active_max = stats.active_max.max(stats.active);
        flow.timer_due_us = flow.deadline_us(cfg);
        wheel.schedule(key, flow.id, flow.timer_due_us);
    }

    /// The flow under `key`, made by `make` and scheduled for expiry when it is new.
    fn flow_entry(&mut self, key: FlowKey, make: impl FnOnce() -> Flow) -> &mut Flow {
        let len_before = self.flows.len();
        match self.flows.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let flow = v.insert(make());
                Self::created(
                    &mut self.stats,
                    &mut self.wheel,
                    &self.cfg,
                    key,
                    flow,
                    len_before + 1,
                );
                flow
            }
        }
    }

    fn tcp(&mut self, pkt: &Packet<'_>, seg: &TcpSegment<'_>, out: &mut impl Emit) -> u64 {
        let (key, side) = FlowKey::new(
            (pkt.ip.src, seg.src_port),
            (pkt.ip.dst, seg.dst_port),
            proto::TCP,
            pkt.vlan,
        );
        let new_flow = |side: Side| {
            let flip = tcp_receiver_is_originator(seg);
            let mut conn = TcpConn::new();
            if flip {
                conn.mark_flipped();
            }
            let orig = if flip { side.other() } else { side };
            Flow::new(&key, pkt.ts_us, orig, FlowKind::Tcp(conn))
        };
        let mut replaced = None;
        let len_before = self.flows.len();
        match self.flows.entry(key) {
            Entry::Occupied(mut o) => {
                let flow = o.get_mut();
                let reuse = matches!(&flow.kind, FlowKind::Tcp(c) if c.is_reuse(seg));
                if reuse {
                    let mut fresh = new_flow(side);
                    tcp_packet(&mut fresh, side, pkt, seg);
                    fresh.timer_due_us = fresh.deadline_us(&self.cfg);
                    self.wheel.schedule(key, fresh.id, fresh.timer_due_us);
                    replaced = Some(o.insert(fresh));
                    self.stats.flows_created += 1;
                } else {
                    tcp_packet(flow, side, pkt, seg);
                    let deadline = flow.deadline_us(&self.cfg);
                    if deadline < flow.timer_due_us {
                        flow.timer_due_us = deadline;
                        self.wheel.schedule(key, flow.id, deadline);
                    }
                }
            }
            Entry::Vacant(v) => {
                let flow = v.insert(new_flow(side));
                tcp_packet(flow, side, pkt, seg);
                Self::created(
                    &mut self.stats,
                    &mut self.wheel,
                    &self.cfg,
                    key,
                    flow,
                    len_before + 1,
                );
            }
        }
        if let Some(old) = replaced {
            let (reason, ending) = match &old.kind {
                FlowKind::Tcp(c) if c.is_closed() => (EndReason::Closed, Ending::Closed),
                FlowKind::Tcp(c) if c.is_reset() => (EndReason::Reset, Ending::Reset),
                _ => (EndReason::Reused, Ending::Reused),
            };
            self.retire(&key, &old, reason, ending, out);
        }
        match self.flows.get(&key) {
            Some(flow) => {
                self.app.tcp(&key, side, flow, pkt, seg, out);
                flow.id
            }
            None => 0,
        }
    }

    fn udp(&mut self, pkt: &Packet<'_>, d: &UdpDatagram<'_>, out: &mut impl Emit) -> u64 {
        let (key, side) = FlowKey::new(
            (pkt.ip.src, d.src_port),
            (pkt.ip.dst, d.dst_port),
            proto::UDP,
            pkt.vlan,
        );
        let ts_us = pkt.ts_us;
        let flow = self.flow_entry(key, || {
            let flip = udp_receiver_is_originator(d.src_port, d.dst_port);
            let mut history = History::new();
            if flip {
                history.flipped();
            }
            let orig = if flip { side.other() } else { side };
            Flow::new(&key, ts_us, orig, FlowKind::Udp(UdpFlow { history }))
        });
        let from_orig = flow.count(side, pkt, d.payload.len() as u64);
        let id = flow.id;
        if let FlowKind::Udp(u) = &mut flow.kind {
            u.history.check(from_orig, mask::DATA, b'D');
        }
        if self.app.wants_udp(d.src_port, d.dst_port)
            && let Some(flow) = self.flows.get(&key)
        {
            self.app.udp(&key, side, flow, pkt.ts_us, d, out);
        }
        id
    }

    fn icmp(&mut self, pkt: &Packet<'_>, m: &IcmpMessage<'_>, out: &mut impl Emit) -> u64 {
        let keying = icmp_keying(m);
        let (key, side) = FlowKey::icmp(pkt, &keying);
        let flow = self.flow_entry(key, || new_icmp_flow(&key, pkt, m, &keying, side));
        flow.count(side, pkt, m.body.len() as u64);
        let own_id = flow.id;
        let class = icmp::classify(m);
        if let FlowKind::Icmp(i) = &mut flow.kind {
            match class {
                IcmpClass::EchoRequest => i.echo_requests += 1,
                IcmpClass::EchoReply => i.echo_replies += 1,
                IcmpClass::NeighborDiscovery => i.neighbor_discovery += 1,
                _ => {}
            }
        }
        if class.produces_entry() {
            return self.icmp_entry(pkt, m, &key, out).unwrap_or(own_id);
        }
        own_id
    }

    /// Emits the `icmp` entry of an error or router message, tied to the flow its quoted
    /// packet belongs to when that flow is in the table, else to the message's own flow.
    /// Returns the id of the flow the entry was tied to.
    fn icmp_entry(
        &mut self,
        pkt: &Packet<'_>,
        m: &IcmpMessage<'_>,
        own: &FlowKey,
        out: &mut impl Emit,
    ) -> Option<u64> {
        let quoted = icmp::quoted_tuple(m);
        let quoted_flow = quoted.and_then(|q| {
            let ports = (q.src_port.unwrap_or(0), q.dst_port.unwrap_or(0));
            let (k, _) = FlowKey::new((q.src, ports.0), (q.dst, ports.1), q.proto, pkt.vlan);
            let f = self.flows.get(&k)?;
            self.app
                .icmp_error(&k, f.id(), (m.version, m.icmp_type, m.code));
            Some(Ident::of(&k, f))
        });
        let ident = match quoted_flow {
            Some(i) => i,
            None => match self.flows.get(own) {
                Some(f) => Ident::of(own, f),
                None => return None,
            },
        };
        let id = ident.view().flow_id;
        self.report
            .icmp_entry(pkt, m, quoted, &ident, &mut self.stats, out);
        Some(id)
    }

    fn other(&mut self, pkt: &Packet<'_>) -> u64 {
        if matches!(
            pkt.ip.proto,
            proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6
        ) {
            self.stats.unattributed += 1;
            return 0;
        }
        let (key, side) = FlowKey::new((pkt.ip.src, 0), (pkt.ip.dst, 0), pkt.ip.proto, pkt.vlan);
        let flow = self.flow_entry(key, || Flow::new(&key, pkt.ts_us, side, FlowKind::Other));
        flow.count(side, pkt, 0);
        flow.id
    }

    /// A flow leaves the table: counts it and emits what it yields.
    fn retire(
        &mut self,
        key: &FlowKey,
        flow: &Flow,
        reason: EndReason,
        ending: Ending,
        out: &mut impl Emit,
    ) {
        self.count_end(reason);
        self.stats.active = self.flows.len() as u64;
        let timeout_us = match ending {
            Ending::Timeout { timeout_us, .. } => timeout_us,
            _ => self.cfg.stream_timeout_us,
        };
        self.app
            .retire(key, flow, FlowEnd { reason, timeout_us }, out);
        self.report
            .retire(key, flow, (reason, ending), &mut self.stats, out);
    }

    fn count_end(&mut self, reason: EndReason) {
        let s = &mut self.stats;
        match reason {
            EndReason::Closed => s.ended_closed += 1,
            EndReason::Reset => s.ended_reset += 1,
            EndReason::Timeout => s.ended_timeout += 1,
            EndReason::EndOfInput => s.ended_end_of_input += 1,
            EndReason::Reused => s.ended_reused += 1,
        }
    }
}
