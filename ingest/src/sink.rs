//! The small trait through which ingest hands finished record batches to storage. `ingest`
//! never depends on the engine; the binary wires an engine-backed implementation in.

use arrow::record_batch::RecordBatch;

/// Which table a batch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// The `entries` table.
    Entries,
    /// The `flows` table.
    Flows,
}

impl Table {
    /// Table name as stored and queried.
    pub fn name(self) -> &'static str {
        match self {
            Table::Entries => "entries",
            Table::Flows => "flows",
        }
    }
}

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
