//! The conversations the generator writes: normal traffic (HTTP/1.1 over TCP, DNS, NTP, ping)
//! and one scenario per injected [`Event`], each recording its truth draft.

use std::io::Write as _;

use super::content::{self, Body, Dns, Request, Response};
use super::hosts::{self, Client, ROUTER_MAC, ROUTER2_MAC, Web};
use super::rng::Rng;
use super::script::Script;
use super::tcp::{CLIENT, MSS, Plan, SERVER, TcpConn};
use super::truth::{Draft, Event};
use super::wire::{BAD_V4_OPTION_POINTER, IpExtra, L4, Node, Payload, UNKNOWN_HBH_POINTER};

/// Node index of the client (originator).
const C: u8 = 0;
/// Node index of the server or target.
const S: u8 = 1;
/// Node index of a router or second server.
const R: u8 = 2;

/// Longest ICMPv4 quote (RFC 1812: the error stays within 576 bytes).
const QUOTE_V4: u16 = 548;
/// Longest ICMPv6 quote (the error stays within the minimum MTU, 1280 bytes).
const QUOTE_V6: u16 = 1232;

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
            let client = setup_client(sc, v6);
            sc.set_node(S, hosts::resolver(v6));
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

/// Writes the conversation of an injected event (and its truth drafts).
pub(crate) fn event(sc: &mut Script<'_>, ev: Event) {
    match ev {
        Event::SynNoAnswer => syn_no_answer(sc),
        Event::SynRefused => syn_refused(sc),
        Event::ResetByOriginator => reset(sc, CLIENT),
        Event::ResetByResponder => reset(sc, SERVER),
        Event::CloseWait => close_wait(sc),
        Event::LastAck => last_ack(sc),
        Event::IdleUnacked => idle_unacked(sc),
        Event::LossGap => loss_gap(sc),
        Event::LossRetransmission => loss_retransmission(sc),
        Event::Icmp4TimeExceeded | Event::SynTimeExceeded => syn_time_exceeded(sc),
        Event::Icmp4RouterAdvertisement => router_advertisement(sc, false),
        Event::Icmp6RouterAdvertisement => router_advertisement(sc, true),
        Event::Icmp4RouterSolicitation => router_solicitation(sc, false),
        Event::Icmp6RouterSolicitation => router_solicitation(sc, true),
        Event::Icmp6Redirect => redirect_v6(sc),
        Event::EchoNoReply => echo_no_reply(sc),
        Event::HttpNoResponse => http_no_response(sc),
        Event::HttpResponseCut => http_response_cut(sc),
        Event::HttpNotHttp => http_not_http(sc),
        Event::DnsNoResponse => dns_no_response(sc),
        Event::DnsUnsolicited => dns_unsolicited(sc),
        Event::DnsMalformed => dns_malformed(sc),
        Event::HttpCaptureEnded => http_capture_ended(sc),
        Event::HttpResponseLost => http_response_lost(sc),
        Event::HttpBadChunk => http_bad_chunk(sc),
        Event::HttpRequestReset => http_request_reset(sc),
        Event::HttpRequestLost => http_request_lost(sc),
        Event::HttpMidStream => http_mid_stream(sc),
        Event::Icmp4PortUnreachable
        | Event::Icmp6PortUnreachable
        | Event::Icmp4HostUnreachable
        | Event::Icmp4FragNeeded
        | Event::Icmp6PacketTooBig
        | Event::Icmp4Redirect
        | Event::Icmp4SourceQuench
        | Event::Icmp4ParameterProblem
        | Event::Icmp6ParameterProblem
        | Event::Icmp6TimeExceeded => udp_icmp_error(sc, ev),
    }
}

fn random_rtt(rng: &mut Rng) -> i64 {
    match rng.weighted(&[40, 35, 25]) {
        0 => rng.range(200, 2_000),
        1 => rng.range(2_000, 15_000),
        _ => rng.range(15_000, 50_000),
    }
}

fn server_ttl(rng: &mut Rng) -> u8 {
    if rng.chance(800) { 63 } else { 127 }
}

/// Server think time before a response.
fn proc_time(rng: &mut Rng) -> i64 {
    match rng.weighted(&[70, 25, 5]) {
        0 => rng.range(100, 2_000),
        1 => rng.range(2_000, 30_000),
        _ => rng.range(30_000, 250_000),
    }
}

/// Client think time between requests on a keep-alive connection.
fn think(rng: &mut Rng) -> i64 {
    rng.range(5_000, 1_500_000)
}

fn icmp(ty: u8, code: u8, rest: [u8; 4]) -> L4 {
    L4::Icmp { ty, code, rest }
}

fn setup_client(sc: &mut Script<'_>, v6: bool) -> Client {
    let client = hosts::pick_client(&mut sc.rng, v6);
    sc.set_node(C, client.node);
    sc.conv.vlan = client.vlan;
    client
}

/// An HTTP connection being scripted.
struct Http {
    tcp: TcpConn,
    web: Web,
}

/// What goes wrong with one message of an exchange.
#[derive(Debug, Clone, Copy)]
enum Twist {
    None,
    Gaps(usize),
    Stop(u32),
    TailRto(u32),
}

impl Twist {
    fn plan(self, rng: &mut Rng, len: u32) -> Plan {
        match self {
            Twist::None => Plan::default(),
            Twist::Gaps(n) => Plan::with_gaps(rng, len, n),
            Twist::Stop(k) => Plan::stop_after(k.min(len.div_ceil(MSS).saturating_sub(1))),
            Twist::TailRto(n) => Plan::tail_loss(n),
        }
    }
}

/// An HTTP connection from a random client to a random web server, not yet opened.
fn http_conn(sc: &mut Script<'_>, v6: bool, rtt: Option<i64>) -> Http {
    let client = setup_client(sc, v6);
    let web = hosts::pick_web(&mut sc.rng, v6);
    sc.set_node(S, web.node);
    let cport = sc.ports.next(client.slot, &mut sc.rng);
    let rtt = rtt.unwrap_or_else(|| random_rtt(&mut sc.rng));
    let ttl = server_ttl(&mut sc.rng);
    let tcp = TcpConn::new(&mut sc.rng, cport, web.port, rtt, ttl);
    Http { tcp, web }
}

/// Opens an HTTP connection from a random client; returns it and the time it can send.
fn open_http(sc: &mut Script<'_>, v6: bool, rtt: Option<i64>) -> (Http, i64) {
    let mut h = http_conn(sc, v6, rtt);
    let t = h.tcp.handshake(sc, sc.t0);
    let t = t + h.tcp.react(&mut sc.rng, CLIENT);
    (h, t)
}

/// One request/response exchange starting at `t`; returns the time of the client's last ACK
/// (or of the last segment written when a twist stops the response).
fn exchange(
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
    let (m, len) = sc.msg(|out, _| resp.head(t, out), resp.body, resp.body_len);
    let plan = down.plan(&mut sc.rng, len);
    h.tcp.send(sc, SERVER, t, m, len, &plan)
}

/// `n` ordinary exchanges with think time after each; returns the time after the last.
fn plain_exchanges(sc: &mut Script<'_>, h: &mut Http, mut t: i64, n: u32) -> i64 {
    for _ in 0..n {
        let req = Request::random(&mut sc.rng);
        let resp = Response::random(&mut sc.rng);
        t = exchange(sc, h, t, req, resp, Twist::None, Twist::None);
        t += think(&mut sc.rng);
    }
    t
}

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
fn lookup(sc: &mut Script<'_>, client: &Client, server: u8, t: i64) -> u32 {
    let d = Dns::random(&mut sc.rng);
    let sport = sc.ports.next(client.slot, &mut sc.rng);
    let q = sc.bytes(|o| d.query(o));
    let qo = sc.push(t, (C, server), 64, L4::Udp { sport, dport: 53 }, q);
    let rt = t + random_rtt(&mut sc.rng) + proc_time(&mut sc.rng) / 4;
    let r = sc.bytes(|o| d.response(o));
    sc.push(
        rt,
        (server, C),
        63,
        L4::Udp {
            sport: 53,
            dport: sport,
        },
        r,
    );
    qo
}

/// An NTP query to node 1 at `t`, answered when `answered`; returns the query's ordinal.
fn ntp_exchange(sc: &mut Script<'_>, client: &Client, t: i64, answered: bool) -> u32 {
    let sport = sc.ports.next(client.slot, &mut sc.rng);
    let q = sc.bytes(|o| content::ntp(false, t, o));
    let qo = sc.push(t, (C, S), 64, L4::Udp { sport, dport: 123 }, q);
    if answered {
        let rt = t + random_rtt(&mut sc.rng) + sc.rng.range(30, 300);
        let r = sc.bytes(|o| content::ntp(true, rt, o));
        sc.push(
            rt,
            (S, C),
            63,
            L4::Udp {
                sport: 123,
                dport: sport,
            },
            r,
        );
    }
    qo
}

/// `count` echo requests from node 0 to node 1, one a second, with replies when `reply`;
/// returns the first request's ordinal.
fn ping(sc: &mut Script<'_>, v6: bool, count: u16, reply: bool) -> u32 {
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

fn tcp_draft(ev: Event, decisive: u32, reason: &'static str, tcp: &TcpConn) -> Draft {
    Draft {
        reason: Some(reason),
        counters: Some(tcp.counters),
        ..Draft::new(ev, decisive)
    }
}

/// A TCP connection attempt from a random client to node 1 at `port`.
fn attempt(sc: &mut Script<'_>, v6: bool, target: Node, port: u16) -> TcpConn {
    let client = setup_client(sc, v6);
    sc.set_node(S, target);
    let cport = sc.ports.next(client.slot, &mut sc.rng);
    let rtt = random_rtt(&mut sc.rng);
    let ttl = server_ttl(&mut sc.rng);
    TcpConn::new(&mut sc.rng, cport, port, rtt, ttl)
}

fn syn_no_answer(sc: &mut Script<'_>) {
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

fn syn_refused(sc: &mut Script<'_>) {
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

fn reset(sc: &mut Script<'_>, by: usize) {
    let v6 = sc.rng.chance(150);
    let (mut h, t) = open_http(sc, v6, None);
    let before = sc.rng.range_u32(0, 2);
    let t = plain_exchanges(sc, &mut h, t, before);
    let req = Request {
        post: false,
        body_len: 0,
        close: false,
    };
    let segs = sc.rng.range_u32(8, 30);
    let resp = Response::large(&mut sc.rng, segs, MSS);
    let stop = sc.rng.range_u32(1, 6);
    let t = exchange(sc, &mut h, t, req, resp, Twist::None, Twist::Stop(stop));
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

fn close_wait(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let (mut h, t) = open_http(sc, v6, None);
    let n = sc.rng.range_u32(1, 3);
    let t = plain_exchanges(sc, &mut h, t, n);
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

fn last_ack(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let (mut h, t) = open_http(sc, v6, None);
    let n = sc.rng.range_u32(1, 3);
    let t = plain_exchanges(sc, &mut h, t, n);
    let who = if sc.rng.chance(600) { CLIENT } else { SERVER };
    h.tcp.fin(sc, who, t);
    let t1 = t + h.tcp.react(&mut sc.rng, 1 - who);
    let o = h.tcp.fin_back(sc, who, t1);
    sc.needs_quiet = true;
    sc.draft(tcp_draft(Event::LastAck, o, "final-ack-missing", &h.tcp));
}

fn idle_unacked(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let (mut h, t) = open_http(sc, v6, None);
    let n = sc.rng.range_u32(0, 2);
    let t = plain_exchanges(sc, &mut h, t, n);
    let web = h.web;
    let req = Request {
        post: false,
        body_len: 0,
        close: false,
    };
    let (m, len) = sc.msg(
        |out, rng| req.head(web.host, web.port, rng, out),
        Body::None,
        0,
    );
    let o = h.tcp.seg(
        sc,
        CLIENT,
        t,
        crate::decode::tcp_flags::ACK | crate::decode::tcp_flags::PSH,
        Payload::Msg {
            msg: m,
            off: 0,
            len,
        },
    );
    sc.needs_quiet = true;
    sc.draft(tcp_draft(
        Event::IdleUnacked,
        o,
        "unacked-data-idle",
        &h.tcp,
    ));
}

fn loss_gap(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    // Fast retransmission needs the duplicate ACKs less than 20 ms before it: RTT < 15 ms.
    let rtt = sc.rng.range(1_000, 15_000);
    let (mut h, t) = open_http(sc, v6, Some(rtt));
    let before = sc.rng.range_u32(0, 1);
    let t = plain_exchanges(sc, &mut h, t, before);
    let req = Request {
        post: false,
        body_len: 0,
        close: false,
    };
    let segs = sc.rng.range_u32(14, 40);
    let resp = Response::large(&mut sc.rng, segs, MSS);
    let gaps = if sc.rng.chance(300) { 2 } else { 1 };
    let t = exchange(sc, &mut h, t, req, resp, Twist::None, Twist::Gaps(gaps));
    let d = sc.rng.range(1_000, 500_000);
    h.tcp.close(sc, CLIENT, t + d);
    if let Some(o) = h.tcp.first_loss {
        sc.draft(tcp_draft(
            Event::LossGap,
            o,
            "gap-fast-retransmission",
            &h.tcp,
        ));
    }
}

fn loss_retransmission(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let (mut h, t) = open_http(sc, v6, None);
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
    let d = sc.rng.range(1_000, 500_000);
    h.tcp.close(sc, CLIENT, t + d);
    if let Some(o) = h.tcp.first_loss {
        sc.draft(tcp_draft(
            Event::LossRetransmission,
            o,
            "rto-retransmission",
            &h.tcp,
        ));
    }
}

/// ICMPv4 time exceeded from a transit router, quoting a client's SYN that then goes
/// unanswered (two events: the ICMP message and the SynSent connection).
fn syn_time_exceeded(sc: &mut Script<'_>) {
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

/// How one UDP-triggered ICMP error is staged.
struct UdpError {
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
            let spi = sc.rng.next_u64() as u32;
            let (m, total) = sc.msg(|o, _| esp_head(o, spi, 1), Body::Opaque, len - 8);
            Payload::Msg {
                msg: m,
                off: 0,
                len: total,
            }
        }
        _ => sc.bytes(|o| o.extend_from_slice(&[0u8; 32])),
    }
}

fn esp_head(out: &mut Vec<u8>, spi: u32, seq: u32) {
    out.extend_from_slice(&spi.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
}

/// A UDP datagram from a client and the ICMP error it draws, plus what follows it.
fn udp_icmp_error(sc: &mut Script<'_>, ev: Event) {
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

fn redirect_gateway(client: &Client) -> [u8; 4] {
    match client.second_router().ip {
        std::net::IpAddr::V4(a) => a.octets(),
        std::net::IpAddr::V6(_) => [0; 4],
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
                let spi = sc.rng.next_u64() as u32;
                let (m, len) = sc.msg(|o, _| esp_head(o, spi, seq), Body::Opaque, mtu - hdr - 8);
                sc.push(
                    t,
                    (C, S),
                    64,
                    L4::Udp { sport, dport: 4500 },
                    Payload::Msg {
                        msg: m,
                        off: 0,
                        len,
                    },
                );
                t += sc.rng.range(200, 5_000);
            }
        }
        Event::Icmp4Redirect => {
            let rt = te + random_rtt(&mut sc.rng);
            let r = sc.bytes(|o| content::ntp(true, rt, o));
            sc.push(
                rt,
                (S, C),
                63,
                L4::Udp {
                    sport: 123,
                    dport: sport,
                },
                r,
            );
        }
        _ => {}
    }
}

fn router_advertisement(sc: &mut Script<'_>, v6: bool) {
    let client = hosts::pick_client(&mut sc.rng, v6);
    sc.conv.vlan = client.vlan;
    let t0 = sc.t0;
    let o = if v6 {
        sc.set_node(C, hosts::router_link_local());
        sc.set_node(S, hosts::multicast(true, true));
        let body = sc.bytes(|o| content::router_advert_v6(ROUTER_MAC, o));
        sc.push(t0, (C, S), 255, icmp(134, 0, [64, 0, 0x07, 0x08]), body)
    } else {
        sc.set_node(C, client.gateway);
        sc.set_node(S, hosts::multicast(false, true));
        let router = match client.gateway.ip {
            std::net::IpAddr::V4(a) => a.octets(),
            std::net::IpAddr::V6(_) => [0; 4],
        };
        let body = sc.bytes(|o| content::router_advert_v4(router, o));
        sc.push(t0, (C, S), 1, icmp(9, 0, [1, 2, 0x07, 0x08]), body)
    };
    sc.draft(Draft::new(
        if v6 {
            Event::Icmp6RouterAdvertisement
        } else {
            Event::Icmp4RouterAdvertisement
        },
        o,
    ));
}

fn router_solicitation(sc: &mut Script<'_>, v6: bool) {
    let client = hosts::pick_client(&mut sc.rng, v6);
    sc.conv.vlan = client.vlan;
    let t0 = sc.t0;
    let o = if v6 {
        sc.set_node(C, client.link_local());
        sc.set_node(S, hosts::multicast(true, false));
        let body = sc.bytes(|o| content::lladdr_option(false, client.node.mac, o));
        sc.push(t0, (C, S), 255, icmp(133, 0, [0; 4]), body)
    } else {
        sc.set_node(C, client.node);
        sc.set_node(S, hosts::multicast(false, false));
        sc.push(t0, (C, S), 1, icmp(10, 0, [0; 4]), Payload::Empty)
    };
    sc.draft(Draft::new(
        if v6 {
            Event::Icmp6RouterSolicitation
        } else {
            Event::Icmp4RouterSolicitation
        },
        o,
    ));
}

/// A DNS lookup over IPv6 that makes the router send a redirect to a better first hop.
fn redirect_v6(sc: &mut Script<'_>) {
    let client = setup_client(sc, true);
    sc.set_node(S, hosts::resolver(true));
    sc.set_node(R, hosts::router_link_local());
    let t0 = sc.t0;
    lookup(sc, &client, S, t0);
    let te = t0 + sc.rng.range(80, 400);
    let target = client.second_router();
    let dst = hosts::resolver(true);
    let body = sc.bytes(|o| {
        if let (std::net::IpAddr::V6(t), std::net::IpAddr::V6(d)) = (target.ip, dst.ip) {
            o.extend_from_slice(&t.octets());
            o.extend_from_slice(&d.octets());
        }
        content::lladdr_option(true, ROUTER2_MAC, o);
    });
    let o = sc.push(te, (R, C), 255, icmp(137, 0, [0; 4]), body);
    sc.draft(Draft::new(Event::Icmp6Redirect, o));
}

fn echo_no_reply(sc: &mut Script<'_>) {
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

/// A request on a fresh (or used) HTTP connection, written as one segment; returns its
/// ordinal and the time after the server's ACK.
fn unanswered_request(sc: &mut Script<'_>, h: &mut Http, t: i64) -> (u32, i64) {
    let web = h.web;
    let req = Request {
        post: false,
        body_len: 0,
        close: false,
    };
    let (m, len) = sc.msg(
        |out, rng| req.head(web.host, web.port, rng, out),
        Body::None,
        0,
    );
    let whole = Payload::Msg {
        msg: m,
        off: 0,
        len,
    };
    one_segment(sc, h, CLIENT, t, whole)
}

/// `payload` as one segment from `who` at `t`, then the peer's ACK of it; returns the
/// segment's ordinal and the time of the ACK.
fn one_segment(
    sc: &mut Script<'_>,
    h: &mut Http,
    who: usize,
    t: i64,
    payload: Payload,
) -> (u32, i64) {
    let flags = crate::decode::tcp_flags::ACK | crate::decode::tcp_flags::PSH;
    let o = h.tcp.seg(sc, who, t, flags, payload);
    let t1 = t + h.tcp.react(&mut sc.rng, 1 - who);
    h.tcp.ack_all_of(sc, who, t1);
    (o, t1)
}

fn app_draft(ev: Event, decisive: u32, reason: &'static str, tcp: Option<&TcpConn>) -> Draft {
    Draft {
        reason: Some(reason),
        counters: tcp.map(|t| t.counters),
        ..Draft::new(ev, decisive)
    }
}

fn http_no_response(sc: &mut Script<'_>) {
    let (mut h, o, t) = pending_request(sc, true);
    let give_up = sc.rng.range(1_000_000, 5_000_000);
    h.tcp.close(sc, CLIENT, t + give_up);
    sc.draft(app_draft(
        Event::HttpNoResponse,
        o,
        "client-closed-unanswered",
        Some(&h.tcp),
    ));
}

/// An HTTP connection (after 0 to 2 answered exchanges when `earlier`) with a request the
/// server acknowledged and has not answered: the connection, the request's packet and the
/// time after it.
fn pending_request(sc: &mut Script<'_>, earlier: bool) -> (Http, u32, i64) {
    let v6 = sc.rng.chance(150);
    let (mut h, mut t) = open_http(sc, v6, None);
    if earlier {
        let n = sc.rng.range_u32(0, 2);
        t = plain_exchanges(sc, &mut h, t, n);
    }
    let (o, t) = unanswered_request(sc, &mut h, t);
    (h, o, t)
}

/// The capture's last conversation: a request the server acknowledged, then the capture ends.
fn http_capture_ended(sc: &mut Script<'_>) {
    let (h, o, _) = pending_request(sc, false);
    sc.draft(app_draft(
        Event::HttpCaptureEnded,
        o,
        "open-at-end",
        Some(&h.tcp),
    ));
}

/// A keep-alive connection on which the capture missed the whole response to one request
/// (the client received and acknowledged it), followed by an ordinary exchange.
///
/// tshark's counts, packet by packet: the client's delayed ACK of the missed bytes is "ACKed
/// segment that wasn't captured"; the next request repeats that ACK number and is not flagged
/// again (the server sent nothing since); the server's ACK of it starts beyond the highest
/// sequence seen, "previous segment not captured"; tshark's highest sequence to be ACKed stays
/// at the start of the hole until the client's first ACK of the next response, flagged once
/// more. Hence 1 lost segment and 2 ACKed-unseen segments.
fn http_response_lost(sc: &mut Script<'_>) {
    let (mut h, _, t) = pending_request(sc, true);
    let t = t + proc_time(&mut sc.rng);
    let len = sc.rng.range_u32(180, MSS);
    let o = h.tcp.uncaptured_then_acked(sc, SERVER, t, len);
    let t = h.tcp.last_ts(CLIENT) + think(&mut sc.rng);
    let get = Request {
        post: false,
        body_len: 0,
        close: false,
    };
    let resp = Response::random(&mut sc.rng);
    let t = exchange(sc, &mut h, t, get, resp, Twist::None, Twist::None);
    after_missed_message(
        sc,
        h,
        t,
        Event::HttpResponseLost,
        o,
        "response-not-captured",
    );
}

/// The end of a connection on which the capture missed a whole message, once the next message
/// went the other way (see `http_response_lost`): tshark's lost segment and second ACKed-unseen
/// segment, the client's close, and the event, decided at packet `o`.
fn after_missed_message(
    sc: &mut Script<'_>,
    mut h: Http,
    t: i64,
    ev: Event,
    o: u32,
    reason: &'static str,
) {
    h.tcp.counters.lost_segments += 1;
    h.tcp.counters.ack_lost_segments += 1;
    let d = sc.rng.range(1_000, 500_000);
    h.tcp.close(sc, CLIENT, t + d);
    sc.draft(tcp_draft(ev, o, reason, &h.tcp));
}

/// A keep-alive connection on which the capture missed a whole request: the server received
/// it and acknowledged it, with a delayed pure ACK or in its response, which the capture has.
///
/// tshark's counts mirror those of `http_response_lost`: the server's first packet
/// acknowledging the missed bytes is "ACKed segment that wasn't captured" (later ones repeat
/// its ACK number while the client sent nothing new, and are not flagged); the client's first
/// packet after it starts beyond the highest sequence seen, "previous segment not captured";
/// and the server's next packet is flagged once more, tshark's highest sequence to be ACKed
/// having stayed before the hole. Hence 1 lost segment and 2 ACKed-unseen segments.
fn http_request_lost(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let (mut h, t) = open_http(sc, v6, None);
    let before = sc.rng.range_u32(0, 2);
    let t = plain_exchanges(sc, &mut h, t, before);
    let len = sc.rng.range_u32(150, 900);
    let (o, t) = if sc.rng.chance(500) {
        let o = h.tcp.uncaptured_then_acked(sc, CLIENT, t, len);
        (o, h.tcp.last_ts(SERVER) + proc_time(&mut sc.rng))
    } else {
        h.tcp.uncaptured(CLIENT, len);
        h.tcp.counters.ack_lost_segments += 1;
        let o = sc.next_ord();
        h.tcp.first_loss.get_or_insert(o);
        (
            o,
            t + h.tcp.react(&mut sc.rng, SERVER) + proc_time(&mut sc.rng),
        )
    };
    let resp = Response::random(&mut sc.rng);
    let (m, rlen) = sc.msg(|out, _| resp.head(t, out), resp.body, resp.body_len);
    let t = h.tcp.send(sc, SERVER, t, m, rlen, &Plan::default());
    after_missed_message(sc, h, t, Event::HttpRequestLost, o, "request-not-captured");
}

/// A request the server acknowledged, then a reset from the server instead of the response.
fn http_request_reset(sc: &mut Script<'_>) {
    let (mut h, _, t) = pending_request(sc, true);
    let t = t + proc_time(&mut sc.rng);
    let o = h.tcp.rst(sc, SERVER, t);
    sc.draft(tcp_draft(
        Event::HttpRequestReset,
        o,
        "rst-by-responder",
        &h.tcp,
    ));
}

/// A response announcing chunked encoding whose body is not chunked (a CGI script behind a
/// server that adds the header), then the server closes.
fn http_bad_chunk(sc: &mut Script<'_>) {
    let (mut h, _, t) = pending_request(sc, true);
    let t = t + proc_time(&mut sc.rng);
    let n = sc.rng.range_u32(2, 12) as usize;
    let resp = sc.bytes(|o| {
        o.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nServer: legacy-cgi/1.2\r\nContent-Type: text/html\r\n\
              Transfer-Encoding: chunked\r\n\r\n<html><body><ul>",
        );
        for i in 0..n {
            let _ = write!(o, "<li>item {i}</li>");
        }
        o.extend_from_slice(b"</ul></body></html>\n");
    });
    let (o, t1) = one_segment(sc, &mut h, SERVER, t, resp);
    let d = sc.rng.range(50, 2_000);
    h.tcp.close(sc, SERVER, t1 + d);
    sc.draft(app_draft(
        Event::HttpBadChunk,
        o,
        "body-not-chunked",
        Some(&h.tcp),
    ));
}

/// The capture's first conversation: a keep-alive connection opened before the capture
/// began, whose first captured packet is the response to a request sent before it; one more
/// exchange follows, then the client closes.
fn http_mid_stream(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let mut h = http_conn(sc, v6, None);
    let (sent, received) = (sc.rng.range_u32(300, 4_000), sc.rng.range_u32(500, 60_000));
    h.tcp.established_earlier(sent, received);
    let t = sc.t0;
    let resp = Response::random(&mut sc.rng);
    let (m, len) = sc.msg(|out, _| resp.head(t, out), resp.body, resp.body_len);
    let o = sc.next_ord();
    h.tcp.send(sc, SERVER, t, m, len, &Plan::default());
    let t = h.tcp.last_ts(CLIENT) + think(&mut sc.rng);
    let t = plain_exchanges(sc, &mut h, t, 1);
    h.tcp.close(sc, CLIENT, t);
    sc.draft(app_draft(
        Event::HttpMidStream,
        o,
        "capture-began-mid-stream",
        Some(&h.tcp),
    ));
}

fn http_response_cut(sc: &mut Script<'_>) {
    let (mut h, o, t) = pending_request(sc, true);
    let t = t + proc_time(&mut sc.rng);
    let segs = sc.rng.range_u32(8, 30);
    let resp = Response::large(&mut sc.rng, segs, MSS);
    let (m, len) = sc.msg(|out, _| resp.head(t, out), resp.body, resp.body_len);
    let stop = sc.rng.range_u32(1, 6);
    let plan = Twist::Stop(stop).plan(&mut sc.rng, len);
    let t = h.tcp.send(sc, SERVER, t, m, len, &plan);
    let d = sc.rng.range(30, 500);
    h.tcp.close(sc, SERVER, t + d);
    sc.draft(app_draft(
        Event::HttpResponseCut,
        o,
        "server-closed-mid-body",
        Some(&h.tcp),
    ));
}

fn http_not_http(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let (mut h, t) = open_http(sc, v6, None);
    // A TLS ClientHello's first bytes: what a client speaking TLS to port 80 sends.
    let n = sc.rng.range_u32(40, 200) as usize;
    let hello = sc.bytes(|o| {
        o.extend_from_slice(&[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ]);
        o.extend((0..n).map(|i| (i * 37 % 251) as u8));
    });
    let (o, t1) = one_segment(sc, &mut h, CLIENT, t, hello);
    let d = sc.rng.range(100, 2_000);
    h.tcp.close(sc, SERVER, t1 + d);
    sc.draft(app_draft(Event::HttpNotHttp, o, "not-http", Some(&h.tcp)));
}

fn dns_no_response(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let client = setup_client(sc, v6);
    sc.set_node(S, hosts::resolver(v6));
    let d = Dns::random(&mut sc.rng);
    let sport = sc.ports.next(client.slot, &mut sc.rng);
    let q = sc.bytes(|o| d.query(o));
    let t0 = sc.t0;
    let o = sc.push(t0, (C, S), 64, L4::Udp { sport, dport: 53 }, q);
    sc.needs_quiet = true;
    sc.draft(app_draft(Event::DnsNoResponse, o, "unanswered-idle", None));
}

fn dns_unsolicited(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let client = setup_client(sc, v6);
    sc.set_node(S, hosts::resolver(v6));
    let d = Dns::random(&mut sc.rng);
    let dport = sc.ports.next(client.slot, &mut sc.rng);
    let r = sc.bytes(|o| d.response(o));
    let t0 = sc.t0;
    let o = sc.push(t0, (S, C), 63, L4::Udp { sport: 53, dport }, r);
    sc.draft(app_draft(Event::DnsUnsolicited, o, "no-query", None));
}

fn dns_malformed(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let client = setup_client(sc, v6);
    sc.set_node(S, hosts::resolver(v6));
    let sport = sc.ports.next(client.slot, &mut sc.rng);
    // 1 to 11 bytes: less than the 12-byte header every DNS message starts with.
    let n = sc.rng.range_u32(1, 11) as usize;
    let junk = sc.bytes(|o| o.extend((0..n).map(|i| (i * 91 % 251) as u8)));
    let t0 = sc.t0;
    let o = sc.push(t0, (C, S), 64, L4::Udp { sport, dport: 53 }, junk);
    sc.draft(app_draft(Event::DnsMalformed, o, "short-datagram", None));
}
