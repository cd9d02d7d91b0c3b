//! One way for the pipeline to pull from any source: capture files and live interfaces push
//! [`SourceEvent`]s into the same callback, so decoding and flow tracking have a single loop.

use std::ops::ControlFlow;

use super::{CaptureReader, Frame, SourceError, SourceStats};

/// Packets a capture itself dropped over an interval (kernel counters of a live capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureDrop<'a> {
    /// Interface the counters belong to.
    pub interface: &'a str,
    /// Start of the interval, µs since the epoch.
    pub from_us: i64,
    /// End of the interval, µs since the epoch.
    pub to_us: i64,
    /// Dropped because the capture buffer (the AF_PACKET ring) was full: faultline did not
    /// read fast enough (CPU starvation or a buffer too small for the burst).
    pub kernel: u64,
    /// Dropped by the interface or its driver before the capture saw them (NIC ring
    /// overruns, no receive buffer); counted by the kernel for the whole interface.
    pub interface_drops: u64,
    /// Which kernel buffer overflowed for the `kernel` drops.
    pub buffer: KernelBuffer,
    /// How the capturing thread spent the interval, where the system tells: says whether
    /// faultline was starved of CPU, too slow, or hit by a burst.
    pub thread: Option<ThreadTime>,
}

/// The kernel buffer a live capture reads from, which overflows when faultline falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelBuffer {
    /// An AF_PACKET memory-mapped ring (TPACKET_V3): ring overruns.
    Ring,
    /// An AF_PACKET socket's receive buffer (one `recvfrom` per packet).
    Socket,
}

/// CPU time of the capturing thread over an interval, from `/proc/thread-self/schedstat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadTime {
    /// Time spent running on a CPU, µs.
    pub running_us: u64,
    /// Time spent runnable but waiting for a CPU (taken by other processes), µs.
    pub waiting_us: u64,
}

impl CaptureDrop<'_> {
    /// All packets dropped in the interval.
    pub fn total(&self) -> u64 {
        self.kernel + self.interface_drops
    }
}

/// What a source hands to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceEvent<'a> {
    /// A captured frame.
    Frame(Frame<'a>),
    /// The clock moved without (or besides) traffic: expire flows due by `now_us` and hand
    /// buffered rows to the sink. Live sources send one every few hundred ms.
    Tick {
        /// Current time, µs since the epoch.
        now_us: i64,
    },
    /// The capture dropped packets over an interval.
    Drop(CaptureDrop<'a>),
}

/// A source of frames: a capture file or live interfaces.
pub trait FrameSource {
    /// What stops the source early.
    type Error;

    /// Delivers events to `sink` until the input ends (`Ok`), the source fails (`Err`, after
    /// every event before the failure) or `sink` asks to stop with `Break`.
    fn run(
        &mut self,
        sink: &mut dyn FnMut(SourceEvent<'_>) -> ControlFlow<()>,
    ) -> Result<(), Self::Error>;

    /// Reader counters so far.
    fn stats(&self) -> &SourceStats;
}

impl FrameSource for CaptureReader {
    type Error = SourceError;

    fn run(
        &mut self,
        sink: &mut dyn FnMut(SourceEvent<'_>) -> ControlFlow<()>,
    ) -> Result<(), SourceError> {
        while let Some(next) = self.next_frame() {
            if sink(SourceEvent::Frame(next?)).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn stats(&self) -> &SourceStats {
        CaptureReader::stats(self)
    }
}
