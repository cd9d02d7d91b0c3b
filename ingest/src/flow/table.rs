//! The flow table: one entry per bidirectional flow, TCP connection tracking, expiry by capture
//! time, and the entries and flow records emitted when flows end.
//!
//! Per packet: one hash lookup (FxHash over a 40-byte key), fixed-size per-flow state, no
//! allocation and no formatting. Text (reasons, summaries) is written only when an entry is
//! emitted, into buffers the table reuses.

use std::collections::hash_map::Entry;
use std::fmt::Write as _;
use std::net::SocketAddr;

use faultline_schemas::{EntryKind, ErrorType};
use rustc_hash::FxHashMap;

use super::community_id::CommunityId;
use super::key::{FlowKey, IcmpKeying, Side, icmp_counterpart, icmp_keying, proto};
use super::roles::{tcp_receiver_is_originator, udp_receiver_is_originator};
use super::timer::{Timer, Wheel};
use crate::decode::{IcmpMessage, Packet, TcpSegment, Transport, UdpDatagram};
use crate::emit::{
    DirCounts, Emit, EntryView, ErrorView, FlowIdent, FlowView, IcmpView, LossCounters,
};
use crate::icmp::{self, IcmpClass};
use crate::tcp::history::{History, mask, udp_conn_state};
use crate::tcp::state::{Ending, TcpConn, Verdict};

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

/// UDP flow state: Zeek's `D`/`d` history and which sides sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UdpFlow {
    history: History,
}

/// ICMP flow state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IcmpFlow {
    /// Type and code from the originator's point of view (the flow's "ports").
    icmp_type: u8,
    code: u8,
    echo_requests: u32,
    echo_replies: u32,
    neighbor_discovery: u32,
}

/// Protocol-specific state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowKind {
    Tcp(TcpConn),
    Udp(UdpFlow),
    Icmp(IcmpFlow),
    Other,
}

/// One flow (fixed size; see the size test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flow {
    id: u64,
    start_us: i64,
    last_us: i64,
    /// Due time of the flow's live timer entry, µs.
    timer_due_us: i64,
    /// `[originator, responder]`; TCP payload bytes are filled in from sequence space at the end.
    counts: [DirCounts; 2],
    /// Which side of the key is the originator.
    orig_side: Side,
    kind: FlowKind,
}

impl Flow {
    fn new(key: &FlowKey, ts_us: i64, orig_side: Side, kind: FlowKind) -> Flow {
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

    /// Counts a packet from `side`; returns true when it came from the originator.
    fn count(&mut self, side: Side, pkt: &Packet<'_>, payload: u64) -> bool {
        let from_orig = side == self.orig_side;
        let c = &mut self.counts[usize::from(!from_orig)];
        c.pkts += 1;
        c.bytes += payload;
        c.ip_bytes += u64::from(pkt.ip.total_len);
        self.last_us = self.last_us.max(pkt.ts_us);
        from_orig
    }

    /// When the flow should leave the table, given no further packets.
    fn deadline_us(&self, cfg: &FlowConfig) -> i64 {
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
    fn expiry(&self, now_us: i64, cfg: &FlowConfig) -> (EndReason, Ending) {
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
                (EndReason::Timeout, Ending::Timeout { idle_us, timeout_us })
            }
            _ => {
                let timeout_us = cfg.idle_timeout_us;
                (EndReason::Timeout, Ending::Timeout { idle_us, timeout_us })
            }
        }
    }

    /// How a flow still in the table ends when the input does.
    fn at_end_of_input(&self, now_us: i64, cfg: &FlowConfig) -> (EndReason, Ending) {
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
    fn endpoints(&self, key: &FlowKey) -> ((std::net::IpAddr, u16), (std::net::IpAddr, u16)) {
        let (o, r) = (key.endpoint(self.orig_side), key.endpoint(self.orig_side.other()));
        match &self.kind {
            FlowKind::Icmp(i) => ((o.0, u16::from(i.icmp_type)), (r.0, u16::from(i.code))),
            FlowKind::Other => ((o.0, 0), (r.0, 0)),
            _ => (o, r),
        }
    }
}

/// A flow's identity with its Community ID computed (once, when needed).
struct Ident {
    flow_id: u64,
    community_id: CommunityId,
    orig: (std::net::IpAddr, u16),
    resp: (std::net::IpAddr, u16),
    proto: u8,
    vlan: Option<u16>,
}

impl Ident {
    fn of(key: &FlowKey, flow: &Flow) -> Ident {
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

    fn view(&self) -> FlowIdent<'_> {
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
    /// Reusable text buffers for reasons and summaries.
    reason: String,
    summary: String,
}

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: FlowConfig) -> Self {
        FlowTable {
            wheel: Wheel::new(cfg.max_timeout_us()),
            cfg,
            flows: FxHashMap::default(),
            now_us: i64::MIN,
            stats: FlowStats::default(),
            reason: String::with_capacity(160),
            summary: String::with_capacity(96),
        }
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
    /// packet's flow; ICMP errors and router messages are emitted at once.
    pub fn process(&mut self, pkt: &Packet<'_>, out: &mut impl Emit) {
        self.stats.packets += 1;
        self.advance(pkt.ts_us, out);
        match &pkt.transport {
            Transport::Tcp(seg) => self.tcp(pkt, seg, out),
            Transport::Udp(d) => self.udp(pkt, d),
            Transport::Icmp(m) => self.icmp(pkt, m, out),
            Transport::Other => self.other(pkt),
        }
    }

    /// Ends every flow still in the table (the input is over), oldest first.
    pub fn finish(&mut self, out: &mut impl Emit) {
        let mut keys: Vec<(i64, u64, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.start_us, f.id, *k)).collect();
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
        for sec in self.wheel.advance(ts_us) {
            let due = self.wheel.take(sec);
            self.check_timers(due, out);
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
    fn created(stats: &mut FlowStats, wheel: &mut Wheel, cfg: &FlowConfig, key: FlowKey, flow: &mut Flow, len: usize) {
        stats.flows_created += 1;
        stats.active = len as u64;
        stats.active_max = stats.active_max.max(stats.active);
        flow.timer_due_us = flow.deadline_us(cfg);
        wheel.schedule(key, flow.id, flow.timer_due_us);
    }

    fn tcp(&mut self, pkt: &Packet<'_>, seg: &TcpSegment<'_>, out: &mut impl Emit) {
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
                Self::created(&mut self.stats, &mut self.wheel, &self.cfg, key, flow, len_before + 1);
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
    }

    fn udp(&mut self, pkt: &Packet<'_>, d: &UdpDatagram<'_>) {
        let (key, side) =
            FlowKey::new((pkt.ip.src, d.src_port), (pkt.ip.dst, d.dst_port), proto::UDP, pkt.vlan);
        let len_before = self.flows.len();
        let flow = match self.flows.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let flip = udp_receiver_is_originator(d.src_port, d.dst_port);
                let mut history = History::new();
                if flip {
                    history.flipped();
                }
                let orig = if flip { side.other() } else { side };
                let flow = v.insert(Flow::new(&key, pkt.ts_us, orig, FlowKind::Udp(UdpFlow { history })));
                Self::created(&mut self.stats, &mut self.wheel, &self.cfg, key, flow, len_before + 1);
                flow
            }
        };
        let from_orig = flow.count(side, pkt, d.payload.len() as u64);
        if let FlowKind::Udp(u) = &mut flow.kind {
            u.history.check(from_orig, mask::DATA, b'D');
        }
    }

    fn icmp(&mut self, pkt: &Packet<'_>, m: &IcmpMessage<'_>, out: &mut impl Emit) {
        let keying = icmp_keying(m);
        let (key, side) = FlowKey::icmp(pkt, &keying);
        let len_before = self.flows.len();
        let flow = match self.flows.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let flow = v.insert(new_icmp_flow(&key, pkt, m, &keying, side));
                Self::created(&mut self.stats, &mut self.wheel, &self.cfg, key, flow, len_before + 1);
                flow
            }
        };
        flow.count(side, pkt, m.body.len() as u64);
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
            self.icmp_entry(pkt, m, &key, out);
        }
    }

    /// Emits the `icmp` entry of an error or router message, tied to the flow its quoted
    /// packet belongs to when that flow is in the table, else to the message's own flow.
    fn icmp_entry(&mut self, pkt: &Packet<'_>, m: &IcmpMessage<'_>, own: &FlowKey, out: &mut impl Emit) {
        let quoted = icmp::quoted_tuple(m);
        let quoted_flow = quoted.and_then(|q| {
            let ports = (q.src_port.unwrap_or(0), q.dst_port.unwrap_or(0));
            let (k, _) = FlowKey::new((q.src, ports.0), (q.dst, ports.1), q.proto, pkt.vlan);
            self.flows.get(&k).map(|f| Ident::of(&k, f))
        });
        let ident = match quoted_flow {
            Some(i) => i,
            None => match self.flows.get(own) {
                Some(f) => Ident::of(own, f),
                None => return,
            },
        };
        let name = icmp::icmp_name(m.version, m.icmp_type, m.code);
        let summary = match name.as_static() {
            Some(s) => s,
            None => {
                self.summary.clear();
                let _ = write!(self.summary, "{name}");
                self.summary.as_str()
            }
        };
        let view = EntryView {
            ts_us: pkt.ts_us,
            kind: EntryKind::Icmp,
            flow: Some(ident.view()),
            src: (pkt.ip.src, None),
            dst: (pkt.ip.dst, None),
            proto: pkt.ip.proto,
            vlan: pkt.vlan,
            summary,
            error: None,
            icmp: Some(IcmpView {
                version: m.version,
                icmp_type: m.icmp_type,
                code: m.code,
                quoted,
            }),
            loss: None,
            capture_drops: None,
        };
        out.entry(&view);
        self.stats.icmp_entries += 1;
    }

    fn other(&mut self, pkt: &Packet<'_>) {
        if matches!(pkt.ip.proto, proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6) {
            self.stats.unattributed += 1;
            return;
        }
        let (key, side) = FlowKey::new((pkt.ip.src, 0), (pkt.ip.dst, 0), pkt.ip.proto, pkt.vlan);
        let len_before = self.flows.len();
        let flow = match self.flows.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let flow = v.insert(Flow::new(&key, pkt.ts_us, side, FlowKind::Other));
                Self::created(&mut self.stats, &mut self.wheel, &self.cfg, key, flow, len_before + 1);
                flow
            }
        };
        flow.count(side, pkt, 0);
    }

    /// Emits what a flow leaving the table yields: for TCP its error (or stale) entry and its
    /// loss entry, then the flow record.
    fn retire(&mut self, key: &FlowKey, flow: &Flow, reason: EndReason, ending: Ending, out: &mut impl Emit) {
        self.count_end(reason);
        self.stats.active = self.flows.len() as u64;
        let ident = Ident::of(key, flow);
        let mut tcp_error = None;
        if let FlowKind::Tcp(c) = &flow.kind {
            if let Some(v) = c.verdict(ending) {
                tcp_error = self.verdict_entry(&ident, c, v, ending, flow.last_us, out);
            }
            let loss = c.loss();
            if loss.has_loss() {
                let ts = if c.first_loss_us() != 0 { c.first_loss_us() } else { flow.start_us };
                self.loss_entry(&ident, loss, ts, out);
            }
        }
        self.flow_record(&ident, flow, reason, tcp_error, out);
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

    /// Emits the `tcp` or `timeout` entry; returns the TCP error state name.
    fn verdict_entry(
        &mut self,
        ident: &Ident,
        conn: &TcpConn,
        verdict: Verdict,
        ending: Ending,
        last_us: i64,
        out: &mut impl Emit,
    ) -> Option<&'static str> {
        conn.write_reason(verdict, ending, ident.sockets(), &mut self.reason);
        let (kind, error_type, msg, ts_us, state) = match verdict {
            Verdict::Error(state, ts) => {
                let name = state.as_str();
                (EntryKind::Tcp, ErrorType::Connection, name, ts, Some(name))
            }
            Verdict::Stale => (EntryKind::Timeout, ErrorType::Timeout, "stale stream", last_us, None),
        };
        let view = EntryView {
            ts_us,
            kind,
            flow: Some(ident.view()),
            src: (ident.orig.0, Some(ident.orig.1)),
            dst: (ident.resp.0, Some(ident.resp.1)),
            proto: ident.proto,
            vlan: ident.vlan,
            summary: msg,
            error: Some(ErrorView {
                error_type,
                msg,
                reason: &self.reason,
            }),
            icmp: None,
            loss: None,
            capture_drops: None,
        };
        out.entry(&view);
        match kind {
            EntryKind::Tcp => self.stats.tcp_entries += 1,
            _ => self.stats.timeout_entries += 1,
        }
        state
    }

    fn loss_entry(&mut self, ident: &Ident, loss: LossCounters, ts_us: i64, out: &mut impl Emit) {
        write_loss_summary(&loss, &mut self.summary);
        write_loss_reason(&loss, &mut self.reason);
        let view = EntryView {
            ts_us,
            kind: EntryKind::Loss,
            flow: Some(ident.view()),
            src: (ident.orig.0, Some(ident.orig.1)),
            dst: (ident.resp.0, Some(ident.resp.1)),
            proto: ident.proto,
            vlan: ident.vlan,
            summary: &self.summary,
            error: Some(ErrorView {
                error_type: ErrorType::Loss,
                msg: "packet loss",
                reason: &self.reason,
            }),
            icmp: None,
            loss: Some(loss),
            capture_drops: None,
        };
        out.entry(&view);
        self.stats.loss_entries += 1;
    }

    fn flow_record(
        &mut self,
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

/// Applies one TCP segment to its flow.
fn tcp_packet(flow: &mut Flow, side: Side, pkt: &Packet<'_>, seg: &TcpSegment<'_>) {
    let from_orig = flow.count(side, pkt, 0);
    if let FlowKind::Tcp(c) = &mut flow.kind {
        c.on_segment(from_orig, seg, pkt.ts_us);
    }
}

fn new_icmp_flow(key: &FlowKey, pkt: &Packet<'_>, m: &IcmpMessage<'_>, keying: &IcmpKeying, side: Side) -> Flow {
    let (orig, icmp_type, code) = if keying.reply {
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
