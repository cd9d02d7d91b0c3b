//! The write path: appends go to the write-ahead log (synced before they return) and then to
//! the live buffer, where queries see them at once and live subscribers get the new entries;
//! a full buffer makes appends wait (back-pressure); flushes move the buffer into Parquet
//! files, commit them to the catalog and truncate the log.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;

use super::live::{LiveTables, State};
use super::lock;
use super::stored::StoredFiles;
use crate::config::FlushPolicy;
use crate::files::{GroupInfo, Part, batches_bytes};
use crate::storage::split_by_hour;
use crate::subscribe::Subscriptions;
use crate::wal::Wal;
use crate::{EngineError, Table};

/// What one flush wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Rows moved from the live buffer to Parquet.
    pub rows: u64,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Counters of the write path since open.
#[derive(Debug, Default)]
pub(super) struct WriteCounters {
    pub(super) appended_batches: AtomicU64,
    pub(super) appended_rows: AtomicU64,
    pub(super) backpressure_waits: AtomicU64,
    pub(super) backpressure_us: AtomicU64,
    pub(super) flushes: AtomicU64,
}

/// When the live buffer is flushed, and how large it may grow.
#[derive(Debug, Clone, Copy)]
pub(super) struct BufferLimits {
    /// Flush thresholds (bytes, rows, age).
    pub(super) flush: FlushPolicy,
    /// Appends wait beyond this many bytes.
    pub(super) max_bytes: usize,
}

impl BufferLimits {
    /// Whether the live buffer has reached a flush threshold (bytes, rows or age).
    fn flush_due(&self, state: &State) -> bool {
        let policy = &self.flush;
        state.live_rows > 0
            && (state.live_bytes >= policy.max_bytes
                || state.live_rows >= policy.max_rows
                || state.live_bytes > self.max_bytes / 2
                || state.oldest.is_some_and(|t| t.elapsed() >= policy.max_age))
    }
}

/// The write side of an engine opened for writing.
#[derive(Debug)]
pub(crate) struct WritePath {
    /// The log appends go to; taken (closed) by [`Self::release`].
    wal: Mutex<Option<Wal>>,
    live: Arc<LiveTables>,
    files: Arc<StoredFiles>,
    subscriptions: Arc<Subscriptions>,
    limits: BufferLimits,
    counters: WriteCounters,
    /// Set by [`Self::shut`]: appends and flushes fail with [`EngineError::Closed`].
    closed: AtomicBool,
}

impl WritePath {
    /// The write path over `wal`, appending into `live`, flushing into `files` and publishing
    /// appended entries to `subscriptions`.
    pub(super) fn new(
        wal: Wal,
        live: Arc<LiveTables>,
        files: Arc<StoredFiles>,
        subscriptions: Arc<Subscriptions>,
        limits: BufferLimits,
    ) -> Self {
        Self {
            wal: Mutex::new(Some(wal)),
            live,
            files,
            subscriptions,
            limits,
            counters: WriteCounters::default(),
            closed: AtomicBool::new(false),
        }
    }

    /// Appends a batch of `table` (see [`crate::Engine::append`]); returns its WAL sequence,
    /// or 0 for an empty batch.
    pub(super) fn append(&self, table: Table, batch: RecordBatch) -> Result<u64, EngineError> {
        let batch = compact_buffers(conform(table, batch)?)?;
        if batch.num_rows() == 0 {
            return Ok(0);
        }
        self.wait_for_room(batches_bytes(std::slice::from_ref(&batch)))?;
        let seq = {
            let mut wal = lock(&self.wal);
            let seq = wal
                .as_mut()
                .ok_or(EngineError::ReadOnly)?
                .append(table, &batch)?;
            let mut state = self.live.lock();
            LiveTables::push(&mut state, table, seq, batch.clone());
            if self.limits.flush_due(&state) {
                self.live.notify();
            }
            seq
        };
        let c = &self.counters;
        c.appended_batches.fetch_add(1, Ordering::Relaxed);
        c.appended_rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        self.after_append(table, &batch);
        Ok(seq)
    }

    /// Hands appended `entries` to live subscribers. A subscriber's filter failing on a batch
    /// is reported and never fails the append, which is already durable.
    fn after_append(&self, table: Table, batch: &RecordBatch) {
        if table == Table::Entries
            && !self.subscriptions.is_empty()
            && let Err(e) = self.subscriptions.publish(batch)
        {
            tracing::warn!(error = %e, "live subscription filter failed");
        }
    }

    /// Waits while adding `bytes` would take a non-empty live buffer over its bound.
    fn wait_for_room(&self, bytes: usize) -> Result<(), EngineError> {
        let max = self.limits.max_bytes;
        let mut state = self.live.lock();
        if state.live_bytes == 0 || state.live_bytes + bytes <= max {
            return Ok(());
        }
        let started = Instant::now();
        let c = &self.counters;
        c.backpressure_waits.fetch_add(1, Ordering::Relaxed);
        while state.live_bytes > 0 && state.live_bytes + bytes > max {
            if self.is_closed() {
                return Err(EngineError::Closed);
            }
            self.live.notify();
            state = self.live.wait(state, Duration::from_millis(50));
        }
        let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        c.backpressure_us.fetch_add(waited, Ordering::Relaxed);
        Ok(())
    }

    /// Whether a flush is due now.
    pub(super) fn flush_due(&self) -> bool {
        self.limits.flush_due(&self.live.lock())
    }

    /// Writes everything in the live buffer to Parquet (see [`crate::Engine::flush`]).
    pub(super) async fn flush(&self) -> Result<FlushStats, EngineError> {
        let mut catalog = self.files.catalog().await;
        let Some((seq, parts)) = self.seal()? else {
            return Ok(FlushStats::default());
        };
        let rows = parts
            .iter()
            .flat_map(|p| &p.batches)
            .map(|b| b.num_rows() as u64)
            .sum();
        let info = GroupInfo {
            group: catalog.next_group(),
            wal_seq: seq,
            replaces: Vec::new(),
        };
        let records = self.files.write(parts, &info).await?;
        let stats = FlushStats {
            rows,
            files: records.len() as u64,
            bytes: records.iter().map(|r| r.bytes).sum(),
        };
        self.files
            .commit(&mut catalog, records, &HashSet::new(), Some(seq))
            .await?;
        if let Some(wal) = lock(&self.wal).as_mut() {
            wal.truncate_through(seq)?;
        }
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(stats)
    }

    /// Takes the live buffer's current content (it stays visible until the flush commits) as
    /// hour parts, and rotates the WAL so the flushed segments can be deleted afterwards. The
    /// WAL stays locked throughout, so no append lands between the two.
    fn seal(&self) -> Result<Option<(u64, Vec<Part>)>, EngineError> {
        let mut wal = lock(&self.wal);
        let state = self.live.lock();
        let Some(seq) = state.live.iter().flatten().map(|b| b.seq).max() else {
            return Ok(None);
        };
        let mut parts: BTreeMap<(Table, i64), Vec<RecordBatch>> = BTreeMap::new();
        for table in Table::ALL {
            for live in &state.live[table.index()] {
                for (hour, part) in split_by_hour(&live.batch, table.ts_column())? {
                    parts.entry((table, hour)).or_default().push(part);
                }
            }
        }
        drop(state);
        wal.as_mut().ok_or(EngineError::ReadOnly)?.rotate()?;
        let parts = parts
            .into_iter()
            .map(|((table, hour), batches)| Part {
                table,
                hour,
                batches,
            })
            .collect();
        Ok(Some((seq, parts)))
    }

    /// Whether [`Self::shut`] was called.
    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Refuses further appends and flushes and wakes appends waiting for room.
    pub(super) fn shut(&self) {
        self.closed.store(true, Ordering::Release);
        self.live.notify();
    }

    /// Closes the log (after the last flush), releasing its files.
    pub(super) fn release(&self) {
        lock(&self.wal).take();
    }

    /// The counters since open.
    pub(super) fn counters(&self) -> &WriteCounters {
        &self.counters
    }
}

/// `batch` with exactly the table's schema (same columns and types; field metadata and the
/// schema object unified), or an error naming the mismatch.
pub(super) fn conform(table: Table, batch: RecordBatch) -> Result<RecordBatch, EngineError> {
    let schema = table.schema();
    if batch.schema() == schema {
        return Ok(batch);
    }
    RecordBatch::try_new(schema, batch.columns().to_vec()).map_err(|e| {
        EngineError::Schema(format!("batch does not fit table `{}`: {e}", table.name()))
    })
}

/// `batch` copied into exactly-sized buffers when it holds much more memory than its rows use
/// (a slice of a larger batch, or builders with spare capacity), so the live buffer's byte
/// bound counts what it keeps and does not pin memory it does not need.
fn compact_buffers(batch: RecordBatch) -> Result<RecordBatch, EngineError> {
    let held = batch.get_array_memory_size();
    let used: usize = batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or(held))
        .sum();
    if held <= used.saturating_mul(2).saturating_add(64 << 10) {
        return Ok(batch);
    }
    let rows = u32::try_from(batch.num_rows())
        .map_err(|_| EngineError::Schema("batch has more than 2^32 rows".to_owned()))?;
    let all = arrow::array::UInt32Array::from_iter_values(0..rows);
    Ok(arrow::compute::take_record_batch(&batch, &all)?)
}
