//! Bidirectional flow keys: one canonical key per conversation, whichever way a packet goes.
//!
//! A key holds both endpoints sorted by (address, port), the IP protocol, the IP version and the
//! outer VLAN id, so `A:1 -> B:2` and `B:2 -> A:1` hash to the same entry. ICMP has no ports;
//! echo requests and replies are keyed by the echo identifier (as Zeek keys ping sessions), and
//! other ICMP messages by type and the Community ID "port" mapping (the counterpart type for
//! request/reply pairs, the code for one-way messages). Keys are plain `Copy` data: building
//! one never allocates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::decode::{IcmpMessage, Packet};

/// IP protocol numbers the flow table distinguishes.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

const FLAG_VLAN: u8 = 1;
const FLAG_V6: u8 = 2;
const FLAG_ECHO: u8 = 4;

/// Canonical key of a bidirectional flow (40 bytes, `Copy`, hashable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Endpoint addresses, the lower (address, port) first; IPv4 uses the first 4 bytes.
    addrs: [[u8; 16]; 2],
    /// Ports matching `addrs` (ICMP: identifier, or type and mapped type/code).
    ports: [u16; 2],
    /// Outer VLAN id (meaningful when `FLAG_VLAN` is set).
    vlan: u16,
    /// IP protocol number.
    proto: u8,
    /// `FLAG_*` bits.
    flags: u8,
}

/// Which side of a [`FlowKey`] a packet's source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The lower (address, port) of the key.
    Lo,
    /// The higher (address, port) of the key.
    Hi,
}

impl Side {
    /// Index into the key's endpoint arrays.
    pub fn index(self) -> usize {
        match self {
            Side::Lo => 0,
            Side::Hi => 1,
        }
    }

    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }
}

/// An ICMP message's place in a flow: how it is keyed and who its originator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpKeying {
    /// Key ports for the sender and the receiver of this message.
    pub ports: (u16, u16),
    /// True for echo request/reply (keyed by identifier).
    pub echo: bool,
    /// True when this message is the reply half of a request/reply pair (for echo, the
    /// flow's originator is then the reply's receiver).
    pub reply: bool,
}

/// The counterpart of a two-way ICMP type (request <-> reply), as the Community ID spec maps
/// them; `None` for one-way types.
pub fn icmp_counterpart(version: u8, icmp_type: u8) -> Option<u8> {
    let pair = if version == 6 {
        match icmp_type {
            128 => 129,
            129 => 128,
            130 => 131,
            131 => 130,
            133 => 134,
            134 => 133,
            135 => 136,
            136 => 135,
            139 => 140,
            140 => 139,
            144 => 145,
            145 => 144,
            _ => return None,
        }
    } else {
        match icmp_type {
            8 => 0,
            0 => 8,
            13 => 14,
            14 => 13,
            15 => 16,
            16 => 15,
            10 => 9,
            9 => 10,
            17 => 18,
            18 => 17,
            _ => return None,
        }
    };
    Some(pair)
}

/// True for the reply half of a two-way ICMP pair (echo reply, timestamp reply, router
/// advertisement, neighbour advertisement, ...): its receiver started the exchange.
pub fn icmp_is_reply(version: u8, icmp_type: u8) -> bool {
    if version == 6 {
        matches!(icmp_type, 129 | 131 | 134 | 136 | 140 | 145)
    } else {
        matches!(icmp_type, 0 | 14 | 16 | 9 | 18)
    }
}

/// How an ICMP message is keyed.
pub fn icmp_keying(msg: &IcmpMessage<'_>) -> IcmpKeying {
    let echo = matches!((msg.version, msg.icmp_type), (4, 0 | 8) | (6, 128 | 129));
    let reply = icmp_is_reply(msg.version, msg.icmp_type);
    if echo {
        let id = u16::from_be_bytes([msg.rest[0], msg.rest[1]]);
        return IcmpKeying {
            ports: (id, id),
            echo,
            reply,
        };
    }
    let ports = match icmp_counterpart(msg.version, msg.icmp_type) {
        Some(other) => (u16::from(msg.icmp_type), u16::from(other)),
        None => (u16::from(msg.icmp_type), u16::from(msg.code)),
    };
    IcmpKeying { ports, echo, reply }
}

/// The 16-byte form of an address (IPv4 in the first four bytes).
fn addr_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            [o[0], o[1], o[2], o[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        }
        IpAddr::V6(a) => a.octets(),
    }
}

impl FlowKey {
    /// Builds the canonical key of a packet going `src:sport -> dst:dport`, and tells which
    /// side of the key the source is. Equal endpoints put the source on [`Side::Lo`].
    pub fn new(
        (src, sport): (IpAddr, u16),
        (dst, dport): (IpAddr, u16),
        proto: u8,
        vlan: Option<u16>,
    ) -> (FlowKey, Side) {
        Self::build((src, sport), (dst, dport), proto, vlan, false)
    }

    fn build(
        (src, sport): (IpAddr, u16),
        (dst, dport): (IpAddr, u16),
        proto: u8,
        vlan: Option<u16>,
        echo: bool,
    ) -> (FlowKey, Side) {
        let (s, d) = (addr_bytes(src), addr_bytes(dst));
        let side = if (d, dport) < (s, sport) {
            Side::Hi
        } else {
            Side::Lo
        };
        let (addrs, ports) = match side {
            Side::Lo => ([s, d], [sport, dport]),
            Side::Hi => ([d, s], [dport, sport]),
        };
        let mut flags = 0;
        if vlan.is_some() {
            flags |= FLAG_VLAN;
        }
        if src.is_ipv6() {
            flags |= FLAG_V6;
        }
        if echo {
            flags |= FLAG_ECHO;
        }
        let key = FlowKey {
            addrs,
            ports,
            vlan: vlan.unwrap_or(0),
            proto,
            flags,
        };
        (key, side)
    }

    /// The key of an ICMP message (see the module docs) and the side of its sender.
    pub fn icmp(pkt: &Packet<'_>, keying: &IcmpKeying) -> (FlowKey, Side) {
        Self::build(
            (pkt.ip.src, keying.ports.0),
            (pkt.ip.dst, keying.ports.1),
            pkt.ip.proto,
            pkt.vlan,
            keying.echo,
        )
    }

    /// Address and port of one side.
    pub fn endpoint(&self, side: Side) -> (IpAddr, u16) {
        let i = side.index();
        (self.addr(i), self.ports[i])
    }

    fn addr(&self, i: usize) -> IpAddr {
        let b = self.addrs[i];
        if self.flags & FLAG_V6 != 0 {
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
    }

    /// IP protocol number.
    pub fn proto(&self) -> u8 {
        self.proto
    }

    /// Outer VLAN id.
    pub fn vlan(&self) -> Option<u16> {
        (self.flags & FLAG_VLAN != 0).then_some(self.vlan)
    }

    /// 4 or 6.
    pub fn ip_version(&self) -> u8 {
        if self.flags & FLAG_V6 != 0 { 6 } else { 4 }
    }

    /// A 64-bit digest of the key, stable across runs and builds (used for flow ids).
    pub fn digest(&self, salt: u64) -> u64 {
        let mut h = Mix64::new(salt);
        for a in &self.addrs {
            let (x, y) = a.split_at(8);
            h.word(u64::from_le_bytes(to8(x)));
            h.word(u64::from_le_bytes(to8(y)));
        }
        h.word(
            u64::from(self.ports[0])
                | u64::from(self.ports[1]) << 16
                | u64::from(self.vlan) << 32
                | u64::from(self.proto) << 48
                | u64::from(self.flags) << 56,
        );
        h.finish()
    }
}

/// First eight bytes of a slice (zero-padded).
fn to8(s: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (o, b) in out.iter_mut().zip(s) {
        *o = *b;
    }
    out
}

/// A tiny fixed multiply-xorshift hash (splitmix64 finaliser), so flow ids do not depend on a
/// hasher whose algorithm may change between crate versions.
struct Mix64(u64);

impl Mix64 {
    fn new(seed: u64) -> Self {
        Mix64(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn word(&mut self, w: u64) {
        self.0 = splitmix(self.0 ^ w);
    }

    fn finish(&self) -> u64 {
        splitmix(self.0)
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn both_directions_share_one_key() {
        let (k1, s1) = FlowKey::new((ip("10.0.0.2"), 80), (ip("10.0.0.1"), 1234), 6, None);
        let (k2, s2) = FlowKey::new((ip("10.0.0.1"), 1234), (ip("10.0.0.2"), 80), 6, None);
        assert_eq!(k1, k2);
        assert_eq!(s1, Side::Hi);
        assert_eq!(s2, Side::Lo);
        assert_eq!(k1.endpoint(Side::Lo), (ip("10.0.0.1"), 1234));
        assert_eq!(k1.endpoint(Side::Hi), (ip("10.0.0.2"), 80));
    }

    #[test]
    fn vlan_and_protocol_separate_keys() {
        let a = (ip("10.0.0.1"), 1234);
        let b = (ip("10.0.0.2"), 80);
        let (plain, _) = FlowKey::new(a, b, 6, None);
        let (v10, _) = FlowKey::new(a, b, 6, Some(10));
        let (v0, _) = FlowKey::new(a, b, 6, Some(0));
        let (v20, _) = FlowKey::new(a, b, 6, Some(20));
        let (udp, _) = FlowKey::new(a, b, 17, None);
        let all = [plain, v10, v0, v20, udp];
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(v10.vlan(), Some(10));
        assert_eq!(v0.vlan(), Some(0));
        assert_eq!(plain.vlan(), None);
    }

    #[test]
    fn same_address_orders_by_port_and_v6_round_trips() {
        let (k, s) = FlowKey::new((ip("::1"), 9000), (ip("::1"), 80), 6, None);
        assert_eq!(s, Side::Hi);
        assert_eq!(k.endpoint(Side::Lo), (ip("::1"), 80));
        assert_eq!(k.ip_version(), 6);
        let (v4, _) = FlowKey::new((ip("0.0.0.1"), 1), (ip("0.0.0.2"), 2), 6, None);
        let (v6, _) = FlowKey::new((ip("1::"), 1), (ip("2::"), 2), 6, None);
        assert_ne!(v4, v6, "the version flag keeps v4 and v6 keys apart");
    }

    #[test]
    fn icmp_mapping_is_symmetric() {
        for version in [4, 6] {
            for t in 0..=255u8 {
                if let Some(c) = icmp_counterpart(version, t) {
                    assert_eq!(icmp_counterpart(version, c), Some(t));
                    assert_ne!(icmp_is_reply(version, t), icmp_is_reply(version, c));
                }
            }
        }
        assert_eq!(icmp_counterpart(4, 3), None);
    }

    #[test]
    fn digest_is_stable_and_spreads() {
        let (k, _) = FlowKey::new((ip("10.0.0.1"), 1234), (ip("10.0.0.2"), 80), 6, None);
        let (k2, _) = FlowKey::new((ip("10.0.0.1"), 1235), (ip("10.0.0.2"), 80), 6, None);
        assert_eq!(k.digest(7), k.digest(7));
        assert_ne!(k.digest(7), k.digest(8));
        assert_ne!(k.digest(7), k2.digest(7));
        assert_eq!(std::mem::size_of::<FlowKey>(), 40);
    }
}
