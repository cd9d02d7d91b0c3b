//! Scenarios of HTTP and DNS transaction errors: unanswered, cut, lost or reset requests and
//! responses, bodies that are not what they claim, and DNS queries without answers.

use std::io::Write as _;

use super::http_conn::{
    Http, Twist, busy_http, client_closes_soon, get_exchange, http_conn, one_segment,
    open_random_http, pending_request, plain_exchanges, request_to_answer, response_msg,
};
use super::normal::{dns_client, dns_query};
use super::{C, S, app_draft, proc_time, tcp_draft, think};
use crate::generate::content::{Dns, Response};
use crate::generate::hosts::Client;
use crate::generate::script::Script;
use crate::generate::tcp::{CLIENT, MSS, Plan, SERVER};
use crate::generate::truth::Event;
use crate::generate::wire::L4;

/// A request the server acknowledged and never answered; the client gives up and closes.
pub(super) fn http_no_response(sc: &mut Script<'_>) {
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

/// The capture's last conversation: a request the server acknowledged, then the capture ends.
pub(super) fn http_capture_ended(sc: &mut Script<'_>) {
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
pub(super) fn http_response_lost(sc: &mut Script<'_>) {
    let (mut h, _, t) = request_to_answer(sc);
    let len = sc.rng.range_u32(180, MSS);
    let o = h.tcp.uncaptured_then_acked(sc, SERVER, t, len);
    let t = h.tcp.last_ts(CLIENT) + think(&mut sc.rng);
    let resp = Response::random(&mut sc.rng);
    let t = get_exchange(sc, &mut h, t, resp, Twist::None);
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
    client_closes_soon(sc, &mut h, t);
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
pub(super) fn http_request_lost(sc: &mut Script<'_>) {
    let (mut h, t) = busy_http(sc, 0, 2);
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
    let (m, rlen) = response_msg(sc, &resp, t);
    let t = h.tcp.send(sc, SERVER, t, m, rlen, &Plan::default());
    after_missed_message(sc, h, t, Event::HttpRequestLost, o, "request-not-captured");
}

/// A request the server acknowledged, then a reset from the server instead of the response.
pub(super) fn http_request_reset(sc: &mut Script<'_>) {
    let (mut h, _, t) = request_to_answer(sc);
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
pub(super) fn http_bad_chunk(sc: &mut Script<'_>) {
    let (mut h, _, t) = request_to_answer(sc);
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
pub(super) fn http_mid_stream(sc: &mut Script<'_>) {
    let v6 = sc.rng.chance(150);
    let mut h = http_conn(sc, v6, None);
    let (sent, received) = (sc.rng.range_u32(300, 4_000), sc.rng.range_u32(500, 60_000));
    h.tcp.established_earlier(sent, received);
    let t = sc.t0;
    let resp = Response::random(&mut sc.rng);
    let (m, len) = response_msg(sc, &resp, t);
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

/// A large response the server stops sending after a few segments, then closes.
pub(super) fn http_response_cut(sc: &mut Script<'_>) {
    let (mut h, o, t) = request_to_answer(sc);
    let segs = sc.rng.range_u32(8, 30);
    let resp = Response::large(&mut sc.rng, segs, MSS);
    let (m, len) = response_msg(sc, &resp, t);
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

/// A client speaking TLS to an HTTP port; the server closes.
pub(super) fn http_not_http(sc: &mut Script<'_>) {
    let (mut h, t) = open_random_http(sc);
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

/// A DNS query never answered, then silence.
pub(super) fn dns_no_response(sc: &mut Script<'_>) {
    let client = random_dns_client(sc);
    let t0 = sc.t0;
    let (o, _, _) = dns_query(sc, &client, S, t0);
    sc.needs_quiet = true;
    sc.draft(app_draft(Event::DnsNoResponse, o, "unanswered-idle", None));
}

/// A DNS response no query asked for.
pub(super) fn dns_unsolicited(sc: &mut Script<'_>) {
    let client = random_dns_client(sc);
    let d = Dns::random(&mut sc.rng);
    let dport = sc.ports.next(client.slot, &mut sc.rng);
    let r = sc.bytes(|o| d.response(o));
    let t0 = sc.t0;
    let o = sc.push(t0, (S, C), 63, L4::Udp { sport: 53, dport }, r);
    sc.draft(app_draft(Event::DnsUnsolicited, o, "no-query", None));
}

/// A datagram to port 53 too short to be DNS.
pub(super) fn dns_malformed(sc: &mut Script<'_>) {
    let client = random_dns_client(sc);
    let sport = sc.ports.next(client.slot, &mut sc.rng);
    // 1 to 11 bytes: less than the 12-byte header every DNS message starts with.
    let n = sc.rng.range_u32(1, 11) as usize;
    let junk = sc.bytes(|o| o.extend((0..n).map(|i| (i * 91 % 251) as u8)));
    let t0 = sc.t0;
    let o = sc.push(t0, (C, S), 64, L4::Udp { sport, dport: 53 }, junk);
    sc.draft(app_draft(Event::DnsMalformed, o, "short-datagram", None));
}

/// A random client (over IPv6 15 % of the time) and its resolver, see [`dns_client`].
fn random_dns_client(sc: &mut Script<'_>) -> Client {
    let v6 = sc.rng.chance(150);
    dns_client(sc, v6)
}
