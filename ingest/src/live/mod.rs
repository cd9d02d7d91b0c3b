//! Live capture from network interfaces (Linux AF_PACKET), with the capture's own packet loss
//! stored as data.
//!
//! Two backends sit behind one [`LiveCapture`]:
//! - [`Backend::Pcap`] (default, the fast path): libpcap, which on Linux reads a memory-mapped
//!   TPACKET_V3 ring, applies the BPF filter in the kernel and reports the kernel's drop
//!   counters (`PACKET_STATISTICS`) and the interface's own drops.
//! - [`Backend::Pnet`] (portable): `pnet`'s datalink channel, one `recvfrom` per packet on an
//!   AF_PACKET socket that faultline opens itself so that the filter still runs in the kernel
//!   and its drop counters (`PACKET_STATISTICS`, which pnet does not expose) can be read.
//!
//! The capture polls every interface without blocking, sends [`SourceEvent::Tick`] a few
//! times a second (flows expire by the wall clock, buffered rows reach the sink) and reads the
//! drop counters every [`LiveConfig::stats_interval`], turning increases into
//! [`SourceEvent::Drop`]. It stops when the shared stop flag is raised.

mod bpf;
mod drops;
mod pcap_backend;
mod pnet_backend;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use drops::{DropEntryText, DropTotals};

use crate::source::{Frame, FrameSource, KernelBuffer, SourceEvent, SourceStats};
use drops::{DropTracker, ThreadClock};

/// Default bytes kept of each packet: enough for every header faultline decodes.
pub const DEFAULT_SNAPLEN: u32 = 262_144;
/// Default kernel buffer (ring) size per interface.
pub const DEFAULT_BUFFER_BYTES: usize = 32 << 20;
/// How often flows are expired and buffered rows handed to the sink.
const TICK: Duration = Duration::from_millis(250);
/// Ticks lag the wall clock by this much, so that packets still in the kernel ring (stamped
/// earlier) are not behind the flow table's clock.
const TICK_LAG_US: i64 = 100_000;
/// Frames read from one interface before the next interface gets a turn.
const BURST: usize = 256;
/// How long a stopping capture keeps reading: longer than the ring's block timeout, so the
/// packets of the last, partly filled block are not lost.
const DRAIN: Duration = Duration::from_millis(150);
/// Sleep when no interface had a packet waiting.
const IDLE_SLEEP: Duration = Duration::from_millis(1);

/// Which capture implementation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// libpcap: TPACKET_V3 ring, kernel BPF, kernel and interface drop counters.
    #[default]
    Pcap,
    /// pnet datalink: portable, one system call per packet, kernel BPF, socket drop counters.
    Pnet,
}

impl Backend {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Pcap => "pcap",
            Backend::Pnet => "pnet",
        }
    }

    /// The kernel buffer that overflows when this backend falls behind.
    fn kernel_buffer(self) -> KernelBuffer {
        match self {
            Backend::Pcap => KernelBuffer::Ring,
            Backend::Pnet => KernelBuffer::Socket,
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pcap" => Ok(Backend::Pcap),
            "pnet" => Ok(Backend::Pnet),
            other => Err(format!("unknown capture backend `{other}` (pcap or pnet)")),
        }
    }
}

/// Settings of a live capture.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Interfaces to capture on (at least one).
    pub interfaces: Vec<String>,
    /// Capture implementation.
    pub backend: Backend,
    /// Bytes kept of each packet.
    pub snaplen: u32,
    /// Put the interfaces in promiscuous mode.
    pub promiscuous: bool,
    /// A capture filter in tcpdump's syntax, compiled once per interface and run in the kernel.
    pub filter: Option<String>,
    /// Kernel buffer size per interface: the ring (pcap backend) or the socket's receive
    /// buffer (pnet backend, capped by the kernel at `net.core.rmem_max`).
    pub buffer_bytes: usize,
    /// How often drop counters are read (and, when they grew, stored as entries).
    pub stats_interval: Duration,
}

impl LiveConfig {
    /// Defaults for capturing on `interfaces`.
    pub fn new(interfaces: Vec<String>) -> Self {
        LiveConfig {
            interfaces,
            backend: Backend::default(),
            snaplen: DEFAULT_SNAPLEN,
            promiscuous: false,
            filter: None,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            stats_interval: Duration::from_secs(5),
        }
    }
}

/// Why a live capture could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No interface was named.
    #[error("no interface to capture on")]
    NoInterface,
    /// The interface does not exist.
    #[error("no network interface `{name}` (interfaces here: {available})")]
    NoSuchInterface {
        /// The name asked for.
        name: String,
        /// The interfaces that exist, comma-separated.
        available: String,
    },
    /// The process may not open a packet socket.
    #[error(
        "not permitted to capture on `{interface}`: run as root or grant CAP_NET_RAW \
         (and CAP_NET_ADMIN for --promisc), e.g. `setcap cap_net_raw,cap_net_admin=eip \
         $(which faultline)` ({detail})"
    )]
    Permission {
        /// The interface.
        interface: String,
        /// What the system said.
        detail: String,
    },
    /// The capture filter does not compile.
    #[error("capture filter `{filter}` does not compile: {detail}")]
    Filter {
        /// The filter text.
        filter: String,
        /// What the compiler said.
        detail: String,
    },
    /// Opening the interface failed for another reason.
    #[error("opening `{interface}` for capture: {detail}")]
    Open {
        /// The interface.
        interface: String,
        /// What failed.
        detail: String,
    },
    /// Reading from the interface failed (e.g. the interface went away).
    #[error("reading from `{interface}`: {detail}")]
    Read {
        /// The interface.
        interface: String,
        /// What failed.
        detail: String,
    },
}

/// A flag that stops a running capture when raised (from a signal handler or another thread).
pub type StopFlag = Arc<AtomicBool>;

/// Cumulative counters of one capture handle since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    /// Dropped because the capture buffer was full.
    pub kernel: u64,
    /// Dropped by the interface or driver.
    pub interface: u64,
}

/// One open interface of one backend.
pub(crate) trait Handle {
    /// The next frame waiting, without blocking; `None` when nothing is waiting.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, LiveError>;
    /// Cumulative drop counters, if the backend has them.
    fn counters(&mut self) -> Option<Counters>;
}

/// An interface being captured, with its drop bookkeeping.
struct Interface {
    name: String,
    handle: Box<dyn Handle>,
    drops: DropTracker,
}

/// Live capture on one or more interfaces; a [`FrameSource`] for
/// [`crate::pipeline::Pipeline::ingest_live`].
pub struct LiveCapture {
    interfaces: Vec<Interface>,
    stop: StopFlag,
    stats_interval: Duration,
    stats: SourceStats,
    started_us: i64,
    /// CPU time of the capturing thread, for the cause of drops (started on the first run).
    clock: Option<ThreadClock>,
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("interfaces", &self.label())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl LiveCapture {
    /// Opens every interface of `config` (all or none); the capture runs until `stop` is
    /// raised. Fails with a clear error for a missing interface, missing privileges or a
    /// filter that does not compile.
    pub fn open(config: &LiveConfig, stop: StopFlag) -> Result<LiveCapture, LiveError> {
        if config.interfaces.is_empty() {
            return Err(LiveError::NoInterface);
        }
        let known = pnet::datalink::interfaces();
        let mut interfaces = Vec::with_capacity(config.interfaces.len());
        for (index, name) in config.interfaces.iter().enumerate() {
            let Some(iface) = known.iter().find(|i| &i.name == name) else {
                return Err(LiveError::NoSuchInterface {
                    name: name.clone(),
                    available: known
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let handle: Box<dyn Handle> = match config.backend {
                Backend::Pcap => Box::new(pcap_backend::PcapHandle::open(name, index, config)?),
                Backend::Pnet => Box::new(pnet_backend::PnetHandle::open(iface, index, config)?),
            };
            interfaces.push(Interface {
                name: name.clone(),
                handle,
                drops: DropTracker::new(wall_us(), config.backend.kernel_buffer()),
            });
        }
        Ok(LiveCapture {
            interfaces,
            stop,
            stats_interval: config.stats_interval,
            stats: SourceStats::default(),
            started_us: wall_us(),
            clock: None,
        })
    }

    /// The capture source label stored with every row: the interface names, comma-separated.
    pub fn label(&self) -> String {
        self.interfaces
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// When the capture opened, µs since the epoch.
    pub fn started_us(&self) -> i64 {
        self.started_us
    }

    /// Packets dropped so far, over all interfaces.
    pub fn drop_totals(&self) -> DropTotals {
        self.interfaces
            .iter()
            .fold(DropTotals::NONE, |acc, i| acc.plus(i.drops.totals()))
    }

    /// Reads every interface's drop counters and reports increases.
    fn read_drops(&mut self, sink: &mut dyn FnMut(SourceEvent<'_>) -> ControlFlow<()>) {
        let now = wall_us();
        let thread = self.clock.as_mut().and_then(ThreadClock::interval);
        for iface in &mut self.interfaces {
            let counters = iface.handle.counters();
            if let Some(drop) = iface.drops.update(&iface.name, counters, now, thread) {
                // A sink that wants to stop is noticed with the next frame or tick.
                let _ = sink(SourceEvent::Drop(drop));
            }
        }
    }

    /// Reads up to [`BURST`] frames from each interface; returns how many were read, or
    /// `None` when the sink asked to stop.
    fn read_burst(
        &mut self,
        sink: &mut dyn FnMut(SourceEvent<'_>) -> ControlFlow<()>,
    ) -> Result<Option<usize>, LiveError> {
        let mut got = 0;
        for iface in &mut self.interfaces {
            for _ in 0..BURST {
                let Some(frame) = iface.handle.next_frame()? else {
                    break;
                };
                got += 1;
                self.stats
                    .count_frame(frame.link, frame.data.len(), frame.orig_len);
                if sink(SourceEvent::Frame(frame)).is_break() {
                    return Ok(None);
                }
            }
        }
        Ok(Some(got))
    }
}

impl FrameSource for LiveCapture {
    type Error = LiveError;

    fn run(
        &mut self,
        sink: &mut dyn FnMut(SourceEvent<'_>) -> ControlFlow<()>,
    ) -> Result<(), LiveError> {
        self.clock = Some(ThreadClock::start());
        let mut next_tick = Instant::now() + TICK;
        let mut next_stats = Instant::now() + self.stats_interval;
        while !self.stop.load(Ordering::Relaxed) {
            let Some(got) = self.read_burst(sink)? else {
                return Ok(());
            };
            let now = Instant::now();
            if now >= next_stats {
                next_stats = now + self.stats_interval;
                self.read_drops(sink);
            }
            if now >= next_tick {
                next_tick = now + TICK;
                let tick = SourceEvent::Tick {
                    now_us: wall_us() - TICK_LAG_US,
                };
                if sink(tick).is_break() {
                    return Ok(());
                }
            }
            if got == 0 {
                std::thread::sleep(IDLE_SLEEP);
            }
        }
        // Whatever is still in the rings (a partly filled ring block is handed over only
        // after its timeout), then the last counters.
        let until = Instant::now() + DRAIN;
        while let Some(got) = self.read_burst(sink)? {
            if got == 0 {
                if Instant::now() >= until {
                    break;
                }
                std::thread::sleep(IDLE_SLEEP);
            }
        }
        self.read_drops(sink);
        Ok(())
    }

    fn stats(&self) -> &SourceStats {
        &self.stats
    }
}

/// Wall-clock time, µs since the epoch.
pub(crate) fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Classifies an OS error from opening a capture: permission problems get their own error.
pub(crate) fn open_error(interface: &str, detail: String, denied: bool) -> LiveError {
    let lower = detail.to_ascii_lowercase();
    if denied || lower.contains("permission") || lower.contains("operation not permitted") {
        LiveError::Permission {
            interface: interface.to_owned(),
            detail,
        }
    } else {
        LiveError::Open {
            interface: interface.to_owned(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip() {
        for b in [Backend::Pcap, Backend::Pnet] {
            assert_eq!(b.as_str().parse::<Backend>(), Ok(b));
        }
        assert!("afpacket".parse::<Backend>().is_err());
    }

    #[test]
    fn missing_interface_is_named() {
        let config = LiveConfig::new(vec!["fl-no-such-if0".into()]);
        let err = LiveCapture::open(&config, StopFlag::default()).unwrap_err();
        match &err {
            LiveError::NoSuchInterface { name, available } => {
                assert_eq!(name, "fl-no-such-if0");
                assert!(available.contains("lo"), "{available}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string()
                .contains("no network interface `fl-no-such-if0`")
        );
    }

    #[test]
    fn no_interface_is_an_error() {
        let err = LiveCapture::open(&LiveConfig::new(Vec::new()), StopFlag::default());
        assert!(matches!(err, Err(LiveError::NoInterface)));
    }

    #[test]
    fn permission_errors_are_recognised() {
        let e = open_error(
            "eth0",
            "eth0: You don't have permission to perform this capture on that device".into(),
            false,
        );
        assert!(matches!(e, LiveError::Permission { .. }));
        assert!(e.to_string().contains("CAP_NET_RAW"));
        let e = open_error("eth0", "Operation not permitted (os error 1)".into(), false);
        assert!(matches!(e, LiveError::Permission { .. }));
        let e = open_error("eth0", "device is down".into(), false);
        assert!(matches!(e, LiveError::Open { .. }));
        assert!(matches!(
            open_error("eth0", "x".into(), true),
            LiveError::Permission { .. }
        ));
    }
}
