//! Query results as a stream of record batches that keeps its snapshot alive (so compaction and
//! retention do not delete the files it reads) and fails once its time limit has passed.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::EngineError;
use crate::provider::Snapshot;
use crate::session::query_error;

/// The rows of one query, batch by batch.
pub struct QueryStream {
    inner: SendableRecordBatchStream,
    _snapshot: Arc<Snapshot>,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    memory_limit: usize,
    done: bool,
}

impl QueryStream {
    pub(crate) fn new(
        inner: SendableRecordBatchStream,
        snapshot: Arc<Snapshot>,
        started: Instant,
        timeout: Duration,
        memory_limit: usize,
    ) -> Self {
        Self {
            inner,
            _snapshot: snapshot,
            deadline: Box::pin(tokio::time::sleep_until(started + timeout)),
            timeout,
            memory_limit,
            done: false,
        }
    }

    /// Schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    /// Every remaining batch.
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>, EngineError> {
        let mut out = Vec::new();
        while let Some(batch) = self.next().await {
            out.push(batch?);
        }
        Ok(out)
    }
}

impl std::fmt::Debug for QueryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Stream for QueryStream {
    type Item = Result<RecordBatch, EngineError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(EngineError::Timeout(self.timeout))));
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(query_error(e, self.memory_limit))))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            other => other.map(|o| o.map(|r| r.map_err(EngineError::from))),
        }
    }
}
