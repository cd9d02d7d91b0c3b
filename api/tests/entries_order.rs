//! `GET /api/entries?order=desc&limit=n` through a real socket answers newest-first queries
//! (which the engine reads in growing windows back from the newest entry); the rows must be
//! exactly those of the plain descending query without a limit, cut to the limit, whatever
//! the filter, limit and range, over data spread across hours and days (stored files and the
//! live buffer).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufWriter;
use std::net::SocketAddr;

use arrow::array::{Array, UInt64Array};
use faultline::server::{self, AppState, IngestQueue, IngestSource, JobState, ServerConfig};
use faultline_engine::{Engine, EngineConfig, KflQuery, Order};
use faultline_ingest::pipeline::PipelineConfig;
use serde_json::Value;

const HOUR_US: i64 = 3_600_000_000;
/// 2024-01-01T00:00:00Z, the generator's default start.
const BASE_US: i64 = 1_704_067_200_000_000;

/// Captures starting at these offsets from [`BASE_US`]: windows of 1 h, 8 h and 64 h each
/// find some of them and miss others.
const OFFSETS_US: [i64; 4] = [0, 5 * HOUR_US, 30 * HOUR_US, 75 * HOUR_US];

async fn start() -> (SocketAddr, Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig::new(
        dir.path().join("data").to_string_lossy().into_owned(),
    ))
    .await
    .unwrap();
    let metrics = server::Metrics::new(engine.clone());
    let (queue, _worker) =
        IngestQueue::start(engine.clone(), PipelineConfig::default(), metrics.clone()).unwrap();
    for (i, offset) in OFFSETS_US.iter().enumerate() {
        let path = dir.path().join(format!("c{i}.pcap"));
        let cfg = faultline_ingest::generate::Config {
            seed: i as u64 + 1,
            target_packets: 4000,
            start_us: BASE_US + offset,
            ..Default::default()
        };
        let out = BufWriter::new(std::fs::File::create(&path).unwrap());
        faultline_ingest::generate::write_capture(&cfg, out, std::io::sink()).unwrap();
        let (_, done) = queue.submit(IngestSource::Files(vec![path])).unwrap();
        assert_eq!(done.await.unwrap().state, JobState::Done);
        // The first captures go to Parquet files, the last stays in the live buffer.
        if i + 1 < OFFSETS_US.len() {
            engine.flush().await.unwrap();
        }
    }
    let state = AppState::new(engine.clone(), ServerConfig::default(), metrics, queue);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = server::app(state.clone(), axum::Router::new());
    tokio::spawn(server::serve(listener, app, state, std::future::pending()));
    (addr, engine, dir)
}

/// Ids of the plain descending query, straight from the engine: without a limit (so no
/// window), cut to the limit.
async fn reference(engine: &Engine, q: &KflQuery) -> Vec<String> {
    let unlimited = KflQuery {
        limit: None,
        ..q.clone()
    };
    let batches = engine
        .query_kfl(&unlimited)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut ids: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let ids = b
                .column_by_name("id")
                .unwrap()
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap()
                .clone();
            (0..ids.len()).map(move |i| ids.value(i).to_string())
        })
        .collect();
    ids.truncate(q.limit.unwrap_or(usize::MAX));
    ids
}

async fn served(addr: SocketAddr, q: &KflQuery) -> Vec<String> {
    let mut url = reqwest::Url::parse(&format!("http://{addr}/api/entries")).unwrap();
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("q", &q.kfl);
        pairs.append_pair("order", "desc");
        pairs.append_pair("format", "json");
        pairs.append_pair("limit", &q.limit.unwrap().to_string());
        if let Some(from) = q.from_us {
            pairs.append_pair("from", &from.to_string());
        }
        if let Some(to) = q.to_us {
            pairs.append_pair("to", &to.to_string());
        }
    }
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_first_matches_the_plain_descending_query() {
    let (addr, engine, _dir) = start().await;
    let total = reference(
        &engine,
        &KflQuery {
            order: Order::Descending,
            ..KflQuery::default()
        },
    )
    .await
    .len();
    assert!(total > 1000, "{total} entries");
    let ranges = [
        (None, None),
        (None, Some(BASE_US + 31 * HOUR_US)),
        (Some(BASE_US + HOUR_US), None),
        (Some(BASE_US + 4 * HOUR_US), Some(BASE_US + 6 * HOUR_US)),
        (Some(BASE_US + 80 * HOUR_US), None),
    ];
    let mut compared = 0;
    for kfl in ["", "error", "icmp", "dns and error", "timeout"] {
        for limit in [1, 7, 300, total + 1] {
            for (from_us, to_us) in ranges {
                let q = KflQuery {
                    kfl: kfl.into(),
                    from_us,
                    to_us,
                    limit: Some(limit),
                    order: Order::Descending,
                };
                let want = reference(&engine, &q).await;
                assert_eq!(served(addr, &q).await, want, "{q:?}");
                compared += want.len();
            }
        }
    }
    assert!(compared > total, "{compared}");
}
