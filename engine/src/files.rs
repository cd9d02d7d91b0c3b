//! Writing one group of Parquet files (a flush or a compaction): each file holds one table's
//! rows of one hour, sorted by timestamp, with its catalog record embedded in the footer.

use arrow::array::AsArray;
use arrow::compute::{SortOptions, concat_batches, max, min, sort_to_indices, take_record_batch};
use arrow::datatypes::TimestampMicrosecondType;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::catalog::{FILE_META_KEY, FileRecord};
use crate::location::DataLocation;
use crate::storage::{HOUR_US, partition_relative, unique_name};
use crate::{EngineError, Table};

/// One file to write: a table's rows of one hour (hour number since the epoch).
#[derive(Debug)]
pub(crate) struct Part {
    pub table: Table,
    pub hour: i64,
    pub batches: Vec<RecordBatch>,
}

/// What the files of a group share.
#[derive(Debug, Clone)]
pub(crate) struct GroupInfo {
    pub group: u64,
    pub wal_seq: u64,
    pub replaces: Vec<String>,
}

/// Writes every part as one sorted Parquet file and returns their catalog records, in order.
/// Each file is written atomically; the group becomes visible only when the caller commits the
/// records to the catalog.
pub(crate) async fn write_group(
    location: &DataLocation,
    props: &WriterProperties,
    parts: Vec<Part>,
    info: &GroupInfo,
) -> Result<Vec<FileRecord>, EngineError> {
    let group_files = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    let mut records = Vec::with_capacity(parts.len());
    for part in parts {
        let sorted = sorted_batch(part.table, &part.batches)?;
        if sorted.num_rows() == 0 {
            continue;
        }
        let (min_ts, max_ts) = ts_bounds(part.table, &sorted)?;
        let mut record = FileRecord {
            table: part.table.name().to_owned(),
            path: format!(
                "{}/{}.parquet",
                partition_relative(part.table.name(), part.hour),
                unique_name()
            ),
            hour_us: part.hour.saturating_mul(HOUR_US),
            min_ts,
            max_ts,
            rows: sorted.num_rows() as u64,
            bytes: 0,
            wal_seq: info.wal_seq,
            group: info.group,
            group_files,
            replaces: info.replaces.clone(),
            created_us: chrono::Utc::now().timestamp_micros(),
        };
        let bytes = encode(&sorted, props, &record)?;
        record.bytes = bytes.len() as u64;
        location.put(&record.path, bytes).await?;
        records.push(record);
    }
    Ok(records)
}

/// All of `batches` as one batch in timestamp order (stable, so equal timestamps keep their
/// append order).
pub(crate) fn sorted_batch(
    table: Table,
    batches: &[RecordBatch],
) -> Result<RecordBatch, EngineError> {
    let schema = batches
        .first()
        .map_or_else(|| table.schema(), |b| b.schema());
    let all = concat_batches(&schema, batches)?;
    let ts = all
        .column_by_name(table.ts_column())
        .ok_or_else(|| EngineError::MissingTimestamp(table.ts_column().to_owned()))?;
    let order = sort_to_indices(ts, Some(SortOptions::default()), None)?;
    Ok(take_record_batch(&all, &order)?)
}

fn ts_bounds(table: Table, batch: &RecordBatch) -> Result<(i64, i64), EngineError> {
    let missing = || EngineError::MissingTimestamp(table.ts_column().to_owned());
    let ts = batch
        .column_by_name(table.ts_column())
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(missing)?;
    Ok((min(ts).ok_or_else(missing)?, max(ts).ok_or_else(missing)?))
}

/// The batch as a Parquet file in memory, with `record` (minus size) in its footer.
fn encode(
    batch: &RecordBatch,
    props: &WriterProperties,
    record: &FileRecord,
) -> Result<Bytes, EngineError> {
    let json = serde_json::to_string(record)
        .map_err(|e| EngineError::Catalog(format!("encoding file record: {e}")))?;
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 4);
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props.clone()))?;
    writer.append_key_value_metadata(KeyValue::new(FILE_META_KEY.to_owned(), json));
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(buf))
}

/// Arrow memory of `batches`, bytes.
pub(crate) fn batches_bytes(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::get_array_memory_size).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_batches::entries;

    #[test]
    fn sorts_across_batches() {
        let b = sorted_batch(Table::Entries, &[entries(&[5, 1]), entries(&[3])]).unwrap();
        let ts = b.column(b.schema().index_of("timestamp").unwrap());
        let ts = ts.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.values().to_vec(), vec![1, 3, 5]);
        assert_eq!(ts_bounds(Table::Entries, &b).unwrap(), (1, 5));
    }
}
