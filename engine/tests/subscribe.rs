//! Live subscriptions: delivered rows equal what DataFusion selects with the same KFL, a
//! consumer that never reads stays within its bound and learns exactly how much it lost, and a
//! publisher thread runs beside an async consumer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, MapBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::compute::kernels::cmp::eq;
use arrow::compute::{cast, filter, is_not_null, or};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use faultline_engine::{EngineError, Subscription, SubscriptionEvent, Subscriptions};
use faultline_schemas::{entries_schema, entry_col as c, string_map_type};
use futures::{FutureExt, StreamExt};

/// SplitMix64: a small deterministic generator for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One generated entry (the columns the queries below read).
struct Row {
    protocol: &'static str,
    kind: &'static str,
    error: Option<&'static str>,
    src_ip: String,
    dst_port: Option<u16>,
    status: Option<u16>,
    path: Option<&'static str>,
    agent: Option<&'static str>,
    retrans: Option<u32>,
    icmp_type: Option<u8>,
}

fn row(rng: &mut Rng) -> Row {
    let protocol = rng.pick(&["tcp", "tcp", "udp", "icmp", "http", "http", "dns"]);
    let http = protocol == "http";
    let kind = match protocol {
        "tcp" => rng.pick(&["tcp", "timeout", "loss"]),
        p => p,
    };
    Row {
        protocol,
        kind,
        error: rng
            .chance(30)
            .then(|| rng.pick(&["connection", "timeout", "loss", "pair-not-found"])),
        src_ip: format!("10.0.{}.{}", rng.next() % 4, rng.next() % 16),
        dst_port: (protocol != "icmp").then(|| rng.pick(&[22, 53, 80, 443, 8080])),
        status: (http && rng.chance(90)).then(|| rng.pick(&[200, 204, 401, 404, 500, 503])),
        path: http.then(|| rng.pick(&["/api/v1/users", "/login", "/metrics", "/api/items"])),
        agent: (http && rng.chance(70)).then(|| rng.pick(&["curl/8.0", "kube-probe/1.27"])),
        retrans: (kind == "loss").then(|| (rng.next() % 8) as u32),
        icmp_type: (protocol == "icmp").then(|| rng.pick(&[0, 3, 11])),
    }
}

fn headers(rows: &[Row]) -> ArrayRef {
    let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for r in rows {
        if let Some(agent) = r.agent {
            b.keys().append_value("user-agent");
            b.values().append_value(agent);
        }
        b.append(r.agent.is_some()).unwrap();
    }
    cast(&b.finish(), &string_map_type()).unwrap()
}

/// An `entries` batch of `n` generated rows with ids from `first_id`; columns the generator
/// does not model are null, or their type's default where not nullable.
fn entries_batch(first_id: u64, n: usize, rng: &mut Rng) -> RecordBatch {
    let rows: Vec<Row> = (0..n).map(|_| row(rng)).collect();
    let ids: Vec<u64> = (first_id..first_id + n as u64).collect();
    let strs = |f: fn(&Row) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let given: Vec<(&str, ArrayRef)> = vec![
        (c::ID, Arc::new(UInt64Array::from(ids.clone()))),
        (
            c::TIMESTAMP,
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    ids.iter().map(|i| 1_700_000_000_000_000 + *i as i64 * 1000),
                )
                .with_timezone("UTC"),
            ),
        ),
        (c::KIND, strs(|r| Some(r.kind))),
        (c::PROTOCOL_NAME, strs(|r| Some(r.protocol))),
        (c::SUMMARY, strs(|r| Some(r.kind))),
        (c::ERROR_TYPE, strs(|r| r.error)),
        (c::SRC_IP, strs(|r| Some(r.src_ip.as_str()))),
        (
            c::DST_PORT,
            Arc::new(rows.iter().map(|r| r.dst_port).collect::<UInt16Array>()),
        ),
        (
            c::RESPONSE_STATUS,
            Arc::new(rows.iter().map(|r| r.status).collect::<UInt16Array>()),
        ),
        (c::REQUEST_PATH, strs(|r| r.path)),
        (c::REQUEST_HEADERS, headers(&rows)),
        (
            c::RETRANSMISSIONS,
            Arc::new(rows.iter().map(|r| r.retrans).collect::<UInt32Array>()),
        ),
        (
            c::ICMP_TYPE,
            Arc::new(rows.iter().map(|r| r.icmp_type).collect::<UInt8Array>()),
        ),
    ];
    support::batch(entries_schema(), n, &given)
}

/// `count` batches of 1..=max_rows rows each, ids consecutive from 1.
fn batches(count: usize, max_rows: u64, seed: u64) -> Vec<RecordBatch> {
    let mut rng = Rng(seed);
    let mut next_id = 1;
    (0..count)
        .map(|_| {
            let n = 1 + (rng.next() % max_rows) as usize;
            let b = entries_batch(next_id, n, &mut rng);
            next_id += n as u64;
            b
        })
        .collect()
}

fn ids(batch: &RecordBatch) -> Vec<u64> {
    let col = batch.column_by_name(c::ID).unwrap();
    col.as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap()
        .values()
        .to_vec()
}

/// Ids DataFusion selects from `batches` with the KFL's logical expression, in id order.
async fn reference_ids(kfl: &str, batches: &[RecordBatch]) -> Vec<u64> {
    let expr = faultline_kfl::compile(kfl).unwrap().expr;
    let table = MemTable::try_new(entries_schema(), vec![batches.to_vec()]).unwrap();
    let ctx = SessionContext::new();
    let df = ctx
        .read_table(Arc::new(table))
        .unwrap()
        .filter(expr)
        .unwrap();
    let mut out: Vec<u64> = df.collect().await.unwrap().iter().flat_map(ids).collect();
    out.sort_unstable();
    out
}

/// `error or icmp` with plain Arrow kernels, independent of KFL and DataFusion.
fn error_or_icmp(batch: &RecordBatch) -> Vec<u64> {
    let error = is_not_null(batch.column_by_name(c::ERROR_TYPE).unwrap()).unwrap();
    let protocol = batch.column_by_name(c::PROTOCOL_NAME).unwrap();
    let icmp = eq(protocol, &StringArray::new_scalar("icmp")).unwrap();
    let mask: BooleanArray = or(&error, &icmp).unwrap();
    let id = filter(batch.column_by_name(c::ID).unwrap(), &mask).unwrap();
    id.as_any()
        .downcast_ref::<UInt64Array>()
        .unwrap()
        .values()
        .to_vec()
}

/// What a consumer has seen: delivered ids in order, and lag markers.
#[derive(Default)]
struct Seen {
    ids: Vec<u64>,
    lagged: Vec<u64>,
}

impl Seen {
    fn add(&mut self, event: SubscriptionEvent) {
        match event {
            SubscriptionEvent::Rows(b) => {
                assert!(b.num_rows() > 0, "empty batches are not delivered");
                self.ids.extend(ids(&b));
            }
            SubscriptionEvent::Lagged { dropped_rows } => self.lagged.push(dropped_rows),
            SubscriptionEvent::Failed { reason } => panic!("subscription failed: {reason}"),
        }
    }

    fn dropped(&self) -> u64 {
        self.lagged.iter().sum()
    }
}

/// Takes every event that is ready now, without waiting.
fn drain_ready(sub: &mut Subscription, seen: &mut Seen) {
    while let Some(Some(event)) = sub.next_event().now_or_never() {
        seen.add(event);
    }
}

/// Queries in the shapes of the KFL examples, over the generated columns.
const QUERIES: &[&str] = &[
    "error or icmp",
    "response.status >= 500 or error",
    "http and request.path.startsWith(\"/api\")",
    "request.headers[\"User-Agent\"] == r\"curl\"",
    "dst.port == 443 and tcp",
    "!error and udp",
    "loss.retransmissions > 2",
    "src.ip == \"10.0.1.7\" or icmp.type == 3",
    "response.status != r\"^4\"",
    "timeout and error.type == \"timeout\"",
    "timestamp >= 1700000000500",
];

#[tokio::test]
async fn delivers_exactly_what_a_query_selects() {
    let data = batches(60, 700, 1);
    let total: usize = data.iter().map(RecordBatch::num_rows).sum();
    let hub = Subscriptions::new();
    let mut subs: Vec<Subscription> = QUERIES
        .iter()
        .map(|q| hub.subscribe(q, total).unwrap())
        .collect();
    for b in &data {
        hub.publish(b).unwrap();
    }
    hub.close_all();
    for (q, sub) in QUERIES.iter().zip(&mut subs) {
        let mut seen = Seen::default();
        while let Some(event) = sub.next().await {
            seen.add(event);
        }
        let want = reference_ids(q, &data).await;
        assert!(
            !want.is_empty() && want.len() < total,
            "{q}: the data must make the query selective ({} of {total})",
            want.len()
        );
        assert!(seen.lagged.is_empty(), "{q}: nothing may be dropped");
        assert_eq!(seen.ids, want, "{q}");
    }
    let stats = hub.stats();
    assert_eq!(stats.rows_published, total as u64);
    assert_eq!(stats.rows_delivered, stats.rows_matched);
    assert_eq!(stats.rows_dropped, 0);
}

#[test]
fn slow_consumer_is_bounded_and_told_exactly_what_it_lost() {
    const CAPACITY: usize = 5000;
    let hub = Subscriptions::new();
    let mut sub = hub.subscribe("error or icmp", CAPACITY).unwrap();
    let mut rng = Rng(2);
    let mut matched = Vec::new();
    for i in 0..1000u64 {
        // Generated one at a time, so only the subscriber's queue holds batches.
        let b = entries_batch(1 + i * 1024, 1024, &mut rng);
        matched.extend(error_or_icmp(&b));
        hub.publish(&b).unwrap();
        assert!(sub.queued_rows() <= CAPACITY);
    }
    assert!(matched.len() > 50 * CAPACITY, "most rows are dropped");
    let stats = hub.stats();
    assert_eq!(stats.rows_queued, CAPACITY as u64);
    assert_eq!(stats.rows_matched, matched.len() as u64);

    let mut seen = Seen::default();
    drain_ready(&mut sub, &mut seen);
    // The first CAPACITY matching rows, then one marker with the exact count of the rest.
    assert_eq!(seen.ids, matched[..CAPACITY]);
    assert_eq!(seen.lagged, vec![(matched.len() - CAPACITY) as u64]);
    assert_eq!(seen.ids.len() as u64 + seen.dropped(), matched.len() as u64);

    // Having caught up, it receives new rows again.
    let b = entries_batch(2_000_000, 100, &mut rng);
    hub.publish(&b).unwrap();
    let mut after = Seen::default();
    drain_ready(&mut sub, &mut after);
    assert_eq!(after.ids, error_or_icmp(&b));
    assert!(after.lagged.is_empty());
    let stats = hub.stats();
    assert_eq!(
        stats.rows_delivered + stats.rows_dropped,
        stats.rows_matched
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_thread_and_async_consumer() {
    let hub = Arc::new(Subscriptions::new());
    let mut sub = hub.subscribe("error or icmp", 3000).unwrap();
    let publisher = {
        let hub = Arc::clone(&hub);
        std::thread::spawn(move || {
            let mut rng = Rng(3);
            let mut matched = Vec::new();
            for i in 0..400u64 {
                let b = entries_batch(1 + i * 512, 512, &mut rng);
                matched.extend(error_or_icmp(&b));
                hub.publish(&b).unwrap();
                if i % 50 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
            hub.close_all();
            matched
        })
    };
    let mut seen = Seen::default();
    while let Some(event) = sub.next_event().await {
        seen.add(event);
        // A consumer slower than the publisher at times, so its queue fills and drains.
        if seen.lagged.len() < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    }
    let matched = publisher.join().unwrap();
    println!(
        "matched {}, delivered {}, dropped {} in {} markers",
        matched.len(),
        seen.ids.len(),
        seen.dropped(),
        seen.lagged.len()
    );
    assert_eq!(
        seen.ids.len() as u64 + seen.dropped(),
        matched.len() as u64,
        "every matching row is delivered or counted as dropped"
    );
    // Delivered rows are matching rows, in append order.
    assert!(seen.ids.windows(2).all(|w| w[0] < w[1]));
    let mut at = 0;
    for id in &seen.ids {
        at += matched[at..]
            .iter()
            .position(|m| m == id)
            .expect("a matching row");
    }
    assert!(!seen.ids.is_empty());
    let stats = hub.stats();
    assert_eq!(stats.rows_delivered, seen.ids.len() as u64);
    assert_eq!(stats.rows_dropped, seen.dropped());
}

#[test]
fn invalid_kfl_points_at_the_column() {
    let hub = Subscriptions::new();
    let query = "tcp and dst.prot == 80";
    let err = hub.subscribe(query, 10).unwrap_err();
    assert!(err.to_string().contains("1:9"), "{err}");
    let EngineError::Kfl(kfl) = &err else {
        panic!("expected a KFL error, got {err:?}");
    };
    let rendered = kfl.render(query);
    assert!(rendered.contains("--> 1:9"), "{rendered}");
    assert!(
        rendered.contains(&format!("| {}^^^^^^^^", " ".repeat(8))),
        "{rendered}"
    );
    assert!(
        rendered.contains("dst.port"),
        "suggests the right field: {rendered}"
    );
    assert!(hub.is_empty());
}
