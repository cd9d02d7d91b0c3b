//! The address plan of the synthetic network and ephemeral-port allocation.
//!
//! The capture point is the access switch of the client LAN (10.0.0.0/16, 2001:db8:0:1::/64,
//! VLANs 100 and 200 on a trunk): clients appear with their own MAC, everything behind the
//! router (servers 10.1.0.0/24, 2001:db8:1::/64, the rest of the world) with the router's MAC.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::rng::Rng;
use super::wire::Node;

/// MAC of the default router (all subnets, router-on-a-stick).
pub(crate) const ROUTER_MAC: [u8; 6] = [0x00, 0x1B, 0x17, 0x00, 0x01, 0x01];
/// MAC of the second router that ICMP redirects point to.
pub(crate) const ROUTER2_MAC: [u8; 6] = [0x00, 0x1B, 0x17, 0x00, 0x01, 0x02];

const PLAIN_V4: usize = 40;
const VLAN100_V4: usize = 10;
const VLAN200_V4: usize = 5;
const V6: usize = 16;
/// Number of distinct client addresses (each has its own ephemeral-port counter).
pub(crate) const CLIENT_SLOTS: usize = PLAIN_V4 + VLAN100_V4 + VLAN200_V4 + V6;

/// A client host chosen for one conversation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client {
    /// Index of its port counter.
    pub(crate) slot: usize,
    /// Its address and MAC.
    pub(crate) node: Node,
    /// VLAN tag its traffic carries on the trunk.
    pub(crate) vlan: Option<u16>,
    /// Its default router (global address, router MAC).
    pub(crate) gateway: Node,
}

impl Client {
    /// True for an IPv6 client.
    pub(crate) fn v6(&self) -> bool {
        self.node.ip.is_ipv6()
    }

    /// The client's IPv6 link-local address (EUI-64 from its MAC), for neighbour discovery.
    pub(crate) fn link_local(&self) -> Node {
        let m = self.node.mac;
        let iid = [m[0] ^ 0x02, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]];
        let mut o = [0u8; 16];
        o[0] = 0xFE;
        o[1] = 0x80;
        o[8..].copy_from_slice(&iid);
        Node {
            ip: IpAddr::V6(Ipv6Addr::from(o)),
            mac: m,
        }
    }

    /// Another router on the client's subnet (target of redirects).
    pub(crate) fn second_router(&self) -> Node {
        match self.gateway.ip {
            IpAddr::V4(g) => {
                let o = g.octets();
                Node {
                    ip: Ipv4Addr::new(o[0], o[1], o[2], 2).into(),
                    mac: ROUTER2_MAC,
                }
            }
            IpAddr::V6(_) => Node {
                ip: v6(0xfe80, 0, 0, 2),
                mac: ROUTER2_MAC,
            },
        }
    }
}

/// Picks a client: IPv6 when `v6`, else IPv4, about 12 % of which sit on a tagged VLAN.
pub(crate) fn pick_client(rng: &mut Rng, want_v6: bool) -> Client {
    if want_v6 {
        let i = rng.below(V6 as u64) as usize;
        let mac = client_mac(0, i);
        return Client {
            slot: PLAIN_V4 + VLAN100_V4 + VLAN200_V4 + i,
            node: Node {
                ip: v6(0x2001, 0xdb8, 0x0001, 0x10 + i as u16),
                mac,
            },
            vlan: None,
            gateway: Node {
                ip: v6(0x2001, 0xdb8, 0x0001, 1),
                mac: ROUTER_MAC,
            },
        };
    }
    let (subnet, base, count, vlan) = match rng.weighted(&[88, 8, 4]) {
        1 => (100u8, PLAIN_V4, VLAN100_V4, Some(100)),
        2 => (200u8, PLAIN_V4 + VLAN100_V4, VLAN200_V4, Some(200)),
        _ => (0u8, 0, PLAIN_V4, None),
    };
    let i = rng.below(count as u64) as usize;
    Client {
        slot: base + i,
        node: Node {
            ip: Ipv4Addr::new(10, 0, subnet, 10 + i as u8).into(),
            mac: client_mac(subnet, i),
        },
        vlan,
        gateway: Node {
            ip: Ipv4Addr::new(10, 0, subnet, 1).into(),
            mac: ROUTER_MAC,
        },
    }
}

fn client_mac(subnet: u8, i: usize) -> [u8; 6] {
    [0x3C, 0xFD, 0xFE, subnet, 0x00, i as u8]
}

/// `2001:db8:<c>::<d>`-style addresses: four 16-bit groups, the third placed at group 3.
fn v6(a: u16, b: u16, c: u16, d: u16) -> IpAddr {
    if a == 0xfe80 {
        IpAddr::V6(Ipv6Addr::new(a, 0, 0, 0, 0, 0, b, d))
    } else {
        IpAddr::V6(Ipv6Addr::new(a, b, 0, c, 0, 0, 0, d))
    }
}

/// A host behind the router: `10.1.0.<last>` or `2001:db8:1::<last>` (hex), with the router MAC.
pub(crate) fn server(v6_addr: bool, last: u16) -> Node {
    let ip = if v6_addr {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, last))
    } else {
        Ipv4Addr::new(10, 1, 0, last as u8).into()
    };
    Node {
        ip,
        mac: ROUTER_MAC,
    }
}

/// A host elsewhere behind the router, in a given "remote" network (`net` 2, 3 or 255):
/// `10.<net>.0.<last>` / `2001:db8:<net>::<last>`.
pub(crate) fn remote(v6_addr: bool, net: u8, last: u16) -> Node {
    let ip = if v6_addr {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            u16::from(net),
            0,
            0,
            0,
            0,
            last,
        ))
    } else {
        Ipv4Addr::new(10, net, 0, last as u8).into()
    };
    Node {
        ip,
        mac: ROUTER_MAC,
    }
}

/// The router's link-local address (source of ICMPv6 router messages).
pub(crate) fn router_link_local() -> Node {
    Node {
        ip: v6(0xfe80, 0, 0, 1),
        mac: ROUTER_MAC,
    }
}

/// A well-known multicast group with its multicast MAC: `all_nodes` or all-routers.
pub(crate) fn multicast(v6_addr: bool, all_nodes: bool) -> Node {
    let last = if all_nodes { 1u8 } else { 2u8 };
    if v6_addr {
        Node {
            ip: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, u16::from(last))),
            mac: [0x33, 0x33, 0, 0, 0, last],
        }
    } else {
        Node {
            ip: Ipv4Addr::new(224, 0, 0, last).into(),
            mac: [0x01, 0x00, 0x5E, 0, 0, last],
        }
    }
}

/// A web server: address, port and the Host name it serves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Web {
    /// Address (router MAC).
    pub(crate) node: Node,
    /// TCP port.
    pub(crate) port: u16,
    /// Virtual host name.
    pub(crate) host: &'static str,
}

const WEB_V4: [(u16, u16, &str); 6] = [
    (10, 80, "www.example.com"),
    (11, 80, "shop.example.com"),
    (12, 80, "api.example.com"),
    (13, 80, "static.example.net"),
    (20, 8080, "intranet.corp.example"),
    (21, 8080, "grafana.corp.example"),
];
const WEB_V6: [(u16, u16, &str); 2] =
    [(0x10, 80, "www.example.com"), (0x12, 80, "api.example.com")];

/// Picks a web server of the given address family.
pub(crate) fn pick_web(rng: &mut Rng, v6_addr: bool) -> Web {
    let &(last, port, host) = if v6_addr {
        rng.pick(&WEB_V6)
    } else {
        rng.pick(&WEB_V4)
    };
    Web {
        node: server(v6_addr, last),
        port,
        host,
    }
}

/// The DNS resolver (10.1.0.53 / 2001:db8:1::53).
pub(crate) fn resolver(v6_addr: bool) -> Node {
    server(v6_addr, if v6_addr { 0x53 } else { 53 })
}

/// Per-client ephemeral port counters (Linux range 32768..=60999), advanced by 1..=4 per
/// connection so that no 4-tuple repeats within a capture of realistic size.
pub(crate) struct Ports(Vec<u16>);

const PORT_LO: u16 = 32_768;
const PORT_HI: u16 = 60_999;

impl Ports {
    /// Counters with random starting points.
    pub(crate) fn new(rng: &mut Rng) -> Self {
        let span = u64::from(PORT_HI - PORT_LO);
        Ports(
            (0..CLIENT_SLOTS)
                .map(|_| PORT_LO + rng.below(span / 2) as u16)
                .collect(),
        )
    }

    /// The next ephemeral port of client `slot`.
    pub(crate) fn next(&mut self, slot: usize, rng: &mut Rng) -> u16 {
        let step = 1 + rng.below(4) as u16;
        let Some(p) = self.0.get_mut(slot) else {
            return PORT_LO;
        };
        *p = if *p > PORT_HI - step {
            PORT_LO + step
        } else {
            *p + step
        };
        *p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_is_eui64() {
        let c = Client {
            slot: 0,
            node: Node {
                ip: Ipv4Addr::LOCALHOST.into(),
                mac: [0x3C, 0xFD, 0xFE, 0, 0, 5],
            },
            vlan: None,
            gateway: Node::NONE,
        };
        assert_eq!(
            c.link_local().ip,
            "fe80::3efd:feff:fe00:5".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn clients_have_consistent_families_and_slots() {
        let mut r = Rng::new(3);
        for _ in 0..200 {
            let c = pick_client(&mut r, false);
            assert!(c.node.ip.is_ipv4() && c.gateway.ip.is_ipv4() && c.slot < CLIENT_SLOTS);
            assert_eq!(
                c.vlan.is_some(),
                matches!(c.node.ip, IpAddr::V4(a) if a.octets()[2] != 0)
            );
            let c6 = pick_client(&mut r, true);
            assert!(c6.v6() && c6.slot < CLIENT_SLOTS);
        }
        assert_eq!(
            server(true, 0x53).ip,
            "2001:db8:1::53".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn ports_stay_in_range_and_advance() {
        let mut r = Rng::new(4);
        let mut p = Ports::new(&mut r);
        let mut last = p.next(0, &mut r);
        for _ in 0..20_000 {
            let n = p.next(0, &mut r);
            assert!((PORT_LO..=PORT_HI).contains(&n));
            assert_ne!(n, last);
            last = n;
        }
    }
}
