//! Scenarios of TCP connection errors and packet loss: unanswered and refused SYNs, resets,
//! half-closed connections, idle unacknowledged data, loss gaps and retransmissions.

use super::http_conn::{
    Http, PSH_ACK, Twist, busy_http, client_closes_soon, exchange, get_exchange, get_request,
    open_http, open_random_http, plain_exchanges,
};
use super::{C, QUOTE_V4, R, icmp, setup_client, tcp_conn, tcp_draft};
use crate::generate::content::{Body, Request, Response};
use crate::generate::hosts;
use crate::generate::script::Script;
use crate::generate::tcp::{CLIENT, MSS, SERVER, TcpConn};
use crate::generate::truth::{Draft, Event};
use crate::generate::wire::{Node, Payload};

/// A TCP connection attempt from a random client to `target` at `port`.
fn attempt(sc: &mut Script<'_>, v6: bool, target: Node, port: u16) -> TcpConn {
    let client = setup_client(sc, v6);
    tcp_conn(sc, &client, target, port, None)
}

/// A SYN to a remote host, retransmitted twice and never answered.
pub(super) fn syn_no_answer(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let last = sc.rng.range(20, 99) as u16;
    let port = *sc.rng.pick(&[80, 443, 22, 8443, 5432]);
    let mut tcp = attempt(sc, v6, hosts::remote(v6, 3, last), port);
    let t0 = sc.t0;
    // The entry is stamped with the first SYN: when the failed attempt began.
    let o = tcp.syn(sc, t0);
    let j1 = sc.rng.range(0, 3_000);
    tcp.resyn(sc, t0 + 1_000_000 + j1);
    let j2 = sc.rng.range(0, 3_000);
    tcp.resyn(sc, t0 + 3_000_000 + j1 + j2);
    sc.needs_quiet = true;
    sc.draft(tcp_draft(Event::SynNoAnswer, o, "no-answer", &tcp));
}

/// A SYN to a closed port of a web server, refused by RST.
pub(super) fn syn_refused(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let web = hosts::pick_web(&mut sc.rng, v6);
    let port = *sc.rng.pick(&[8443, 5432, 6379, 9200, 3306]);
    let mut tcp = attempt(sc, v6, web.node, port);
    let t0 = sc.t0;
    tcp.syn(sc, t0);
    let t1 = t0 + tcp.react(&mut sc.rng, SERVER);
    let o = tcp.refuse(sc, t1);
    sc.draft(tcp_draft(Event::SynRefused, o, "refused", &tcp));
}

/// A connection reset by `by` (client or server) while the server sends a large response.
pub(super) fn reset(sc: &mut Script<'_>, by: usize) {
    let (mut h, t) = busy_http(sc, 0, 2);
    let segs = sc.rng.range_u32(8, 30);
    let resp = Response::large(&mut sc.rng, segs, MSS);
    let stop = sc.rng.range_u32(1, 6);
    let t = get_exchange(sc, &mut h, t, resp, Twist::Stop(stop));
    let (ev, reason, delay) = if by == CLIENT {
        (
            Event::ResetByOriginator,
            "rst-by-originator",
            h.tcp.react(&mut sc.rng, CLIENT),
        )
    } else {
        (
            Event::ResetByResponder,
            "rst-by-responder",
            sc.rng.range(30, 2_000),
        )
    };
    let o = h.tcp.rst(sc, by, t + delay);
    sc.draft(tcp_draft(ev, o, reason, &h.tcp));
}

/// One side sends FIN, the other acknowledges it and never closes its half.
pub(super) fn close_wait(sc: &mut Script<'_>) {
    let (mut h, t) = busy_http(sc, 1, 3);
    let (who, reason) = if sc.rng.chance(500) {
        (CLIENT, "fin-by-originator")
    } else {
        (SERVER, "fin-by-responder")
    };
    let o = h.tcp.fin(sc, who, t);
    let t1 = t + h.tcp.react(&mut sc.rng, 1 - who);
    h.tcp.ack_all_of(sc, who, t1);
    sc.needs_quiet = true;
    sc.draft(tcp_draft(Event::CloseWait, o, reason, &h.tcp));
}

/// Both sides send FIN and the final ACK never comes.
pub(super) fn last_ack(sc: &mut Script<'_>) {
    let (mut h, t) = busy_http(sc, 1, 3);
    let who = if sc.rng.chance(600) { CLIENT } else { SERVER };
    h.tcp.fin(sc, who, t);
    let t1 = t + h.tcp.react(&mut sc.rng, 1 - who);
    let o = h.tcp.fin_back(sc, who, t1);
    sc.needs_quiet = true;
    sc.draft(tcp_draft(Event::LastAck, o, "final-ack-missing", &h.tcp));
}

/// A request the server never acknowledges, then silence.
pub(super) fn idle_unacked(sc: &mut Script<'_>) {
    let (mut h, t) = busy_http(sc, 0, 2);
    let request = get_request(sc, h.web);
    let o = h.tcp.seg(sc, CLIENT, t, PSH_ACK, request);
    sc.needs_quiet = true;
    sc.draft(tcp_draft(
        Event::IdleUnacked,
        o,
        "unacked-data-idle",
        &h.tcp,
    ));
}

/// A large response with one or two segments lost and fast-retransmitted.
pub(super) fn loss_gap(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    // Fast retransmission needs the duplicate ACKs less than 20 ms before it: RTT < 15 ms.
    let rtt = sc.rng.range(1_000, 15_000);
    let (mut h, t) = open_http(sc, v6, Some(rtt));
    let before = sc.rng.range_u32(0, 1);
    let t = plain_exchanges(sc, &mut h, t, before);
    let segs = sc.rng.range_u32(14, 40);
    let resp = Response::large(&mut sc.rng, segs, MSS);
    let gaps = if sc.rng.chance(300) { 2 } else { 1 };
    let t = get_exchange(sc, &mut h, t, resp, Twist::Gaps(gaps));
    close_with_loss(sc, h, t, Event::LossGap, "gap-fast-retransmission");
}

/// A POST whose last segment is retransmitted after one or two timeouts.
pub(super) fn loss_retransmission(sc: &mut Script<'_>) {
    let (mut h, t) = open_random_http(sc);
    let body_len = sc.rng.range_u32(200, 20_000);
    let req = Request {
        post: true,
        body_len,
        close: false,
    };
    let resp = Response {
        status: 201,
        body: Body::Json,
        body_len: sc.rng.range_u32(40, 400),
        close: false,
    };
    let tries = if sc.rng.chance(250) { 2 } else { 1 };
    let t = exchange(sc, &mut h, t, req, resp, Twist::TailRto(tries), Twist::None);
    close_with_loss(sc, h, t, Event::LossRetransmission, "rto-retransmission");
}

/// The client closes the connection soon after `t`; the event is decided at its first lost
/// segment.
fn close_with_loss(sc: &mut Script<'_>, mut h: Http, t: i64, ev: Event, reason: &'static str) {
    client_closes_soon(sc, &mut h, t);
    if let Some(o) = h.tcp.first_loss {
        sc.draft(tcp_draft(ev, o, reason, &h.tcp));
    }
}

/// ICMPv4 time exceeded from a transit router, quoting a client's SYN that then goes
/// unanswered (two events: the ICMP message and the SynSent connection).
pub(super) fn syn_time_exceeded(sc: &mut Script<'_>) {
    let last = sc.rng.range(20, 99) as u16;
    let mut tcp = attempt(sc, false, hosts::remote(false, 2, last), 443);
    sc.set_node(R, hosts::remote(false, 255, 1));
    let t0 = sc.t0;
    let syn = tcp.syn(sc, t0);
    let t1 = t0 + sc.rng.range(2_000, 20_000);
    let quote = Payload::Quote {
        ord: syn,
        max: QUOTE_V4,
        ttl: Some(1),
    };
    let o = sc.push(t1, (R, C), 253, icmp(11, 0, [0; 4]), quote);
    sc.needs_quiet = true;
    sc.draft(Draft {
        related: Some(syn),
        ..Draft::new(Event::Icmp4TimeExceeded, o)
    });
    sc.draft(tcp_draft(Event::SynTimeExceeded, syn, "no-answer", &tcp));
}
