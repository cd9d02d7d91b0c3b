//! A streaming decoder of HTTP/1.1 chunked transfer coding (RFC 9112 §7.1) that only finds the
//! end of the body: chunk data is skipped, never copied.

use super::Problem;

/// Where the decoder is inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Chunked {
    /// Reading a chunk-size line: the hex value so far and how many digits.
    #[default]
    SizeStart,
    Size(u64),
    /// Skipping a chunk extension up to the line end.
    Extension(u64),
    /// After the CR of a size line.
    SizeLf(u64),
    /// Inside chunk data, this many bytes left.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (after the last chunk).
    TrailerStart,
    /// Inside a trailer field line.
    TrailerLine,
    /// After the CR of the empty line that ends the body.
    EndLf,
    /// The body is complete.
    Done,
}

fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

impl Chunked {
    /// Consumes bytes of the body; returns how many were consumed (all of them unless the body
    /// ended inside `bytes`). The decoded body (chunk data without the framing) is handed to
    /// `data` as borrowed slices, for a caller that keeps a prefix of it.
    pub(super) fn feed(
        &mut self,
        bytes: &[u8],
        data: &mut impl FnMut(&[u8]),
    ) -> Result<usize, Problem> {
        let mut i = 0;
        while i < bytes.len() && *self != Chunked::Done {
            if let Chunked::Data(n) = *self {
                let take = n.min((bytes.len() - i) as u64);
                data(&bytes[i..i + take as usize]);
                i += take as usize;
                *self = if take == n {
                    Chunked::DataCr
                } else {
                    Chunked::Data(n - take)
                };
                continue;
            }
            *self = self.step(bytes[i])?;
            i += 1;
        }
        Ok(i)
    }

    /// True once the terminating empty line was read.
    pub(super) fn done(&self) -> bool {
        *self == Chunked::Done
    }

    fn after_size(value: u64) -> Chunked {
        if value == 0 {
            Chunked::TrailerStart
        } else {
            Chunked::Data(value)
        }
    }

    fn step(self, b: u8) -> Result<Chunked, Problem> {
        use Chunked::*;
        Ok(match (self, b) {
            (SizeStart, _) => Size(hex(b).ok_or(Problem::ChunkSize)?),
            (Size(v), b';' | b' ' | b'\t') => Extension(v),
            (Size(v), b'\r') => SizeLf(v),
            (Size(v), b'\n') => Self::after_size(v),
            (Size(v), _) => {
                let d = hex(b).ok_or(Problem::ChunkSize)?;
                Size(v.checked_mul(16).ok_or(Problem::ChunkSize)? + d)
            }
            (Extension(v), b'\n') => Self::after_size(v),
            (Extension(v), _) => Extension(v),
            (SizeLf(v), b'\n') => Self::after_size(v),
            (SizeLf(_), _) => return Err(Problem::ChunkSize),
            (DataCr, b'\r') => DataLf,
            (DataCr | DataLf, b'\n') => SizeStart,
            (DataCr | DataLf, _) => return Err(Problem::ChunkEnd),
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart, b'\n') | (EndLf, b'\n') => Done,
            (EndLf, _) => return Err(Problem::ChunkEnd),
            (TrailerLine, b'\n') => TrailerStart,
            (TrailerStart | TrailerLine, _) => TrailerLine,
            (Data(_) | Done, _) => self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(pieces: &[&[u8]]) -> (Result<usize, Problem>, bool) {
        decode_with_data(pieces).0
    }

    /// Also returns the decoded body.
    fn decode_with_data(pieces: &[&[u8]]) -> ((Result<usize, Problem>, bool), Vec<u8>) {
        let mut c = Chunked::default();
        let mut used = 0;
        let mut body = Vec::new();
        for p in pieces {
            match c.feed(p, &mut |d| body.extend_from_slice(d)) {
                Ok(n) => used += n,
                Err(e) => return ((Err(e), false), body),
            }
        }
        ((Ok(used), c.done()), body)
    }

    #[test]
    fn whole_body_and_split_body() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let ((used, done), data) = decode_with_data(&[body]);
        assert_eq!(used.unwrap(), body.len() - 4);
        assert!(done);
        assert_eq!(data, b"Wikipedia");
        let pieces: Vec<&[u8]> = body[..body.len() - 4].chunks(1).collect();
        let ((used, done), data) = decode_with_data(&pieces);
        assert_eq!(used.unwrap(), body.len() - 4);
        assert!(done);
        assert_eq!(data, b"Wikipedia");
    }

    #[test]
    fn bad_size_and_bad_terminator() {
        assert_eq!(decode_all(&[b"zz\r\n"]).0, Err(Problem::ChunkSize));
        assert_eq!(decode_all(&[b"2\r\nabX"]).0, Err(Problem::ChunkEnd));
        assert_eq!(
            decode_all(&[b"fffffffffffffffff\r\n"]).0,
            Err(Problem::ChunkSize)
        );
    }

    #[test]
    fn unfinished_body_is_not_done() {
        let (used, done) = decode_all(&[b"10\r\nabc"]);
        assert_eq!(used.unwrap(), 7);
        assert!(!done);
    }
}
