//! The engine on an S3-compatible object store (moto's server, from PyPI: `pip install
//! 'moto[server]'`, run as `python3 -m moto.server`): the same appends, flushes, queries,
//! compaction, catalog rebuild and retention as on a local disk, with only the WAL local.
//! Skipped (with a message) when moto is not installed, unless `CI` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use faultline_engine::location::DataLocation;
use faultline_engine::{Engine, EngineConfig, KflQuery, Table};
use support::{HOUR, T0, entries, flows, ids};

/// A moto S3 server on a free port, stopped on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Option<Moto> {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let installed = Command::new("python3")
        .args(["-c", "import moto.server"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "moto is required in CI: pip install 'moto[server]'"
        );
        eprintln!("skipping: moto is not installed; pip install 'moto[server]'");
        return None;
    }
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(moto)
}

/// Creates a bucket with a plain HTTP request (moto accepts unsigned ones).
fn create_bucket(port: u16, bucket: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

fn options(port: u16) -> Vec<(String, String)> {
    [
        ("aws_endpoint", format!("http://127.0.0.1:{port}")),
        ("aws_allow_http", "true".into()),
        ("aws_access_key_id", "test".into()),
        ("aws_secret_access_key", "test".into()),
        ("aws_region", "us-east-1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

async fn count(engine: &Engine, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    let b = engine
        .query_sql(&sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    b[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_runs_unchanged_on_s3() {
    let Some(moto) = start_moto() else {
        return;
    };
    create_bucket(moto.port, "faultline");
    let wal = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new("s3://faultline/store");
    config.storage_options = options(moto.port);
    config.wal_dir = Some(wal.path().to_path_buf());
    config.background = false;
    config.compaction.settle = Duration::ZERO;
    config.compaction.min_files = 2;

    let engine = Engine::open(config.clone()).await.unwrap();
    for i in 0..3u64 {
        engine
            .append(
                Table::Entries,
                entries(i * 100, 100, T0 + i as i64 * 1000, 10),
            )
            .unwrap();
        engine
            .append(Table::Flows, flows(i * 10, 10, T0, 1))
            .unwrap();
        engine.flush().await.unwrap();
    }
    engine
        .append(Table::Entries, entries(300, 50, T0 + 3 * HOUR, 10))
        .unwrap();
    assert_eq!(count(&engine, "entries").await, 350);
    let tcp = KflQuery {
        kfl: r#"kind == "tcp""#.into(),
        ..KflQuery::default()
    };
    let got = ids(&engine
        .query_kfl(&tcp)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap());
    assert_eq!(got, (0..350).filter(|i| i % 3 == 0).collect::<Vec<_>>());
    let compacted = engine.compact().await.unwrap();
    assert_eq!((compacted.files_in, compacted.files_out), (6, 2));
    drop(engine);

    // Reopen: the unflushed batch comes back from the local WAL; then lose the manifest.
    let engine = Engine::open(config.clone()).await.unwrap();
    assert_eq!(engine.open_report().replayed_batches, 1);
    assert_eq!(count(&engine, "entries").await, 350);
    engine.close().await.unwrap();
    let location =
        DataLocation::open_with("s3://faultline/store", &config.storage_options).unwrap();
    assert!(
        location
            .get("_faultline/manifest.json")
            .await
            .unwrap()
            .is_some()
    );
    location.delete("_faultline/manifest.json").await.unwrap();
    let engine = Engine::open(config.clone()).await.unwrap();
    assert!(engine.open_report().catalog.rebuilt.is_some());
    assert_eq!(count(&engine, "entries").await, 350);
    assert_eq!(count(&engine, "flows").await, 30);
    let dropped = engine.retain_after(T0 + HOUR).await.unwrap();
    assert_eq!(dropped.rows, 330, "hour 0: 300 entries and 30 flows");
    assert_eq!(count(&engine, "entries").await, 50);
    let listed = location.list("entries").await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
}
