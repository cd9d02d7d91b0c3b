//! Byte-stream reassembly of one TCP direction for the application dissectors.
//!
//! In-order payload is handed over straight from the packet (no copy). Data beyond a hole is
//! held in one bounded buffer per direction until the hole fills; overlapping bytes are
//! resolved "first copy wins" (a retransmission never rewrites what was already received or
//! delivered), as the BSD and Linux stacks do. A hole becomes a gap, handed to the dissector
//! as [`Chunk::Gap`] instead of bytes, when the held data would overflow the buffer, when the
//! peer acknowledges data past it (the receiver got bytes the capture missed: Zeek's content
//! gap, tshark's "ACKed segment that wasn't captured"; a FIN's sequence number is not data),
//! or when the stream is flushed at its end. The hold buffer's memory is
//! released when it empties (kept only when small) and when the stream is dropped. A segment
//! that starts before the next expected byte hands over only its new tail.

/// What the reassembler hands to a dissector, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Contiguous bytes.
    Data(&'a [u8]),
    /// This many bytes were never captured.
    Gap(u64),
}

/// Largest TCP window (RFC 7323: 2^30 bytes with window scaling): an acknowledgement further
/// ahead of the bytes seen cannot be of data the receiver got, and makes no gap.
const MAX_WINDOW: i128 = 1 << 30;

/// Hold buffers up to this size are kept for reuse when they empty; larger ones are freed, so
/// that many idle streams do not keep the memory of a past reordering.
const KEEP_CAPACITY: usize = 2 * 1024;

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Bytes handed over as data.
    pub delivered: u64,
    /// Gaps handed over.
    pub gaps: u32,
    /// Bytes handed over as gaps.
    pub gap_bytes: u64,
    /// Segments that only repeated bytes already received.
    pub duplicates: u32,
    /// Segments held beyond a hole.
    pub held_segments: u32,
}

/// Reassembly state of one direction of a TCP connection.
#[derive(Debug, Default)]
pub struct ByteStream {
    /// Sequence number of the next byte to hand over; valid once `started`.
    next_seq: u32,
    started: bool,
    /// Stream offset of the next byte to hand over (data and gaps so far).
    offset: u64,
    /// Bytes held beyond a hole; `hold[0]` is at stream offset `hold_base`.
    hold: Vec<u8>,
    hold_base: u64,
    /// Filled ranges of `hold`, as stream offsets, sorted and disjoint.
    ranges: Vec<(u64, u64)>,
    max_hold: usize,
    /// Stream offset of this direction's FIN, once seen: acknowledgements reach one past it.
    fin: Option<u64>,
    stats: StreamStats,
}

impl ByteStream {
    /// A direction that holds at most `max_hold` bytes beyond a hole.
    pub fn new(max_hold: usize) -> Self {
        ByteStream {
            max_hold,
            ..ByteStream::default()
        }
    }

    /// Changes how many bytes may be held beyond a hole (the caller's memory budget).
    pub fn set_max_hold(&mut self, max_hold: usize) {
        self.max_hold = max_hold;
    }

    /// Counters so far.
    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// True once the first sequence number is known.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Bytes currently held beyond a hole.
    pub fn held(&self) -> usize {
        self.ranges.iter().map(|(a, b)| (b - a) as usize).sum()
    }

    /// Heap bytes owned by this direction.
    pub fn heap_bytes(&self) -> usize {
        self.hold.capacity() + self.ranges.capacity() * std::mem::size_of::<(u64, u64)>()
    }

    /// A SYN with sequence number `seq`: data starts at `seq + 1`.
    pub fn syn(&mut self, seq: u32) {
        if !self.started {
            self.started = true;
            self.next_seq = seq.wrapping_add(1);
        }
    }

    /// The peer acknowledged `ack` before any byte of this direction was seen: the stream is
    /// taken to continue from there, so that data seen later beyond it is a hole.
    pub fn start_at(&mut self, ack: u32) {
        if !self.started {
            self.started = true;
            self.next_seq = ack;
        }
    }

    /// Stream offset of sequence number `seq` (relative to the next byte expected).
    fn offset_of(&self, seq: u32) -> i128 {
        i128::from(self.offset) + i128::from(seq.wrapping_sub(self.next_seq) as i32)
    }

    /// A segment's payload at sequence number `seq`; hands over what became contiguous.
    pub fn segment(&mut self, seq: u32, payload: &[u8], out: &mut impl FnMut(Chunk<'_>)) {
        if payload.is_empty() {
            return;
        }
        if !self.started {
            self.started = true;
            self.next_seq = seq;
        }
        let start = self.offset_of(seq);
        let end = start + payload.len() as i128;
        let here = i128::from(self.offset);
        if end <= here {
            self.stats.duplicates += 1;
            return;
        }
        if start <= here {
            let skip = (here - start) as usize;
            self.deliver(&payload[skip..], out);
            self.drain(out);
            return;
        }
        // Beyond a hole: `start > offset >= 0`, so both fit in u64.
        self.store(start as u64, payload, out);
    }

    /// This direction's FIN at sequence number `seq` (after its payload, if any).
    pub fn fin(&mut self, seq: u32) {
        if self.started {
            let at = self.offset_of(seq);
            self.fin = u64::try_from(at).ok();
        }
    }

    /// The peer acknowledged up to `ack`: the bytes before it reached the receiver, so those
    /// not captured are a gap (up to held data, which is then handed over, or up to `ack`).
    pub fn ack(&mut self, ack: u32, out: &mut impl FnMut(Chunk<'_>)) {
        if !self.started {
            return;
        }
        let mut acked = self.offset_of(ack);
        if let Some(fin) = self.fin {
            acked = acked.min(i128::from(fin));
        }
        let ahead = acked - i128::from(self.offset);
        if ahead <= 0 || ahead > MAX_WINDOW {
            return;
        }
        match self.ranges.first() {
            Some(&(first, _)) if acked > i128::from(first) => {
                self.gap_to(first, out);
                self.drain(out);
            }
            Some(_) => {}
            // `acked > offset >= 0` fits in u64.
            None => self.gap_to(acked as u64, out),
        }
    }

    /// The stream ends: every hole before held data becomes a gap and the data is handed over.
    pub fn flush(&mut self, out: &mut impl FnMut(Chunk<'_>)) {
        while let Some(&(first, _)) = self.ranges.first() {
            self.gap_to(first, out);
            self.drain(out);
        }
        self.release();
    }

    fn deliver(&mut self, bytes: &[u8], out: &mut impl FnMut(Chunk<'_>)) {
        self.offset += bytes.len() as u64;
        self.next_seq = self.next_seq.wrapping_add(bytes.len() as u32);
        self.stats.delivered += bytes.len() as u64;
        out(Chunk::Data(bytes));
    }

    fn gap_to(&mut self, to: u64, out: &mut impl FnMut(Chunk<'_>)) {
        if to <= self.offset {
            return;
        }
        let len = to - self.offset;
        self.offset = to;
        self.next_seq = self.next_seq.wrapping_add(len as u32);
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
        out(Chunk::Gap(len));
    }

    /// Hands over held ranges that became contiguous.
    fn drain(&mut self, out: &mut impl FnMut(Chunk<'_>)) {
        while let Some(&(a, b)) = self.ranges.first() {
            if a > self.offset {
                break;
            }
            self.ranges.remove(0);
            if b > self.offset {
                let from = (self.offset - self.hold_base) as usize;
                let to = (b - self.hold_base) as usize;
                let len = to - from;
                self.offset = b;
                self.next_seq = self.next_seq.wrapping_add(len as u32);
                self.stats.delivered += len as u64;
                out(Chunk::Data(&self.hold[from..to]));
            }
        }
        if self.ranges.is_empty() {
            self.release();
        }
    }

    /// Empties the hold buffer, freeing it unless it is small.
    fn release(&mut self) {
        self.ranges.clear();
        if self.hold.capacity() > KEEP_CAPACITY {
            self.hold = Vec::new();
            self.ranges = Vec::new();
        } else {
            self.hold.clear();
        }
    }

    /// Holds `payload` at stream offset `start` (beyond the next byte expected), making room
    /// by turning holes into gaps when the buffer would overflow.
    fn store(&mut self, start: u64, payload: &[u8], out: &mut impl FnMut(Chunk<'_>)) {
        let end = start + payload.len() as u64;
        if self.ranges.is_empty() {
            self.hold.clear();
            self.hold_base = self.offset;
        }
        if end - self.hold_base > self.max_hold as u64 {
            self.compact();
        }
        if end - self.hold_base > self.max_hold as u64 {
            self.overflow(start, payload, out);
            return;
        }
        self.stats.held_segments += 1;
        let need = (end - self.hold_base) as usize;
        if self.hold.len() < need {
            self.hold.resize(need, 0);
        }
        self.fill_uncovered(start, payload);
    }

    /// A segment at stream offset `start` that does not fit in the buffer even after
    /// compaction: the holes before it are given up as gaps, and its bytes and the held ones
    /// are handed over in stream order, the held copy first where both have a byte (first
    /// copy wins). Nothing received is lost.
    fn overflow(&mut self, start: u64, payload: &[u8], out: &mut impl FnMut(Chunk<'_>)) {
        while let Some(&(a, _)) = self.ranges.first() {
            if a >= start {
                break;
            }
            self.gap_to(a, out);
            self.drain(out);
        }
        self.gap_to(start, out);
        let mut new = false;
        loop {
            // `offset >= start` from here on.
            let skip = (self.offset - start) as usize;
            let rest = payload.get(skip..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            let upto = self.ranges.first().map_or(rest.len(), |&(a, _)| {
                usize::try_from(a - self.offset).map_or(rest.len(), |n| n.min(rest.len()))
            });
            if upto > 0 {
                new = true;
                self.deliver(&rest[..upto], out);
            }
            self.drain(out);
        }
        if !new {
            self.stats.duplicates += 1;
        }
    }

    /// Drops held bytes before the next expected offset.
    fn compact(&mut self) {
        let drop = (self.offset - self.hold_base) as usize;
        if drop > 0 && drop <= self.hold.len() {
            self.hold.drain(..drop);
            self.hold_base = self.offset;
        }
    }

    /// Copies the parts of `[start, start + len)` no held range covers, then merges ranges.
    fn fill_uncovered(&mut self, start: u64, payload: &[u8]) {
        let end = start + payload.len() as u64;
        let mut cursor = start;
        for i in 0..self.ranges.len() {
            let (a, b) = self.ranges[i];
            if b <= cursor {
                continue;
            }
            if a >= end {
                break;
            }
            if a > cursor {
                self.copy_in(cursor, a, start, payload);
            }
            cursor = cursor.max(b);
        }
        if cursor < end {
            self.copy_in(cursor, end, start, payload);
        }
        self.insert_range(start, end);
    }

    fn copy_in(&mut self, from: u64, to: u64, start: u64, payload: &[u8]) {
        let src = &payload[(from - start) as usize..(to - start) as usize];
        let dst = (from - self.hold_base) as usize;
        self.hold[dst..dst + src.len()].copy_from_slice(src);
    }

    fn insert_range(&mut self, a: u64, b: u64) {
        let i = self.ranges.partition_point(|r| r.1 < a);
        let mut lo = a;
        let mut hi = b;
        let mut j = i;
        while j < self.ranges.len() && self.ranges[j].0 <= hi {
            lo = lo.min(self.ranges[j].0);
            hi = hi.max(self.ranges[j].1);
            j += 1;
        }
        self.ranges.splice(i..j, [(lo, hi)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs segments through a stream and renders what came out: data as text, gaps as `<n>`.
    fn run(stream: &mut ByteStream, segs: &[(u32, &str)]) -> String {
        let mut got = String::new();
        for (seq, text) in segs {
            stream.segment(*seq, text.as_bytes(), &mut |c| render(&mut got, c));
        }
        got
    }

    fn render(got: &mut String, c: Chunk<'_>) {
        match c {
            Chunk::Data(d) => got.push_str(std::str::from_utf8(d).unwrap()),
            Chunk::Gap(n) => got.push_str(&format!("<{n}>")),
        }
    }

    #[test]
    fn in_order_passes_through() {
        let mut s = ByteStream::new(1024);
        s.syn(99);
        assert_eq!(run(&mut s, &[(100, "abc"), (103, "def")]), "abcdef");
        assert_eq!(s.stats().delivered, 6);
    }

    #[test]
    fn an_overflowing_segment_hands_over_only_bytes_past_the_held_data() {
        // A segment that does not fit in the buffer beside what is held: holes before it
        // become gaps, no byte is handed over twice or lost, held copies win. Offset k holds
        // letter k ('a' is offset 0, sequence number 1).
        type Case<'a> = (usize, &'a [(u32, &'a str)], &'a str);
        let cases: [Case<'_>; 4] = [
            // Starts inside the held bytes.
            (10, &[(6, "fghij"), (8, "hijklmnop")], "<5>fghijklmnop"),
            // Starts before the held bytes and ends inside them.
            (12, &[(8, "hijk"), (10, "jklmnopq")], "<7>hijklmnopq"),
            // Covers the held bytes: the hole before it is given up only up to its start.
            (
                12,
                &[(6, "fghijk"), (3, "cdefghijklmnop")],
                "<2>cdefghijklmnop",
            ),
            // Two held ranges, the segment bridging them; the held copies win.
            (
                14,
                &[(4, "dEF"), (9, "iJK"), (5, "efghijklmnopq")],
                "<3>dEFghiJKlmnopq",
            ),
        ];
        for (hold, segs, want) in cases {
            let mut s = ByteStream::new(hold);
            s.syn(0);
            assert_eq!(run(&mut s, segs), want, "{segs:?}");
        }
    }

    #[test]
    fn an_ack_past_what_was_seen_is_a_gap_but_a_fins_is_not() {
        let mut gaps = String::new();
        let mut s = ByteStream::new(1024);
        s.syn(0);
        gaps.push_str(&run(&mut s, &[(1, "abc")]));
        // The receiver acknowledged 5 bytes the capture never saw.
        s.ack(9, &mut |c| render(&mut gaps, c));
        // The next data follows the gap; an old ACK changes nothing.
        gaps.push_str(&run(&mut s, &[(9, "ij")]));
        s.ack(4, &mut |c| render(&mut gaps, c));
        // FIN after "ij" (sequence 11): its ACK (12) is no gap.
        s.fin(11);
        s.ack(12, &mut |c| render(&mut gaps, c));
        assert_eq!(gaps, "abc<5>ij");
        // Bytes missed before a FIN: the gap ends at the FIN, not one past it.
        let mut got = String::new();
        let mut s = ByteStream::new(1024);
        s.syn(0);
        got.push_str(&run(&mut s, &[(1, "ab")]));
        s.fin(6);
        s.ack(7, &mut |c| render(&mut got, c));
        assert_eq!(got, "ab<3>");
        // An ACK further ahead than any window is bogus: no gap, later data still flows.
        let mut got = String::new();
        let mut s = ByteStream::new(1024);
        s.syn(0);
        s.ack(0x5000_0000, &mut |c| render(&mut got, c));
        got.push_str(&run(&mut s, &[(1, "ab")]));
        assert_eq!(got, "ab");
    }

    #[test]
    fn out_of_order_is_reordered() {
        let mut s = ByteStream::new(1024);
        s.syn(0);
        assert_eq!(run(&mut s, &[(4, "def"), (7, "g"), (1, "abc")]), "abcdefg");
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn retransmission_overlap_first_copy_wins() {
        let mut s = ByteStream::new(1024);
        s.syn(0);
        // A retransmission overlapping delivered bytes hands over only its new tail.
        let got = run(&mut s, &[(1, "ab"), (1, "abc"), (1, "ab")]);
        assert_eq!(got, "abc");
        assert_eq!(s.stats().duplicates, 1);
        // Held data: a later overlapping copy with different bytes does not rewrite it.
        let mut s = ByteStream::new(1024);
        s.syn(0);
        let got = run(&mut s, &[(3, "cd"), (2, "XXXe"), (1, "a")]);
        assert_eq!(got, "aXcde");
    }

    #[test]
    fn ack_past_a_hole_with_held_data_is_a_gap() {
        let mut s = ByteStream::new(1024);
        s.syn(0);
        let mut got = run(&mut s, &[(1, "ab"), (6, "fg")]);
        s.ack(6, &mut |c| render(&mut got, c));
        assert_eq!(got, "ab", "the ACK does not reach the held data");
        s.ack(8, &mut |c| render(&mut got, c));
        assert_eq!(got, "ab<3>fg");
        assert_eq!(s.stats().gap_bytes, 3);
    }

    #[test]
    fn flush_turns_holes_into_gaps() {
        let mut s = ByteStream::new(1024);
        s.syn(0);
        let mut got = run(&mut s, &[(1, "a"), (4, "d"), (7, "g")]);
        s.flush(&mut |c| render(&mut got, c));
        assert_eq!(got, "a<2>d<2>g");
    }

    #[test]
    fn overflow_gives_up_on_the_hole() {
        let mut s = ByteStream::new(4);
        s.syn(0);
        let got = run(&mut s, &[(1, "a"), (4, "de"), (10, "jk")]);
        assert_eq!(got, "a<2>de<4>jk");
        assert!(s.heap_bytes() <= KEEP_CAPACITY + 64);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = ByteStream::new(1024);
        s.syn(u32::MAX - 1);
        assert_eq!(run(&mut s, &[(1, "cd"), (u32::MAX, "ab")]), "abcd");
    }

    #[test]
    fn a_start_from_the_peer_ack_reveals_an_earlier_hole() {
        let mut s = ByteStream::new(1024);
        s.start_at(100);
        let mut got = run(&mut s, &[(103, "de")]);
        s.flush(&mut |c| render(&mut got, c));
        assert_eq!(got, "<3>de");
    }

    #[test]
    fn mid_stream_start_takes_the_first_segment() {
        let mut s = ByteStream::new(1024);
        assert_eq!(run(&mut s, &[(5000, "xy"), (5002, "z")]), "xyz");
    }
}
