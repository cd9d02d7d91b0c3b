//! The on-disk layout of the tables and how Parquet files are written: hour partitions
//! `<table>/date=YYYY-MM-DD/hour=HH/part-*.parquet` (hive style, so the directories stay a plain
//! DataFusion or DuckDB dataset), Parquet writer settings, and splitting batches by hour.

use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{AsArray, Int64Array};
use arrow::compute::kernels::cmp::eq;
use arrow::compute::{filter_record_batch, max, min};
use arrow::datatypes::TimestampMicrosecondType;
use arrow::record_batch::RecordBatch;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::EngineError;

/// Microseconds per hour: the partition width.
pub const HOUR_US: i64 = 3_600_000_000;

/// Process-wide file counter so that names never collide within one process.
static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Columns that get a Parquet bloom filter: addresses, whose min/max statistics cannot prune
/// a selective `src.ip == "…"` (every row group spans most of the address range).
const BLOOM_COLUMNS: [&str; 2] = ["src_ip", "dst_ip"];

/// Parquet settings of every file faultline writes: zstd, page statistics (so row groups and
/// pages are pruned by time and by filter), bloom filters on addresses, bounded row groups.
pub(crate) fn writer_properties(
    row_group_rows: usize,
    zstd_level: i32,
) -> Result<WriterProperties, EngineError> {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(zstd_level)?))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_created_by(concat!("faultline ", env!("CARGO_PKG_VERSION")).to_owned());
    for column in BLOOM_COLUMNS {
        let path = ColumnPath::from(column);
        builder = builder
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), 0.01)
            .set_column_bloom_filter_max_ndv(path, 16_384);
    }
    Ok(builder.build())
}

/// A file name stem no other writer in this or another process picks.
pub(crate) fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seq = FILE_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("part-{nanos:x}-{:x}-{seq}", std::process::id())
}

/// Splits `batch` into one batch per hour (hour number since the epoch) of its timestamp
/// column `ts_column`, in ascending hour order, with Arrow kernels; the common single-hour batch
/// is returned as is.
pub(crate) fn split_by_hour(
    batch: &RecordBatch,
    ts_column: &str,
) -> Result<Vec<(i64, RecordBatch)>, EngineError> {
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let col = batch
        .column_by_name(ts_column)
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| EngineError::MissingTimestamp(ts_column.to_owned()))?;
    let buckets: Int64Array = arrow::compute::kernels::arity::unary(col, |t| t.div_euclid(HOUR_US));
    match (min(&buckets), max(&buckets)) {
        (Some(lo), Some(hi)) if lo == hi => Ok(vec![(lo, batch.clone())]),
        _ => distinct(&buckets)
            .into_iter()
            .map(|hour| {
                let mask = eq(&buckets, &Int64Array::new_scalar(hour))?;
                Ok((hour, filter_record_batch(batch, &mask)?))
            })
            .collect(),
    }
}

/// `<table>/date=YYYY-MM-DD/hour=HH`, the partition directory of an hour number since the epoch.
pub(crate) fn partition_relative(table: &str, hour: i64) -> String {
    let start = chrono::DateTime::from_timestamp(hour.saturating_mul(3600), 0).unwrap_or_default();
    format!(
        "{table}/date={}/hour={}",
        start.format("%Y-%m-%d"),
        start.format("%H")
    )
}

/// Distinct values of a non-null array, ascending.
fn distinct(a: &Int64Array) -> Vec<i64> {
    let mut v: Vec<i64> = a.values().to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_batches::entries;

    #[test]
    fn splits_by_hour_in_order() {
        let b = entries(&[2 * HOUR_US + 5, 1, HOUR_US, 2, 2 * HOUR_US]);
        let parts = split_by_hour(&b, "timestamp").unwrap();
        let hours: Vec<(i64, usize)> = parts.iter().map(|(h, p)| (*h, p.num_rows())).collect();
        assert_eq!(hours, vec![(0, 2), (1, 1), (2, 2)]);
        let single = split_by_hour(&entries(&[1, 2]), "timestamp").unwrap();
        assert_eq!(single.len(), 1);
        assert!(
            split_by_hour(&entries(&[]), "timestamp")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn missing_timestamp_is_an_error() {
        let b = entries(&[1]);
        assert!(matches!(
            split_by_hour(&b, "nope"),
            Err(EngineError::MissingTimestamp(_))
        ));
    }

    #[test]
    fn partition_paths() {
        // 2024-01-01T13:00:00Z is hour 473 365.
        assert_eq!(
            partition_relative("entries", 1_704_114_000 / 3600),
            "entries/date=2024-01-01/hour=13"
        );
        assert_ne!(unique_name(), unique_name());
    }
}
