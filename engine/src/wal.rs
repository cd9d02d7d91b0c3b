//! Write-ahead log for the live buffer: every appended batch is durable before it is acknowledged.
//!
//! The log is a directory of segment files named `wal-<20-digit first sequence>.log`, so lexical
//! order is replay order. A segment is a sequence of framed records:
//!
//! ```text
//! [u32 magic][u8 table][u32 len][u32 crc32][payload: len bytes]
//! ```
//!
//! all integers little-endian; the payload is one Arrow IPC *stream* (schema + one batch) and the
//! CRC-32 covers the table byte, the length and the payload (so a flipped table byte is caught
//! too). IPC streams alone cannot tell a torn write from a short file, hence the framing.
//!
//! Durability: [`Wal::append`] writes the record and calls `sync_data` before returning, so an
//! acknowledged record is never lost; a crash during `append` loses only that unacknowledged
//! record, which replay then finds as a *torn tail* of the last segment: it is reported in
//! [`Replay::torn_tail`], logged, and cut off. Damage anywhere else (an earlier segment, or a bad
//! record with more data after it) is [`EngineError::WalCorrupt`], because dropping it would lose
//! acknowledged data silently.
//!
//! Truncation after a flush to Parquet: [`Wal::rotate`] before the flush starts, then
//! [`Wal::truncate_through`] with the last sequence the flush covered; or [`Wal::reset`] when
//! everything appended so far has been flushed.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::{EngineError, Table};

/// Marks the start of every record ("FLWA" little-endian).
const MAGIC: u32 = u32::from_le_bytes(*b"FLWA");
/// Bytes of a record header: magic, table, length, CRC.
const HEADER_LEN: usize = 4 + 1 + 4 + 4;
/// Digits of the sequence in a segment name.
const SEQ_DIGITS: usize = 20;

/// Why the last record of the last segment was taken for a torn write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TornReason {
    /// Fewer bytes than a record header remain.
    IncompleteHeader,
    /// The header does not start with the magic number.
    BadMagic,
    /// The payload is shorter than the header says.
    IncompletePayload,
    /// The record is complete but its CRC does not match.
    CrcMismatch,
}

impl fmt::Display for TornReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TornReason::IncompleteHeader => "incomplete header",
            TornReason::BadMagic => "bad magic number",
            TornReason::IncompletePayload => "incomplete payload",
            TornReason::CrcMismatch => "CRC mismatch",
        })
    }
}

/// A torn record found (and cut off) at the end of the last segment during replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Where the torn record started; the segment was truncated to this length.
    pub offset: u64,
    /// What was wrong with it.
    pub reason: TornReason,
}

/// What [`Wal::open`] recovered from existing segments.
#[derive(Debug)]
pub struct Replay {
    /// Every intact record, in append order.
    pub batches: Vec<(Table, RecordBatch)>,
    /// The sequence number of each batch, in the same order.
    pub seqs: Vec<u64>,
    /// The torn tail record that was dropped, if any.
    pub torn_tail: Option<TornTail>,
}

/// An open write-ahead log; appends go to its newest segment.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    /// Segments before the current one: (first sequence, path), oldest first.
    closed: Vec<(u64, PathBuf)>,
    /// First sequence of the current segment.
    current_start: u64,
    current_path: PathBuf,
    current: File,
    /// Bytes of the current segment that hold complete records.
    current_len: u64,
    /// Sequence the next append gets.
    next_seq: u64,
    /// Set when a failed append could not be rolled back yet; the segment may end in garbage.
    poisoned: bool,
    /// Reused frame buffer.
    buf: Vec<u8>,
}

impl Wal {
    /// Opens (creating if missing) the log in `dir`, replays its segments and starts a new
    /// segment for appends. A torn tail of the last segment is cut off and reported.
    pub fn open(dir: &Path) -> Result<(Wal, Replay), EngineError> {
        fs::create_dir_all(dir).map_err(EngineError::io("create wal directory", dir))?;
        let segments = list_segments(dir)?;
        let mut batches = Vec::new();
        let mut seqs = Vec::new();
        let mut torn_tail = None;
        let mut next_seq = 0;
        for (i, (start, path)) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            let scan = scan_segment(path, is_last)?;
            next_seq = next_seq.max(start + scan.records.len() as u64);
            seqs.extend(*start..start + scan.records.len() as u64);
            batches.extend(scan.records);
            if let Some(torn) = scan.torn {
                cut_torn_tail(&torn)?;
                torn_tail = Some(torn);
            }
        }
        let mut closed = segments;
        // An empty last segment already has the name the new one would get: reuse it.
        if closed.last().is_some_and(|(start, _)| *start == next_seq) {
            closed.pop();
        }
        let (current_path, current) = open_segment(dir, next_seq)?;
        let current_len = current
            .metadata()
            .map_err(EngineError::io("stat wal segment", &current_path))?
            .len();
        let wal = Wal {
            dir: dir.to_path_buf(),
            closed,
            current_start: next_seq,
            current_path,
            current,
            current_len,
            next_seq,
            poisoned: false,
            buf: Vec::new(),
        };
        let replay = Replay {
            batches,
            seqs,
            torn_tail,
        };
        Ok((wal, replay))
    }

    /// Reads the log in `dir` without changing it (for a read-only view of a store another
    /// process writes): a torn tail is reported but not cut, a segment deleted while it is being
    /// listed is skipped, and a missing directory is an empty log.
    pub fn read_only(dir: &Path) -> Result<Replay, EngineError> {
        let mut replay = Replay {
            batches: Vec::new(),
            seqs: Vec::new(),
            torn_tail: None,
        };
        if !dir.exists() {
            return Ok(replay);
        }
        let segments = list_segments(dir)?;
        for (i, (start, path)) in segments.iter().enumerate() {
            let scan = match scan_segment(path, i + 1 == segments.len()) {
                Err(EngineError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                other => other?,
            };
            replay
                .seqs
                .extend(*start..start + scan.records.len() as u64);
            replay.batches.extend(scan.records);
            replay.torn_tail = scan.torn.or(replay.torn_tail);
        }
        Ok(replay)
    }

    /// Appends `batch` of `table` and makes it durable (`sync_data`) before returning its
    /// sequence number. On error the record is not acknowledged and is rolled back.
    pub fn append(&mut self, table: Table, batch: &RecordBatch) -> Result<u64, EngineError> {
        self.heal()?;
        encode_record(&mut self.buf, table, batch)?;
        let written = self
            .current
            .write_all(&self.buf)
            .and_then(|()| self.current.sync_data());
        if let Err(source) = written {
            // Cut the partial record so later appends do not follow garbage.
            if self.current.set_len(self.current_len).is_err() {
                self.poisoned = true;
            }
            return Err(EngineError::Io {
                op: "append to wal segment",
                path: self.current_path.clone(),
                source,
            });
        }
        self.current_len += self.buf.len() as u64;
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Closes the current segment and starts a new one; later appends go to the new segment.
    /// Does nothing when the current segment is empty.
    pub fn rotate(&mut self) -> Result<(), EngineError> {
        self.heal()?;
        if self.next_seq == self.current_start {
            return Ok(());
        }
        let (path, file) = open_segment(&self.dir, self.next_seq)?;
        let old_path = std::mem::replace(&mut self.current_path, path);
        self.closed.push((self.current_start, old_path));
        self.current = file;
        self.current_start = self.next_seq;
        self.current_len = 0;
        Ok(())
    }

    /// Retries cutting the partial record a failed append left behind, so that nothing is
    /// appended after (or closed with) garbage.
    fn heal(&mut self) -> Result<(), EngineError> {
        if self.poisoned {
            self.current
                .set_len(self.current_len)
                .map_err(EngineError::io("roll back wal segment", &self.current_path))?;
            self.poisoned = false;
        }
        Ok(())
    }

    /// Deletes every closed segment whose records all have a sequence `<= seq` (call after a
    /// flush covering them). The current segment is never deleted: [`Wal::rotate`] first.
    pub fn truncate_through(&mut self, seq: u64) -> Result<(), EngineError> {
        // A closed segment's records end before the next segment's first sequence.
        let mut ends: Vec<u64> = self.closed.iter().skip(1).map(|(s, _)| *s).collect();
        ends.push(self.current_start);
        let covered = ends
            .iter()
            .take_while(|&&end| end <= seq.saturating_add(1))
            .count();
        if covered == 0 {
            return Ok(());
        }
        for (_, path) in self.closed.drain(..covered) {
            fs::remove_file(&path).map_err(EngineError::io("delete wal segment", &path))?;
        }
        sync_dir(&self.dir)
    }

    /// Drops everything logged so far: rotates and deletes every closed segment. Call only when
    /// every acknowledged record has been flushed, and with no append in between.
    pub fn reset(&mut self) -> Result<(), EngineError> {
        self.rotate()?;
        self.truncate_through(self.next_seq.saturating_sub(1))
    }

    /// Makes the next append get a sequence of at least `min` (starting a new segment there),
    /// so that sequences stay above those a flush already recorded even if the log directory
    /// was emptied or lost.
    pub fn ensure_next_seq(&mut self, min: u64) -> Result<(), EngineError> {
        if self.next_seq >= min {
            return Ok(());
        }
        self.rotate()?;
        let (path, file) = open_segment(&self.dir, min)?;
        let old = std::mem::replace(&mut self.current_path, path);
        if self.current_len == 0 {
            fs::remove_file(&old).map_err(EngineError::io("delete wal segment", &old))?;
        }
        self.current = file;
        self.current_start = min;
        self.current_len = 0;
        self.next_seq = min;
        sync_dir(&self.dir)
    }

    /// The sequence the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Paths of all segment files, oldest first (the current one last).
    pub fn segments(&self) -> Vec<PathBuf> {
        let closed = self.closed.iter().map(|(_, p)| p.clone());
        closed.chain([self.current_path.clone()]).collect()
    }
}

/// The file name of the segment whose first record has sequence `start`.
fn segment_name(start: u64) -> String {
    format!("wal-{start:0width$}.log", width = SEQ_DIGITS)
}

/// The first sequence of a segment file name, if the name is one.
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, in replay order; other files are ignored.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, EngineError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(EngineError::io("list wal directory", dir))? {
        let entry = entry.map_err(EngineError::io("list wal directory", dir))?;
        if let Some(start) = entry.file_name().to_str().and_then(parse_segment_name) {
            segments.push((start, entry.path()));
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// Opens (creating if needed) the segment starting at `start` for appends.
fn open_segment(dir: &Path, start: u64) -> Result<(PathBuf, File), EngineError> {
    let path = dir.join(segment_name(start));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(EngineError::io("create wal segment", &path))?;
    sync_dir(dir)?;
    Ok((path, file))
}

/// Makes file creations and deletions in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(EngineError::io("sync wal directory", dir))
}

/// Cuts a segment at its torn tail and logs it.
fn cut_torn_tail(torn: &TornTail) -> Result<(), EngineError> {
    tracing::warn!(
        offset = torn.offset,
        segment = %torn.segment.display(),
        reason = %torn.reason,
        "wal: dropping a torn record"
    );
    let file = OpenOptions::new()
        .write(true)
        .open(&torn.segment)
        .map_err(EngineError::io("open wal segment", &torn.segment))?;
    file.set_len(torn.offset)
        .and_then(|()| file.sync_all())
        .map_err(EngineError::io("truncate wal segment", &torn.segment))
}

/// Replaces `buf` with the framed record of `batch`.
fn encode_record(buf: &mut Vec<u8>, table: Table, batch: &RecordBatch) -> Result<(), EngineError> {
    buf.clear();
    buf.resize(HEADER_LEN, 0);
    let mut writer = StreamWriter::try_new(&mut *buf, batch.schema_ref())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    let len = u32::try_from(buf.len() - HEADER_LEN).map_err(|_| {
        EngineError::Arrow(arrow::error::ArrowError::InvalidArgumentError(
            "batch too large for one wal record (4 GiB)".to_owned(),
        ))
    })?;
    let code = table.code();
    let crc = record_crc(code, len, &buf[HEADER_LEN..]);
    buf[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    buf[4] = code;
    buf[5..9].copy_from_slice(&len.to_le_bytes());
    buf[9..13].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// CRC-32 over the table byte, the length and the payload.
fn record_crc(code: u8, len: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[code]);
    hasher.update(&len.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Why a record could not be read.
#[derive(Debug, PartialEq, Eq)]
enum Defect {
    /// Looks like an interrupted write (valid only at the end of the last segment).
    Torn(TornReason),
    /// Cannot be an interrupted write.
    Corrupt(String),
}

/// Reads the record at `offset` of `data`: its table, its payload and where the next one starts.
fn read_frame(data: &[u8], offset: usize) -> Result<(Table, &[u8], usize), Defect> {
    let header = data
        .get(offset..offset + HEADER_LEN)
        .ok_or(Defect::Torn(TornReason::IncompleteHeader))?;
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    if word(0) != MAGIC {
        return Err(Defect::Torn(TornReason::BadMagic));
    }
    let (code, len, crc) = (header[4], word(5), word(9));
    let start = offset + HEADER_LEN;
    let end = start + len as usize;
    let payload = data
        .get(start..end)
        .ok_or(Defect::Torn(TornReason::IncompletePayload))?;
    if record_crc(code, len, payload) != crc {
        return Err(if end == data.len() {
            Defect::Torn(TornReason::CrcMismatch)
        } else {
            Defect::Corrupt("CRC mismatch with more records after it".to_owned())
        });
    }
    let table = Table::from_code(code)
        .ok_or_else(|| Defect::Corrupt(format!("unknown table code {code}")))?;
    Ok((table, payload, end))
}

/// Decodes a payload: one IPC stream holding exactly one batch.
fn decode_payload(payload: &[u8]) -> Result<RecordBatch, String> {
    let mut reader = StreamReader::try_new(payload, None).map_err(|e| e.to_string())?;
    let batch = reader
        .next()
        .ok_or("payload holds no batch")?
        .map_err(|e| e.to_string())?;
    match reader.next() {
        None => Ok(batch),
        Some(_) => Err("payload holds more than one batch".to_owned()),
    }
}

/// The intact records of a segment and its torn tail, if any.
struct SegmentScan {
    records: Vec<(Table, RecordBatch)>,
    torn: Option<TornTail>,
}

/// Reads every record of a segment; a torn record is accepted only at the end of the last one.
fn scan_segment(path: &Path, is_last: bool) -> Result<SegmentScan, EngineError> {
    let data = fs::read(path).map_err(EngineError::io("read wal segment", path))?;
    let corrupt = |offset: usize, reason: String| EngineError::WalCorrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        match read_frame(&data, offset) {
            Ok((table, payload, end)) => {
                let batch = decode_payload(payload).map_err(|e| corrupt(offset, e))?;
                records.push((table, batch));
                offset = end;
            }
            Err(Defect::Torn(reason)) if is_last => {
                let torn = TornTail {
                    segment: path.to_path_buf(),
                    offset: offset as u64,
                    reason,
                };
                return Ok(SegmentScan {
                    records,
                    torn: Some(torn),
                });
            }
            Err(Defect::Torn(reason)) => return Err(corrupt(offset, reason.to_string())),
            Err(Defect::Corrupt(reason)) => return Err(corrupt(offset, reason)),
        }
    }
    Ok(SegmentScan {
        records,
        torn: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use arrow::array::{ArrayRef, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(values: Vec<u64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::UInt64, false)]));
        let col: ArrayRef = Arc::new(UInt64Array::from(values));
        RecordBatch::try_new(schema, vec![col]).unwrap()
    }

    fn frame(table: Table, b: &RecordBatch) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_record(&mut buf, table, b).unwrap();
        buf
    }

    #[test]
    fn segment_names_sort_and_parse() {
        assert_eq!(segment_name(42), "wal-00000000000000000042.log");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert!(segment_name(9) < segment_name(10));
        assert_eq!(parse_segment_name("wal-42.log"), None);
        assert_eq!(parse_segment_name("wal-0000000000000000004x.log"), None);
        assert_eq!(parse_segment_name("other.log"), None);
    }

    #[test]
    fn frame_round_trips() {
        let b = batch(vec![1, 2, 3]);
        let data = frame(Table::Flows, &b);
        let (table, payload, end) = read_frame(&data, 0).unwrap();
        assert_eq!((table, end), (Table::Flows, data.len()));
        assert_eq!(decode_payload(payload).unwrap(), b);
    }

    #[test]
    fn truncated_frames_are_torn() {
        let data = frame(Table::Entries, &batch(vec![7]));
        for cut in 0..data.len() {
            let want = if cut < HEADER_LEN {
                TornReason::IncompleteHeader
            } else {
                TornReason::IncompletePayload
            };
            assert_eq!(read_frame(&data[..cut], 0).unwrap_err(), Defect::Torn(want));
        }
    }

    #[test]
    fn damage_is_classified() {
        let one = frame(Table::Entries, &batch(vec![7]));
        let mut bad = one.clone();
        bad[0] ^= 1;
        assert_eq!(
            read_frame(&bad, 0).unwrap_err(),
            Defect::Torn(TornReason::BadMagic)
        );
        let mut bad = one.clone();
        bad[4] = 1; // table byte is covered by the CRC
        assert_eq!(
            read_frame(&bad, 0).unwrap_err(),
            Defect::Torn(TornReason::CrcMismatch)
        );
        let mut two = bad.clone();
        two.extend_from_slice(&one);
        assert!(matches!(read_frame(&two, 0), Err(Defect::Corrupt(_))));
        let mut unknown = one.clone();
        unknown[4] = 9;
        let crc = record_crc(9, (one.len() - HEADER_LEN) as u32, &one[HEADER_LEN..]);
        unknown[9..13].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(read_frame(&unknown, 0), Err(Defect::Corrupt(_))));
    }

    #[test]
    fn sequences_continue_across_reopen_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, replay) = Wal::open(dir.path()).unwrap();
        assert!(replay.batches.is_empty() && replay.torn_tail.is_none());
        assert_eq!(wal.append(Table::Entries, &batch(vec![1])).unwrap(), 0);
        assert_eq!(wal.append(Table::Flows, &batch(vec![2])).unwrap(), 1);
        drop(wal);
        let (mut wal, replay) = Wal::open(dir.path()).unwrap();
        assert_eq!(replay.batches.len(), 2);
        assert_eq!(wal.append(Table::Entries, &batch(vec![3])).unwrap(), 2);
        wal.reset().unwrap();
        assert_eq!(wal.segments().len(), 1);
        drop(wal);
        let (mut wal, replay) = Wal::open(dir.path()).unwrap();
        assert!(replay.batches.is_empty());
        assert_eq!(wal.append(Table::Entries, &batch(vec![4])).unwrap(), 3);
    }

    #[test]
    fn truncate_through_keeps_uncovered_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(Table::Entries, &batch(vec![1])).unwrap(); // 0
        wal.append(Table::Entries, &batch(vec![2])).unwrap(); // 1
        wal.rotate().unwrap();
        wal.append(Table::Entries, &batch(vec![3])).unwrap(); // 2
        wal.rotate().unwrap();
        wal.append(Table::Entries, &batch(vec![4])).unwrap(); // 3
        wal.truncate_through(0).unwrap();
        assert_eq!(wal.segments().len(), 3, "segment 0 holds seq 1 too");
        wal.truncate_through(1).unwrap();
        assert_eq!(wal.segments().len(), 2);
        wal.truncate_through(u64::MAX).unwrap();
        assert_eq!(wal.segments().len(), 1, "the current segment stays");
        drop(wal);
        let (_, replay) = Wal::open(dir.path()).unwrap();
        assert_eq!(replay.batches, vec![(Table::Entries, batch(vec![4]))]);
    }
}
