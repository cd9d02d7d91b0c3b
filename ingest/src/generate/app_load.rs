//! Application-heavy synthetic traffic for throughput and memory measurements.
//!
//! [`http_load`]: many keep-alive connections carrying browser-like requests and responses with realistic header sets, bodies
//! of mixed sizes (a few hundred bytes to megabytes), some of them chunked, some requests with
//! a body (POST). Packets are raw IPv4 ([`LinkType::RawIp`]) held in one buffer, so a benchmark
//! measures the dissection path and not the pcap reader. [`dns_load`]: DNS lookups over UDP,
//! each from its own port. [`open_requests`]: many connections each with a request in flight
//! and no response yet, the state a dissector holds for a busy server.
//!
//! Unlike [`write_capture`](super::write_capture) this injects no errors: every transaction is
//! complete, so a run that sees an error entry has a dissector bug.

use std::io::Write as _;
use std::net::Ipv4Addr;

use super::content::Dns;
use super::rng::Rng;
use crate::source::{Frame, LinkType};

/// TCP payload per segment.
const MSS: usize = 1448;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

/// Response body sizes of an HTTP-heavy capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySizes {
    /// Every response body has this many bytes (a rough average of many small transactions or
    /// of bulk transfer).
    Fixed(u32),
    /// Web-like mix: half small (200 B to 2 KiB), 30 % up to 32 KiB, 15 % up to 256 KiB and 5 %
    /// up to 2 MiB.
    Mixed,
}

/// Shape of an HTTP-heavy capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLoad {
    /// Seed of all randomness; the same load gives the same bytes.
    pub seed: u64,
    /// Keep-alive connections, open at the same time; their transactions interleave.
    pub connections: u32,
    /// Transactions per connection.
    pub requests: u32,
    /// Response body sizes.
    pub bodies: BodySizes,
    /// Share of responses sent with `Transfer-Encoding: chunked`, in 1/1000.
    pub chunked_permille: u32,
    /// Share of requests that are POSTs with a small JSON body, in 1/1000.
    pub post_permille: u32,
}

impl Default for HttpLoad {
    fn default() -> Self {
        HttpLoad {
            seed: 7,
            connections: 64,
            requests: 40,
            bodies: BodySizes::Mixed,
            chunked_permille: 250,
            post_permille: 150,
        }
    }
}

/// One packet of a [`RawCapture`]: time and byte range in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RawPacket {
    ts_us: i64,
    start: usize,
    end: usize,
}

/// Raw IPv4 packets in one buffer, with what they carry.
#[derive(Debug, Default)]
pub struct RawCapture {
    bytes: Vec<u8>,
    packets: Vec<RawPacket>,
    /// TCP payload bytes (all of it HTTP).
    pub payload_bytes: u64,
    /// HTTP transactions (request and response pairs, or requests in flight).
    pub transactions: u64,
}

impl RawCapture {
    /// The packets in capture order, as a capture source hands them over.
    pub fn frames(&self) -> impl Iterator<Item = Frame<'_>> {
        self.packets.iter().map(|p| Frame {
            ts_us: p.ts_us,
            link: LinkType::RawIp,
            data: &self.bytes[p.start..p.end],
            orig_len: (p.end - p.start) as u32,
            interface: 0,
        })
    }

    /// Number of packets.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// True when there is no packet.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Heap bytes the capture holds (packet bytes and index), for memory reports.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.packets.capacity() * std::mem::size_of::<RawPacket>()
    }

    /// IPv4 header (no options, checksum left 0) and the ports.
    fn ip(&mut self, from: &End, to: &End, proto: u8, len: usize) {
        let total = (20 + len) as u16;
        let b = &mut self.bytes;
        b.extend_from_slice(&[0x45, 0]);
        b.extend_from_slice(&total.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
        b.extend_from_slice(&from.ip.octets());
        b.extend_from_slice(&to.ip.octets());
        b.extend_from_slice(&from.port.to_be_bytes());
        b.extend_from_slice(&to.port.to_be_bytes());
    }

    fn udp(&mut self, ts_us: i64, from: &End, to: &End, payload: &[u8]) {
        let start = self.bytes.len();
        let len = 8 + payload.len();
        self.ip(from, to, 17, len);
        self.bytes.extend_from_slice(&(len as u16).to_be_bytes());
        self.bytes.extend_from_slice(&[0, 0]);
        self.bytes.extend_from_slice(payload);
        let end = self.bytes.len();
        self.packets.push(RawPacket { ts_us, start, end });
        self.payload_bytes += payload.len() as u64;
    }

    fn packet(&mut self, ts_us: i64, from: &End, to: &End, flags: u8, payload: &[u8]) {
        let start = self.bytes.len();
        self.ip(from, to, 6, 20 + payload.len());
        let b = &mut self.bytes;
        b.extend_from_slice(&from.seq.to_be_bytes());
        let ack = if flags & ACK != 0 { to.seq } else { 0 };
        b.extend_from_slice(&ack.to_be_bytes());
        b.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        b.extend_from_slice(payload);
        let end = self.bytes.len();
        self.packets.push(RawPacket { ts_us, start, end });
        self.payload_bytes += payload.len() as u64;
    }

    /// Sends `data` from `a` to `b` in MSS segments, `b` acknowledging every second one.
    fn send(&mut self, ts: &mut i64, a: &mut End, b: &End, data: &[u8]) {
        for (i, seg) in data.chunks(MSS).enumerate() {
            *ts += 10;
            self.packet(*ts, a, b, ACK | PSH, seg);
            a.seq = a.seq.wrapping_add(seg.len() as u32);
            if i % 2 == 1 || (i + 1) * MSS >= data.len() {
                self.packet(*ts + 5, b, a, ACK, &[]);
            }
        }
    }

    fn handshake(&mut self, ts: i64, c: &mut End, s: &mut End) {
        self.packet(ts, c, s, SYN, &[]);
        c.seq = c.seq.wrapping_add(1);
        self.packet(ts + 1, s, c, SYN | ACK, &[]);
        s.seq = s.seq.wrapping_add(1);
        self.packet(ts + 2, c, s, ACK, &[]);
    }

    fn close(&mut self, ts: i64, c: &mut End, s: &mut End) {
        self.packet(ts, c, s, FIN | ACK, &[]);
        c.seq = c.seq.wrapping_add(1);
        self.packet(ts + 1, s, c, FIN | ACK, &[]);
        s.seq = s.seq.wrapping_add(1);
        self.packet(ts + 2, c, s, ACK, &[]);
    }
}

/// One side of a synthetic connection.
#[derive(Debug, Clone, Copy)]
struct End {
    ip: Ipv4Addr,
    port: u16,
    seq: u32,
}

/// Client and server of connection `i` (up to 2^30 distinct connections).
fn ends(i: u32) -> (End, End) {
    let c = End {
        ip: Ipv4Addr::from(0x0a00_0000 + (i >> 14)),
        port: 20_000 + (i & 0x3fff) as u16,
        seq: 1000u32.wrapping_add(i.wrapping_mul(7919)),
    };
    let s = End {
        ip: Ipv4Addr::new(192, 0, 2, 10 + (i % 4) as u8),
        port: if i.is_multiple_of(5) { 8080 } else { 80 },
        seq: 5000u32.wrapping_add(i.wrapping_mul(104_729)),
    };
    (c, s)
}

const PATHS: [&str; 6] = [
    "/",
    "/static/js/app.4f1c2d.js",
    "/api/v2/items?page=3&limit=50",
    "/images/hero-banner@2x.webp",
    "/assets/fonts/inter-var.woff2",
    "/downloads/release-2024.10.tar.gz",
];

const USER_AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "curl/8.5.0",
];

const CONTENT_TYPES: [&str; 4] = [
    "text/html; charset=utf-8",
    "application/json",
    "application/javascript",
    "application/octet-stream",
];

/// Filler of bodies: printable text, so a body prefix is readable.
const FILLER: &[u8] =
    b"<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n";

/// Writes a browser-like request head (and a JSON body for POSTs) into `out`.
fn request(out: &mut Vec<u8>, rng: &mut Rng, host: &str, post: bool) {
    let path = rng.pick(&PATHS);
    let ua = rng.pick(&USER_AGENTS);
    let method = if post { "POST" } else { "GET" };
    let _ = write!(
        out,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\n\
         Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
         Accept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate\r\n\
         Connection: keep-alive\r\nReferer: http://{host}/index.html\r\n\
         Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n"
    );
    if post {
        let body = b"{\"query\":\"widgets\",\"page\":3,\"filters\":{\"color\":\"blue\"}}";
        let _ = write!(
            out,
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `n` filler bytes.
fn filler(out: &mut Vec<u8>, n: usize) {
    let mut left = n;
    while left > 0 {
        let take = left.min(FILLER.len());
        out.extend_from_slice(&FILLER[..take]);
        left -= take;
    }
}

/// Writes a response head and a body of `body` bytes, chunked or with Content-Length.
fn response(out: &mut Vec<u8>, rng: &mut Rng, body: usize, chunked: bool) {
    let ctype = rng.pick(&CONTENT_TYPES);
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nDate: Tue, 01 Oct 2024 12:00:00 GMT\r\nServer: nginx/1.25.4\r\n\
         Content-Type: {ctype}\r\nCache-Control: public, max-age=3600\r\n\
         ETag: \"{:016x}\"\r\nLast-Modified: Mon, 30 Sep 2024 08:00:00 GMT\r\n\
         Vary: Accept-Encoding\r\nX-Request-Id: {:032x}\r\n",
        rng.next_u64(),
        u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())
    );
    if !chunked {
        let _ = write!(out, "Content-Length: {body}\r\n\r\n");
        filler(out, body);
        return;
    }
    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    let mut left = body;
    while left > 0 {
        let n = left.min(rng.range(1024, 16 * 1024) as usize);
        let _ = write!(out, "{n:x}\r\n");
        filler(out, n);
        out.extend_from_slice(b"\r\n");
        left -= n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
}

fn body_size(rng: &mut Rng, sizes: BodySizes) -> usize {
    let (lo, hi) = match sizes {
        BodySizes::Fixed(n) => return n as usize,
        BodySizes::Mixed => match rng.weighted(&[50, 30, 15, 5]) {
            0 => (200, 2 * 1024),
            1 => (2 * 1024, 32 * 1024),
            2 => (32 * 1024, 256 * 1024),
            _ => (256 * 1024, 2 * 1024 * 1024),
        },
    };
    rng.range(lo, hi) as usize
}

/// Host name of the server of a connection.
fn host(s: &End) -> String {
    format!("www{}.bench.example", s.ip.octets()[3])
}

/// An HTTP-heavy capture: `load.connections` keep-alive connections opened together, each
/// carrying `load.requests` transactions (connections take turns, one transaction at a time),
/// then closed with FINs.
pub fn http_load(load: &HttpLoad) -> RawCapture {
    let mut rng = Rng::new(load.seed);
    let mut cap = RawCapture::default();
    let mut pairs: Vec<(End, End)> = (0..load.connections).map(ends).collect();
    let hosts: Vec<String> = pairs.iter().map(|(_, s)| host(s)).collect();
    let mut ts = 1_704_067_200_000_000i64;
    for (c, s) in &mut pairs {
        cap.handshake(ts, c, s);
        ts += 3;
    }
    let mut msg = Vec::new();
    for _ in 0..load.requests {
        for ((c, s), host) in pairs.iter_mut().zip(&hosts) {
            msg.clear();
            let post = rng.chance(load.post_permille);
            request(&mut msg, &mut rng, host, post);
            cap.send(&mut ts, c, s, &msg);
            msg.clear();
            let body = body_size(&mut rng, load.bodies);
            let chunked = rng.chance(load.chunked_permille);
            response(&mut msg, &mut rng, body, chunked);
            cap.send(&mut ts, s, c, &msg);
            cap.transactions += 1;
        }
    }
    for (c, s) in &mut pairs {
        ts += 10;
        cap.close(ts, c, s);
    }
    cap
}

/// `n` connections, each opened and carrying one complete request that has no response yet:
/// the state a dissector holds for a busy server's open streams.
pub fn open_requests(n: u32, seed: u64) -> RawCapture {
    let mut rng = Rng::new(seed);
    let mut cap = RawCapture::default();
    let mut ts = 1_704_067_200_000_000i64;
    let mut msg = Vec::new();
    for i in 0..n {
        let (mut c, mut s) = ends(i);
        cap.handshake(ts, &mut c, &mut s);
        msg.clear();
        request(&mut msg, &mut rng, &host(&s), false);
        cap.send(&mut ts, &mut c, &s, &msg);
        cap.transactions += 1;
        ts += 1;
    }
    cap
}

/// `n` DNS lookups over UDP (A and AAAA, some NXDOMAIN), each from its own client port to
/// one resolver, 10 µs apart, the response 200 µs after its query.
pub fn dns_load(n: u32, seed: u64) -> RawCapture {
    let mut rng = Rng::new(seed);
    let mut cap = RawCapture::default();
    let resolver = End {
        ip: Ipv4Addr::new(192, 0, 2, 53),
        port: 53,
        seq: 0,
    };
    let mut msg = Vec::new();
    let mut ts = 1_704_067_200_000_000i64;
    for i in 0..n {
        let (client, _) = ends(i);
        let lookup = Dns::random(&mut rng);
        msg.clear();
        lookup.query(&mut msg);
        cap.udp(ts, &client, &resolver, &msg);
        msg.clear();
        lookup.response(&mut msg);
        cap.udp(ts + 200, &resolver, &client, &msg);
        cap.transactions += 1;
        ts += 10;
    }
    cap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode;

    fn heads(buf: &[u8], client: bool) -> usize {
        let mut h = [httparse::EMPTY_HEADER; 32];
        let r = if client {
            httparse::Request::new(&mut h).parse(buf)
        } else {
            httparse::Response::new(&mut h).parse(buf)
        };
        match r {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn messages_parse_and_chunked_bodies_add_up() {
        let mut rng = Rng::new(3);
        let mut out = Vec::new();
        request(&mut out, &mut rng, "h.example", true);
        let n = heads(&out, true);
        assert_eq!(out.len() - n, 55, "POST body after the head");
        out.clear();
        response(&mut out, &mut rng, 40_000, true);
        let n = heads(&out, false);
        assert!(out.ends_with(b"\r\n0\r\n\r\n"));
        // Decoding the chunks gives back the body length.
        let (mut i, mut total) = (n, 0);
        loop {
            let line = out[i..].iter().position(|&b| b == b'\r').unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&out[i..i + line]).unwrap(), 16).unwrap();
            i += line + 2 + size + 2;
            total += size;
            if size == 0 {
                break;
            }
        }
        assert_eq!((total, i), (40_000, out.len()));
    }

    #[test]
    fn captures_decode_and_are_deterministic() {
        let load = HttpLoad {
            connections: 3,
            requests: 4,
            ..HttpLoad::default()
        };
        let a = http_load(&load);
        assert_eq!(a.transactions, 12);
        let payload: u64 = a
            .frames()
            .map(|f| match decode(&f).unwrap().transport {
                crate::decode::Transport::Tcp(t) => t.payload.len() as u64,
                _ => panic!("not TCP"),
            })
            .sum();
        assert_eq!(payload, a.payload_bytes);
        let b = http_load(&load);
        assert_eq!((a.bytes, a.packets), (b.bytes, b.packets));
        let dns = dns_load(5, 1);
        assert_eq!((dns.transactions, dns.len()), (5, 10));
        assert!(dns.frames().all(|f| matches!(
            decode(&f).unwrap().transport,
            crate::decode::Transport::Udp(_)
        )));
        let open = open_requests(10, 1);
        assert_eq!((open.transactions, open.len()), (10, 10 * 3 + 10 * 2));
    }
}
