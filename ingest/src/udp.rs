//! UDP's analyzer in the flow table's chain: Zeek's UDP history (`D`/`d`, `^` when the roles
//! were flipped) and `conn_state` in the flow record.

use crate::emit::{Emit, FlowView};
use crate::flow::{Analyzer, FlowEnded, FlowPacket, FlowStats};
use crate::tcp::history::{History, mask, udp_conn_state};

/// UDP's analyzer (per-flow state: the flow's [`History`]).
#[derive(Debug, Default)]
pub struct UdpLayer;

impl Analyzer for UdpLayer {
    type State = History;

    fn new_state(&mut self, first: &FlowPacket<'_, '_>) -> History {
        let mut history = History::new();
        if !first.from_orig {
            history.flipped();
        }
        history
    }

    fn on_packet<E: Emit>(
        &mut self,
        p: &FlowPacket<'_, '_>,
        history: &mut History,
        _stats: &mut FlowStats,
        _out: &mut E,
    ) {
        history.check(p.from_orig, mask::DATA, b'D');
    }

    fn on_flow_end<'f, E: Emit>(
        &mut self,
        _end: &FlowEnded<'f>,
        history: &'f History,
        record: &mut FlowView<'f>,
        _stats: &mut FlowStats,
        _out: &mut E,
    ) {
        record.conn_state = Some(udp_conn_state(record.orig.pkts > 0, record.resp.pkts > 0));
        record.history = Some(history.as_str());
    }
}
