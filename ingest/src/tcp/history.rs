//! Zeek's connection `history` string and `conn_state`, and tshark's `tcp.completeness`.
//!
//! History letters (Zeek `base/protocols/conn`): `S` SYN, `H` SYN-ACK, `A` pure ACK, `D` data,
//! `F` FIN, `R` RST, `C` bad checksum, `G` content gap, `I` FIN+RST, `Q` multi-flag (SYN with
//! FIN or RST), `T` retransmission, `W` zero window, `^` roles flipped; upper case from the
//! originator, lower case from the responder. Most letters are recorded once per direction;
//! `S`, `H`, `F`, `R` are recorded again when a later one carries a new sequence number; `C`,
//! `G`, `T`, `W` are recorded at the 1st, 10th, 100th, ... occurrence (Zeek's
//! `ScaledHistoryEntry`, base 10).

use super::endpoint::EndpointState;

/// Longest history kept; letters beyond it are dropped (Zeek's history is unbounded, but only
/// repeated `S`/`H`/`F`/`R` with changing sequence numbers can make it long).
pub const HISTORY_CAP: usize = 32;

/// Per-letter "seen" bits, Zeek's `TCP_Endpoint::HistoryMasks` (responder bits are shifted up
/// by 16).
pub mod mask {
    /// SYN or SYN-ACK.
    pub const SYN: u32 = 0x1;
    /// FIN.
    pub const FIN: u32 = 0x2;
    /// RST.
    pub const RST: u32 = 0x4;
    /// FIN and RST in one segment.
    pub const FIN_RST: u32 = 0x8;
    /// Payload.
    pub const DATA: u32 = 0x10;
    /// Pure ACK.
    pub const ACK: u32 = 0x20;
    /// SYN with FIN or RST.
    pub const MULTI_FLAG: u32 = 0x40;
}

/// A Zeek history string in a fixed buffer, with the per-letter "seen" bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    seen: u32,
    len: u8,
    buf: [u8; HISTORY_CAP],
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// An empty history.
    pub const fn new() -> Self {
        History {
            seen: 0,
            len: 0,
            buf: [0; HISTORY_CAP],
        }
    }

    /// Appends a letter, upper case for the originator and lower case for the responder
    /// (Zeek's `AddHistory`).
    pub fn add(&mut self, is_orig: bool, code: u8) {
        let code = if is_orig {
            code
        } else {
            code.to_ascii_lowercase()
        };
        self.push(code);
    }

    fn push(&mut self, code: u8) {
        let len = usize::from(self.len);
        if let Some(slot) = self.buf.get_mut(len) {
            *slot = code;
            self.len += 1;
        }
    }

    /// Zeek's `CheckHistory`: records `code` the first time `mask` is seen in this direction
    /// and returns false; returns true (recording nothing) when it was seen before.
    pub fn check(&mut self, is_orig: bool, mask: u32, code: u8) -> bool {
        let bit = if is_orig { mask } else { mask << 16 };
        if self.seen & bit == 0 {
            self.seen |= bit;
            self.add(is_orig, code);
            false
        } else {
            true
        }
    }

    /// Records Zeek's `^` (the originator/responder roles were flipped).
    pub fn flipped(&mut self) {
        self.push(b'^');
    }

    /// The letters so far.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..usize::from(self.len)).unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

/// Zeek's logarithmic history counter (`ScaledHistoryEntry`, base 10): true at the 1st, 10th,
/// 100th, ... event, when the letter is to be recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScaledCounter {
    count: u32,
}

impl ScaledCounter {
    /// A counter that fires on the first event.
    pub const fn new() -> Self {
        ScaledCounter { count: 0 }
    }

    /// Counts one event; true when its letter is to be recorded (the count is a power of 10).
    pub fn hit(&mut self) -> bool {
        self.count = self.count.saturating_add(1);
        let mut n = self.count;
        while n.is_multiple_of(10) {
            n /= 10;
        }
        n == 1
    }

    /// Events counted so far (saturating).
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// Zeek's TCP `conn_state` from the two endpoint states, the payload sizes and the history
/// (`base/protocols/conn/main.zeek`, `conn_state()`).
pub fn tcp_conn_state(
    os: EndpointState,
    rs: EndpointState,
    sizes: (u64, u64),
    history: &str,
) -> &'static str {
    use EndpointState as E;
    let o_inactive = matches!(os, E::Inactive | E::Partial);
    let r_inactive = matches!(rs, E::Inactive | E::Partial);
    if rs == E::Reset {
        if matches!(os, E::SynSent | E::SynAckSent) || (os == E::Reset && sizes == (0, 0)) {
            "REJ"
        } else if o_inactive {
            "RSTRH"
        } else {
            "RSTR"
        }
    } else if os == E::Reset {
        if !r_inactive {
            "RSTO"
        } else if syn_then_rst(history) {
            "RSTOS0"
        } else {
            "OTH"
        }
    } else if rs == E::Closed && os == E::Closed {
        "SF"
    } else if os == E::Closed {
        if r_inactive { "SH" } else { "S2" }
    } else if rs == E::Closed {
        if o_inactive { "SHR" } else { "S3" }
    } else if os == E::SynSent && rs == E::Inactive {
        "S0"
    } else if os == E::Established && rs == E::Established {
        "S1"
    } else {
        "OTH"
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/` (the originator's SYN was followed by its RST with no
/// handshake, ACK, FIN, gap or odd flags of its own in between).
fn syn_then_rst(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        match c {
            'R' => return true,
            'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
            _ => {}
        }
    }
    false
}

/// Zeek's UDP `conn_state`: `SF` both sides sent, `S0` only the originator, `SHR` only the
/// responder, `OTH` neither.
pub fn udp_conn_state(orig_active: bool, resp_active: bool) -> &'static str {
    match (orig_active, resp_active) {
        (true, true) => "SF",
        (true, false) => "S0",
        (false, true) => "SHR",
        (false, false) => "OTH",
    }
}

/// tshark 4.0's `tcp.completeness` bits.
pub mod completeness {
    /// A SYN (without ACK) opened the conversation.
    pub const SYN: u8 = 1;
    /// SYN-ACK seen.
    pub const SYN_ACK: u8 = 2;
    /// A pure ACK (ACK flag, no SYN, no payload) seen.
    pub const ACK: u8 = 4;
    /// Payload in a segment with ACK and without SYN (or in the opening SYN, TCP Fast Open).
    pub const DATA: u8 = 8;
    /// FIN with ACK seen.
    pub const FIN: u8 = 16;
    /// RST seen (after the first packet).
    pub const RST: u8 = 32;
}

/// tshark's conversation completeness (`dissect_tcp` in `packet-tcp.c`, Wireshark 4.0): the
/// first packet of a conversation counts only when it is a SYN without ACK; later packets add
/// SYN-ACK, pure ACK, data, FIN-with-ACK and RST bits.
pub fn completeness_update(bits: u8, flags: u8, payload_len: u32, first: bool) -> u8 {
    use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};
    use completeness as c;
    let syn_ack = flags & (SYN | ACK);
    let mut bits = bits;
    if first {
        if syn_ack == SYN {
            bits |= c::SYN;
            if payload_len > 0 {
                bits |= c::DATA;
            }
        }
        return bits;
    }
    if syn_ack == SYN | ACK {
        bits |= c::SYN_ACK;
    }
    if syn_ack == ACK {
        bits |= if payload_len > 0 { c::DATA } else { c::ACK };
    }
    if flags & (FIN | ACK) == FIN | ACK {
        bits |= c::FIN;
    }
    if flags & RST != 0 {
        bits |= c::RST;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};
    use EndpointState as E;

    #[test]
    fn check_records_each_letter_once_per_direction() {
        let mut h = History::new();
        assert!(!h.check(true, mask::SYN, b'S'));
        assert!(h.check(true, mask::SYN, b'S'));
        assert!(!h.check(false, mask::SYN, b'H'));
        assert!(!h.check(true, mask::ACK, b'A'));
        assert!(!h.check(true, mask::DATA, b'D'));
        assert!(!h.check(false, mask::DATA, b'D'));
        assert_eq!(h.as_str(), "ShADd");
    }

    #[test]
    fn history_is_capped() {
        let mut h = History::new();
        for _ in 0..100 {
            h.add(true, b'R');
        }
        assert_eq!(h.as_str().len(), HISTORY_CAP);
    }

    #[test]
    fn scaled_counter_fires_at_powers_of_ten() {
        let mut c = ScaledCounter::new();
        let fired: Vec<u32> = (1..=1000).filter(|_| c.hit()).collect();
        assert_eq!(fired, vec![1, 10, 100, 1000]);
        assert_eq!(c.count(), 1000);
    }

    #[test]
    fn conn_states_follow_zeek() {
        let s = |o, r, sizes, h| tcp_conn_state(o, r, sizes, h);
        assert_eq!(s(E::SynSent, E::Inactive, (0, 0), "S"), "S0");
        assert_eq!(s(E::SynSent, E::Reset, (0, 0), "Sr"), "REJ");
        assert_eq!(s(E::Reset, E::Reset, (0, 0), "SrR"), "REJ");
        assert_eq!(s(E::Reset, E::Inactive, (0, 0), "SR"), "RSTOS0");
        assert_eq!(s(E::Reset, E::Inactive, (0, 0), "SaR"), "RSTOS0");
        assert_eq!(s(E::Reset, E::Inactive, (0, 0), "SaFR"), "OTH");
        assert_eq!(s(E::Reset, E::Inactive, (0, 0), "R"), "OTH");
        assert_eq!(s(E::Reset, E::Established, (5, 7), "ShADadR"), "RSTO");
        assert_eq!(s(E::Established, E::Reset, (5, 7), "ShADadr"), "RSTR");
        assert_eq!(s(E::Inactive, E::Reset, (0, 0), "hr"), "RSTRH");
        assert_eq!(s(E::Closed, E::Closed, (1, 1), "ShADadFf"), "SF");
        assert_eq!(s(E::Closed, E::Established, (1, 1), "ShADadF"), "S2");
        assert_eq!(s(E::Closed, E::Inactive, (1, 0), "SADF"), "SH");
        assert_eq!(s(E::Established, E::Closed, (1, 1), "ShADadf"), "S3");
        assert_eq!(s(E::Partial, E::Closed, (1, 1), "Ddf"), "SHR");
        assert_eq!(s(E::Established, E::Established, (1, 1), "ShADad"), "S1");
        assert_eq!(s(E::Partial, E::Partial, (1, 1), "Dd"), "OTH");
        assert_eq!(s(E::Reset, E::Inactive, (0, 0), "^SR"), "RSTOS0");
    }

    #[test]
    fn udp_states() {
        assert_eq!(udp_conn_state(true, true), "SF");
        assert_eq!(udp_conn_state(true, false), "S0");
        assert_eq!(udp_conn_state(false, true), "SHR");
        assert_eq!(udp_conn_state(false, false), "OTH");
    }

    /// Values measured with tshark 4.0.17 (`-2`, the value shown on a conversation's first
    /// packet, which is what the oracle's `sort -u` keeps: the first pass's final value).
    #[test]
    fn completeness_matches_tshark() {
        let run = |pkts: &[(u8, u32)]| {
            pkts.iter()
                .enumerate()
                .fold(0, |b, (i, (f, l))| completeness_update(b, *f, *l, i == 0))
        };
        assert_eq!(run(&[(RST, 0)]), 0);
        assert_eq!(run(&[(RST | ACK, 0)]), 0);
        assert_eq!(run(&[(SYN | ACK, 0)]), 0);
        assert_eq!(run(&[(SYN, 0)]), 1);
        assert_eq!(run(&[(SYN | RST, 0)]), 1);
        assert_eq!(run(&[(ACK, 0), (RST, 0)]), 32);
        assert_eq!(run(&[(PSH | ACK, 5), (RST, 0)]), 32);
        assert_eq!(run(&[(PSH | ACK, 5), (RST | ACK, 0)]), 4 + 32);
        assert_eq!(run(&[(SYN, 0), (FIN, 0)]), 1);
        assert_eq!(run(&[(SYN, 0), (FIN | ACK, 0)]), 1 + 4 + 16);
        assert_eq!(run(&[(SYN, 0), (RST | ACK, 0)]), 1 + 4 + 32);
        assert_eq!(run(&[(SYN, 0), (SYN | ACK, 0), (ACK, 0)]), 7);
        assert_eq!(run(&[(SYN, 0), (PSH, 1)]), 1);
        assert_eq!(run(&[(FIN, 0), (SYN, 0)]), 0);
    }
}
