//! Pairing requests with responses: the queue of requests waiting for their response
//! (pipelining, bounded), the slots that keep responses in step when a request was lost or
//! broken, and the [`Txn`]s handed over when a response ends or a request is given up.

use super::head::{MAX_HEADERS, header};
use super::txn::{Missing, Outcome, Txn};
use super::{Current, HttpConn, Pending, Slot, State};
use crate::emit::HttpView;

impl HttpConn {
    /// Queues a request slot, giving up the oldest when the queue is full; returns its serial.
    pub(super) fn push(&mut self, mut p: Pending, out: &mut impl FnMut(Txn<'_>)) -> u64 {
        if self.pending.len() >= self.limits.max_pending
            && let Some(old) = self.pending.pop_front()
        {
            self.emit_unanswered(old, Missing::Overflow, out);
        }
        self.next_serial += 1;
        p.serial = self.next_serial;
        if self.pending.capacity() == 0 {
            // Most connections have one request in flight: room for one, not the default four.
            self.pending.reserve_exact(1);
        }
        self.pending.push_back(p);
        self.next_serial
    }

    pub(super) fn push_slot(&mut self, slot: Slot, ts_us: i64, out: &mut impl FnMut(Txn<'_>)) {
        let start = self.arena.len();
        self.push(
            Pending {
                serial: 0,
                slot,
                ts_us,
                head: (start, start),
                body_end: start,
                size: 0,
                is_head: false,
                is_connect: false,
            },
            out,
        );
    }

    /// Takes the oldest request and moves its head and body prefix to `req_head`.
    pub(super) fn pop_request(&mut self) -> Option<Pending> {
        let p = self.pending.pop_front()?;
        self.req_head.clear();
        self.req_head
            .extend_from_slice(self.arena.get(p.head.0..p.body_end).unwrap_or(&[]));
        match self.pending.front() {
            None => self.arena.clear(),
            Some(f) if f.head.0 > 64 * 1024 && f.head.0 > self.arena.len() / 2 => {
                let cut = f.head.0;
                self.arena.drain(..cut);
                for q in &mut self.pending {
                    q.head = (q.head.0 - cut, q.head.1 - cut);
                    q.body_end -= cut;
                }
            }
            Some(_) => {}
        }
        Some(p)
    }

    /// The current message of a direction ended.
    pub(super) fn message_end(&mut self, client: bool, out: &mut impl FnMut(Txn<'_>)) {
        let d = usize::from(!client);
        let size = self.dirs[d].msg_size;
        if self.dirs[d].state != State::Off {
            self.dirs[d].state = State::Head;
        }
        if client {
            let serial = self.dirs[d].serial;
            if let Some(p) = self.pending.iter_mut().rev().find(|p| p.serial == serial) {
                p.size = size;
            } else if let Some(Current { req: Some(r), .. }) = &mut self.current
                && r.serial == serial
            {
                r.size = size;
            }
        } else if let Some(cur) = self.current.take() {
            let outcome = match cur.req.map(|r| r.slot) {
                Some(Slot::Parsed) => Outcome::Complete,
                Some(Slot::Bad(p)) => Outcome::Parser(p, true),
                Some(Slot::Eof(left)) => Outcome::Eof(true, left),
                Some(Slot::Lost) => Outcome::NoRequest(Missing::Lost),
                None => Outcome::NoRequest(cur.missing),
            };
            self.finish_response(cur, outcome, out);
        }
    }

    pub(super) fn finish_response(
        &mut self,
        cur: Current,
        outcome: Outcome,
        out: &mut impl FnMut(Txn<'_>),
    ) {
        let resp_size = self.dirs[1].msg_size;
        let req = cur
            .req
            .filter(|r| r.slot == Slot::Parsed || matches!(r.slot, Slot::Eof(_)));
        let req_ts = cur.req.map(|r| r.ts_us);
        let ts = req_ts.unwrap_or(cur.ts_us);
        let mut rh = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut sh = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut view = HttpView::default();
        if let Some(r) = req {
            let body = r.head.1 - r.head.0;
            fill_request(&mut view, &self.req_head, body, &mut rh, r.size);
        }
        let mut resp = httparse::Response::new(&mut sh);
        if resp.parse(&self.resp_head).is_ok() {
            view.status = resp.code;
            view.status_text = resp.reason;
            view.response_headers = Some(&*resp.headers);
            view.response_body = non_empty(self.resp_head.get(cur.head_len..));
        }
        view.response_size = Some(resp_size);
        view.elapsed_ms = req_ts.map(|t| (cur.ts_us - t).max(0) / 1000);
        out(Txn {
            ts_us: ts,
            view,
            outcome,
        });
    }

    /// A request slot that got no response.
    pub(super) fn emit_unanswered(
        &mut self,
        p: Pending,
        missing: Missing,
        out: &mut impl FnMut(Txn<'_>),
    ) {
        let outcome = match p.slot {
            Slot::Lost => return,
            Slot::Parsed => Outcome::NoResponse(missing),
            Slot::Bad(problem) => Outcome::Parser(problem, true),
            Slot::Eof(left) => Outcome::Eof(true, left),
        };
        self.emit_request_half(Some(p), p.ts_us, outcome, out);
    }

    /// A transaction of which at most the request was seen.
    pub(super) fn emit_request_half(
        &mut self,
        req: Option<Pending>,
        ts_us: i64,
        outcome: Outcome,
        out: &mut impl FnMut(Txn<'_>),
    ) {
        let mut rh = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut view = HttpView::default();
        let ts = match req {
            Some(p) if matches!(p.slot, Slot::Parsed | Slot::Eof(_)) => {
                let head = self.arena.get(p.head.0..p.body_end).unwrap_or(&[]);
                fill_request(&mut view, head, p.head.1 - p.head.0, &mut rh, p.size);
                p.ts_us
            }
            _ => ts_us,
        };
        out(Txn {
            ts_us: ts,
            view,
            outcome,
        });
    }

    /// A whole message of a direction fell into a gap found at `ts_us`.
    pub(super) fn lost_message(&mut self, client: bool, ts_us: i64, out: &mut impl FnMut(Txn<'_>)) {
        if client {
            self.push_slot(Slot::Lost, ts_us, out);
        } else if let Some(p) = self.pending.pop_front() {
            self.emit_unanswered(p, Missing::Lost, out);
            if self.pending.is_empty() {
                self.arena.clear();
            }
        }
    }
}

/// `Some` when there are bytes.
fn non_empty(b: Option<&[u8]>) -> Option<&[u8]> {
    b.filter(|b| !b.is_empty())
}

/// Fills the request half of `view` from a request head followed by its body prefix, which
/// starts at `body`.
fn fill_request<'a>(
    view: &mut HttpView<'a>,
    head: &'a [u8],
    body: usize,
    headers: &'a mut [httparse::Header<'a>],
    size: u64,
) {
    view.request_body = non_empty(head.get(body..));
    let mut req = httparse::Request::new(headers);
    if req.parse(head).is_ok() {
        view.method = req.method;
        view.path = req.path;
        let hs: &'a [httparse::Header<'a>] = req.headers;
        view.host = header(hs, "host").and_then(|v| std::str::from_utf8(v).ok());
        view.request_headers = Some(hs);
    }
    view.request_size = Some(size);
}
