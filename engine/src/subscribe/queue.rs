//! One subscriber's side of the hub: its bounded queue of events (rows that fit, a
//! [`SubscriptionEvent::Lagged`] marker for rows that did not) and the state the hub and the
//! consumer share, plus the hub-wide counters every subscriber adds to.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use arrow::record_batch::RecordBatch;

use super::{LiveFilter, SubscriptionEvent};

/// Hub-wide counters, shared with every subscriber.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) published: AtomicU64,
    pub(super) matched: AtomicU64,
    pub(super) delivered: AtomicU64,
    pub(super) dropped: AtomicU64,
}

/// The queue of one subscriber, under its mutex.
#[derive(Debug, Default)]
pub(super) struct Queue {
    pub(super) events: VecDeque<SubscriptionEvent>,
    /// Rows in `events` (the bound applies to this).
    pub(super) rows: usize,
    /// The consumer's waker while it waits for an event.
    pub(super) waker: Option<Waker>,
    /// No more events will be queued: the hub closed or the filter failed.
    pub(super) ended: bool,
}

impl Queue {
    /// Queues as much of `batch` as fits in `capacity` rows and records the rest as dropped;
    /// returns the number dropped.
    pub(super) fn offer(&mut self, batch: RecordBatch, capacity: usize) -> u64 {
        let room = capacity.saturating_sub(self.rows);
        let take = batch.num_rows().min(room);
        let dropped = (batch.num_rows() - take) as u64;
        if take > 0 {
            // A slice shares the batch's buffers: no copy.
            let rows = if take == batch.num_rows() {
                batch
            } else {
                batch.slice(0, take)
            };
            self.rows += take;
            self.events.push_back(SubscriptionEvent::Rows(rows));
        }
        if dropped > 0 {
            self.note_dropped(dropped);
        }
        dropped
    }

    /// Adds to the marker at the back of the queue, or queues a new one: consecutive drops
    /// make one marker, so markers never outnumber the batches between them.
    fn note_dropped(&mut self, rows: u64) {
        match self.events.back_mut() {
            Some(SubscriptionEvent::Lagged { dropped_rows }) => *dropped_rows += rows,
            _ => self
                .events
                .push_back(SubscriptionEvent::Lagged { dropped_rows: rows }),
        }
    }

    /// The consumer's waker, taken so it is woken once, after the lock is released.
    fn take_waker(&mut self) -> Option<Waker> {
        self.waker.take()
    }
}

/// What one filter selected from a published batch: the rows (none if no row matched), or
/// why it could not be evaluated.
pub(super) type Selected = Result<Option<RecordBatch>, String>;

/// The state one subscriber shares between the hub (producer) and its [`super::Subscription`].
#[derive(Debug)]
pub(super) struct Subscriber {
    pub(super) filter: LiveFilter,
    pub(super) capacity_rows: usize,
    pub(super) queue: Mutex<Queue>,
    /// Set when the consumer is gone or has had all it wants: the hub skips and forgets it.
    pub(super) closed: AtomicBool,
    pub(super) counters: Arc<Counters>,
}

impl Subscriber {
    pub(super) fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues the rows of a published batch that this subscriber's filter selected (or the
    /// filter's failure); never waits for the consumer.
    pub(super) fn offer(&self, selected: &Selected) {
        let event = match selected {
            Ok(None) => return,
            Ok(Some(rows)) => Ok(rows.clone()),
            Err(reason) => Err(reason.clone()),
        };
        let waker = {
            let mut queue = self.lock();
            if queue.ended {
                return;
            }
            match event {
                Ok(rows) => {
                    let n = rows.num_rows() as u64;
                    self.counters.matched.fetch_add(n, Ordering::Relaxed);
                    let dropped = queue.offer(rows, self.capacity_rows);
                    self.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
                }
                Err(reason) => {
                    queue.events.push_back(SubscriptionEvent::Failed { reason });
                    queue.ended = true;
                    self.closed.store(true, Ordering::Release);
                }
            }
            queue.take_waker()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// No more events: the consumer drains what is queued, then its stream ends.
    pub(super) fn end(&self) {
        let waker = {
            let mut queue = self.lock();
            queue.ended = true;
            queue.take_waker()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The consumer is done: forget queued rows now, let the hub drop this subscriber.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let mut queue = self.lock();
        queue.events.clear();
        queue.rows = 0;
        queue.ended = true;
        queue.waker = None;
    }
}
