//! Capture loss as data: cumulative drop counters turned into per-interval increases, and each
//! increase into a `loss` entry with error message `capture-drop`.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

use faultline_schemas::{EntryKind, ErrorType};

use super::Counters;
use crate::emit::{Emit, EntryView, ErrorView};
use crate::source::CaptureDrop;

/// `error_msg` of capture-drop entries.
pub const CAPTURE_DROP_MSG: &str = "capture-drop";

/// Packets a live capture dropped over its whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropTotals {
    /// Dropped because the capture buffer was full (faultline read too slowly).
    pub kernel: u64,
    /// Dropped by the interfaces or their drivers.
    pub interface: u64,
    /// False when some interface's backend has no drop counters (pnet): the totals then
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

/// Follows one interface's cumulative counters.
#[derive(Debug)]
pub(crate) struct DropTracker {
    last: Counters,
    last_us: i64,
    counted: bool,
}

impl DropTracker {
    /// Counting starts at `now_us`, from zero.
    pub(crate) fn new(now_us: i64) -> Self {
        DropTracker {
            last: Counters::default(),
            last_us: now_us,
            counted: true,
        }
    }

    /// Takes a new reading; returns the interval's drops when there were any. Counters that
    /// went backwards (a reset) count from zero again.
    pub(crate) fn update<'a>(
        &mut self,
        interface: &'a str,
        reading: Option<Counters>,
        now_us: i64,
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
    /// Emits the `loss` entry of one interval's drops: `capture_drops` holds the count, the
    /// timestamp is the interval's end, the reason names the interval and which counter
    /// grew. Not tied to a flow: addresses are `0.0.0.0`, protocol 0.
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
            let _ = write!(
                self.reason,
                "kernel: {} packets dropped by the capture ring on {} between {} and {} µs \
                 (faultline did not read fast enough: CPU starvation or too small a buffer)",
                d.kernel, d.interface, d.from_us, d.to_us
            );
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
        out.entry(&EntryView {
            ts_us: d.to_us,
            kind: EntryKind::Loss,
            flow: None,
            src: none,
            dst: none,
            proto: 0,
            vlan: None,
            summary: &self.summary,
            error: Some(ErrorView {
                error_type: ErrorType::Loss,
                msg: CAPTURE_DROP_MSG,
                reason: &self.reason,
            }),
            icmp: None,
            loss: None,
            capture_drops: Some(d.total()),
            app: None,
            src_name: None,
            dst_name: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::FlowView;

    #[derive(Default)]
    struct Rows(Vec<(i64, String, String, Option<u64>)>);

    impl Emit for Rows {
        fn entry(&mut self, e: &EntryView<'_>) {
            let err = e.error.unwrap();
            assert_eq!(err.msg, CAPTURE_DROP_MSG);
            assert_eq!(err.error_type, ErrorType::Loss);
            assert_eq!(e.kind, EntryKind::Loss);
            self.0.push((
                e.ts_us,
                e.summary.to_owned(),
                err.reason.to_owned(),
                e.capture_drops,
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
        let mut t = DropTracker::new(1_000);
        assert_eq!(t.update("eth0", counters(0, 0), 2_000), None);
        let d = t.update("eth0", counters(7, 2), 3_000).unwrap();
        assert_eq!(
            (d.from_us, d.to_us, d.kernel, d.interface_drops),
            (2_000, 3_000, 7, 2)
        );
        assert_eq!(t.update("eth0", counters(7, 2), 4_000), None);
        let d = t.update("eth0", counters(10, 2), 5_000).unwrap();
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
        let mut t = DropTracker::new(0);
        t.update("eth0", counters(100, 0), 1);
        let d = t.update("eth0", counters(4, 0), 2).unwrap();
        assert_eq!(d.kernel, 4);
    }

    #[test]
    fn no_counters_is_remembered() {
        let mut t = DropTracker::new(0);
        assert_eq!(t.update("eth0", None, 1), None);
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
        assert_eq!((*ts, *count), (6_000_000, Some(40)));
        assert_eq!(summary, "capture dropped 40 packets on eth0 in 5.0 s");
        assert!(reason.starts_with("kernel: 40 packets dropped by the capture ring"));
        assert!(!reason.contains("interface:"));
        let (_, _, reason, count) = &rows.0[1];
        assert_eq!(*count, Some(3));
        assert!(reason.starts_with("interface: 3 packets dropped by eth0"));
    }
}
