//! The hub, filters and queues of live subscriptions.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, UInt16Array, UInt64Array};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{cast, col, lit};
use faultline_schemas::{entries_schema, entry_col};
use futures::FutureExt;

use super::queue::Queue;
use super::{LiveFilter, Subscription, SubscriptionEvent, Subscriptions};
use crate::EngineError;

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
