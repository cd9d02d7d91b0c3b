//! The portable path: `pnet`'s datalink channel on an AF_PACKET socket. faultline opens the
//! socket itself (socket2) to attach the BPF filter in the kernel, then hands it to pnet.
//! pnet delivers no timestamps (frames are stamped when read) and no drop counters: faultline
//! reads the socket's `PACKET_STATISTICS` itself (drops because the socket's receive buffer
//! was full) and the interface's `rx_dropped` from sysfs.

use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::time::Duration;

use pnet::datalink::{self, Channel, DataLinkReceiver, NetworkInterface};
use socket2::{Domain, Protocol, Socket, Type};

use super::{Counters, Handle, LiveConfig, LiveError, bpf, open_error, wall_us};
use crate::source::{Frame, LinkType};

/// ETH_P_ALL: every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// One interface opened with pnet.
pub(crate) struct PnetHandle {
    rx: Box<dyn DataLinkReceiver>,
    name: String,
    index: u32,
    /// The socket pnet reads from (owned by `rx`, valid while it lives).
    fd: RawFd,
    /// The interface's `rx_dropped` when the capture opened.
    if_dropped_at_open: u64,
    totals: Counters,
}

impl PnetHandle {
    /// Opens `iface` with the filter attached in the kernel before the first packet.
    pub(crate) fn open(
        iface: &NetworkInterface,
        index: u32,
        config: &LiveConfig,
    ) -> Result<Self, LiveError> {
        let name = iface.name.as_str();
        let io_err = |e: std::io::Error| {
            let denied = e.kind() == std::io::ErrorKind::PermissionDenied;
            open_error(name, e.to_string(), denied)
        };
        let protocol = Protocol::from(i32::from(ETH_P_ALL.to_be()));
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(protocol)).map_err(io_err)?;
        // The receive buffer is what overflows when faultline falls behind (the kernel caps it
        // at net.core.rmem_max).
        socket
            .set_recv_buffer_size(config.buffer_bytes)
            .map_err(io_err)?;
        if let Some(filter) = &config.filter {
            let program = bpf::compile(filter, config.snaplen)?;
            socket.attach_filter(&program).map_err(io_err)?;
        }
        let fd = socket.as_raw_fd();
        let pnet_config = datalink::Config {
            read_buffer_size: usize::try_from(config.snaplen).unwrap_or(usize::MAX),
            read_timeout: Some(Duration::ZERO),
            promiscuous: config.promiscuous,
            socket_fd: Some(socket.into_raw_fd()),
            ..datalink::Config::default()
        };
        match datalink::channel(iface, pnet_config).map_err(io_err)? {
            Channel::Ethernet(_tx, rx) => {
                // Counting starts now: statistics are reset by reading them.
                let _ = packet_statistics(fd);
                Ok(PnetHandle {
                    rx,
                    name: name.to_owned(),
                    index,
                    fd,
                    if_dropped_at_open: interface_rx_dropped(name).unwrap_or(0),
                    totals: Counters::default(),
                })
            }
            _ => Err(LiveError::Open {
                interface: name.to_owned(),
                detail: "pnet returned a channel that is not Ethernet".into(),
            }),
        }
    }
}

impl Handle for PnetHandle {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, LiveError> {
        match self.rx.next() {
            Ok(data) => Ok(Some(Frame {
                ts_us: wall_us(),
                link: LinkType::Ethernet,
                data,
                orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
                interface: self.index,
            })),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(LiveError::Read {
                interface: self.name.clone(),
                detail: e.to_string(),
            }),
        }
    }

    fn counters(&mut self) -> Option<Counters> {
        // The kernel resets PACKET_STATISTICS on every read: keep running sums.
        let stats = packet_statistics(self.fd).ok()?;
        self.totals.kernel += u64::from(stats.tp_drops);
        if let Some(now) = interface_rx_dropped(&self.name) {
            self.totals.interface = now.saturating_sub(self.if_dropped_at_open);
        }
        Some(self.totals)
    }
}

/// Reads (and thereby resets) the packet socket's counters: packets received and packets
/// dropped because the socket's receive buffer was full, since the last read.
#[allow(unsafe_code)]
fn packet_statistics(fd: RawFd) -> std::io::Result<libc::tpacket_stats> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::tpacket_stats>())
        .unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `stats` is a live, writable `tpacket_stats` and `len` is its size, so the kernel
    // writes at most that many bytes into it; `fd` is only read by the kernel (a closed or
    // foreign descriptor makes the call fail, it cannot corrupt memory).
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut stats).cast(),
            &raw mut len,
        )
    };
    if rc == 0 {
        Ok(stats)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Packets the interface (or its driver) dropped since it came up, from sysfs; `None` where
/// the counter is not readable.
fn interface_rx_dropped(name: &str) -> Option<u64> {
    let path = format!("/sys/class/net/{name}/statistics/rx_dropped");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_statistics_fail_cleanly_on_a_non_packet_socket() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(packet_statistics(udp.as_raw_fd()).is_err());
    }

    #[test]
    fn loopback_drop_counter_is_readable() {
        assert!(interface_rx_dropped("lo").is_some());
        assert_eq!(interface_rx_dropped("fl-no-such-if0"), None);
    }
}
