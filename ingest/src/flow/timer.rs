//! Capture-time expiry without scanning the table: a ring of one-second buckets holding
//! `(key, flow id, due time)` entries, visited once per capture second, plus a short list of
//! entries due later in the current second, checked with one comparison per packet.
//!
//! Every flow has one live entry. Entries are lazy: when one comes due it is checked against its
//! flow (gone, replaced or rescheduled entries are dropped; a flow that saw packets since is
//! pushed to its new due time), so per-packet work is nil. The ring spans the longest timeout
//! plus slack, which bounds every due time from the current second; a capture gap longer than
//! the ring visits every bucket once. Flows expire at their exact due time (µs), as Zeek's
//! timers fire.

use super::key::FlowKey;

const SEC_US: i64 = 1_000_000;

/// One scheduled check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timer {
    /// Flow key.
    pub key: FlowKey,
    /// Id of the flow the entry was made for (a replaced flow has another id).
    pub id: u64,
    /// When it is due, µs (the flow keeps it to recognise its live entry).
    pub due_us: i64,
}

/// The bucket ring.
#[derive(Debug)]
pub(crate) struct Wheel {
    slots: Vec<Vec<Timer>>,
    /// An empty buffer swapped with a due bucket so buckets keep their capacity.
    spare: Vec<Timer>,
    /// Entries due in a second whose bucket was already visited.
    soon: Vec<Timer>,
    /// Earliest due time in `soon` (`i64::MAX` when empty).
    soon_min_us: i64,
    /// Last capture second whose bucket was visited (`None` before the first packet).
    checked: Option<i64>,
}

/// The capture second `us` falls in.
pub(crate) fn sec_of(us: i64) -> i64 {
    us.div_euclid(SEC_US)
}

impl Wheel {
    /// A ring able to hold due times up to `max_timeout_us` ahead.
    pub fn new(max_timeout_us: i64) -> Self {
        let n = usize::try_from(max_timeout_us.max(0) / SEC_US)
            .unwrap_or(0)
            .saturating_add(3);
        Wheel {
            slots: (0..n).map(|_| Vec::new()).collect(),
            spare: Vec::new(),
            soon: Vec::new(),
            soon_min_us: i64::MAX,
            checked: None,
        }
    }

    fn slot_of(&self, sec: i64) -> usize {
        let n = i64::try_from(self.slots.len()).unwrap_or(i64::MAX);
        usize::try_from(sec.rem_euclid(n)).unwrap_or(0)
    }

    /// Schedules a check of flow `id` at `due_us`.
    pub fn schedule(&mut self, key: FlowKey, id: u64, due_us: i64) {
        let sec = sec_of(due_us);
        let t = Timer { key, id, due_us };
        if self.checked.is_some_and(|c| sec <= c) {
            self.soon.push(t);
            self.soon_min_us = self.soon_min_us.min(due_us);
        } else {
            let slot = self.slot_of(sec);
            if let Some(v) = self.slots.get_mut(slot) {
                v.push(t);
            }
        }
    }

    /// The entries due within the current second, when the earliest of them is due at
    /// `now_us` (one comparison otherwise). Give the buffer back with [`Wheel::recycle`].
    pub fn take_soon(&mut self, now_us: i64) -> Option<Vec<Timer>> {
        if now_us < self.soon_min_us {
            return None;
        }
        self.soon_min_us = i64::MAX;
        let mut out = std::mem::take(&mut self.spare);
        std::mem::swap(&mut self.soon, &mut out);
        Some(out)
    }

    /// Moves the clock to `now_us`; returns the first and last capture seconds whose buckets
    /// are due (`None` when the second has not changed). A jump longer than the ring visits
    /// each bucket once.
    pub fn advance(&mut self, now_us: i64) -> Option<(i64, i64)> {
        let now = sec_of(now_us);
        let prev = self.checked.unwrap_or(now.saturating_sub(1));
        if now <= prev {
            return None;
        }
        self.checked = Some(now);
        let n = i64::try_from(self.slots.len()).unwrap_or(i64::MAX);
        let from = prev.saturating_add(1).max(now.saturating_sub(n - 1));
        Some((from, now))
    }

    /// Takes the entries of the bucket of capture second `sec`, leaving it empty (with the
    /// spare buffer's capacity). Give the buffer back with [`Wheel::recycle`].
    pub fn take(&mut self, sec: i64) -> Vec<Timer> {
        let slot = self.slot_of(sec);
        let mut out = std::mem::take(&mut self.spare);
        if let Some(v) = self.slots.get_mut(slot) {
            std::mem::swap(v, &mut out);
        }
        out
    }

    /// Returns a drained buffer for reuse.
    pub fn recycle(&mut self, mut buf: Vec<Timer>) {
        buf.clear();
        if buf.capacity() > self.spare.capacity() {
            self.spare = buf;
        }
    }

    /// Entries held (live or stale).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.iter().map(Vec::len).sum::<usize>() + self.soon.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> FlowKey {
        let ip = "10.0.0.1".parse().unwrap();
        FlowKey::new((ip, port), (ip, 80), 6, None).0
    }

    fn ids(w: &mut Wheel, secs: Option<(i64, i64)>) -> Vec<u64> {
        let (from, to) = secs.unwrap();
        (from..=to).flat_map(|s| w.take(s)).map(|t| t.id).collect()
    }

    #[test]
    fn seconds_are_floored() {
        assert_eq!(sec_of(0), 0);
        assert_eq!(sec_of(999_999), 0);
        assert_eq!(sec_of(1_000_000), 1);
        assert_eq!(sec_of(-1), -1);
    }

    #[test]
    fn buckets_come_due_once_in_order() {
        let mut w = Wheel::new(10 * SEC_US);
        assert_eq!(
            w.advance(100 * SEC_US),
            Some((100, 100)),
            "the first packet's own second"
        );
        w.schedule(key(1), 1, 105 * SEC_US + 1);
        w.schedule(key(2), 2, 103 * SEC_US);
        assert_eq!(
            w.advance(100 * SEC_US + 500),
            None,
            "same second: nothing to do"
        );
        let due = w.advance(104 * SEC_US);
        assert_eq!(due, Some((101, 104)));
        assert_eq!(ids(&mut w, due), vec![2]);
        let due = w.advance(106 * SEC_US);
        assert_eq!(ids(&mut w, due), vec![1]);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn entries_due_this_second_wait_in_the_soon_list() {
        let mut w = Wheel::new(10 * SEC_US);
        let _ = w.advance(100 * SEC_US);
        w.schedule(key(1), 1, 100 * SEC_US + 700_000);
        assert!(w.take_soon(100 * SEC_US + 699_999).is_none());
        let due = w.take_soon(100 * SEC_US + 700_000).unwrap();
        assert_eq!(due.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
        w.recycle(due);
        assert!(
            w.take_soon(i64::MAX - 1).is_none(),
            "empty list never fires"
        );
    }

    #[test]
    fn long_jump_visits_each_bucket_once() {
        let mut w = Wheel::new(5 * SEC_US);
        let _ = w.advance(0);
        for i in 1..9 {
            w.schedule(key(i), u64::from(i), i64::from(i) * SEC_US);
        }
        let due = w.advance(1_000 * SEC_US);
        assert_eq!(due, Some((993, 1_000)), "ring of 5 s + 3 buckets");
        let mut got = ids(&mut w, due);
        got.sort_unstable();
        assert_eq!(got, (1..9).collect::<Vec<u64>>());
    }
}
