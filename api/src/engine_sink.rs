//! The bridge from ingest to the engine: a [`BatchSink`] that appends each batch through
//! [`Engine::append`], so the write-ahead log, the live buffer, flushing and the catalog all
//! apply to ingested traffic.

use std::io::Write;

use arrow::record_batch::RecordBatch;
use faultline_engine::{BatchSink, Engine, SinkError, Table};

/// Appends ingest's batches to an engine (blocking while the engine applies back-pressure).
#[derive(Debug)]
pub struct EngineSink {
    engine: Engine,
    acks: Option<std::fs::File>,
}

impl EngineSink {
    /// A sink appending to `engine`.
    pub fn new(engine: Engine) -> Self {
        Self { engine, acks: None }
    }

    /// Also writes one line `<table> <sequence> <rows>` to `log` after every acknowledged
    /// append (crash tests compare it with what the store holds after a kill).
    pub fn with_ack_log(mut self, log: std::fs::File) -> Self {
        self.acks = Some(log);
        self
    }

    /// The engine behind the sink.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl BatchSink for EngineSink {
    fn write(&mut self, t: Table, batch: RecordBatch) -> Result<(), SinkError> {
        let rows = batch.num_rows();
        let seq = self.engine.append(t, batch)?;
        if let Some(log) = &mut self.acks {
            writeln!(log, "{} {seq} {rows}", t.name())?;
        }
        Ok(())
    }
}
