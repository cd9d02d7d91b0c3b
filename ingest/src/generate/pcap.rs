//! Writer of classic pcap files: little-endian, microsecond timestamps, LINKTYPE_ETHERNET.
//!
//! Writing the 24-byte file header and 16-byte record headers by hand is simpler (and free of
//! per-record allocation) than going through `pcap-parser`'s serializer, which returns `Vec`s.

use std::io::{self, BufWriter, Write};

use super::GenerateError;

/// Snapshot length announced in the file header; every generated frame is far below it.
pub(crate) const SNAPLEN: u32 = 65_535;
/// `LINKTYPE_ETHERNET`.
const LINKTYPE_ETHERNET: u32 = 1;
/// Classic pcap magic, microsecond resolution.
const MAGIC_USEC: u32 = 0xA1B2_C3D4;

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
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&MAGIC_USEC.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            packets: 0,
            bytes: 24,
        })
    }

    /// Appends one record holding the whole `frame`.
    pub(crate) fn record(&mut self, ts_us: i64, frame: &[u8]) -> Result<(), GenerateError> {
        let secs = u32::try_from(ts_us.div_euclid(1_000_000))
            .map_err(|_| GenerateError::TimestampOutOfRange(ts_us))?;
        let usecs = u32::try_from(ts_us.rem_euclid(1_000_000)).unwrap_or(0);
        let len =
            u32::try_from(frame.len()).map_err(|_| GenerateError::FrameTooLong(frame.len()))?;
        if len > SNAPLEN {
            return Err(GenerateError::FrameTooLong(frame.len()));
        }
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&usecs.to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(frame)?;
        self.packets += 1;
        self.bytes += 16 + u64::from(len);
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
