//! The engine: appends go to the write-ahead log and the live buffer (visible to queries at
//! once), flushes move the buffer into hour-partitioned Parquet files recorded in the catalog,
//! and queries read a snapshot of both.
//!
//! Loss window: [`Engine::append`] returns only after the batch is in the WAL and synced, so a
//! `kill -9` (or power loss) loses nothing that was acknowledged; a batch being appended at that
//! moment is either replayed whole or dropped whole as a torn tail. The WAL is truncated only
//! after the manifest naming the flushed files is written, and replay skips records the
//! manifest says are already in Parquet, so nothing is stored twice either.
//!
//! [`Engine`] is a facade over parts that each own one concern:
//!
//! - [`live`]: the live buffer and the catalogued file sets, under one lock (what snapshots
//!   read);
//! - [`write`]: append, WAL, back-pressure, flush (absent when the engine is read-only);
//! - [`read`]: snapshots, query sessions, KFL and SQL queries under limits;
//! - [`stored`]: the Parquet files and their catalog: write, commit, read back, delete once
//!   unreferenced (the handle flushes and [`crate::maintenance`] change the store through);
//! - [`lifecycle`]: open (lock, catalog, orphans, WAL replay) and close;
//! - [`background`]: the thread that flushes by policy and runs compaction and retention.

mod background;
mod lifecycle;
mod live;
mod read;
mod stored;
mod write;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::config::EngineConfig;
use crate::location::DataLocation;
use crate::maintenance::{self, CompactionStats, RetentionStats};
use crate::provider::Snapshot;
use crate::sql::SqlLimits;
use crate::stream::QueryStream;
use crate::subscribe::{Subscription, SubscriptionStats, Subscriptions};
use crate::{EngineError, Table};

pub use lifecycle::OpenReport;
pub use read::{KflQuery, Order};
pub(crate) use stored::StoredFiles;
pub use write::FlushStats;

/// Counters of a running engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Batches appended since open.
    pub appended_batches: u64,
    /// Rows appended since open.
    pub appended_rows: u64,
    /// Rows in the live buffer now.
    pub live_rows: u64,
    /// Arrow bytes in the live buffer now.
    pub live_bytes: u64,
    /// Appends that had to wait for a flush because the live buffer was full.
    pub backpressure_waits: u64,
    /// Total time appends waited, µs.
    pub backpressure_us: u64,
    /// Flushes completed.
    pub flushes: u64,
    /// Catalogued files now (both tables).
    pub files: u64,
    /// Catalogued rows now.
    pub stored_rows: u64,
    /// Catalogued bytes now.
    pub stored_bytes: u64,
    /// Rows replayed from the WAL at open.
    pub replayed_rows: u64,
    /// Files deleted (after compaction or retention) once no query held them.
    pub files_deleted: u64,
    /// Files waiting for running queries to finish before deletion.
    pub files_pending_delete: u64,
}

/// The parts of one open engine, shared by its handles.
#[derive(Debug)]
struct Shared {
    config: EngineConfig,
    live: Arc<live::LiveTables>,
    files: Arc<StoredFiles>,
    /// `None` when read-only.
    writer: Option<write::WritePath>,
    reader: read::ReadPath,
    subscriptions: Arc<Subscriptions>,
    lifecycle: lifecycle::Lifecycle,
}

/// A handle to an open engine; clones share it.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data", &self.location().to_string())
            .finish_non_exhaustive()
    }
}

/// Locks `m`, also after a panic in another holder (the data stays consistent: every update
/// under these locks is completed before anything can panic).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Engine {
    /// Opens the store: loads (or rebuilds) the catalog, removes files a crash left outside
    /// it, replays the WAL into the live buffer and starts the background thread.
    pub async fn open(config: EngineConfig) -> Result<Engine, EngineError> {
        lifecycle::open(config).await
    }

    /// What opening the store found (rebuilt catalog, replayed WAL, torn tail).
    pub fn open_report(&self) -> &OpenReport {
        &self.shared.lifecycle.report
    }

    /// The data location (directory or URL).
    pub fn location(&self) -> &DataLocation {
        self.shared.files.location()
    }

    /// The write path, or why changes are refused: the engine is read-only or closed.
    fn writer(&self) -> Result<&write::WritePath, EngineError> {
        match &self.shared.writer {
            None => Err(EngineError::ReadOnly),
            Some(w) if w.is_closed() => Err(EngineError::Closed),
            Some(w) => Ok(w),
        }
    }

    /// Appends a batch of `table`. When it returns, the batch is durable (in the synced WAL)
    /// and visible to queries. Blocks while the live buffer is over its byte bound until a
    /// flush makes room (back-pressure, counted in [`EngineStats`]); call it from a plain
    /// thread or `spawn_blocking`, not from an async task. Returns the WAL sequence.
    pub fn append(&self, table: Table, batch: RecordBatch) -> Result<u64, EngineError> {
        self.writer()?.append(table, batch)
    }

    /// Subscribes to newly appended `entries` rows matching `kfl` (compiled once). The queue
    /// holds at most `capacity_rows` rows; a subscriber that falls behind gets a
    /// [`crate::SubscriptionEvent::Lagged`] marker with the number of rows dropped, and never
    /// slows appends down.
    pub fn subscribe(&self, kfl: &str, capacity_rows: usize) -> Result<Subscription, EngineError> {
        self.shared.subscriptions.subscribe(kfl, capacity_rows)
    }

    /// Counters of the live subscriptions.
    pub fn subscription_stats(&self) -> SubscriptionStats {
        self.shared.subscriptions.stats()
    }

    /// Writes everything in the live buffer to Parquet (one file per table and hour, sorted by
    /// time), commits the files to the catalog, drops the rows from the buffer and truncates
    /// the WAL. Concurrent appends continue into the next flush.
    pub async fn flush(&self) -> Result<FlushStats, EngineError> {
        self.writer()?.flush().await
    }

    /// Merges the files of every settled hour (no file written for
    /// [`crate::CompactionPolicy::settle`]) that has at least `min_files` files into files of
    /// up to `target_rows` rows, sorted by time. Queries running meanwhile keep reading the
    /// old files, which are deleted when the last of them finishes.
    pub async fn compact(&self) -> Result<CompactionStats, EngineError> {
        self.writer()?;
        maintenance::compact(&self.shared.files, &self.shared.config.compaction).await
    }

    /// Drops every file whose newest row is older than the retention age (by the wall clock);
    /// does nothing without a retention setting.
    pub async fn apply_retention(&self) -> Result<RetentionStats, EngineError> {
        let Some(age) = self.shared.config.retention else {
            return Ok(RetentionStats::default());
        };
        self.retain_after(maintenance::retention_cutoff(age)).await
    }

    /// Drops every file whose rows are all older than `cutoff_us`.
    pub async fn retain_after(&self, cutoff_us: i64) -> Result<RetentionStats, EngineError> {
        self.writer()?;
        maintenance::retain_after(&self.shared.files, cutoff_us).await
    }

    /// Deletes removed files that no query snapshot holds any more; returns how many.
    pub async fn collect_garbage(&self) -> Result<u64, EngineError> {
        self.shared.files.collect_garbage().await
    }

    /// The tables as they are now: live batches and catalogued files.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.reader.snapshot()
    }

    /// A query session over `snapshot` with the engine's limits: tables `entries` and `flows`
    /// registered as [`crate::SnapshotTable`]s, plus the analytic views and KFL functions of
    /// [`crate::views`].
    pub async fn session(&self, snapshot: &Arc<Snapshot>) -> Result<SessionContext, EngineError> {
        self.shared.reader.session(snapshot).await
    }

    /// The limits every query runs under.
    pub fn query_limits(&self) -> SqlLimits {
        self.shared.reader.limits()
    }

    /// Runs a KFL query over `entries`: the compiled filter and the time bounds are pushed into
    /// the scan; rows come in timestamp order (then id) as asked. A newest-first query with a
    /// limit reads only the newest window that holds its rows.
    pub async fn query_kfl(&self, q: &KflQuery) -> Result<QueryStream, EngineError> {
        self.shared.reader.query_kfl(q).await
    }

    /// Runs one read-only SQL query (a single `SELECT`, `WITH` or `EXPLAIN`) over `entries`,
    /// `flows` and the analytic views, with `kfl('…')` conditions expanded; anything else is
    /// refused with [`EngineError::Sql`].
    pub async fn query_sql(&self, sql: &str) -> Result<QueryStream, EngineError> {
        self.shared.reader.query_sql(sql).await
    }

    /// Counters and sizes.
    pub fn stats(&self) -> EngineStats {
        let sizes = self.shared.live.sizes();
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let mut stats = EngineStats {
            live_rows: sizes.live_rows,
            live_bytes: sizes.live_bytes,
            files: sizes.files,
            stored_rows: sizes.stored_rows,
            stored_bytes: sizes.stored_bytes,
            replayed_rows: self.shared.lifecycle.replayed_rows,
            files_deleted: self.shared.files.deleted(),
            files_pending_delete: sizes.files_pending_delete,
            ..EngineStats::default()
        };
        if let Some(w) = &self.shared.writer {
            let c = w.counters();
            stats.appended_batches = load(&c.appended_batches);
            stats.appended_rows = load(&c.appended_rows);
            stats.backpressure_waits = load(&c.backpressure_waits);
            stats.backpressure_us = load(&c.backpressure_us);
            stats.flushes = load(&c.flushes);
        }
        stats
    }

    /// Flushes what is buffered, deletes files no query holds, and stops the background thread.
    /// Later appends fail with [`EngineError::Closed`].
    pub async fn close(self) -> Result<(), EngineError> {
        lifecycle::close(&self).await
    }

    /// Whether the engine was closed (a read-only engine never is).
    fn is_closed(&self) -> bool {
        self.shared.writer.as_ref().is_some_and(|w| w.is_closed())
    }

    /// Whether a flush is due now (background thread).
    fn needs_flush(&self) -> bool {
        self.shared.writer.as_ref().is_some_and(|w| w.flush_due())
    }

    /// Waits up to `timeout` for the live buffer to change (background thread).
    fn wait_changed(&self, timeout: Duration) {
        let state = self.shared.live.lock();
        drop(self.shared.live.wait(state, timeout));
    }
}
