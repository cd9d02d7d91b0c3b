//! Where ingest hands finished record batches: the [`BatchSink`] trait and the [`Table`] enum
//! are defined once in `faultline-schemas` (the engine implements the trait; `ingest` never
//! depends on it) and re-exported here, with an in-memory sink for tests and tools.

use arrow::record_batch::RecordBatch;

pub use faultline_schemas::{BatchSink, SinkError, Table};

/// A sink that keeps batches in memory (tests, benchmarks, small tools).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Batches of `entries`, in write order.
    pub entries: Vec<RecordBatch>,
    /// Batches of `flows`, in write order.
    pub flows: Vec<RecordBatch>,
}

impl BatchSink for MemorySink {
    fn write(&mut self, table: Table, batch: RecordBatch) -> Result<(), SinkError> {
        match table {
            Table::Entries => self.entries.push(batch),
            Table::Flows => self.flows.push(batch),
        }
        Ok(())
    }
}
