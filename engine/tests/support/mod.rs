//! Synthetic `entries` and `flows` batches for the engine's integration tests, and the legacy
//! listing-table queries they compare the engine with ([`listing`]).
#![allow(dead_code)]

pub mod listing;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, StringArray, TimestampMicrosecondArray, UInt16Array, UInt64Array, new_null_array,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;
use faultline_schemas::{entries_schema, entry_col, flow_col, flows_schema};

/// 2024-01-01T00:00:00Z, µs.
pub const T0: i64 = 1_704_067_200_000_000;
/// One hour, µs.
pub const HOUR: i64 = 3_600_000_000;

/// A batch of `schema` with the given columns; every other column null, or its type's default.
/// Panics on a given column the schema does not have.
pub fn batch(schema: SchemaRef, rows: usize, given: &[(&str, ArrayRef)]) -> RecordBatch {
    for (name, _) in given {
        assert!(
            schema.column_with_name(name).is_some(),
            "unknown column {name}"
        );
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match given.iter().find(|(n, _)| n == f.name()) {
            Some((_, a)) => a.clone(),
            None if f.is_nullable() => new_null_array(f.data_type(), rows),
            None => ScalarValue::new_default(f.data_type())
                .unwrap()
                .to_array_of_size(rows)
                .unwrap(),
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

/// A UTC timestamp column of the given µs values.
pub fn ts(us: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(us).with_timezone("UTC"))
}

/// `n` entries with ids `first..first+n`, one every `step` µs from `start`. Every third is a
/// `tcp` entry with error type `SynSent`, every fifth `icmp` (protocol `icmp`), the rest `loss`
/// (protocol `tcp`); source IPs
/// cycle through 10.0.0.0..10.0.0.9.
pub fn entries(first: u64, n: usize, start: i64, step: i64) -> RecordBatch {
    let ids: Vec<u64> = (first..first + n as u64).collect();
    let times = ids
        .iter()
        .map(|&i| start + (i - first) as i64 * step)
        .collect();
    let kind = |i: u64| match i {
        i if i % 3 == 0 => "tcp",
        i if i % 5 == 0 => "icmp",
        _ => "loss",
    };
    let kinds: Vec<&str> = ids.iter().map(|&i| kind(i)).collect();
    let protocols: Vec<&str> = kinds
        .iter()
        .map(|&k| if k == "icmp" { "icmp" } else { "tcp" })
        .collect();
    let errors: Vec<Option<&str>> = ids
        .iter()
        .map(|&i| (i % 3 == 0).then_some("SynSent"))
        .collect();
    let src: Vec<String> = ids.iter().map(|i| format!("10.0.0.{}", i % 10)).collect();
    let ports: Vec<u16> = ids.iter().map(|i| (i % 1000) as u16).collect();
    batch(
        entries_schema(),
        n,
        &[
            (entry_col::ID, Arc::new(UInt64Array::from(ids.clone()))),
            (entry_col::TIMESTAMP, ts(times)),
            (entry_col::KIND, Arc::new(StringArray::from(kinds))),
            (
                entry_col::PROTOCOL_NAME,
                Arc::new(StringArray::from(protocols)),
            ),
            (entry_col::ERROR_TYPE, Arc::new(StringArray::from(errors))),
            (entry_col::SRC_IP, Arc::new(StringArray::from(src))),
            (entry_col::SRC_PORT, Arc::new(UInt16Array::from(ports))),
            (entry_col::FLOW_ID, Arc::new(UInt64Array::from(ids))),
        ],
    )
}

/// `n` flows with ids `first..`, one every `step` µs from `start`.
pub fn flows(first: u64, n: usize, start: i64, step: i64) -> RecordBatch {
    let ids: Vec<u64> = (first..first + n as u64).collect();
    let times: Vec<i64> = ids
        .iter()
        .map(|&i| start + (i - first) as i64 * step)
        .collect();
    batch(
        flows_schema(),
        n,
        &[
            (flow_col::FLOW_ID, Arc::new(UInt64Array::from(ids))),
            (flow_col::START, ts(times.clone())),
            (flow_col::END, ts(times)),
        ],
    )
}

/// Total rows of `batches`.
pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The `id` column of `batches`, in order.
pub fn ids(batches: &[RecordBatch]) -> Vec<u64> {
    use arrow::array::AsArray;
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name(entry_col::ID)
                .unwrap()
                .as_primitive::<arrow::datatypes::UInt64Type>()
                .values()
                .to_vec()
        })
        .collect()
}
