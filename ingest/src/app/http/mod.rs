//! HTTP/1.0 and 1.1 over one TCP connection: message heads parsed with `httparse`, bodies
//! framed (Content-Length, chunked, until close) and skipped without being stored beyond a
//! configurable prefix, requests queued for pipelining and paired with responses in order.
//!
//! The body prefix is of the decoded body: chunk framing is removed before cutting, so a
//! filter on the body sees the same bytes whatever the transfer coding (content codings such
//! as gzip are kept as sent). The request's prefix follows its head in the arena, the
//! response's follows its head in `resp_head`; the limit bounds what one message costs.
//!
//! Each pair (or half of one) is handed over as a [`Txn`] when the response ends, or when the
//! stream ends. Heads are kept as raw bytes in reused buffers and parsed again when the entry
//! is made, so the steady state allocates nothing. A gap in a direction is never parsed: a body
//! absorbs it, a gap at a message boundary means a message was lost (a request lost: the next
//! response has no request; a response lost: the oldest request has no response), and the
//! parser then resynchronises on the next message start. A parse error is a dissection error;
//! the parser resynchronises the same way.

mod chunked;
mod head;
mod pairing;
mod txn;

use std::collections::VecDeque;

use chunked::Chunked;
use head::{Head, RESYNC_TAIL, message_start, parse_head};
pub use txn::{Missing, Outcome, Problem, Txn};

/// Limits of one connection's dissector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest message head kept while it arrives in pieces.
    pub max_head: usize,
    /// Most requests waiting for responses (pipelining); the oldest is given up beyond.
    pub max_pending: usize,
    /// Bytes of each (decoded) body kept for the entry; 0 keeps none.
    pub body_prefix: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head: 64 * 1024,
            max_pending: 1024,
            body_prefix: 256,
        }
    }
}

/// Where a direction's parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Between messages (head bytes may be buffered in `partial`).
    #[default]
    Head,
    /// In a body, this many bytes left.
    Body(u64),
    /// In a chunked body.
    Chunked(Chunked),
    /// In a body that ends with the connection.
    UntilClose,
    /// Looking for the next message start after a gap, a parse error or a mid-stream start.
    Resync,
    /// Not HTTP any more (after an upgrade or CONNECT).
    Off,
}

/// One direction's parser.
#[derive(Debug, Default)]
struct Parser {
    state: State,
    /// Head bytes received so far when a head spans segments.
    partial: Vec<u8>,
    /// First byte of the current message, µs.
    msg_ts: i64,
    /// Bytes of the current message so far.
    msg_size: u64,
    /// Serial of the request being received (client side).
    serial: u64,
    /// Body bytes of the current message still to keep.
    body_want: usize,
    /// The response's request is unknown (lost, or before the capture), so the body its head
    /// announces may not come: a HEAD request's response announces one and carries none.
    unsure_body: bool,
}

/// What kind of request a queue slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A parsed request; its head is in the arena.
    Parsed,
    /// A request lost in a gap (the slot keeps responses in step).
    Lost,
    /// A request that did not parse.
    Bad(Problem),
    /// A request cut by the end of its stream.
    Eof(Option<u64>),
}

/// A request waiting for its response.
#[derive(Debug, Clone, Copy)]
struct Pending {
    serial: u64,
    slot: Slot,
    ts_us: i64,
    /// Head bytes `[start, end)` in the arena.
    head: (usize, usize),
    /// End of the body prefix in the arena; it follows the head.
    body_end: usize,
    size: u64,
    is_head: bool,
    is_connect: bool,
}

/// The response being received, with its request (whose head is in `req_head`).
#[derive(Debug, Clone, Copy)]
struct Current {
    req: Option<Pending>,
    missing: Missing,
    ts_us: i64,
    /// Length of the head at the start of `resp_head` (the body prefix follows).
    head_len: usize,
}

/// The dissector of one connection.
#[derive(Debug, Default)]
pub struct HttpConn {
    limits: HttpLimits,
    /// `[client, server]`.
    dirs: [Parser; 2],
    pending: VecDeque<Pending>,
    arena: Vec<u8>,
    req_head: Vec<u8>,
    resp_head: Vec<u8>,
    current: Option<Current>,
    next_serial: u64,
    /// The client stream began mid-stream and no request was seen yet.
    client_mid_stream: bool,
    /// The client stream had a gap.
    client_gap: bool,
}

impl HttpConn {
    /// A dissector with these limits.
    pub fn new(limits: HttpLimits) -> Self {
        HttpConn {
            limits,
            ..HttpConn::default()
        }
    }

    /// Forgets everything but keeps small buffers, for reuse on another connection.
    pub fn reset(&mut self, limits: HttpLimits) {
        let mut bufs = [
            std::mem::take(&mut self.arena),
            std::mem::take(&mut self.req_head),
            std::mem::take(&mut self.resp_head),
            std::mem::take(&mut self.dirs[0].partial),
            std::mem::take(&mut self.dirs[1].partial),
        ];
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        *self = HttpConn::new(limits);
        for b in &mut bufs {
            b.clear();
            if b.capacity() > 4096 {
                *b = Vec::new();
            }
        }
        let [arena, req_head, resp_head, p0, p1] = bufs;
        self.arena = arena;
        self.req_head = req_head;
        self.resp_head = resp_head;
        self.dirs[0].partial = p0;
        self.dirs[1].partial = p1;
        if pending.capacity() <= 64 {
            self.pending = pending;
        }
    }

    /// Heap bytes held (buffers and queue).
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.req_head.capacity()
            + self.resp_head.capacity()
            + self
                .dirs
                .iter()
                .map(|d| d.partial.capacity())
                .sum::<usize>()
            + self.pending.capacity() * std::mem::size_of::<Pending>()
    }

    /// The direction's stream began without its start (no SYN seen): look for a message start
    /// instead of parsing from the first byte.
    pub fn mid_stream(&mut self, client: bool) {
        self.resync(usize::from(!client));
        if client {
            self.client_mid_stream = true;
        }
    }

    /// True when `payload` begins with a request line's method.
    pub fn starts_request(payload: &[u8]) -> bool {
        message_start(true, payload) == Some(0)
    }

    /// Bytes of one direction, in stream order.
    pub fn data(
        &mut self,
        client: bool,
        mut bytes: &[u8],
        ts_us: i64,
        out: &mut impl FnMut(Txn<'_>),
    ) {
        let d = usize::from(!client);
        while !bytes.is_empty() {
            if !client && self.dirs[1].unsure_body {
                match self.body_or_next(bytes, ts_us, out) {
                    Some(used) => bytes = &bytes[used..],
                    None => return,
                }
                continue;
            }
            let used = match self.dirs[d].state {
                State::Head => self.head(client, bytes, ts_us, out),
                State::Body(left) => {
                    let take = left.min(bytes.len() as u64);
                    self.keep_body(client, &bytes[..take as usize]);
                    self.dirs[d].msg_size += take;
                    if take == left {
                        self.message_end(client, out);
                    } else {
                        self.dirs[d].state = State::Body(left - take);
                    }
                    take as usize
                }
                State::Chunked(mut c) => match c.feed(bytes, &mut |b| self.keep_body(client, b)) {
                    Ok(n) => {
                        self.dirs[d].msg_size += n as u64;
                        self.dirs[d].state = State::Chunked(c);
                        if c.done() {
                            self.message_end(client, out);
                        }
                        n
                    }
                    Err(p) => {
                        self.parse_error(client, p, out);
                        bytes.len()
                    }
                },
                State::UntilClose => {
                    self.keep_body(client, bytes);
                    self.dirs[d].msg_size += bytes.len() as u64;
                    bytes.len()
                }
                State::Resync => {
                    if self.start_in_tail(client, bytes, ts_us) {
                        continue;
                    }
                    match message_start(client, bytes) {
                        Some(i) => {
                            self.dirs[d].partial.clear();
                            self.dirs[d].state = State::Head;
                            if i == 0 {
                                continue;
                            }
                            i
                        }
                        None => {
                            self.keep_tail(client, bytes);
                            bytes.len()
                        }
                    }
                }
                State::Off => bytes.len(),
            };
            // Nothing consumed ends the loop, unless a parse error just sent the direction
            // looking for the next message start in these same bytes.
            if used == 0 && self.dirs[d].state != State::Resync {
                break;
            }
            bytes = &bytes[used.min(bytes.len())..];
        }
    }

    /// Direction `d` looks for the next message start. What it is given next begins a line,
    /// as far as requests are concerned (the kept bytes start with a line end).
    fn resync(&mut self, d: usize) {
        let dir = &mut self.dirs[d];
        dir.state = State::Resync;
        dir.partial.clear();
        dir.partial.push(b'\n');
    }

    /// While resynchronising: whether a message starts in the bytes kept from the previous
    /// chunk and continues in `bytes`. If so, those bytes become the start of the head being
    /// read (the direction is then in `Head`).
    fn start_in_tail(&mut self, client: bool, bytes: &[u8], ts_us: i64) -> bool {
        let d = usize::from(!client);
        let held = self.dirs[d].partial.len();
        if held == 0 {
            return false;
        }
        let mut probe = std::mem::take(&mut self.dirs[d].partial);
        probe.extend_from_slice(&bytes[..bytes.len().min(RESYNC_TAIL)]);
        // Position 0 is the byte before the earliest possible start (a request starts a line).
        let found = (1..held).find(|&i| message_start(client, &probe[i - 1..]) == Some(1));
        probe.truncate(held);
        if let Some(i) = found {
            probe.drain(..i);
            self.dirs[d].state = State::Head;
            self.dirs[d].msg_ts = ts_us;
        }
        self.dirs[d].partial = probe;
        found.is_some()
    }

    /// While resynchronising, after a chunk without a message start: keeps its last bytes
    /// (with those kept before, when the chunk is short), which may begin one.
    fn keep_tail(&mut self, client: bool, bytes: &[u8]) {
        let tail = &mut self.dirs[usize::from(!client)].partial;
        tail.extend_from_slice(&bytes[bytes.len().saturating_sub(RESYNC_TAIL)..]);
        let extra = tail.len().saturating_sub(RESYNC_TAIL);
        tail.drain(..extra);
    }

    /// The first bytes after the head of a response to an unknown request: its body, or the
    /// next response when it had none (the request was a HEAD). Up to 7 bytes are held until
    /// `HTTP/1.` can be told. Returns the bytes of `bytes` used, `None` when all are held.
    fn body_or_next(
        &mut self,
        bytes: &[u8],
        ts_us: i64,
        out: &mut impl FnMut(Txn<'_>),
    ) -> Option<usize> {
        const NEXT: &[u8] = b"HTTP/1.";
        let held = self.dirs[1].partial.len().min(NEXT.len());
        let take = bytes.len().min(NEXT.len() - held);
        let mut probe = [0u8; 7];
        probe[..held].copy_from_slice(&self.dirs[1].partial[..held]);
        probe[held..held + take].copy_from_slice(&bytes[..take]);
        let seen = &probe[..held + take];
        if seen.len() < NEXT.len() && NEXT.starts_with(seen) {
            self.dirs[1].partial.extend_from_slice(bytes);
            return None;
        }
        self.dirs[1].unsure_body = false;
        let kept = std::mem::take(&mut self.dirs[1].partial);
        if seen == NEXT {
            // No body: the held bytes begin the next response's head.
            self.message_end(false, out);
            self.dirs[1].msg_ts = ts_us;
            self.dirs[1].partial = kept;
        } else if !kept.is_empty() {
            // A body after all: the held bytes are its first.
            self.data(false, &kept, ts_us, out);
        }
        Some(0)
    }

    /// Keeps the first bytes of the current body of a direction, up to the prefix limit.
    fn keep_body(&mut self, client: bool, bytes: &[u8]) {
        let d = usize::from(!client);
        let want = self.dirs[d].body_want;
        if want == 0 {
            return;
        }
        let part = &bytes[..want.min(bytes.len())];
        self.dirs[d].body_want = want - part.len();
        if !client {
            self.resp_head.extend_from_slice(part);
            return;
        }
        // The request is still queued (not answered yet) and its prefix ends the arena.
        let serial = self.dirs[0].serial;
        if let Some(p) = self.pending.back_mut()
            && p.serial == serial
            && p.body_end == self.arena.len()
        {
            self.arena.extend_from_slice(part);
            p.body_end = self.arena.len();
        }
    }

    /// `len` bytes of one direction were never captured; `ts_us` is when that became known
    /// (the time of a request lost whole).
    pub fn gap(&mut self, client: bool, len: u64, ts_us: i64, out: &mut impl FnMut(Txn<'_>)) {
        let d = usize::from(!client);
        if client {
            self.client_gap = true;
        }
        match self.dirs[d].state {
            State::Body(left) if len < left => {
                self.dirs[d].msg_size += len;
                self.dirs[d].state = State::Body(left - len);
                return;
            }
            State::Body(left) => {
                self.dirs[d].msg_size += left;
                self.message_end(client, out);
                if len > left {
                    self.lost_message(client, ts_us, out);
                }
            }
            State::UntilClose => {
                self.dirs[d].msg_size += len;
                return;
            }
            State::Chunked(_) => self.message_end(client, out),
            // Between messages, or still looking for the next one after an earlier gap or
            // garbage: each gap is taken for one whole message (a receiver acknowledges each
            // response, or request, it got; so separate gaps are separate messages).
            State::Head | State::Resync => self.lost_message(client, ts_us, out),
            State::Off => return,
        }
        self.resync(d);
    }

    /// The connection ended: messages cut short become `unexpected EOF`, requests still
    /// waiting become requests without responses.
    pub fn end(&mut self, out: &mut impl FnMut(Txn<'_>)) {
        for client in [true, false] {
            let d = usize::from(!client);
            let missing = match self.dirs[d].state {
                State::Body(left) => Some(Some(left)),
                State::Chunked(_) => Some(None),
                State::Head if !self.dirs[d].partial.is_empty() => Some(None),
                State::UntilClose => {
                    self.message_end(client, out);
                    None
                }
                _ => None,
            };
            if let Some(left) = missing {
                self.eof(client, left, out);
            }
        }
        while let Some(p) = self.pending.pop_front() {
            self.emit_unanswered(p, Missing::StreamEnd, out);
        }
        self.arena.clear();
    }

    /// A direction ended inside a message.
    fn eof(&mut self, client: bool, left: Option<u64>, out: &mut impl FnMut(Txn<'_>)) {
        let d = usize::from(!client);
        let in_head = matches!(self.dirs[d].state, State::Head);
        self.dirs[d].state = State::Off;
        if client && in_head {
            let ts = self.dirs[d].msg_ts;
            self.push_slot(Slot::Eof(None), ts, out);
        } else if client {
            let serial = self.dirs[d].serial;
            if let Some(p) = self.pending.iter_mut().rev().find(|p| p.serial == serial) {
                p.slot = Slot::Eof(left);
            }
        } else if in_head {
            let req = self.pending.pop_front();
            let ts = self.dirs[d].msg_ts;
            self.emit_request_half(req, ts, Outcome::Eof(false, left), out);
        } else if let Some(cur) = self.current.take() {
            self.finish_response(cur, Outcome::Eof(false, left), out);
        }
    }

    /// Parses (or buffers) a message head; returns the bytes consumed.
    fn head(
        &mut self,
        client: bool,
        bytes: &[u8],
        ts_us: i64,
        out: &mut impl FnMut(Txn<'_>),
    ) -> usize {
        let d = usize::from(!client);
        let max = self.limits.max_head;
        if self.dirs[d].partial.is_empty() {
            // Line ends between messages (after a body longer than announced, or a client's
            // extra CRLF after a POST body) are skipped, not parsed as a head.
            let blank = bytes
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if blank > 0 {
                return blank;
            }
            self.dirs[d].msg_ts = ts_us;
            return match parse_head(client, bytes) {
                Ok(Some(h)) => {
                    self.on_head(client, &bytes[..h.len], h, out);
                    h.len
                }
                Ok(None) if bytes.len() < max => {
                    self.dirs[d].partial.extend_from_slice(bytes);
                    bytes.len()
                }
                Ok(None) => {
                    self.parse_error(client, Problem::HeadTooLong(max), out);
                    bytes.len()
                }
                Err(p) => {
                    // The next message may start in these bytes: look from the second on.
                    self.parse_error(client, p, out);
                    1
                }
            };
        }
        let old = self.dirs[d].partial.len();
        let take = bytes.len().min(max.saturating_sub(old));
        self.dirs[d].partial.extend_from_slice(&bytes[..take]);
        let mut partial = std::mem::take(&mut self.dirs[d].partial);
        let (used, keep) = match parse_head(client, &partial) {
            Ok(Some(h)) => {
                self.on_head(client, &partial[..h.len], h, out);
                (h.len.saturating_sub(old), false)
            }
            Ok(None) if partial.len() < max => (take, true),
            Ok(None) => {
                self.parse_error(client, Problem::HeadTooLong(max), out);
                (bytes.len(), false)
            }
            Err(p) => {
                // The next message may start in these bytes: look from the first on.
                self.parse_error(client, p, out);
                (0, false)
            }
        };
        if !keep {
            partial.clear();
        }
        self.dirs[d].partial = partial;
        used
    }

    fn on_head(&mut self, client: bool, head: &[u8], h: Head, out: &mut impl FnMut(Txn<'_>)) {
        let result = if client {
            self.request_head(head, h, out)
        } else {
            self.response_head(head, h, out)
        };
        if let Err(p) = result {
            self.parse_error(client, p, out);
        }
    }

    fn request_head(
        &mut self,
        head: &[u8],
        h: Head,
        out: &mut impl FnMut(Txn<'_>),
    ) -> Result<(), Problem> {
        let state = h.framing?;
        let (is_head, is_connect) = (h.is_head, h.is_connect);
        self.client_mid_stream = false;
        let start = self.arena.len();
        self.arena.extend_from_slice(head);
        let ts = self.dirs[0].msg_ts;
        let serial = self.push(
            Pending {
                serial: 0,
                slot: Slot::Parsed,
                ts_us: ts,
                head: (start, self.arena.len()),
                body_end: self.arena.len(),
                size: head.len() as u64,
                is_head,
                is_connect,
            },
            out,
        );
        let p = &mut self.dirs[0];
        p.body_want = self.limits.body_prefix;
        p.serial = serial;
        p.msg_size = head.len() as u64;
        p.state = state;
        Ok(())
    }

    fn response_head(
        &mut self,
        head: &[u8],
        h: Head,
        out: &mut impl FnMut(Txn<'_>),
    ) -> Result<(), Problem> {
        let code = h.code;
        if (100..200).contains(&code) && code != 101 {
            // Interim response: the final one follows for the same request.
            self.dirs[1].state = State::Head;
            return Ok(());
        }
        let req = self.pop_request();
        let no_body = req.is_some_and(|r| r.is_head) || code == 204 || code == 304;
        let state = if no_body { State::Head } else { h.framing? };
        let known = req.is_some_and(|r| matches!(r.slot, Slot::Parsed | Slot::Eof(_)));
        self.dirs[1].unsure_body = !known && matches!(state, State::Body(_) | State::Chunked(_));
        let tunnel =
            code == 101 || (req.is_some_and(|r| r.is_connect) && (200..300).contains(&code));
        let missing = if self.client_mid_stream {
            Missing::MidStream
        } else if self.client_gap {
            Missing::Lost
        } else {
            Missing::StreamEnd
        };
        self.resp_head.clear();
        self.resp_head.extend_from_slice(head);
        let p = &mut self.dirs[1];
        p.msg_size = head.len() as u64;
        p.body_want = self.limits.body_prefix;
        self.current = Some(Current {
            req,
            missing,
            ts_us: p.msg_ts,
            head_len: head.len(),
        });
        if tunnel {
            self.dirs[0].state = State::Off;
            self.dirs[1].state = State::Off;
            self.message_end(false, out);
        } else if state == State::Head {
            self.message_end(false, out);
        } else {
            self.dirs[1].state = state;
        }
        Ok(())
    }

    /// Invalid payload: a request slot that keeps responses in step, or an error entry for
    /// the response (with its request); then resynchronise.
    fn parse_error(&mut self, client: bool, problem: Problem, out: &mut impl FnMut(Txn<'_>)) {
        let d = usize::from(!client);
        let ts = self.dirs[d].msg_ts;
        if client {
            self.push_slot(Slot::Bad(problem), ts, out);
        } else if let Some(cur) = self.current.take() {
            self.finish_response(cur, Outcome::Parser(problem, false), out);
        } else {
            let req = self.pending.pop_front();
            self.emit_request_half(req, ts, Outcome::Parser(problem, false), out);
        }
        self.resync(d);
    }
}

#[cfg(test)]
mod tests;
