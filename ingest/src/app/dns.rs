//! DNS over UDP and TCP for one flow: queries and responses paired by transaction id, the
//! messages parsed with `simple-dns` once, when their entry is made.
//!
//! Per message only the 12-byte header is read (id, QR bit); the raw query is kept in a
//! bounded per-flow buffer until its response comes or the flow ends. A response answers the
//! oldest pending query with its id; a retransmitted query whose id got an answer is not an
//! error when nothing answers it again; a response to an id with no pending query is a
//! response without query (a duplicate when the id was answered before). Over TCP, messages are
//! framed by their two-byte length; a gap makes the rest of that direction unframeable.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::RData;
use simple_dns::{Packet, QTYPE};

use crate::emit::DnsView;

/// Why the other half of a DNS transaction is missing, as far as the flow's messages show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsOutcome {
    /// Query and response.
    Complete,
    /// A query that got no response (the flow's end says why).
    NoResponse,
    /// A response whose id was already answered.
    Duplicate,
    /// A response with no query of its id in this flow.
    NoQuery,
    /// A message that does not parse; the text is in [`DnsTxn::problem`].
    Parser,
    /// The TCP stream ended inside a message.
    Eof,
}

/// One transaction, borrowed from the dissector's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsTxn<'a> {
    /// Time of the query (of the response when there is none), µs.
    pub ts_us: i64,
    /// The fields seen.
    pub view: DnsView<'a>,
    /// Complete, half or broken.
    pub outcome: DnsOutcome,
    /// What did not parse, for [`DnsOutcome::Parser`].
    pub problem: &'a str,
    /// What the pairing showed (for a message that did not parse: whether it was a query
    /// without response, a response without query, ...).
    pub half: DnsOutcome,
}

/// A query waiting for its response.
#[derive(Debug, Clone, Copy)]
struct Query {
    id: u16,
    /// An earlier query with the same id was answered (this one repeats it).
    repeat_answered: bool,
    ts_us: i64,
    /// Message bytes `[start, end)` in the arena.
    at: (usize, usize),
}

/// Most queries kept waiting per flow; the oldest is given up beyond.
const MAX_PENDING: usize = 256;
/// Answered ids remembered to recognise duplicate responses.
const ANSWERED: usize = 16;

/// The DNS dissector of one flow.
#[derive(Debug, Default)]
pub struct DnsConn {
    pending: Vec<Query>,
    arena: Vec<u8>,
    answered: [Option<u16>; ANSWERED],
    answered_next: usize,
    /// TCP framing buffers, `[client, server]`, and whether a gap broke the framing.
    frames: [Vec<u8>; 2],
    unframed: [bool; 2],
    /// Bytes still to skip of a TCP message a gap damaged, before the next length prefix.
    skip: [u64; 2],
    // Reused text buffers of the entry being made.
    name: String,
    qtype: String,
    answers: String,
    problem: String,
    addresses: Vec<IpAddr>,
}

/// Bytes kept while looking for a TCP message start after a gap broke the framing.
const RESYNC_WINDOW: usize = 16 * 1024;

/// Where a whole TCP-framed message starts in `buf`: a length prefix followed by that many
/// bytes that parse as a DNS message with one question, standard opcode, and the QR bit of
/// the direction (`response` for the server's).
fn resync_at(buf: &[u8], response: bool) -> Option<usize> {
    (0..buf.len().saturating_sub(13)).find(|&i| {
        let len = usize::from(u16::from_be_bytes([buf[i], buf[i + 1]]));
        let Some(msg) = buf.get(i + 2..i + 2 + len) else {
            return false;
        };
        let plausible = msg.len() >= 12
            && (msg[2] & 0x80 != 0) == response
            && (msg[2] >> 3) & 0x0f == 0
            && msg[4..6] == [0, 1];
        plausible && Packet::parse(msg).is_ok()
    })
}

/// Id and QR bit of a message, `None` when shorter than a header.
fn header(msg: &[u8]) -> Option<(u16, bool)> {
    let h = msg.get(..12)?;
    Some((u16::from_be_bytes([h[0], h[1]]), h[2] & 0x80 != 0))
}

impl DnsConn {
    /// Forgets everything but keeps small buffers, for reuse on another flow.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.arena.clear();
        self.answered = [None; ANSWERED];
        self.answered_next = 0;
        for f in &mut self.frames {
            f.clear();
        }
        self.unframed = [false; 2];
        self.skip = [0; 2];
        if self.arena.capacity() > 4096 {
            self.arena = Vec::new();
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.pending.capacity() * std::mem::size_of::<Query>()
            + self.frames.iter().map(Vec::capacity).sum::<usize>()
            + self.name.capacity()
            + self.qtype.capacity()
            + self.answers.capacity()
            + self.problem.capacity()
    }

    /// One DNS message (a UDP payload, or a deframed TCP message).
    pub fn message(&mut self, msg: &[u8], ts_us: i64, out: &mut impl FnMut(DnsTxn<'_>)) {
        let Some((id, response)) = header(msg) else {
            self.problem.clear();
            self.problem
                .push_str("message shorter than the 12-byte DNS header");
            self.emit(None, Some(msg), ts_us, DnsOutcome::Parser, out);
            return;
        };
        if !response {
            if self.pending.len() >= MAX_PENDING {
                let q = self.pending.remove(0);
                self.emit_query(q, DnsOutcome::NoResponse, out);
            }
            let start = self.arena.len();
            self.arena.extend_from_slice(msg);
            self.pending.push(Query {
                id,
                repeat_answered: false,
                ts_us,
                at: (start, self.arena.len()),
            });
            return;
        }
        let first = self.pending.iter().position(|q| q.id == id);
        match first {
            Some(i) => {
                let q = self.pending[i];
                self.remember(id);
                let arena = std::mem::take(&mut self.arena);
                self.emit_pair(arena.get(q.at.0..q.at.1), msg, q.ts_us, ts_us, out);
                self.arena = arena;
                self.pending.remove(i);
                for p in self.pending.iter_mut().filter(|p| p.id == id) {
                    p.repeat_answered = true;
                }
                self.compact();
            }
            None => {
                let outcome = if self.answered.contains(&Some(id)) {
                    DnsOutcome::Duplicate
                } else {
                    DnsOutcome::NoQuery
                };
                self.emit(None, Some(msg), ts_us, outcome, out);
            }
        }
    }

    /// Bytes of a TCP direction: deframes two-byte-length messages.
    pub fn tcp_data(
        &mut self,
        client: bool,
        bytes: &[u8],
        ts_us: i64,
        out: &mut impl FnMut(DnsTxn<'_>),
    ) {
        let d = usize::from(!client);
        let skipped = bytes
            .len()
            .min(usize::try_from(self.skip[d]).unwrap_or(usize::MAX));
        self.skip[d] -= skipped as u64;
        let bytes = &bytes[skipped..];
        let mut buf = std::mem::take(&mut self.frames[d]);
        buf.extend_from_slice(bytes);
        if self.unframed[d] {
            match resync_at(&buf, !client) {
                Some(i) => {
                    buf.drain(..i);
                    self.unframed[d] = false;
                }
                None => {
                    // Keep only what a message start could still be in.
                    let keep = buf.len().min(RESYNC_WINDOW);
                    buf.drain(..buf.len() - keep);
                    self.frames[d] = buf;
                    return;
                }
            }
        }
        let mut at = 0;
        while let Some(len) = buf
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        {
            let Some(msg) = buf.get(at + 2..at + 2 + len) else {
                break;
            };
            self.message(msg, ts_us, out);
            at += 2 + len;
        }
        buf.drain(..at);
        self.frames[d] = buf;
    }

    /// A gap of `len` bytes in a TCP direction. Inside the message being read (its length
    /// is known), that message is lost and the framing goes on after it; otherwise the
    /// framing is lost until a length prefix followed by a message that parses, of the
    /// direction's kind (queries from the client), is seen.
    pub fn tcp_gap(&mut self, client: bool, len: u64) {
        let d = usize::from(!client);
        if self.unframed[d] {
            return;
        }
        let buf = &mut self.frames[d];
        let rest = if self.skip[d] > 0 {
            Some(self.skip[d])
        } else {
            buf.get(..2).map(|b| {
                let frame = 2 + u64::from(u16::from_be_bytes([b[0], b[1]]));
                frame - buf.len() as u64
            })
        };
        buf.clear();
        match rest {
            Some(rest) if len <= rest => self.skip[d] = rest - len,
            _ => {
                self.skip[d] = 0;
                self.unframed[d] = true;
            }
        }
    }

    /// The flow ended: pending queries have no response; a TCP message cut short is an EOF.
    pub fn end(&mut self, ts_us: i64, out: &mut impl FnMut(DnsTxn<'_>)) {
        for d in 0..2 {
            // Bytes kept while looking for a message start after a gap are no message.
            let cut = !self.unframed[d] && !self.frames[d].is_empty();
            self.frames[d].clear();
            if cut {
                self.emit(None, None, ts_us, DnsOutcome::Eof, out);
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for q in &pending {
            // A repeated query whose id was answered is a retransmission of an answered
            // transaction, not a query without response.
            if !q.repeat_answered {
                self.emit_query(*q, DnsOutcome::NoResponse, out);
            }
        }
        self.pending = pending;
        self.pending.clear();
        self.arena.clear();
    }

    fn remember(&mut self, id: u16) {
        self.answered[self.answered_next] = Some(id);
        self.answered_next = (self.answered_next + 1) % ANSWERED;
    }

    fn compact(&mut self) {
        match self.pending.first() {
            None => self.arena.clear(),
            Some(q) if q.at.0 > 16 * 1024 => {
                let cut = q.at.0;
                self.arena.drain(..cut);
                for p in &mut self.pending {
                    p.at = (p.at.0 - cut, p.at.1 - cut);
                }
            }
            Some(_) => {}
        }
    }

    fn emit_query(&mut self, q: Query, outcome: DnsOutcome, out: &mut impl FnMut(DnsTxn<'_>)) {
        let arena = std::mem::take(&mut self.arena);
        let msg = arena.get(q.at.0..q.at.1);
        self.emit(msg, None, q.ts_us, outcome, out);
        self.arena = arena;
    }

    fn emit_pair(
        &mut self,
        query: Option<&[u8]>,
        resp: &[u8],
        q_ts: i64,
        r_ts: i64,
        out: &mut impl FnMut(DnsTxn<'_>),
    ) {
        self.fill(query, Some(resp));
        let outcome = if self.problem.is_empty() {
            DnsOutcome::Complete
        } else {
            DnsOutcome::Parser
        };
        let mut view = self.view(query, Some(resp));
        view.elapsed_ms = Some((r_ts - q_ts).max(0) / 1000);
        out(DnsTxn {
            ts_us: q_ts,
            view,
            outcome,
            problem: &self.problem,
            half: DnsOutcome::Complete,
        });
    }

    /// Makes the entry of a half (or broken) transaction.
    fn emit(
        &mut self,
        query: Option<&[u8]>,
        resp: Option<&[u8]>,
        ts_us: i64,
        outcome: DnsOutcome,
        out: &mut impl FnMut(DnsTxn<'_>),
    ) {
        let preset = outcome == DnsOutcome::Parser;
        if !preset {
            self.fill(query, resp);
        }
        let half = outcome;
        let outcome = if !preset && !self.problem.is_empty() {
            DnsOutcome::Parser
        } else {
            outcome
        };
        let view = if preset {
            DnsView::default()
        } else {
            self.view(query, resp)
        };
        out(DnsTxn {
            ts_us,
            view,
            outcome,
            problem: &self.problem,
            half,
        });
    }

    fn view<'s>(&'s self, query: Option<&[u8]>, resp: Option<&[u8]>) -> DnsView<'s> {
        let text = |s: &'s String| (!s.is_empty()).then_some(s.as_str());
        DnsView {
            name: text(&self.name),
            qtype: text(&self.qtype),
            rcode: resp.and_then(|r| r.get(3)).map(|b| u16::from(b & 0x0f)),
            answers: resp.and_then(|_| text(&self.answers)),
            addresses: &self.addresses,
            request_size: query.map(|q| q.len() as u64),
            response_size: resp.map(|r| r.len() as u64),
            elapsed_ms: None,
        }
    }

    /// Parses the messages into the text buffers; a failure goes to `problem`.
    fn fill(&mut self, query: Option<&[u8]>, resp: Option<&[u8]>) {
        self.name.clear();
        self.qtype.clear();
        self.answers.clear();
        self.problem.clear();
        self.addresses.clear();
        for msg in [resp, query].into_iter().flatten() {
            match Packet::parse(msg) {
                Ok(p) => self.take_fields(&p),
                Err(e) => {
                    if self.problem.is_empty() {
                        let _ = write!(self.problem, "{e}");
                    }
                }
            }
        }
    }

    fn take_fields(&mut self, p: &Packet<'_>) {
        if self.name.is_empty()
            && let Some(q) = p.questions.first()
        {
            let _ = write!(self.name, "{}", q.qname);
            match q.qtype {
                QTYPE::TYPE(t) => {
                    let _ = write!(self.qtype, "{t:?}");
                }
                other => {
                    let _ = write!(self.qtype, "{other:?}");
                }
            }
        }
        if !self.answers.is_empty() {
            return;
        }
        for rr in &p.answers {
            if !self.answers.is_empty() {
                self.answers.push_str(", ");
            }
            let _ = write!(self.answers, "{:?} ", rr.rdata.type_code());
            match &rr.rdata {
                RData::A(a) => {
                    let ip = IpAddr::V4(Ipv4Addr::from(a.address));
                    self.addresses.push(ip);
                    let _ = write!(self.answers, "{ip}");
                }
                RData::AAAA(a) => {
                    let ip = IpAddr::V6(Ipv6Addr::from(a.address));
                    self.addresses.push(ip);
                    let _ = write!(self.answers, "{ip}");
                }
                RData::CNAME(n) => {
                    let _ = write!(self.answers, "{}", n.0);
                }
                RData::PTR(n) => {
                    let _ = write!(self.answers, "{}", n.0);
                }
                RData::NS(n) => {
                    let _ = write!(self.answers, "{}", n.0);
                }
                _ => {
                    let _ = write!(self.answers, "{}", rr.name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::A;
    use simple_dns::{CLASS, Name, Question, ResourceRecord, TYPE};

    fn query(id: u16, name: &str) -> Vec<u8> {
        let mut p = Packet::new_query(id);
        p.questions.push(Question::new(
            Name::new_unchecked(name),
            TYPE::A.into(),
            simple_dns::QCLASS::CLASS(CLASS::IN),
            false,
        ));
        p.build_bytes_vec().unwrap()
    }

    fn response(id: u16, name: &str, ip: [u8; 4]) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        p.questions.push(Question::new(
            Name::new_unchecked(name),
            TYPE::A.into(),
            simple_dns::QCLASS::CLASS(CLASS::IN),
            false,
        ));
        p.answers.push(ResourceRecord::new(
            Name::new_unchecked(name),
            CLASS::IN,
            60,
            RData::A(A {
                address: u32::from_be_bytes(ip),
            }),
        ));
        p.build_bytes_vec().unwrap()
    }

    #[derive(Debug, PartialEq)]
    struct Seen {
        name: Option<String>,
        qtype: Option<String>,
        answers: Option<String>,
        addresses: Vec<IpAddr>,
        elapsed: Option<i64>,
        outcome: DnsOutcome,
        problem: String,
    }

    fn collect(seen: &mut Vec<Seen>) -> impl FnMut(DnsTxn<'_>) + '_ {
        move |t| {
            seen.push(Seen {
                name: t.view.name.map(str::to_owned),
                qtype: t.view.qtype.map(str::to_owned),
                answers: t.view.answers.map(str::to_owned),
                addresses: t.view.addresses.to_vec(),
                elapsed: t.view.elapsed_ms,
                outcome: t.outcome,
                problem: t.problem.to_owned(),
            })
        }
    }

    #[test]
    fn query_and_response_pair() {
        let mut c = DnsConn::default();
        let mut seen = Vec::new();
        c.message(&query(7, "example.org"), 1_000, &mut collect(&mut seen));
        c.message(
            &response(7, "example.org", [192, 0, 2, 1]),
            21_000,
            &mut collect(&mut seen),
        );
        c.end(30_000, &mut collect(&mut seen));
        assert_eq!(seen.len(), 1);
        let s = &seen[0];
        assert_eq!(s.name.as_deref(), Some("example.org"));
        assert_eq!(s.qtype.as_deref(), Some("A"));
        assert_eq!(s.answers.as_deref(), Some("A 192.0.2.1"));
        assert_eq!(s.addresses, ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(s.elapsed, Some(20));
        assert_eq!(s.outcome, DnsOutcome::Complete);
    }

    #[test]
    fn unanswered_retransmitted_queries_and_duplicate_responses() {
        let mut c = DnsConn::default();
        let mut seen = Vec::new();
        c.message(&query(1, "a.example"), 0, &mut collect(&mut seen));
        c.message(&query(1, "a.example"), 1, &mut collect(&mut seen));
        c.message(&query(2, "b.example"), 2, &mut collect(&mut seen));
        c.message(
            &response(2, "b.example", [192, 0, 2, 2]),
            3,
            &mut collect(&mut seen),
        );
        c.message(
            &response(2, "b.example", [192, 0, 2, 2]),
            4,
            &mut collect(&mut seen),
        );
        c.message(
            &response(9, "c.example", [192, 0, 2, 3]),
            5,
            &mut collect(&mut seen),
        );
        c.message(&query(3, "d.example"), 6, &mut collect(&mut seen));
        c.message(&query(3, "d.example"), 7, &mut collect(&mut seen));
        c.message(
            &response(3, "d.example", [192, 0, 2, 4]),
            8,
            &mut collect(&mut seen),
        );
        c.end(9, &mut collect(&mut seen));
        let outcomes: Vec<_> = seen.iter().map(|s| s.outcome).collect();
        assert_eq!(
            outcomes,
            [
                DnsOutcome::Complete,
                DnsOutcome::Duplicate,
                DnsOutcome::NoQuery,
                DnsOutcome::Complete,
                DnsOutcome::NoResponse,
                DnsOutcome::NoResponse,
            ],
            "the repeated query 3 was answered once: no error for it"
        );
        assert_eq!(seen[4].name.as_deref(), Some("a.example"));
    }

    #[test]
    fn malformed_messages_are_parser_errors() {
        let mut c = DnsConn::default();
        let mut seen = Vec::new();
        c.message(b"short", 0, &mut collect(&mut seen));
        let mut bad = response(3, "x.example", [1, 2, 3, 4]);
        bad.truncate(bad.len() - 3);
        c.message(&bad, 1, &mut collect(&mut seen));
        assert!(
            seen.iter().all(|s| s.outcome == DnsOutcome::Parser),
            "{seen:?}"
        );
        assert!(seen[0].problem.contains("12-byte"));
        assert!(!seen[1].problem.is_empty());
    }

    fn framed(msg: &[u8]) -> Vec<u8> {
        let mut out = (msg.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(msg);
        out
    }

    /// Queries 1 to 3 over TCP with `damage` applied to the client's bytes, then the three
    /// responses; returns the outcomes and names.
    fn tcp_run(
        damage: impl Fn(&mut DnsConn, &[Vec<u8>], &mut Vec<Seen>),
    ) -> Vec<(DnsOutcome, String)> {
        let mut c = DnsConn::default();
        let mut seen = Vec::new();
        let names = ["one.example", "two.example", "three.example"];
        let queries: Vec<Vec<u8>> = (0..3)
            .map(|i| framed(&query(i + 1, names[i as usize])))
            .collect();
        damage(&mut c, &queries, &mut seen);
        for (i, name) in names.iter().enumerate() {
            let r = framed(&response(i as u16 + 1, name, [10, 0, 0, 1]));
            c.tcp_data(false, &r, 10, &mut collect(&mut seen));
        }
        c.end(20, &mut collect(&mut seen));
        seen.into_iter()
            .map(|s| (s.outcome, s.name.unwrap_or_default()))
            .collect()
    }

    /// Queries 1 and 3 answered, 2 lost: what each damage to the client's bytes should give.
    fn two_lost() -> Vec<(DnsOutcome, String)> {
        vec![
            (DnsOutcome::Complete, "one.example".into()),
            (DnsOutcome::NoQuery, "two.example".into()),
            (DnsOutcome::Complete, "three.example".into()),
        ]
    }

    #[test]
    fn a_tcp_gap_inside_a_message_loses_only_that_message() {
        let got = tcp_run(|c, q, seen| {
            c.tcp_data(true, &q[0], 0, &mut collect(seen));
            // Query 2 loses 5 bytes in its middle; the framing goes on after it, so query 3
            // is read even though it asks two questions (which a search for a message start
            // after a gap of unknown extent would not take for one).
            c.tcp_data(true, &q[1][..10], 0, &mut collect(seen));
            c.tcp_gap(true, 5);
            c.tcp_data(true, &q[1][15..], 0, &mut collect(seen));
            let mut p = Packet::parse(&q[2][2..]).unwrap();
            p.questions.push(p.questions[0].clone());
            c.tcp_data(
                true,
                &framed(&p.build_bytes_vec().unwrap()),
                0,
                &mut collect(seen),
            );
        });
        assert_eq!(got, two_lost());
    }

    #[test]
    fn after_a_tcp_gap_of_unknown_extent_the_next_message_is_found() {
        // Query 2 is lost whole and the gap's end is not known to be a boundary: the
        // framing is found again at query 3, after junk that is no message.
        let got = tcp_run(|c, q, seen| {
            c.tcp_data(true, &q[0], 0, &mut collect(seen));
            c.tcp_gap(true, q[1].len() as u64 + 3);
            c.tcp_data(true, b"\x00\x30zz", 0, &mut collect(seen));
            for piece in q[2].chunks(7) {
                c.tcp_data(true, piece, 0, &mut collect(seen));
            }
        });
        assert_eq!(got, two_lost());
    }

    #[test]
    fn tcp_framing_across_segments_and_eof() {
        let mut c = DnsConn::default();
        let mut seen = Vec::new();
        let q = query(5, "t.example");
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        for piece in framed.chunks(5) {
            c.tcp_data(true, piece, 0, &mut collect(&mut seen));
        }
        let r = response(5, "t.example", [10, 0, 0, 1]);
        let mut framed = (r.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&r);
        c.tcp_data(
            false,
            &framed[..framed.len() - 1],
            1,
            &mut collect(&mut seen),
        );
        c.end(2, &mut collect(&mut seen));
        let outcomes: Vec<_> = seen.iter().map(|s| s.outcome).collect();
        assert_eq!(outcomes, [DnsOutcome::Eof, DnsOutcome::NoResponse]);
    }
}
