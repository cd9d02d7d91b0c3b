//! The write-ahead log with real `entries` and `flows` batches: round trips, reopen, torn tails
//! at every cut point, CRC damage and corruption of earlier segments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{StringArray, UInt64Array};
use arrow::record_batch::RecordBatch;
use faultline_engine::{EngineError, Table, TornReason, Wal};
use faultline_schemas::{entries_schema, entry_col, flow_col, flows_schema};
use support::{T0, batch, ts};

/// `ids.len()` entries rows with the given ids.
fn entries(ids: &[u64]) -> RecordBatch {
    let times = ids.iter().map(|&i| T0 + i as i64).collect();
    let kinds: Vec<&str> = ids.iter().map(|_| "tcp").collect();
    batch(
        entries_schema(),
        ids.len(),
        &[
            (entry_col::ID, Arc::new(UInt64Array::from(ids.to_vec()))),
            (entry_col::TIMESTAMP, ts(times)),
            (entry_col::KIND, Arc::new(StringArray::from(kinds))),
            (
                entry_col::FLOW_ID,
                Arc::new(UInt64Array::from(ids.to_vec())),
            ),
        ],
    )
}

/// `ids.len()` flows rows with the given flow ids.
fn flows(ids: &[u64]) -> RecordBatch {
    let times: Vec<i64> = ids.iter().map(|&i| T0 + i as i64).collect();
    batch(
        flows_schema(),
        ids.len(),
        &[
            (flow_col::FLOW_ID, Arc::new(UInt64Array::from(ids.to_vec()))),
            (flow_col::START, ts(times.clone())),
            (flow_col::END, ts(times)),
        ],
    )
}

/// The records every fixture log holds, in order.
fn records() -> Vec<(Table, RecordBatch)> {
    vec![
        (Table::Entries, entries(&[1, 2, 3])),
        (Table::Flows, flows(&[10, 11])),
        (Table::Entries, entries(&[4])),
    ]
}

/// Appends `records()` to a fresh log in `dir`, rotating after the first if `rotate`.
fn fixture(dir: &Path, rotate: bool) -> Vec<PathBuf> {
    let (mut wal, replay) = Wal::open(dir).unwrap();
    assert!(replay.batches.is_empty());
    for (i, (table, b)) in records().iter().enumerate() {
        assert_eq!(wal.append(*table, b).unwrap(), i as u64);
        if rotate && i == 0 {
            wal.rotate().unwrap();
        }
    }
    wal.segments()
}

fn file_len(p: &Path) -> u64 {
    fs::metadata(p).unwrap().len()
}

#[test]
fn round_trip_both_tables_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), false);
    let (mut wal, replay) = Wal::open(dir.path()).unwrap();
    assert_eq!(replay.batches, records());
    assert!(replay.torn_tail.is_none());
    assert_eq!(wal.next_seq(), 3);
    // Appends after reopen go to a new segment and replay after the old ones.
    assert_eq!(wal.append(Table::Flows, &flows(&[12])).unwrap(), 3);
    drop(wal);
    let (_, replay) = Wal::open(dir.path()).unwrap();
    let mut want = records();
    want.push((Table::Flows, flows(&[12])));
    assert_eq!(replay.batches, want);
}

#[test]
fn torn_tail_at_every_cut_point() {
    let dir = tempfile::tempdir().unwrap();
    let segments = fixture(dir.path(), false);
    let segment = &segments[0];
    let full = fs::read(segment).unwrap();
    // Where the last record starts: the length of a log holding only the first two.
    let two = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(two.path()).unwrap();
    for (table, b) in &records()[..2] {
        wal.append(*table, b).unwrap();
    }
    let last_start = file_len(&wal.segments()[0]) as usize;
    assert!(last_start < full.len());

    let mut cuts = 0;
    for cut in last_start + 1..full.len() {
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join(segment.file_name().unwrap());
        fs::write(&path, &full[..cut]).unwrap();
        let (mut wal, replay) = Wal::open(work.path()).unwrap();
        assert_eq!(replay.batches, records()[..2], "cut at {cut}");
        let torn = replay.torn_tail.expect("torn tail reported");
        assert_eq!(torn.segment, path);
        assert_eq!(torn.offset, last_start as u64);
        let want = if cut - last_start < 13 {
            TornReason::IncompleteHeader
        } else {
            TornReason::IncompletePayload
        };
        assert_eq!(torn.reason, want, "cut at {cut}");
        assert_eq!(file_len(&path), last_start as u64, "torn tail cut off");
        // Appending afterwards works and replays cleanly.
        assert_eq!(wal.append(Table::Flows, &flows(&[99])).unwrap(), 2);
        drop(wal);
        let (_, replay) = Wal::open(work.path()).unwrap();
        assert!(replay.torn_tail.is_none(), "cut at {cut}");
        let mut want = records()[..2].to_vec();
        want.push((Table::Flows, flows(&[99])));
        assert_eq!(replay.batches, want, "cut at {cut}");
        cuts += 1;
    }
    assert_eq!(cuts, full.len() - last_start - 1);
}

/// Flips one payload byte of the last record of `segment`, which starts at `record_start`.
fn corrupt_last_record(segment: &Path, record_start: u64) {
    let mut data = fs::read(segment).unwrap();
    let at = record_start as usize + 13 + (data.len() - record_start as usize - 13) / 2;
    data[at] ^= 0x40;
    fs::write(segment, data).unwrap();
}

#[test]
fn crc_damage_in_last_record_is_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let segments = fixture(dir.path(), true);
    // The second segment holds records 1 and 2; find where record 2 starts.
    let two = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(two.path()).unwrap();
    wal.append(Table::Flows, &flows(&[10, 11])).unwrap();
    let last_start = file_len(&wal.segments()[0]);
    corrupt_last_record(&segments[1], last_start);

    let (_, replay) = Wal::open(dir.path()).unwrap();
    assert_eq!(replay.batches, records()[..2]);
    let torn = replay.torn_tail.unwrap();
    assert_eq!(torn.segment, segments[1]);
    assert_eq!(torn.offset, last_start);
    assert_eq!(torn.reason, TornReason::CrcMismatch);
    assert_eq!(file_len(&segments[1]), last_start);
}

#[test]
fn damage_in_earlier_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let segments = fixture(dir.path(), true);
    corrupt_last_record(&segments[0], 0);
    match Wal::open(dir.path()) {
        Err(EngineError::WalCorrupt { path, offset, .. }) => {
            assert_eq!((path, offset), (segments[0].clone(), 0));
        }
        other => panic!("expected WalCorrupt, got {other:?}"),
    }
    // A truncated earlier segment is corrupt too, not a torn tail.
    let full = fs::read(&segments[0]).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&segments[0])
        .unwrap()
        .set_len(full.len() as u64 - 1)
        .unwrap();
    assert!(matches!(
        Wal::open(dir.path()),
        Err(EngineError::WalCorrupt { .. })
    ));
}

#[test]
fn damaged_record_followed_by_data_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let segments = fixture(dir.path(), false);
    // Flip a byte in the payload of record 0 of the three in the only segment.
    let mut data = fs::read(&segments[0]).unwrap();
    data[20] ^= 0x40;
    fs::write(&segments[0], data).unwrap();
    let err = Wal::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, EngineError::WalCorrupt { offset: 0, .. }),
        "{err}"
    );
}

#[test]
fn reset_deletes_segments() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), true);
    let (mut wal, replay) = Wal::open(dir.path()).unwrap();
    assert_eq!(replay.batches.len(), 3);
    assert_eq!(
        wal.segments().len(),
        3,
        "two replayed segments and a new one"
    );
    wal.reset().unwrap();
    let on_disk: Vec<PathBuf> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(on_disk, wal.segments());
    assert_eq!(file_len(&on_disk[0]), 0);
    assert_eq!(wal.append(Table::Entries, &entries(&[5])).unwrap(), 3);
    drop(wal);
    let (_, replay) = Wal::open(dir.path()).unwrap();
    assert_eq!(replay.batches, vec![(Table::Entries, entries(&[5]))]);
}
