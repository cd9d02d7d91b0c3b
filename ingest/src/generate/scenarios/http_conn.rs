//! Scripting an HTTP/1.1 connection: opening it, request/response exchanges (with what goes
//! wrong with each message) and single segments, shared by normal traffic and the error
//! scenarios.

use super::{proc_time, setup_client, tcp_conn, think};
use crate::generate::content::{Body, Request, Response};
use crate::generate::hosts::{self, Web};
use crate::generate::rng::Rng;
use crate::generate::script::Script;
use crate::generate::tcp::{CLIENT, MSS, Plan, SERVER, TcpConn};
use crate::generate::wire::Payload;

/// An HTTP connection being scripted.
pub(super) struct Http {
    /// The TCP connection.
    pub(super) tcp: TcpConn,
    /// The web server it goes to.
    pub(super) web: Web,
}

/// What goes wrong with one message of an exchange.
#[derive(Debug, Clone, Copy)]
pub(super) enum Twist {
    /// Nothing: every segment arrives.
    None,
    /// This many segments lost, each recovered by fast retransmission.
    Gaps(usize),
    /// The sender stops after this many segments (fewer if the message is shorter).
    Stop(u32),
    /// The last segment retransmitted after this many timeouts.
    TailRto(u32),
}

impl Twist {
    /// The TCP sending plan of a message of `len` bytes with this twist.
    pub(super) fn plan(self, rng: &mut Rng, len: u32) -> Plan {
        match self {
            Twist::None => Plan::default(),
            Twist::Gaps(n) => Plan::with_gaps(rng, len, n),
            Twist::Stop(k) => Plan::stop_after(k.min(len.div_ceil(MSS).saturating_sub(1))),
            Twist::TailRto(n) => Plan::tail_loss(n),
        }
    }
}

/// The flags of a segment carrying data: ACK and PSH.
pub(super) const PSH_ACK: u8 = crate::decode::tcp_flags::ACK | crate::decode::tcp_flags::PSH;

/// An HTTP connection from a random client to a random web server, not yet opened.
pub(super) fn http_conn(sc: &mut Script<'_>, v6: bool, rtt: Option<i64>) -> Http {
    let client = setup_client(sc, v6);
    let web = hosts::pick_web(&mut sc.rng, v6);
    let tcp = tcp_conn(sc, &client, web.node, web.port, rtt);
    Http { tcp, web }
}

/// Opens an HTTP connection from a random client; returns it and the time it can send.
pub(super) fn open_http(sc: &mut Script<'_>, v6: bool, rtt: Option<i64>) -> (Http, i64) {
    let mut h = http_conn(sc, v6, rtt);
    let t = h.tcp.handshake(sc, sc.t0);
    let t = t + h.tcp.react(&mut sc.rng, CLIENT);
    (h, t)
}

/// Opens an HTTP connection (over IPv6 15 % of the time); returns it and the time it can send.
pub(super) fn open_random_http(sc: &mut Script<'_>) -> (Http, i64) {
    let v6 = sc.rng.chance(150);
    open_http(sc, v6, None)
}

/// Opens an HTTP connection (see [`open_random_http`]) and makes `lo..=hi` ordinary exchanges
/// on it; returns it and the time after them.
pub(super) fn busy_http(sc: &mut Script<'_>, lo: u32, hi: u32) -> (Http, i64) {
    let (mut h, t) = open_random_http(sc);
    let n = sc.rng.range_u32(lo, hi);
    let t = plain_exchanges(sc, &mut h, t, n);
    (h, t)
}

/// One request/response exchange starting at `t`; returns the time of the client's last ACK
/// (or of the last segment written when a twist stops the response).
pub(super) fn exchange(
    sc: &mut Script<'_>,
    h: &mut Http,
    t: i64,
    req: Request,
    resp: Response,
    up: Twist,
    down: Twist,
) -> i64 {
    let web = h.web;
    let body = if req.post { Body::Json } else { Body::None };
    let (m, len) = sc.msg(
        |out, rng| req.head(web.host, web.port, rng, out),
        body,
        req.body_len,
    );
    let plan = up.plan(&mut sc.rng, len);
    let t = h.tcp.send(sc, CLIENT, t, m, len, &plan);
    let t = t + proc_time(&mut sc.rng);
    let (m, len) = response_msg(sc, &resp, t);
    let plan = down.plan(&mut sc.rng, len);
    h.tcp.send(sc, SERVER, t, m, len, &plan)
}

/// An [`exchange`] of a plain GET and `resp`, with `down` happening to the response.
pub(super) fn get_exchange(
    sc: &mut Script<'_>,
    h: &mut Http,
    t: i64,
    resp: Response,
    down: Twist,
) -> i64 {
    exchange(sc, h, t, Request::GET, resp, Twist::None, down)
}

/// `n` ordinary exchanges with think time after each; returns the time after the last.
pub(super) fn plain_exchanges(sc: &mut Script<'_>, h: &mut Http, mut t: i64, n: u32) -> i64 {
    for _ in 0..n {
        let req = Request::random(&mut sc.rng);
        let resp = Response::random(&mut sc.rng);
        t = exchange(sc, h, t, req, resp, Twist::None, Twist::None);
        t += think(&mut sc.rng);
    }
    t
}

/// A request on a fresh (or used) HTTP connection, written as one segment; returns its
/// ordinal and the time after the server's ACK.
pub(super) fn unanswered_request(sc: &mut Script<'_>, h: &mut Http, t: i64) -> (u32, i64) {
    let whole = get_request(sc, h.web);
    one_segment(sc, h, CLIENT, t, whole)
}

/// A GET request (head only) to `web`, as one payload.
pub(super) fn get_request(sc: &mut Script<'_>, web: Web) -> Payload {
    let (msg, len) = sc.msg(
        |out, rng| Request::GET.head(web.host, web.port, rng, out),
        Body::None,
        0,
    );
    Payload::Msg { msg, off: 0, len }
}

/// A pending request (see [`pending_request`], after earlier exchanges) and the time the
/// server acts on it, after its think time: the connection, the request's packet and that time.
pub(super) fn request_to_answer(sc: &mut Script<'_>) -> (Http, u32, i64) {
    let (h, o, t) = pending_request(sc, true);
    let t = t + proc_time(&mut sc.rng);
    (h, o, t)
}

/// The message of response `resp` (head dated `t`, then its body); its index and length.
pub(super) fn response_msg(sc: &mut Script<'_>, resp: &Response, t: i64) -> (u16, u32) {
    sc.msg(|out, _| resp.head(t, out), resp.body, resp.body_len)
}

/// The client closes the connection 1 ms to 0.5 s after `t`.
pub(super) fn client_closes_soon(sc: &mut Script<'_>, h: &mut Http, t: i64) {
    let d = sc.rng.range(1_000, 500_000);
    h.tcp.close(sc, CLIENT, t + d);
}

/// `payload` as one segment from `who` at `t`, then the peer's ACK of it; returns the
/// segment's ordinal and the time of the ACK.
pub(super) fn one_segment(
    sc: &mut Script<'_>,
    h: &mut Http,
    who: usize,
    t: i64,
    payload: Payload,
) -> (u32, i64) {
    let o = h.tcp.seg(sc, who, t, PSH_ACK, payload);
    let t1 = t + h.tcp.react(&mut sc.rng, 1 - who);
    h.tcp.ack_all_of(sc, who, t1);
    (o, t1)
}

/// An HTTP connection (after 0 to 2 answered exchanges when `earlier`) with a request the
/// server acknowledged and has not answered: the connection, the request's packet and the
/// time after it.
pub(super) fn pending_request(sc: &mut Script<'_>, earlier: bool) -> (Http, u32, i64) {
    let (mut h, t) = if earlier {
        busy_http(sc, 0, 2)
    } else {
        open_random_http(sc)
    };
    let (o, t) = unanswered_request(sc, &mut h, t);
    (h, o, t)
}
