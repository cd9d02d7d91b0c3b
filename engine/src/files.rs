//! Writing one group of Parquet files (a flush or a compaction): each file holds one table's
//! rows of one hour, sorted by timestamp, with its catalog record embedded in the footer.

use arrow::array::{Array, AsArray};
use arrow::compute::{SortOptions, concat_batches, max, min, sort_to_indices, take_record_batch};
use arrow::datatypes::TimestampMicrosecondType;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ARROW_SCHEMA_META_KEY, ArrowWriter, encode_arrow_schema};
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
/// records to the catalog. Parts are encoded on all cores (a flush usually spans several
/// hours and both tables), then stored one by one.
pub(crate) async fn write_group(
    location: &DataLocation,
    props: &WriterProperties,
    parts: Vec<Part>,
    info: &GroupInfo,
) -> Result<Vec<FileRecord>, EngineError> {
    let group_files = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    let encoded = encode_parts(props, parts, info, group_files)?;
    let mut records = Vec::with_capacity(encoded.len());
    for (record, bytes) in encoded {
        location.put(&record.path, bytes).await?;
        records.push(record);
    }
    Ok(records)
}

/// One encoded file (`None`: the part had no rows), tagged with the part's position.
type Encoded = (usize, Result<Option<(FileRecord, Bytes)>, EngineError>);

/// Encodes `parts` in parallel (round-robin over the available cores), keeping their order;
/// empty parts give no file.
fn encode_parts(
    props: &WriterProperties,
    parts: Vec<Part>,
    info: &GroupInfo,
    group_files: u32,
) -> Result<Vec<(FileRecord, Bytes)>, EngineError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, parts.len().max(1));
    let mut buckets: Vec<Vec<(usize, Part)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, part) in parts.into_iter().enumerate() {
        buckets[i % threads].push((i, part));
    }
    let encode_bucket = |bucket: Vec<(usize, Part)>| {
        bucket
            .into_iter()
            .map(|(i, part)| (i, encode_part(props, part, info, group_files)))
            .collect::<Vec<_>>()
    };
    let mut done: Vec<Encoded> = if threads == 1 {
        buckets.into_iter().flat_map(encode_bucket).collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = buckets
                .into_iter()
                .map(|bucket| scope.spawn(move || encode_bucket(bucket)))
                .collect();
            let mut all = Vec::new();
            for handle in handles {
                match handle.join() {
                    Ok(results) => all.extend(results),
                    Err(_) => all.push((
                        usize::MAX,
                        Err(EngineError::Catalog(
                            "a Parquet encoder thread panicked".into(),
                        )),
                    )),
                }
            }
            all
        })
    };
    done.sort_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(done.len());
    for (_, result) in done {
        out.extend(result?);
    }
    Ok(out)
}

/// One part as a sorted Parquet file and its catalog record; `None` when it has no rows.
fn encode_part(
    props: &WriterProperties,
    part: Part,
    info: &GroupInfo,
    group_files: u32,
) -> Result<Option<(FileRecord, Bytes)>, EngineError> {
    let sorted = in_time_order(part.table, part.batches)?;
    let rows: usize = sorted.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Ok(None);
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
        rows: rows as u64,
        bytes: 0,
        wal_seq: info.wal_seq,
        group: info.group,
        group_files,
        replaces: info.replaces.clone(),
        created_us: chrono::Utc::now().timestamp_micros(),
    };
    let bytes = encode(part.table, &sorted, props, &record)?;
    record.bytes = bytes.len() as u64;
    Ok(Some((record, bytes)))
}

/// `batches` in timestamp order: unchanged when they already are (the common case for live
/// traffic, and no copy is made), else concatenated and stably sorted (equal timestamps keep
/// their append order).
pub(crate) fn in_time_order(
    table: Table,
    batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>, EngineError> {
    let mut last = i64::MIN;
    let mut ordered = true;
    for batch in &batches {
        let ts = timestamps(table, batch)?;
        if ts.null_count() > 0 {
            ordered = false;
            break;
        }
        let values = ts.values();
        ordered = values.first().is_none_or(|&first| first >= last)
            && values.windows(2).all(|w| w[0] <= w[1]);
        if !ordered {
            break;
        }
        last = values.last().copied().unwrap_or(last);
    }
    if ordered {
        return Ok(batches);
    }
    Ok(vec![sorted_batch(table, &batches)?])
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

/// The timestamp column of `batch`.
fn timestamps(
    table: Table,
    batch: &RecordBatch,
) -> Result<&arrow::array::TimestampMicrosecondArray, EngineError> {
    batch
        .column_by_name(table.ts_column())
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| EngineError::MissingTimestamp(table.ts_column().to_owned()))
}

fn ts_bounds(table: Table, batches: &[RecordBatch]) -> Result<(i64, i64), EngineError> {
    let missing = || EngineError::MissingTimestamp(table.ts_column().to_owned());
    let mut bounds: Option<(i64, i64)> = None;
    for batch in batches {
        let ts = timestamps(table, batch)?;
        if let (Some(lo), Some(hi)) = (min(ts), max(ts)) {
            bounds = Some(bounds.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
    }
    bounds.ok_or_else(missing)
}

/// The batches as one Parquet file in memory, with `record` (minus size) in its footer and the
/// table's [`Table::file_schema`] as its Arrow schema, so readers decode the low-cardinality
/// columns as dictionaries.
fn encode(
    table: Table,
    batches: &[RecordBatch],
    props: &WriterProperties,
    record: &FileRecord,
) -> Result<Bytes, EngineError> {
    let json = serde_json::to_string(record)
        .map_err(|e| EngineError::Catalog(format!("encoding file record: {e}")))?;
    let Some(first) = batches.first() else {
        return Err(EngineError::Catalog("encoding an empty file".into()));
    };
    let memory: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    let mut buf = Vec::with_capacity(memory / 4);
    let options = ArrowWriterOptions::new()
        .with_properties(props.clone())
        .with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(&mut buf, first.schema(), options)?;
    writer.append_key_value_metadata(KeyValue::new(
        ARROW_SCHEMA_META_KEY.to_owned(),
        encode_arrow_schema(&table.file_schema()),
    ));
    writer.append_key_value_metadata(KeyValue::new(FILE_META_KEY.to_owned(), json));
    for batch in batches {
        writer.write(batch)?;
    }
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
        assert_eq!(ts_bounds(Table::Entries, &[b]).unwrap(), (1, 5));
    }

    fn ts_of(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| timestamps(Table::Entries, b).unwrap().values().to_vec())
            .collect()
    }

    #[test]
    fn files_ask_readers_for_dictionaries() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let batches = vec![entries(&[1, 2])];
        let record = FileRecord {
            table: "entries".into(),
            path: "p".into(),
            hour_us: 0,
            min_ts: 1,
            max_ts: 2,
            rows: 2,
            bytes: 0,
            wal_seq: 0,
            group: 0,
            group_files: 1,
            replaces: Vec::new(),
            created_us: 0,
        };
        let props = crate::storage::writer_properties(1024, 1).unwrap();
        let bytes = encode(Table::Entries, &batches, &props, &record).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let schema = reader.schema().clone();
        assert!(matches!(
            schema.field_with_name("kind").unwrap().data_type(),
            arrow::datatypes::DataType::Dictionary(_, _)
        ));
        assert_eq!(
            schema.field_with_name("src_ip").unwrap().data_type(),
            &arrow::datatypes::DataType::Utf8
        );
        let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let kind = arrow::compute::cast(
            read[0].column_by_name("kind").unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        assert_eq!(kind.as_string::<i32>().value(1), "tcp");
    }

    #[test]
    fn ordered_batches_are_kept_as_they_are() {
        let ordered =
            in_time_order(Table::Entries, vec![entries(&[1, 2]), entries(&[2, 7])]).unwrap();
        assert_eq!(ordered.len(), 2, "no copy when already in order");
        assert_eq!(ts_of(&ordered), vec![1, 2, 2, 7]);
        let across = in_time_order(Table::Entries, vec![entries(&[1, 9]), entries(&[3])]).unwrap();
        assert_eq!(across.len(), 1);
        assert_eq!(ts_of(&across), vec![1, 3, 9]);
        let within = in_time_order(Table::Entries, vec![entries(&[4, 2])]).unwrap();
        assert_eq!(ts_of(&within), vec![2, 4]);
        assert_eq!(ts_bounds(Table::Entries, &across).unwrap(), (1, 9));
    }
}
