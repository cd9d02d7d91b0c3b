//! Throughput and memory of the application layer on HTTP-heavy synthetic traffic. The
//! measurements are ignored by default (they want a release build and a quiet machine):
//! `cargo test -p faultline-ingest --release --test app_perf -- --ignored --nocapture`.
//! The small versions run always and check that every transaction is seen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::time::Instant;

use faultline_ingest::app::AppConfig;
use faultline_ingest::emit::{Emit, EntryView, FlowView};
use faultline_ingest::flow::{FlowConfig, FlowTable};
use faultline_ingest::{Frame, LinkType, decode};
use faultline_schemas::EntryKind;

const MSS: usize = 1448;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

/// Raw IPv4 packets (link type RawIp) in one buffer, with their times.
#[derive(Default)]
struct Capture {
    bytes: Vec<u8>,
    packets: Vec<(i64, usize, usize)>,
    http_payload: u64,
}

/// One side of a synthetic connection.
struct End {
    ip: Ipv4Addr,
    port: u16,
    seq: u32,
}

impl Capture {
    fn packet(&mut self, ts: i64, from: &End, to: &End, flags: u8, ack: u32, payload: &[u8]) {
        let start = self.bytes.len();
        let total = 40 + payload.len();
        let b = &mut self.bytes;
        b.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        b.extend_from_slice(&from.ip.octets());
        b.extend_from_slice(&to.ip.octets());
        b.extend_from_slice(&from.port.to_be_bytes());
        b.extend_from_slice(&to.port.to_be_bytes());
        b.extend_from_slice(&from.seq.to_be_bytes());
        b.extend_from_slice(&ack.to_be_bytes());
        b.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        b.extend_from_slice(payload);
        self.packets.push((ts, start, self.bytes.len()));
        self.http_payload += payload.len() as u64;
    }

    /// Sends `data` from `a` to `b` in MSS segments, `b` ACKing every second one.
    fn send(&mut self, ts: &mut i64, a: &mut End, b: &End, data: &[u8]) {
        for (i, seg) in data.chunks(MSS).enumerate() {
            *ts += 10;
            self.packet(*ts, a, b, ACK | PSH, b.seq, seg);
            a.seq = a.seq.wrapping_add(seg.len() as u32);
            if i % 2 == 1 {
                self.packet(*ts + 5, b, a, ACK, a.seq, &[]);
            }
        }
    }

    fn frames(&self) -> impl Iterator<Item = Frame<'_>> {
        self.packets.iter().map(|&(ts_us, a, b)| Frame {
            ts_us,
            link: LinkType::RawIp,
            data: &self.bytes[a..b],
            orig_len: (b - a) as u32,
            interface: 0,
        })
    }
}

fn ends(i: u32) -> (End, End) {
    let c = End {
        ip: Ipv4Addr::from(0x0a00_0000 + (i >> 14)),
        port: 10_000 + (i & 0x3fff) as u16,
        seq: 1000 + i,
    };
    let s = End {
        ip: Ipv4Addr::new(192, 0, 2, 80),
        port: 80,
        seq: 5000 + i,
    };
    (c, s)
}

fn handshake(cap: &mut Capture, ts: i64, c: &mut End, s: &mut End) {
    cap.packet(ts, c, s, SYN, 0, &[]);
    c.seq = c.seq.wrapping_add(1);
    cap.packet(ts + 1, s, c, SYN | ACK, c.seq, &[]);
    s.seq = s.seq.wrapping_add(1);
    cap.packet(ts + 2, c, s, ACK, s.seq, &[]);
}

/// `conns` keep-alive connections, interleaved, each with `reqs` GETs answered by
/// `body`-byte responses, then closed.
fn keep_alive(conns: u32, reqs: u32, body: usize) -> Capture {
    let mut cap = Capture::default();
    let request =
        b"GET /object HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {body}\r\n\r\n"
    )
    .into_bytes();
    response.resize(response.len() + body, b'x');
    let mut pairs: Vec<(End, End)> = (0..conns).map(ends).collect();
    let mut ts = 1_700_000_000_000_000i64;
    for (c, s) in &mut pairs {
        handshake(&mut cap, ts, c, s);
        ts += 3;
    }
    for _ in 0..reqs {
        for (c, s) in &mut pairs {
            cap.send(&mut ts, c, s, request);
            cap.send(&mut ts, s, c, &response);
        }
    }
    for (c, s) in &mut pairs {
        ts += 10;
        cap.packet(ts, c, s, FIN | ACK, s.seq, &[]);
        c.seq = c.seq.wrapping_add(1);
        cap.packet(ts + 1, s, c, FIN | ACK, c.seq, &[]);
        s.seq = s.seq.wrapping_add(1);
        cap.packet(ts + 2, c, s, ACK, s.seq, &[]);
    }
    cap
}

/// Counts entries by kind and errors.
#[derive(Default)]
struct Count {
    http: u64,
    http_errors: u64,
}

impl Emit for Count {
    fn entry(&mut self, e: &EntryView<'_>) {
        if e.kind == EntryKind::Http {
            self.http += 1;
            self.http_errors += u64::from(e.error.is_some());
        }
    }
    fn flow(&mut self, _: &FlowView<'_>) {}
}

fn run(cap: &Capture, app: AppConfig) -> (Count, f64) {
    let mut table = FlowTable::with_app(FlowConfig::default(), app);
    let mut out = Count::default();
    let t = Instant::now();
    for f in cap.frames() {
        table.process(&decode(&f).unwrap(), &mut out);
    }
    table.finish(&mut out);
    (out, t.elapsed().as_secs_f64())
}

fn off() -> AppConfig {
    AppConfig {
        enabled: false,
        ..AppConfig::default()
    }
}

#[test]
fn every_keep_alive_transaction_is_seen() {
    let cap = keep_alive(20, 10, 5000);
    let (n, _) = run(&cap, AppConfig::default());
    assert_eq!((n.http, n.http_errors), (200, 0));
}

#[test]
#[ignore]
fn http_throughput() {
    // Large bodies (64 KiB: mostly body bytes, skipped) and small ones (1 KiB: heads
    // dominate, one transaction per 1.2 KiB).
    throughput(keep_alive(64, 64, 64 * 1024));
    throughput(keep_alive(512, 64, 1024));
}

fn throughput(cap: Capture) {
    let txns = cap.packets.len();
    let gb = cap.http_payload as f64 / 1e9;
    let best = |app: &dyn Fn() -> AppConfig| {
        (0..3)
            .map(|_| run(&cap, app()))
            .map(|(n, s)| {
                assert_eq!(n.http_errors, 0);
                s
            })
            .fold(f64::MAX, f64::min)
    };
    let with = best(&AppConfig::default);
    let without = best(&off);
    let app_only = (with - without).max(1e-9);
    let (n, _) = run(&cap, AppConfig::default());
    println!(
        "{txns} packets, {} transactions, {gb:.3} GB of TCP payload (HTTP): whole path (decode, \
         flows, TCP, reassembly, HTTP) {:.2} GB/s, {:.2} M transactions/s; L4 only {:.2} GB/s; \
         reassembly + HTTP alone {:.2} GB/s",
        n.http,
        gb / with,
        n.http as f64 / with / 1e6,
        gb / without,
        gb / app_only
    );
}

/// Resident set size now and at its peak, KiB (Linux).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `n` connections left open in the middle of a response (head and first segment sent),
/// with the request of the next one half sent: each holds a pending response and a partial
/// head.
fn open_streams(n: u32) -> Capture {
    let mut cap = Capture::default();
    let mut ts = 1_700_000_000_000_000i64;
    for i in 0..n {
        let (mut c, mut s) = ends(i);
        handshake(&mut cap, ts, &mut c, &mut s);
        cap.send(&mut ts, &mut c, &s, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        cap.send(
            &mut ts,
            &mut s,
            &c,
            b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nfirst bytes",
        );
        cap.send(&mut ts, &mut c, &s, b"GET /b HTTP/1.1\r\nHost: h\r\nAcc");
        ts += 1;
    }
    cap
}

#[test]
fn open_streams_are_tracked_and_ended() {
    let cap = open_streams(1000);
    let (n, _) = run(&cap, AppConfig::default());
    // Each connection: the response cut short (unexpected EOF) and the second request cut.
    assert_eq!((n.http, n.http_errors), (2000, 2000));
}

#[test]
#[ignore]
fn memory_with_100k_open_streams() {
    let cap = open_streams(100_000);
    for app in [off(), AppConfig::default()] {
        let enabled = app.enabled;
        let before = rss_kib().0;
        let mut table = FlowTable::with_app(FlowConfig::default(), app);
        let mut out = Count::default();
        for f in cap.frames() {
            table.process(&decode(&f).unwrap(), &mut out);
        }
        let (rss, hwm) = rss_kib();
        println!(
            "app layer {}: {} flows open, app heap {} MiB ({} B/stream), RSS +{} MiB (peak {} MiB)",
            if enabled { "on" } else { "off" },
            table.len(),
            table.app_heap_bytes() / (1 << 20),
            table.app_heap_bytes() / 100_000,
            rss.saturating_sub(before) / 1024,
            hwm / 1024
        );
        assert_eq!(table.len(), 100_000);
        table.finish(&mut out);
    }
}
