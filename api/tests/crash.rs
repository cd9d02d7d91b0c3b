//! Crash test: `faultline ingest` is killed (SIGKILL) in the middle of long ingests, several
//! times, with small batches and frequent flushes so that kills land during appends and during
//! flushes. After each kill the store must hold every row the killed process acknowledged
//! (its ack log), at most the one batch per table it was appending, no row twice, and only
//! readable Parquet files; a new ingest must then recover the log and carry on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn faultline(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// Rows per batch of the killed ingests.
const BATCH_ROWS: u64 = 64;

/// Acknowledged rows per table in an ack log (`<table> <seq> <rows>` lines).
fn acked(log: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut totals = (0, 0);
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        // The last line may be cut by the kill: only whole lines count.
        let [table, _seq, rows] = parts[..] else {
            continue;
        };
        let Ok(rows) = rows.parse::<u64>() else {
            continue;
        };
        if !text.ends_with('\n') && line == text.lines().last().unwrap() {
            continue;
        }
        match table {
            "entries" => totals.0 += rows,
            "flows" => totals.1 += rows,
            other => panic!("unknown table {other}"),
        }
    }
    totals
}

/// `count(*)` and `count(DISTINCT id)` of a table, through a read-only view.
fn counts(data: &Path, table: &str, id: &str) -> (u64, u64) {
    let sql = format!("SELECT count(*) AS n, count(DISTINCT {id}) AS d FROM {table}");
    let out = faultline(
        &[
            "sql",
            &sql,
            "--data",
            data.to_str().unwrap(),
            "--format",
            "csv",
        ],
        data.parent().unwrap(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = text.lines().nth(1).unwrap();
    let mut v = row.split(',').map(|x| x.trim().parse::<u64>().unwrap());
    (v.next().unwrap(), v.next().unwrap())
}

/// Every Parquet file under `dir` opens and decodes completely.
fn all_parquet_readable(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let file = std::fs::File::open(&p).unwrap();
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                        .build()
                        .unwrap();
                for batch in reader {
                    batch.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                }
                n += 1;
            }
        }
    }
    n
}

#[test]
fn killed_ingests_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let data = root.join("store");
    let (mut want_entries, mut want_flows) = (0u64, 0u64);
    // Kill points, ms after start: early, mid-run, later (deterministic, spread over flushes).
    for (cycle, kill_after_ms) in [700u64, 1300, 1900].into_iter().enumerate() {
        let capture = root.join(format!("capture-{cycle}.pcap"));
        let gen_out = faultline(
            &[
                "generate",
                "--out",
                capture.to_str().unwrap(),
                "--packets",
                "400000",
                "--seed",
                &(cycle + 11).to_string(),
            ],
            root,
        );
        assert!(gen_out.status.success());
        let ack = root.join(format!("ack-{cycle}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args([
                "ingest",
                capture.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--batch-rows",
                &BATCH_ROWS.to_string(),
                "--flush-interval",
                "0.05",
                "--ack-log",
                ack.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap_or_default();
        child.wait().unwrap();
        let (e, f) = acked(&ack);
        assert!(
            e + f > 0,
            "cycle {cycle}: nothing was acknowledged before the kill"
        );
        assert!(
            !finished,
            "cycle {cycle}: the ingest ended before the kill; make it longer"
        );
        want_entries += e;
        want_flows += f;

        let (entries, distinct) = counts(&data, "entries", "id");
        assert_eq!(entries, distinct, "cycle {cycle}: an entry is stored twice");
        assert!(
            (want_entries..=want_entries + BATCH_ROWS * (cycle as u64 + 1)).contains(&entries),
            "cycle {cycle}: {entries} entries stored, {want_entries} acknowledged"
        );
        let (flows, distinct) = counts(&data, "flows", "flow_id");
        assert_eq!(flows, distinct, "cycle {cycle}: a flow is stored twice");
        assert!(
            (want_flows..=want_flows + BATCH_ROWS * (cycle as u64 + 1)).contains(&flows),
            "cycle {cycle}: {flows} flows stored, {want_flows} acknowledged"
        );
        // What the store held after the kill, including the unacknowledged batch that made it.
        want_entries = entries;
        want_flows = flows;
        all_parquet_readable(&data);
    }

    // A new writer recovers the log, flushes it and ingests more.
    let small = root.join("small.pcap");
    assert!(
        faultline(
            &[
                "generate",
                "--out",
                small.to_str().unwrap(),
                "--packets",
                "2000"
            ],
            root
        )
        .status
        .success()
    );
    let out = faultline(
        &[
            "ingest",
            small.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        root,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (entries, distinct) = counts(&data, "entries", "id");
    assert_eq!(entries, distinct);
    assert!(entries >= want_entries);
    let wal = data.join("_faultline/wal");
    let leftover: u64 = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(leftover, 0, "the log is empty after a clean close");
    assert!(all_parquet_readable(&data) > 0);
}
