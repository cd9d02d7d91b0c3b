//! Capture loss as data: cumulative drop counters turned into per-interval increases, and each
//! increase into a `loss` entry with error message `capture-drop`.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

use faultline_schemas::ErrorType;

use super::Counters;
use crate::emit::{DropCount, Emit, EntryBody, EntryHeader, EntryView, ErrorView};
use crate::source::{CaptureDrop, KernelBuffer, ThreadTime};

/// `error_msg` of capture-drop entries.
pub const CAPTURE_DROP_MSG: &str = "capture-drop";

/// Packets a live capture dropped over its whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropTotals {
    /// Dropped because the capture buffer was full (faultline read too slowly).
    pub kernel: u64,
    /// Dropped by the interfaces or their drivers.
    pub interface: u64,
    /// False when some interface's drop counters could not be read: the totals then
    /// cover only the interfaces that do.
    pub counted: bool,
}

impl DropTotals {
    /// Nothing dropped, nothing uncounted: the start of a sum.
    pub const NONE: DropTotals = DropTotals {
        kernel: 0,
        interface: 0,
        counted: true,
    };

    /// Sum of two totals (over interfaces).
    pub fn plus(self, other: DropTotals) -> DropTotals {
        DropTotals {
            kernel: self.kernel + other.kernel,
            interface: self.interface + other.interface,
            counted: self.counted && other.counted,
        }
    }
}

/// Share of an interval the capture thread waited for a CPU from which drops are put down to
/// CPU starvation.
const STARVED_SHARE: f64 = 0.2;
/// Share of an interval the capture thread ran from which drops are put down to faultline
/// being too slow for the rate.
const BUSY_SHARE: f64 = 0.8;

/// Follows one interface's cumulative counters.
#[derive(Debug)]
pub(crate) struct DropTracker {
    last: Counters,
    last_us: i64,
    counted: bool,
    buffer: KernelBuffer,
}

impl DropTracker {
    /// Counting starts at `now_us`, from zero; `buffer` is what overflows on kernel drops.
    pub(crate) fn new(now_us: i64, buffer: KernelBuffer) -> Self {
        DropTracker {
            last: Counters::default(),
            last_us: now_us,
            counted: true,
            buffer,
        }
    }

    /// Takes a new reading; returns the interval's drops when there were any. Counters that
    /// went backwards (a reset) count from zero again. `thread` is how the capture thread
    /// spent the interval, when known.
    pub(crate) fn update<'a>(
        &mut self,
        interface: &'a str,
        reading: Option<Counters>,
        now_us: i64,
        thread: Option<ThreadTime>,
    ) -> Option<CaptureDrop<'a>> {
        let Some(now) = reading else {
            self.counted = false;
            return None;
        };
        let delta = |new: u64, old: u64| if new >= old { new - old } else { new };
        let drop = CaptureDrop {
            interface,
            from_us: self.last_us,
            to_us: now_us,
            kernel: delta(now.kernel, self.last.kernel),
            interface_drops: delta(now.interface, self.last.interface),
            buffer: self.buffer,
            thread,
        };
        self.last = now;
        self.last_us = now_us;
        (drop.total() > 0).then_some(drop)
    }

    /// Everything counted so far.
    pub(crate) fn totals(&self) -> DropTotals {
        DropTotals {
            kernel: self.last.kernel,
            interface: self.last.interface,
            counted: self.counted,
        }
    }
}

/// Text buffers reused for capture-drop entries (written only when drops happened).
#[derive(Debug, Default)]
pub struct DropEntryText {
    summary: String,
    reason: String,
}

impl DropEntryText {
    /// Emits the `loss` entry of one interval's drops: `capture_drops` holds the count and
    /// `capture_interval_us` the interval's length, the timestamp is the interval's end, the
    /// reason names the interval, which counter grew and why. Not tied to a flow: addresses are `0.0.0.0`, protocol 0.
    pub fn emit(&mut self, d: &CaptureDrop<'_>, out: &mut impl Emit) {
        let secs = (d.to_us - d.from_us) as f64 / 1e6;
        self.summary.clear();
        let _ = write!(
            self.summary,
            "capture dropped {} packets on {} in {secs:.1} s",
            d.total(),
            d.interface
        );
        self.reason.clear();
        if d.kernel > 0 {
            let buffer = match d.buffer {
                KernelBuffer::Ring => "capture ring (TPACKET_V3 ring overrun)",
                KernelBuffer::Socket => "capture socket (receive buffer full)",
            };
            let _ = write!(
                self.reason,
                "kernel: {} packets dropped by the {buffer} on {} between {} and {} µs: ",
                d.kernel, d.interface, d.from_us, d.to_us
            );
            write_cause(&mut self.reason, d);
        }
        if d.interface_drops > 0 {
            if !self.reason.is_empty() {
                self.reason.push_str("; ");
            }
            let _ = write!(
                self.reason,
                "interface: {} packets dropped by {} or its driver between {} and {} µs \
                 (before the capture saw them)",
                d.interface_drops, d.interface, d.from_us, d.to_us
            );
        }
        let none = (IpAddr::V4(Ipv4Addr::UNSPECIFIED), None);
        let header = EntryHeader::new(d.to_us, none, none, 0, &self.summary);
        out.entry(&EntryView::new(
            header.with_error(ErrorView {
                error_type: ErrorType::Loss,
                msg: CAPTURE_DROP_MSG,
                reason: &self.reason,
            }),
            EntryBody::CaptureDrop(DropCount {
                packets: d.total(),
                interval_us: d.to_us - d.from_us,
            }),
        ));
    }
}

/// Why faultline did not read fast enough, as far as the capture thread's CPU time tells.
fn write_cause(out: &mut String, d: &CaptureDrop<'_>) {
    let Some(t) = d.thread else {
        out.push_str("faultline did not read fast enough (CPU starvation or too small a buffer)");
        return;
    };
    let interval = (d.to_us - d.from_us).max(1) as f64;
    let running = t.running_us as f64 / interval;
    let waiting_ms = t.waiting_us / 1_000;
    let busy = (running * 100.0).round();
    if t.waiting_us as f64 >= STARVED_SHARE * interval {
        let _ = write!(
            out,
            "CPU starvation: the capture thread waited {waiting_ms} ms for a CPU taken by \
             other processes (it ran {busy}% of the interval)"
        );
    } else if running >= BUSY_SHARE {
        let _ = write!(
            out,
            "faultline too slow: the capture thread was busy {busy}% of the interval \
             (waited {waiting_ms} ms for a CPU)"
        );
    } else {
        let _ = write!(
            out,
            "a burst larger than the buffer, or faultline paused: the capture thread ran only \
             {busy}% of the interval and waited {waiting_ms} ms for a CPU (raise --buffer-mib)"
        );
    }
}

/// The capture thread's CPU time, read from `/proc/thread-self/schedstat` (running and
/// waiting-for-a-CPU nanoseconds since the thread started); reports per-interval increases.
#[derive(Debug, Default)]
pub(crate) struct ThreadClock {
    last: Option<(u64, u64)>,
}

impl ThreadClock {
    /// Starts from the calling thread's current reading.
    pub(crate) fn start() -> Self {
        ThreadClock {
            last: read_schedstat(),
        }
    }

    /// Time since the previous call (or [`ThreadClock::start`]), on the calling thread; `None`
    /// where schedstat is not available.
    pub(crate) fn interval(&mut self) -> Option<ThreadTime> {
        let now = read_schedstat();
        let time = self.last.zip(now).map(|((r0, w0), (r1, w1))| ThreadTime {
            running_us: r1.saturating_sub(r0) / 1_000,
            waiting_us: w1.saturating_sub(w0) / 1_000,
        });
        self.last = now;
        time
    }
}

/// Running and waiting nanoseconds of the calling thread.
fn read_schedstat() -> Option<(u64, u64)> {
    parse_schedstat(&std::fs::read_to_string("/proc/thread-self/schedstat").ok()?)
}

/// `"<running ns> <waiting ns> <timeslices>"`.
fn parse_schedstat(text: &str) -> Option<(u64, u64)> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<u64>);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::FlowView;
    use faultline_schemas::EntryKind;

    #[derive(Default)]
    struct Rows(Vec<(i64, String, String, Option<DropCount>)>);

    impl Emit for Rows {
        fn entry(&mut self, e: &EntryView<'_>) {
            let err = e.header.error.unwrap();
            assert_eq!(err.msg, CAPTURE_DROP_MSG);
            assert_eq!(err.error_type, ErrorType::Loss);
            assert_eq!(e.kind(), EntryKind::Loss);
            let drops = match e.body {
                EntryBody::CaptureDrop(d) => Some(d),
                _ => None,
            };
            self.0.push((
                e.header.ts_us,
                e.header.summary.to_owned(),
                err.reason.to_owned(),
                drops,
            ));
        }
        fn flow(&mut self, _: &FlowView<'_>) {
            unreachable!("no flows from drops")
        }
    }

    fn counters(kernel: u64, interface: u64) -> Option<Counters> {
        Some(Counters { kernel, interface })
    }

    #[test]
    fn only_increases_are_reported() {
        let mut t = DropTracker::new(1_000, KernelBuffer::Ring);
        assert_eq!(t.update("eth0", counters(0, 0), 2_000, None), None);
        let d = t.update("eth0", counters(7, 2), 3_000, None).unwrap();
        assert_eq!(
            (d.from_us, d.to_us, d.kernel, d.interface_drops),
            (2_000, 3_000, 7, 2)
        );
        assert_eq!(t.update("eth0", counters(7, 2), 4_000, None), None);
        let d = t.update("eth0", counters(10, 2), 5_000, None).unwrap();
        assert_eq!((d.from_us, d.kernel, d.interface_drops), (4_000, 3, 0));
        assert_eq!(
            t.totals(),
            DropTotals {
                kernel: 10,
                interface: 2,
                counted: true
            }
        );
    }

    #[test]
    fn a_reset_counts_from_zero() {
        let mut t = DropTracker::new(0, KernelBuffer::Ring);
        t.update("eth0", counters(100, 0), 1, None);
        let d = t.update("eth0", counters(4, 0), 2, None).unwrap();
        assert_eq!(d.kernel, 4);
    }

    #[test]
    fn no_counters_is_remembered() {
        let mut t = DropTracker::new(0, KernelBuffer::Ring);
        assert_eq!(t.update("eth0", None, 1, None), None);
        assert!(!t.totals().counted);
        assert!(!DropTotals::NONE.plus(t.totals()).counted);
        assert!(DropTotals::NONE.plus(DropTotals::NONE).counted);
    }

    #[test]
    fn entries_say_which_side_dropped() {
        let mut text = DropEntryText::default();
        let mut rows = Rows::default();
        let drop = CaptureDrop {
            interface: "eth0",
            from_us: 1_000_000,
            to_us: 6_000_000,
            kernel: 40,
            interface_drops: 0,
            buffer: KernelBuffer::Ring,
            thread: None,
        };
        text.emit(&drop, &mut rows);
        text.emit(
            &CaptureDrop {
                kernel: 0,
                interface_drops: 3,
                ..drop
            },
            &mut rows,
        );
        let (ts, summary, reason, count) = &rows.0[0];
        let count40 = DropCount {
            packets: 40,
            interval_us: 5_000_000,
        };
        assert_eq!((*ts, *count), (6_000_000, Some(count40)));
        assert_eq!(summary, "capture dropped 40 packets on eth0 in 5.0 s");
        assert!(reason.starts_with("kernel: 40 packets dropped by the capture ring"));
        assert!(!reason.contains("interface:"));
        let (_, _, reason, count) = &rows.0[1];
        assert_eq!(count.map(|c| c.packets), Some(3));
        assert!(reason.starts_with("interface: 3 packets dropped by eth0"));
    }

    fn reason_with(thread: Option<ThreadTime>, buffer: KernelBuffer) -> String {
        let mut rows = Rows::default();
        let drop = CaptureDrop {
            interface: "eth0",
            from_us: 0,
            to_us: 1_000_000,
            kernel: 5,
            interface_drops: 0,
            buffer,
            thread,
        };
        DropEntryText::default().emit(&drop, &mut rows);
        rows.0.remove(0).2
    }

    #[test]
    fn the_cause_follows_the_capture_threads_cpu_time() {
        let time = |running_us, waiting_us| {
            Some(ThreadTime {
                running_us,
                waiting_us,
            })
        };
        let starved = reason_with(time(100_000, 600_000), KernelBuffer::Ring);
        assert!(starved.contains("TPACKET_V3 ring overrun"), "{starved}");
        assert!(
            starved.contains("CPU starvation: the capture thread waited 600 ms"),
            "{starved}"
        );
        let busy = reason_with(time(950_000, 10_000), KernelBuffer::Socket);
        assert!(
            busy.contains("capture socket (receive buffer full)"),
            "{busy}"
        );
        assert!(busy.contains("faultline too slow: the capture thread was busy 95%"));
        let burst = reason_with(time(50_000, 0), KernelBuffer::Ring);
        assert!(burst.contains("a burst larger than the buffer"), "{burst}");
        let unknown = reason_with(None, KernelBuffer::Ring);
        assert!(unknown.contains("did not read fast enough"), "{unknown}");
    }

    #[test]
    fn schedstat_is_parsed_and_readable_here() {
        assert_eq!(parse_schedstat("123 456 7\n"), Some((123, 456)));
        assert_eq!(parse_schedstat("123"), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
        let mut clock = ThreadClock::start();
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {}
        let t = clock.interval().expect("schedstat on Linux");
        assert!(t.running_us >= 10_000, "{t:?}");
    }
}
