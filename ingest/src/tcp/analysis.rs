//! Per-connection TCP sequence analysis that reproduces Wireshark/tshark 4.0's `tcp.analysis.*`
//! flags (`tcp_analyze_sequence_number()` in `epan/dissectors/packet-tcp.c`).
//!
//! The analyser keeps, per direction, the numbers tshark keeps (next expected sequence number,
//! highest contiguous sequence number seen, last ACK and window, duplicate-ACK count) and runs
//! tshark's checks in tshark's order, quirks included: 0 means "unknown", sequence comparisons
//! are 32-bit modular, fast retransmissions must come within 20 ms of the peer's last ACK, and
//! out-of-order means "within one handshake RTT (or 3 ms) of the newest data". Where tshark
//! 4.0.17's behaviour differs from later Wireshark releases (spurious retransmission checked
//! first, the once-per-gap "ACKed unseen segment", SYN/FIN counted in the out-of-order test,
//! nextseq rewound on a repeated SYN) it was settled against tshark 4.0.17 itself.
//!
//! tshark's list of unacknowledged segments only feeds RTT/RTO and bytes-in-flight figures, never
//! a flag, so it is not kept; neither is `tcp.analysis.window_full` (it needs window-scaling
//! state and is not a loss signal). The analyser is `Copy`, under 150 bytes, and never allocates.

use crate::decode::{TcpSegment, tcp_flags};
use crate::emit::LossCounters;

bitflags::bitflags! {
    /// The `tcp.analysis.*` flags one segment raised. Bit values are tshark's `TCP_A_*` values.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub struct SegmentFlags: u16 {
        /// Plain retransmission (`TCP_A_RETRANSMISSION`).
        const RETRANSMISSION = 0x0001;
        /// Previous segment not captured: the sequence number jumped ahead.
        const LOST_SEGMENT = 0x0002;
        /// ACKed unseen segment: the ACK covers data that was never seen.
        const ACK_LOST_SEGMENT = 0x0004;
        /// Keep-alive: 0 or 1 byte one below the next expected sequence number.
        const KEEP_ALIVE = 0x0008;
        /// Duplicate ACK: same seq/ack/window as before, no payload.
        const DUPLICATE_ACK = 0x0010;
        /// The sender advertises a zero receive window.
        const ZERO_WINDOW = 0x0020;
        /// One byte sent into the peer's zero window.
        const ZERO_WINDOW_PROBE = 0x0040;
        /// ACK of a zero-window probe.
        const ZERO_WINDOW_PROBE_ACK = 0x0080;
        /// ACK of a keep-alive.
        const KEEP_ALIVE_ACK = 0x0100;
        /// Out-of-order: an old sequence number seen soon after newer data.
        const OUT_OF_ORDER = 0x0200;
        /// Fast retransmission: resend of what the peer's duplicate ACKs asked for.
        const FAST_RETRANSMISSION = 0x0400;
        /// Window update: only the window changed.
        const WINDOW_UPDATE = 0x0800;
        /// A SYN or SYN-ACK with a new ISN on a known 4-tuple (a pure SYN starts a new
        /// `tcp.stream` in tshark).
        const REUSED_PORTS = 0x2000;
        /// Spurious retransmission: resend of data the peer had already acknowledged.
        const SPURIOUS_RETRANSMISSION = 0x4000;
    }
}

impl SegmentFlags {
    /// The flags tshark shows as `tcp.analysis.retransmission`: plain, fast and spurious
    /// retransmissions alike.
    pub const ANY_RETRANSMISSION: SegmentFlags = SegmentFlags::RETRANSMISSION
        .union(SegmentFlags::FAST_RETRANSMISSION)
        .union(SegmentFlags::SPURIOUS_RETRANSMISSION);

    /// tshark's `tcp.analysis.*` fields, each with the flags that make tshark show it, for
    /// comparing with tshark's output field by field.
    pub const TSHARK_FIELDS: [(&'static str, SegmentFlags); 14] = [
        ("tcp.analysis.retransmission", Self::ANY_RETRANSMISSION),
        (
            "tcp.analysis.fast_retransmission",
            Self::FAST_RETRANSMISSION,
        ),
        (
            "tcp.analysis.spurious_retransmission",
            Self::SPURIOUS_RETRANSMISSION,
        ),
        ("tcp.analysis.lost_segment", Self::LOST_SEGMENT),
        ("tcp.analysis.ack_lost_segment", Self::ACK_LOST_SEGMENT),
        ("tcp.analysis.keep_alive", Self::KEEP_ALIVE),
        ("tcp.analysis.keep_alive_ack", Self::KEEP_ALIVE_ACK),
        ("tcp.analysis.duplicate_ack", Self::DUPLICATE_ACK),
        ("tcp.analysis.zero_window", Self::ZERO_WINDOW),
        ("tcp.analysis.zero_window_probe", Self::ZERO_WINDOW_PROBE),
        (
            "tcp.analysis.zero_window_probe_ack",
            Self::ZERO_WINDOW_PROBE_ACK,
        ),
        ("tcp.analysis.out_of_order", Self::OUT_OF_ORDER),
        ("tcp.analysis.window_update", Self::WINDOW_UPDATE),
        ("tcp.analysis.reused_ports", Self::REUSED_PORTS),
    ];

    /// tshark's `tcp.analysis.retransmission` field, which it sets for plain, fast and spurious
    /// retransmissions alike.
    pub fn is_retransmission(self) -> bool {
        self.intersects(Self::ANY_RETRANSMISSION)
    }

    /// The flags behind tshark's field `name` (`tcp.analysis.…`); `None` for a field not in
    /// [`Self::TSHARK_FIELDS`].
    pub fn of_tshark_field(name: &str) -> Option<SegmentFlags> {
        Self::TSHARK_FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }
}

/// Fast retransmission must follow the peer's last (duplicate) ACK within this many µs.
const FAST_RETRANSMISSION_WINDOW_US: u64 = 20_000;
/// Out-of-order threshold when the handshake RTT is unknown, µs.
const DEFAULT_OOO_THRESHOLD_US: u64 = 3_000;

/// `LT_SEQ`: `a` before `b` in 32-bit sequence space.
fn lt_seq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `GT_SEQ`: `a` after `b`.
fn gt_seq(a: u32, b: u32) -> bool {
    lt_seq(b, a)
}

/// `LE_SEQ`: `a` not after `b`.
fn le_seq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}

/// Elapsed time as tshark computes it: an unsigned difference, so a clock going backwards gives
/// a huge value rather than a negative one.
fn elapsed_us(now_us: i64, then_us: i64) -> u64 {
    now_us.wrapping_sub(then_us) as u64
}

/// Sequence state of one direction (tshark's `tcp_flow_t` + `tcp_analyze_seq_flow_info_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Direction {
    /// Initial sequence number (or first seq - 1 when the SYN was not seen).
    base_seq: u32,
    /// `base_seq` is known.
    base_set: bool,
    /// Next expected sequence number; 0 = nothing seen yet (as in tshark).
    nextseq: u32,
    /// When `nextseq` last advanced, µs.
    nextseq_us: i64,
    /// Highest contiguous sequence number seen, which the peer may ACK; 0 = unknown.
    max_seq_to_ack: u32,
    /// Last ACK number sent in this direction.
    lastack: u32,
    /// When `lastack` was sent, µs.
    lastack_us: i64,
    /// Last raw (unscaled) window, as tshark compares it; `u32::MAX` before the first segment.
    window: u32,
    /// Duplicate ACKs in a row (tshark's `dupacknum`; -1 marks an "ACKed unseen" report).
    dupacks: i32,
    /// Flags of the last segment in this direction.
    last_flags: SegmentFlags,
}

impl Direction {
    const NEW: Self = Self {
        base_seq: 0,
        base_set: false,
        nextseq: 0,
        nextseq_us: 0,
        max_seq_to_ack: 0,
        lastack: 0,
        lastack_us: 0,
        window: u32::MAX,
        dupacks: 0,
        last_flags: SegmentFlags::empty(),
    };
}

/// The fields of a segment the analysis looks at.
#[derive(Debug, Clone, Copy)]
struct Seg {
    seq: u32,
    ack: u32,
    len: u32,
    window: u32,
    flags: u8,
    ts_us: i64,
}

impl Seg {
    fn any(&self, mask: u8) -> bool {
        self.flags & mask != 0
    }

    /// SYN or FIN: occupies one sequence number.
    fn syn_or_fin(&self) -> bool {
        self.any(tcp_flags::SYN | tcp_flags::FIN)
    }

    /// None of SYN, FIN, RST.
    fn no_syn_fin_rst(&self) -> bool {
        !self.any(tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST)
    }

    /// SYN without ACK.
    fn pure_syn(&self) -> bool {
        self.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
    }

    /// ACK without SYN.
    fn ack_no_syn(&self) -> bool {
        self.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::ACK
    }
}

/// tshark's TCP sequence analysis for one connection (both directions).
///
/// Feed every TCP segment of the connection in capture order; each call returns the flags tshark
/// would show on that packet. A SYN whose sequence number differs from the first one seen in its
/// direction starts the analysis over (tshark opens a new `tcp.stream` then) but keeps the
/// counters; [`TcpAnalyzer::is_port_reuse`] tells a flow table when to split the flow instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpAnalyzer {
    /// `[originator, responder]`.
    dirs: [Direction; 2],
    /// Time of the most recent SYN, µs; 0 = none.
    mru_syn_us: i64,
    /// Handshake RTT (most recent SYN to the first ACK), µs; 0 = unknown.
    first_rtt_us: i64,
    /// Running totals.
    counters: LossCounters,
}

impl Default for TcpAnalyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpAnalyzer {
    /// A fresh analyser for a connection with no segments seen.
    pub const fn new() -> Self {
        Self {
            dirs: [Direction::NEW; 2],
            mru_syn_us: 0,
            first_rtt_us: 0,
            counters: LossCounters {
                retransmissions: 0,
                fast_retransmissions: 0,
                lost_segments: 0,
                ack_lost_segments: 0,
                dup_acks: 0,
                out_of_order: 0,
                zero_windows: 0,
            },
        }
    }

    /// Totals of the flags raised so far.
    ///
    /// Each counter counts the packets on which tshark shows the field of the same name, so
    /// `retransmissions` counts plain, fast and spurious retransmissions together (tshark sets
    /// `tcp.analysis.retransmission` on all three) and `fast_retransmissions` is a subset of it.
    pub fn counters(&self) -> LossCounters {
        self.counters
    }

    /// True when `seg` would make tshark start a new `tcp.stream` on this 4-tuple: a SYN (no
    /// ACK) whose sequence number differs from the first one seen from that side.
    pub fn is_port_reuse(&self, from_orig: bool, seg: &TcpSegment<'_>) -> bool {
        let d = &self.dirs[usize::from(!from_orig)];
        seg.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
            && d.base_set
            && seg.seq != d.base_seq
    }

    /// Analyses one segment sent by the originator (`from_orig`) or the responder at `ts_us`
    /// and returns the flags tshark would show on it.
    pub fn on_segment(
        &mut self,
        from_orig: bool,
        seg: &TcpSegment<'_>,
        ts_us: i64,
    ) -> SegmentFlags {
        let s = Seg {
            seq: seg.seq,
            ack: seg.ack,
            len: seg.payload_len,
            window: u32::from(seg.window),
            flags: seg.flags,
            ts_us,
        };
        let f = usize::from(!from_orig);
        let mut flags = self.check_reuse(f, &s);
        self.analyze(f, &s, &mut flags);
        self.track_handshake_rtt(&s);
        self.count(flags);
        flags
    }

    /// tshark's SYN / SYN-ACK handling in `dissect_tcp()`, before the sequence analysis: a new
    /// ISN on a pure SYN starts over, on a SYN-ACK it replaces the base; the same ISN on a pure
    /// SYN rewinds nextseq to the contiguous edge, which a RST with an arbitrary sequence number
    /// may have moved (Wireshark issue 17616).
    fn check_reuse(&mut self, f: usize, s: &Seg) -> SegmentFlags {
        let d = self.dirs[f];
        if !d.base_set || !s.any(tcp_flags::SYN) {
            return SegmentFlags::empty();
        }
        if s.seq != d.base_seq {
            if s.pure_syn() {
                let counters = self.counters;
                *self = Self::new();
                self.counters = counters;
            } else {
                self.dirs[f].base_seq = s.seq;
            }
            return SegmentFlags::REUSED_PORTS;
        }
        if s.pure_syn() {
            self.dirs[f].nextseq = d.max_seq_to_ack;
        }
        SegmentFlags::empty()
    }

    /// After the analysis: remember the latest SYN and derive the handshake RTT from the first
    /// ACK after it (tshark's `ts_mru_syn` / `ts_first_rtt`).
    fn track_handshake_rtt(&mut self, s: &Seg) {
        if s.pure_syn() {
            self.mru_syn_us = s.ts_us;
        }
        if s.ack_no_syn() && self.mru_syn_us != 0 && self.first_rtt_us == 0 {
            self.first_rtt_us = s.ts_us.wrapping_sub(self.mru_syn_us);
        }
    }

    /// Adds one segment's flags to the totals (saturating: counters never wrap or panic).
    fn count(&mut self, flags: SegmentFlags) {
        let bump = |n: &mut u32, on: bool| *n = n.saturating_add(u32::from(on));
        let c = &mut self.counters;
        bump(&mut c.retransmissions, flags.is_retransmission());
        bump(
            &mut c.fast_retransmissions,
            flags.contains(SegmentFlags::FAST_RETRANSMISSION),
        );
        bump(
            &mut c.lost_segments,
            flags.contains(SegmentFlags::LOST_SEGMENT),
        );
        bump(
            &mut c.ack_lost_segments,
            flags.contains(SegmentFlags::ACK_LOST_SEGMENT),
        );
        bump(&mut c.dup_acks, flags.contains(SegmentFlags::DUPLICATE_ACK));
        bump(
            &mut c.out_of_order,
            flags.contains(SegmentFlags::OUT_OF_ORDER),
        );
        bump(
            &mut c.zero_windows,
            flags.contains(SegmentFlags::ZERO_WINDOW),
        );
    }

    /// `tcp_analyze_sequence_number()`; `f` is the sending direction's index.
    fn analyze(&mut self, f: usize, s: &Seg, flags: &mut SegmentFlags) {
        let first_rtt_us = self.first_rtt_us;
        let [d0, d1] = &mut self.dirs;
        let (fwd, rev) = if f == 0 { (d0, d1) } else { (d1, d0) };

        if !fwd.base_set {
            fwd.base_seq = if s.any(tcp_flags::SYN) {
                s.seq
            } else {
                s.seq.wrapping_sub(1)
            };
            fwd.base_set = true;
        }
        if !rev.base_set && s.any(tcp_flags::ACK) {
            rev.base_seq = s.ack.wrapping_sub(1);
            rev.base_set = true;
        }

        forward_checks(fwd, rev, s, flags);
        if s.ack != fwd.lastack {
            fwd.dupacks = 0;
        }
        ack_lost_check(rev, s, flags);
        if s.len > 0 || s.syn_or_fin() {
            retransmission_checks(fwd, rev, s, first_rtt_us, flags);
        }
        advance(fwd, s, *flags);
    }
}

/// The checks before tshark's `finished_fwd` label: zero window (probe), lost segment,
/// keep-alive, window update, keep-alive / zero-window-probe ACK and duplicate ACK.
fn forward_checks(fwd: &mut Direction, rev: &Direction, s: &Seg, flags: &mut SegmentFlags) {
    if s.len == 1 && s.seq == fwd.nextseq && rev.window == 0 {
        *flags |= SegmentFlags::ZERO_WINDOW_PROBE;
        return;
    }
    if s.window == 0 && s.no_syn_fin_rst() {
        *flags |= SegmentFlags::ZERO_WINDOW;
    }
    if fwd.nextseq != 0 && gt_seq(s.seq, fwd.nextseq) && !s.any(tcp_flags::RST) {
        *flags |= SegmentFlags::LOST_SEGMENT;
    }
    if s.len <= 1 && s.seq == fwd.nextseq.wrapping_sub(1) && s.no_syn_fin_rst() {
        *flags |= SegmentFlags::KEEP_ALIVE;
    }
    // The remaining checks all concern empty segments repeating the last seq and ack.
    if s.len != 0 || !s.no_syn_fin_rst() || s.seq != fwd.nextseq || s.ack != fwd.lastack {
        return;
    }
    if s.window != 0 && s.window != fwd.window {
        *flags |= SegmentFlags::WINDOW_UPDATE;
    }
    if s.window != 0 && s.window == fwd.window && rev.last_flags.contains(SegmentFlags::KEEP_ALIVE)
    {
        *flags |= SegmentFlags::KEEP_ALIVE_ACK;
        return;
    }
    if s.window == 0 && fwd.window == 0 && rev.last_flags.contains(SegmentFlags::ZERO_WINDOW_PROBE)
    {
        *flags |= SegmentFlags::ZERO_WINDOW_PROBE_ACK;
        return;
    }
    if s.window != 0 && s.window == fwd.window {
        // -1 (an "ACKed unseen" marker) counts as no duplicate ACK yet.
        fwd.dupacks = fwd.dupacks.max(0).saturating_add(1);
        *flags |= SegmentFlags::DUPLICATE_ACK;
    }
}

/// ACKed unseen segment: the ACK goes beyond the highest contiguous sequence number seen from
/// the peer. tshark 4.0 reports a gap once: while the peer has sent nothing new, the report
/// repeats only after the peer's own ACK number moved (its duplicate-ACK counter doubles as
/// the marker, set to -1 here).
fn ack_lost_check(rev: &mut Direction, s: &Seg, flags: &mut SegmentFlags) {
    if rev.max_seq_to_ack == 0 || !gt_seq(s.ack, rev.max_seq_to_ack) || !s.any(tcp_flags::ACK) {
        return;
    }
    if lt_seq(rev.max_seq_to_ack, rev.nextseq) {
        rev.max_seq_to_ack = rev.nextseq;
        *flags |= SegmentFlags::ACK_LOST_SEGMENT;
    } else {
        if rev.dupacks == 0 {
            *flags |= SegmentFlags::ACK_LOST_SEGMENT;
        }
        rev.dupacks = -1;
    }
}

/// Classifies a segment carrying data, SYN or FIN, in tshark 4.0's order: spurious
/// retransmission (data the peer already ACKed), then, if it does not advance the sequence
/// number, fast retransmission, out-of-order or plain retransmission.
fn retransmission_checks(
    fwd: &Direction,
    rev: &Direction,
    s: &Seg,
    first_rtt_us: i64,
    flags: &mut SegmentFlags,
) {
    if flags.contains(SegmentFlags::KEEP_ALIVE) {
        return;
    }
    if s.len > 0 && rev.lastack != 0 && le_seq(s.seq.wrapping_add(s.len), rev.lastack) {
        *flags |= SegmentFlags::SPURIOUS_RETRANSMISSION;
        return;
    }
    // More than one byte starting one below nextseq is new data after a zero-window probe.
    let seq_not_advanced = fwd.nextseq != 0
        && lt_seq(s.seq, fwd.nextseq)
        && !(s.len > 1 && fwd.nextseq.wrapping_sub(1) == s.seq);
    if !seq_not_advanced {
        return;
    }
    // tshark keeps the count unsigned: the "ACKed unseen" marker (-1) passes this test too.
    if (rev.dupacks >= 2 || rev.dupacks < 0)
        && rev.lastack == s.seq
        && elapsed_us(s.ts_us, rev.lastack_us) < FAST_RETRANSMISSION_WINDOW_US
    {
        *flags |= SegmentFlags::FAST_RETRANSMISSION;
        return;
    }
    // A negative RTT (clock going backwards) becomes huge, as in tshark's unsigned arithmetic.
    let ooo_threshold_us = if first_rtt_us == 0 {
        DEFAULT_OOO_THRESHOLD_US
    } else {
        first_rtt_us as u64
    };
    let end = s
        .seq
        .wrapping_add(s.len)
        .wrapping_add(u32::from(s.syn_or_fin()));
    if elapsed_us(s.ts_us, fwd.nextseq_us) < ooo_threshold_us && fwd.nextseq != end {
        *flags |= SegmentFlags::OUT_OF_ORDER;
        return;
    }
    *flags |= SegmentFlags::RETRANSMISSION;
}

/// tshark's bookkeeping after the checks: next expected and highest contiguous sequence
/// numbers (zero-window probes advance neither), last ACK and window, last flags.
fn advance(fwd: &mut Direction, s: &Seg, flags: SegmentFlags) {
    let probe = flags.contains(SegmentFlags::ZERO_WINDOW_PROBE);
    let nextseq = s
        .seq
        .wrapping_add(s.len)
        .wrapping_add(u32::from(s.syn_or_fin()));
    if (gt_seq(nextseq, fwd.nextseq) || fwd.nextseq == 0) && !probe {
        fwd.nextseq = nextseq;
        fwd.nextseq_us = s.ts_us;
    }
    if (s.seq == fwd.max_seq_to_ack || fwd.max_seq_to_ack == 0) && !probe {
        fwd.max_seq_to_ack = fwd.nextseq;
    }
    fwd.window = s.window;
    fwd.lastack = s.ack;
    fwd.lastack_us = s.ts_us;
    fwd.last_flags = flags;
}

#[cfg(test)]
mod tests {
    //! Expected flags are what tshark 4.0.17 shows on the same segments, written to a pcap.
    use super::*;

    const NONE: SegmentFlags = SegmentFlags::empty();
    const RETX: SegmentFlags = SegmentFlags::RETRANSMISSION;
    const LOST: SegmentFlags = SegmentFlags::LOST_SEGMENT;
    const ACKLOST: SegmentFlags = SegmentFlags::ACK_LOST_SEGMENT;
    const DUPACK: SegmentFlags = SegmentFlags::DUPLICATE_ACK;
    const REUSE: SegmentFlags = SegmentFlags::REUSED_PORTS;

    /// One segment: time in ms, sender ('C' originator / 'S' responder), flags, seq, ack,
    /// window, payload length.
    type Spec = (i64, char, &'static str, u32, u32, u16, u32);

    fn tcp_flag_bits(flags: &str) -> u8 {
        flags.chars().fold(0, |acc, c| {
            acc | match c {
                'F' => tcp_flags::FIN,
                'S' => tcp_flags::SYN,
                'R' => tcp_flags::RST,
                'P' => tcp_flags::PSH,
                'A' => tcp_flags::ACK,
                _ => panic!("unknown flag {c}"),
            }
        })
    }

    fn run_on(analyzer: &mut TcpAnalyzer, specs: &[Spec]) -> Vec<SegmentFlags> {
        specs
            .iter()
            .map(|&(ms, dir, flags, seq, ack, window, len)| {
                let (src_port, dst_port) = if dir == 'C' { (40000, 80) } else { (80, 40000) };
                let seg = TcpSegment {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    flags: tcp_flag_bits(flags),
                    window,
                    window_scale: None,
                    payload_len: len,
                    payload: &[],
                };
                analyzer.on_segment(dir == 'C', &seg, 1_700_000_000_000_000 + ms * 1000)
            })
            .collect()
    }

    fn run(specs: &[Spec]) -> Vec<SegmentFlags> {
        run_on(&mut TcpAnalyzer::new(), specs)
    }

    const HANDSHAKE: [Spec; 3] = [
        (0, 'C', "S", 1000, 0, 1000, 0),
        (1, 'S', "SA", 5000, 1001, 1000, 0),
        (2, 'C', "A", 1001, 5001, 1000, 0),
    ];

    fn with_handshake(rest: &[Spec]) -> Vec<SegmentFlags> {
        let specs: Vec<Spec> = HANDSHAKE.iter().chain(rest).copied().collect();
        let flags = run(&specs);
        assert_eq!(flags[..3], [NONE; 3], "handshake");
        flags[3..].to_vec()
    }

    #[test]
    fn acked_unseen_reported_once_while_the_peer_is_silent() {
        let flags = with_handshake(&[
            (10, 'S', "A", 5001, 1001, 1000, 100),
            (11, 'C', "A", 1001, 5201, 1000, 0),
            (12, 'C', "A", 1001, 5301, 1000, 0),
        ]);
        assert_eq!(flags, [NONE, ACKLOST, NONE]);
    }

    /// tshark 4.0.17 on the same segments: after the client's "ACKed unseen" report (which
    /// leaves the server's duplicate-ACK count at its -1 marker, unsigned in tshark), a resend
    /// of what the server last acknowledged, within 20 ms of that ACK, is a fast
    /// retransmission with no duplicate ACK at all (found by `tcp_random_oracle.rs`).
    #[test]
    fn the_acked_unseen_marker_passes_the_fast_retransmission_test() {
        let flags = with_handshake(&[
            (10, 'S', "PA", 5001, 1001, 1000, 328),
            (12, 'C', "A", 1884, 5809, 1000, 1432),
            (13, 'C', "A", 1001, 5809, 1000, 883),
        ]);
        let fast = SegmentFlags::FAST_RETRANSMISSION;
        assert_eq!(flags, [NONE, LOST | ACKLOST, fast]);
    }

    #[test]
    fn acked_unseen_reported_again_after_the_peer_acks_something_new() {
        let flags = with_handshake(&[
            (10, 'S', "A", 5001, 1001, 1000, 100),
            (11, 'C', "A", 1001, 5201, 1000, 0),
            (12, 'C', "PA", 1001, 5201, 1000, 50),
            (13, 'S', "A", 5101, 1051, 1000, 0),
            (14, 'C', "A", 1051, 5201, 1000, 0),
        ]);
        assert_eq!(flags, [NONE, ACKLOST, NONE, NONE, ACKLOST | DUPACK]);
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let flags = run(&[
            (0, 'C', "S", 1000, 0, 1000, 0),
            (1, 'S', "SA", 4_294_967_000, 1001, 1000, 0),
            (2, 'C', "A", 1001, 4_294_967_001, 1000, 0),
            (10, 'S', "A", 4_294_967_001, 1001, 1000, 100),
            (11, 'C', "A", 1001, 4_294_967_201, 1000, 0),
            (12, 'S', "A", 200, 1001, 1000, 100),
            (13, 'C', "A", 1001, 300, 1000, 0),
        ]);
        assert_eq!(flags, [NONE, NONE, NONE, NONE, ACKLOST, LOST, ACKLOST]);
    }

    #[test]
    fn repeated_syn_rewinds_past_a_stray_rst() {
        let flags = run(&[
            (0, 'C', "S", 1000, 0, 1000, 0),
            (1, 'S', "A", 9000, 7777, 1000, 0),
            (2, 'C', "R", 7777, 0, 0, 0),
            (100, 'C', "S", 1000, 0, 1000, 0),
            (101, 'S', "SA", 5000, 1001, 1000, 0),
            (102, 'C', "A", 1001, 5001, 1000, 0),
            (110, 'C', "PA", 1001, 5001, 1000, 10),
        ]);
        assert_eq!(flags, [NONE, ACKLOST, NONE, RETX, RETX | REUSE, NONE, NONE]);
    }

    #[test]
    fn lost_out_of_order_retransmission_and_fast_retransmission() {
        let flags = run(&[
            (0, 'C', "S", 1000, 0, 1000, 0),
            (25, 'S', "SA", 5000, 1001, 1000, 0),
            (50, 'C', "A", 1001, 5001, 1000, 0), // handshake RTT 50 ms
            (100, 'C', "PA", 1101, 5001, 1000, 100),
            (110, 'C', "PA", 1001, 5001, 1000, 100), // 10 ms < RTT: out of order
            (200, 'C', "PA", 1201, 5001, 1000, 100),
            (300, 'C', "PA", 1201, 5001, 1000, 100), // 100 ms later: retransmission
            (301, 'S', "A", 5001, 1301, 1000, 0),
            (302, 'S', "A", 5001, 1301, 1000, 0),
            (303, 'S', "A", 5001, 1301, 1000, 0),
            (310, 'C', "PA", 1301, 5001, 1000, 100),
            (311, 'S', "A", 5001, 1301, 1000, 0),
            (315, 'C', "PA", 1301, 5001, 1000, 100), // 3 dup ACKs, 4 ms: fast retransmission
            (400, 'S', "A", 5001, 1401, 1000, 0),
            (401, 'C', "PA", 1401, 5001, 1000, 1),
        ]);
        let fast = SegmentFlags::FAST_RETRANSMISSION;
        let ooo = SegmentFlags::OUT_OF_ORDER;
        assert_eq!(
            flags,
            [
                NONE, NONE, NONE, LOST, ooo, NONE, RETX, NONE, DUPACK, DUPACK, NONE, DUPACK, fast,
                NONE, NONE
            ]
        );
        assert!(flags[12].is_retransmission());
    }

    #[test]
    fn windows_keep_alives_spurious_and_port_reuse() {
        use SegmentFlags as F;
        let mut analyzer = TcpAnalyzer::new();
        let flags = run_on(
            &mut analyzer,
            &[
                (0, 'C', "S", 1000, 0, 1000, 0),
                (1, 'S', "SA", 5000, 1001, 1000, 0),
                (2, 'C', "A", 1001, 5001, 1000, 0),
                (10, 'C', "PA", 1001, 5001, 1000, 100),
                (11, 'S', "A", 5001, 1101, 0, 0),
                (12, 'C', "A", 1100, 5001, 1000, 1),
                (13, 'C', "A", 1101, 5001, 1000, 1),
                (14, 'S', "A", 5001, 1101, 0, 0),
                (15, 'S', "A", 5001, 1101, 500, 0),
                (16, 'C', "A", 1101, 5001, 1000, 0),
                (17, 'C', "A", 1100, 5001, 1000, 0),
                (18, 'S', "A", 5001, 1101, 500, 0),
                (19, 'S', "A", 5001, 1101, 500, 0),
                (20, 'C', "PA", 1101, 5001, 1000, 50),
                (21, 'C', "PA", 1101, 5001, 1000, 50),
                (22, 'S', "A", 5001, 1151, 500, 0),
                (23, 'C', "PA", 1101, 5001, 1000, 50),
                (24, 'C', "FA", 1151, 5001, 1000, 0),
                (25, 'C', "FA", 1151, 5001, 1000, 0),
                (26, 'S', "FA", 5001, 1152, 500, 0),
                (27, 'C', "A", 1152, 5002, 1000, 0),
                (500, 'C', "S", 7000, 0, 1000, 0),
                (501, 'S', "SA", 8000, 7001, 1000, 0),
                (502, 'C', "A", 7001, 8001, 1000, 0),
                (503, 'S', "SA", 8000, 7001, 1000, 0),
                (504, 'S', "SA", 8500, 7001, 1000, 0),
            ],
        );
        let want = [
            NONE,
            NONE,
            NONE,
            NONE,
            F::ZERO_WINDOW,
            F::KEEP_ALIVE,
            F::ZERO_WINDOW_PROBE,
            F::ZERO_WINDOW | F::ZERO_WINDOW_PROBE_ACK,
            F::WINDOW_UPDATE,
            DUPACK,
            F::KEEP_ALIVE,
            F::KEEP_ALIVE_ACK,
            F::KEEP_ALIVE_ACK,
            NONE,
            RETX,
            NONE,
            F::SPURIOUS_RETRANSMISSION,
            NONE,
            RETX,
            NONE,
            NONE,
            REUSE,
            NONE,
            NONE,
            RETX,
            LOST | REUSE,
        ];
        assert_eq!(flags, want);
        let c = analyzer.counters();
        assert_eq!(
            (c.retransmissions, c.fast_retransmissions, c.out_of_order),
            (4, 0, 0)
        );
        assert_eq!(
            (
                c.lost_segments,
                c.ack_lost_segments,
                c.dup_acks,
                c.zero_windows
            ),
            (1, 0, 1, 2)
        );
        assert!(c.has_loss());
    }

    #[test]
    fn port_reuse_needs_a_new_isn_on_a_pure_syn() {
        let mut analyzer = TcpAnalyzer::new();
        run_on(&mut analyzer, &HANDSHAKE);
        let syn = |seq, flags| TcpSegment {
            src_port: 40000,
            dst_port: 80,
            seq,
            ack: 0,
            flags,
            window: 1000,
            window_scale: None,
            payload_len: 0,
            payload: &[],
        };
        assert!(!analyzer.is_port_reuse(true, &syn(1000, tcp_flags::SYN)));
        assert!(analyzer.is_port_reuse(true, &syn(2000, tcp_flags::SYN)));
        assert!(!analyzer.is_port_reuse(true, &syn(2000, tcp_flags::SYN | tcp_flags::ACK)));
        assert!(analyzer.is_port_reuse(false, &syn(2000, tcp_flags::SYN)));
        assert!(!TcpAnalyzer::new().is_port_reuse(true, &syn(2000, tcp_flags::SYN)));
    }

    #[test]
    fn backwards_clock_is_never_within_a_time_window() {
        // The retransmission comes "before" the newest data: tshark's unsigned difference is
        // huge, so it is a plain retransmission, not out-of-order.
        let flags = with_handshake(&[
            (10, 'C', "PA", 1001, 5001, 1000, 100),
            (5, 'C', "PA", 1001, 5001, 1000, 50),
        ]);
        assert_eq!(flags, [NONE, RETX]);
    }

    #[test]
    fn arbitrary_segments_never_panic() {
        // Extreme sequence numbers, windows and timestamps (overflow checks are on in tests).
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut analyzer = TcpAnalyzer::new();
        for _ in 0..20_000 {
            let r = next();
            let pick = |v: u64| [0, 1, u32::MAX, u32::MAX - 1, 1 << 31, v as u32][(v % 6) as usize];
            let seg = TcpSegment {
                src_port: 1,
                dst_port: 2,
                seq: pick(next()),
                ack: pick(next()),
                flags: (r >> 8) as u8,
                window: [0, 1, u16::MAX][(r % 3) as usize],
                window_scale: None,
                payload_len: pick(next()) % 3,
                payload: &[],
            };
            let ts = [i64::MIN, -1, 0, 1, i64::MAX, (r >> 20) as i64][(r >> 40) as usize % 6];
            analyzer.on_segment(r & 1 == 0, &seg, ts);
        }
        let c = analyzer.counters();
        assert!(c.fast_retransmissions <= c.retransmissions);
    }

    #[test]
    fn stays_small_and_copyable() {
        assert!(
            std::mem::size_of::<TcpAnalyzer>() <= 160,
            "{}",
            std::mem::size_of::<TcpAnalyzer>()
        );
    }
}
