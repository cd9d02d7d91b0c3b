//! Scripting of TCP connections: handshake, data transfer with slow start and delayed ACKs,
//! close, reset, and the loss patterns whose tshark analysis flags are known exactly.
//!
//! Timing model: the capture point sits next to the client. A client packet reaches the server
//! half an RTT after it is captured and the server's answer is captured half an RTT later, so
//! the server's reaction to a captured packet appears one RTT (plus processing) after it, the
//! client's within tens of microseconds.
//!
//! tshark rules the loss patterns are built on (Wireshark 4.0 `tcp_analyze_sequence_number`):
//! a data segment starting beyond the highest sequence seen so far is a *lost segment*; a pure
//! ACK repeating the previous ACK number and window of its direction is a *duplicate ACK*; a
//! segment (or SYN) below the highest sequence is a *retransmission*, and a *fast
//! retransmission* (also counted as retransmission) when at least two duplicate ACKs asked for
//! it less than 20 ms before. Normal traffic never repeats an ACK number in a pure ACK, and
//! retransmissions come later than the handshake RTT (so they are not out-of-order) and before
//! the receiver acknowledged them (so they are not spurious).

use super::rng::Rng;
use super::script::Script;
use super::truth::Counters;
use super::wire::{L4, Payload};
use crate::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};

/// Index of the client (originator) side.
pub(crate) const CLIENT: usize = 0;
/// Index of the server (responder) side.
pub(crate) const SERVER: usize = 1;

/// Maximum segment size used by both sides (no TCP timestamps).
pub(crate) const MSS: u32 = 1460;
/// Initial congestion window, in segments (even, like every later window, so that ACK-every-2
/// never leaves a segment waiting for the delayed-ACK timer inside a transfer).
const INITIAL_CWND: u32 = 10;
/// Delayed-ACK timer.
const DELAYED_ACK_US: i64 = 40_000;
/// Minimum retransmission timeout.
const MIN_RTO_US: i64 = 200_000;

#[derive(Debug, Clone, Copy)]
struct Side {
    node: u8,
    port: u16,
    /// Next sequence number to send.
    next: u32,
    /// Next sequence number expected from the peer (the ACK number it sends).
    rcv: u32,
    win: u16,
    syn_win: u16,
    ttl: u8,
    /// Time of this side's latest packet: a side's packets never overtake each other.
    last_ts: i64,
}

/// How a transfer goes wrong.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Plan {
    /// Segments lost before the capture point: (segment index, segments sent after it before
    /// the fast retransmission, each answered by a duplicate ACK).
    gaps: [(u32, u32); 2],
    ngaps: usize,
    /// The last segment is lost after the capture point and resent on timeout this many times
    /// (the last copy arrives).
    tail_rto: u32,
    /// Stop after writing the segment with this index (the connection is then reset).
    stop_after: Option<u32>,
}

impl Plan {
    /// Up to `want` gaps in a transfer of `len` bytes, spaced so that each one's duplicate ACKs
    /// follow an ACK of the segment just before it. Returns the plan and the number of gaps.
    pub(crate) fn with_gaps(rng: &mut Rng, len: u32, want: usize) -> Plan {
        let nseg = len.div_ceil(MSS);
        let mut plan = Plan::default();
        let mut lo = 1u32;
        for _ in 0..want.min(2) {
            let dups = rng.range_u32(3, 5);
            // Need the gap, `dups` segments after it and one more segment to finish.
            let Some(hi) = nseg.checked_sub(dups + 2) else {
                break;
            };
            if hi < lo {
                break;
            }
            let g = rng.range_u32(lo, lo + (hi - lo) / 3);
            plan.gaps[plan.ngaps] = (g, dups);
            plan.ngaps += 1;
            lo = g + dups + 3;
        }
        plan
    }

    /// Stop after segment `k`.
    pub(crate) fn stop_after(k: u32) -> Plan {
        Plan {
            stop_after: Some(k),
            ..Plan::default()
        }
    }

    /// Lose the last segment after the capture point and resend it `n` times.
    pub(crate) fn tail_loss(n: u32) -> Plan {
        Plan {
            tail_rto: n,
            ..Plan::default()
        }
    }

    /// Number of gaps planned.
    #[cfg(test)]
    fn gap_count(&self) -> usize {
        self.ngaps
    }

    fn gap_in(&self, lo: u32, hi: u32) -> Option<(u32, u32)> {
        self.gaps[..self.ngaps]
            .iter()
            .copied()
            .find(|&(g, _)| (lo..hi).contains(&g))
    }
}

/// Segmentation of one message: MSS-sized pieces, except that a 1-byte last piece is avoided
/// (tshark would take its retransmission for a keep-alive).
#[derive(Debug, Clone, Copy)]
struct Segs {
    len: u32,
    n: u32,
    shift: bool,
}

impl Segs {
    fn new(len: u32) -> Self {
        let n = len.div_ceil(MSS);
        Segs {
            len,
            n,
            shift: n >= 2 && len % MSS == 1,
        }
    }

    /// (offset, length) of piece `i`.
    fn piece(&self, i: u32) -> (u32, u32) {
        let off = i * MSS;
        match (self.shift, self.n - 1 - i.min(self.n - 1)) {
            (true, 1) => (off, MSS - 1),
            (true, 0) => (off - 1, self.len - off + 1),
            _ => (off, (self.len - off).min(MSS)),
        }
    }

    fn end(&self, i: u32) -> u32 {
        let (o, l) = self.piece(i);
        o + l
    }
}

/// One scripted TCP connection between node 0 (client) and node 1 (server).
pub(crate) struct TcpConn {
    side: [Side; 2],
    rtt: i64,
    /// Expected tshark counters so far.
    pub(crate) counters: Counters,
    /// Ordinal of the first packet tshark flags for loss.
    pub(crate) first_loss: Option<u32>,
}

impl TcpConn {
    /// A connection from `cport` to `sport` with round-trip time `rtt` (µs); the server's
    /// packets arrive with `server_ttl`.
    pub(crate) fn new(rng: &mut Rng, cport: u16, sport: u16, rtt: i64, server_ttl: u8) -> Self {
        let mut side = |node: u8, port: u16, wins: &[u16], syn_wins: &[u16], ttl: u8| {
            let isn = 1 + rng.below(0x7FFF_0000) as u32;
            Side {
                node,
                port,
                next: isn,
                rcv: 0,
                win: *rng.pick(wins),
                syn_win: *rng.pick(syn_wins),
                ttl,
                last_ts: 0,
            }
        };
        let c = side(0, cport, &[501, 502, 507, 512], &[64_240, 65_535], 64);
        let s = side(
            1,
            sport,
            &[235, 509, 1026],
            &[65_160, 28_960, 64_240],
            server_ttl,
        );
        TcpConn {
            side: [c, s],
            rtt,
            counters: Counters::default(),
            first_loss: None,
        }
    }

    /// Delay until `who`'s reaction to a packet just captured is itself captured.
    pub(crate) fn react(&self, rng: &mut Rng, who: usize) -> i64 {
        if who == CLIENT {
            rng.range(15, 120)
        } else {
            self.rtt + rng.range(20, 250)
        }
    }

    /// Writes a segment from `from` with the side's current sequence and ACK numbers.
    pub(crate) fn seg(
        &mut self,
        sc: &mut Script<'_>,
        from: usize,
        ts: i64,
        flags: u8,
        payload: Payload,
    ) -> u32 {
        let seq = self.side[from].next;
        let ord = self.write(sc, from, ts, seq, flags, payload);
        let adv = payload.len() + u32::from(flags & (SYN | FIN) != 0);
        self.side[from].next = seq.wrapping_add(adv);
        ord
    }

    /// Time of `who`'s latest packet.
    pub(crate) fn last_ts(&self, who: usize) -> i64 {
        self.side[who].last_ts
    }

    /// Writes a segment with an explicit sequence number, leaving the sequence state alone.
    /// The time is pushed past the side's previous packet if needed.
    fn write(
        &mut self,
        sc: &mut Script<'_>,
        from: usize,
        ts: i64,
        seq: u32,
        flags: u8,
        payload: Payload,
    ) -> u32 {
        let ts = ts.max(self.side[from].last_ts + 1);
        self.side[from].last_ts = ts;
        let (me, peer) = (self.side[from], self.side[1 - from]);
        let syn = flags & SYN != 0;
        let l4 = L4::Tcp {
            sport: me.port,
            dport: peer.port,
            seq,
            ack: if flags & ACK != 0 { me.rcv } else { 0 },
            flags,
            win: if syn { me.syn_win } else { me.win },
            syn_opts: syn,
        };
        sc.push(ts, (me.node, peer.node), me.ttl, l4, payload)
    }

    /// A pure ACK from `who`, acknowledging up to `upto` (or repeating its last ACK number).
    pub(crate) fn ack(
        &mut self,
        sc: &mut Script<'_>,
        who: usize,
        ts: i64,
        upto: Option<u32>,
    ) -> u32 {
        if let Some(u) = upto {
            self.side[who].rcv = u;
        }
        self.seg(sc, who, ts, ACK, Payload::Empty)
    }

    /// `len` bytes that `from` sent and the peer received, but that the capture missed (a
    /// drop at the capture point, not on the wire, so nothing is retransmitted): the peer's
    /// next packets acknowledge them.
    pub(crate) fn uncaptured(&mut self, from: usize, len: u32) {
        let next = self.side[from].next.wrapping_add(len);
        self.side[from].next = next;
        self.side[1 - from].rcv = next;
    }

    /// [`Self::uncaptured`] bytes sent at `ts`, then the peer's delayed ACK of them. Returns
    /// the ACK's ordinal.
    ///
    /// tshark flags that ACK "ACKed segment that wasn't captured": it acknowledges beyond the
    /// highest sequence number seen from `from`, whose latest packet moved its own ACK number
    /// (the scenarios call this after `from` acknowledged the peer's last data).
    pub(crate) fn uncaptured_then_acked(
        &mut self,
        sc: &mut Script<'_>,
        from: usize,
        ts: i64,
        len: u32,
    ) -> u32 {
        let to = 1 - from;
        self.uncaptured(from, len);
        let a = ts + self.react(&mut sc.rng, to) + DELAYED_ACK_US;
        let ord = self.ack(sc, to, a, None);
        self.counters.ack_lost_segments += 1;
        self.first_loss.get_or_insert(ord);
        ord
    }

    /// Puts the connection in the state it has when it was opened before the capture began
    /// and the client had sent `sent` bytes and received `received`, all acknowledged.
    pub(crate) fn established_earlier(&mut self, sent: u32, received: u32) {
        let [c, s] = &mut self.side;
        c.next = c.next.wrapping_add(1).wrapping_add(sent);
        s.next = s.next.wrapping_add(1).wrapping_add(received);
        c.rcv = s.next;
        s.rcv = c.next;
    }

    /// The client's SYN.
    pub(crate) fn syn(&mut self, sc: &mut Script<'_>, ts: i64) -> u32 {
        self.seg(sc, CLIENT, ts, SYN, Payload::Empty)
    }

    /// A retransmission of the client's SYN (counted as a tshark retransmission).
    pub(crate) fn resyn(&mut self, sc: &mut Script<'_>, ts: i64) -> u32 {
        let isn = self.side[CLIENT].next.wrapping_sub(1);
        self.counters.retransmissions += 1;
        self.write(sc, CLIENT, ts, isn, SYN, Payload::Empty)
    }

    /// The server refusing the SYN: RST-ACK with sequence 0.
    pub(crate) fn refuse(&mut self, sc: &mut Script<'_>, ts: i64) -> u32 {
        self.side[SERVER].rcv = self.side[CLIENT].next;
        self.write(sc, SERVER, ts, 0, RST | ACK, Payload::Empty)
    }

    /// Three-way handshake starting at `t`; returns the time of the client's ACK.
    pub(crate) fn handshake(&mut self, sc: &mut Script<'_>, t: i64) -> i64 {
        self.syn(sc, t);
        let t1 = t + self.react(&mut sc.rng, SERVER);
        self.side[SERVER].rcv = self.side[CLIENT].next;
        self.seg(sc, SERVER, t1, SYN | ACK, Payload::Empty);
        let t2 = t1 + self.react(&mut sc.rng, CLIENT);
        let server_next = self.side[SERVER].next;
        self.ack(sc, CLIENT, t2, Some(server_next));
        t2
    }

    /// A FIN from `who`.
    pub(crate) fn fin(&mut self, sc: &mut Script<'_>, who: usize, ts: i64) -> u32 {
        self.seg(sc, who, ts, FIN | ACK, Payload::Empty)
    }

    /// The peer's ACK of everything `who` sent, including its FIN.
    pub(crate) fn ack_all_of(&mut self, sc: &mut Script<'_>, who: usize, ts: i64) -> u32 {
        let upto = self.side[who].next;
        self.ack(sc, 1 - who, ts, Some(upto))
    }

    /// The peer's FIN, acknowledging everything `who` sent (the close's second FIN).
    pub(crate) fn fin_back(&mut self, sc: &mut Script<'_>, who: usize, ts: i64) -> u32 {
        self.side[1 - who].rcv = self.side[who].next;
        self.fin(sc, 1 - who, ts)
    }

    /// RST-ACK from `who`.
    pub(crate) fn rst(&mut self, sc: &mut Script<'_>, who: usize, ts: i64) -> u32 {
        self.seg(sc, who, ts, RST | ACK, Payload::Empty)
    }

    /// Orderly close started by `who` at `t` (FIN, FIN-ACK or ACK+FIN, ACK); returns the time
    /// of the last ACK.
    pub(crate) fn close(&mut self, sc: &mut Script<'_>, who: usize, t: i64) -> i64 {
        let other = 1 - who;
        self.fin(sc, who, t);
        let mut t1 = t + self.react(&mut sc.rng, other);
        if sc.rng.chance(500) {
            self.ack_all_of(sc, who, t1);
            t1 += sc.rng.range(40, 3_000);
        }
        self.fin_back(sc, who, t1);
        let t2 = t1 + self.react(&mut sc.rng, who);
        self.ack_all_of(sc, other, t2);
        t2
    }

    /// Sends message `msg` (`len` bytes) from `from`, starting at `t0`, with the receiver's
    /// ACKs, following `plan`. Returns the time of the receiver's last ACK (or of the last
    /// segment written when the plan stops early).
    pub(crate) fn send(
        &mut self,
        sc: &mut Script<'_>,
        from: usize,
        t0: i64,
        msg: u16,
        len: u32,
        plan: &Plan,
    ) -> i64 {
        let to = 1 - from;
        if len == 0 {
            return t0;
        }
        let segs = Segs::new(len);
        let base = self.side[from].next;
        let payload = |i: u32| {
            let (off, len) = segs.piece(i);
            Payload::Msg { msg, off, len }
        };
        let flags = |i: u32| if i + 1 == segs.n { ACK | PSH } else { ACK };
        let (mut i, mut t, mut cwnd, mut unacked) = (0u32, t0, INITIAL_CWND, 0u32);
        let (mut last_ack, mut last_data, mut last_rx) = (t0, t0, t0);
        while i < segs.n {
            let gap = plan.gap_in(i, i + cwnd);
            let end = match gap {
                Some((g, dups)) => (g + dups + 1).min(segs.n),
                None => (i + cwnd).min(segs.n),
            };
            for idx in i..end {
                let ts = t;
                t += sc.rng.range(12, 90);
                if gap.is_some_and(|(g, _)| g == idx) {
                    // Lost before the capture point: the sender's sequence space moves on.
                    self.side[from].next = self.side[from].next.wrapping_add(segs.piece(idx).1);
                    continue;
                }
                let ord = self.seg(sc, from, ts, flags(idx), payload(idx));
                let ts = self.last_ts(from);
                last_data = ts;
                if plan.stop_after == Some(idx) {
                    self.side[to].rcv = base.wrapping_add(segs.end(idx));
                    return ts;
                }
                if plan.tail_rto > 0 && idx + 1 == segs.n {
                    continue;
                }
                let a = ts + self.react(&mut sc.rng, to);
                match gap {
                    Some((g, _)) if idx > g => {
                        if idx == g + 1 {
                            self.counters.lost_segments += 1;
                            self.first_loss.get_or_insert(ord);
                        }
                        self.ack(sc, to, a, None);
                        self.counters.dup_acks += 1;
                        last_ack = self.last_ts(to);
                    }
                    _ => {
                        unacked += 1;
                        last_rx = ts;
                        let before_gap = gap.is_some_and(|(g, _)| idx + 1 == g);
                        if unacked == 2 || idx + 1 == segs.n || before_gap {
                            self.ack(sc, to, a, Some(base.wrapping_add(segs.end(idx))));
                            unacked = 0;
                            last_ack = self.last_ts(to);
                        }
                    }
                }
            }
            if let Some((g, _)) = gap {
                let rt = last_ack + self.react(&mut sc.rng, from);
                self.write(
                    sc,
                    from,
                    rt,
                    base.wrapping_add(segs.piece(g).0),
                    flags(g),
                    payload(g),
                );
                self.counters.retransmissions += 1;
                self.counters.fast_retransmissions += 1;
                last_data = self.last_ts(from);
                let a = last_data + self.react(&mut sc.rng, to);
                self.ack(sc, to, a, Some(base.wrapping_add(segs.end(end - 1))));
                last_ack = self.last_ts(to);
                cwnd = (cwnd / 2).next_multiple_of(2).max(2);
            } else {
                cwnd = (cwnd * 2).min(64);
            }
            i = end;
            t = last_ack + self.react(&mut sc.rng, from);
        }
        if plan.tail_rto == 0 {
            return last_ack;
        }
        // The receiver's delayed ACK for an odd segment before the lost one.
        if unacked > 0 {
            let a = last_rx + self.react(&mut sc.rng, to) + DELAYED_ACK_US;
            self.ack(sc, to, a, Some(base.wrapping_add(segs.end(segs.n - 2))));
        }
        let last = segs.n - 1;
        let mut wait = MIN_RTO_US + self.rtt + sc.rng.range(0, 20_000);
        let mut rt = last_data;
        for _ in 0..plan.tail_rto {
            rt += wait;
            wait *= 2;
            let ord = self.write(
                sc,
                from,
                rt,
                base.wrapping_add(segs.piece(last).0),
                flags(last),
                payload(last),
            );
            self.first_loss.get_or_insert(ord);
            self.counters.retransmissions += 1;
        }
        let a = rt + self.react(&mut sc.rng, to);
        self.ack(sc, to, a, Some(base.wrapping_add(len)));
        self.last_ts(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segmentation_avoids_one_byte_tail() {
        for len in [1u32, 100, MSS, MSS + 1, 3 * MSS + 1, 5 * MSS - 3] {
            let s = Segs::new(len);
            let mut covered = 0;
            for i in 0..s.n {
                let (o, l) = s.piece(i);
                assert_eq!(o, covered);
                assert!((1..=MSS).contains(&l));
                assert!(!(s.n >= 2 && i + 1 == s.n && l == 1), "len {len}");
                covered += l;
            }
            assert_eq!(covered, len);
        }
    }

    #[test]
    fn gap_plans_leave_room_for_duplicates() {
        let mut rng = Rng::new(5);
        for len in [MSS * 8, MSS * 14, MSS * 30, MSS * 60] {
            for _ in 0..100 {
                let p = Plan::with_gaps(&mut rng, len, 2);
                let n = len.div_ceil(MSS);
                let mut prev_end = 0;
                for &(g, d) in &p.gaps[..p.ngaps] {
                    assert!(
                        g >= 1 && g > prev_end && d >= 3 && g + d + 1 < n,
                        "{g} {d} {n}"
                    );
                    prev_end = g + d + 1;
                }
            }
        }
        assert_eq!(Plan::with_gaps(&mut rng, MSS * 4, 2).gap_count(), 0);
    }
}
