//! One recorder segment: a pcap file of raw frames (one link type) and its index sidecar, one
//! fixed-size record per packet (flow id, time, offset, lengths).
//!
//! The index is appended packet by packet through a buffer, so a reader (an export running
//! while ingest writes) sees every packet up to the last flush, and a crash leaves a usable
//! index; a partial record at its end is ignored.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::RecorderError;
use crate::source::pcap_file::{self, record_header};
use crate::source::{Frame, LinkType};

/// Magic of an index file, followed by the link type (u32 LE) and 4 reserved bytes.
const INDEX_MAGIC: &[u8; 8] = b"FLTIDX01";
/// Bytes of the index file header.
pub(crate) const INDEX_HEADER_LEN: u64 = 16;
/// Bytes of one index record.
pub(crate) const INDEX_RECORD_LEN: usize = 32;
/// Bytes of the pcap file header.
pub(crate) const PCAP_HEADER_LEN: u64 = pcap_file::FILE_HEADER_LEN as u64;
/// Bytes of a pcap record header.
pub(crate) const PCAP_RECORD_HEADER_LEN: u64 = pcap_file::RECORD_HEADER_LEN as u64;
/// Snap length written in segment headers (larger than any frame the sources accept).
const SNAPLEN: u32 = 262_144;
/// Write buffer of a segment's data file.
const WRITE_BUFFER: usize = 256 * 1024;
/// Index records buffered before they are written (a multiple of the record size).
const INDEX_BUFFER: usize = 2048 * INDEX_RECORD_LEN;

/// One packet in a segment's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexRecord {
    /// Flow the packet was counted in (0: none, e.g. undecodable).
    pub flow_id: u64,
    /// Capture time, µs since the epoch.
    pub ts_us: i64,
    /// Offset of the packet's pcap record header in the segment's data file.
    pub offset: u64,
    /// Captured bytes.
    pub caplen: u32,
    /// Original length on the wire.
    pub orig_len: u32,
}

impl IndexRecord {
    fn encode(&self) -> [u8; INDEX_RECORD_LEN] {
        let mut b = [0u8; INDEX_RECORD_LEN];
        b[0..8].copy_from_slice(&self.flow_id.to_le_bytes());
        b[8..16].copy_from_slice(&self.ts_us.to_le_bytes());
        b[16..24].copy_from_slice(&self.offset.to_le_bytes());
        b[24..28].copy_from_slice(&self.caplen.to_le_bytes());
        b[28..32].copy_from_slice(&self.orig_len.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> IndexRecord {
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let u32_at = |i: usize| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[i..i + 4]);
            u32::from_le_bytes(a)
        };
        IndexRecord {
            flow_id: u64_at(0),
            ts_us: u64_at(8) as i64,
            offset: u64_at(16),
            caplen: u32_at(24),
            orig_len: u32_at(28),
        }
    }
}

/// The two files of segment `seq` in `dir`: `<seq>.pcap` and `<seq>.idx`.
pub(crate) fn paths(dir: &Path, seq: u64) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{seq:012}.pcap")),
        dir.join(format!("{seq:012}.idx")),
    )
}

/// The sequence number of a segment data file name (`000000000042.pcap`).
pub(crate) fn seq_of(name: &str) -> Option<u64> {
    name.strip_suffix(".pcap")?.parse().ok()
}

/// The pcap file header of a segment or an export of link type `link`.
pub(crate) fn pcap_header(link: u32) -> [u8; pcap_file::FILE_HEADER_LEN] {
    pcap_file::file_header(link, SNAPLEN)
}

/// The segment being written.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    pub(crate) seq: u64,
    pub(crate) link: LinkType,
    data: BufWriter<File>,
    index: File,
    index_path: PathBuf,
    /// Index records not yet written: they go to the file only after the data they point
    /// at, so a reader never finds a record whose packet is not on disk.
    index_buf: Vec<u8>,
    /// Bytes of the data file so far (header included).
    pub(crate) data_len: u64,
    /// Packets written.
    pub(crate) packets: u64,
    /// When the segment was opened (wall clock), for rotation by age.
    pub(crate) opened: std::time::SystemTime,
}

impl SegmentWriter {
    /// Creates segment `seq` in `dir` for frames of `link`, opened at `now`; fails if it
    /// exists.
    pub(crate) fn create(
        dir: &Path,
        seq: u64,
        link: LinkType,
        now: std::time::SystemTime,
    ) -> Result<Self, RecorderError> {
        let (data_path, index_path) = paths(dir, seq);
        let open = |p: &Path| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|e| RecorderError::io(p, e))
        };
        let mut data = BufWriter::with_capacity(WRITE_BUFFER, open(&data_path)?);
        let mut index = open(&index_path)?;
        data.write_all(&pcap_header(link.number()))
            .map_err(|e| RecorderError::io(&data_path, e))?;
        let mut h = [0u8; INDEX_HEADER_LEN as usize];
        h[0..8].copy_from_slice(INDEX_MAGIC);
        h[8..12].copy_from_slice(&link.number().to_le_bytes());
        index
            .write_all(&h)
            .map_err(|e| RecorderError::io(&index_path, e))?;
        Ok(SegmentWriter {
            seq,
            link,
            data,
            index,
            index_path,
            index_buf: Vec::with_capacity(INDEX_BUFFER),
            data_len: PCAP_HEADER_LEN,
            packets: 0,
            opened: now,
        })
    }

    /// Appends one frame (no allocation: both files are written through their buffers).
    pub(crate) fn write(&mut self, flow_id: u64, frame: &Frame<'_>) -> std::io::Result<()> {
        self.write_raw(flow_id, frame.ts_us, frame.data, frame.orig_len)
    }

    /// Appends one packet given by its parts.
    pub(crate) fn write_raw(
        &mut self,
        flow_id: u64,
        ts_us: i64,
        data: &[u8],
        orig_len: u32,
    ) -> std::io::Result<()> {
        let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let data = &data[..caplen as usize];
        let rec = IndexRecord {
            flow_id,
            ts_us,
            offset: self.data_len,
            caplen,
            orig_len: orig_len.max(caplen),
        };
        self.data
            .write_all(&record_header(ts_us, caplen, orig_len))?;
        self.data.write_all(data)?;
        if self.index_buf.len() + INDEX_RECORD_LEN > INDEX_BUFFER {
            self.flush()?;
        }
        self.index_buf.extend_from_slice(&rec.encode());
        self.data_len += PCAP_RECORD_HEADER_LEN + u64::from(caplen);
        self.packets += 1;
        Ok(())
    }

    /// Hands buffered bytes to the OS, data before index, so that every indexed packet can
    /// be read.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.data.flush()?;
        self.index.write_all(&self.index_buf)?;
        self.index_buf.clear();
        Ok(())
    }

    /// Path of the index file (for error messages).
    pub(crate) fn index_path(&self) -> &Path {
        &self.index_path
    }

    /// Bytes on disk once flushed: data and index.
    pub(crate) fn bytes(&self) -> u64 {
        self.data_len + INDEX_HEADER_LEN + self.packets * INDEX_RECORD_LEN as u64
    }
}

impl Drop for SegmentWriter {
    /// Writes what is buffered; errors are ignored here (`flush` reports them while running).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// A segment's index as read back.
#[derive(Debug)]
pub struct SegmentIndex {
    /// Link type of every packet of the segment.
    pub link: LinkType,
    /// Packets, in write order.
    pub records: Vec<IndexRecord>,
    /// Bytes at the end of the index that do not form a whole record (a write in progress,
    /// or damage).
    pub partial_tail: usize,
}

/// Reads the index file at `path`.
pub(crate) fn read_index(path: &Path) -> Result<SegmentIndex, RecorderError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| RecorderError::io(path, e))?;
    parse_index(&bytes).map_err(|why| RecorderError::Corrupt {
        path: path.to_owned(),
        why,
    })
}

/// Parses index bytes; the error says what is wrong.
fn parse_index(bytes: &[u8]) -> Result<SegmentIndex, String> {
    let header = INDEX_HEADER_LEN as usize;
    if bytes.len() < header {
        return Err(format!(
            "index is {} bytes, shorter than its header",
            bytes.len()
        ));
    }
    if &bytes[..8] != INDEX_MAGIC {
        return Err("not a faultline recorder index (bad magic)".into());
    }
    let mut n = [0u8; 4];
    n.copy_from_slice(&bytes[8..12]);
    let body = &bytes[header..];
    let chunks = body.chunks_exact(INDEX_RECORD_LEN);
    let partial_tail = chunks.remainder().len();
    Ok(SegmentIndex {
        link: LinkType::from_number(u32::from_le_bytes(n)),
        records: chunks.map(IndexRecord::decode).collect(),
        partial_tail,
    })
}

/// Reads packets of one segment data file by their index records.
#[derive(Debug)]
pub(crate) struct SegmentReader {
    file: File,
    len: u64,
    path: PathBuf,
    buf: Vec<u8>,
}

impl SegmentReader {
    /// Opens the data file and checks its pcap header.
    pub(crate) fn open(path: &Path) -> Result<Self, RecorderError> {
        let mut file = File::open(path).map_err(|e| RecorderError::io(path, e))?;
        let len = file
            .metadata()
            .map_err(|e| RecorderError::io(path, e))?
            .len();
        let mut h = [0u8; PCAP_HEADER_LEN as usize];
        file.read_exact(&mut h)
            .map_err(|_| RecorderError::Corrupt {
                path: path.to_owned(),
                why: "data file shorter than a pcap header".into(),
            })?;
        if h[0..4] != pcap_file::MAGIC_USEC_LE {
            return Err(RecorderError::Corrupt {
                path: path.to_owned(),
                why: "data file is not a little-endian pcap".into(),
            });
        }
        Ok(SegmentReader {
            file,
            len,
            path: path.to_owned(),
            buf: Vec::new(),
        })
    }

    /// The captured bytes of `rec`, checked against its record header.
    pub(crate) fn packet(&mut self, rec: &IndexRecord) -> Result<&[u8], RecorderError> {
        let end = rec.offset + PCAP_RECORD_HEADER_LEN + u64::from(rec.caplen);
        if end > self.len {
            return Err(self.corrupt(format!(
                "packet at offset {} ends at {end}, past the end of the file ({} bytes)",
                rec.offset, self.len
            )));
        }
        let total = (PCAP_RECORD_HEADER_LEN + u64::from(rec.caplen)) as usize;
        self.buf.resize(total, 0);
        self.file
            .seek(SeekFrom::Start(rec.offset))
            .and_then(|_| self.file.read_exact(&mut self.buf))
            .map_err(|e| RecorderError::io(&self.path, e))?;
        let mut caplen = [0u8; 4];
        caplen.copy_from_slice(&self.buf[8..12]);
        if u32::from_le_bytes(caplen) != rec.caplen {
            return Err(self.corrupt(format!(
                "record header at offset {} does not match the index",
                rec.offset
            )));
        }
        Ok(&self.buf[PCAP_RECORD_HEADER_LEN as usize..])
    }

    fn corrupt(&self, why: String) -> RecorderError {
        RecorderError::Corrupt {
            path: self.path.clone(),
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn frame(ts_us: i64, data: &[u8]) -> Frame<'_> {
        Frame {
            ts_us,
            link: LinkType::Ethernet,
            data,
            orig_len: data.len() as u32 + 4,
            interface: 0,
        }
    }

    #[test]
    fn index_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            SegmentWriter::create(dir.path(), 7, LinkType::Ethernet, SystemTime::now()).unwrap();
        w.write(11, &frame(1_500_000, b"abc")).unwrap();
        w.write(0, &frame(-1, b"defgh")).unwrap();
        w.flush().unwrap();
        let (data, index) = paths(dir.path(), 7);
        let idx = read_index(&index).unwrap();
        assert_eq!(idx.link, LinkType::Ethernet);
        assert_eq!(idx.partial_tail, 0);
        assert_eq!(
            idx.records,
            vec![
                IndexRecord {
                    flow_id: 11,
                    ts_us: 1_500_000,
                    offset: 24,
                    caplen: 3,
                    orig_len: 7
                },
                IndexRecord {
                    flow_id: 0,
                    ts_us: -1,
                    offset: 24 + 16 + 3,
                    caplen: 5,
                    orig_len: 9
                },
            ]
        );
        let mut r = SegmentReader::open(&data).unwrap();
        assert_eq!(r.packet(&idx.records[1]).unwrap(), b"defgh");
        assert_eq!(r.packet(&idx.records[0]).unwrap(), b"abc");
        assert_eq!(
            std::fs::metadata(&data).unwrap().len() + std::fs::metadata(&index).unwrap().len(),
            w.bytes()
        );
    }

    #[test]
    fn existing_segment_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        SegmentWriter::create(dir.path(), 1, LinkType::RawIp, SystemTime::now()).unwrap();
        assert!(SegmentWriter::create(dir.path(), 1, LinkType::RawIp, SystemTime::now()).is_err());
    }

    #[test]
    fn damaged_index_and_data_are_reported() {
        assert!(parse_index(b"short").unwrap_err().contains("shorter"));
        assert!(parse_index(&[0u8; 40]).unwrap_err().contains("magic"));
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            SegmentWriter::create(dir.path(), 1, LinkType::Ethernet, SystemTime::now()).unwrap();
        w.write(5, &frame(10, &[1; 100])).unwrap();
        w.flush().unwrap();
        let (data, index) = paths(dir.path(), 1);
        // A partial record at the end is set aside, the whole ones are kept.
        let mut bytes = std::fs::read(&index).unwrap();
        bytes.extend_from_slice(&[9; 5]);
        let idx = parse_index(&bytes).unwrap();
        assert_eq!((idx.records.len(), idx.partial_tail), (1, 5));
        // A data file cut short: the packet past the end is an error naming the file.
        let f = OpenOptions::new().write(true).open(&data).unwrap();
        f.set_len(60).unwrap();
        let mut r = SegmentReader::open(&data).unwrap();
        let e = r.packet(&idx.records[0]).unwrap_err().to_string();
        assert!(
            e.contains("past the end") && e.contains("000000000001.pcap"),
            "{e}"
        );
    }

    #[test]
    fn record_header_clamps_time() {
        let h = record_header(-1, 1, 1);
        assert_eq!(&h[0..4], &0u32.to_le_bytes());
        assert_eq!(&h[4..8], &999_999u32.to_le_bytes());
        assert_eq!(seq_of("000000000042.pcap"), Some(42));
        assert_eq!(seq_of("x.idx"), None);
    }
}
