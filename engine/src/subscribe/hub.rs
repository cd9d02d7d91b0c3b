//! The hub of live subscriptions: it holds the subscribers, and [`Subscriptions::publish`]
//! filters each appended `entries` batch once per distinct filter and offers the selected rows
//! to every subscriber's queue without ever waiting for a consumer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use arrow::record_batch::RecordBatch;
use faultline_schemas::entries_schema;

use super::filter::check_schema;
use super::queue::{Counters, Queue, Selected, Subscriber};
use super::{LiveFilter, Subscription};
use crate::EngineError;

/// A snapshot of the hub's counters (rows summed over all subscribers, since the hub began).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionStats {
    /// Live subscribers.
    pub subscribers: usize,
    /// Rows passed to [`Subscriptions::publish`].
    pub rows_published: u64,
    /// Rows that matched a subscriber's filter (a row counts once per subscriber it matched).
    pub rows_matched: u64,
    /// Rows handed to consumers.
    pub rows_delivered: u64,
    /// Rows dropped because a queue was full.
    pub rows_dropped: u64,
    /// Rows waiting in live subscribers' queues now.
    pub rows_queued: u64,
}

/// The hub of live subscriptions to `entries`: the engine publishes every appended batch to it.
/// Send + Sync; share it with an `Arc`. Dropping it (or [`Subscriptions::close_all`]) ends
/// every stream after its queued events.
#[derive(Debug, Default)]
pub struct Subscriptions {
    subscribers: RwLock<Vec<Arc<Subscriber>>>,
    counters: Arc<Counters>,
}

impl Subscriptions {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes to appended rows matching `kfl`, queueing at most `capacity_rows` rows for a
    /// slow consumer (more are dropped and reported by a [`super::SubscriptionEvent::Lagged`] marker).
    /// With `limit(n)` in the query the stream ends after n rows. `now()` and relative times
    /// are fixed when this is called.
    pub fn subscribe(&self, kfl: &str, capacity_rows: usize) -> Result<Subscription, EngineError> {
        Ok(self.subscribe_filter(LiveFilter::compile(kfl)?, capacity_rows))
    }

    /// Subscribes with an already compiled filter (its limit applies).
    pub fn subscribe_filter(&self, filter: LiveFilter, capacity_rows: usize) -> Subscription {
        let remaining = filter.limit;
        let shared = Arc::new(Subscriber {
            filter,
            capacity_rows,
            queue: Mutex::new(Queue::default()),
            closed: AtomicBool::new(false),
            counters: Arc::clone(&self.counters),
        });
        let mut subscribers = self.write();
        subscribers.retain(|s| !s.is_closed());
        subscribers.push(Arc::clone(&shared));
        Subscription::new(shared, remaining)
    }

    /// Offers an appended `entries` batch to every subscriber: each filters it and queues the
    /// matching rows, or drops what does not fit. Never waits for a consumer. Fails only if
    /// the batch does not have the `entries` columns.
    pub fn publish(&self, batch: &RecordBatch) -> Result<(), EngineError> {
        let mut saw_closed = false;
        {
            let subscribers = self.read();
            if subscribers.is_empty() {
                return Ok(());
            }
            check_schema(&entries_schema(), batch)?;
            self.counters
                .published
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            // One evaluation per distinct filter; the selected rows are shared (Arc) buffers.
            let mut by_filter: Vec<(&str, Selected)> = Vec::new();
            for s in subscribers.iter() {
                if s.is_closed() {
                    saw_closed = true;
                    continue;
                }
                let key = s.filter.key.as_str();
                let at = match by_filter.iter().position(|(k, _)| *k == key) {
                    Some(at) => at,
                    None => {
                        let selected = s.filter.apply(batch).map_err(|e| e.to_string());
                        by_filter.push((key, selected));
                        by_filter.len() - 1
                    }
                };
                s.offer(&by_filter[at].1);
                saw_closed |= s.is_closed();
            }
        }
        if saw_closed {
            self.write().retain(|s| !s.is_closed());
        }
        Ok(())
    }

    /// Number of live subscribers.
    pub fn len(&self) -> usize {
        self.read().iter().filter(|s| !s.is_closed()).count()
    }

    /// Whether there is no live subscriber (publishing is then nearly free).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hub's counters now.
    pub fn stats(&self) -> SubscriptionStats {
        let subscribers = self.read();
        let live = subscribers.iter().filter(|s| !s.is_closed());
        let (count, queued) = live.fold((0, 0u64), |(n, rows), s| {
            (n + 1, rows + s.lock().rows as u64)
        });
        let c = &self.counters;
        SubscriptionStats {
            subscribers: count,
            rows_published: c.published.load(Ordering::Relaxed),
            rows_matched: c.matched.load(Ordering::Relaxed),
            rows_delivered: c.delivered.load(Ordering::Relaxed),
            rows_dropped: c.dropped.load(Ordering::Relaxed),
            rows_queued: queued,
        }
    }

    /// Ends every current subscription: each yields what it has queued, then ends.
    pub fn close_all(&self) {
        let subscribers = std::mem::take(&mut *self.write());
        for s in subscribers {
            s.end();
        }
    }

    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Subscriber>>> {
        self.subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Subscriber>>> {
        self.subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        self.close_all();
    }
}
