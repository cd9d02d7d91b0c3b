//! One side of a TCP connection as Zeek's `TCP_Endpoint` keeps it: its state, sequence space
//! (initial, last and acknowledged sequence numbers with their wraps), FIN and RST bookkeeping,
//! the scaled counters behind history letters, and its reassembly model. [`super::state`] runs
//! the state machine over a pair of them.

use super::history::ScaledCounter;
use super::reassembly::Reassembly;
use super::state::NONE;

/// Zeek's `EndpointState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointState {
    /// Nothing seen from this side.
    Inactive,
    /// SYN seen, no ACK yet.
    SynSent,
    /// SYN-ACK seen, but not the initial SYN.
    SynAckSent,
    /// Data seen, but no SYN.
    Partial,
    /// Handshake done (or SYN-ACK seen for the responder).
    Established,
    /// FIN seen.
    Closed,
    /// RST seen.
    Reset,
}

/// `seq_delta`: signed 32-bit difference.
pub(super) fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// A sequence number with its wrap count as one 64-bit number.
pub(super) fn full(seq: u32, wraps: u32) -> u64 {
    (u64::from(wraps) << 32) + u64::from(seq)
}

/// One side of a connection (Zeek's `TCP_Endpoint`, the fields that matter here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub(super) state: EndpointState,
    pub(super) prev_state: EndpointState,
    /// Initial sequence number (Zeek keeps it as a signed 64-bit number).
    pub(super) start_seq: i64,
    /// Sequence number after the last one sent.
    pub(super) last_seq: u32,
    /// Highest acknowledgement the peer sent for this side's data.
    pub(super) ack_seq: u32,
    pub(super) seq_wraps: u32,
    pub(super) ack_wraps: u32,
    /// Relative sequence number after the FIN (Zeek's `FIN_seq`).
    pub(super) fin_seq: u64,
    /// Low 32 bits of the relative sequence numbers of the last SYN, FIN and RST (Zeek keeps
    /// 64 bits; only equality matters).
    pub(super) hist_last_syn: u32,
    pub(super) hist_last_fin: u32,
    pub(super) hist_last_rst: u32,
    pub(super) fin_cnt: u16,
    pub(super) rst_cnt: u16,
    pub(super) did_close: bool,
    pub(super) rxmt: ScaledCounter,
    pub(super) win0: ScaledCounter,
    pub(super) gap: ScaledCounter,
    pub(super) reassembly: Reassembly,
    /// Time of this side's first FIN and first RST, µs ([`NONE`] until seen).
    pub(super) first_fin_us: i64,
    pub(super) first_rst_us: i64,
}

impl Endpoint {
    pub(super) const NEW: Endpoint = Endpoint {
        state: EndpointState::Inactive,
        prev_state: EndpointState::Inactive,
        start_seq: 0,
        last_seq: 0,
        ack_seq: 0,
        seq_wraps: 0,
        ack_wraps: 0,
        fin_seq: 0,
        hist_last_syn: 0,
        hist_last_fin: 0,
        hist_last_rst: 0,
        fin_cnt: 0,
        rst_cnt: 0,
        did_close: false,
        rxmt: ScaledCounter::new(),
        win0: ScaledCounter::new(),
        gap: ScaledCounter::new(),
        reassembly: Reassembly::NEW,
        first_fin_us: NONE,
        first_rst_us: NONE,
    };

    pub(super) fn set_state(&mut self, s: EndpointState) {
        if s != self.state {
            self.prev_state = self.state;
            self.state = s;
        }
    }

    pub(super) fn start(&self) -> u32 {
        self.start_seq as u32
    }

    pub(super) fn init_seqs(&mut self, start: u32, ack: u32, last: u32) {
        self.start_seq = i64::from(start);
        self.ack_seq = ack;
        self.last_seq = last;
    }

    pub(super) fn update_last_seq(&mut self, seq: u32) {
        if seq < self.last_seq {
            self.seq_wraps = self.seq_wraps.wrapping_add(1);
        }
        self.last_seq = seq;
    }

    pub(super) fn update_ack_seq(&mut self, seq: u32) {
        if seq < self.ack_seq {
            self.ack_wraps = self.ack_wraps.wrapping_add(1);
        }
        self.ack_seq = seq;
    }

    pub(super) fn rel(&self, seq: u32, wraps: u32) -> u64 {
        full(seq, wraps).wrapping_sub(self.start_seq as u64)
    }

    /// Zeek's `get_relative_seq` with this endpoint as reference; second value: underflow.
    pub(super) fn relative(&self, cur: u32, last: u32, wraps: u32) -> (u64, bool) {
        let delta = seq_delta(cur, last);
        let mut wraps = wraps;
        if delta < 0 {
            if wraps > 0 && cur > last {
                wraps -= 1;
            }
        } else if delta > 0 && cur < last {
            wraps = wraps.wrapping_add(1);
        }
        if wraps == 0 {
            let d = seq_delta(cur, self.start());
            return (i64::from(d) as u64, d < 0);
        }
        (self.rel(cur, wraps), false)
    }

    pub(super) fn no_data_acked(&self) -> bool {
        let ack = full(self.ack_seq, self.ack_wraps);
        let start = self.start_seq as u64;
        ack == start || ack == start.wrapping_add(1)
    }

    /// Zeek's `TCP_Endpoint::Size`: payload bytes in sequence space (SYN and FIN excluded).
    pub(super) fn size(&self, peer_state: EndpointState) -> u64 {
        if self.prev_state == EndpointState::SynSent
            && self.state == EndpointState::Reset
            && peer_state == EndpointState::Inactive
            && !self.no_data_acked()
        {
            return 0;
        }
        let last = full(self.last_seq, self.seq_wraps);
        let ack = full(self.ack_seq, self.ack_wraps);
        let size = last
            .max(ack)
            .wrapping_sub(self.start_seq as u64)
            .saturating_sub(1);
        if self.fin_cnt > 0 {
            size.saturating_sub(1)
        } else {
            size
        }
    }

    /// Payload bytes sent but not acknowledged by the peer (the SYN's sequence number does
    /// not count; called only for connections without FIN).
    pub(super) fn unacked(&self) -> u64 {
        let first_data = (self.start_seq as u64).wrapping_add(1);
        let acked = full(self.ack_seq, self.ack_wraps).max(first_data);
        full(self.last_seq, self.seq_wraps).saturating_sub(acked)
    }

    /// The peer acknowledged this side's FIN.
    pub(super) fn fin_acked(&self) -> bool {
        self.fin_cnt > 0 && self.rel(self.ack_seq, self.ack_wraps) >= self.fin_seq
    }

    pub(super) fn is_clean(&self) -> bool {
        self.state == EndpointState::Established
            || (self.state == EndpointState::Closed
                && self.prev_state == EndpointState::Established)
    }
}
