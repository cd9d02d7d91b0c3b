//! The conversations the generator writes: normal traffic (HTTP/1.1 over TCP, DNS, NTP, ping)
//! and one scenario per injected [`Event`], each recording its truth draft.
//!
//! [`normal`] holds the error-free conversations, [`http_conn`] the scripting of HTTP
//! connections they and the error scenarios share, and [`tcp_errors`], [`icmp_errors`] and
//! [`app_errors`] one scenario per event of each family. This module dispatches an event to its
//! scenario and holds the timing and drafting helpers all of them use.

mod app_errors;
mod http_conn;
mod icmp_errors;
mod normal;
mod tcp_errors;

pub(crate) use normal::{NORMAL_MIX, Normal, normal};

use super::hosts::{self, Client};
use super::rng::Rng;
use super::script::Script;
use super::tcp::{CLIENT, SERVER, TcpConn};
use super::truth::{Draft, Event};
use super::wire::{L4, Node};
use app_errors::{
    dns_malformed, dns_no_response, dns_unsolicited, http_bad_chunk, http_capture_ended,
    http_mid_stream, http_no_response, http_not_http, http_request_lost, http_request_reset,
    http_response_cut, http_response_lost,
};
use icmp_errors::{
    echo_no_reply, redirect_v6, router_advertisement, router_solicitation, udp_icmp_error,
};
use tcp_errors::{
    close_wait, idle_unacked, last_ack, loss_gap, loss_retransmission, reset, syn_no_answer,
    syn_refused, syn_time_exceeded,
};

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

/// A random round-trip time in microseconds: LAN, regional or long-distance.
fn random_rtt(rng: &mut Rng) -> i64 {
    match rng.weighted(&[40, 35, 25]) {
        0 => rng.range(200, 2_000),
        1 => rng.range(2_000, 15_000),
        _ => rng.range(15_000, 50_000),
    }
}

/// The TTL a server's packets arrive with (64 or 128 at the origin, one hop away).
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

/// An ICMP or ICMPv6 header of type `ty` and code `code`, with the 4 bytes that follow them.
fn icmp(ty: u8, code: u8, rest: [u8; 4]) -> L4 {
    L4::Icmp { ty, code, rest }
}

/// Picks a random client as node 0 (and its VLAN for the conversation).
fn setup_client(sc: &mut Script<'_>, v6: bool) -> Client {
    let client = hosts::pick_client(&mut sc.rng, v6);
    sc.set_node(C, client.node);
    sc.conv.vlan = client.vlan;
    client
}

/// A TCP connection from `client` to `target` (made node 1) at `port`, with the round-trip
/// time `rtt` or a random one.
fn tcp_conn(
    sc: &mut Script<'_>,
    client: &Client,
    target: Node,
    port: u16,
    rtt: Option<i64>,
) -> TcpConn {
    sc.set_node(S, target);
    let cport = sc.ports.next(client.slot, &mut sc.rng);
    let rtt = rtt.unwrap_or_else(|| random_rtt(&mut sc.rng));
    let ttl = server_ttl(&mut sc.rng);
    TcpConn::new(&mut sc.rng, cport, port, rtt, ttl)
}

/// The truth draft of a TCP event decided at packet `decisive`, with the connection's counters.
fn tcp_draft(ev: Event, decisive: u32, reason: &'static str, tcp: &TcpConn) -> Draft {
    Draft {
        reason: Some(reason),
        counters: Some(tcp.counters),
        ..Draft::new(ev, decisive)
    }
}

/// The truth draft of an application event decided at packet `decisive`, with the counters of
/// its TCP connection if it has one.
fn app_draft(ev: Event, decisive: u32, reason: &'static str, tcp: Option<&TcpConn>) -> Draft {
    Draft {
        reason: Some(reason),
        counters: tcp.map(|t| t.counters),
        ..Draft::new(ev, decisive)
    }
}
