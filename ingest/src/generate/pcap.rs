//! Writer of classic pcap files: little-endian, microsecond timestamps, LINKTYPE_ETHERNET.
//!
//! The headers come from [`crate::source::pcap_file`] (fixed-size arrays, no per-record
//! allocation, unlike `pcap-parser`'s serializer, which returns `Vec`s).

use std::io::{self, BufWriter, Write};

use super::GenerateError;
use crate::source::pcap_file::{FILE_HEADER_LEN, RECORD_HEADER_LEN, file_header, record_header};

/// Snapshot length announced in the file header; every generated frame is far below it.
pub(crate) const SNAPLEN: u32 = 65_535;
/// `LINKTYPE_ETHERNET`.
const LINKTYPE_ETHERNET: u32 = 1;

/// Buffered pcap writer that counts what it wrote.
pub(crate) struct PcapWriter<W: Write> {
    out: BufWriter<W>,
    /// Records written.
    pub(crate) packets: u64,
    /// Bytes written, file header included.
    pub(crate) bytes: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Wraps `out` and writes the file header.
    pub(crate) fn new(out: W) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 16, out);
        out.write_all(&file_header(LINKTYPE_ETHERNET, SNAPLEN))?;
        Ok(PcapWriter {
            out,
            packets: 0,
            bytes: FILE_HEADER_LEN as u64,
        })
    }

    /// Appends one record holding the whole `frame`.
    pub(crate) fn record(&mut self, ts_us: i64, frame: &[u8]) -> Result<(), GenerateError> {
        // The format holds seconds from 1970 to 2106: refuse what it would clamp.
        if u32::try_from(ts_us.div_euclid(1_000_000)).is_err() {
            return Err(GenerateError::TimestampOutOfRange(ts_us));
        }
        let len =
            u32::try_from(frame.len()).map_err(|_| GenerateError::FrameTooLong(frame.len()))?;
        if len > SNAPLEN {
            return Err(GenerateError::FrameTooLong(frame.len()));
        }
        self.out.write_all(&record_header(ts_us, len, len))?;
        self.out.write_all(frame)?;
        self.packets += 1;
        self.bytes += RECORD_HEADER_LEN as u64 + u64::from(len);
        Ok(())
    }

    /// Flushes the buffer into the underlying writer.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_parse_back() {
        let mut buf = Vec::new();
        {
            let mut w = PcapWriter::new(&mut buf).unwrap();
            w.record(1_700_000_000_123_456, &[1, 2, 3]).unwrap();
            w.flush().unwrap();
            assert_eq!(w.bytes, 24 + 16 + 3);
        }
        let (_, cap) = pcap_parser::parse_pcap(&buf).unwrap();
        assert_eq!(cap.header.network, pcap_parser::Linktype::ETHERNET);
        assert_eq!(cap.blocks.len(), 1);
        assert_eq!(cap.blocks[0].ts_sec, 1_700_000_000);
        assert_eq!(cap.blocks[0].ts_usec, 123_456);
        assert_eq!(cap.blocks[0].data, &[1, 2, 3]);
    }

    #[test]
    fn negative_time_is_rejected() {
        let mut w = PcapWriter::new(io::sink()).unwrap();
        assert!(matches!(
            w.record(-1, &[0]),
            Err(GenerateError::TimestampOutOfRange(-1))
        ));
    }
}
