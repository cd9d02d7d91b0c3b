//! A small model of what Zeek's TCP reassembler knows about one direction's data, enough to
//! tell when an acknowledgement covers data that was never seen (Zeek's content gaps, the `G`
//! and `g` history letters). Zeek keeps every out-of-order block; this keeps the contiguous
//! prefix and one block beyond a hole, so a second hole open at the same time can be reported
//! when Zeek would not.
//!
//! The application dissectors need the bytes themselves: [`stream::ByteStream`] reassembles
//! them per direction, with the same notion of a gap (an acknowledged hole).

pub mod stream;

/// What Zeek's reassembler would know about one direction's data, reduced to the contiguous
/// prefix and one block beyond a hole. All positions are relative sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reassembly {
    /// End of the contiguous data (Zeek's `last_reassem_seq`).
    contiguous: u64,
    /// Everything below this has been acknowledged (`trim_seq`).
    trimmed: u64,
    /// One block of data above a hole, `[start, end)`; empty when `end == 0`.
    block: (u64, u64),
}

impl Reassembly {
    pub(super) const NEW: Reassembly = Reassembly {
        contiguous: 1,
        trimmed: 1,
        block: (0, 0),
    };

    /// Data `[seq, seq + len)` sent; `acked` is the highest acknowledgement of this direction.
    pub(super) fn data(&mut self, seq: u64, len: u64, acked: u64) {
        let upper = seq.saturating_add(len);
        let start = seq.max(acked).max(self.trimmed);
        if upper <= start {
            return;
        }
        if start <= self.contiguous {
            self.contiguous = self.contiguous.max(upper);
            self.absorb_block();
        } else if self.block.1 == 0 || start < self.block.0 && upper < self.block.0 {
            self.block = (start, upper);
        } else if start <= self.block.1 && upper >= self.block.0 {
            self.block = (self.block.0.min(start), self.block.1.max(upper));
        }
    }

    fn absorb_block(&mut self) {
        if self.block.1 != 0 && self.block.0 <= self.contiguous {
            self.contiguous = self.contiguous.max(self.block.1);
            self.block = (0, 0);
        }
    }

    /// The peer acknowledged up to `seq`; returns how many holes (Zeek `Gap` calls) it revealed.
    pub(super) fn ack(&mut self, seq: u64, partial: bool) -> u32 {
        if seq <= self.trimmed {
            return 0;
        }
        let mut gaps = 0;
        if seq > self.contiguous && !(seq <= 2 && partial) {
            if self.block.1 != 0 && self.block.0 >= self.contiguous && self.block.0 < seq {
                gaps += 1;
                self.contiguous = self.block.1;
                self.block = (0, 0);
            }
            if seq > self.contiguous {
                gaps += 1;
            }
        }
        self.contiguous = self.contiguous.max(seq);
        self.trimmed = seq;
        if self.block.1 <= seq {
            self.block = (0, 0);
        } else if self.block.0 < seq {
            self.block.0 = seq;
        }
        gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_data_then_ack_is_no_gap() {
        let mut r = Reassembly::NEW;
        r.data(1, 100, 1);
        r.data(101, 50, 1);
        assert_eq!(r.ack(151, false), 0);
    }

    #[test]
    fn ack_beyond_seen_data_is_a_gap() {
        let mut r = Reassembly::NEW;
        r.data(1, 100, 1);
        assert_eq!(r.ack(201, false), 1);
        assert_eq!(r.ack(201, false), 0, "already trimmed");
    }

    #[test]
    fn out_of_order_block_fills_in() {
        let mut r = Reassembly::NEW;
        r.data(101, 100, 1);
        r.data(1, 100, 1);
        assert_eq!(r.ack(201, false), 0, "the hole was filled before the ACK");
    }

    #[test]
    fn hole_before_a_block_and_after_it() {
        let mut r = Reassembly::NEW;
        r.data(101, 100, 1);
        assert_eq!(
            r.ack(301, false),
            2,
            "[1, 101) and [201, 301) were never seen"
        );
    }

    #[test]
    fn partial_connection_first_ack_is_not_a_gap() {
        let mut r = Reassembly::NEW;
        assert_eq!(r.ack(2, true), 0);
        let mut full = Reassembly::NEW;
        assert_eq!(
            full.ack(2, false),
            1,
            "the same ACK on a connection seen from its SYN"
        );
    }
}
