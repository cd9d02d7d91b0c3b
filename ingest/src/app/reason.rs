//! The words of application-layer entries: summaries, error messages and, for half
//! transactions, the reason read from what the flow showed.

use std::fmt::Write as _;

use faultline_schemas::ErrorType;

use super::dns::{DnsOutcome, DnsTxn};
use super::http::{Missing, Outcome, Txn};
use crate::flow::Ending;
use crate::icmp::icmp_name;

/// What a flow showed, for reasons: kept per connection by the application layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowSigns {
    /// RST seen from `[client, server]`.
    pub rst: [bool; 2],
    /// FIN seen from `[client, server]`; `first_fin` tells which came first (0 client).
    pub fin: [bool; 2],
    /// Which side sent the first FIN.
    pub first_fin: Option<usize>,
    /// Bytes never captured in `[client, server]` streams.
    pub gap_bytes: [u64; 2],
    /// The last ICMP error quoting the flow: version, type, code.
    pub icmp: Option<(u8, u8, u8)>,
    /// Any message from the client (DNS: any query) was seen.
    pub client_spoke: bool,
    /// Any TCP segment from `[client, server]` was seen: a side never seen while its peer
    /// acknowledges its bytes means a one-way capture, not lost packets.
    pub seen: [bool; 2],
}

const SIDE: [&str; 2] = ["client", "server"];

/// Writes why the bytes of side `side` (0 client) that its peer acknowledged are missing:
/// packets the capture lost, or a side never captured at all.
fn write_missing(out: &mut String, signs: &FlowSigns, side: usize, lost: std::fmt::Arguments<'_>) {
    if signs.seen[side] {
        let _ = out.write_fmt(lost);
    } else {
        let _ = write!(
            out,
            "one-way capture: no packet from the {} was seen on this flow, though the {}'s \
             ACKs show it sent data (asymmetric routing, or its direction on another VLAN or \
             interface)",
            SIDE[side],
            SIDE[1 - side]
        );
    }
}

/// Writes why the side `waiting_on` (0 client, 1 server) never sent what was expected.
pub fn write_flow_reason(
    out: &mut String,
    signs: &FlowSigns,
    end: Option<Ending>,
    waiting_on: usize,
) {
    if let Some((v, t, c)) = signs.icmp {
        let _ = write!(
            out,
            "ICMP error received for the flow: {}",
            icmp_name(v, t, c)
        );
        return;
    }
    if signs.gap_bytes[waiting_on] > 0 {
        let lost = format_args!(
            "packets lost: {} bytes of the {}'s stream were not captured",
            signs.gap_bytes[waiting_on], SIDE[waiting_on]
        );
        write_missing(out, signs, waiting_on, lost);
        return;
    }
    if let Some(side) = (0..2).find(|&s| signs.rst[s]) {
        let _ = write!(out, "peer reset: the {} reset the connection", SIDE[side]);
        return;
    }
    if let Some(side) = signs.first_fin {
        let _ = write!(out, "connection closed by the {}", SIDE[side]);
        return;
    }
    match end {
        Some(Ending::Timeout { timeout_us, .. }) => {
            let _ = write!(
                out,
                "stream timed out: idle for {} s",
                timeout_us / 1_000_000
            );
        }
        Some(Ending::Reused) => {
            out.push_str("connection replaced by a new one on the same ports");
        }
        Some(Ending::Closed | Ending::Reset) => {
            out.push_str("connection closed");
        }
        Some(Ending::EndOfInput) | None => {
            out.push_str("capture ended while the flow was open");
        }
    }
}

/// Error type, message and reason of an HTTP transaction; `None` when it is complete.
pub fn http_error(
    txn: &Txn<'_>,
    signs: &FlowSigns,
    end: Option<Ending>,
    max_pending: usize,
    reason: &mut String,
    msg: &mut String,
) -> Option<ErrorType> {
    reason.clear();
    msg.clear();
    let kind = match txn.outcome {
        Outcome::Complete => return None,
        Outcome::NoResponse(m) => {
            msg.push_str("request without response");
            match m {
                Missing::Lost => write_missing(
                    reason,
                    signs,
                    1,
                    format_args!("packets lost: the response fell in a gap of the server's stream"),
                ),
                Missing::Overflow => {
                    let _ = write!(
                        reason,
                        "more than {max_pending} requests waiting for responses"
                    );
                }
                Missing::StreamEnd | Missing::MidStream => write_flow_reason(reason, signs, end, 1),
            }
            ErrorType::PairNotFound
        }
        Outcome::NoRequest(m) => {
            msg.push_str("response without request");
            match m {
                Missing::MidStream => reason.push_str(
                    "capture began mid-stream: the request was sent before the stream was \
                     first seen (capture start, or the flow expired idle and began anew)",
                ),
                Missing::Lost => write_missing(
                    reason,
                    signs,
                    0,
                    format_args!("packets lost: the request fell in a gap of the client's stream"),
                ),
                Missing::StreamEnd | Missing::Overflow => {
                    reason.push_str("no request was seen on the stream before the response")
                }
            }
            ErrorType::PairNotFound
        }
        Outcome::Parser(p, client) => {
            let _ = write!(msg, "parser error: {p}");
            let _ = write!(
                reason,
                "the {} sent bytes that are not HTTP/1.x; the parser skipped to the next message start",
                SIDE[usize::from(!client)]
            );
            ErrorType::Dissection
        }
        Outcome::Eof(client, left) => {
            msg.push_str("unexpected EOF");
            let side = usize::from(!client);
            let what = if client { "request" } else { "response" };
            let _ = write!(reason, "the {}'s stream ended inside a {what}", SIDE[side]);
            if let Some(n) = left {
                let _ = write!(reason, ", {n} bytes short of its Content-Length");
            }
            reason.push_str(": ");
            write_flow_reason(reason, signs, end, side);
            ErrorType::Dissection
        }
    };
    Some(kind)
}

/// Error type, message and reason of a DNS transaction; `None` when it is complete.
pub fn dns_error(
    (outcome, half): (DnsOutcome, DnsOutcome),
    problem: &str,
    signs: &FlowSigns,
    end: Option<Ending>,
    reason: &mut String,
    msg: &mut String,
) -> Option<ErrorType> {
    reason.clear();
    msg.clear();
    let kind = match outcome {
        DnsOutcome::Complete => return None,
        DnsOutcome::NoResponse => {
            msg.push_str("query without response");
            write_flow_reason(reason, signs, end, 1);
            ErrorType::PairNotFound
        }
        DnsOutcome::Duplicate => {
            msg.push_str("response without query");
            reason.push_str("duplicate response: its query was already answered");
            ErrorType::PairNotFound
        }
        DnsOutcome::NoQuery => {
            msg.push_str("response without query");
            reason.push_str(if signs.client_spoke {
                "no query with this transaction id was seen on the flow"
            } else {
                "capture began mid-stream: no query was seen on the flow"
            });
            ErrorType::PairNotFound
        }
        DnsOutcome::Parser => {
            let _ = write!(msg, "parser error: {problem}");
            reason.push_str(match half {
                DnsOutcome::Complete => "malformed DNS message (query and response paired)",
                DnsOutcome::NoResponse => "malformed DNS message (query without response)",
                DnsOutcome::NoQuery | DnsOutcome::Duplicate => {
                    "malformed DNS message (response without query)"
                }
                DnsOutcome::Parser | DnsOutcome::Eof => "malformed DNS message",
            });
            ErrorType::Dissection
        }
        DnsOutcome::Eof => {
            msg.push_str("unexpected EOF");
            reason.push_str("the TCP stream ended inside a DNS message: ");
            write_flow_reason(reason, signs, end, 1);
            ErrorType::Dissection
        }
    };
    Some(kind)
}

/// `GET /index.html 200`, or the half that was seen and what went wrong.
pub(super) fn write_http_summary(out: &mut String, t: &Txn<'_>, error: Option<&str>) {
    let v = &t.view;
    let mut parts = Parts::new(out);
    if let (Some(m), Some(p)) = (v.method, v.path) {
        parts.push(format_args!("{m} {p}"));
    }
    if let Some(s) = v.status {
        parts.push(format_args!("{s}"));
    }
    if let Some(e) = error {
        parts.push(format_args!("({e})"));
    }
}

/// `A example.org rcode 0`, or the half that was seen and what went wrong.
pub(super) fn write_dns_summary(out: &mut String, t: &DnsTxn<'_>, error: Option<&str>) {
    let v = &t.view;
    let mut parts = Parts::new(out);
    if let (Some(ty), Some(n)) = (v.qtype, v.name) {
        parts.push(format_args!("{ty} {n}"));
    }
    if let Some(r) = v.rcode {
        parts.push(format_args!("rcode {r}"));
    }
    if let Some(e) = error {
        parts.push(format_args!("({e})"));
    }
}

/// Writes space-separated parts into a string.
struct Parts<'a>(&'a mut String);

impl<'a> Parts<'a> {
    fn new(out: &'a mut String) -> Self {
        out.clear();
        Parts(out)
    }

    fn push(&mut self, part: std::fmt::Arguments<'_>) {
        use std::fmt::Write as _;
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = self.0.write_fmt(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(signs: FlowSigns, end: Option<Ending>) -> String {
        let mut s = String::new();
        write_flow_reason(&mut s, &signs, end, 1);
        s
    }

    #[test]
    fn reasons_in_order_of_precedence() {
        let timeout = Some(Ending::Timeout {
            idle_us: 10_000_000,
            timeout_us: 10_000_000,
        });
        assert_eq!(
            reason(FlowSigns::default(), timeout),
            "stream timed out: idle for 10 s"
        );
        assert_eq!(
            reason(FlowSigns::default(), None),
            "capture ended while the flow was open"
        );
        let mut s = FlowSigns {
            first_fin: Some(1),
            ..FlowSigns::default()
        };
        assert_eq!(reason(s, timeout), "connection closed by the server");
        s.rst[0] = true;
        assert_eq!(
            reason(s, timeout),
            "peer reset: the client reset the connection"
        );
        s.gap_bytes[1] = 100;
        // Bytes the client acknowledged, from a server never seen: a one-way capture.
        assert!(reason(s, timeout).starts_with("one-way capture: no packet from the server"));
        s.seen = [true, true];
        assert!(reason(s, timeout).starts_with("packets lost: 100 bytes of the server"));
        s.icmp = Some((4, 3, 3));
        assert!(reason(s, timeout).starts_with("ICMP error received for the flow: "));
    }
}
