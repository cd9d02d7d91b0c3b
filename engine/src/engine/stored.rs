//! The store's Parquet files and their catalog, as one handle: writing a group of files,
//! committing a change to the catalog and to what queries see in one step, reading a
//! catalogued file back, and deleting removed files once no query holds them.
//!
//! Flushes (the write path) and compaction and retention ([`crate::maintenance`]) change the
//! store only through this handle; the catalog lock serialises them.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::properties::WriterProperties;

use super::live::LiveTables;
use crate::EngineError;
use crate::catalog::{Catalog, FileRecord};
use crate::files::{GroupInfo, Part, write_group};
use crate::location::DataLocation;

/// The catalogued Parquet files of a store.
#[derive(Debug)]
pub(crate) struct StoredFiles {
    location: DataLocation,
    props: Arc<WriterProperties>,
    /// Serialises catalog changes: flush, compaction, retention.
    catalog: tokio::sync::Mutex<Catalog>,
    /// What queries see; every commit updates it.
    live: Arc<LiveTables>,
    /// Files deleted (after compaction or retention) since open.
    deleted: AtomicU64,
}

impl StoredFiles {
    /// The files `catalog` names at `location`, written with `props`; commits also update
    /// `live`.
    pub(super) fn new(
        location: DataLocation,
        props: Arc<WriterProperties>,
        catalog: Catalog,
        live: Arc<LiveTables>,
    ) -> Self {
        Self {
            location,
            props,
            catalog: tokio::sync::Mutex::new(catalog),
            live,
            deleted: AtomicU64::new(0),
        }
    }

    /// The data location (directory or URL).
    pub(crate) fn location(&self) -> &DataLocation {
        &self.location
    }

    /// The catalog, locked: held from choosing what to change until the change is committed.
    pub(crate) async fn catalog(&self) -> tokio::sync::MutexGuard<'_, Catalog> {
        self.catalog.lock().await
    }

    /// Writes every part as one sorted Parquet file of the group `info`; the files become part
    /// of the store only when [`Self::commit`] names them.
    pub(crate) async fn write(
        &self,
        parts: Vec<Part>,
        info: &GroupInfo,
    ) -> Result<Vec<FileRecord>, EngineError> {
        write_group(&self.location, &self.props, parts, info).await
    }

    /// Commits a change to the catalog (the commit point), then to what queries see: `add`
    /// joins, `remove` leaves (deleted once no query holds it) and, for a flush, the live rows
    /// up to `flushed_seq` leave the buffer.
    pub(crate) async fn commit(
        &self,
        catalog: &mut Catalog,
        add: Vec<FileRecord>,
        remove: &HashSet<String>,
        flushed_seq: Option<u64>,
    ) -> Result<(), EngineError> {
        catalog.commit(add.clone(), remove, flushed_seq).await?;
        self.live.commit(&add, remove, flushed_seq);
        Ok(())
    }

    /// Every row of a catalogued file, with the table's own types.
    pub(crate) async fn read(&self, file: &FileRecord) -> Result<Vec<RecordBatch>, EngineError> {
        let table = file
            .table()
            .ok_or_else(|| EngineError::Catalog(format!("unknown table `{}`", file.table)))?;
        let bytes = self
            .location
            .get(&file.path)
            .await?
            .ok_or_else(|| EngineError::Catalog(format!("{} is missing", file.path)))?;
        // Read with the table's own types (the file's Arrow metadata asks for dictionaries).
        let options = ArrowReaderOptions::new().with_schema(table.schema());
        let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options)?
            .with_batch_size(64 * 1024)
            .build()?;
        reader
            .map(|b| Ok(RecordBatch::try_new(table.schema(), b?.columns().to_vec())?))
            .collect()
    }

    /// Deletes removed files that no query snapshot holds any more; returns how many.
    pub(crate) async fn collect_garbage(&self) -> Result<u64, EngineError> {
        let ready = self.live.take_unreferenced();
        for file in &ready {
            self.location.delete(&file.path).await?;
        }
        let n = ready.len() as u64;
        self.deleted.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }

    /// Files deleted since open.
    pub(super) fn deleted(&self) -> u64 {
        self.deleted.load(Ordering::Relaxed)
    }
}
