//! The application layer, an analyzer of the flow table's chain: which flows are dissected (by
//! port), their reassembled streams, their dissectors, what the flow showed (resets, FINs,
//! gaps, ICMP errors), and the `http` and `dns` entries made from the dissectors' transactions.
//!
//! State lives here, keyed like the flow table and tagged with the flow id, so a flow's
//! fixed-size record stays small. Per packet of a dissected flow: one hash lookup, the
//! reassembly and the parser, no allocation in the steady state (connection state is
//! recycled through a pool; buffers grow to their bounds once). Flows on other ports cost one
//! bit test.

use rustc_hash::FxHashMap;

use faultline_schemas::ErrorType;

use super::dns::{DnsConn, DnsTxn};
use super::http::{HttpConn, HttpLimits, Txn};
use super::reason::{FlowSigns, dns_error, http_error, write_dns_summary, write_http_summary};
use crate::decode::{IcmpMessage, Packet, TcpSegment, Transport, UdpDatagram, tcp_flags};
use crate::emit::{Emit, EntryBody, EntryHeader, EntryView, ErrorView, FlowView};
use crate::flow::key::{FlowKey, Side};
use crate::flow::{Analyzer, Ending, Flow, FlowEnded, FlowPacket, FlowStats, Ident};
use crate::tcp::reassembly::stream::{ByteStream, Chunk};

/// A set of ports, one bit each.
#[derive(Debug, Clone)]
struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    fn new(ports: &[u16]) -> Self {
        let mut bits = Box::new([0u64; 1024]);
        for p in ports {
            bits[usize::from(*p >> 6)] |= 1 << (p & 63);
        }
        PortSet(bits)
    }

    fn has(&self, p: u16) -> bool {
        self.0[usize::from(p >> 6)] & (1 << (p & 63)) != 0
    }
}

/// Settings of the application layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// Dissect at all.
    pub enabled: bool,
    /// TCP ports dissected as HTTP/1.x (tshark's defaults for the HTTP dissector).
    pub http_ports: Vec<u16>,
    /// UDP and TCP ports dissected as DNS (DNS, mDNS, LLMNR, like tshark).
    pub dns_ports: Vec<u16>,
    /// Bytes held per direction beyond a hole before the hole is given up as a gap.
    pub max_hold: usize,
    /// Bytes held beyond holes over all streams; past it, holes become gaps at once.
    pub max_hold_total: usize,
    /// HTTP parser limits.
    pub http: HttpLimits,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            enabled: true,
            http_ports: vec![80, 3128, 3132, 5985, 8080, 8088, 11371, 2869, 2710],
            dns_ports: vec![53, 5353, 5355],
            max_hold: 256 * 1024,
            max_hold_total: 256 * 1024 * 1024,
            http: HttpLimits::default(),
        }
    }
}

/// Counters of the application layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppStats {
    /// `http` entries emitted.
    pub http_entries: u64,
    /// `dns` entries emitted.
    pub dns_entries: u64,
    /// Flows dissected.
    pub flows: u64,
    /// Flows dissected now.
    pub active: u64,
    /// Most flows dissected at once.
    pub active_max: u64,
    /// Payload bytes handed to dissectors.
    pub bytes: u64,
    /// Bytes given up as gaps.
    pub gap_bytes: u64,
    /// Bytes held beyond holes now, over all streams.
    pub held: u64,
}

/// A TCP connection's two streams and its dissector.
#[derive(Debug)]
struct TcpApp<D> {
    /// `[client, server]`.
    streams: [ByteStream; 2],
    dissector: D,
}

#[derive(Debug)]
enum Proto {
    Http(Box<TcpApp<HttpConn>>),
    DnsTcp(Box<TcpApp<DnsConn>>),
    DnsUdp(Box<DnsConn>),
}

/// Application state of one flow.
#[derive(Debug)]
struct Conn {
    flow_id: u64,
    /// The key side of the client.
    client: Side,
    signs: FlowSigns,
    proto: Proto,
}

/// Reusable text of the entry being made.
#[derive(Debug, Default)]
struct Words {
    reason: String,
    msg: String,
    summary: String,
}

/// The application layer of one flow table: its analyzer for dissected protocols (per-flow
/// state lives here, keyed by flow, not in the table).
#[derive(Debug)]
pub struct AppLayer {
    cfg: AppConfig,
    http_ports: PortSet,
    dns_ports: PortSet,
    conns: FxHashMap<FlowKey, Conn>,
    // Boxed on purpose: a recycled state moves back into `Proto` without a new allocation.
    #[allow(clippy::vec_box)]
    http_pool: Vec<Box<TcpApp<HttpConn>>>,
    #[allow(clippy::vec_box)]
    dns_pool: Vec<Box<DnsConn>>,
    words: Words,
    stats: AppStats,
}

/// Where entries of one flow go, with what they are made from: the flow's identity (made on
/// first use), what the flow showed, how it ended, and the reusable text.
struct Ctx<'a, E: Emit> {
    key: &'a FlowKey,
    flow: &'a Flow,
    ident: Option<Ident>,
    client: Side,
    end: Option<Ending>,
    max_pending: usize,
    signs: &'a mut FlowSigns,
    words: &'a mut Words,
    stats: &'a mut AppStats,
    out: &'a mut E,
}

impl<E: Emit> Ctx<'_, E> {
    fn entry(&mut self, ts_us: i64, body: EntryBody<'_>, error: Option<ErrorType>) {
        let ident = self
            .ident
            .get_or_insert_with(|| Ident::of(self.key, self.flow));
        let c = self.key.endpoint(self.client);
        let s = self.key.endpoint(self.client.other());
        let words = &*self.words;
        let header = EntryHeader::new(
            ts_us,
            (c.0, Some(c.1)),
            (s.0, Some(s.1)),
            self.key.proto(),
            &words.summary,
        );
        let view = EntryView::new(
            EntryHeader {
                flow: Some(ident.view()),
                vlan: self.key.vlan(),
                error: error.map(|error_type| ErrorView {
                    error_type,
                    msg: &words.msg,
                    reason: &words.reason,
                }),
                ..header
            },
            body,
        );
        self.out.entry(&view);
    }

    fn http(&mut self, t: Txn<'_>) {
        let w = &mut *self.words;
        let error = http_error(
            &t,
            self.signs,
            self.end,
            self.max_pending,
            &mut w.reason,
            &mut w.msg,
        );
        write_http_summary(&mut w.summary, &t, error.map(|_| w.msg.as_str()));
        self.stats.http_entries += 1;
        self.entry(t.ts_us, EntryBody::Http(t.view), error);
    }

    fn dns(&mut self, t: DnsTxn<'_>) {
        let w = &mut *self.words;
        let error = dns_error(
            (t.outcome, t.half),
            t.problem,
            self.signs,
            self.end,
            &mut w.reason,
            &mut w.msg,
        );
        write_dns_summary(&mut w.summary, &t, error.map(|_| w.msg.as_str()));
        self.stats.dns_entries += 1;
        self.entry(t.ts_us, EntryBody::Dns(t.view), error);
    }
}

/// A dissector fed from a reassembled TCP connection.
trait StreamDissector {
    /// Bytes or a gap of one direction.
    fn chunk<E: Emit>(&mut self, client: bool, c: Chunk<'_>, ts: i64, ctx: &mut Ctx<'_, E>);
    /// The direction's stream began without its start.
    fn mid_stream(&mut self, client: bool);
    /// True when `payload` from the client (`true`) or server begins a message.
    fn starts_message(&self, client: bool, payload: &[u8]) -> bool;
    /// The connection ended.
    fn finish<E: Emit>(&mut self, ts: i64, ctx: &mut Ctx<'_, E>);
}

impl StreamDissector for HttpConn {
    fn chunk<E: Emit>(&mut self, client: bool, c: Chunk<'_>, ts: i64, ctx: &mut Ctx<'_, E>) {
        match c {
            Chunk::Data(d) => self.data(client, d, ts, &mut |t| ctx.http(t)),
            Chunk::Gap(n) => {
                ctx.signs.gap_bytes[usize::from(!client)] += n;
                self.gap(client, n, ts, &mut |t| ctx.http(t));
            }
        }
    }

    fn mid_stream(&mut self, client: bool) {
        HttpConn::mid_stream(self, client);
    }

    fn starts_message(&self, client: bool, payload: &[u8]) -> bool {
        client && HttpConn::starts_request(payload)
    }

    fn finish<E: Emit>(&mut self, _ts: i64, ctx: &mut Ctx<'_, E>) {
        self.end(&mut |t| ctx.http(t));
    }
}

impl StreamDissector for DnsConn {
    fn chunk<E: Emit>(&mut self, client: bool, c: Chunk<'_>, ts: i64, ctx: &mut Ctx<'_, E>) {
        match c {
            Chunk::Data(d) => {
                if client {
                    ctx.signs.client_spoke = true;
                }
                self.tcp_data(client, d, ts, &mut |t| ctx.dns(t));
            }
            Chunk::Gap(n) => {
                ctx.signs.gap_bytes[usize::from(!client)] += n;
                self.tcp_gap(client, n);
            }
        }
    }

    fn mid_stream(&mut self, _client: bool) {}

    fn starts_message(&self, _client: bool, _payload: &[u8]) -> bool {
        false
    }

    fn finish<E: Emit>(&mut self, ts: i64, ctx: &mut Ctx<'_, E>) {
        self.end(ts, &mut |t| ctx.dns(t));
    }
}

impl<D: StreamDissector> TcpApp<D> {
    /// Applies one segment from the client (`d == 0`) or the server.
    fn segment<E: Emit>(
        &mut self,
        d: usize,
        seg: &TcpSegment<'_>,
        ts: i64,
        max_hold: usize,
        ctx: &mut Ctx<'_, E>,
    ) {
        let client = d == 0;
        let TcpApp { streams, dissector } = self;
        let syn = seg.flags & tcp_flags::SYN != 0;
        if syn {
            streams[d].syn(seg.seq);
        } else if !seg.payload.is_empty() && !streams[d].started() {
            dissector.mid_stream(client);
        }
        if seg.flags & tcp_flags::ACK != 0 && !streams[1 - d].started() {
            // The peer's stream was not seen from its SYN: it continues from this ACK. That is
            // its start after a SYN-ACK, and a message boundary when this segment begins a
            // request; otherwise the peer is taken to be in the middle of a message.
            streams[1 - d].start_at(seg.ack);
            if !syn && !dissector.starts_message(client, seg.payload) {
                dissector.mid_stream(!client);
            }
        }
        // The acknowledgement first: the peer's bytes it covers were received before this
        // segment was sent (a response follows its request even when the capture missed it).
        if seg.flags & tcp_flags::ACK != 0 {
            streams[1 - d].ack(seg.ack, &mut |c| dissector.chunk(!client, c, ts, ctx));
        }
        streams[d].set_max_hold(max_hold);
        // Data on a SYN (TCP Fast Open) starts after the SYN's own sequence number.
        let data_seq = seg.seq.wrapping_add(u32::from(syn));
        streams[d].segment(data_seq, seg.payload, &mut |c| {
            dissector.chunk(client, c, ts, ctx)
        });
        if seg.flags & tcp_flags::FIN != 0 {
            streams[d].fin(seg.seq.wrapping_add(seg.payload.len() as u32));
        }
    }

    /// The connection ended: holes become gaps, then the dissector ends.
    fn finish<E: Emit>(&mut self, ts: i64, ctx: &mut Ctx<'_, E>) {
        let TcpApp {
            streams, dissector, ..
        } = self;
        for (d, s) in streams.iter_mut().enumerate() {
            s.flush(&mut |c| dissector.chunk(d == 0, c, ts, ctx));
        }
        dissector.finish(ts, ctx);
    }
}

impl AppLayer {
    /// An application layer with the given settings.
    pub fn new(cfg: AppConfig) -> Self {
        let ports = |p: &[u16]| PortSet::new(if cfg.enabled { p } else { &[] });
        AppLayer {
            http_ports: ports(&cfg.http_ports),
            dns_ports: ports(&cfg.dns_ports),
            cfg,
            conns: FxHashMap::default(),
            http_pool: Vec::new(),
            dns_pool: Vec::new(),
            words: Words::default(),
            stats: AppStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &AppStats {
        &self.stats
    }

    /// Heap bytes held by dissected flows (streams and dissectors), for memory reports.
    pub fn heap_bytes(&self) -> usize {
        self.conns
            .values()
            .map(|c| match &c.proto {
                Proto::Http(a) => held(&a.streams) as usize + a.dissector.heap_bytes(),
                Proto::DnsTcp(a) => held(&a.streams) as usize + a.dissector.heap_bytes(),
                Proto::DnsUdp(d) => d.heap_bytes(),
            })
            .sum()
    }

    /// The client side of a new flow: the sender when it talks to a dissected port.
    fn client_of(set: &PortSet, side: Side, src_port: u16, dst_port: u16) -> Option<Side> {
        if set.has(dst_port) {
            Some(side)
        } else if set.has(src_port) {
            Some(side.other())
        } else {
            None
        }
    }

    /// Makes the state of `key`'s flow when the layer does not have it (or has a previous
    /// flow's); returns false when the flow is not dissected.
    fn ensure(
        &mut self,
        key: &FlowKey,
        flow_id: u64,
        client: Side,
        make: impl FnOnce(&mut Self) -> Proto,
    ) -> bool {
        match self.conns.get(key) {
            Some(c) if c.flow_id == flow_id => return true,
            Some(_) => {
                if let Some(old) = self.conns.remove(key) {
                    self.recycle(old);
                }
            }
            None => {}
        }
        let proto = make(self);
        self.conns.insert(
            *key,
            Conn {
                flow_id,
                client,
                signs: FlowSigns::default(),
                proto,
            },
        );
        self.stats.flows += 1;
        self.stats.active = self.conns.len() as u64;
        self.stats.active_max = self.stats.active_max.max(self.stats.active);
        true
    }

    fn recycle(&mut self, conn: Conn) {
        self.stats.active = self.conns.len() as u64;
        match conn.proto {
            Proto::Http(mut app) => {
                app.streams = [ByteStream::new(0), ByteStream::new(0)];
                app.dissector.reset(self.cfg.http);
                if self.http_pool.len() < 1024 {
                    self.http_pool.push(app);
                }
            }
            Proto::DnsUdp(mut d) => {
                d.reset();
                if self.dns_pool.len() < 1024 {
                    self.dns_pool.push(d);
                }
            }
            Proto::DnsTcp(_) => {}
        }
    }

    fn new_http(&mut self) -> Proto {
        let limits = self.cfg.http;
        Proto::Http(self.http_pool.pop().unwrap_or_else(|| {
            Box::new(TcpApp {
                streams: [ByteStream::new(0), ByteStream::new(0)],
                dissector: HttpConn::new(limits),
            })
        }))
    }

    /// One TCP segment of a flow, after the flow table has processed it.
    pub(crate) fn tcp(
        &mut self,
        key: &FlowKey,
        side: Side,
        flow: &Flow,
        pkt: &Packet<'_>,
        seg: &TcpSegment<'_>,
        out: &mut impl Emit,
    ) {
        let http = Self::client_of(&self.http_ports, side, seg.src_port, seg.dst_port);
        let client = match http {
            Some(c) => c,
            None => match Self::client_of(&self.dns_ports, side, seg.src_port, seg.dst_port) {
                Some(c) => c,
                None => return,
            },
        };
        self.ensure(key, flow.id(), client, |me| match http {
            Some(_) => me.new_http(),
            None => Proto::DnsTcp(Box::new(TcpApp {
                streams: [ByteStream::new(0), ByteStream::new(0)],
                dissector: DnsConn::default(),
            })),
        });
        let max_hold = if self.stats.held < self.cfg.max_hold_total as u64 {
            self.cfg.max_hold
        } else {
            0
        };
        let max_pending = self.cfg.http.max_pending;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let d = usize::from(side != conn.client);
        conn.signs.seen[d] = true;
        if seg.flags & tcp_flags::RST != 0 {
            conn.signs.rst[d] = true;
        }
        if seg.flags & tcp_flags::FIN != 0 {
            conn.signs.fin[d] = true;
            conn.signs.first_fin.get_or_insert(d);
        }
        self.stats.bytes += seg.payload.len() as u64;
        let mut ctx = Ctx {
            key,
            flow,
            ident: None,
            client: conn.client,
            end: None,
            max_pending,
            signs: &mut conn.signs,
            words: &mut self.words,
            stats: &mut self.stats,
            out,
        };
        let ts = pkt.ts_us;
        match &mut conn.proto {
            Proto::Http(app) => step(app, d, seg, ts, max_hold, &mut ctx),
            Proto::DnsTcp(app) => step(app, d, seg, ts, max_hold, &mut ctx),
            Proto::DnsUdp(_) => {}
        }
    }

    /// True when a UDP datagram between these ports is dissected.
    pub(crate) fn wants_udp(&self, src_port: u16, dst_port: u16) -> bool {
        self.dns_ports.has(src_port) || self.dns_ports.has(dst_port)
    }

    /// One UDP datagram of a flow.
    pub(crate) fn udp(
        &mut self,
        key: &FlowKey,
        side: Side,
        flow: &Flow,
        ts_us: i64,
        d: &UdpDatagram<'_>,
        out: &mut impl Emit,
    ) {
        let payload = d.payload;
        let Some(client) = Self::client_of(&self.dns_ports, side, d.src_port, d.dst_port) else {
            return;
        };
        self.ensure(key, flow.id(), client, |me| {
            Proto::DnsUdp(me.dns_pool.pop().unwrap_or_default())
        });
        let max_pending = self.cfg.http.max_pending;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Proto::DnsUdp(dns) = &mut conn.proto else {
            return;
        };
        if payload.get(2).is_some_and(|b| b & 0x80 == 0) {
            conn.signs.client_spoke = true;
        }
        self.stats.bytes += payload.len() as u64;
        let mut ctx = Ctx {
            key,
            flow,
            ident: None,
            client: conn.client,
            end: None,
            max_pending,
            signs: &mut conn.signs,
            words: &mut self.words,
            stats: &mut self.stats,
            out,
        };
        dns.message(payload, ts_us, &mut |t| ctx.dns(t));
    }

    /// An ICMP error quoting a packet of the flow.
    pub(crate) fn icmp_error(&mut self, key: &FlowKey, flow_id: u64, icmp: (u8, u8, u8)) {
        if let Some(c) = self.conns.get_mut(key)
            && c.flow_id == flow_id
        {
            c.signs.icmp = Some(icmp);
        }
    }

    /// The flow left the table: its streams and dissectors end, then its state is recycled.
    pub(crate) fn retire(&mut self, key: &FlowKey, flow: &Flow, end: Ending, out: &mut impl Emit) {
        match self.conns.get(key) {
            Some(c) if c.flow_id == flow.id() => {}
            _ => return,
        }
        let Some(mut conn) = self.conns.remove(key) else {
            return;
        };
        let mut ctx = Ctx {
            key,
            flow,
            ident: None,
            client: conn.client,
            end: Some(end),
            max_pending: self.cfg.http.max_pending,
            signs: &mut conn.signs,
            words: &mut self.words,
            stats: &mut self.stats,
            out,
        };
        let ts = flow.last_us();
        match &mut conn.proto {
            Proto::Http(app) => app.finish(ts, &mut ctx),
            Proto::DnsTcp(app) => app.finish(ts, &mut ctx),
            Proto::DnsUdp(d) => d.end(ts, &mut |t| ctx.dns(t)),
        }
        self.recycle(conn);
    }
}

/// Applies a segment to a TCP dissection and keeps the held-bytes total.
fn step<D: StreamDissector, E: Emit>(
    app: &mut TcpApp<D>,
    d: usize,
    seg: &TcpSegment<'_>,
    ts: i64,
    max_hold: usize,
    ctx: &mut Ctx<'_, E>,
) {
    let before = held(&app.streams);
    app.segment(d, seg, ts, max_hold, ctx);
    let after = held(&app.streams);
    ctx.stats.held = (ctx.stats.held + after).saturating_sub(before);
}

fn held(streams: &[ByteStream; 2]) -> u64 {
    streams.iter().map(|s| s.heap_bytes() as u64).sum()
}

/// The application layer as an analyzer of the flow table's chain: TCP segments and UDP
/// datagrams on dissected ports go to their flow's streams and dissectors, ICMP errors about a
/// flow are remembered for its reasons, and a flow's end ends its dissection.
impl Analyzer for AppLayer {
    type State = ();

    fn new_state(&mut self, _first: &FlowPacket<'_, '_>) {}

    fn on_packet<E: Emit>(
        &mut self,
        p: &FlowPacket<'_, '_>,
        _state: &mut (),
        _stats: &mut FlowStats,
        out: &mut E,
    ) {
        match &p.pkt.transport {
            Transport::Tcp(seg) => self.tcp(p.key, p.side, p.flow, p.pkt, seg, out),
            Transport::Udp(d) if self.wants_udp(d.src_port, d.dst_port) => {
                self.udp(p.key, p.side, p.flow, p.pkt.ts_us, d, out);
            }
            _ => {}
        }
    }

    fn on_icmp_error(&mut self, key: &FlowKey, flow: &Flow, _state: &mut (), m: &IcmpMessage<'_>) {
        self.icmp_error(key, flow.id(), (m.version, m.icmp_type, m.code));
    }

    fn on_flow_end<'f, E: Emit>(
        &mut self,
        end: &FlowEnded<'f>,
        _state: &'f (),
        _record: &mut FlowView<'f>,
        _stats: &mut FlowStats,
        out: &mut E,
    ) {
        self.retire(end.key, end.flow, end.ending, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_sets() {
        let s = PortSet::new(&[80, 65535, 0]);
        assert!(s.has(80) && s.has(65535) && s.has(0));
        assert!(!s.has(81) && !s.has(8080));
    }
}
