//! Byte input for the capture reader: transparent gzip and full reads.

use std::io::{self, BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;

/// First two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Buffer used to sniff the gzip magic and to feed the decompressor.
const SNIFF_BUFFER: usize = 64 * 1024;

/// Wraps `r` so that reads return decompressed bytes when the input starts with the gzip magic
/// (several concatenated members are read as one stream), and the raw bytes otherwise. Every
/// read fills the caller's buffer completely unless the input ends.
pub(crate) fn open_input(r: impl Read + Send + 'static) -> io::Result<Box<dyn Read + Send>> {
    let mut buffered = BufReader::with_capacity(SNIFF_BUFFER, r);
    // A file's first read yields far more than two bytes; a reader trickling single bytes would
    // only make a gzip input look raw, which then fails cleanly as "not a capture".
    let is_gzip = buffered.fill_buf()?.starts_with(&GZIP_MAGIC);
    Ok(if is_gzip {
        Box::new(ReadFull(MultiGzDecoder::new(buffered)))
    } else {
        Box::new(ReadFull(buffered))
    })
}

/// A reader whose `read` keeps reading until the buffer is full or the input is exhausted.
///
/// pcap-parser's streaming readers issue one `read` per refill and treat a short first read
/// as a short file; decompressors and pipes return short reads freely, so this evens them out.
struct ReadFull<R>(R);

impl<R: Read> Read for ReadFull<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            let rest = buf.get_mut(filled..).unwrap_or_default();
            match self.0.read(rest) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Deliver what we have; the error recurs on the next call.
                Err(_) if filled > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use flate2::{Compression, write::GzEncoder};

    use super::*;

    fn read_all(mut r: Box<dyn Read + Send>) -> Vec<u8> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn plain_input_passes_through() {
        let data = b"\xd4\xc3\xb2\xa1rest".to_vec();
        assert_eq!(
            read_all(open_input(Cursor::new(data.clone())).unwrap()),
            data
        );
    }

    #[test]
    fn gzip_input_is_decompressed_across_members() {
        let mut two = gzip(b"hello ");
        two.extend(gzip(b"world"));
        assert_eq!(
            read_all(open_input(Cursor::new(two)).unwrap()),
            b"hello world"
        );
    }

    #[test]
    fn empty_input_is_empty() {
        assert!(read_all(open_input(Cursor::new(Vec::new())).unwrap()).is_empty());
    }

    /// Returns at most 3 bytes per read.
    struct Trickle(Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn read_full_fills_the_buffer() {
        let mut r = ReadFull(Trickle(Cursor::new((0u8..100).collect())));
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 64);
        assert_eq!(buf[63], 63);
        assert_eq!(r.read(&mut buf).unwrap(), 36);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }
}
