//! The consumer's end of a live subscription: a [`Stream`] of [`SubscriptionEvent`]s that
//! drains its queue, cuts the rows at the query's `limit(n)` and unsubscribes when dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use arrow::record_batch::RecordBatch;
use faultline_kfl::Warning;
use futures::Stream;

use super::SubscriptionEvent;
use super::queue::Subscriber;

/// One live subscription: a [`Stream`] of [`SubscriptionEvent`]s. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    shared: Arc<Subscriber>,
    /// Rows still wanted under the query's `limit(n)`.
    remaining: Option<u64>,
    done: bool,
}

impl Subscription {
    /// The consumer's end of `shared`, wanting at most `remaining` rows (ended at once when
    /// that is zero).
    pub(super) fn new(shared: Arc<Subscriber>, remaining: Option<u64>) -> Self {
        let mut subscription = Self {
            shared,
            remaining,
            done: false,
        };
        if remaining == Some(0) {
            subscription.finish();
        }
        subscription
    }

    /// The next event, or `None` once the subscription has ended (hub closed, limit reached,
    /// filter failed).
    pub async fn next_event(&mut self) -> Option<SubscriptionEvent> {
        futures::StreamExt::next(self).await
    }

    /// Warnings of the KFL compiler for this subscription's query.
    pub fn warnings(&self) -> &[Warning] {
        self.shared.filter.warnings()
    }

    /// Rows queued for this consumer now.
    pub fn queued_rows(&self) -> usize {
        self.shared.lock().rows
    }

    /// Counts a delivered batch against the limit, cutting it at the limit.
    fn deliver(&mut self, rows: RecordBatch) -> RecordBatch {
        let rows = match self.remaining {
            Some(left) if rows.num_rows() as u64 >= left => {
                // `left` is below `num_rows`, so it fits in usize.
                let cut = rows.slice(0, usize::try_from(left).unwrap_or(rows.num_rows()));
                self.finish();
                cut
            }
            Some(left) => {
                self.remaining = Some(left - rows.num_rows() as u64);
                rows
            }
            None => rows,
        };
        self.shared
            .counters
            .delivered
            .fetch_add(rows.num_rows() as u64, Ordering::Relaxed);
        rows
    }

    /// Ends the stream and releases the queue.
    fn finish(&mut self) {
        self.done = true;
        self.shared.close();
    }
}

impl Stream for Subscription {
    type Item = SubscriptionEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let event = {
            let mut queue = this.shared.lock();
            match queue.events.pop_front() {
                Some(event) => {
                    if let SubscriptionEvent::Rows(rows) = &event {
                        queue.rows -= rows.num_rows();
                    }
                    event
                }
                None if queue.ended => {
                    drop(queue);
                    this.finish();
                    return Poll::Ready(None);
                }
                None => {
                    match &mut queue.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        slot => *slot = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
            }
        };
        Poll::Ready(Some(match event {
            SubscriptionEvent::Rows(rows) => SubscriptionEvent::Rows(this.deliver(rows)),
            SubscriptionEvent::Failed { reason } => {
                this.finish();
                SubscriptionEvent::Failed { reason }
            }
            lagged => lagged,
        }))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.close();
    }
}
