//! Small `entries` batches for unit tests.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray, UInt64Array, new_null_array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;
use faultline_schemas::{entries_schema, entry_col};

/// A batch of `schema` with the given columns; every other column null, or its type's default.
pub fn batch(schema: SchemaRef, rows: usize, given: &[(&str, ArrayRef)]) -> RecordBatch {
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

/// A UTC timestamp column.
pub fn ts(us: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(us).with_timezone("UTC"))
}

/// `entries` rows at the given times (µs), ids 0.., kind `tcp`.
pub fn entries(times: &[i64]) -> RecordBatch {
    let ids: Vec<u64> = (0..times.len() as u64).collect();
    let kinds: Vec<&str> = times.iter().map(|_| "tcp").collect();
    batch(
        entries_schema(),
        times.len(),
        &[
            (entry_col::ID, Arc::new(UInt64Array::from(ids))),
            (entry_col::TIMESTAMP, ts(times.to_vec())),
            (entry_col::KIND, Arc::new(StringArray::from(kinds))),
        ],
    )
}
