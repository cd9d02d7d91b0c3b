//! Normal (error-free) conversations: HTTP/1.1 keep-alive connections, DNS lookups, NTP
//! queries and pings, chosen by weight from [`NORMAL_MIX`].

use super::http_conn::{Twist, exchange, open_http, plain_exchanges};
use super::{C, S, icmp, proc_time, random_rtt, setup_client};
use crate::generate::content::{self, Dns, Request, Response};
use crate::generate::hosts::{self, Client};
use crate::generate::script::Script;
use crate::generate::tcp::{CLIENT, SERVER};
use crate::generate::wire::{L4, Payload};

/// Kinds of normal (error-free) conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Normal {
    /// An HTTP/1.1 keep-alive connection with one to six requests.
    Http,
    /// A DNS lookup.
    Dns,
    /// Four pings with replies.
    Ping,
    /// An NTP query.
    Ntp,
}

/// Normal kinds with their weights.
pub(crate) const NORMAL_MIX: [(Normal, u32); 4] = [
    (Normal::Http, 50),
    (Normal::Dns, 42),
    (Normal::Ping, 4),
    (Normal::Ntp, 4),
];

/// Writes a normal conversation.
pub(crate) fn normal(sc: &mut Script<'_>, kind: Normal) {
    let v6 = sc.rng.chance(120);
    match kind {
        Normal::Http => http(sc, v6),
        Normal::Dns => {
            let client = dns_client(sc, v6);
            lookup(sc, &client, S, sc.t0);
        }
        Normal::Ping => {
            setup_client(sc, v6);
            sc.set_node(S, hosts::server(v6, if v6 { 0x10 } else { 10 }));
            ping(sc, v6, 4, true);
        }
        Normal::Ntp => {
            let client = setup_client(sc, false);
            sc.set_node(S, hosts::server(false, 123));
            ntp_exchange(sc, &client, sc.t0, true);
        }
    }
}

/// A keep-alive HTTP connection with one to six exchanges, closed by either side.
fn http(sc: &mut Script<'_>, v6: bool) {
    let (mut h, mut t) = open_http(sc, v6, None);
    let n = 1 + sc.rng.weighted(&[30, 25, 18, 12, 9, 6]) as u32;
    let server_closes = sc.rng.chance(250);
    t = plain_exchanges(sc, &mut h, t, n - 1);
    let mut req = Request::random(&mut sc.rng);
    let mut resp = Response::random(&mut sc.rng);
    req.close = server_closes;
    resp.close = server_closes;
    t = exchange(sc, &mut h, t, req, resp, Twist::None, Twist::None);
    if server_closes {
        let d = sc.rng.range(50, 500);
        h.tcp.close(sc, SERVER, t + d);
    } else {
        let d = sc.rng.range(1_000, 2_000_000);
        h.tcp.close(sc, CLIENT, t + d);
    }
}

/// A DNS query from `client` to node `server` at `t` and its response; returns the query's
/// ordinal.
pub(super) fn lookup(sc: &mut Script<'_>, client: &Client, server: u8, t: i64) -> u32 {
    let (qo, d, sport) = dns_query(sc, client, server, t);
    let rt = t + random_rtt(&mut sc.rng) + proc_time(&mut sc.rng) / 4;
    let r = sc.bytes(|o| d.response(o));
    udp_answer(sc, rt, server, 53, sport, r);
    qo
}

/// A random client (node 0) and the resolver of its address family (node 1).
pub(super) fn dns_client(sc: &mut Script<'_>, v6: bool) -> Client {
    let client = setup_client(sc, v6);
    sc.set_node(S, hosts::resolver(v6));
    client
}

/// A random DNS query from `client` to node `server` at `t`: its ordinal, the message and the
/// client's port.
pub(super) fn dns_query(
    sc: &mut Script<'_>,
    client: &Client,
    server: u8,
    t: i64,
) -> (u32, Dns, u16) {
    let d = Dns::random(&mut sc.rng);
    let sport = sc.ports.next(client.slot, &mut sc.rng);
    let q = sc.bytes(|o| d.query(o));
    let o = sc.push(t, (C, server), 64, L4::Udp { sport, dport: 53 }, q);
    (o, d, sport)
}

/// A datagram from node `server` port `sport` to the client's port `dport` at `t`.
fn udp_answer(sc: &mut Script<'_>, t: i64, server: u8, sport: u16, dport: u16, p: Payload) {
    sc.push(t, (server, C), 63, L4::Udp { sport, dport }, p);
}

/// The NTP server's (node 1) answer at `t` to the client's port `dport`.
pub(super) fn ntp_answer(sc: &mut Script<'_>, t: i64, dport: u16) {
    let r = sc.bytes(|o| content::ntp(true, t, o));
    udp_answer(sc, t, S, 123, dport, r);
}

/// An NTP query to node 1 at `t`, answered when `answered`; returns the query's ordinal.
fn ntp_exchange(sc: &mut Script<'_>, client: &Client, t: i64, answered: bool) -> u32 {
    let sport = sc.ports.next(client.slot, &mut sc.rng);
    let q = sc.bytes(|o| content::ntp(false, t, o));
    let qo = sc.push(t, (C, S), 64, L4::Udp { sport, dport: 123 }, q);
    if answered {
        let rt = t + random_rtt(&mut sc.rng) + sc.rng.range(30, 300);
        ntp_answer(sc, rt, sport);
    }
    qo
}

/// `count` echo requests from node 0 to node 1, one a second, with replies when `reply`;
/// returns the first request's ordinal.
pub(super) fn ping(sc: &mut Script<'_>, v6: bool, count: u16, reply: bool) -> u32 {
    let id = sc.rng.below(65_536) as u16;
    let rtt = random_rtt(&mut sc.rng);
    let (req_ty, rep_ty) = if v6 { (128, 129) } else { (8, 0) };
    let mut first = None;
    for seq in 1..=count {
        let t = sc.t0 + i64::from(seq - 1) * 1_000_000 + sc.rng.range(0, 300);
        let data = sc.bytes(|o| content::ping_data(t, o));
        let rest = [(id >> 8) as u8, id as u8, (seq >> 8) as u8, seq as u8];
        let o = sc.push(t, (C, S), 64, icmp(req_ty, 0, rest), data);
        first.get_or_insert(o);
        if reply {
            sc.push(t + rtt, (S, C), 63, icmp(rep_ty, 0, rest), data);
        }
    }
    first.unwrap_or(0)
}
