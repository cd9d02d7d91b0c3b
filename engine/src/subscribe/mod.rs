//! Live subscriptions: streams of newly appended `entries` rows that match a KFL filter.
//!
//! A [`Subscriptions`] hub holds the subscribers. Each subscription compiles its KFL once into a
//! DataFusion physical expression over the `entries` schema ([`LiveFilter`]);
//! [`Subscriptions::publish`] evaluates it on every appended batch and queues the matching rows.
//!
//! Every subscriber has a bounded queue measured in rows. `publish` never waits for a consumer:
//! rows that do not fit are dropped and the consumer receives a
//! [`SubscriptionEvent::Lagged`] marker, at the place of the gap, carrying the exact number of
//! rows lost. A consumer that never polls therefore costs at most its capacity (plus the rest of
//! the one batch a partly queued slice shares memory with) and never stalls ingest.
//!
//! The parts: `filter` (the compiled row filter), `hub` (subscribing and publishing), `queue`
//! (one subscriber's bounded queue and the counters) and `subscription` (the consumer's
//! stream).

mod filter;
mod hub;
mod queue;
mod subscription;
#[cfg(test)]
mod tests;

use arrow::record_batch::RecordBatch;

pub use filter::LiveFilter;
pub use hub::{SubscriptionStats, Subscriptions};
pub use subscription::Subscription;

/// What a subscription yields.
#[derive(Debug, Clone)]
pub enum SubscriptionEvent {
    /// Newly appended rows that match the filter (the `entries` columns), in append order.
    Rows(RecordBatch),
    /// The queue was full: this many matching rows were dropped here, between the rows before
    /// and after this marker.
    Lagged {
        /// Rows lost since the previous event.
        dropped_rows: u64,
    },
    /// The filter could not be evaluated on an appended batch; the subscription ends after it.
    Failed {
        /// DataFusion's or Arrow's error message.
        reason: String,
    },
}
