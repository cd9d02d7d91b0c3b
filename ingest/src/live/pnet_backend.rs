//! The portable path: `pnet`'s datalink channel on an AF_PACKET socket. faultline opens the
//! socket itself (socket2) to attach the BPF filter in the kernel, then hands it to pnet.
//! pnet delivers no timestamps (frames are stamped when read) and no drop counters.

use std::os::fd::IntoRawFd;
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
        if let Some(filter) = &config.filter {
            let program = bpf::compile(filter, config.snaplen)?;
            socket.attach_filter(&program).map_err(io_err)?;
        }
        let pnet_config = datalink::Config {
            read_buffer_size: usize::try_from(config.snaplen).unwrap_or(usize::MAX),
            read_timeout: Some(Duration::ZERO),
            promiscuous: config.promiscuous,
            socket_fd: Some(socket.into_raw_fd()),
            ..datalink::Config::default()
        };
        match datalink::channel(iface, pnet_config).map_err(io_err)? {
            Channel::Ethernet(_tx, rx) => Ok(PnetHandle {
                rx,
                name: name.to_owned(),
                index,
            }),
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
        None
    }
}
