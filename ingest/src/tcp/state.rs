//! Per-connection TCP state: Zeek's endpoint state machine (`TCPSessionAdapter` over two
//! `TCP_Endpoint`s, [`super::endpoint`]), from which come `conn_state`, `history` and payload
//! sizes, plus what the Kubeshark verdict and tshark's completeness need.
//!
//! The state machine follows Zeek's source closely (`init_endpoint`, `update_history`,
//! `update_last_seq`, `UpdateInactiveState` ... `UpdateClosedState`, `TCP_Endpoint::Size`), with
//! these simplifications: checksums are not verified (as `zeek -C`), the roles are never flipped
//! in the middle of a connection (Zeek does so for a SYN answered by a SYN it had taken for the
//! SYN-ACK), and content gaps (`G`/`g`) come from a small reassembly model
//! ([`super::reassembly`]). As in Zeek, payload cut by the snaplen is not reassembled, so
//! acknowledging it reveals a gap. What the connection's end means is in [`super::verdict`].

use super::analysis::{SegmentFlags, TcpAnalyzer};
use super::endpoint::{Endpoint, EndpointState, seq_delta};
use super::history::{History, completeness_update, mask, tcp_conn_state};
use crate::decode::TcpSegment;
use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};
use crate::emit::LossCounters;

/// "Not seen yet" for the timestamps below (a capture may well start at time 0).
pub(super) const NONE: i64 = i64::MIN;

/// Zeek refuses sequence jumps larger than this in SYN and RST segments.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

/// The parts of a segment the state machine reads.
#[derive(Debug, Clone, Copy)]
struct Seg {
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
    window: u16,
    /// The whole payload was captured (Zeek reassembles only such segments).
    captured: bool,
}

impl Seg {
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// State of one TCP connection, fixed-size, no heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConn {
    pub(super) ep: [Endpoint; 2],
    history: History,
    analyzer: TcpAnalyzer,
    /// Pure SYNs from the originator.
    pub(super) syns: u16,
    /// tshark completeness bits.
    completeness: u8,
    is_partial: bool,
    /// Bit 1 originator, bit 2 responder (Zeek's `first_packet_seen`).
    first_seen: u8,
    /// The originator ACKed after the responder's SYN-ACK.
    pub(super) handshake_acked: bool,
    pub(super) first_syn_us: i64,
    last_syn_us: i64,
    pub(super) synack_us: i64,
    /// Zeek's attempt timer start: the originator's first SYN from an inactive state (0 = none).
    attempt_us: i64,
    rtt_us: i64,
    first_loss_us: i64,
}

impl Default for TcpConn {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpConn {
    /// A connection with nothing seen yet.
    pub const fn new() -> Self {
        TcpConn {
            ep: [Endpoint::NEW; 2],
            history: History::new(),
            analyzer: TcpAnalyzer::new(),
            syns: 0,
            completeness: 0,
            is_partial: false,
            first_seen: 0,
            handshake_acked: false,
            first_syn_us: NONE,
            last_syn_us: NONE,
            synack_us: NONE,
            attempt_us: NONE,
            rtt_us: NONE,
            first_loss_us: NONE,
        }
    }

    /// Marks the roles as flipped by the originator heuristics (`^` in the history); call
    /// before the first segment.
    pub fn mark_flipped(&mut self) {
        self.history.flipped();
    }

    /// Zeek's `IsReuse`: would this segment start a new connection on the same 4-tuple? Only
    /// SYNs (and SYN-ACKs of a connection whose originator was never seen) qualify: either the
    /// connection has (half-)closed, or the SYN carries a new initial sequence number.
    pub fn is_reuse(&self, seg: &TcpSegment<'_>) -> bool {
        if seg.flags & SYN == 0 {
            return false;
        }
        let [orig, resp] = &self.ep;
        let conn_orig = if seg.flags & ACK != 0 {
            if orig.state != EndpointState::Inactive {
                return false;
            }
            resp
        } else {
            orig
        };
        if orig.did_close || resp.did_close {
            return true;
        }
        if seg.seq == conn_orig.start() {
            return false;
        }
        let flipped_handshake = seg.flags & ACK == 0
            && conn_orig.state == EndpointState::SynAckSent
            && resp.state == EndpointState::Inactive
            && seg.seq == resp.start();
        !flipped_handshake
    }

    /// Processes one segment, `from_orig` telling its direction.
    pub fn on_segment(&mut self, from_orig: bool, seg: &TcpSegment<'_>, ts_us: i64) {
        let first = self.first_seen == 0;
        self.completeness =
            completeness_update(self.completeness, seg.flags, seg.payload_len, first);
        let flags = self.analyzer.on_segment(from_orig, seg, ts_us);
        if self.first_loss_us == NONE && is_loss(flags) {
            self.first_loss_us = ts_us;
        }
        let s = Seg {
            flags: seg.flags,
            seq: seg.seq,
            ack: seg.ack,
            len: seg.payload_len,
            window: seg.window,
            captured: seg.payload.len() >= seg.payload_len as usize,
        };
        self.track_handshake(from_orig, &s, ts_us);
        self.zeek_process(from_orig, &s, ts_us);
        self.first_seen |= if from_orig { 1 } else { 2 };
    }

    fn track_handshake(&mut self, from_orig: bool, s: &Seg, ts_us: i64) {
        let syn_ack = s.flags & (SYN | ACK);
        if from_orig && syn_ack == SYN {
            self.syns = self.syns.saturating_add(1);
            if self.first_syn_us == NONE {
                self.first_syn_us = ts_us;
            }
            self.last_syn_us = ts_us;
        } else if !from_orig && syn_ack == SYN | ACK && self.synack_us == NONE {
            self.synack_us = ts_us;
            if self.last_syn_us != NONE {
                self.rtt_us = ts_us - self.last_syn_us;
            }
        } else if from_orig && syn_ack == ACK && self.synack_us != NONE && !self.handshake_acked {
            self.handshake_acked = true;
            if self.rtt_us == NONE && self.last_syn_us == NONE {
                self.rtt_us = ts_us - self.synack_us;
            }
        }
    }

    /// Zeek's `TCPAnalyzer::DeliverPacket`, minus checksums, events and content delivery.
    fn zeek_process(&mut self, is_orig: bool, s: &Seg, ts_us: i64) {
        let (e, p) = if is_orig { (0, 1) } else { (1, 0) };
        self.set_partial_status(s.flags, is_orig);
        let len = u64::from(s.len);
        let mut seg_len = i64::from(s.len);
        if s.has(SYN) {
            seg_len += 1;
        }
        if s.has(FIN) {
            seg_len += 1;
        }
        if s.has(RST) {
            seg_len -= i64::from(s.len);
        }
        let seq_past = s.seq.wrapping_add(seg_len as u32);
        self.init_endpoint(e, s, seq_past);
        let ep = &self.ep[e];
        let (rel_seq, underflow) = ep.relative(s.seq, ep.last_seq, ep.seq_wraps);
        self.update_history(e, is_orig, s, rel_seq, len);
        self.zero_window(e, p, is_orig, s);
        if s.has(FIN) {
            let ep = &mut self.ep[e];
            ep.fin_cnt = ep.fin_cnt.saturating_add(1);
            ep.fin_seq = rel_seq.wrapping_add(seg_len as u64);
            if ep.first_fin_us == NONE {
                ep.first_fin_us = ts_us;
            }
        }
        if s.has(RST) {
            let ep = &mut self.ep[e];
            ep.rst_cnt = ep.rst_cnt.saturating_add(1);
            if ep.first_rst_us == NONE {
                ep.first_rst_us = ts_us;
            }
        }
        let rel_ack = self.process_ack(p, s);
        self.update_last_seq(e, is_orig, seq_past, s);
        let do_close = self.update_state_machine(e, p, is_orig, s, ts_us);
        if let Some(rel_ack) = rel_ack {
            self.ack_received(p, rel_ack);
        }
        if len > 0 && s.captured && !s.has(RST) && !underflow {
            let rel_data = if s.has(SYN) {
                rel_seq.wrapping_add(1)
            } else {
                rel_seq
            };
            let ep = &mut self.ep[e];
            let acked = ep.rel(ep.ack_seq, ep.ack_wraps);
            ep.reassembly.data(rel_data, len, acked);
        }
        if do_close {
            self.ep[e].did_close = true;
        }
    }

    fn set_partial_status(&mut self, flags: u8, is_orig: bool) {
        let syn = flags & SYN != 0;
        if is_orig {
            if self.first_seen & 1 == 0 {
                self.is_partial = !syn || flags & ACK != 0;
            }
        } else if self.first_seen & 2 == 0 && !self.is_partial {
            self.is_partial = !syn;
        }
    }

    fn init_endpoint(&mut self, e: usize, s: &Seg, seq_past: u32) {
        let ep = &mut self.ep[e];
        let syn = s.has(SYN);
        match ep.state {
            EndpointState::Inactive => {
                if syn {
                    ep.init_seqs(s.seq, s.seq, seq_past);
                } else {
                    let before = s.seq.wrapping_sub(1);
                    ep.init_seqs(before, before, s.seq);
                }
            }
            EndpointState::SynSent | EndpointState::SynAckSent => {
                if syn && s.seq != ep.start() {
                    ep.init_seqs(s.seq, s.seq, seq_past);
                }
            }
            EndpointState::Established | EndpointState::Partial => {
                if syn {
                    ep.init_seqs(s.seq, s.seq, seq_past);
                }
            }
            EndpointState::Reset => {
                if syn && ep.prev_state == EndpointState::Inactive {
                    ep.init_seqs(s.seq, s.seq, seq_past);
                }
            }
            EndpointState::Closed => {}
        }
    }

    fn update_history(&mut self, e: usize, is_orig: bool, s: &Seg, rel_seq: u64, len: u64) {
        let (syn, fin, rst) = (s.has(SYN), s.has(FIN), s.has(RST));
        let h = &mut self.history;
        let ep = &mut self.ep[e];
        match u8::from(syn) + u8::from(fin) + u8::from(rst) {
            0 => {
                if len > 0 {
                    h.check(is_orig, mask::DATA, b'D');
                } else if s.has(ACK) {
                    h.check(is_orig, mask::ACK, b'A');
                }
            }
            1 => {
                if syn {
                    let code = if s.has(ACK) { b'H' } else { b'S' };
                    let at = rel_seq as u32;
                    if h.check(is_orig, mask::SYN, code) && at != ep.hist_last_syn {
                        h.add(is_orig, code);
                    }
                    ep.hist_last_syn = at;
                }
                if fin {
                    let end = rel_seq.wrapping_add(len) as u32;
                    if h.check(is_orig, mask::FIN, b'F') && end != ep.hist_last_fin {
                        h.add(is_orig, b'F');
                    }
                    ep.hist_last_fin = end;
                }
                if rst {
                    let at = rel_seq as u32;
                    if h.check(is_orig, mask::RST, b'R') && at != ep.hist_last_rst {
                        h.add(is_orig, b'R');
                    }
                    ep.hist_last_rst = at;
                }
            }
            _ => {
                if fin && rst {
                    h.check(is_orig, mask::FIN_RST, b'I');
                } else {
                    h.check(is_orig, mask::MULTI_FLAG, b'Q');
                }
            }
        }
    }

    /// Zeek's `update_window`, reduced to the zero-window history letter (`W`/`w`).
    fn zero_window(&mut self, e: usize, p: usize, is_orig: bool, s: &Seg) {
        if s.window == 0
            && !s.has(RST)
            && self.ep[p].state != EndpointState::Closed
            && self.ep[e].state != EndpointState::Reset
            && self.ep[e].win0.hit()
        {
            self.history.add(is_orig, b'W');
        }
    }

    /// ACK processing: initialises a peer seen for the first time, updates its
    /// acknowledged sequence number; returns the relative ACK to hand to its reassembly.
    fn process_ack(&mut self, p: usize, s: &Seg) -> Option<u64> {
        if !s.has(ACK) {
            return None;
        }
        let peer = &mut self.ep[p];
        if peer.state == EndpointState::Inactive {
            let before = s.ack.wrapping_sub(1);
            peer.init_seqs(before, before, before);
            return Some(1);
        }
        let (rel, underflow) = peer.relative(s.ack, peer.ack_seq, peer.ack_wraps);
        if underflow {
            return Some(0);
        }
        if !s.has(RST) {
            let delta = seq_delta(s.ack, peer.ack_seq);
            if !(s.ack == 0 && delta > TOO_LARGE_SEQ_DELTA) && delta > 0 {
                peer.update_ack_seq(s.ack);
            }
        }
        Some(rel)
    }

    /// Zeek's `update_last_seq`; records retransmissions (`T`/`t`).
    fn update_last_seq(&mut self, e: usize, is_orig: bool, seq_past: u32, s: &Seg) {
        let ep = &mut self.ep[e];
        let delta = seq_delta(seq_past, ep.last_seq);
        if (s.has(SYN) || s.has(RST))
            && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta)
        {
            // Zeek does not trust such jumps.
        } else if s.has(FIN) && ep.last_seq == ep.start().wrapping_add(1) {
            ep.update_last_seq(seq_past);
        } else if ep.state == EndpointState::Reset {
            // Nothing after a RST is trusted.
        } else if delta > 0 {
            ep.update_last_seq(seq_past);
        } else if s.len > 0 && ep.rxmt.hit() {
            self.history.add(is_orig, b'T');
        }
    }

    /// Zeek's `UpdateStateMachine`; returns whether this side's close is to be recorded.
    fn update_state_machine(
        &mut self,
        e: usize,
        p: usize,
        is_orig: bool,
        s: &Seg,
        ts_us: i64,
    ) -> bool {
        match self.ep[e].state {
            EndpointState::Inactive => self.update_inactive(e, p, is_orig, s, ts_us),
            EndpointState::SynSent | EndpointState::SynAckSent => self.update_syn_sent(e, s),
            EndpointState::Established | EndpointState::Partial => self.update_established(e, p, s),
            EndpointState::Closed => self.update_closed(e, p, s),
            EndpointState::Reset => false,
        }
    }

    fn update_inactive(&mut self, e: usize, p: usize, is_orig: bool, s: &Seg, ts_us: i64) -> bool {
        let mut do_close = false;
        if s.has(SYN) {
            if is_orig {
                let state = if s.has(ACK) {
                    EndpointState::SynAckSent
                } else {
                    EndpointState::SynSent
                };
                self.ep[e].set_state(state);
                if self.attempt_us == NONE {
                    self.attempt_us = ts_us;
                }
            } else {
                if !s.has(ACK)
                    && self.ep[p].state == EndpointState::SynAckSent
                    && s.seq == self.ep[e].start()
                {
                    // SYN/SYN-ACK reversal: Zeek flips the roles here; faultline keeps them.
                    self.is_partial = false;
                    self.ep[p].set_state(EndpointState::Established);
                    self.first_seen |= 1;
                }
                if self.ep[p].state == EndpointState::SynSent {
                    self.ep[p].set_state(EndpointState::Established);
                }
                self.ep[e].set_state(EndpointState::Established);
            }
        }
        if s.has(FIN) {
            self.ep[e].set_state(EndpointState::Closed);
            do_close = true;
        }
        if s.has(RST) {
            self.ep[e].set_state(EndpointState::Reset);
            do_close = true;
        }
        if self.ep[e].state == EndpointState::Inactive {
            if !is_orig && s.len == 0 && self.ep[0].state == EndpointState::SynSent {
                // An ACK of the SYN ahead of the SYN-ACK: not a partial connection.
            } else if s.has(ACK) && self.ep[p].state == EndpointState::Established {
                self.ep[e].set_state(EndpointState::Established);
                self.is_partial = false;
                self.first_seen |= if is_orig { 1 } else { 2 };
            } else {
                self.ep[e].set_state(EndpointState::Partial);
            }
        }
        do_close
    }

    fn update_syn_sent(&mut self, e: usize, s: &Seg) -> bool {
        let mut do_close = false;
        if s.has(FIN) {
            self.ep[e].set_state(EndpointState::Closed);
            do_close = true;
        }
        if s.has(RST) {
            self.ep[e].set_state(EndpointState::Reset);
            do_close = true;
        }
        do_close
    }

    fn update_established(&mut self, e: usize, p: usize, s: &Seg) -> bool {
        let mut do_close = false;
        if s.has(SYN)
            && !s.has(ACK)
            && self.ep[e].state == EndpointState::Partial
            && self.ep[p].state == EndpointState::Inactive
        {
            self.ep[e].set_state(EndpointState::SynSent);
        }
        if s.has(FIN) && !s.has(RST) {
            self.ep[e].set_state(EndpointState::Closed);
            let peer = &mut self.ep[p];
            if peer.state == EndpointState::Reset && peer.prev_state == EndpointState::Closed {
                peer.set_state(EndpointState::Closed);
            }
            do_close = true;
        }
        if s.has(RST) {
            self.ep[e].set_state(EndpointState::Reset);
            do_close = true;
        }
        do_close
    }

    fn update_closed(&mut self, e: usize, p: usize, s: &Seg) -> bool {
        if s.has(RST) && self.ep[p].state != EndpointState::Closed {
            self.ep[e].set_state(EndpointState::Reset);
            return !self.ep[e].did_close;
        }
        false
    }

    /// The peer `p` got an acknowledgement up to `rel_ack`: Zeek's `AckReceived`, which
    /// reports content gaps (`G`/`g`) for data acknowledged but never seen.
    fn ack_received(&mut self, p: usize, rel_ack: u64) {
        let q = 1 - p;
        let clean = self.ep[p].is_clean() && self.ep[q].is_clean();
        let partial = self.is_partial;
        let peer = &mut self.ep[p];
        let seq = if peer.fin_cnt > 0 && rel_ack >= peer.fin_seq {
            peer.fin_seq.wrapping_sub(1)
        } else {
            rel_ack
        };
        let gaps = peer.reassembly.ack(seq, partial);
        if clean {
            for _ in 0..gaps {
                if peer.gap.hit() {
                    self.history.add(p == 0, b'G');
                }
            }
        }
    }

    /// Zeek endpoint states, `[originator, responder]`.
    pub fn states(&self) -> [EndpointState; 2] {
        [self.ep[0].state, self.ep[1].state]
    }

    /// Payload bytes per direction as Zeek's `orig_bytes`/`resp_bytes` (sequence space).
    pub fn sizes(&self) -> (u64, u64) {
        let [o, r] = &self.ep;
        (o.size(r.state), r.size(o.state))
    }

    /// Zeek's history string.
    pub fn history(&self) -> &str {
        self.history.as_str()
    }

    /// Zeek's `conn_state`.
    pub fn conn_state(&self) -> &'static str {
        let [o, r] = self.states();
        tcp_conn_state(o, r, self.sizes(), self.history())
    }

    /// tshark's `tcp.completeness` bits, counting this connection as its own `tcp.stream`.
    pub fn completeness(&self) -> u8 {
        self.completeness
    }

    /// tshark's loss counters.
    pub fn loss(&self) -> LossCounters {
        self.analyzer.counters()
    }

    /// Time of the first segment tshark flagged as a retransmission or a gap, µs.
    pub fn first_loss_us(&self) -> Option<i64> {
        (self.first_loss_us != NONE).then_some(self.first_loss_us)
    }

    /// Handshake round-trip time: most recent SYN to SYN-ACK, or SYN-ACK to the originator's
    /// ACK when the SYN was not seen.
    pub fn handshake_rtt_us(&self) -> Option<i64> {
        (self.rtt_us >= 0).then_some(self.rtt_us)
    }

    /// True once the connection closed normally: both sides sent FIN, and both FINs were
    /// acknowledged or a RST ended the exchange (Zeek keeps such a connection `SF`).
    pub fn is_closed(&self) -> bool {
        let [o, r] = &self.ep;
        let both_fins = o.fin_cnt > 0 && r.fin_cnt > 0;
        both_fins && ((o.fin_acked() && r.fin_acked()) || o.rst_cnt > 0 || r.rst_cnt > 0)
    }

    /// True once either side is in Zeek's RST state.
    pub fn is_reset(&self) -> bool {
        self.ep.iter().any(|e| e.state == EndpointState::Reset)
    }

    /// When Zeek's connection-attempt timer started (the originator's first SYN), if the
    /// connection is still an unanswered attempt (originator SYN sent, responder silent).
    pub fn pending_attempt_us(&self) -> Option<i64> {
        let [o, r] = self.states();
        let attempting = matches!(o, EndpointState::SynSent | EndpointState::SynAckSent)
            && r == EndpointState::Inactive;
        (attempting && self.attempt_us != NONE).then_some(self.attempt_us)
    }
}

/// True when tshark flagged the segment as a retransmission or a gap.
fn is_loss(flags: SegmentFlags) -> bool {
    flags.is_retransmission()
        || flags.intersects(SegmentFlags::LOST_SEGMENT | SegmentFlags::ACK_LOST_SEGMENT)
}
