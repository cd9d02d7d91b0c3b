//! Properties of TCP reassembly and HTTP dissection under any segmentation: whatever the cut
//! points, the order in which segments arrive (within a window), the retransmissions (cut
//! differently from the originals, so they overlap them) and the sequence-number wrap, the
//! bytes handed over are the bytes sent; with losses and a small hold buffer, every byte is
//! still accounted for, as data equal to what was sent or as a gap; and keep-alive HTTP
//! transactions fed through that reassembly come out complete and in order. Hundreds of
//! seeded cases each, deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use faultline_ingest::app::http::{HttpConn, HttpLimits, Outcome};
use faultline_ingest::tcp::reassembly::stream::{ByteStream, Chunk};

/// SplitMix64: small, seeded, stable across versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

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
}

fn exchange(rng: &mut Rng, i: usize) -> Exchange {
    let path = format!("/items/{i}?page={}", rng.range(0, 99));
    let mut request = Vec::new();
    if rng.chance(30) {
        let body = rng.range(0, 5000);
        request.extend_from_slice(
            format!(
                "POST {path} HTTP/1.1\r\nHost: shop.example\r\ncontent-type: application/json\r\n\
                 Content-Length: {body}\r\n\r\n"
            )
            .as_bytes(),
        );
        request.extend((0..body).map(|k| b'a' + (k % 26) as u8));
    } else {
        request.extend_from_slice(
            format!("GET {path} HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n").as_bytes(),
        );
    }
    let status = [200, 200, 200, 404, 500][rng.range(0, 4)];
    let body = rng.range(0, 20_000);
    let mut response = format!("HTTP/1.1 {status} X\r\nServer: t\r\n").into_bytes();
    if rng.chance(40) {
        response.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        let mut left = body;
        while left > 0 {
            let n = rng.range(1, 3000).min(left);
            response.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            response.extend((0..n).map(|k| b'0' + (k % 10) as u8));
            response.extend_from_slice(b"\r\n");
            left -= n;
        }
        response.extend_from_slice(b"0\r\n\r\n");
    } else {
        response.extend_from_slice(format!("Content-Length: {body}\r\n\r\n").as_bytes());
        response.extend((0..body).map(|k| b'0' + (k % 10) as u8));
    }
    Exchange {
        request,
        response,
        path,
        status,
    }
}

/// Feeds one message of a direction through its reassembler into the dissector.
fn send(
    rng: &mut Rng,
    stream: &mut ByteStream,
    base: u32,
    msg: &[u8],
    conn: &mut HttpConn,
    client: bool,
    seen: &mut Vec<(Option<String>, Option<u16>, Outcome)>,
) {
    let mut out = |t: faultline_ingest::app::http::Txn<'_>| {
        seen.push((t.view.path.map(str::to_owned), t.view.status, t.outcome));
    };
    for (off, len) in arrivals(rng, msg.len(), false) {
        let seq = base.wrapping_add(off as u32);
        stream.segment(seq, &msg[off..off + len], &mut |c| match c {
            Chunk::Data(d) => conn.data(client, d, 0, &mut out),
            Chunk::Gap(n) => conn.gap(client, n, &mut out),
        });
    }
}

#[test]
fn keep_alive_http_survives_reordering_and_retransmission() {
    for seed in 0..150 {
        let mut rng = Rng(50_000 + seed);
        let n = rng.range(1, 12);
        let exchanges: Vec<Exchange> = (0..n).map(|i| exchange(&mut rng, i)).collect();
        let mut conn = HttpConn::new(HttpLimits::default());
        let mut streams = [ByteStream::new(1 << 20), ByteStream::new(1 << 20)];
        let mut next = [isn(&mut rng), isn(&mut rng)];
        streams[0].syn(next[0].wrapping_sub(1));
        streams[1].syn(next[1].wrapping_sub(1));
        let mut seen = Vec::new();
        for x in &exchanges {
            for (d, msg) in [(0, &x.request), (1, &x.response)] {
                let [c, s] = &mut streams;
                let stream = if d == 0 { c } else { s };
                send(&mut rng, stream, next[d], msg, &mut conn, d == 0, &mut seen);
                next[d] = next[d].wrapping_add(msg.len() as u32);
            }
        }
        conn.end(&mut |t| {
            seen.push((t.view.path.map(str::to_owned), t.view.status, t.outcome));
        });
        let want: Vec<_> = exchanges
            .iter()
            .map(|x| (Some(x.path.clone()), Some(x.status), Outcome::Complete))
            .collect();
        assert_eq!(seen, want, "seed {seed}");
    }
}
