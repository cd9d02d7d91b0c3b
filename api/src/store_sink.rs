//! The bridge from ingest to storage: a [`BatchSink`] that writes each table through the
//! engine's hour-partitioned Parquet writer.

use faultline_engine::{PartitionedWriter, StoreConfig, StoreStats};
use faultline_ingest::sink::{BatchSink, SinkError, Table};
use faultline_schemas::{entries_schema, entry_col, flow_col, flows_schema};

/// Writes `entries` (partitioned by `timestamp`) and `flows` (by `start`) under one data dir.
pub struct StoreSink {
    entries: PartitionedWriter,
    flows: PartitionedWriter,
}

impl StoreSink {
    /// Opens writers for both tables.
    pub fn new(config: StoreConfig) -> Result<Self, faultline_engine::EngineError> {
        Ok(Self {
            entries: PartitionedWriter::new(
                config.clone(),
                "entries",
                entries_schema(),
                entry_col::TIMESTAMP,
            )?,
            flows: PartitionedWriter::new(config, "flows", flows_schema(), flow_col::START)?,
        })
    }

    /// Finishes every file; returns totals for `entries` and `flows`.
    pub fn close(self) -> Result<(StoreStats, StoreStats), faultline_engine::EngineError> {
        Ok((self.entries.close()?, self.flows.close()?))
    }
}

impl BatchSink for StoreSink {
    fn write(
        &mut self,
        table: Table,
        batch: arrow::record_batch::RecordBatch,
    ) -> Result<(), SinkError> {
        let writer = match table {
            Table::Entries => &mut self.entries,
            Table::Flows => &mut self.flows,
        };
        writer.write(&batch).map_err(Into::into)
    }
}
