//! The engine as ingest's [`BatchSink`]: each batch is appended through [`Engine::append`], so
//! the write-ahead log, the live buffer, flushing and the catalog apply to ingested traffic.
//! An acknowledged append is already durable (the log is synced), so `flush` has nothing to do.

use arrow::record_batch::RecordBatch;
use faultline_schemas::{BatchSink, SinkError, Table};

use crate::Engine;

impl BatchSink for Engine {
    /// Appends `batch` (blocking while the engine applies back-pressure).
    fn write(&mut self, table: Table, batch: RecordBatch) -> Result<(), SinkError> {
        self.append(table, batch)?;
        Ok(())
    }
}
