//! Memory of open streams: connections with a request in flight and no response yet
//! (`generate::app_load::open_requests`), measured with a counting global allocator (live and
//! peak heap bytes) and the process's RSS. The 100 k stream measurement is ignored by default:
//! `cargo test -p faultline-ingest --release --test app_memory -- --ignored --nocapture`.
//! The small version runs always and bounds the bytes per stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use faultline_ingest::app::AppConfig;
use faultline_ingest::emit::{Emit, EntryView, FlowView};
use faultline_ingest::flow::FlowConfig;
use faultline_ingest::generate::app_load::{RawCapture, open_requests};
use faultline_ingest::pipeline::FlowAnalysis;
use faultline_ingest::{Frame, decode};

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// A global allocator can only be written as an `unsafe impl`; this one is confined to this
// test binary.
// SAFETY: every call is forwarded to `System` with the same arguments; only counters change.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if new >= layout.size() {
            grew(new - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Tests of this file measure one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Nothing;

impl Emit for Nothing {
    fn entry(&mut self, _: &EntryView<'_>) {}
    fn flow(&mut self, _: &FlowView<'_>) {}
}

/// What holding `n` open streams costs.
#[derive(Debug)]
struct Held {
    /// Heap bytes the flow table holds with every stream open.
    live: usize,
    /// Most heap bytes at any time while the streams opened.
    peak: usize,
    /// The application layer's own count of its buffers.
    app_buffers: usize,
    flows: usize,
}

fn hold(frames: &[Frame<'_>], app: AppConfig) -> Held {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut table = FlowAnalysis::with_app(FlowConfig::default(), app);
    for f in frames {
        table.process(&decode(f).unwrap(), &mut Nothing);
    }
    let held = Held {
        live: LIVE.load(Ordering::Relaxed) - base,
        peak: PEAK.load(Ordering::Relaxed) - base,
        app_buffers: table.app_heap_bytes(),
        flows: table.len(),
    };
    table.finish(&mut Nothing);
    drop(table);
    held
}

fn off() -> AppConfig {
    AppConfig {
        enabled: false,
        ..AppConfig::default()
    }
}

/// Bytes per stream with the application layer off and on, and the difference.
fn per_stream(cap: &RawCapture) -> (Held, Held, usize) {
    let frames: Vec<Frame<'_>> = cap.frames().collect();
    let n = cap.transactions as usize;
    let l4 = hold(&frames, off());
    let app = hold(&frames, AppConfig::default());
    assert_eq!((l4.flows, app.flows), (n, n));
    let extra = app.live.saturating_sub(l4.live) / n;
    (l4, app, extra)
}

#[test]
fn an_open_stream_costs_little_beyond_its_flow() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cap = open_requests(2_000, 1);
    let (_, app, extra) = per_stream(&cap);
    // The request head (about 500 bytes) must be kept to report it if no response comes; the
    // rest (reassembly, parser state, map entry) must stay small.
    assert!(extra < 1536, "{extra} B per stream: {app:?}");
    assert!(app.app_buffers / 2_000 < 1024, "{app:?}");
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

#[test]
#[ignore]
fn memory_with_100k_open_streams() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let n = 100_000;
    let cap = open_requests(n, 1);
    let (rss0, _) = rss_kib();
    let (l4, app, extra) = per_stream(&cap);
    let (rss, hwm) = rss_kib();
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "{n} open streams, a request in flight on each ({} B of requests per stream):",
        cap.payload_bytes / u64::from(n)
    );
    println!(
        "  flow table alone: {:.1} MiB held ({} B/stream), peak {:.1} MiB",
        mib(l4.live),
        l4.live / n as usize,
        mib(l4.peak)
    );
    println!(
        "  with HTTP dissection: {:.1} MiB held ({} B/stream), peak {:.1} MiB; \
         app layer {extra} B/stream beyond the flow record, of which buffers {} B",
        mib(app.live),
        app.live / n as usize,
        mib(app.peak),
        app.app_buffers / n as usize
    );
    println!(
        "  process RSS {:.1} MiB (capture in memory {:.1} MiB; before measuring {:.1} MiB), \
         peak RSS {:.1} MiB",
        rss as f64 / 1024.0,
        mib(cap.heap_bytes()),
        rss0 as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}
