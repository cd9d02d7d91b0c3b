//! [`CaptureReader`]: streaming pcap/pcapng reader lending one [`Frame`] at a time.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use pcap_parser::pcapng::{Block, InterfaceDescriptionBlock, OptionCode};
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

use super::input::open_input;
use super::pcapng::{
    EPB_TYPE, Interface, MIN_PACKET_BLOCK, PB_TYPE, SHB_TYPE, parse_packet_block, read_u32,
};
use super::stats::SourceStats;
use super::time::{TsClock, legacy_us};
use super::{Frame, LinkType};

/// Largest captured length accepted for one record (libpcap's own maximum snaplen).
pub const MAX_CAPLEN: u32 = 256 * 1024;

/// Default size of the read buffer: large reads, few refills.
pub const DEFAULT_BUFFER_SIZE: usize = 4 << 20;

/// Smallest buffer accepted: one maximal record plus headroom for its headers.
const MIN_BUFFER_SIZE: usize = MAX_CAPLEN as usize + 64 * 1024;

/// Why a capture cannot be opened or read further. Reading stops at the first one.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be opened or its first bytes read.
    #[error("cannot open {name}: {source}")]
    Open {
        /// File name.
        name: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is empty or not a pcap/pcapng capture.
    #[error("{name}: not a pcap or pcapng capture ({reason})")]
    NotCapture {
        /// File name.
        name: String,
        /// What was found instead.
        reason: &'static str,
    },
    /// The input ends in the middle of a record.
    #[error("{name}: truncated capture: input ends inside the record at byte {offset}")]
    Truncated {
        /// File name.
        name: String,
        /// Offset of the incomplete record (in the decompressed stream for gzip input).
        offset: u64,
    },
    /// A record's captured length exceeds [`MAX_CAPLEN`] in a legacy pcap file, whose
    /// framing can then no longer be trusted.
    #[error("{name}: record at byte {offset} claims {caplen} captured bytes (limit {MAX_CAPLEN})")]
    Oversized {
        /// File name.
        name: String,
        /// Offset of the record.
        offset: u64,
        /// Claimed captured length.
        caplen: u32,
    },
    /// A record or block is malformed.
    #[error("{name}: corrupt record at byte {offset}: {reason}")]
    Corrupt {
        /// File name.
        name: String,
        /// Offset of the record.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// Reading failed (I/O error or corrupt gzip stream).
    #[error("{name}: read error near byte {offset} (I/O failure or corrupt gzip data)")]
    Read {
        /// File name.
        name: String,
        /// Bytes consumed before the failure.
        offset: u64,
    },
}

/// Container format and the per-file state needed to interpret its records.
enum Format {
    /// Legacy pcap: one link type for the whole file.
    Legacy {
        link: LinkType,
        nanos: bool,
        big_endian: bool,
    },
    /// pcapng: byte order of the current section and its interfaces.
    Ng {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Where the next frame lies in the buffer (offset from the start of the unread data) and its
/// metadata. Plain data, so it can leave the borrow of the parser.
struct Located {
    start: usize,
    len: usize,
    /// `None` for Simple Packet Blocks, which carry no timestamp.
    ts_us: Option<i64>,
    link: LinkType,
    orig_len: u32,
    interface: u32,
}

/// Outcome of one parsing step.
enum Step {
    Frame(Located),
    Skip,
    Refill,
    End,
}

/// Streaming reader of pcap and pcapng captures, gzip-compressed or not.
///
/// Frames borrow the reader's buffer, so there is no per-frame allocation; call
/// [`CaptureReader::next_frame`] until it returns `None`. A damaged file yields every frame
/// before the damage, then one error, then `None`.
pub struct CaptureReader {
    name: String,
    inner: Box<dyn PcapReaderIterator + Send>,
    format: Format,
    capacity: usize,
    /// Size of the record last returned, consumed on the next call.
    pending: usize,
    last_ts_us: i64,
    done: bool,
    stats: SourceStats,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl CaptureReader {
    /// Opens a capture file (pcap, pcapng, either possibly gzip-compressed).
    ///
    /// Small files get a buffer no larger than themselves (never below one maximal record),
    /// which matters when reading many small captures.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let name = path.display().to_string();
        let file = match File::open(path) {
            Ok(file) => file,
            Err(source) => return Err(SourceError::Open { name, source }),
        };
        let size = file
            .metadata()
            .ok()
            .and_then(|m| usize::try_from(m.len()).ok())
            .map_or(DEFAULT_BUFFER_SIZE, |len| len.min(DEFAULT_BUFFER_SIZE));
        Self::with_buffer_size(file, name, size)
    }

    /// Reads a capture from any byte stream; `name` labels errors.
    pub fn from_read(
        r: impl Read + Send + 'static,
        name: impl Into<String>,
    ) -> Result<Self, SourceError> {
        Self::with_buffer_size(r, name, DEFAULT_BUFFER_SIZE)
    }

    /// Like [`CaptureReader::from_read`] with a chosen buffer size (raised to at least one
    /// maximal record); small buffers suit many small inputs, e.g. fuzzing.
    pub fn with_buffer_size(
        r: impl Read + Send + 'static,
        name: impl Into<String>,
        buffer_size: usize,
    ) -> Result<Self, SourceError> {
        let name = name.into();
        let capacity = buffer_size.max(MIN_BUFFER_SIZE);
        let input = match open_input(r) {
            Ok(input) => input,
            Err(source) => return Err(SourceError::Open { name, source }),
        };
        let inner = match create_reader(capacity, input) {
            Ok(inner) => inner,
            Err(e) => return Err(open_error(name, &e)),
        };
        let format = if inner.data().starts_with(&SHB_TYPE.to_le_bytes()) {
            Format::Ng {
                big_endian: false,
                interfaces: Vec::new(),
            }
        } else {
            Format::Legacy {
                link: LinkType::Ethernet,
                nanos: false,
                big_endian: false,
            }
        };
        Ok(CaptureReader {
            name,
            inner,
            format,
            capacity,
            pending: 0,
            last_ts_us: 0,
            done: false,
            stats: SourceStats::default(),
        })
    }

    /// Name given at construction (the path for [`CaptureReader::open`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counters so far.
    pub fn stats(&self) -> &SourceStats {
        &self.stats
    }

    /// The next frame, an error (once, after which reading stops), or `None` at the end.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, SourceError>> {
        if self.done {
            return None;
        }
        let loc = match self.advance() {
            Ok(Some(loc)) => loc,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => return Some(Err(self.fail(e))),
        };
        let end = loc.start.checked_add(loc.len);
        if end.is_none_or(|end| end > self.inner.data().len()) {
            let e = self.corrupt("record lies outside the read buffer");
            return Some(Err(self.fail(e)));
        }
        let ts_us = loc.ts_us.unwrap_or(self.last_ts_us);
        self.last_ts_us = ts_us;
        self.stats.count_frame(loc.link, loc.len, loc.orig_len);
        let data = self
            .inner
            .data()
            .get(loc.start..loc.start + loc.len)
            .unwrap_or_default();
        Some(Ok(Frame {
            ts_us,
            link: loc.link,
            data,
            orig_len: loc.orig_len,
            interface: loc.interface,
        }))
    }

    /// Stops reading and counts the error.
    fn fail(&mut self, e: SourceError) -> SourceError {
        self.done = true;
        self.stats.errors += 1;
        e
    }

    /// Builds a corrupt-record error at the current offset.
    fn corrupt(&self, reason: &'static str) -> SourceError {
        SourceError::Corrupt {
            name: self.name.clone(),
            offset: self.inner.consumed() as u64,
            reason,
        }
    }

    /// Moves to the next frame, skipping non-packet blocks and refilling the buffer as needed.
    ///
    /// Every iteration consumes bytes, adds bytes to the buffer, or returns, so it cannot spin.
    fn advance(&mut self) -> Result<Option<Located>, SourceError> {
        loop {
            if self.pending > 0 {
                self.inner.consume_noshift(self.pending);
                self.pending = 0;
            }
            let step = match self.peek()? {
                Some(step) => step,
                None => self.parse_next()?,
            };
            match step {
                Step::Frame(loc) => return Ok(Some(loc)),
                Step::Skip => {}
                Step::Refill => {
                    if !self.refill()? {
                        return Ok(None);
                    }
                }
                Step::End => return Ok(None),
            }
        }
    }

    /// Looks at the raw bytes of the next record before pcap-parser does: rejects legacy
    /// records with an absurd captured length, and reads pcapng packet blocks directly (see
    /// `pcapng.rs`). `None` leaves the record to pcap-parser.
    fn peek(&mut self) -> Result<Option<Step>, SourceError> {
        if self.inner.consumed() == 0 {
            return Ok(None); // the file header comes first
        }
        let data = self.inner.data();
        match &self.format {
            Format::Legacy { big_endian, .. } => match read_u32(data, 8, *big_endian) {
                Some(caplen) if caplen > MAX_CAPLEN => {
                    self.stats.oversized += 1;
                    Err(SourceError::Oversized {
                        name: self.name.clone(),
                        offset: self.inner.consumed() as u64,
                        caplen,
                    })
                }
                _ => Ok(None),
            },
            Format::Ng {
                big_endian,
                interfaces,
            } => {
                let be = *big_endian;
                let (Some(block_type), Some(block_len)) =
                    (read_u32(data, 0, be), read_u32(data, 4, be))
                else {
                    return Ok(None);
                };
                if block_type != EPB_TYPE && block_type != PB_TYPE {
                    return Ok(None);
                }
                let block_len = usize::try_from(block_len).unwrap_or(usize::MAX);
                if block_len < MIN_PACKET_BLOCK {
                    return Err(self.corrupt("packet block shorter than its fields"));
                }
                if block_len > self.capacity {
                    return Err(self.corrupt("block longer than the read buffer"));
                }
                let Some(block) = data.get(..block_len) else {
                    return Ok(Some(Step::Refill));
                };
                let pb = match parse_packet_block(block, block_type, be) {
                    Ok(pb) => pb,
                    Err(reason) => return Err(self.corrupt(reason)),
                };
                let step = packet_step(
                    interfaces,
                    &mut self.stats,
                    pb.if_id,
                    Some(pb.ts),
                    pb.data_offset,
                    pb.caplen,
                    pb.orig_len,
                );
                self.pending = block_len;
                Ok(Some(step))
            }
        }
    }

    /// Lets pcap-parser read the next block.
    fn parse_next(&mut self) -> Result<Step, SourceError> {
        let CaptureReader {
            name,
            inner,
            format,
            stats,
            pending,
            ..
        } = self;
        let base = inner.data().as_ptr() as usize;
        let offset = inner.consumed() as u64;
        match inner.next() {
            Ok((size, block)) => {
                *pending = size;
                Ok(on_block(format, stats, block, base))
            }
            Err(PcapError::Eof) => Ok(Step::End),
            Err(PcapError::Incomplete(_)) => Ok(Step::Refill),
            Err(e) => Err(read_error(name.clone(), offset, &e)),
        }
    }

    /// Refills the buffer. `Ok(false)`: the input ended cleanly between records.
    fn refill(&mut self) -> Result<bool, SourceError> {
        let before = self.inner.data().len();
        let offset = self.inner.consumed() as u64;
        if self.inner.refill().is_err() {
            return Err(SourceError::Read {
                name: self.name.clone(),
                offset,
            });
        }
        let after = self.inner.data().len();
        if after > before {
            Ok(true)
        } else if before == 0 {
            Ok(false)
        } else if self.inner.reader_exhausted() {
            Err(SourceError::Truncated {
                name: self.name.clone(),
                offset,
            })
        } else {
            Err(self.corrupt("record longer than the read buffer"))
        }
    }
}

/// Interprets one block parsed by pcap-parser.
fn on_block(
    format: &mut Format,
    stats: &mut SourceStats,
    block: PcapBlockOwned<'_>,
    base: usize,
) -> Step {
    // Offset of a slice of the block from the start of the unread data; an impossible value
    // makes `next_frame`'s bounds check fail instead of panicking.
    let start = |s: &[u8]| {
        (s.as_ptr() as usize)
            .checked_sub(base)
            .unwrap_or(usize::MAX)
    };
    match block {
        PcapBlockOwned::LegacyHeader(h) => {
            *format = Format::Legacy {
                link: LinkType::from_number(h.network.0 as u32),
                nanos: h.is_nanosecond_precision(),
                big_endian: h.is_bigendian(),
            };
            Step::Skip
        }
        PcapBlockOwned::Legacy(b) => match format {
            Format::Legacy { link, nanos, .. } => Step::Frame(Located {
                start: start(b.data),
                len: b.data.len(),
                ts_us: Some(legacy_us(b.ts_sec, b.ts_usec, *nanos)),
                link: *link,
                orig_len: b.origlen,
                interface: 0,
            }),
            Format::Ng { .. } => Step::Skip,
        },
        PcapBlockOwned::NG(block) => {
            let Format::Ng {
                big_endian,
                interfaces,
            } = format
            else {
                return Step::Skip;
            };
            match block {
                Block::SectionHeader(shb) => {
                    *big_endian = shb.big_endian();
                    interfaces.clear();
                    Step::Skip
                }
                Block::InterfaceDescription(idb) => {
                    interfaces.push(Interface {
                        link: LinkType::from_number(idb.linktype.0 as u32),
                        snaplen: idb.snaplen,
                        clock: TsClock::new(idb.if_tsresol, tsoffset(&idb, *big_endian)),
                    });
                    Step::Skip
                }
                Block::SimplePacket(spb) => {
                    // Captured length: min(original length, interface snaplen); the rest of the
                    // block is padding.
                    let snaplen = interfaces.first().map_or(0, |i| i.snaplen);
                    let data = spb.raw_packet_data();
                    let caplen = [spb.origlen, u32::try_from(data.len()).unwrap_or(u32::MAX)]
                        .into_iter()
                        .chain((snaplen > 0).then_some(snaplen))
                        .min()
                        .unwrap_or(0);
                    packet_step(interfaces, stats, 0, None, start(data), caplen, spb.origlen)
                }
                // Enhanced and obsolete Packet Blocks never get here: `peek` reads them.
                _ => Step::Skip,
            }
        }
    }
}

/// The interface's `if_tsoffset` in the section's byte order (pcap-parser's own field always
/// reads it little-endian).
fn tsoffset(idb: &InterfaceDescriptionBlock<'_>, big_endian: bool) -> i64 {
    let value = idb
        .options
        .iter()
        .find(|o| o.code == OptionCode::IfTsoffset)
        .and_then(|o| o.value().get(..8))
        .and_then(|b| <[u8; 8]>::try_from(b).ok());
    match value {
        Some(b) if big_endian => i64::from_be_bytes(b),
        Some(b) => i64::from_le_bytes(b),
        None => 0,
    }
}

/// The step for one pcapng packet: a frame, or a counted skip when it is oversized or names
/// an undescribed interface.
fn packet_step(
    interfaces: &[Interface],
    stats: &mut SourceStats,
    if_id: u32,
    ts: Option<u64>,
    start: usize,
    caplen: u32,
    orig_len: u32,
) -> Step {
    if caplen > MAX_CAPLEN {
        stats.oversized += 1;
        return Step::Skip;
    }
    let Some(iface) = usize::try_from(if_id).ok().and_then(|i| interfaces.get(i)) else {
        stats.unknown_interface += 1;
        return Step::Skip;
    };
    Step::Frame(Located {
        start,
        len: caplen as usize,
        ts_us: ts.map(|ts| iface.clock.to_us(ts)),
        link: iface.link,
        orig_len,
        interface: if_id,
    })
}

/// Maps pcap-parser's error when probing the file header.
fn open_error(name: String, e: &PcapError<&[u8]>) -> SourceError {
    let reason = match e {
        PcapError::Eof => "empty input",
        PcapError::Incomplete(_) => "too short for a file header",
        PcapError::ReadError => return SourceError::Read { name, offset: 0 },
        _ => "unknown file header",
    };
    SourceError::NotCapture { name, reason }
}

/// Maps pcap-parser's error while reading records.
fn read_error(name: String, offset: u64, e: &PcapError<&[u8]>) -> SourceError {
    match e {
        PcapError::UnexpectedEof | PcapError::Incomplete(_) | PcapError::Eof => {
            SourceError::Truncated { name, offset }
        }
        PcapError::ReadError => SourceError::Read { name, offset },
        PcapError::BufferTooSmall => SourceError::Corrupt {
            name,
            offset,
            reason: "record longer than the read buffer",
        },
        _ => SourceError::Corrupt {
            name,
            offset,
            reason: "malformed block",
        },
    }
}

#[cfg(test)]
mod tests;
