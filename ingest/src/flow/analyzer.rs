//! The seam between the flow tracker and the analyzers (Zeek's split between its connection
//! tracking and the analyzers it attaches to each connection).
//!
//! The table ties packets to flows, keeps their timers and evicts them; everything a protocol
//! means is an [`Analyzer`]'s business. Each flow carries its analyzers' per-flow state inline
//! ([`Analyzer::State`], fixed size, `Copy`): state that grows (reassembly buffers, dissectors)
//! lives in the analyzer, keyed by flow. Analyzers are composed statically, so the chain costs
//! no virtual call and no allocation per packet:
//!
//! - a tuple `(A, B)` is a chain: packets go to `A` then `B`; a flow's end goes to `B` then
//!   `A` (the analyzers stacked on a flow finish before the ones beneath them), then the table
//!   emits the flow record both filled in;
//! - [`ByTransport`] gives each flow the analyzer of its transport (TCP, UDP or ICMP), its
//!   state one of theirs.

use std::fmt::Debug;

use super::key::{FlowKey, Side};
use super::lifecycle::{Ending, FlowStats, Liveness};
use super::report::Ident;
use super::state::Flow;
use crate::decode::{IcmpMessage, Packet, Transport};
use crate::emit::{Emit, FlowView};

/// A packet as analyzers see it: the packet, its flow (counted, not yet analysed), and its
/// direction.
#[derive(Debug, Clone, Copy)]
pub struct FlowPacket<'a, 'p> {
    /// The packet.
    pub pkt: &'a Packet<'p>,
    /// The flow's key.
    pub key: &'a FlowKey,
    /// The flow, with this packet counted.
    pub flow: &'a Flow,
    /// The key side the packet came from.
    pub side: Side,
    /// True when the packet came from the flow's originator.
    pub from_orig: bool,
    /// The tracked flow this packet is about, when it is about another one (an ICMP error
    /// quoting one of its packets; see [`Analyzer::related_flow`]).
    pub related: Option<(&'a FlowKey, &'a Flow)>,
}

/// A flow leaving the table, as analyzers see it.
#[derive(Debug, Clone, Copy)]
pub struct FlowEnded<'f> {
    /// The flow's key.
    pub key: &'f FlowKey,
    /// The flow.
    pub flow: &'f Flow,
    /// Its identity, Community ID included.
    pub ident: &'f Ident,
    /// How it ended.
    pub ending: Ending,
}

/// Something that analyses flows: told of every packet of a flow, of ICMP errors about it,
/// and of its end. Hooks that emit get the table's counters and the output.
pub trait Analyzer {
    /// Per-flow state kept inline in the table (fixed size; `()` when the analyzer keeps none).
    type State: Copy + Debug;

    /// The state of a new flow, made at its first packet (before [`Analyzer::on_packet`]).
    fn new_state(&mut self, first: &FlowPacket<'_, '_>) -> Self::State;

    /// True when `pkt` starts a new flow on its key rather than continuing `state`'s (a TCP SYN
    /// reusing the ports of a finished connection). The old flow then ends as its
    /// [`Analyzer::liveness`] says ([`Ending::Reused`] when open).
    fn starts_new_flow(&self, _state: &Self::State, _pkt: &Packet<'_>) -> bool {
        false
    }

    /// What the flow's life looks like now, for its timer.
    fn liveness(&self, _state: &Self::State) -> Liveness {
        Liveness::Open
    }

    /// The key of another flow `pkt` is about (the flow whose packet an ICMP error quotes):
    /// when that flow is tracked, its analyzers hear of it through [`Analyzer::on_icmp_error`]
    /// and the packet's [`FlowPacket::related`] points at it.
    fn related_flow(&self, _pkt: &Packet<'_>) -> Option<FlowKey> {
        None
    }

    /// One packet of the flow.
    fn on_packet<E: Emit>(
        &mut self,
        p: &FlowPacket<'_, '_>,
        state: &mut Self::State,
        stats: &mut FlowStats,
        out: &mut E,
    );

    /// An ICMP error quoting a packet of the flow `(key, flow)` arrived.
    fn on_icmp_error(
        &mut self,
        _key: &FlowKey,
        _flow: &Flow,
        _state: &mut Self::State,
        _msg: &IcmpMessage<'_>,
    ) {
    }

    /// The flow left the table: emit what it yields and fill in the analyzer's fields of its
    /// flow record (which the table emits after every analyzer).
    fn on_flow_end<'f, E: Emit>(
        &mut self,
        end: &FlowEnded<'f>,
        state: &'f Self::State,
        record: &mut FlowView<'f>,
        stats: &mut FlowStats,
        out: &mut E,
    );
}

impl<A: Analyzer, B: Analyzer> Analyzer for (A, B) {
    type State = (A::State, B::State);

    fn new_state(&mut self, first: &FlowPacket<'_, '_>) -> Self::State {
        (self.0.new_state(first), self.1.new_state(first))
    }

    fn starts_new_flow(&self, state: &Self::State, pkt: &Packet<'_>) -> bool {
        self.0.starts_new_flow(&state.0, pkt) || self.1.starts_new_flow(&state.1, pkt)
    }

    fn liveness(&self, state: &Self::State) -> Liveness {
        self.0.liveness(&state.0).or(self.1.liveness(&state.1))
    }

    fn related_flow(&self, pkt: &Packet<'_>) -> Option<FlowKey> {
        self.0
            .related_flow(pkt)
            .or_else(|| self.1.related_flow(pkt))
    }

    fn on_packet<E: Emit>(
        &mut self,
        p: &FlowPacket<'_, '_>,
        state: &mut Self::State,
        stats: &mut FlowStats,
        out: &mut E,
    ) {
        self.0.on_packet(p, &mut state.0, stats, out);
        self.1.on_packet(p, &mut state.1, stats, out);
    }

    fn on_icmp_error(
        &mut self,
        key: &FlowKey,
        flow: &Flow,
        state: &mut Self::State,
        msg: &IcmpMessage<'_>,
    ) {
        self.0.on_icmp_error(key, flow, &mut state.0, msg);
        self.1.on_icmp_error(key, flow, &mut state.1, msg);
    }

    fn on_flow_end<'f, E: Emit>(
        &mut self,
        end: &FlowEnded<'f>,
        state: &'f Self::State,
        record: &mut FlowView<'f>,
        stats: &mut FlowStats,
        out: &mut E,
    ) {
        self.1.on_flow_end(end, &state.1, record, stats, out);
        self.0.on_flow_end(end, &state.0, record, stats, out);
    }
}

/// Per-flow state of [`ByTransport`]: the state of the flow's transport analyzer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum TransportState<T, U, I> {
    /// A TCP flow.
    Tcp(T),
    /// A UDP flow.
    Udp(U),
    /// An ICMP or ICMPv6 flow.
    Icmp(I),
    /// Another protocol: no transport analyzer.
    Other,
}

/// The transport analyzers: each flow gets the one of its transport, TCP (`T`), UDP (`U`) or
/// ICMP (`I`); flows of other protocols get none. One state is kept per flow, inline, the
/// largest of theirs.
#[derive(Debug)]
pub struct ByTransport<T, U, I> {
    /// TCP's analyzer.
    pub tcp: T,
    /// UDP's analyzer.
    pub udp: U,
    /// ICMP's (and ICMPv6's) analyzer.
    pub icmp: I,
}

impl<T: Analyzer, U: Analyzer, I: Analyzer> Analyzer for ByTransport<T, U, I> {
    type State = TransportState<T::State, U::State, I::State>;

    fn new_state(&mut self, first: &FlowPacket<'_, '_>) -> Self::State {
        match &first.pkt.transport {
            Transport::Tcp(_) => TransportState::Tcp(self.tcp.new_state(first)),
            Transport::Udp(_) => TransportState::Udp(self.udp.new_state(first)),
            Transport::Icmp(_) => TransportState::Icmp(self.icmp.new_state(first)),
            Transport::Other => TransportState::Other,
        }
    }

    fn starts_new_flow(&self, state: &Self::State, pkt: &Packet<'_>) -> bool {
        match state {
            TransportState::Tcp(s) => self.tcp.starts_new_flow(s, pkt),
            TransportState::Udp(s) => self.udp.starts_new_flow(s, pkt),
            TransportState::Icmp(s) => self.icmp.starts_new_flow(s, pkt),
            TransportState::Other => false,
        }
    }

    fn liveness(&self, state: &Self::State) -> Liveness {
        match state {
            TransportState::Tcp(s) => self.tcp.liveness(s),
            TransportState::Udp(s) => self.udp.liveness(s),
            TransportState::Icmp(s) => self.icmp.liveness(s),
            TransportState::Other => Liveness::Open,
        }
    }

    fn related_flow(&self, pkt: &Packet<'_>) -> Option<FlowKey> {
        match &pkt.transport {
            Transport::Tcp(_) => self.tcp.related_flow(pkt),
            Transport::Udp(_) => self.udp.related_flow(pkt),
            Transport::Icmp(_) => self.icmp.related_flow(pkt),
            Transport::Other => None,
        }
    }

    fn on_packet<E: Emit>(
        &mut self,
        p: &FlowPacket<'_, '_>,
        state: &mut Self::State,
        stats: &mut FlowStats,
        out: &mut E,
    ) {
        match state {
            TransportState::Tcp(s) => self.tcp.on_packet(p, s, stats, out),
            TransportState::Udp(s) => self.udp.on_packet(p, s, stats, out),
            TransportState::Icmp(s) => self.icmp.on_packet(p, s, stats, out),
            TransportState::Other => {}
        }
    }

    fn on_icmp_error(
        &mut self,
        key: &FlowKey,
        flow: &Flow,
        state: &mut Self::State,
        msg: &IcmpMessage<'_>,
    ) {
        match state {
            TransportState::Tcp(s) => self.tcp.on_icmp_error(key, flow, s, msg),
            TransportState::Udp(s) => self.udp.on_icmp_error(key, flow, s, msg),
            TransportState::Icmp(s) => self.icmp.on_icmp_error(key, flow, s, msg),
            TransportState::Other => {}
        }
    }

    fn on_flow_end<'f, E: Emit>(
        &mut self,
        end: &FlowEnded<'f>,
        state: &'f Self::State,
        record: &mut FlowView<'f>,
        stats: &mut FlowStats,
        out: &mut E,
    ) {
        match state {
            TransportState::Tcp(s) => self.tcp.on_flow_end(end, s, record, stats, out),
            TransportState::Udp(s) => self.udp.on_flow_end(end, s, record, stats, out),
            TransportState::Icmp(s) => self.icmp.on_flow_end(end, s, record, stats, out),
            TransportState::Other => {}
        }
    }
}
