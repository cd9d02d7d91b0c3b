//! Capture sources: pcap and pcapng files (optionally gzip-compressed), frame by frame, and the
//! [`FrameSource`] trait that files and live interfaces (see [`crate::live`]) share.
//!
//! [`CaptureReader`] streams a capture through one large buffer and lends out one [`Frame`] at a
//! time, so reading allocates nothing per frame. Damaged files yield every frame before the damage,
//! then a single [`SourceError`], then nothing.

mod frame_source;
mod input;
pub mod pcap_file;
mod pcapng;
mod reader;
mod stats;
mod time;

pub use frame_source::{CaptureDrop, FrameSource, KernelBuffer, SourceEvent, ThreadTime};
pub use reader::{CaptureReader, DEFAULT_BUFFER_SIZE, MAX_CAPLEN, SourceError};
pub use stats::SourceStats;

/// Link-layer type of a frame (pcap LINKTYPE_* values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101) / DLT_RAW (12, 14): raw IPv4 or IPv6.
    RawIp,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_LINUX_SLL (113).
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276).
    LinuxSll2,
    /// LINKTYPE_NULL (0): BSD loopback, host-order family.
    Null,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, network-order family.
    Loop,
    /// Anything else, with its number.
    Other(u32),
}

impl LinkType {
    /// Number of distinct [`LinkType::index`] values (all `Other` share one).
    pub const COUNT: usize = 9;

    /// Maps a pcap/pcapng link-type number to a [`LinkType`].
    ///
    /// The upper bits of a pcap header's link-type field carry FCS information (libpcap's
    /// `LT_LINKTYPE`), so only the low 26 bits are significant.
    pub fn from_number(n: u32) -> LinkType {
        match n & 0x03FF_FFFF {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::RawIp,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    /// The canonical LINKTYPE_* number (101 for raw IP).
    pub fn number(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(n) => n,
        }
    }

    /// Dense index in `0..COUNT`, for per-link-type counters without a map.
    pub fn index(self) -> usize {
        match self {
            LinkType::Ethernet => 0,
            LinkType::RawIp => 1,
            LinkType::Ipv4 => 2,
            LinkType::Ipv6 => 3,
            LinkType::LinuxSll => 4,
            LinkType::LinuxSll2 => 5,
            LinkType::Null => 6,
            LinkType::Loop => 7,
            LinkType::Other(_) => 8,
        }
    }
}

/// One captured frame, borrowing the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Capture time, µs since the epoch.
    pub ts_us: i64,
    /// Link type of the interface that captured it.
    pub link: LinkType,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Original length on the wire.
    pub orig_len: u32,
    /// Interface index (pcapng), 0 for pcap.
    pub interface: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_numbers_map_both_ways() {
        for (n, lt) in [
            (0, LinkType::Null),
            (1, LinkType::Ethernet),
            (12, LinkType::RawIp),
            (14, LinkType::RawIp),
            (101, LinkType::RawIp),
            (108, LinkType::Loop),
            (113, LinkType::LinuxSll),
            (228, LinkType::Ipv4),
            (229, LinkType::Ipv6),
            (276, LinkType::LinuxSll2),
            (147, LinkType::Other(147)),
        ] {
            assert_eq!(LinkType::from_number(n), lt, "{n}");
        }
        assert_eq!(LinkType::from_number(14).number(), 101);
        assert_eq!(LinkType::Other(147).number(), 147);
    }

    #[test]
    fn fcs_bits_are_ignored() {
        assert_eq!(LinkType::from_number(0x1000_0001), LinkType::Ethernet);
    }

    #[test]
    fn indices_are_dense() {
        let all = [
            LinkType::Ethernet,
            LinkType::RawIp,
            LinkType::Ipv4,
            LinkType::Ipv6,
            LinkType::LinuxSll,
            LinkType::LinuxSll2,
            LinkType::Null,
            LinkType::Loop,
            LinkType::Other(7),
        ];
        let mut seen = [false; LinkType::COUNT];
        for lt in all {
            seen[lt.index()] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
