//! What the table reports of every flow whatever its analyzers: its identity ([`Ident`], with
//! the Community ID computed once, when needed) and the skeleton of its flow record, which the
//! analyzers fill in.

use std::net::{IpAddr, SocketAddr};

use super::community_id::CommunityId;
use super::key::FlowKey;
use super::lifecycle::EndReason;
use super::state::Flow;
use crate::emit::{FlowIdent, FlowView, LossCounters};

/// A flow's identity with its Community ID computed.
#[derive(Debug, Clone)]
pub struct Ident {
    flow_id: u64,
    community_id: CommunityId,
    /// Originator address and port (ICMP: type).
    pub(crate) orig: (IpAddr, u16),
    /// Responder address and port (ICMP: code).
    pub(crate) resp: (IpAddr, u16),
    /// IP protocol number.
    pub(crate) proto: u8,
    /// Outer VLAN id.
    pub(crate) vlan: Option<u16>,
}

impl Ident {
    /// The identity of `key`'s flow.
    pub fn of(key: &FlowKey, flow: &Flow) -> Ident {
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

    /// The identity as entries and flow records carry it.
    pub fn view(&self) -> FlowIdent<'_> {
        FlowIdent {
            flow_id: self.flow_id,
            community_id: self.community_id.as_str(),
            orig: self.orig,
            resp: self.resp,
            proto: self.proto,
            vlan: self.vlan,
        }
    }

    /// Originator and responder as socket addresses.
    pub(crate) fn sockets(&self) -> (SocketAddr, SocketAddr) {
        (SocketAddr::from(self.orig), SocketAddr::from(self.resp))
    }
}

/// The flow record of a flow that ended for `reason`, with what the tracker knows; analyzers
/// fill in their fields (`conn_state`, `history`, loss, ...) before it is emitted.
pub(super) fn flow_record<'f>(ident: &'f Ident, flow: &Flow, reason: EndReason) -> FlowView<'f> {
    FlowView {
        ident: ident.view(),
        start_us: flow.start_us,
        end_us: flow.last_us,
        conn_state: None,
        history: None,
        tcp_error: None,
        end_reason: reason.as_str(),
        completeness: None,
        orig: flow.counts[0],
        resp: flow.counts[1],
        loss: LossCounters::default(),
        handshake_rtt_us: None,
        echo_requests: 0,
        echo_replies: 0,
        neighbor_discovery: 0,
    }
}
