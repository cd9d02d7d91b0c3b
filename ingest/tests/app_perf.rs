//! Throughput of the application layer on HTTP-heavy and DNS synthetic traffic
//! (`generate::app_load`). The measurements are ignored by default (they want a release build
//! and a quiet machine):
//! `cargo test -p faultline-ingest --release --test app_perf -- --ignored --nocapture --test-threads 1`.
//! The small versions run always and check that every transaction is seen, complete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use faultline_ingest::app::AppConfig;
use faultline_ingest::emit::{Emit, EntryBody, EntryView, FlowView};
use faultline_ingest::flow::FlowConfig;
use faultline_ingest::generate::app_load::{
    BodySizes, HttpLoad, RawCapture, dns_load, http_load, open_requests,
};
use faultline_ingest::pipeline::FlowAnalysis;
use faultline_ingest::{Frame, decode};
use faultline_schemas::EntryKind;

/// Counts entries by kind and errors, and body prefixes seen.
#[derive(Default)]
struct Count {
    http: u64,
    dns: u64,
    errors: u64,
    bodies: u64,
}

impl Emit for Count {
    fn entry(&mut self, e: &EntryView<'_>) {
        match e.kind() {
            EntryKind::Http => self.http += 1,
            EntryKind::Dns => self.dns += 1,
            _ => {}
        }
        self.errors += u64::from(e.header.error.is_some());
        if let EntryBody::Http(h) = e.body {
            self.bodies += u64::from(h.response_body.is_some());
        }
    }
    fn flow(&mut self, _: &FlowView<'_>) {}
}

/// The frames, collected once so that runs share them.
fn decoded(cap: &RawCapture) -> Vec<Frame<'_>> {
    cap.frames().collect()
}

fn run(frames: &[Frame<'_>], app: AppConfig) -> (Count, f64) {
    let mut table = FlowAnalysis::with_app(FlowConfig::default(), app);
    let mut out = Count::default();
    let t = Instant::now();
    for f in frames {
        table.process(&decode(f).unwrap(), &mut out);
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
fn every_generated_transaction_is_seen_complete() {
    let cap = http_load(&HttpLoad {
        connections: 12,
        requests: 15,
        ..HttpLoad::default()
    });
    let (n, _) = run(&decoded(&cap), AppConfig::default());
    assert_eq!((n.http, n.errors), (cap.transactions, 0));
    assert_eq!(
        n.bodies, cap.transactions,
        "every response has a body prefix"
    );
    let no_body = AppConfig {
        http: faultline_ingest::app::http::HttpLimits {
            body_prefix: 0,
            ..Default::default()
        },
        ..AppConfig::default()
    };
    let (n, _) = run(&decoded(&cap), no_body);
    assert_eq!((n.http, n.bodies), (cap.transactions, 0));
    let cap = dns_load(500, 3);
    let (n, _) = run(&decoded(&cap), AppConfig::default());
    assert_eq!(n.dns, 500);
}

#[test]
fn open_requests_end_as_requests_without_responses() {
    let cap = open_requests(1000, 1);
    let (n, _) = run(&decoded(&cap), AppConfig::default());
    assert_eq!((n.http, n.errors), (1000, 1000));
}

/// Best of three runs, s.
fn best(frames: &[Frame<'_>], app: &dyn Fn() -> AppConfig, expect: u64) -> f64 {
    (0..3)
        .map(|_| run(frames, app()))
        .map(|(n, s)| {
            assert_eq!((n.http + n.dns, n.errors), (expect, 0));
            s
        })
        .fold(f64::MAX, f64::min)
}

/// Prints the throughput of the whole path (decode, flows, TCP, reassembly, dissection), of
/// the same without the application layer, and of the difference (the application layer).
fn throughput(name: &str, cap: &RawCapture) {
    let frames = decoded(cap);
    let gb = cap.payload_bytes as f64 / 1e9;
    let with = best(&frames, &AppConfig::default, cap.transactions);
    let without = best(&frames, &off, 0);
    let app_only = (with - without).max(1e-9);
    println!(
        "{name}: {} packets, {} transactions, {gb:.3} GB payload | whole path {:.2} GB/s, \
         {:.0} k transactions/s | L4 only {:.2} GB/s | app layer alone {:.2} GB/s, \
         {:.0} k transactions/s",
        cap.len(),
        cap.transactions,
        gb / with,
        cap.transactions as f64 / with / 1e3,
        gb / without,
        gb / app_only,
        cap.transactions as f64 / app_only / 1e3,
    );
}

#[test]
#[ignore]
fn http_throughput_mixed_bodies() {
    // Web-like mix of body sizes, a quarter of them chunked: mostly body bytes, skipped.
    throughput("mixed bodies", &http_load(&HttpLoad::default()));
}

#[test]
#[ignore]
fn http_throughput_small_bodies() {
    // 300-byte bodies: heads dominate, one transaction per 1.1 KB.
    throughput(
        "small bodies",
        &http_load(&HttpLoad {
            connections: 512,
            requests: 100,
            bodies: BodySizes::Fixed(300),
            ..HttpLoad::default()
        }),
    );
}

#[test]
#[ignore]
fn dns_throughput() {
    throughput("dns", &dns_load(500_000, 1));
}

/// httparse alone on the generated heads, as a bound of the small-body case.
#[test]
#[ignore]
fn parts_in_isolation() {
    let cap = http_load(&HttpLoad {
        connections: 1,
        requests: 1,
        bodies: BodySizes::Fixed(0),
        chunked_permille: 0,
        post_permille: 0,
        ..HttpLoad::default()
    });
    let frames = decoded(&cap);
    let heads: Vec<&[u8]> = frames
        .iter()
        .filter_map(|f| match decode(f).unwrap().transport {
            faultline_ingest::decode::Transport::Tcp(t) if !t.payload.is_empty() => Some(t.payload),
            _ => None,
        })
        .collect();
    let (req, resp) = (heads[0], heads[1]);
    let n = 1_000_000;
    let t = Instant::now();
    for _ in 0..n {
        let mut h = [httparse::EMPTY_HEADER; 96];
        black_box(
            httparse::Request::new(&mut h)
                .parse(black_box(req))
                .unwrap(),
        );
        let mut h = [httparse::EMPTY_HEADER; 96];
        black_box(
            httparse::Response::new(&mut h)
                .parse(black_box(resp))
                .unwrap(),
        );
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "httparse: request head {} B + response head {} B: {:.2} GB/s, {:.2} M pairs/s",
        req.len(),
        resp.len(),
        (req.len() + resp.len()) as f64 * n as f64 / s / 1e9,
        n as f64 / s / 1e6
    );
}
