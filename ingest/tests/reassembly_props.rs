//! Properties of TCP reassembly and HTTP dissection under any segmentation: whatever the cut
//! points, the order in which segments arrive (within a window), the retransmissions (cut
//! differently from the originals, so they overlap them) and the sequence-number wrap, the
//! bytes handed over are the bytes sent; with losses and a small hold buffer, every byte is
//! still accounted for, as data equal to what was sent or as a gap; and keep-alive HTTP
//! transactions fed through that reassembly come out complete and in order, except those whose
//! request or response the capture missed (and the peer acknowledged), which come out as lost
//! halves. Hundreds of seeded cases each, deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod prop_support;

use faultline_ingest::app::http::{HttpConn, HttpLimits, Missing, Outcome};
use faultline_ingest::tcp::reassembly::stream::{ByteStream, Chunk};
use prop_support::Rng;

/// A segment: offset in the message and length.
type Seg = (usize, usize);

/// Cuts `[from, to)` into segments of 1 to `max` bytes.
fn cut(rng: &mut Rng, from: usize, to: usize, max: usize) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let len = rng.range(1, max).min(to - at);
        out.push((at, len));
        at += len;
    }
    out
}

/// The order segments arrive in: the originals, some dropped when `loss` is set, plus
/// retransmissions of random ranges cut anew, each moved up to `window` places from where it
/// was sent.
fn arrivals(rng: &mut Rng, len: usize, loss: bool) -> Vec<Seg> {
    let mut sent: Vec<Seg> = cut(rng, 0, len, 1460)
        .into_iter()
        .filter(|_| !(loss && rng.chance(10)))
        .collect();
    for _ in 0..rng.range(0, 6) {
        let a = rng.range(0, len - 1);
        let b = rng.range(a + 1, len.min(a + 5000));
        let at = rng.range(0, sent.len());
        let again = cut(rng, a, b, 1460);
        sent.splice(at..at, again);
    }
    let window = rng.range(1, 8);
    for i in 0..sent.len() {
        let j = rng.range(i, (i + window).min(sent.len() - 1));
        sent.swap(i, j);
    }
    sent
}

/// An initial sequence number, often a few kB before the 32-bit wrap.
fn isn(rng: &mut Rng) -> u32 {
    if rng.chance(40) {
        u32::MAX - rng.range(0, 6000) as u32
    } else {
        rng.next() as u32
    }
}

/// What a stream handed over: data with its stream offset, and gaps.
#[derive(Default)]
struct Out {
    at: u64,
    data: Vec<(u64, Vec<u8>)>,
    gaps: u64,
}

impl Out {
    fn take(&mut self, c: Chunk<'_>) {
        match c {
            Chunk::Data(d) => {
                self.data.push((self.at, d.to_vec()));
                self.at += d.len() as u64;
            }
            Chunk::Gap(n) => {
                self.gaps += n;
                self.at += n;
            }
        }
    }
}

fn feed(msg: &[u8], arrivals: &[Seg], isn: u32, max_hold: usize) -> Out {
    let mut stream = ByteStream::new(max_hold);
    stream.syn(isn.wrapping_sub(1));
    let mut out = Out::default();
    for &(off, len) in arrivals {
        let seq = isn.wrapping_add(off as u32);
        stream.segment(seq, &msg[off..off + len], &mut |c| out.take(c));
    }
    stream.flush(&mut |c| out.take(c));
    out
}

fn message(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next() as u8).collect()
}

#[test]
fn any_order_and_overlap_gives_back_the_bytes_sent() {
    for seed in 0..400 {
        let mut rng = Rng(seed);
        let len = rng.range(1, 40_000);
        let msg = message(&mut rng, len);
        let order = arrivals(&mut rng, len, false);
        let out = feed(&msg, &order, isn(&mut rng), 1 << 20);
        assert_eq!(out.gaps, 0, "seed {seed}");
        let got: Vec<u8> = out.data.into_iter().flat_map(|(_, d)| d).collect();
        assert!(got == msg, "seed {seed}: {} of {len} bytes", got.len());
    }
}

#[test]
fn losses_and_a_small_buffer_account_for_every_byte() {
    let mut gaps_seen = 0;
    for seed in 0..400 {
        let mut rng = Rng(1_000 + seed);
        let len = rng.range(1, 40_000);
        let msg = message(&mut rng, len);
        let order = arrivals(&mut rng, len, true);
        let hold = rng.range(1500, 16_000);
        let out = feed(&msg, &order, isn(&mut rng), hold);
        // From the SYN to the last byte that arrived, every byte is data equal to what was
        // sent, or part of a gap; nothing is handed over twice.
        let end = order.iter().map(|&(o, l)| o + l).max().unwrap_or(0);
        assert_eq!(out.at as usize, end, "seed {seed}");
        for (at, d) in &out.data {
            let from = *at as usize;
            assert!(
                d[..] == msg[from..from + d.len()],
                "seed {seed}: data at {from}"
            );
        }
        gaps_seen += u64::from(out.gaps > 0);
    }
    assert!(gaps_seen > 100, "only {gaps_seen} cases with gaps");
}

/// One keep-alive exchange: request and response bytes, and what the entry must say.
struct Exchange {
    request: Vec<u8>,
    response: Vec<u8>,
    path: String,
    status: u16,
    /// A HEAD request: its response announces a body it does not carry.
    head: bool,
}

/// `n` body bytes.
fn body(n: usize, from: u8) -> impl Iterator<Item = u8> {
    (0..n).map(move |k| from + (k % 10) as u8)
}

/// A chunked body of `n` bytes: random chunk sizes, sometimes chunk extensions and trailer
/// fields, hex digits in either case.
fn chunked(rng: &mut Rng, n: usize, out: &mut Vec<u8>) {
    let mut left = n;
    while left > 0 {
        let size = rng.range(1, 3000).min(left);
        let line = if rng.chance(50) {
            format!("{size:x}")
        } else {
            format!("{size:X}")
        };
        out.extend_from_slice(line.as_bytes());
        if rng.chance(15) {
            out.extend_from_slice(b";ext=\"v\"");
        }
        out.extend_from_slice(b"\r\n");
        out.extend(body(size, b'0'));
        out.extend_from_slice(b"\r\n");
        left -= size;
    }
    out.extend_from_slice(b"0\r\n");
    if rng.chance(20) {
        out.extend_from_slice(b"X-Checksum: 1f2e\r\nX-Other: a\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A random keep-alive exchange covering HTTP/1.1 framing: GET, HEAD (a response head that
/// announces a body it does not carry), POST with Content-Length (some with `Expect:
/// 100-continue` and an interim response), responses with Content-Length or chunked bodies
/// (extensions, trailers), 204 and 304 without a body, header names in any case. The last
/// exchange of a connection may end with a body delimited by the close (`close_last`).
fn exchange(rng: &mut Rng, i: usize, close_last: bool) -> Exchange {
    let path = format!("/items/{i}?page={}", rng.range(0, 99));
    let mut request = Vec::new();
    let method = ["GET", "GET", "GET", "HEAD", "POST", "POST"][rng.range(0, 5)];
    let mut interim = false;
    if method == "POST" {
        let n = rng.range(0, 5000);
        interim = rng.chance(30);
        let expect = if interim {
            "Expect: 100-continue\r\n"
        } else {
            ""
        };
        let length = ["Content-Length", "content-length", "CONTENT-LENGTH"][rng.range(0, 2)];
        request.extend_from_slice(
            format!(
                "POST {path} HTTP/1.1\r\nHost: shop.example\r\n{expect}\
                 content-type: application/json\r\n{length}: {n}\r\n\r\n"
            )
            .as_bytes(),
        );
        request.extend(body(n, b'a'));
    } else {
        request.extend_from_slice(
            format!("{method} {path} HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n")
                .as_bytes(),
        );
    }
    let status = if method == "HEAD" {
        200
    } else {
        [200, 200, 200, 204, 304, 404, 500][rng.range(0, 6)]
    };
    let n = rng.range(0, 20_000);
    let mut response = Vec::new();
    if interim {
        response.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    response.extend_from_slice(format!("HTTP/1.1 {status} X\r\nServer: t\r\n").as_bytes());
    let carries_body = method != "HEAD" && status != 204 && status != 304;
    if !carries_body {
        if method == "HEAD" {
            response.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
        }
        response.extend_from_slice(b"\r\n");
    } else if close_last && rng.chance(50) {
        response.extend_from_slice(b"Connection: close\r\n\r\n");
        response.extend(body(n, b'0'));
    } else if rng.chance(40) {
        let coding = ["chunked", "Chunked", "CHUNKED"][rng.range(0, 2)];
        response.extend_from_slice(format!("Transfer-Encoding: {coding}\r\n\r\n").as_bytes());
        chunked(rng, n, &mut response);
    } else {
        response.extend_from_slice(format!("Content-Length: {n}\r\n\r\n").as_bytes());
        response.extend(body(n, b'0'));
    }
    Exchange {
        request,
        response,
        path,
        status,
        head: method == "HEAD",
    }
}

/// `n` exchanges, the last of which may end at the close.
fn exchanges(rng: &mut Rng, n: usize) -> Vec<Exchange> {
    (0..n).map(|i| exchange(rng, i, i + 1 == n)).collect()
}

/// What the dissector handed out: path, status and outcome of each transaction.
type Seen = Vec<(Option<String>, Option<u16>, Outcome)>;

/// One connection's two reassemblers and dissector, fed message by message.
struct Conn {
    http: HttpConn,
    streams: [ByteStream; 2],
    /// Sequence number of each direction's next message.
    next: [u32; 2],
    seen: Seen,
}

impl Conn {
    fn new(rng: &mut Rng) -> Conn {
        let next = [isn(rng), isn(rng)];
        let mut streams = [ByteStream::new(1 << 20), ByteStream::new(1 << 20)];
        for (s, n) in streams.iter_mut().zip(next) {
            s.syn(n.wrapping_sub(1));
        }
        Conn {
            http: HttpConn::new(HttpLimits::default()),
            streams,
            next,
            seen: Vec::new(),
        }
    }

    /// One message of direction `d` (0 client): its segments in some order with
    /// retransmissions, or none when the capture missed it; then the peer's ACK of it.
    fn send(&mut self, rng: &mut Rng, d: usize, msg: &[u8], captured: bool) {
        let Conn {
            http,
            streams,
            seen,
            ..
        } = self;
        let client = d == 0;
        let mut out = |c: Chunk<'_>| {
            let mut txn = |t: faultline_ingest::app::http::Txn<'_>| {
                seen.push((t.view.path.map(str::to_owned), t.view.status, t.outcome));
            };
            match c {
                Chunk::Data(bytes) => http.data(client, bytes, 0, &mut txn),
                Chunk::Gap(n) => http.gap(client, n, 0, &mut txn),
            }
        };
        let base = self.next[d];
        if captured {
            for (off, len) in arrivals(rng, msg.len(), false) {
                let seq = base.wrapping_add(off as u32);
                streams[d].segment(seq, &msg[off..off + len], &mut out);
            }
        }
        self.next[d] = base.wrapping_add(msg.len() as u32);
        streams[d].ack(self.next[d], &mut out);
    }

    fn end(mut self) -> Seen {
        let seen = &mut self.seen;
        self.http.end(&mut |t| {
            seen.push((t.view.path.map(str::to_owned), t.view.status, t.outcome));
        });
        self.seen
    }
}

/// `n` exchanges on one connection, requests sent in batches of 1 to `max_batch` before their
/// responses: every transaction comes out complete, in order.
fn pairs_in_order(seed: u64, n: usize, max_batch: usize) {
    let mut rng = Rng(seed);
    let exchanges = exchanges(&mut rng, n);
    let mut conn = Conn::new(&mut rng);
    let mut sent = 0;
    while sent < n {
        let batch = rng.range(1, max_batch).min(n - sent);
        for x in &exchanges[sent..sent + batch] {
            conn.send(&mut rng, 0, &x.request, true);
        }
        for x in &exchanges[sent..sent + batch] {
            conn.send(&mut rng, 1, &x.response, true);
        }
        sent += batch;
    }
    let want: Vec<_> = exchanges
        .iter()
        .map(|x| (Some(x.path.clone()), Some(x.status), Outcome::Complete))
        .collect();
    assert_eq!(conn.end(), want, "seed {seed}");
}

#[test]
fn keep_alive_http_survives_reordering_and_retransmission() {
    for seed in 0..150 {
        pairs_in_order(50_000 + seed, Rng(seed).range(1, 12), 1);
    }
}

/// Pipelined requests (up to 8 sent before the first response) pair with their responses in
/// order, whatever the framing.
#[test]
fn pipelined_requests_pair_in_order() {
    for seed in 0..150 {
        pairs_in_order(70_000 + seed, Rng(seed).range(1, 16), 8);
    }
}

/// Whole messages the capture missed but the peer acknowledged: a missed response leaves its
/// request without response, a missed request leaves its response without request, both
/// "lost" (the reason "packets lost"), and every other exchange is still paired.
#[test]
fn missed_messages_are_lost_halves_and_the_rest_still_pairs() {
    let mut lost = [0; 2];
    for seed in 0..150 {
        let mut rng = Rng(90_000 + seed);
        let n = rng.range(2, 12);
        let exchanges = exchanges(&mut rng, n);
        let mut conn = Conn::new(&mut rng);
        let mut want = Vec::new();
        let mut head_missed = false;
        for (i, x) in exchanges.iter().enumerate() {
            // The last exchange is always captured: a hole is known when data follows it. A
            // missed HEAD request leaves a response that announces a body it does not carry;
            // the next response, right after its head, tells. When that next response is
            // missed too, nothing tells a bodiless response from a body the capture lost, so
            // that case is not drawn.
            let missed = if i + 1 < n && rng.chance(25) {
                Some(if head_missed { 0 } else { rng.range(0, 1) })
            } else {
                None
            };
            head_missed = x.head && missed == Some(0);
            conn.send(&mut rng, 0, &x.request, missed != Some(0));
            conn.send(&mut rng, 1, &x.response, missed != Some(1));
            let (path, status) = (Some(x.path.clone()), Some(x.status));
            want.push(match missed {
                None => (path, status, Outcome::Complete),
                Some(0) => (None, status, Outcome::NoRequest(Missing::Lost)),
                Some(_) => (path, None, Outcome::NoResponse(Missing::Lost)),
            });
            if let Some(d) = missed {
                lost[d] += 1;
            }
        }
        assert_eq!(conn.end(), want, "seed {seed}");
    }
    assert!(lost[0] > 20 && lost[1] > 20, "{lost:?}");
}

/// Garbage mixed with pieces of valid messages, in random pieces, gaps between them, in both
/// directions: the dissector neither panics nor loops (a parse error now looks for the next
/// message in the same bytes), and it reports what it saw.
#[test]
fn garbage_and_fragments_never_stall_the_dissector() {
    for seed in 0..300 {
        let mut rng = Rng(120_000 + seed);
        let exchanges = exchanges(&mut rng, 6);
        let mut http = HttpConn::new(HttpLimits {
            max_head: 2048,
            ..HttpLimits::default()
        });
        let mut handed = 0usize;
        let mut out = |_: faultline_ingest::app::http::Txn<'_>| handed += 1;
        for _ in 0..40 {
            let client = rng.chance(50);
            let x = &exchanges[rng.range(0, 5)];
            let msg = if client { &x.request } else { &x.response };
            let piece: Vec<u8> = match rng.range(0, 3) {
                0 => {
                    let a = rng.range(0, msg.len() - 1);
                    msg[a..rng.range(a + 1, msg.len())].to_vec()
                }
                1 => msg.clone(),
                2 => (0..rng.range(1, 3000)).map(|_| rng.next() as u8).collect(),
                _ => b"HTTP/1.1 200\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\n".to_vec(),
            };
            for part in piece.chunks(rng.range(1, 1500)) {
                http.data(client, part, 0, &mut out);
            }
            if rng.chance(10) {
                http.gap(client, rng.range(1, 100_000) as u64, 0, &mut out);
            }
        }
        http.end(&mut out);
        assert!(handed > 0, "seed {seed}");
    }
}
