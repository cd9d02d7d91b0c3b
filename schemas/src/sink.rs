//! The seam between producing rows and storing them: ingest hands finished record batches to a
//! [`BatchSink`], and the engine is one. It lives here, below both crates, so neither depends
//! on the other and no mapping between two table enums is needed.

use arrow::record_batch::RecordBatch;

use crate::Table;

/// Error a sink reports; ingest stops when a sink cannot store data.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Receiver of record batches.
pub trait BatchSink {
    /// Stores one batch of `table`.
    fn write(&mut self, table: Table, batch: RecordBatch) -> Result<(), SinkError>;
    /// Makes everything written so far durable.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
