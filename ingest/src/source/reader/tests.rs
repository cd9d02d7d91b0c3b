use std::io::{self, Cursor, Write};

use flate2::{Compression, write::GzEncoder};

use super::*;
use crate::source::pcapng::tests::packet_block;

/// Legacy pcap writer for tests.
struct Pcap {
    big_endian: bool,
    bytes: Vec<u8>,
}

impl Pcap {
    fn new(big_endian: bool, nanos: bool, link: u32) -> Self {
        let mut p = Pcap {
            big_endian,
            bytes: Vec::new(),
        };
        p.u32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        p.u16(2);
        p.u16(4);
        p.u32(0);
        p.u32(0);
        p.u32(65535);
        p.u32(link);
        p
    }
    fn u32(&mut self, v: u32) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.bytes.extend(b);
    }
    fn u16(&mut self, v: u16) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.bytes.extend(b);
    }
    fn record(mut self, sec: u32, frac: u32, data: &[u8], orig_len: u32) -> Self {
        self.u32(sec);
        self.u32(frac);
        self.u32(data.len() as u32);
        self.u32(orig_len);
        self.bytes.extend(data);
        self
    }
}

/// pcapng writer for tests.
struct Ng {
    big_endian: bool,
    bytes: Vec<u8>,
}

impl Ng {
    fn new(big_endian: bool) -> Self {
        let mut n = Ng {
            big_endian,
            bytes: Vec::new(),
        };
        n.section();
        n
    }
    fn b32(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn b16(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    /// Appends a generic block with the given body (padded to 4 bytes).
    fn block(&mut self, block_type: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let (t, l) = (self.b32(block_type), self.b32(total));
        self.bytes.extend(t);
        self.bytes.extend(l);
        self.bytes.extend(body);
        self.bytes.resize(self.bytes.len() + padded - body.len(), 0);
        self.bytes.extend(l);
    }
    fn section(&mut self) {
        let mut body = Vec::new();
        body.extend(self.b32(0x1A2B_3C4D));
        body.extend(self.b16(1));
        body.extend(self.b16(0));
        body.extend([0xff; 8]);
        self.block(SHB_TYPE, &body);
    }
    /// Interface with optional if_tsresol (code 9) and if_tsoffset (code 14).
    fn interface(self, link: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> Self {
        self.interface_snap(link, 65535, tsresol, tsoffset)
    }
    fn interface_snap(
        mut self,
        link: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> Self {
        let mut body = Vec::new();
        body.extend(self.b16(link));
        body.extend(self.b16(0));
        body.extend(self.b32(snaplen));
        if let Some(r) = tsresol {
            body.extend(self.b16(9));
            body.extend(self.b16(1));
            body.extend([r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            body.extend(self.b16(14));
            body.extend(self.b16(8));
            body.extend(if self.big_endian {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            });
        }
        if tsresol.is_some() || tsoffset.is_some() {
            body.extend([0, 0, 0, 0]);
        }
        self.block(1, &body);
        self
    }
    fn epb(mut self, if_id: u32, ts: u64, data: &[u8], orig_len: u32) -> Self {
        let b = packet_block(EPB_TYPE, self.big_endian, if_id, ts, data, orig_len, &[]);
        self.bytes.extend(b);
        self
    }
    fn pb(mut self, if_id: u32, ts: u64, data: &[u8]) -> Self {
        let b = packet_block(
            PB_TYPE,
            self.big_endian,
            if_id,
            ts,
            data,
            data.len() as u32,
            &[],
        );
        self.bytes.extend(b);
        self
    }
    fn spb(mut self, data: &[u8], orig_len: u32) -> Self {
        let mut body = self.b32(orig_len).to_vec();
        body.extend(data);
        self.block(3, &body);
        self
    }
    /// Interface statistics block, to be skipped.
    fn isb(mut self) -> Self {
        let body = [self.b32(0), self.b32(0), self.b32(0)].concat();
        self.block(5, &body);
        self
    }
}

/// Reads everything: frames as (ts, link, data, orig_len, interface), then the error if any.
type Row = (i64, LinkType, Vec<u8>, u32, u32);

fn read_all(mut r: CaptureReader) -> (Vec<Row>, Option<SourceError>, SourceStats) {
    let mut rows = Vec::new();
    let mut err = None;
    while let Some(item) = r.next_frame() {
        match item {
            Ok(f) => rows.push((f.ts_us, f.link, f.data.to_vec(), f.orig_len, f.interface)),
            Err(e) => {
                assert!(err.is_none(), "second error: {e}");
                err = Some(e);
            }
        }
    }
    assert!(r.next_frame().is_none(), "reader resumed after its end");
    (rows, err, r.stats().clone())
}

fn reader(bytes: Vec<u8>) -> CaptureReader {
    CaptureReader::from_read(Cursor::new(bytes), "test").unwrap()
}

#[test]
fn legacy_little_endian_microseconds() {
    let p = Pcap::new(false, false, 1)
        .record(10, 5, b"frame-one", 9)
        .record(11, 999_999, b"two", 1514);
    let (rows, err, stats) = read_all(reader(p.bytes));
    assert!(err.is_none());
    assert_eq!(
        rows,
        vec![
            (10_000_005, LinkType::Ethernet, b"frame-one".to_vec(), 9, 0),
            (11_999_999, LinkType::Ethernet, b"two".to_vec(), 1514, 0),
        ]
    );
    assert_eq!((stats.frames, stats.bytes, stats.snapped), (2, 12, 1));
    assert_eq!(stats.frames_for(LinkType::Ethernet), 2);
}

#[test]
fn legacy_big_endian_nanoseconds() {
    let p = Pcap::new(true, true, 113).record(7, 123_456_789, b"abc", 3);
    let (rows, err, _) = read_all(reader(p.bytes));
    assert!(err.is_none());
    assert_eq!(
        rows,
        vec![(7_123_456, LinkType::LinuxSll, b"abc".to_vec(), 3, 0)]
    );
}

#[test]
fn legacy_link_types_are_mapped() {
    for (n, lt) in [
        (0, LinkType::Null),
        (101, LinkType::RawIp),
        (276, LinkType::LinuxSll2),
    ] {
        let (rows, _, _) = read_all(reader(
            Pcap::new(false, false, n).record(0, 0, b"x", 1).bytes,
        ));
        assert_eq!(rows[0].1, lt);
    }
}

#[test]
fn header_only_file_is_empty_not_an_error() {
    let (rows, err, _) = read_all(reader(Pcap::new(false, false, 1).bytes));
    assert!(rows.is_empty());
    assert!(err.is_none());
}

#[test]
fn pcapng_multi_interface_resolutions_and_offset() {
    let n = Ng::new(false)
        .interface(1, None, None)
        .interface(101, Some(9), Some(100))
        .interface(113, Some(0x80 | 20), None)
        .epb(0, 1_000_000, b"eth", 3)
        .isb()
        .epb(1, 2_000_000_123, b"raw", 3)
        .epb(2, 3 << 19, b"sll", 64);
    let (rows, err, stats) = read_all(reader(n.bytes));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        rows,
        vec![
            (1_000_000, LinkType::Ethernet, b"eth".to_vec(), 3, 0),
            (102_000_000, LinkType::RawIp, b"raw".to_vec(), 3, 1),
            (1_500_000, LinkType::LinuxSll, b"sll".to_vec(), 64, 2),
        ]
    );
    assert_eq!(stats.frames_for(LinkType::RawIp), 1);
}

#[test]
fn pcapng_big_endian_section() {
    let n = Ng::new(true)
        .interface(1, None, Some(-2))
        .epb(0, 2_000_042, b"hello", 5);
    let (rows, err, _) = read_all(reader(n.bytes));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        rows,
        vec![(42, LinkType::Ethernet, b"hello".to_vec(), 5, 0)]
    );
}

#[test]
fn simple_and_obsolete_packet_blocks() {
    let n = Ng::new(false)
        .interface(229, None, None)
        .pb(0, 77, b"old")
        .spb(b"simple", 6);
    let (rows, err, stats) = read_all(reader(n.bytes));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        rows,
        vec![
            (77, LinkType::Ipv6, b"old".to_vec(), 3, 0),
            // No timestamp in an SPB: the previous frame's time is kept.
            (77, LinkType::Ipv6, b"simple".to_vec(), 6, 0),
        ]
    );
    assert_eq!(stats.frames, 2);
}

#[test]
fn simple_packet_block_is_cut_at_the_snaplen() {
    let n = Ng::new(true)
        .interface_snap(1, 4, None, None)
        .spb(b"abcdefgh", 1500);
    let (rows, err, stats) = read_all(reader(n.bytes));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        rows,
        vec![(0, LinkType::Ethernet, b"abcd".to_vec(), 1500, 0)]
    );
    assert_eq!(stats.snapped, 1);
}

#[test]
fn new_section_resets_interfaces() {
    let mut n = Ng::new(false).interface(1, None, None).epb(0, 1, b"a", 1);
    n.section();
    let n = n
        .interface(0, None, None)
        .epb(0, 2, b"b", 1)
        .epb(1, 3, b"c", 1);
    let (rows, err, stats) = read_all(reader(n.bytes));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].1, LinkType::Null);
    assert_eq!(stats.unknown_interface, 1);
}

#[test]
fn packet_for_undescribed_interface_is_counted_and_skipped() {
    let n = Ng::new(false).epb(0, 1, b"a", 1).spb(b"b", 1);
    let (rows, err, stats) = read_all(reader(n.bytes));
    assert!(rows.is_empty());
    assert!(err.is_none());
    assert_eq!(stats.unknown_interface, 2);
}

#[test]
fn truncated_legacy_file_yields_frames_then_one_error() {
    let mut bytes = Pcap::new(false, false, 1)
        .record(1, 0, &[1; 100], 100)
        .record(2, 0, &[2; 100], 100)
        .bytes;
    bytes.truncate(bytes.len() - 30);
    let (rows, err, stats) = read_all(reader(bytes));
    assert_eq!(rows.len(), 1);
    match err {
        Some(SourceError::Truncated { offset, .. }) => assert_eq!(offset, 24 + 16 + 100),
        other => panic!("expected Truncated, got {other:?}"),
    }
    assert_eq!(stats.errors, 1);
}

#[test]
fn trailing_partial_header_is_truncation() {
    let mut bytes = Pcap::new(false, false, 1).record(1, 0, b"x", 1).bytes;
    bytes.extend([0, 0, 0]);
    assert_one_frame_then_truncated(bytes);
}

/// Reading `bytes` yields one frame, then a truncation error.
fn assert_one_frame_then_truncated(bytes: Vec<u8>) {
    let (rows, err, _) = read_all(reader(bytes));
    assert_eq!(rows.len(), 1);
    assert!(
        matches!(err, Some(SourceError::Truncated { .. })),
        "{err:?}"
    );
}

#[test]
fn truncated_pcapng_file_yields_frames_then_one_error() {
    let mut bytes = Ng::new(false)
        .interface(1, None, None)
        .epb(0, 1, &[1; 50], 50)
        .epb(0, 2, &[2; 50], 50)
        .bytes;
    bytes.truncate(bytes.len() - 10);
    assert_one_frame_then_truncated(bytes);
}

#[test]
fn legacy_oversized_record_stops_the_file() {
    let mut p = Pcap::new(false, false, 1).record(1, 0, b"ok", 2);
    p.u32(2);
    p.u32(0);
    p.u32(0xFFFF_FFF0);
    p.u32(0xFFFF_FFF0);
    p.bytes.extend([0; 64]);
    let (rows, err, stats) = read_all(reader(p.bytes));
    assert_eq!(rows.len(), 1);
    assert!(
        matches!(
            err,
            Some(SourceError::Oversized {
                caplen: 0xFFFF_FFF0,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(stats.oversized, 1);
}

#[test]
fn pcapng_oversized_packet_is_skipped() {
    let big = vec![0u8; MAX_CAPLEN as usize + 1];
    let n = Ng::new(false)
        .interface(1, None, None)
        .epb(0, 1, &big, big.len() as u32)
        .epb(0, 2, b"after", 5);
    let (rows, err, stats) = read_all(reader(n.bytes));
    assert!(err.is_none(), "{err:?}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2, b"after");
    assert_eq!(stats.oversized, 1);
}

#[test]
fn pcapng_bad_trailer_is_corrupt() {
    let mut bytes = Ng::new(false)
        .interface(1, None, None)
        .epb(0, 1, b"abcd", 4)
        .bytes;
    let n = bytes.len();
    bytes[n - 1] ^= 0x55;
    let (rows, err, _) = read_all(reader(bytes));
    assert!(rows.is_empty());
    assert!(matches!(err, Some(SourceError::Corrupt { .. })), "{err:?}");
}

#[test]
fn pcapng_huge_block_length_is_corrupt() {
    let mut bytes = Ng::new(false).interface(1, None, None).bytes;
    bytes.extend(EPB_TYPE.to_le_bytes());
    bytes.extend(0x7FFF_FFF0u32.to_le_bytes());
    bytes.extend([0; 40]);
    let (_, err, _) = read_all(reader(bytes));
    assert!(matches!(err, Some(SourceError::Corrupt { .. })), "{err:?}");
}

#[test]
fn not_a_capture() {
    for bytes in [Vec::new(), b"hello".to_vec(), vec![0x42; 4096]] {
        match CaptureReader::from_read(Cursor::new(bytes), "junk") {
            Err(SourceError::NotCapture { .. }) => {}
            other => panic!("expected NotCapture, got {other:?}"),
        }
    }
}

#[test]
fn missing_file_is_an_open_error() {
    let e = CaptureReader::open(Path::new("/nonexistent/x.pcap")).unwrap_err();
    assert!(matches!(e, SourceError::Open { .. }));
    assert!(e.to_string().contains("/nonexistent/x.pcap"));
}

#[test]
fn gzip_compressed_capture() {
    let p = Pcap::new(false, false, 1).record(5, 6, b"zipped", 6);
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&p.bytes).unwrap();
    let (rows, err, _) = read_all(reader(enc.finish().unwrap()));
    assert!(err.is_none());
    assert_eq!(
        rows,
        vec![(5_000_006, LinkType::Ethernet, b"zipped".to_vec(), 6, 0)]
    );
}

#[test]
fn corrupt_gzip_is_a_read_error() {
    let p = Pcap::new(false, false, 1).record(5, 6, &[7; 4000], 4000);
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&p.bytes).unwrap();
    let mut gz = enc.finish().unwrap();
    gz.truncate(gz.len() / 2);
    let err = match CaptureReader::from_read(Cursor::new(gz), "half.gz") {
        Ok(r) => read_all(r).1,
        Err(e) => Some(e),
    };
    assert!(err.is_some());
}

/// Returns at most 1000 bytes per read, like a pipe.
struct Trickle(Cursor<Vec<u8>>);
impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(1000);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn many_refills_with_records_across_buffer_boundaries() {
    let mut p = Pcap::new(false, false, 1);
    let mut ng = Ng::new(false).interface(1, None, None);
    for i in 0..3000u32 {
        let data = vec![(i % 251) as u8; 200 + (i as usize * 7) % 1300];
        p = p.record(i, 0, &data, data.len() as u32);
        ng = ng.epb(0, u64::from(i), &data, data.len() as u32);
    }
    for bytes in [p.bytes, ng.bytes] {
        let r = CaptureReader::with_buffer_size(Trickle(Cursor::new(bytes)), "t", 0).unwrap();
        let (rows, err, stats) = read_all(r);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(rows.len(), 3000);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.2.len(), 200 + (i * 7) % 1300);
            assert!(row.2.iter().all(|b| *b == (i % 251) as u8));
        }
        assert_eq!(stats.frames, 3000);
    }
}
