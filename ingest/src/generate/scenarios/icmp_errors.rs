//! Scenarios of ICMP and ICMPv6 messages: errors drawn by UDP datagrams (and what the client
//! does next), router advertisements and solicitations, redirects and unanswered pings.

use std::net::IpAddr;

use super::normal::{dns_client, lookup, ntp_answer, ping};
use super::{C, QUOTE_V4, QUOTE_V6, R, S, icmp, random_rtt, server_ttl, setup_client};
use crate::generate::content::{self, Body, Dns};
use crate::generate::hosts::{self, Client, ROUTER_MAC, ROUTER2_MAC};
use crate::generate::script::Script;
use crate::generate::truth::{Draft, Event};
use crate::generate::wire::{BAD_V4_OPTION_POINTER, IpExtra, L4, Payload, UNKNOWN_HBH_POINTER};

/// How one UDP-triggered ICMP error is staged.
struct UdpError {
    /// Over IPv6 (ICMPv6).
    v6: bool,
    /// Last address byte/group of the destination and its network (1 = servers, 2/3 remote).
    dst: (u8, u16),
    dport: u16,
    /// Who sends the error: the destination or the client's gateway.
    from_gateway: bool,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    extra: IpExtra,
    /// Hop limit of the probe (traceroute).
    ttl: u8,
    /// Delay of the error after the probe.
    delay: (i64, i64),
}

fn udp_error_stage(ev: Event) -> UdpError {
    let base = UdpError {
        v6: false,
        dst: (1, 54),
        dport: 53,
        from_gateway: false,
        ty: 3,
        code: 3,
        rest: [0; 4],
        extra: IpExtra::None,
        ttl: 64,
        delay: (300, 30_000),
    };
    let to_gw = UdpError {
        from_gateway: true,
        delay: (80, 600),
        ..base
    };
    match ev {
        Event::Icmp4HostUnreachable => UdpError {
            dst: (3, 77),
            dport: 123,
            code: 1,
            delay: (2_900_000, 3_100_000),
            ..to_gw
        },
        Event::Icmp4FragNeeded => UdpError {
            dst: (1, 40),
            dport: 4500,
            code: 4,
            rest: [0, 0, 0x05, 0x78],
            ..to_gw
        },
        Event::Icmp4Redirect => UdpError {
            dst: (1, 123),
            dport: 123,
            ty: 5,
            code: 1,
            ..to_gw
        },
        Event::Icmp4SourceQuench => UdpError {
            dst: (1, 30),
            dport: 514,
            ty: 4,
            code: 0,
            ..base
        },
        Event::Icmp4ParameterProblem => UdpError {
            dst: (1, 30),
            dport: 514,
            ty: 12,
            code: 0,
            rest: [BAD_V4_OPTION_POINTER, 0, 0, 0],
            extra: IpExtra::BadV4Option,
            ..to_gw
        },
        Event::Icmp6PortUnreachable => UdpError {
            v6: true,
            dst: (1, 0x54),
            ty: 1,
            code: 4,
            ..base
        },
        Event::Icmp6PacketTooBig => UdpError {
            v6: true,
            dst: (1, 0x40),
            dport: 4500,
            ty: 2,
            code: 0,
            rest: 1280u32.to_be_bytes(),
            ..to_gw
        },
        Event::Icmp6TimeExceeded => UdpError {
            v6: true,
            dst: (2, 0x33),
            dport: 33_434,
            ty: 3,
            code: 0,
            ttl: 1,
            ..to_gw
        },
        Event::Icmp6ParameterProblem => UdpError {
            v6: true,
            dst: (1, 0x30),
            dport: 514,
            ty: 4,
            code: 2,
            rest: UNKNOWN_HBH_POINTER.to_be_bytes(),
            extra: IpExtra::UnknownHopByHop,
            ..to_gw
        },
        _ => base,
    }
}

/// The probe datagram's payload for a destination port.
fn probe_payload(sc: &mut Script<'_>, dport: u16, v6: bool, t: i64) -> Payload {
    match dport {
        53 => {
            let d = Dns::random(&mut sc.rng);
            sc.bytes(|o| d.query(o))
        }
        123 => sc.bytes(|o| content::ntp(false, t, o)),
        514 => {
            let n = sc.rng.range_u32(0, 999);
            sc.bytes(|o| content::syslog(t, 7, n, o))
        }
        4500 => {
            // ESP in UDP filling a 1500-byte MTU: SPI and sequence number, then ciphertext.
            let len = if v6 { 1500 - 40 - 8 } else { 1500 - 20 - 8 };
            esp_payload(sc, 1, len - 8)
        }
        _ => sc.bytes(|o| o.extend_from_slice(&[0u8; 32])),
    }
}

/// An ESP packet with a random SPI, sequence number `seq` and `body_len` bytes of ciphertext.
fn esp_payload(sc: &mut Script<'_>, seq: u32, body_len: u32) -> Payload {
    let spi = sc.rng.next_u64() as u32;
    let head = |out: &mut Vec<u8>, _: &mut _| {
        out.extend_from_slice(&spi.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
    };
    let (msg, len) = sc.msg(head, Body::Opaque, body_len);
    Payload::Msg { msg, off: 0, len }
}

/// A UDP datagram from a client and the ICMP error it draws, plus what follows it.
pub(super) fn udp_icmp_error(sc: &mut Script<'_>, ev: Event) {
    let st = udp_error_stage(ev);
    let client = setup_client(sc, st.v6);
    let dst = if st.dst.0 == 1 {
        hosts::server(st.v6, st.dst.1)
    } else {
        hosts::remote(st.v6, st.dst.0, st.dst.1)
    };
    sc.set_node(S, dst);
    let sport = sc.ports.next(client.slot, &mut sc.rng);
    let t0 = sc.t0;
    let udp = L4::Udp {
        sport,
        dport: st.dport,
    };
    // Source quench comes after a few datagrams of a syslog burst; the others quote the first.
    let burst = if ev == Event::Icmp4SourceQuench {
        sc.rng.range_u32(3, 6)
    } else {
        1
    };
    let mut t = t0;
    let mut quoted = 0;
    for i in 0..burst {
        let p = probe_payload(sc, st.dport, st.v6, t);
        let o = sc.push_extra(t, (C, S), st.ttl, udp, p, st.extra);
        if i + 2 == burst || burst == 1 {
            quoted = o;
        }
        t += sc.rng.range(2_000, 20_000);
    }
    let quoted_ts = sc
        .conv
        .specs
        .iter()
        .find(|s| s.ord == quoted)
        .map_or(t0, |s| s.ts);
    let (sender, ttl, quote_ttl) = if st.from_gateway {
        sc.set_node(R, client.gateway);
        (R, if st.v6 { 255 } else { 64 }, None)
    } else {
        (
            S,
            if st.v6 { 63 } else { server_ttl(&mut sc.rng) },
            Some(st.ttl.saturating_sub(1)),
        )
    };
    let te = quoted_ts + sc.rng.range(st.delay.0, st.delay.1);
    let max = if st.v6 { QUOTE_V6 } else { QUOTE_V4 };
    let rest = if ev == Event::Icmp4Redirect {
        redirect_gateway(&client)
    } else {
        st.rest
    };
    let o = sc.push(
        te,
        (sender, C),
        ttl,
        icmp(st.ty, st.code, rest),
        Payload::Quote {
            ord: quoted,
            max,
            ttl: quote_ttl,
        },
    );
    sc.draft(Draft {
        related: Some(quoted),
        ..Draft::new(ev, o)
    });
    after_udp_error(sc, ev, &client, sport, te);
}

/// The gateway an ICMPv4 redirect names: the client's second router.
fn redirect_gateway(client: &Client) -> [u8; 4] {
    v4_octets(client.second_router().ip)
}

/// An IPv4 address's bytes (zeros for an IPv6 address).
fn v4_octets(ip: IpAddr) -> [u8; 4] {
    match ip {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => [0; 4],
    }
}

/// What the client or server does after the error: retry elsewhere, resend smaller, answer.
fn after_udp_error(sc: &mut Script<'_>, ev: Event, client: &Client, sport: u16, te: i64) {
    match ev {
        Event::Icmp4PortUnreachable | Event::Icmp6PortUnreachable => {
            // The stub resolver moves on to the working resolver.
            sc.set_node(R + 1, hosts::resolver(client.v6()));
            let t = te + sc.rng.range(50, 500);
            lookup(sc, client, R + 1, t);
        }
        Event::Icmp4FragNeeded | Event::Icmp6PacketTooBig => {
            let mtu = if ev == Event::Icmp4FragNeeded {
                1400
            } else {
                1280
            };
            let hdr = if client.v6() { 48 } else { 28 };
            let mut t = te + sc.rng.range(100, 1_000);
            for seq in 2..4u32 {
                let esp = esp_payload(sc, seq, mtu - hdr - 8);
                sc.push(t, (C, S), 64, L4::Udp { sport, dport: 4500 }, esp);
                t += sc.rng.range(200, 5_000);
            }
        }
        Event::Icmp4Redirect => {
            let rt = te + random_rtt(&mut sc.rng);
            ntp_answer(sc, rt, sport);
        }
        _ => {}
    }
}

/// A router advertisement, multicast by the router of a random client's link.
pub(super) fn router_advertisement(sc: &mut Script<'_>, v6: bool) {
    let events = (
        Event::Icmp4RouterAdvertisement,
        Event::Icmp6RouterAdvertisement,
    );
    router_message(sc, v6, events, |sc, client, t0| {
        if v6 {
            sc.set_node(C, hosts::router_link_local());
            sc.set_node(S, hosts::multicast(true, true));
            let body = sc.bytes(|o| content::router_advert_v6(ROUTER_MAC, o));
            sc.push(t0, (C, S), 255, icmp(134, 0, [64, 0, 0x07, 0x08]), body)
        } else {
            sc.set_node(C, client.gateway);
            sc.set_node(S, hosts::multicast(false, true));
            let router = v4_octets(client.gateway.ip);
            let body = sc.bytes(|o| content::router_advert_v4(router, o));
            sc.push(t0, (C, S), 1, icmp(9, 0, [1, 2, 0x07, 0x08]), body)
        }
    });
}

/// A router solicitation, multicast by a random client.
pub(super) fn router_solicitation(sc: &mut Script<'_>, v6: bool) {
    let events = (
        Event::Icmp4RouterSolicitation,
        Event::Icmp6RouterSolicitation,
    );
    router_message(sc, v6, events, |sc, client, t0| {
        if v6 {
            sc.set_node(C, client.link_local());
            sc.set_node(S, hosts::multicast(true, false));
            let body = sc.bytes(|o| content::lladdr_option(false, client.node.mac, o));
            sc.push(t0, (C, S), 255, icmp(133, 0, [0; 4]), body)
        } else {
            sc.set_node(C, client.node);
            sc.set_node(S, hosts::multicast(false, false));
            sc.push(t0, (C, S), 1, icmp(10, 0, [0; 4]), Payload::Empty)
        }
    });
}

/// A router message on the link of a random client (on its VLAN): `send` writes it at the
/// conversation's start and returns its ordinal; the event is the IPv4 or IPv6 one of `events`.
fn router_message(
    sc: &mut Script<'_>,
    v6: bool,
    (ev4, ev6): (Event, Event),
    send: impl FnOnce(&mut Script<'_>, &Client, i64) -> u32,
) {
    let client = hosts::pick_client(&mut sc.rng, v6);
    sc.conv.vlan = client.vlan;
    let t0 = sc.t0;
    let o = send(sc, &client, t0);
    sc.draft(Draft::new(if v6 { ev6 } else { ev4 }, o));
}

/// A DNS lookup over IPv6 that makes the router send a redirect to a better first hop.
pub(super) fn redirect_v6(sc: &mut Script<'_>) {
    let client = dns_client(sc, true);
    sc.set_node(R, hosts::router_link_local());
    let t0 = sc.t0;
    lookup(sc, &client, S, t0);
    let te = t0 + sc.rng.range(80, 400);
    let target = client.second_router();
    let dst = hosts::resolver(true);
    let body = sc.bytes(|o| {
        if let (IpAddr::V6(t), IpAddr::V6(d)) = (target.ip, dst.ip) {
            o.extend_from_slice(&t.octets());
            o.extend_from_slice(&d.octets());
        }
        content::lladdr_option(true, ROUTER2_MAC, o);
    });
    let o = sc.push(te, (R, C), 255, icmp(137, 0, [0; 4]), body);
    sc.draft(Draft::new(Event::Icmp6Redirect, o));
}

/// Echo requests to a remote host that never replies.
pub(super) fn echo_no_reply(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(300);
    setup_client(sc, v6);
    let last = sc.rng.range(20, 99) as u16;
    sc.set_node(S, hosts::remote(v6, 3, last));
    let o = ping(sc, v6, 3, false);
    sc.needs_quiet = true;
    sc.draft(Draft {
        reason: Some("no-reply"),
        ..Draft::new(Event::EchoNoReply, o)
    });
}
