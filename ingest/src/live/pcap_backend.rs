//! The fast path: libpcap on an AF_PACKET memory-mapped ring (TPACKET_V3 on Linux), the filter
//! attached in the kernel, and `pcap_stats` for the kernel's and the interface's drops.

use super::{Counters, Handle, LiveConfig, LiveError, open_error};
use crate::source::{Frame, LinkType};

/// How long the kernel may hold a partly filled ring block before handing it over, ms: the
/// latency bound of the ring.
const BLOCK_TIMEOUT_MS: i32 = 50;

/// One interface opened with libpcap.
pub(crate) struct PcapHandle {
    cap: pcap::Capture<pcap::Active>,
    name: String,
    link: LinkType,
    index: u32,
    /// Last raw (32-bit, wrapping) readings and their 64-bit running sums.
    raw: (u32, u32),
    totals: Counters,
}

impl PcapHandle {
    /// Opens `name` non-blocking, with the filter compiled once and attached in the kernel.
    pub(crate) fn open(name: &str, index: u32, config: &LiveConfig) -> Result<Self, LiveError> {
        let err = |e: pcap::Error| open_error(name, e.to_string(), false);
        let snaplen = i32::try_from(config.snaplen).unwrap_or(i32::MAX);
        let buffer = i32::try_from(config.buffer_bytes).unwrap_or(i32::MAX);
        let cap = pcap::Capture::from_device(name)
            .map_err(err)?
            .promisc(config.promiscuous)
            .snaplen(snaplen)
            .buffer_size(buffer)
            .timeout(BLOCK_TIMEOUT_MS)
            .open()
            .map_err(err)?;
        let mut cap = cap.setnonblock().map_err(err)?;
        if let Some(filter) = &config.filter {
            cap.filter(filter, true).map_err(|e| LiveError::Filter {
                filter: filter.clone(),
                detail: e.to_string(),
            })?;
        }
        let link = LinkType::from_number(cap.get_datalink().0 as u32);
        Ok(PcapHandle {
            cap,
            name: name.to_owned(),
            link,
            index,
            raw: (0, 0),
            totals: Counters::default(),
        })
    }
}

impl Handle for PcapHandle {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, LiveError> {
        match self.cap.next_packet() {
            Ok(p) => {
                let ts = p.header.ts;
                Ok(Some(Frame {
                    ts_us: ts.tv_sec * 1_000_000 + ts.tv_usec,
                    link: self.link,
                    data: p.data,
                    orig_len: p.header.len,
                    interface: self.index,
                }))
            }
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(LiveError::Read {
                interface: self.name.clone(),
                detail: e.to_string(),
            }),
        }
    }

    fn counters(&mut self) -> Option<Counters> {
        let s = self.cap.stats().ok()?;
        // libpcap's counters are 32-bit and wrap on a long capture; keep 64-bit sums.
        self.totals.kernel += u64::from(s.dropped.wrapping_sub(self.raw.0));
        self.totals.interface += u64::from(s.if_dropped.wrapping_sub(self.raw.1));
        self.raw = (s.dropped, s.if_dropped);
        Some(self.totals)
    }
}
