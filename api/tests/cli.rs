//! The `faultline` binary end to end: generate a capture, ingest it into a data directory,
//! query it back with KFL, and the error paths (damaged files, nothing readable, bad KFL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn faultline(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The value of a summary row such as `flows   1150`.
fn summary_value(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix(key)
                .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no `{key}` in\n{text}"))
}

/// Time of a classic pcap's first packet, µs.
fn first_packet_us(pcap: &[u8]) -> i64 {
    let word = |at: usize| i64::from(u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap()));
    word(24) * 1_000_000 + word(28)
}

#[test]
fn generate_starts_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |start: &str| {
        let out = faultline(
            &[
                "generate",
                "--out",
                "g.pcap",
                "--packets",
                "500",
                "--start",
                start,
            ],
            d,
        );
        (
            out.status.success(),
            std::fs::read(d.join("g.pcap")).ok(),
            out,
        )
    };
    let (ok, pcap, out) = run("2025-06-01T12:00:00Z");
    assert!(ok, "{out:?}");
    assert_eq!(first_packet_us(&pcap.unwrap()), 1_748_779_200_000_000);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let (ok, pcap, out) = run("now");
    assert!(ok, "{out:?}");
    let first = first_packet_us(&pcap.unwrap());
    assert!((before..before + 60_000_000).contains(&first), "{first}");
    let (ok, _, out) = run("yesterday");
    assert!(!ok);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read time `yesterday`"),
        "{out:?}"
    );
}

#[test]
fn ingest_then_query() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gen_out = faultline(
        &[
            "generate",
            "--out",
            "demo.pcap",
            "--packets",
            "5000",
            "--seed",
            "3",
        ],
        d,
    );
    assert!(gen_out.status.success(), "{gen_out:?}");
    assert!(d.join("demo.truth.jsonl").is_file());

    let ingest = faultline(&["ingest", "demo.pcap", "--data", "data"], d);
    assert!(ingest.status.success(), "{ingest:?}");
    let summary = stdout(&ingest);
    let entries = summary_value(&summary, "entries");
    let tcp = summary_value(&summary, "tcp");
    assert!(entries > 0 && tcp > 0, "{summary}");
    assert!(d.join("data/entries").is_dir() && d.join("data/flows").is_dir());

    let all = faultline(&["query", "", "--data", "data", "--format", "json"], d);
    assert!(all.status.success(), "{all:?}");
    assert_eq!(stdout(&all).lines().count() as u64, entries);

    let only_tcp = faultline(
        &[
            "query",
            "tcp and error.type == \"connection\"",
            "--data",
            "data",
            "--format",
            "json",
        ],
        d,
    );
    assert_eq!(stdout(&only_tcp).lines().count() as u64, tcp);

    let limited = faultline(
        &[
            "query",
            "error or icmp",
            "--data",
            "data",
            "--format",
            "csv",
            "--limit",
            "3",
        ],
        d,
    );
    // Records, not lines: body prefixes may hold quoted newlines.
    let text = stdout(&limited);
    let records = csv::Reader::from_reader(text.as_bytes())
        .records()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(records.len(), 3, "{text}");

    let bad = faultline(&["query", "src.ipp == \"1\"", "--data", "data"], d);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("src.ip") && err.contains('^'), "{err}");

    let per_kind = faultline(
        &[
            "sql",
            "SELECT kind, count(*) AS n FROM entries GROUP BY kind ORDER BY kind",
            "--data",
            "data",
            "--format",
            "csv",
        ],
        d,
    );
    assert!(per_kind.status.success(), "{per_kind:?}");
    let csv = stdout(&per_kind);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("kind,n"));
    let rows: Vec<(String, u64)> = lines
        .map(|l| {
            let (k, n) = l.split_once(',').unwrap();
            (k.to_owned(), n.parse().unwrap())
        })
        .collect();
    assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "{csv}");
    assert_eq!(rows.iter().map(|(_, n)| n).sum::<u64>(), entries, "{csv}");

    let refused = faultline(&["sql", "DROP TABLE entries", "--data", "data"], d);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("refused") && err.contains("DROP TABLE"),
        "{err}"
    );
}

#[test]
fn damaged_and_unreadable_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        faultline(&["generate", "--out", "ok.pcap", "--packets", "2000"], d)
            .status
            .success()
    );
    let bytes = std::fs::read(d.join("ok.pcap")).unwrap();
    std::fs::write(d.join("cut.pcap"), &bytes[..bytes.len() * 2 / 3]).unwrap();
    std::fs::write(d.join("junk.pcap"), b"this is not a capture").unwrap();

    // A truncated file still yields what precedes the damage, with a clear message.
    let cut = faultline(&["ingest", "cut.pcap", "--data", "data"], d);
    assert!(cut.status.success(), "{cut:?}");
    assert!(
        String::from_utf8_lossy(&cut.stderr).contains("truncated"),
        "{cut:?}"
    );
    assert!(summary_value(&stdout(&cut), "frames") > 0);

    // Nothing readable at all: non-zero exit.
    let junk = faultline(&["ingest", "junk.pcap", "--data", "data2"], d);
    assert!(!junk.status.success(), "{junk:?}");
    assert!(
        String::from_utf8_lossy(&junk.stderr).contains("not a pcap"),
        "{junk:?}"
    );
}

/// The libraries log through the subscriber the binary installs: `--log-format json` writes
/// each log line as one JSON object with its level, message and fields, and `RUST_LOG` filters.
#[test]
fn logs_are_json_lines_with_log_format_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let generate = ["generate", "--out", "g.pcap", "--packets", "500"];
    assert!(faultline(&generate, d).status.success());
    let ingest = ["ingest", "g.pcap", "--data", "store", "--no-record"];
    assert!(faultline(&ingest, d).status.success());
    // Junk at the end of the newest write-ahead log segment: the next writer drops it as a torn
    // record and logs a warning. Returns the offset the record starts at.
    let tear = || {
        let segment = std::fs::read_dir(d.join("store/_faultline/wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .max()
            .expect("a write-ahead log segment");
        let mut bytes = std::fs::read(&segment).unwrap();
        let offset = bytes.len();
        bytes.extend_from_slice(b"not a record");
        std::fs::write(&segment, bytes).unwrap();
        offset
    };
    let run = |log_format: &str, rust_log: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(ingest)
            .args(["--log-format", log_format])
            .env("RUST_LOG", rust_log)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    tear();
    let quiet = run("json", "off");
    assert!(
        !quiet.contains("torn record"),
        "RUST_LOG=off still logged:\n{quiet}"
    );

    let offset = tear();
    let stderr = run("json", "info");
    let warning = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "wal: dropping a torn record")
        .unwrap_or_else(|| panic!("no JSON log line for the torn record in\n{stderr}"));
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["fields"]["offset"], offset);

    tear();
    let text = run("text", "info");
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains("wal: dropping a torn record")),
        "{text}"
    );
}
