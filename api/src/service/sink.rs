//! The service's sink: batches go to the engine (its append is acknowledged once the
//! write-ahead log is synced), then to the observer, and optionally to an ack log that the
//! crash tests compare with what a killed ingest left in the store.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use arrow::record_batch::RecordBatch;
use faultline_engine::Engine;
use faultline_schemas::{BatchSink, SinkError, Table};

use super::observer::IngestObserver;

/// A file getting one line `<table> <sequence> <rows>` per acknowledged append; clones share
/// the file.
#[derive(Debug, Clone)]
pub struct AckLog(Arc<Mutex<std::fs::File>>);

impl AckLog {
    /// An ack log writing to `file`.
    pub fn new(file: std::fs::File) -> Self {
        Self(Arc::new(Mutex::new(file)))
    }

    /// Records that the engine acknowledged `rows` rows of `table` as log record `seq`.
    fn acknowledged(&self, table: Table, seq: u64, rows: usize) -> std::io::Result<()> {
        let mut file = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        writeln!(file, "{} {seq} {rows}", table.name())
    }
}

/// Appends each batch to the engine (blocking while it applies back-pressure), then tells the
/// ack log, if any, and the observer.
pub struct StoreSink {
    engine: Engine,
    observer: Arc<dyn IngestObserver>,
    acks: Option<AckLog>,
}

impl std::fmt::Debug for StoreSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSink")
            .field("engine", &self.engine)
            .field("acks", &self.acks)
            .finish_non_exhaustive()
    }
}

impl StoreSink {
    /// A sink appending to `engine`, reporting to `observer` and, when given, to `acks`.
    pub fn new(engine: Engine, observer: Arc<dyn IngestObserver>, acks: Option<AckLog>) -> Self {
        Self {
            engine,
            observer,
            acks,
        }
    }
}

impl BatchSink for StoreSink {
    fn write(&mut self, table: Table, batch: RecordBatch) -> Result<(), SinkError> {
        let rows = batch.num_rows();
        // Cheap: the columns are shared, not copied.
        let seen = batch.clone();
        let seq = self.engine.append(table, batch)?;
        if let Some(acks) = &self.acks {
            acks.acknowledged(table, seq, rows)?;
        }
        self.observer.stored(table, &seen);
        Ok(())
    }
}
