//! faultline's analyzer chain, composed explicitly (Zeek-style): every flow of the table goes
//! through its transport's analyzer (TCP state and tshark analysis, UDP history, ICMP
//! messages), then the application layer (HTTP/1.x and DNS dissection). [`FlowAnalysis`] is
//! that table with the names learnt from DNS answers, which name every entry on its way out.
//!
//! New analyzers (TLS, HTTP/2) join the chain here; the flow table does not change.

use crate::app::names::{NameTable, Resolver};
use crate::app::{AppConfig, AppLayer, AppStats};
use crate::decode::Packet;
use crate::emit::Emit;
use crate::flow::{ByTransport, FlowConfig, FlowStats, FlowTable, Tracked};
use crate::icmp::IcmpLayer;
use crate::tcp::TcpLayer;
use crate::udp::UdpLayer;

/// The analyzers each flow goes through: its transport's, then the application layer.
pub type Chain = (ByTransport<TcpLayer, UdpLayer, IcmpLayer>, AppLayer);

/// One entry of the table over [`Chain`]: a flow with its analyzers' inline state.
pub type ChainFlow = Tracked<<Chain as crate::flow::Analyzer>::State>;

/// The chain with the application layer set up by `app`.
pub fn chain(app: AppConfig) -> Chain {
    let transport = ByTransport {
        tcp: TcpLayer::default(),
        udp: UdpLayer,
        icmp: IcmpLayer::default(),
    };
    (transport, AppLayer::new(app))
}

/// A flow table over faultline's analyzer chain, naming entries from DNS answers. Feed packets
/// in capture order with [`FlowAnalysis::process`], then call [`FlowAnalysis::finish`].
#[derive(Debug)]
pub struct FlowAnalysis {
    table: FlowTable<Chain>,
    /// Names learnt from DNS answers; entries are named on their way out.
    names: NameTable,
}

impl FlowAnalysis {
    /// An empty table with the default application layer.
    pub fn new(cfg: FlowConfig) -> Self {
        Self::with_app(cfg, AppConfig::default())
    }

    /// An empty table with the given application layer settings.
    pub fn with_app(cfg: FlowConfig, app: AppConfig) -> Self {
        FlowAnalysis {
            table: FlowTable::with_analyzers(cfg, chain(app)),
            names: NameTable::default(),
        }
    }

    /// The flow table.
    pub fn table(&self) -> &FlowTable<Chain> {
        &self.table
    }

    /// Counters of the application layer (HTTP and DNS).
    pub fn app_stats(&self) -> &AppStats {
        self.table.analyzers().1.stats()
    }

    /// Heap bytes held by the application layer's streams and dissectors now.
    pub fn app_heap_bytes(&self) -> usize {
        self.table.analyzers().1.heap_bytes()
    }

    /// Counters of the flow table.
    pub fn stats(&self) -> &FlowStats {
        self.table.stats()
    }

    /// Flows currently in the table.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when no flow is in the table.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Processes one packet (see [`FlowTable::process`]); returns the id of the flow it was
    /// counted in, or 0.
    pub fn process(&mut self, pkt: &Packet<'_>, out: &mut impl Emit) -> u64 {
        let out = &mut Resolver {
            names: &mut self.names,
            out,
        };
        self.table.process(pkt, out)
    }

    /// Moves the clock without a packet (see [`FlowTable::advance_to`]).
    pub fn advance_to(&mut self, now_us: i64, out: &mut impl Emit) {
        let out = &mut Resolver {
            names: &mut self.names,
            out,
        };
        self.table.advance_to(now_us, out);
    }

    /// Ends every flow still in the table (the input is over), oldest first.
    pub fn finish(&mut self, out: &mut impl Emit) {
        let out = &mut Resolver {
            names: &mut self.names,
            out,
        };
        self.table.finish(out);
    }
}

#[cfg(test)]
mod tests;
