//! The SQL views over stores ingested from real captures (`FAULTLINE_PCAPS`, default
//! `../shared/pcaps`) and written through the engine.
//!
//! - `views_match_an_independent_computation`: every row of every view equals what plain Rust
//!   computes from the ingested record batches (no SQL on that side), through the engine's own
//!   table providers and through the reference listing tables of `query_sql`.
//! - `one_day_queries_read_one_day`: a view filtered to one day reads only that day's row groups.
//! - `slt_files`: the SQL-logic files in `tests/slt/` (format in `tests/slt/README.md`), whose
//!   expected numbers are tied to the tshark and Zeek oracles in their comments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{ArrowPrimitiveType, DataType, Float64Type, Int64Type, UInt64Type};
use faultline_engine::{Engine, EngineConfig, EngineError, Table};
use faultline_ingest::MemorySink;
use faultline_ingest::pipeline::{Pipeline, PipelineConfig};
use faultline_schemas::{entry_col, flow_col};
use support::listing::query_sql;

const MINUTE_US: i64 = 60_000_000;
const DAY_US: i64 = 86_400_000_000;

/// The capture directory, or `None` (with a notice) when it is missing outside CI.
fn pcaps() -> Option<PathBuf> {
    let dir = std::env::var_os("FAULTLINE_PCAPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps"));
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "captures missing: {}",
        dir.display()
    );
    eprintln!("skipped: no captures at {}", dir.display());
    None
}

/// An engine holding the ingested captures (flushed to Parquet), and the batches given to it.
struct Store {
    dir: tempfile::TempDir,
    engine: Engine,
    entries: Vec<RecordBatch>,
    flows: Vec<RecordBatch>,
}

impl Store {
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

async fn ingest(files: &[PathBuf]) -> Store {
    let mut pipeline = Pipeline::new(PipelineConfig::default(), MemorySink::default());
    for f in files {
        let report = pipeline.ingest_file(f, &mut |_| {}).unwrap();
        assert!(report.packets > 0, "{}: nothing decoded", f.display());
    }
    let (sink, _) = pipeline.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path().to_str().unwrap());
    config.background = false;
    let engine = Engine::open(config).await.unwrap();
    let (appender, entries, flows) = (engine.clone(), sink.entries.clone(), sink.flows.clone());
    tokio::task::spawn_blocking(move || {
        let tables = [(Table::Entries, entries), (Table::Flows, flows)];
        for (table, batches) in tables {
            for b in batches {
                appender.append(table, b).unwrap();
            }
        }
    })
    .await
    .unwrap();
    engine.flush().await.unwrap();
    Store {
        dir,
        engine,
        entries: sink.entries,
        flows: sink.flows,
    }
}

/// Which tables a query reads.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// The engine's snapshot table providers (`Engine::query_sql`).
    Engine,
    /// The store's directories as DataFusion listing tables (`query_sql`).
    Listing,
}

async fn try_sql(store: &Store, via: Via, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
    match via {
        Via::Engine => store.engine.query_sql(sql).await?.collect().await,
        Via::Listing => query_sql(store.path(), sql).await,
    }
}

/// Runs `sql` through the engine (panics with the query on error).
async fn sql(store: &Store, sql: &str) -> Vec<RecordBatch> {
    sql_via(store, Via::Engine, sql).await
}

async fn sql_via(store: &Store, via: Via, sql: &str) -> Vec<RecordBatch> {
    try_sql(store, via, sql)
        .await
        .unwrap_or_else(|e| panic!("{via:?}: {sql}: {e}"))
}

/// Column `name` of every batch cast to `T`'s type.
fn values<T: ArrowPrimitiveType>(batches: &[RecordBatch], name: &str) -> Vec<Option<T::Native>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = cast(b.column_by_name(name).unwrap(), &T::DATA_TYPE).unwrap();
            c.as_primitive::<T>().iter().collect::<Vec<_>>()
        })
        .collect()
}

/// Column `name` of every batch as i64 (timestamps as µs, counts, ports).
fn ints(batches: &[RecordBatch], name: &str) -> Vec<Option<i64>> {
    values::<Int64Type>(batches, name)
}

/// Column `name` of every batch as text.
fn texts(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = cast(b.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
            c.as_string::<i32>()
                .iter()
                .map(|s| s.map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Column `name` of every batch as u64 (flow ids are hashes over the whole u64 range).
fn u64s(batches: &[RecordBatch], name: &str) -> Vec<Option<u64>> {
    values::<UInt64Type>(batches, name)
}

/// Column `name` of every batch as f64.
fn floats(batches: &[RecordBatch], name: &str) -> Vec<Option<f64>> {
    values::<Float64Type>(batches, name)
}

fn bucket(us: i64, len: i64) -> i64 {
    us.div_euclid(len) * len
}

/// One `entries` row, as plain values.
#[derive(Debug, Clone)]
struct Entry {
    ts: i64,
    kind: String,
    protocol: String,
    transport: String,
    flow_id: Option<u64>,
    src_ip: Option<String>,
    dst_ip: Option<String>,
    dst_port: Option<i64>,
    summary: String,
    error_type: Option<String>,
    error_msg: Option<String>,
}

fn entries(store: &Store) -> Vec<Entry> {
    let b = &store.entries;
    let (ts, flow, port) = (
        ints(b, entry_col::TIMESTAMP),
        u64s(b, entry_col::FLOW_ID),
        ints(b, entry_col::DST_PORT),
    );
    let s = |c| texts(b, c);
    let (kind, protocol, transport, src, dst, summary, et, em) = (
        s(entry_col::KIND),
        s(entry_col::PROTOCOL_NAME),
        s(entry_col::TRANSPORT),
        s(entry_col::SRC_IP),
        s(entry_col::DST_IP),
        s(entry_col::SUMMARY),
        s(entry_col::ERROR_TYPE),
        s(entry_col::ERROR_MSG),
    );
    (0..ts.len())
        .map(|i| Entry {
            ts: ts[i].unwrap(),
            kind: kind[i].clone().unwrap(),
            protocol: protocol[i].clone().unwrap(),
            transport: transport[i].clone().unwrap(),
            flow_id: flow[i],
            src_ip: src[i].clone(),
            dst_ip: dst[i].clone(),
            dst_port: port[i],
            summary: summary[i].clone().unwrap(),
            error_type: et[i].clone(),
            error_msg: em[i].clone(),
        })
        .collect()
}

type MinuteKey = (i64, String, Option<String>, Option<String>);

/// `error_counts_per_minute`: entries of `error or icmp` by minute, kind, type and detail.
fn expected_error_counts(entries: &[Entry]) -> BTreeMap<MinuteKey, i64> {
    let mut out = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| e.error_type.is_some() || e.protocol == "icmp")
    {
        let detail = e.error_msg.clone().or_else(|| Some(e.summary.clone()));
        let key = (
            bucket(e.ts, MINUTE_US),
            e.kind.clone(),
            e.error_type.clone(),
            detail,
        );
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

async fn view_error_counts(store: &Store, via: Via) -> BTreeMap<MinuteKey, i64> {
    let b = sql_via(store, via, "SELECT * FROM error_counts_per_minute").await;
    let (minute, kind, et, detail, n) = (
        ints(&b, "minute"),
        texts(&b, "kind"),
        texts(&b, "error_type"),
        texts(&b, "detail"),
        ints(&b, "errors"),
    );
    let mut out = BTreeMap::new();
    for i in 0..minute.len() {
        let key = (
            minute[i].unwrap(),
            kind[i].clone().unwrap(),
            et[i].clone(),
            detail[i].clone(),
        );
        assert!(
            out.insert(key, n[i].unwrap()).is_none(),
            "duplicate row {i}"
        );
    }
    out
}

type DestKey = (i64, String, Option<String>, Option<i64>);

/// Per destination and day: failing entries, connection/timeout/loss counts, failing flows,
/// distinct sources, first and last time, rank within the day.
#[derive(Debug, Default, PartialEq)]
struct DestRow {
    failing: i64,
    connection: i64,
    timeouts: i64,
    loss: i64,
    flows: i64,
    sources: i64,
    first: i64,
    last: i64,
    rank: i64,
}

fn expected_destinations(entries: &[Entry]) -> BTreeMap<DestKey, DestRow> {
    let mut groups: BTreeMap<DestKey, Vec<&Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.error_type.is_some()) {
        let key = (
            bucket(e.ts, DAY_US),
            e.transport.clone(),
            e.dst_ip.clone(),
            e.dst_port,
        );
        groups.entry(key).or_default().push(e);
    }
    let count = |g: &[&Entry], t: &str| {
        g.iter()
            .filter(|e| e.error_type.as_deref() == Some(t))
            .count() as i64
    };
    let mut out: BTreeMap<DestKey, DestRow> = groups
        .iter()
        .map(|(k, g)| {
            let row = DestRow {
                failing: g.len() as i64,
                connection: count(g, "connection"),
                timeouts: count(g, "timeout"),
                loss: count(g, "loss"),
                flows: g
                    .iter()
                    .filter_map(|e| e.flow_id)
                    .collect::<BTreeSet<_>>()
                    .len() as i64,
                sources: g
                    .iter()
                    .filter_map(|e| e.src_ip.as_ref())
                    .collect::<BTreeSet<_>>()
                    .len() as i64,
                first: g.iter().map(|e| e.ts).min().unwrap(),
                last: g.iter().map(|e| e.ts).max().unwrap(),
                rank: 0,
            };
            (k.clone(), row)
        })
        .collect();
    // Rank within the day: most failing entries first, ties by transport, ip, port (NULLs last,
    // as SQL sorts them ascending).
    let mut by_day: BTreeMap<i64, Vec<(DestKey, i64)>> = BTreeMap::new();
    for (k, r) in &out {
        by_day.entry(k.0).or_default().push((k.clone(), r.failing));
    }
    for (_, mut rows) in by_day {
        rows.sort_by(|(a, na), (b, nb)| {
            nb.cmp(na)
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| nulls_last(&a.2, &b.2))
                .then_with(|| nulls_last(&a.3, &b.3))
        });
        for (i, (k, _)) in rows.into_iter().enumerate() {
            out.get_mut(&k).unwrap().rank = i as i64 + 1;
        }
    }
    out
}

fn nulls_last<T: Ord>(a: &Option<T>, b: &Option<T>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
    }
}

async fn view_destinations(store: &Store, via: Via) -> BTreeMap<DestKey, DestRow> {
    let b = sql_via(store, via, "SELECT * FROM top_failing_destinations").await;
    let i = |c| ints(&b, c);
    let (day, port) = (i("day"), i("dst_port"));
    let (transport, ip) = (texts(&b, "transport"), texts(&b, "dst_ip"));
    let cols: Vec<Vec<Option<i64>>> = [
        "failing_entries",
        "connection_errors",
        "timeouts",
        "loss_entries",
        "failing_flows",
        "distinct_sources",
        "first_seen",
        "last_seen",
        "rank",
    ]
    .into_iter()
    .map(i)
    .collect();
    let v = |c: usize, r: usize| cols[c][r].unwrap();
    (0..day.len())
        .map(|r| {
            let key = (
                day[r].unwrap(),
                transport[r].clone().unwrap(),
                ip[r].clone(),
                port[r],
            );
            let row = DestRow {
                failing: v(0, r),
                connection: v(1, r),
                timeouts: v(2, r),
                loss: v(3, r),
                flows: v(4, r),
                sources: v(5, r),
                first: v(6, r),
                last: v(7, r),
                rank: v(8, r),
            };
            (key, row)
        })
        .collect()
}

type ServiceKey = (i64, String, String, i64);

/// Per service and day: (flows, failed flows, errors, error rate).
type ServiceRow = (i64, i64, i64, Option<f64>);

fn expected_services(store: &Store, entries: &[Entry]) -> BTreeMap<ServiceKey, ServiceRow> {
    let f = &store.flows;
    let (start, port) = (ints(f, flow_col::START), ints(f, flow_col::RESP_PORT));
    let (transport, ip) = (texts(f, flow_col::TRANSPORT), texts(f, flow_col::RESP_IP));
    let mut flows: HashMap<ServiceKey, i64> = HashMap::new();
    for r in 0..start.len() {
        let t = transport[r].clone().unwrap();
        if t == "tcp" || t == "udp" {
            let key = (
                bucket(start[r].unwrap(), DAY_US),
                t,
                ip[r].clone().unwrap(),
                port[r].unwrap(),
            );
            *flows.entry(key).or_insert(0) += 1;
        }
    }
    let mut errors: HashMap<ServiceKey, Vec<Option<u64>>> = HashMap::new();
    for e in entries
        .iter()
        .filter(|e| e.error_type.is_some() && (e.transport == "tcp" || e.transport == "udp"))
    {
        let key = (
            bucket(e.ts, DAY_US),
            e.transport.clone(),
            e.dst_ip.clone().unwrap(),
            e.dst_port.unwrap(),
        );
        errors.entry(key).or_default().push(e.flow_id);
    }
    let keys: BTreeSet<ServiceKey> = flows.keys().chain(errors.keys()).cloned().collect();
    keys.into_iter()
        .map(|k| {
            let n = flows.get(&k).copied().unwrap_or(0);
            let errs = errors.get(&k).cloned().unwrap_or_default();
            let failed = errs.iter().flatten().collect::<BTreeSet<_>>().len() as i64;
            let rate = (n > 0).then(|| failed as f64 / n as f64);
            (k, (n, failed, errs.len() as i64, rate))
        })
        .collect()
}

async fn view_services(store: &Store, via: Via) -> BTreeMap<ServiceKey, ServiceRow> {
    let b = sql_via(store, via, "SELECT * FROM error_rate_per_service").await;
    let (day, port, flows, failed, errors) = (
        ints(&b, "day"),
        ints(&b, "service_port"),
        ints(&b, "flows"),
        ints(&b, "failed_flows"),
        ints(&b, "errors"),
    );
    let (transport, ip, service) = (
        texts(&b, "transport"),
        texts(&b, "service_ip"),
        texts(&b, "service"),
    );
    let rate = floats(&b, "error_rate");
    (0..day.len())
        .map(|r| {
            let (ip, port) = (ip[r].clone().unwrap(), port[r].unwrap());
            let shown = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            assert_eq!(service[r].as_deref(), Some(shown.as_str()));
            let key = (day[r].unwrap(), transport[r].clone().unwrap(), ip, port);
            (
                key,
                (
                    flows[r].unwrap(),
                    failed[r].unwrap(),
                    errors[r].unwrap(),
                    rate[r],
                ),
            )
        })
        .collect()
}

/// Asserts that a view's rows equal the expected ones, showing the first differences.
fn same_rows<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    via: Via,
    view: &str,
    got: &BTreeMap<K, V>,
    expected: &BTreeMap<K, V>,
) {
    let keys: BTreeSet<&K> = got.keys().chain(expected.keys()).collect();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(k) != expected.get(k))
        .take(5)
        .map(|k| {
            format!(
                "{k:?}: view {:?}, expected {:?}",
                got.get(k),
                expected.get(k)
            )
        })
        .collect();
    assert!(diffs.is_empty(), "{view} ({via:?}):\n{}", diffs.join("\n"));
}

/// Captures of at most `max_bytes`, sorted by name.
fn captures(dir: &Path, max_bytes: u64) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name.ends_with(".pcap") || name.ends_with(".pcapng"))
                && std::fs::metadata(p).unwrap().len() <= max_bytes
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_match_an_independent_computation() {
    let Some(dir) = pcaps() else { return };
    let files = captures(&dir, 2_000_000);
    let store = ingest(&files).await;
    let entries = entries(&store);
    let expected = (
        expected_error_counts(&entries),
        expected_destinations(&entries),
        expected_services(&store, &entries),
    );
    let mut counts = BTreeMap::new();
    let (mut destinations, mut services) = (BTreeMap::new(), BTreeMap::new());
    for via in [Via::Engine, Via::Listing] {
        counts = view_error_counts(&store, via).await;
        same_rows(via, "error_counts_per_minute", &counts, &expected.0);
        destinations = view_destinations(&store, via).await;
        same_rows(via, "top_failing_destinations", &destinations, &expected.1);
        services = view_services(&store, via).await;
        same_rows(via, "error_rate_per_service", &services, &expected.2);
    }

    let errors: i64 = counts.values().sum();
    let days: BTreeSet<i64> = counts.keys().map(|k| bucket(k.0, DAY_US)).collect();
    println!(
        "{} captures, {} entries: {} error/icmp entries in {} minute rows over {} days, \
         {} destination rows, {} service rows",
        files.len(),
        entries.len(),
        errors,
        counts.len(),
        days.len(),
        destinations.len(),
        services.len()
    );
    assert!(errors > 1000 && days.len() > 10 && services.len() > 100);
}

/// The day (bucket start, µs) with the most entries.
fn busiest_day(entries: &[Entry]) -> i64 {
    let mut per_day: BTreeMap<i64, usize> = BTreeMap::new();
    for e in entries {
        *per_day.entry(bucket(e.ts, DAY_US)).or_insert(0) += 1;
    }
    per_day.into_iter().max_by_key(|(_, n)| *n).unwrap().0
}

/// Row groups in the Parquet files of `table`, all and of the `date=<day>` partition.
fn row_groups(store: &Store, table: &str, day: &str) -> (usize, usize) {
    let (mut all, mut of_day) = (0, 0);
    for date in std::fs::read_dir(store.path().join(table)).unwrap() {
        let date = date.unwrap().path();
        let same = date.file_name().unwrap().to_string_lossy() == format!("date={day}");
        for hour in std::fs::read_dir(&date).unwrap() {
            for file in std::fs::read_dir(hour.unwrap().path()).unwrap() {
                let file = std::fs::File::open(file.unwrap().path()).unwrap();
                let reader = parquet::file::serialized_reader::SerializedFileReader::new(file);
                let n = parquet::file::reader::FileReader::num_row_groups(&reader.unwrap());
                all += n;
                if same {
                    of_day += n;
                }
            }
        }
    }
    (all, of_day)
}

/// The `N total → M matched` numbers of metric `name` in one scan's metrics.
fn pruning_metric(scan: &str, name: &str) -> (usize, usize) {
    let metric = scan
        .split(&format!("{name}="))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in {scan}"));
    let numbers: Vec<usize> = metric
        .split([' ', ','])
        .take(5)
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Per Parquet scan of an `EXPLAIN ANALYZE` text: the table, the file ranges left after
/// pruning by file statistics (of how many), and the row groups read after pruning by
/// row-group statistics.
fn scans(plan: &str) -> Vec<(String, (usize, usize), usize)> {
    plan.split("DataSourceExec:")
        .skip(1)
        .filter(|scan| scan.trim_start().starts_with("file_groups"))
        .map(|scan| {
            let table = if scan.contains("/entries/") {
                "entries"
            } else {
                "flows"
            };
            let files = pruning_metric(scan, "files_ranges_pruned_statistics");
            let (_, row_groups) = pruning_metric(scan, "row_groups_pruned_statistics");
            (table.to_owned(), files, row_groups)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_day_queries_read_one_day() {
    let Some(dir) = pcaps() else { return };
    let store = ingest(&captures(&dir, 2_000_000)).await;
    let day_us = busiest_day(&entries(&store));
    let day = chrono::DateTime::from_timestamp_micros(day_us)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let next = chrono::DateTime::from_timestamp_micros(day_us + DAY_US)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    for (view, filter) in [
        (
            "error_counts_per_minute",
            format!("minute >= '{day}T00:00:00Z' AND minute < '{next}T00:00:00Z'"),
        ),
        (
            "top_failing_destinations",
            format!("day = '{day}T00:00:00Z'"),
        ),
        ("error_rate_per_service", format!("day = '{day}'")),
    ] {
        let filtered = format!("SELECT * FROM {view} WHERE {filter}");
        for via in [Via::Engine, Via::Listing] {
            let b = sql_via(&store, via, &format!("EXPLAIN ANALYZE {filtered}")).await;
            let plan = arrow::util::pretty::pretty_format_batches(&b)
                .unwrap()
                .to_string();
            let scans = scans(&plan);
            let tables = if view == "error_rate_per_service" {
                2
            } else {
                1
            };
            assert_eq!(scans.len(), tables, "{plan}");
            for (table, (files, files_left), read) in scans {
                let (all, of_day) = row_groups(&store, &table, &day);
                println!(
                    "{view} on {day} ({via:?}): {table}: {files} file ranges scanned, \
                     {files_left} kept by file statistics, {read} of {all} row groups read"
                );
                assert_eq!(read, of_day, "{view} {table}\n{plan}");
                assert!(
                    of_day > 0 && of_day * 10 < all,
                    "{table}: {of_day} of {all}"
                );
            }
        }
        // The pruned query returns exactly the day's rows of the whole view.
        let day_rows = sql(&store, &filtered).await;
        let n: usize = day_rows.iter().map(RecordBatch::num_rows).sum();
        let whole = sql(&store, &format!("SELECT * FROM {view}")).await;
        let time_col = if view == "error_counts_per_minute" {
            "minute"
        } else {
            "day"
        };
        let expected = ints(&whole, time_col)
            .into_iter()
            .filter(|t| bucket(t.unwrap(), DAY_US) == day_us)
            .count();
        assert!(n > 0);
        assert_eq!(n, expected, "{view}");
    }
}

/// One record of an `.slt` file.
#[derive(Debug)]
enum Record {
    /// Ingest these captures; later records query them.
    Store(Vec<String>),
    /// A query, its column types (one letter each), whether rows are sorted before comparing,
    /// and the expected rows.
    Query {
        line: usize,
        types: String,
        rowsort: bool,
        sql: String,
        rows: Vec<String>,
    },
    /// A statement that must fail with a message containing `message`.
    Error {
        line: usize,
        message: String,
        sql: String,
    },
}

/// Parses the records of an `.slt` file: blank lines separate them, `#` lines are comments.
fn parse_slt(text: &str) -> Vec<Record> {
    let mut records = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut block = Vec::new();
        while let Some((_, l)) = lines.next_if(|(_, l)| !l.trim().is_empty()) {
            if !l.starts_with('#') {
                block.push(l.trim_end().to_owned());
            }
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let record = match words.as_slice() {
            ["store", captures @ ..] if !captures.is_empty() => {
                Record::Store(captures.iter().map(|c| (*c).to_owned()).collect())
            }
            ["query", types, rest @ ..] => {
                let split = block.iter().position(|l| l == "----");
                let split = split.unwrap_or_else(|| panic!("line {}: no ----", i + 1));
                Record::Query {
                    line: i + 1,
                    types: (*types).to_owned(),
                    rowsort: rest == ["rowsort"],
                    sql: block[..split].join("\n"),
                    rows: block[split + 1..].to_vec(),
                }
            }
            ["statement", "error", message @ ..] => Record::Error {
                line: i + 1,
                message: message.join(" "),
                sql: block.join("\n"),
            },
            _ => panic!("line {}: unknown record `{line}`", i + 1),
        };
        records.push(record);
    }
    records
}

/// Rows as the `.slt` files write them: cells separated by one space, `NULL`, `(empty)`.
fn render_rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        "NULL".to_owned()
                    } else {
                        let v = arrow::util::display::array_value_to_string(c, r).unwrap();
                        if v.is_empty() {
                            "(empty)".to_owned()
                        } else {
                            v
                        }
                    }
                })
                .collect();
            rows.push(cells.join(" "));
        }
    }
    rows
}

async fn run_slt(dir: &Path, file: &Path, stores: &mut HashMap<Vec<String>, Store>) -> usize {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let mut current: Option<Vec<String>> = None;
    let mut checked = 0;
    for record in parse_slt(&std::fs::read_to_string(file).unwrap()) {
        if let Record::Store(captures) = record {
            if !stores.contains_key(&captures) {
                let files: Vec<PathBuf> = captures.iter().map(|c| dir.join(c)).collect();
                stores.insert(captures.clone(), ingest(&files).await);
            }
            current = Some(captures);
            continue;
        }
        let key = current
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: query before store"));
        let store = &stores[key];
        checked += 1;
        match record {
            Record::Query {
                line,
                types,
                rowsort,
                sql: text,
                rows,
            } => {
                let batches = sql(store, &text).await;
                let columns = batches.first().map_or(types.len(), |b| b.num_columns());
                assert_eq!(columns, types.len(), "{name}:{line}: column count");
                let mut got = render_rows(&batches);
                if rowsort {
                    got.sort();
                }
                assert_eq!(got, rows, "{name}:{line}\n{text}");
            }
            Record::Error {
                line,
                message,
                sql: text,
            } => {
                let e = try_sql(store, Via::Engine, &text)
                    .await
                    .err()
                    .unwrap_or_else(|| panic!("{name}:{line}: no error for\n{text}"));
                let shown = e.to_string();
                assert!(
                    shown.contains(&message),
                    "{name}:{line}: `{shown}` lacks `{message}`"
                );
            }
            Record::Store(_) => unreachable!(),
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_files() {
    let Some(dir) = pcaps() else { return };
    let slt = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&slt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut stores = HashMap::new();
    for f in &files {
        let n = run_slt(&dir, f, &mut stores).await;
        println!("{}: {n} records", f.display());
        assert!(n > 0);
    }
}
