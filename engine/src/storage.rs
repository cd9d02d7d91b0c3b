//! Hour-partitioned Parquet files: `<root>/<table>/date=YYYY-MM-DD/hour=HH/part-*.parquet`.
//!
//! A [`PartitionedWriter`] keeps one open Parquet file per hour it has seen recently, splits each
//! incoming batch by hour with Arrow kernels, and on [`PartitionedWriter::close`] finishes every
//! file and renames it from its temporary name into place.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{AsArray, Int64Array};
use arrow::compute::kernels::cmp::eq;
use arrow::compute::{filter_record_batch, max, min};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::EngineError;

/// Microseconds per hour: the partition width.
pub const HOUR_US: i64 = 3_600_000_000;

/// How the store writes Parquet.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Data directory; tables live in sub-directories named after them.
    pub root: PathBuf,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// zstd compression level (1-22).
    pub zstd_level: i32,
    /// Most hour files kept open at once per table; the least recently used is closed beyond it.
    pub max_open_files: usize,
}

impl StoreConfig {
    /// Defaults for a data directory: 128 Ki-row row groups, zstd level 3, 16 open hours.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            row_group_rows: 128 * 1024,
            zstd_level: 3,
            max_open_files: 16,
        }
    }

    fn writer_properties(&self) -> Result<WriterProperties, EngineError> {
        writer_properties(self.row_group_rows, self.zstd_level)
    }
}

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

/// What a writer has produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Parquet files completed and renamed into place.
    pub files: u64,
    /// Rows written.
    pub rows: u64,
    /// Bytes of completed files.
    pub bytes: u64,
}

struct OpenFile {
    tmp: PathBuf,
    path: PathBuf,
    writer: ArrowWriter<File>,
    last_use: u64,
}

/// Writes one table's batches into hour partitions.
pub struct PartitionedWriter {
    config: StoreConfig,
    props: WriterProperties,
    table: String,
    schema: SchemaRef,
    ts_column: String,
    open: HashMap<i64, OpenFile>,
    tick: u64,
    stats: StoreStats,
}

/// Process-wide file counter so that names never collide within one process.
static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

impl PartitionedWriter {
    /// A writer for `table` with `schema`, partitioned by the timestamp column `ts_column`.
    pub fn new(
        config: StoreConfig,
        table: &str,
        schema: SchemaRef,
        ts_column: &str,
    ) -> Result<Self, EngineError> {
        let props = config.writer_properties()?;
        let dir = config.root.join(table);
        std::fs::create_dir_all(&dir).map_err(EngineError::io("creating", &dir))?;
        Ok(Self {
            config,
            props,
            table: table.to_owned(),
            schema,
            ts_column: ts_column.to_owned(),
            open: HashMap::new(),
            tick: 0,
            stats: StoreStats::default(),
        })
    }

    /// Totals so far (files count once closed).
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    /// Writes a batch, splitting it by hour.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        for (hour, part) in split_by_hour(batch, &self.ts_column)? {
            self.write_hour(hour, &part)?;
        }
        Ok(())
    }

    /// Finishes every open file and moves it into place; returns the totals.
    pub fn close(mut self) -> Result<StoreStats, EngineError> {
        let hours: Vec<i64> = self.open.keys().copied().collect();
        for h in hours {
            self.finish_hour(h)?;
        }
        Ok(self.stats)
    }

    fn write_hour(&mut self, hour: i64, batch: &RecordBatch) -> Result<(), EngineError> {
        self.tick += 1;
        if !self.open.contains_key(&hour) {
            self.evict_if_full()?;
            let file = self.create(hour)?;
            self.open.insert(hour, file);
        }
        let tick = self.tick;
        if let Some(f) = self.open.get_mut(&hour) {
            f.writer.write(batch)?;
            f.last_use = tick;
            self.stats.rows += batch.num_rows() as u64;
        }
        Ok(())
    }

    fn evict_if_full(&mut self) -> Result<(), EngineError> {
        if self.open.len() < self.config.max_open_files.max(1) {
            return Ok(());
        }
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, f)| f.last_use)
            .map(|(h, _)| *h);
        match oldest {
            Some(h) => self.finish_hour(h),
            None => Ok(()),
        }
    }

    fn create(&self, hour: i64) -> Result<OpenFile, EngineError> {
        let dir = partition_dir(&self.config.root, &self.table, hour);
        std::fs::create_dir_all(&dir).map_err(EngineError::io("creating", &dir))?;
        let name = unique_name();
        let path = dir.join(format!("{name}.parquet"));
        let tmp = dir.join(format!(".{name}.parquet.tmp"));
        let file = File::create(&tmp).map_err(EngineError::io("creating", &tmp))?;
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(self.props.clone()))?;
        Ok(OpenFile {
            tmp,
            path,
            writer,
            last_use: 0,
        })
    }

    fn finish_hour(&mut self, hour: i64) -> Result<(), EngineError> {
        let Some(f) = self.open.remove(&hour) else {
            return Ok(());
        };
        let file = f.writer.into_inner()?;
        file.sync_all()
            .map_err(EngineError::io("syncing", &f.tmp))?;
        let bytes = file
            .metadata()
            .map_err(EngineError::io("reading size of", &f.tmp))?
            .len();
        std::fs::rename(&f.tmp, &f.path).map_err(EngineError::io("renaming", &f.tmp))?;
        self.stats.files += 1;
        self.stats.bytes += bytes;
        Ok(())
    }
}

impl Drop for PartitionedWriter {
    /// Files still open when a writer is dropped without `close` (an error path) are removed:
    /// their temporary names never become real ones.
    fn drop(&mut self) {
        for (_, f) in self.open.drain() {
            drop(f.writer);
            let _ = std::fs::remove_file(&f.tmp);
        }
    }
}

/// `<root>/<table>/date=YYYY-MM-DD/hour=HH` for an hour number since the epoch.
pub fn partition_dir(root: &Path, table: &str, hour: i64) -> PathBuf {
    root.join(partition_relative(table, hour))
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
    use arrow::array::{StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("v", DataType::Utf8, false),
        ]))
    }

    fn batch(ts: Vec<i64>) -> RecordBatch {
        let v: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(StringArray::from(v)),
            ],
        )
        .unwrap()
    }

    fn parquet_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(parquet_files(&p));
            } else {
                out.push(p);
            }
        }
        out.sort();
        out
    }

    #[test]
    fn splits_by_hour_and_renames_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            PartitionedWriter::new(StoreConfig::new(dir.path()), "t", schema(), "ts").unwrap();
        // 2023-11-14 22:13:20 UTC and one hour later, interleaved.
        let t0 = 1_700_000_000_000_000;
        w.write(&batch(vec![t0, t0 + HOUR_US, t0 + 1])).unwrap();
        w.write(&batch(vec![t0 + 2])).unwrap();
        let stats = w.close().unwrap();
        assert_eq!(stats.files, 2);
        assert_eq!(stats.rows, 4);
        let files = parquet_files(&dir.path().join("t"));
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(
            files[0]
                .to_string_lossy()
                .contains("date=2023-11-14/hour=22/part-")
        );
        assert!(
            files[1]
                .to_string_lossy()
                .contains("date=2023-11-14/hour=23/part-")
        );
        let rows: usize = files
            .iter()
            .map(|f| {
                let r = ParquetRecordBatchReaderBuilder::try_new(File::open(f).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
                r.map(|b| b.unwrap().num_rows()).sum::<usize>()
            })
            .sum();
        assert_eq!(rows, 4);
    }

    #[test]
    fn dropping_without_close_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            PartitionedWriter::new(StoreConfig::new(dir.path()), "t", schema(), "ts").unwrap();
        w.write(&batch(vec![0])).unwrap();
        drop(w);
        assert!(parquet_files(&dir.path().join("t")).is_empty());
    }

    #[test]
    fn bounded_open_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = StoreConfig::new(dir.path());
        cfg.max_open_files = 2;
        let mut w = PartitionedWriter::new(cfg, "t", schema(), "ts").unwrap();
        for h in 0..5 {
            w.write(&batch(vec![h * HOUR_US])).unwrap();
            assert!(w.open.len() <= 2);
        }
        assert_eq!(w.close().unwrap().files, 5);
    }

    #[test]
    fn missing_timestamp_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            PartitionedWriter::new(StoreConfig::new(dir.path()), "t", schema(), "nope").unwrap();
        assert!(matches!(
            w.write(&batch(vec![0])),
            Err(EngineError::MissingTimestamp(_))
        ));
    }
}
