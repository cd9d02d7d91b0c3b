//! Live subscriptions: streams of newly appended `entries` rows that match a KFL filter.
//!
//! A [`Subscriptions`] hub holds the subscribers. Each subscription compiles its KFL once into a
//! DataFusion [`PhysicalExpr`] over the `entries` schema ([`LiveFilter`]); [`Subscriptions::publish`]
//! evaluates it on every appended batch and queues the matching rows.
//!
//! Every subscriber has a bounded queue measured in rows. `publish` never waits for a consumer:
//! rows that do not fit are dropped and the consumer receives a
//! [`SubscriptionEvent::Lagged`] marker, at the place of the gap, carrying the exact number of
//! rows lost. A consumer that never polls therefore costs at most its capacity (plus the rest of
//! the one batch a partly queued slice shares memory with) and never stalls ingest.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::task::{Context, Poll, Waker};

use arrow::array::{Array, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{ColumnarValue, Expr};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use faultline_kfl::Warning;
use faultline_schemas::entries_schema;
use futures::Stream;

use crate::EngineError;
use crate::session::session_config;

/// A row filter over `entries` compiled once to a physical expression, evaluated per batch.
#[derive(Debug, Clone)]
pub struct LiveFilter {
    expr: Arc<dyn PhysicalExpr>,
    /// The physical expression in full (Debug: literals with their types): filters with equal
    /// keys select the same rows, so a published batch is filtered once for all subscribers
    /// that share one.
    key: String,
    schema: SchemaRef,
    limit: Option<u64>,
    warnings: Vec<Warning>,
}

impl LiveFilter {
    /// Compiles KFL text (`now()` read from the system clock, once, now); a KFL error comes
    /// back as [`EngineError::Kfl`], whose message says the line and column.
    pub fn compile(kfl: &str) -> Result<Self, EngineError> {
        let compiled = faultline_kfl::compile(kfl)?;
        let mut filter = Self::from_expr(compiled.expr)?;
        filter.limit = compiled.limit;
        filter.warnings = compiled.warnings;
        Ok(filter)
    }

    /// Compiles a logical boolean expression over the `entries` columns (type coercion and
    /// simplification first, as DataFusion's planner does); no row limit.
    pub fn from_expr(expr: Expr) -> Result<Self, EngineError> {
        let schema = entries_schema();
        let df_schema = Arc::new(DFSchema::try_from(Arc::clone(&schema))?);
        let context = SimplifyContext::builder()
            .with_schema(Arc::clone(&df_schema))
            .build();
        let simplifier = ExprSimplifier::new(context);
        let expr = simplifier.simplify(simplifier.coerce(expr, &df_schema)?)?;
        let physical = SessionContext::new_with_config(session_config())
            .create_physical_expr(expr, &df_schema)?;
        let ty = physical.data_type(&schema)?;
        if ty != DataType::Boolean {
            return Err(ArrowError::InvalidArgumentError(format!(
                "a row filter must be boolean, this one is {ty}"
            ))
            .into());
        }
        Ok(Self {
            key: format!("{physical:?}"),
            expr: physical,
            schema,
            limit: None,
            warnings: Vec::new(),
        })
    }

    /// The KFL `limit(n)`, if the query had one.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Warnings of the KFL compiler; render them with [`Warning::render`] and the query text.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The rows of `batch` the filter selects (a null result does not select), or `None` when
    /// none does. Fails unless `batch` has the `entries` columns.
    pub fn apply(&self, batch: &RecordBatch) -> Result<Option<RecordBatch>, EngineError> {
        check_schema(&self.schema, batch)?;
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let mask = match self.expr.evaluate(batch)? {
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))) => {
                return Ok(Some(batch.clone()));
            }
            ColumnarValue::Scalar(_) => return Ok(None),
            ColumnarValue::Array(array) => array,
        };
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                ArrowError::InvalidArgumentError(format!(
                    "row filter evaluated to {}, not booleans",
                    mask.data_type()
                ))
            })?;
        // `true_count` counts valid true values only: nulls do not select, as in `filter`.
        Ok(match mask.true_count() {
            0 => None,
            n if n == batch.num_rows() => Some(batch.clone()),
            _ => Some(filter_record_batch(batch, mask)?),
        })
    }
}

/// Fails unless `batch` has the columns of `schema` (names and types, in order): a physical
/// expression addresses columns by position, so any other batch would be misread.
fn check_schema(schema: &SchemaRef, batch: &RecordBatch) -> Result<(), EngineError> {
    let got = batch.schema_ref();
    if Arc::ptr_eq(got, schema) {
        return Ok(());
    }
    let same = got.fields().len() == schema.fields().len()
        && got
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
    if same {
        Ok(())
    } else {
        Err(ArrowError::SchemaError(
            "a published batch must have the columns of the entries table".into(),
        )
        .into())
    }
}

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

/// Hub-wide counters, shared with every subscriber.
#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    matched: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

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

/// The queue of one subscriber, under its mutex.
#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<SubscriptionEvent>,
    /// Rows in `events` (the bound applies to this).
    rows: usize,
    /// The consumer's waker while it waits for an event.
    waker: Option<Waker>,
    /// No more events will be queued: the hub closed or the filter failed.
    ended: bool,
}

impl Queue {
    /// Queues as much of `batch` as fits in `capacity` rows and records the rest as dropped;
    /// returns the number dropped.
    fn offer(&mut self, batch: RecordBatch, capacity: usize) -> u64 {
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
type Selected = Result<Option<RecordBatch>, String>;

/// The state one subscriber shares between the hub (producer) and its [`Subscription`].
#[derive(Debug)]
struct Subscriber {
    filter: LiveFilter,
    capacity_rows: usize,
    queue: Mutex<Queue>,
    /// Set when the consumer is gone or has had all it wants: the hub skips and forgets it.
    closed: AtomicBool,
    counters: Arc<Counters>,
}

impl Subscriber {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues the rows of a published batch that this subscriber's filter selected (or the
    /// filter's failure); never waits for the consumer.
    fn offer(&self, selected: &Selected) {
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
    fn end(&self) {
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
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let mut queue = self.lock();
        queue.events.clear();
        queue.rows = 0;
        queue.ended = true;
        queue.waker = None;
    }
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
    /// slow consumer (more are dropped and reported by a [`SubscriptionEvent::Lagged`] marker).
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
        let mut subscription = Subscription {
            shared,
            remaining,
            done: false,
        };
        if remaining == Some(0) {
            subscription.finish();
        }
        subscription
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Subscriber>>> {
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

/// One live subscription: a [`Stream`] of [`SubscriptionEvent`]s. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    shared: Arc<Subscriber>,
    /// Rows still wanted under the query's `limit(n)`.
    remaining: Option<u64>,
    done: bool,
}

impl Subscription {
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray, UInt16Array, UInt64Array};
    use datafusion::logical_expr::{cast, col, lit};
    use faultline_schemas::entry_col;
    use futures::FutureExt;

    /// An `entries` batch of `ids`, with `protocol_name`, `error_type` and `response_status`
    /// as given; other columns null, or their type's default where not nullable.
    fn batch(
        ids: &[u64],
        protocol: &[&str],
        error: &[Option<&str>],
        status: &[Option<u16>],
    ) -> RecordBatch {
        let schema = entries_schema();
        let given: Vec<(&str, ArrayRef)> = vec![
            (entry_col::ID, Arc::new(UInt64Array::from(ids.to_vec()))),
            (
                entry_col::PROTOCOL_NAME,
                Arc::new(StringArray::from(protocol.to_vec())),
            ),
            (
                entry_col::ERROR_TYPE,
                Arc::new(StringArray::from(error.to_vec())),
            ),
            (
                entry_col::RESPONSE_STATUS,
                Arc::new(UInt16Array::from(status.to_vec())),
            ),
        ];
        let columns = schema
            .fields()
            .iter()
            .map(|f| match given.iter().find(|(n, _)| n == f.name()) {
                Some((_, a)) => Arc::clone(a),
                None if f.is_nullable() => arrow::array::new_null_array(f.data_type(), ids.len()),
                None => ScalarValue::new_default(f.data_type())
                    .unwrap()
                    .to_array_of_size(ids.len())
                    .unwrap(),
            })
            .collect();
        RecordBatch::try_new(schema, columns).unwrap()
    }

    /// Six rows: tcp/icmp/udp, some with errors and HTTP statuses.
    fn sample(first_id: u64) -> RecordBatch {
        let ids: Vec<u64> = (first_id..first_id + 6).collect();
        batch(
            &ids,
            &["tcp", "icmp", "udp", "tcp", "icmp", "http"],
            &[None, None, Some("timeout"), Some("connection"), None, None],
            &[None, None, None, None, None, Some(503)],
        )
    }

    fn ids(batch: &RecordBatch) -> Vec<u64> {
        let col = batch.column_by_name(entry_col::ID).unwrap();
        let ids = col.as_any().downcast_ref::<UInt64Array>().unwrap();
        ids.values().to_vec()
    }

    fn selected(kfl: &str, batch: &RecordBatch) -> Vec<u64> {
        let filter = LiveFilter::compile(kfl).unwrap();
        filter
            .apply(batch)
            .unwrap()
            .map(|b| ids(&b))
            .unwrap_or_default()
    }

    /// The next event if one is ready, without waiting.
    fn ready(sub: &mut Subscription) -> Option<Option<SubscriptionEvent>> {
        sub.next_event().now_or_never()
    }

    fn rows_of(event: Option<Option<SubscriptionEvent>>) -> Vec<u64> {
        match event {
            Some(Some(SubscriptionEvent::Rows(b))) => ids(&b),
            other => panic!("expected rows, got {other:?}"),
        }
    }

    #[test]
    fn filters_select_matching_rows() {
        let b = sample(1);
        assert_eq!(selected("error or icmp", &b), vec![2, 3, 4, 5]);
        assert_eq!(selected("tcp and !error", &b), vec![1]);
        assert_eq!(selected("response.status >= 500", &b), vec![6]);
        // A comparison with a null status is null, which does not select.
        assert_eq!(selected("response.status != 200", &b), vec![6]);
        // A literal wider than the column needs coercion before it can be evaluated.
        assert_eq!(selected("response.status < 70000", &b), vec![6]);
        assert_eq!(selected("dns", &b), Vec::<u64>::new());
        assert_eq!(selected("true", &b), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(selected("false", &b), Vec::<u64>::new());
    }

    #[test]
    fn kfl_errors_say_where() {
        let err = LiveFilter::compile("tcp and response.stauts == 1").unwrap_err();
        assert!(matches!(err, EngineError::Kfl(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("response.stauts") && text.contains("1:9"),
            "{text}"
        );
    }

    #[test]
    fn a_batch_of_other_columns_is_refused() {
        let filter = LiveFilter::compile("tcp").unwrap();
        let b = sample(1);
        let projected = b.project(&[0, 1, 2]).unwrap();
        assert!(filter.apply(&projected).is_err());
        let hub = Subscriptions::new();
        let _sub = hub.subscribe("tcp", 10).unwrap();
        assert!(hub.publish(&projected).is_err());
        assert_eq!(hub.stats().rows_published, 0);
    }

    #[test]
    fn queue_keeps_what_fits_and_marks_the_gap() {
        let mut q = Queue::default();
        assert_eq!(q.offer(sample(1), 8), 0);
        // 2 of the next 6 fit, 4 are dropped; the next whole batch is dropped too.
        assert_eq!(q.offer(sample(7), 8), 4);
        assert_eq!(q.offer(sample(13), 8), 6);
        assert_eq!(q.rows, 8);
        let kinds: Vec<String> = q
            .events
            .iter()
            .map(|e| match e {
                SubscriptionEvent::Rows(b) => format!("rows {:?}", ids(b)),
                SubscriptionEvent::Lagged { dropped_rows } => format!("lagged {dropped_rows}"),
                SubscriptionEvent::Failed { .. } => "failed".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            ["rows [1, 2, 3, 4, 5, 6]", "rows [7, 8]", "lagged 10"]
        );
    }

    #[test]
    fn slow_consumer_gets_lag_marker_then_newer_rows() {
        let hub = Subscriptions::new();
        let mut sub = hub.subscribe("tcp or udp", 4).unwrap();
        assert!(ready(&mut sub).is_none(), "nothing published yet");
        for i in 0..3 {
            hub.publish(&sample(1 + 6 * i)).unwrap(); // 3 matching rows each
        }
        assert_eq!(sub.queued_rows(), 4);
        assert_eq!(rows_of(ready(&mut sub)), vec![1, 3, 4]);
        assert_eq!(rows_of(ready(&mut sub)), vec![7]);
        match ready(&mut sub) {
            Some(Some(SubscriptionEvent::Lagged { dropped_rows })) => assert_eq!(dropped_rows, 5),
            other => panic!("expected a lag marker, got {other:?}"),
        }
        assert!(ready(&mut sub).is_none());
        hub.publish(&sample(19)).unwrap();
        assert_eq!(rows_of(ready(&mut sub)), vec![19, 21, 22]);
        let stats = hub.stats();
        assert_eq!(stats.rows_matched, 12);
        assert_eq!(stats.rows_delivered, 7);
        assert_eq!(stats.rows_dropped, 5);
        assert_eq!(stats.rows_queued, 0);
        assert_eq!(stats.rows_published, 24);
    }

    #[test]
    fn limit_ends_the_stream() {
        let hub = Subscriptions::new();
        let mut sub = hub.subscribe("tcp and limit(3)", 100).unwrap();
        hub.publish(&sample(1)).unwrap();
        hub.publish(&sample(7)).unwrap();
        assert_eq!(rows_of(ready(&mut sub)), vec![1, 4]);
        assert_eq!(rows_of(ready(&mut sub)), vec![7]);
        assert!(matches!(ready(&mut sub), Some(None)));
        // The finished subscriber is forgotten at the next publish.
        hub.publish(&sample(13)).unwrap();
        assert_eq!(hub.len(), 0);
        assert_eq!(hub.stats().rows_delivered, 3);
    }

    #[test]
    fn subscribers_of_one_filter_share_its_result() {
        let hub = Subscriptions::new();
        let mut a = hub.subscribe("tcp or udp", 100).unwrap();
        let mut b = hub.subscribe("(tcp or udp) and limit(10)", 100).unwrap();
        let mut c = hub.subscribe("udp or tcp", 100).unwrap();
        hub.publish(&sample(1)).unwrap();
        let rows = |sub: &mut Subscription| match ready(sub) {
            Some(Some(SubscriptionEvent::Rows(b))) => b,
            e => panic!("expected rows, got {e:?}"),
        };
        let (ra, rb, rc) = (rows(&mut a), rows(&mut b), rows(&mut c));
        assert_eq!(ids(&ra), vec![1, 3, 4]);
        assert_eq!(ids(&rb), vec![1, 3, 4]);
        assert_eq!(ids(&rc), vec![1, 3, 4]);
        assert!(
            Arc::ptr_eq(ra.column(0), rb.column(0)),
            "one filtered batch, shared"
        );
        // `udp or tcp` compiles to another expression: filtered on its own.
        assert!(!Arc::ptr_eq(ra.column(0), rc.column(0)));
    }

    #[test]
    fn dropping_a_subscription_unsubscribes() {
        let hub = Subscriptions::new();
        let sub = hub.subscribe("tcp", 100).unwrap();
        let _other = hub.subscribe("icmp", 100).unwrap();
        hub.publish(&sample(1)).unwrap();
        assert_eq!(hub.len(), 2);
        drop(sub);
        assert_eq!(hub.len(), 1);
        assert_eq!(hub.stats().rows_queued, 2, "the dropped queue is released");
        hub.publish(&sample(7)).unwrap();
        assert_eq!(hub.read().len(), 1, "and removed from the hub");
    }

    #[test]
    fn closing_the_hub_drains_then_ends() {
        let hub = Subscriptions::new();
        let mut sub = hub.subscribe("icmp", 100).unwrap();
        hub.publish(&sample(1)).unwrap();
        drop(hub);
        assert_eq!(rows_of(ready(&mut sub)), vec![2, 5]);
        assert!(matches!(ready(&mut sub), Some(None)));
    }

    #[test]
    fn waiting_consumer_is_woken() {
        let hub = Arc::new(Subscriptions::new());
        let mut sub = hub.subscribe("icmp", 100).unwrap();
        let publisher = Arc::clone(&hub);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            publisher.publish(&sample(1)).unwrap();
        });
        let event = futures::executor::block_on(sub.next_event());
        assert_eq!(rows_of(Some(event)), vec![2, 5]);
        thread.join().unwrap();
    }

    #[test]
    fn a_filter_that_fails_ends_its_subscription() {
        // CAST of "tcp" to an integer fails at run time; KFL never compiles such a filter.
        let expr = cast(col(entry_col::PROTOCOL_NAME), DataType::Int32).eq(lit(1));
        let filter = LiveFilter::from_expr(expr).unwrap();
        let hub = Subscriptions::new();
        let mut failing = hub.subscribe_filter(filter, 100);
        let mut fine = hub.subscribe("icmp", 100).unwrap();
        hub.publish(&sample(1)).unwrap();
        match ready(&mut failing) {
            Some(Some(SubscriptionEvent::Failed { reason })) => assert!(!reason.is_empty()),
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(matches!(ready(&mut failing), Some(None)));
        assert_eq!(rows_of(ready(&mut fine)), vec![2, 5]);
        assert_eq!(hub.len(), 1);
    }

    #[test]
    fn non_boolean_expressions_are_refused() {
        assert!(LiveFilter::from_expr(col(entry_col::ID)).is_err());
    }

    #[test]
    fn hub_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Subscriptions>();
        check::<Subscription>();
    }
}
