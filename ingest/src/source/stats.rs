//! Counters a [`super::CaptureReader`] keeps while reading.

use super::LinkType;

/// What a reader has seen so far; cheap to read at any time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Frames delivered.
    pub frames: u64,
    /// Captured bytes delivered.
    pub bytes: u64,
    /// Delivered frames whose captured length is shorter than the original (snaplen).
    pub snapped: u64,
    /// Records skipped or refused because their captured length exceeds [`super::MAX_CAPLEN`].
    pub oversized: u64,
    /// pcapng packets skipped because they name an interface that was never described.
    pub unknown_interface: u64,
    /// Fatal errors (0 or 1: reading stops at the first).
    pub errors: u64,
    /// Frames per link type, indexed by [`LinkType::index`].
    pub link_frames: [u64; LinkType::COUNT],
}

impl SourceStats {
    /// Frames delivered with link type `link` (all `Other` link types count together).
    pub fn frames_for(&self, link: LinkType) -> u64 {
        self.link_frames.get(link.index()).copied().unwrap_or(0)
    }

    /// Counts one delivered frame.
    pub(crate) fn count_frame(&mut self, link: LinkType, caplen: usize, orig_len: u32) {
        self.frames += 1;
        self.bytes += caplen as u64;
        if (caplen as u64) < u64::from(orig_len) {
            self.snapped += 1;
        }
        if let Some(n) = self.link_frames.get_mut(link.index()) {
            *n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_frames_per_link() {
        let mut s = SourceStats::default();
        s.count_frame(LinkType::Ethernet, 60, 60);
        s.count_frame(LinkType::Ethernet, 68, 1514);
        s.count_frame(LinkType::Other(9), 10, 10);
        assert_eq!((s.frames, s.bytes, s.snapped), (3, 138, 1));
        assert_eq!(s.frames_for(LinkType::Ethernet), 2);
        assert_eq!(s.frames_for(LinkType::Other(200)), 1);
        assert_eq!(s.frames_for(LinkType::Null), 0);
    }
}
