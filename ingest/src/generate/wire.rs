//! Packet specifications and their serialisation into Ethernet frames with
//! `etherparse::PacketBuilder` (which fills in lengths and checksums).
//!
//! A conversation is scripted as a list of [`Spec`]s: small `Copy` values naming the endpoints by
//! node index and the payload by reference, so that scripts stay cheap and the bytes are only
//! produced, into reused buffers, when the packet is written.

use std::net::IpAddr;

use etherparse::{
    IpHeaders, Ipv4Header, Ipv4Options, Ipv6Extensions, Ipv6FlowLabel, Ipv6Header,
    Ipv6RawExtHeader, PacketBuilder, PacketBuilderStep, TcpHeader, VlanId, ip_number,
};

use super::GenerateError;
use crate::decode::tcp_flags;

/// Most endpoints one conversation uses: originator, responder and up to two others (a router,
/// a multicast group, a second server).
pub(crate) const MAX_NODES: usize = 4;

/// TCP options of SYN and SYN-ACK segments: MSS 1460, NOP, window scale 7.
const SYN_OPTIONS: [u8; 8] = [2, 4, 0x05, 0xB4, 1, 3, 3, 7];
/// A deliberately malformed IPv4 timestamp option (length 6, not a multiple of 4), padded with
/// end-of-list bytes; the byte at header offset 21 is the one a router complains about.
pub(crate) const BAD_V4_OPTION: [u8; 8] = [0x44, 0x06, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00];
/// Offset, in the quoted packet, of the bad byte of [`BAD_V4_OPTION`] (ICMP pointer).
pub(crate) const BAD_V4_OPTION_POINTER: u8 = 21;
/// Hop-by-hop payload with option type 0x9E (action bits 10: discard and send ICMPv6 parameter
/// problem code 2), data length 4.
const UNKNOWN_HBH_OPTION: [u8; 6] = [0x9E, 4, 0, 0, 0, 0];
/// Offset, in the quoted IPv6 packet, of the unrecognised option type (ICMPv6 pointer).
pub(crate) const UNKNOWN_HBH_POINTER: u32 = 42;

/// One endpoint: its address and the MAC address it has on the captured LAN (the router's MAC
/// for hosts behind the router).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    /// IP address.
    pub(crate) ip: IpAddr,
    /// MAC address seen on the wire.
    pub(crate) mac: [u8; 6],
}

impl Node {
    /// Placeholder for unused node slots.
    pub(crate) const NONE: Node = Node {
        ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        mac: [0; 6],
    };
}

/// Transport layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L4 {
    /// A TCP segment; `syn_opts` adds the SYN options.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number (0 unless ACK is set).
        ack: u32,
        /// Flag byte, see [`tcp_flags`].
        flags: u8,
        /// Raw window field.
        win: u16,
        /// Whether the segment carries the SYN options.
        syn_opts: bool,
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
    },
    /// An ICMP message (ICMPv6 when the addresses are IPv6).
    Icmp {
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
        /// Header bytes 4..8.
        rest: [u8; 4],
    },
}

/// Unusual IP-layer content, for the packets ICMP parameter problems complain about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpExtra {
    /// Plain header.
    None,
    /// IPv4 header with [`BAD_V4_OPTION`].
    BadV4Option,
    /// IPv6 hop-by-hop header with an unrecognised option.
    UnknownHopByHop,
}

/// Where a packet's payload comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// No payload.
    Empty,
    /// `len` bytes of message `msg` starting at `off`.
    Msg {
        /// Message index in the conversation.
        msg: u16,
        /// Offset in the message.
        off: u32,
        /// Length.
        len: u32,
    },
    /// The packet with ordinal `ord` of the same conversation, as an ICMP error quotes it:
    /// without link layer, at most `max` bytes, with the TTL/hop limit set to `ttl` if given.
    /// Resolved into a `Msg` once the conversation is complete.
    Quote {
        /// Ordinal of the quoted packet.
        ord: u32,
        /// Longest quote.
        max: u16,
        /// TTL the packet had when it reached the router.
        ttl: Option<u8>,
    },
}

impl Payload {
    /// Payload length in bytes (0 for unresolved quotes, which never carry TCP data).
    pub(crate) fn len(&self) -> u32 {
        match *self {
            Payload::Msg { len, .. } => len,
            _ => 0,
        }
    }
}

/// One packet of a scripted conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spec {
    /// Capture time, µs.
    pub(crate) ts: i64,
    /// Ordinal in creation order (ties on `ts` keep it; quotes refer to it).
    pub(crate) ord: u32,
    /// Source node index.
    pub(crate) src: u8,
    /// Destination node index.
    pub(crate) dst: u8,
    /// TTL or hop limit.
    pub(crate) ttl: u8,
    /// IPv4 identification (assigned in time order when the script is finished).
    pub(crate) ip_id: u16,
    /// Unusual IP content.
    pub(crate) extra: IpExtra,
    /// Transport layer.
    pub(crate) l4: L4,
    /// Payload.
    pub(crate) payload: Payload,
}

/// Serialises `spec` into `out` (cleared first): Ethernet (+ 802.1Q tag) when `link`, else from
/// the IP header on, as an ICMP error quotes a packet.
pub(crate) fn build_frame(
    nodes: &[Node; MAX_NODES],
    vlan: Option<u16>,
    spec: &Spec,
    payload: &[u8],
    link: bool,
    out: &mut Vec<u8>,
) -> Result<(), GenerateError> {
    out.clear();
    let src = nodes[usize::from(spec.src) % MAX_NODES];
    let dst = nodes[usize::from(spec.dst) % MAX_NODES];
    let ip = ip_headers(src.ip, dst.ip, spec)?;
    let v6 = matches!(ip, IpHeaders::Ipv6(..));
    let step: PacketBuilderStep<IpHeaders> = match (link, vlan) {
        (false, _) => PacketBuilder::ip(ip),
        (true, None) => PacketBuilder::ethernet2(src.mac, dst.mac).ip(ip),
        (true, Some(v)) => {
            let id =
                VlanId::try_new(v).map_err(|_| GenerateError::Internal("VLAN id over 4095"))?;
            PacketBuilder::ethernet2(src.mac, dst.mac)
                .single_vlan(id)
                .ip(ip)
        }
    };
    match spec.l4 {
        tcp @ L4::Tcp { .. } => {
            let h = tcp_header(tcp)?;
            step.tcp_header(h).write_to_vec(out, payload)?;
        }
        L4::Udp { sport, dport } => step.udp(sport, dport).write_to_vec(out, payload)?,
        L4::Icmp { ty, code, rest } if v6 => {
            step.icmpv6_raw(ty, code, rest).write_to_vec(out, payload)?
        }
        L4::Icmp { ty, code, rest } => {
            step.icmpv4_raw(ty, code, rest).write_to_vec(out, payload)?
        }
    }
    Ok(())
}

fn ip_headers(src: IpAddr, dst: IpAddr, spec: &Spec) -> Result<IpHeaders, GenerateError> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = Ipv4Header {
                identification: spec.ip_id,
                // Hosts set DF (path MTU discovery); ICMP errors from routers do not.
                dont_fragment: !matches!(
                    spec.l4,
                    L4::Icmp {
                        ty: 3..=5 | 11 | 12,
                        ..
                    }
                ),
                time_to_live: spec.ttl,
                source: s.octets(),
                destination: d.octets(),
                ..Default::default()
            };
            if spec.extra == IpExtra::BadV4Option {
                h.options = Ipv4Options::from(BAD_V4_OPTION);
            }
            Ok(IpHeaders::Ipv4(h, Default::default()))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let h = Ipv6Header {
                traffic_class: 0,
                flow_label: Ipv6FlowLabel::ZERO,
                payload_length: 0,
                next_header: ip_number::UDP,
                hop_limit: spec.ttl,
                source: s.octets(),
                destination: d.octets(),
            };
            let mut exts = Ipv6Extensions::default();
            if spec.extra == IpExtra::UnknownHopByHop {
                let hbh = Ipv6RawExtHeader::new_raw(ip_number::UDP, &UNKNOWN_HBH_OPTION)
                    .map_err(|_| GenerateError::Internal("hop-by-hop option length"))?;
                exts.hop_by_hop_options = Some(hbh);
            }
            Ok(IpHeaders::Ipv6(h, exts))
        }
        _ => Err(GenerateError::Internal(
            "IPv4 and IPv6 endpoints mixed in one packet",
        )),
    }
}

/// The header of TCP segment `l4` (an internal error for another transport).
fn tcp_header(l4: L4) -> Result<TcpHeader, GenerateError> {
    let L4::Tcp {
        sport,
        dport,
        seq,
        ack,
        flags,
        win,
        syn_opts,
    } = l4
    else {
        return Err(GenerateError::Internal("TCP header for a non-TCP packet"));
    };
    let mut h = TcpHeader::new(sport, dport, seq, win);
    h.acknowledgment_number = ack;
    h.fin = flags & tcp_flags::FIN != 0;
    h.syn = flags & tcp_flags::SYN != 0;
    h.rst = flags & tcp_flags::RST != 0;
    h.psh = flags & tcp_flags::PSH != 0;
    h.ack = flags & tcp_flags::ACK != 0;
    if syn_opts {
        h.set_options_raw(&SYN_OPTIONS)
            .map_err(|_| GenerateError::Internal("TCP options length"))?;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

    use super::*;

    fn nodes(a: IpAddr, b: IpAddr) -> [Node; MAX_NODES] {
        [
            Node {
                ip: a,
                mac: [2, 0, 0, 0, 0, 1],
            },
            Node {
                ip: b,
                mac: [2, 0, 0, 0, 0, 2],
            },
            Node::NONE,
            Node::NONE,
        ]
    }

    fn spec(l4: L4, extra: IpExtra) -> Spec {
        Spec {
            ts: 0,
            ord: 0,
            src: 0,
            dst: 1,
            ttl: 64,
            ip_id: 7,
            extra,
            l4,
            payload: Payload::Empty,
        }
    }

    #[test]
    fn tcp_syn_with_vlan_round_trips() {
        let n = nodes(
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Ipv4Addr::new(10, 1, 0, 1).into(),
        );
        let l4 = L4::Tcp {
            sport: 40000,
            dport: 80,
            seq: 5,
            ack: 0,
            flags: tcp_flags::SYN,
            win: 64240,
            syn_opts: true,
        };
        let mut out = Vec::new();
        build_frame(&n, Some(100), &spec(l4, IpExtra::None), &[], true, &mut out).unwrap();
        let p = LaxSlicedPacket::from_ethernet(&out).unwrap();
        assert_eq!(p.vlan_ids().first().map(|v| v.value()), Some(100));
        match p.transport {
            Some(TransportSlice::Tcp(t)) => {
                assert!(t.syn() && !t.ack());
                assert_eq!(
                    (t.source_port(), t.destination_port(), t.sequence_number()),
                    (40000, 80, 5)
                );
                assert_eq!(t.options(), &SYN_OPTIONS);
            }
            other => panic!("not tcp: {other:?}"),
        }
    }

    #[test]
    fn unknown_hop_by_hop_precedes_udp_and_pointer_is_right() {
        let n = nodes(
            "2001:db8::1".parse::<Ipv6Addr>().unwrap().into(),
            "2001:db8::2".parse::<Ipv6Addr>().unwrap().into(),
        );
        let mut out = Vec::new();
        let s = spec(L4::Udp { sport: 1, dport: 2 }, IpExtra::UnknownHopByHop);
        build_frame(&n, None, &s, b"x", false, &mut out).unwrap();
        assert_eq!(out[6], 0, "next header is hop-by-hop");
        assert_eq!(out[UNKNOWN_HBH_POINTER as usize], 0x9E);
        let p = LaxSlicedPacket::from_ip(&out).unwrap();
        assert!(matches!(p.transport, Some(TransportSlice::Udp(_))));
    }

    #[test]
    fn bad_v4_option_pointer_is_right() {
        let n = nodes(
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Ipv4Addr::new(10, 1, 0, 1).into(),
        );
        let mut out = Vec::new();
        build_frame(
            &n,
            None,
            &spec(L4::Udp { sport: 1, dport: 2 }, IpExtra::BadV4Option),
            b"x",
            false,
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0], 0x47, "IHL 7");
        assert_eq!(out[usize::from(BAD_V4_OPTION_POINTER)], 0x06);
        let p = LaxSlicedPacket::from_ip(&out).unwrap();
        assert!(matches!(p.net, Some(LaxNetSlice::Ipv4(_))));
    }

    #[test]
    fn mixed_versions_are_an_error() {
        let n = nodes(Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into());
        let mut out = Vec::new();
        let r = build_frame(
            &n,
            None,
            &spec(L4::Udp { sport: 1, dport: 2 }, IpExtra::None),
            &[],
            true,
            &mut out,
        );
        assert!(matches!(r, Err(GenerateError::Internal(_))));
    }
}
