//! The engine: appends go to the write-ahead log and the live buffer (visible to queries at
//! once), flushes move the buffer into hour-partitioned Parquet files recorded in the catalog,
//! and queries read a snapshot of both.
//!
//! Loss window: [`Engine::append`] returns only after the batch is in the WAL and synced, so a
//! `kill -9` (or power loss) loses nothing that was acknowledged; a batch being appended at that
//! moment is either replayed whole or dropped whole as a torn tail. The WAL is truncated only
//! after the manifest naming the flushed files is written, and replay skips records the
//! manifest says are already in Parquet, so nothing is stored twice either.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use faultline_schemas::entry_col;

use crate::catalog::{Catalog, CatalogOpen, FileRecord, FileSet};
use crate::config::EngineConfig;
use crate::files::{GroupInfo, Part, batches_bytes, write_group};
use crate::location::DataLocation;
use crate::provider::{Snapshot, SnapshotTable};
use crate::session::{limited_runtime, query_error, session_config};
use crate::sql::SqlLimits;
use crate::storage::{split_by_hour, writer_properties};
use crate::stream::QueryStream;
use crate::subscribe::{Subscription, Subscriptions};
use crate::wal::{TornTail, Wal};
use crate::{EngineError, Table};

/// Row order of a query result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    #[default]
    Ascending,
    /// Newest first.
    Descending,
}

/// A KFL query over `entries`.
#[derive(Debug, Clone, Default)]
pub struct KflQuery {
    /// The filter, in KFL (empty: every entry).
    pub kfl: String,
    /// Inclusive lower time bound, µs since the epoch.
    pub from_us: Option<i64>,
    /// Exclusive upper time bound, µs since the epoch.
    pub to_us: Option<i64>,
    /// At most this many rows (a `limit(n)` in the KFL also applies; the smaller wins).
    pub limit: Option<usize>,
    /// Order by timestamp.
    pub order: Order,
}

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

/// What [`Engine::open`] found.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// How the catalog was opened (rebuilt or not, files removed).
    pub catalog: CatalogOpen,
    /// Parquet files not named by the catalog (left by a crash), deleted.
    pub orphans_removed: Vec<String>,
    /// WAL records replayed into the live buffer.
    pub replayed_batches: usize,
    /// WAL records skipped because the catalog says they are already in Parquet.
    pub skipped_batches: usize,
    /// The torn tail record dropped from the WAL, if any.
    pub torn_tail: Option<TornTail>,
}

/// One appended batch in the live buffer.
#[derive(Debug)]
struct LiveBatch {
    seq: u64,
    batch: RecordBatch,
    bytes: usize,
}

/// Everything a query snapshot needs, under one lock so a row is never seen twice or missed.
#[derive(Debug, Default)]
struct State {
    live: [Vec<LiveBatch>; 2],
    live_bytes: usize,
    live_rows: usize,
    /// When the oldest unflushed batch was appended.
    oldest: Option<Instant>,
    files: [FileSet; 2],
    /// Files removed from the catalog, deleted once no snapshot holds them.
    graveyard: Vec<Arc<FileRecord>>,
}

impl State {
    fn recount(&mut self) {
        let all = self.live.iter().flatten();
        self.live_bytes = all.clone().map(|b| b.bytes).sum();
        self.live_rows = all.map(|b| b.batch.num_rows()).sum();
        if self.live_rows == 0 {
            self.oldest = None;
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    appended_batches: AtomicU64,
    appended_rows: AtomicU64,
    backpressure_waits: AtomicU64,
    backpressure_us: AtomicU64,
    flushes: AtomicU64,
    replayed_rows: AtomicU64,
    files_deleted: AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) location: DataLocation,
    pub(crate) props: Arc<parquet::file::properties::WriterProperties>,
    /// The log appends go to; `None` when read-only.
    wal: Mutex<Option<Wal>>,
    /// Held while the engine is open for writing; released by [`Engine::close`].
    writer_lock: Mutex<Option<WriterLock>>,
    /// The background flush/maintenance thread, joined by [`Engine::close`].
    background: Mutex<Option<std::thread::JoinHandle<()>>>,
    state: Mutex<State>,
    /// Signalled when the live buffer shrinks (appends waiting for room) or grows past a flush
    /// threshold (the background thread).
    changed: Condvar,
    /// Serialises catalog changes: flush, compaction, retention.
    pub(crate) catalog: tokio::sync::Mutex<Catalog>,
    metadata_cache: Arc<FileMetadataCache>,
    subscriptions: Subscriptions,
    counters: Counters,
    closed: AtomicBool,
    report: OpenReport,
}

/// A handle to an open engine; clones share it.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data", &self.inner.location.to_string())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Engine {
    /// Opens the store: loads (or rebuilds) the catalog, removes files a crash left outside
    /// it, replays the WAL into the live buffer and starts the background thread.
    pub async fn open(config: EngineConfig) -> Result<Engine, EngineError> {
        let location = DataLocation::open_with(&config.data, &config.storage_options)?;
        let wal_dir = wal_dir(&config, &location)?;
        let writable = !config.read_only;
        // Read-only: the log is read before the catalog, so a flush that happens in between
        // shows its rows in the catalog (and replay skips them) rather than in neither.
        let (wal, replay, writer_lock) = if writable {
            let lock = WriterLock::acquire(&wal_dir, &location)?;
            let (wal, replay) = Wal::open(&wal_dir)?;
            (Some(wal), replay, Some(lock))
        } else {
            (None, Wal::read_only(&wal_dir)?, None)
        };
        let (catalog, catalog_open) = Catalog::open(location.clone(), writable).await?;
        let orphans_removed = if writable {
            remove_orphans(&location, &catalog).await?
        } else {
            Vec::new()
        };
        let mut wal = wal;
        let flushed = catalog.flushed_seq();
        if let (Some(wal), Some(seq)) = (wal.as_mut(), flushed) {
            wal.ensure_next_seq(seq + 1)?;
        }
        let mut state = State {
            files: [catalog.files(Table::Entries), catalog.files(Table::Flows)],
            ..State::default()
        };
        let mut report = OpenReport {
            catalog: catalog_open,
            orphans_removed,
            torn_tail: replay.torn_tail.clone(),
            ..OpenReport::default()
        };
        let counters = Counters::default();
        for ((table, batch), seq) in replay.batches.into_iter().zip(replay.seqs) {
            if flushed.is_some_and(|f| seq <= f) {
                report.skipped_batches += 1;
                continue;
            }
            let batch = conform(table, batch)?;
            counters
                .replayed_rows
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            report.replayed_batches += 1;
            push_live(&mut state, table, seq, batch);
        }
        let props = Arc::new(writer_properties(
            config.parquet.row_group_rows,
            config.parquet.zstd_level,
        )?);
        let metadata_cache = RuntimeEnvBuilder::new()
            .build()?
            .cache_manager
            .get_file_metadata_cache();
        let inner = Arc::new(Inner {
            props,
            location,
            wal: Mutex::new(wal),
            writer_lock: Mutex::new(writer_lock),
            background: Mutex::new(None),
            state: Mutex::new(state),
            changed: Condvar::new(),
            catalog: tokio::sync::Mutex::new(catalog),
            metadata_cache,
            subscriptions: Subscriptions::new(),
            counters,
            closed: AtomicBool::new(false),
            report,
            config,
        });
        if inner.config.background && writable {
            let handle = crate::maintenance::spawn(Arc::downgrade(&inner))?;
            *lock(&inner.background) = Some(handle);
        }
        Ok(Engine { inner })
    }

    /// What opening the store found (rebuilt catalog, replayed WAL, torn tail).
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// The data location (directory or URL).
    pub fn location(&self) -> &DataLocation {
        &self.inner.location
    }

    /// Appends a batch of `table`. When it returns, the batch is durable (in the synced WAL)
    /// and visible to queries. Blocks while the live buffer is over its byte bound until a
    /// flush makes room (back-pressure, counted in [`EngineStats`]); call it from a plain
    /// thread or `spawn_blocking`, not from an async task. Returns the WAL sequence.
    pub fn append(&self, table: Table, batch: RecordBatch) -> Result<u64, EngineError> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(EngineError::Closed);
        }
        self.writable()?;
        let batch = compact_buffers(conform(table, batch)?)?;
        if batch.num_rows() == 0 {
            return Ok(0);
        }
        self.wait_for_room(batches_bytes(std::slice::from_ref(&batch)))?;
        let seq = {
            let mut wal = lock(&inner.wal);
            let seq = wal
                .as_mut()
                .ok_or(EngineError::ReadOnly)?
                .append(table, &batch)?;
            let mut state = lock(&inner.state);
            push_live(&mut state, table, seq, batch.clone());
            if self.flush_due(&state) {
                inner.changed.notify_all();
            }
            seq
        };
        inner
            .counters
            .appended_batches
            .fetch_add(1, Ordering::Relaxed);
        inner
            .counters
            .appended_rows
            .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        self.after_append(table, &batch);
        Ok(seq)
    }

    /// Refuses changes to a read-only engine.
    pub(crate) fn writable(&self) -> Result<(), EngineError> {
        if self.inner.config.read_only {
            Err(EngineError::ReadOnly)
        } else if self.is_closed() {
            Err(EngineError::Closed)
        } else {
            Ok(())
        }
    }

    /// Hands appended `entries` to live subscribers. A subscriber's filter failing on a batch
    /// is reported and never fails the append, which is already durable.
    fn after_append(&self, table: Table, batch: &RecordBatch) {
        if table == Table::Entries
            && !self.inner.subscriptions.is_empty()
            && let Err(e) = self.inner.subscriptions.publish(batch)
        {
            eprintln!("faultline: live subscription filter failed: {e}");
        }
    }

    /// Subscribes to newly appended `entries` rows matching `kfl` (compiled once). The queue
    /// holds at most `capacity_rows` rows; a subscriber that falls behind gets a
    /// [`crate::SubscriptionEvent::Lagged`] marker with the number of rows dropped, and never
    /// slows appends down.
    pub fn subscribe(&self, kfl: &str, capacity_rows: usize) -> Result<Subscription, EngineError> {
        self.inner.subscriptions.subscribe(kfl, capacity_rows)
    }

    /// Counters of the live subscriptions.
    pub fn subscription_stats(&self) -> crate::SubscriptionStats {
        self.inner.subscriptions.stats()
    }

    /// Waits while adding `bytes` would take a non-empty live buffer over its bound.
    fn wait_for_room(&self, bytes: usize) -> Result<(), EngineError> {
        let inner = &self.inner;
        let max = inner.config.live_max_bytes;
        let mut state = lock(&inner.state);
        if state.live_bytes == 0 || state.live_bytes + bytes <= max {
            return Ok(());
        }
        let started = Instant::now();
        inner
            .counters
            .backpressure_waits
            .fetch_add(1, Ordering::Relaxed);
        while state.live_bytes > 0 && state.live_bytes + bytes > max {
            if inner.closed.load(Ordering::Acquire) {
                return Err(EngineError::Closed);
            }
            inner.changed.notify_all();
            state = inner
                .changed
                .wait_timeout(state, Duration::from_millis(50))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        inner
            .counters
            .backpressure_us
            .fetch_add(waited, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the live buffer has reached a flush threshold (bytes, rows or age).
    fn flush_due(&self, state: &State) -> bool {
        let policy = &self.inner.config.flush;
        state.live_rows > 0
            && (state.live_bytes >= policy.max_bytes
                || state.live_rows >= policy.max_rows
                || state.live_bytes > self.inner.config.live_max_bytes / 2
                || state.oldest.is_some_and(|t| t.elapsed() >= policy.max_age))
    }

    /// Whether a flush is due now.
    pub(crate) fn needs_flush(&self) -> bool {
        self.flush_due(&lock(&self.inner.state))
    }

    /// Waits up to `timeout` for the live buffer to change (background thread).
    pub(crate) fn wait_changed(&self, timeout: Duration) {
        let state = lock(&self.inner.state);
        let _ = self.inner.changed.wait_timeout(state, timeout);
    }

    /// Writes everything in the live buffer to Parquet (one file per table and hour, sorted by
    /// time), commits the files to the catalog, drops the rows from the buffer and truncates
    /// the WAL. Concurrent appends continue into the next flush.
    pub async fn flush(&self) -> Result<FlushStats, EngineError> {
        let inner = &self.inner;
        self.writable()?;
        let mut catalog = inner.catalog.lock().await;
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
        let records = write_group(&inner.location, &inner.props, parts, &info).await?;
        let stats = FlushStats {
            rows,
            files: records.len() as u64,
            bytes: records.iter().map(|r| r.bytes).sum(),
        };
        catalog
            .commit(records.clone(), &HashSet::new(), Some(seq))
            .await?;
        {
            let mut state = lock(&inner.state);
            for list in &mut state.live {
                list.retain(|b| b.seq > seq);
            }
            state.recount();
            swap_files(&mut state, &records, &HashSet::new());
            inner.changed.notify_all();
        }
        if let Some(wal) = lock(&inner.wal).as_mut() {
            wal.truncate_through(seq)?;
        }
        inner.counters.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(stats)
    }

    /// Takes the live buffer's current content (it stays visible until the flush commits) as
    /// hour parts, and rotates the WAL so the flushed segments can be deleted afterwards.
    fn seal(&self) -> Result<Option<(u64, Vec<Part>)>, EngineError> {
        let mut wal = lock(&self.inner.wal);
        let state = lock(&self.inner.state);
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

    /// Replaces files in the catalog and the query view: the commit step of compaction and
    /// retention. Removed files are deleted once no running query holds them.
    pub(crate) async fn replace_files(
        &self,
        catalog: &mut Catalog,
        add: Vec<FileRecord>,
        remove: &HashSet<String>,
    ) -> Result<(), EngineError> {
        catalog.commit(add.clone(), remove, None).await?;
        let mut state = lock(&self.inner.state);
        swap_files(&mut state, &add, remove);
        Ok(())
    }

    /// Deletes removed files that no query snapshot holds any more; returns how many.
    pub async fn collect_garbage(&self) -> Result<u64, EngineError> {
        let ready: Vec<Arc<FileRecord>> = {
            let mut state = lock(&self.inner.state);
            let (ready, wait) = std::mem::take(&mut state.graveyard)
                .into_iter()
                .partition(|f| Arc::strong_count(f) == 1);
            state.graveyard = wait;
            ready
        };
        for file in &ready {
            self.inner.location.delete(&file.path).await?;
        }
        let n = ready.len() as u64;
        self.inner
            .counters
            .files_deleted
            .fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }

    /// The tables as they are now: live batches and catalogued files.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let state = lock(&self.inner.state);
        let live = |t: Table| {
            state.live[t.index()]
                .iter()
                .map(|b| b.batch.clone())
                .collect::<Vec<_>>()
        };
        Arc::new(Snapshot {
            live: [live(Table::Entries), live(Table::Flows)],
            files: [state.files[0].clone(), state.files[1].clone()],
        })
    }

    /// A query session over `snapshot` with the engine's limits: tables `entries` and `flows`
    /// registered as [`SnapshotTable`]s, plus the analytic views and KFL functions of
    /// [`crate::views`].
    pub async fn session(&self, snapshot: &Arc<Snapshot>) -> Result<SessionContext, EngineError> {
        let runtime = limited_runtime(
            &self.inner.config.query_limits,
            Some(self.inner.metadata_cache.clone()),
        )?;
        let location = &self.inner.location;
        runtime.register_object_store(location.url().as_ref(), location.store().clone());
        let ctx = SessionContext::new_with_config_rt(session_config(), runtime);
        for table in Table::ALL {
            let provider = SnapshotTable::new(table, snapshot.clone(), location.clone());
            ctx.register_table(table.name(), Arc::new(provider))?;
        }
        crate::views::register_views(&ctx).await?;
        Ok(ctx)
    }

    /// The limits every query runs under.
    pub fn query_limits(&self) -> SqlLimits {
        self.inner.config.query_limits
    }

    /// Runs a KFL query over `entries`: the compiled filter and the time bounds are pushed into
    /// the scan; rows come in timestamp order (then id) as asked. A newest-first query with a
    /// limit reads only the newest window that holds its rows ([`Self::newest_window`]).
    pub async fn query_kfl(&self, q: &KflQuery) -> Result<QueryStream, EngineError> {
        let started = tokio::time::Instant::now();
        let compiled = faultline_kfl::compile(&q.kfl)?;
        let snapshot = self.snapshot();
        let ctx = self.session(&snapshot).await?;
        let limit = match (q.limit, compiled.limit) {
            (Some(a), Some(b)) => Some(a.min(b as usize)),
            (a, b) => a.or(b.map(|n| n as usize)),
        };
        let matching = Matching {
            ctx: &ctx,
            filter: &compiled.expr,
            to_us: q.to_us,
        };
        let from_us = match (q.order, limit) {
            (Order::Descending, Some(n)) if n > 0 => {
                self.newest_window(&snapshot, &matching, q.from_us, n, started)
                    .await?
            }
            _ => q.from_us,
        };
        let asc = q.order == Order::Ascending;
        let mut df = matching.since(from_us).await?.sort(vec![
            col(entry_col::TIMESTAMP).sort(asc, false),
            col(entry_col::ID).sort(true, false),
        ])?;
        if let Some(n) = limit {
            df = df.limit(0, Some(n))?;
        }
        self.run(df, snapshot, started).await
    }

    /// The lower time bound a newest-first query for `limit` rows needs to read. The store is
    /// laid out in time order, so a descending top-k over the whole range reads every
    /// partition; instead, windows reaching back from the newest entry of the range (one hour,
    /// then [`WINDOW_GROWTH`] times wider each time) are counted until one holds `limit`
    /// matching rows. Everything outside that window is older than all of it, so its newest
    /// rows are the range's. A window reaching the range's start is the range itself.
    async fn newest_window(
        &self,
        snapshot: &Snapshot,
        matching: &Matching<'_>,
        from_us: Option<i64>,
        limit: usize,
        started: tokio::time::Instant,
    ) -> Result<Option<i64>, EngineError> {
        let Some((oldest, newest)) = snapshot.time_bounds(Table::Entries) else {
            return Ok(from_us);
        };
        let newest = matching
            .to_us
            .map_or(newest, |to| newest.min(to.saturating_sub(1)));
        let floor = from_us.map_or(oldest, |from| from.max(oldest));
        let limits = self.inner.config.query_limits;
        let mut width = FIRST_WINDOW_US;
        loop {
            let start = newest.saturating_sub(width);
            if start <= floor {
                return Ok(from_us);
            }
            // The probes count against the query's own time limit.
            let probe = matching.since(Some(start)).await?.limit(0, Some(limit))?;
            let found = tokio::time::timeout_at(started + limits.timeout, probe.count())
                .await
                .map_err(|_| EngineError::Timeout(limits.timeout))?
                .map_err(|e| query_error(e, limits.memory_bytes))?;
            if found >= limit {
                return Ok(Some(start));
            }
            width = width.saturating_mul(WINDOW_GROWTH);
        }
    }

    /// Runs one read-only SQL query (a single `SELECT`, `WITH` or `EXPLAIN`) over `entries`,
    /// `flows` and the analytic views, with `kfl('…')` conditions expanded; anything else is
    /// refused with [`EngineError::Sql`].
    pub async fn query_sql(&self, sql: &str) -> Result<QueryStream, EngineError> {
        let started = tokio::time::Instant::now();
        let statement = crate::sql::prepare_query(sql)?;
        let snapshot = self.snapshot();
        let ctx = self.session(&snapshot).await?;
        let plan = crate::sql::plan_read_only(&ctx, statement).await?;
        let df = ctx.execute_logical_plan(plan).await?;
        self.run(df, snapshot, started).await
    }

    async fn run(
        &self,
        df: datafusion::dataframe::DataFrame,
        snapshot: Arc<Snapshot>,
        started: tokio::time::Instant,
    ) -> Result<QueryStream, EngineError> {
        let limits = self.inner.config.query_limits;
        let stream = df
            .execute_stream()
            .await
            .map_err(|e| query_error(e, limits.memory_bytes))?;
        Ok(QueryStream::new(
            stream,
            snapshot,
            started,
            limits.timeout,
            limits.memory_bytes,
        ))
    }

    /// Counters and sizes.
    pub fn stats(&self) -> EngineStats {
        let c = &self.inner.counters;
        let state = lock(&self.inner.state);
        let files = state.files.iter().flat_map(|s| s.iter());
        EngineStats {
            appended_batches: c.appended_batches.load(Ordering::Relaxed),
            appended_rows: c.appended_rows.load(Ordering::Relaxed),
            live_rows: state.live_rows as u64,
            live_bytes: state.live_bytes as u64,
            backpressure_waits: c.backpressure_waits.load(Ordering::Relaxed),
            backpressure_us: c.backpressure_us.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            files: files.clone().count() as u64,
            stored_rows: files.clone().map(|f| f.rows).sum(),
            stored_bytes: files.map(|f| f.bytes).sum(),
            replayed_rows: c.replayed_rows.load(Ordering::Relaxed),
            files_deleted: c.files_deleted.load(Ordering::Relaxed),
            files_pending_delete: state.graveyard.len() as u64,
        }
    }

    /// Flushes what is buffered, deletes files no query holds, and stops the background thread.
    /// Later appends fail with [`EngineError::Closed`].
    pub async fn close(self) -> Result<(), EngineError> {
        if self.inner.config.read_only {
            return Ok(());
        }
        self.flush().await?;
        self.inner.closed.store(true, Ordering::Release);
        self.inner.changed.notify_all();
        self.inner.subscriptions.close_all();
        self.join_background().await;
        self.collect_garbage().await?;
        // Everything is in Parquet: close the log and let another process open the store now,
        // even while clones of this handle are still alive.
        lock(&self.inner.wal).take();
        lock(&self.inner.writer_lock).take();
        Ok(())
    }

    /// Waits for the background thread to see the close and stop, so that it no longer holds
    /// the engine (and its files) once `close` returns.
    async fn join_background(&self) {
        let Some(handle) = lock(&self.inner.background).take() else {
            return;
        };
        if handle.thread().id() == std::thread::current().id() {
            return;
        }
        let joined = tokio::task::spawn_blocking(move || handle.join()).await;
        if !matches!(joined, Ok(Ok(()))) {
            eprintln!("faultline: the background maintenance thread ended abnormally");
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    pub(crate) fn from_weak(weak: &Weak<Inner>) -> Option<Engine> {
        weak.upgrade().map(|inner| Engine { inner })
    }
}

/// `batch` with exactly the table's schema (same columns and types; field metadata and the
/// schema object unified), or an error naming the mismatch.
fn conform(table: Table, batch: RecordBatch) -> Result<RecordBatch, EngineError> {
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

fn push_live(state: &mut State, table: Table, seq: u64, batch: RecordBatch) {
    let bytes = batch.get_array_memory_size();
    state.live_bytes += bytes;
    state.live_rows += batch.num_rows();
    state.oldest.get_or_insert_with(Instant::now);
    state.live[table.index()].push(LiveBatch { seq, batch, bytes });
}

/// Updates the query view's file sets: `add` joins, `remove` leaves for the graveyard. Files
/// that stay keep their `Arc`, so running snapshots and the graveyard count references right.
fn swap_files(state: &mut State, add: &[FileRecord], remove: &HashSet<String>) {
    for table in Table::ALL {
        let old = &state.files[table.index()];
        let (gone, mut kept): (Vec<_>, Vec<_>) =
            old.iter().cloned().partition(|f| remove.contains(&f.path));
        kept.extend(
            add.iter()
                .filter(|r| r.table == table.name())
                .map(|r| Arc::new(r.clone())),
        );
        kept.sort_by_key(|f| (f.min_ts, f.max_ts));
        state.files[table.index()] = Arc::new(kept);
        state.graveyard.extend(gone);
    }
}

/// Deletes Parquet files under the tables that the catalog does not name: leftovers of a flush
/// or compaction that crashed before its commit, or of a deletion that did not happen.
async fn remove_orphans(
    location: &DataLocation,
    catalog: &Catalog,
) -> Result<Vec<String>, EngineError> {
    let known: HashSet<&str> = catalog.records().iter().map(|f| f.path.as_str()).collect();
    let mut removed = Vec::new();
    for table in Table::ALL {
        for meta in location.list(table.name()).await? {
            let Some(path) = location.relative(&meta.location) else {
                continue;
            };
            if path.ends_with(".parquet") && !known.contains(path.as_str()) {
                location.delete(&path).await?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
}

/// An exclusive lock on `<wal dir>/LOCK`, so that two processes never write one store.
#[derive(Debug)]
struct WriterLock {
    _file: std::fs::File,
}

impl WriterLock {
    fn acquire(wal_dir: &std::path::Path, location: &DataLocation) -> Result<Self, EngineError> {
        std::fs::create_dir_all(wal_dir).map_err(EngineError::io("creating", wal_dir))?;
        let path = wal_dir.join("LOCK");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(EngineError::io("opening", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(EngineError::Locked(location.to_string(), path))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(EngineError::Io {
                op: "locking",
                path,
                source: e,
            }),
        }
    }
}

fn wal_dir(config: &EngineConfig, location: &DataLocation) -> Result<PathBuf, EngineError> {
    match (&config.wal_dir, location.local_root()) {
        (Some(dir), _) => Ok(dir.clone()),
        (None, Some(root)) => Ok(root.join("_faultline").join("wal")),
        (None, None) => Err(EngineError::Location(format!(
            "{location} is not local: give a local WAL directory"
        ))),
    }
}

fn ts_lit(us: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(us),
        Some("UTC".into()),
    ))
}

/// `timestamp >= from` and `timestamp < to`, for the bounds given.
/// The entries a KFL query matches before ordering: its compiled filter up to its upper time
/// bound, in a query's session.
struct Matching<'a> {
    ctx: &'a SessionContext,
    filter: &'a Expr,
    to_us: Option<i64>,
}

impl Matching<'_> {
    /// The matching entries from `from_us` on.
    async fn since(
        &self,
        from_us: Option<i64>,
    ) -> Result<datafusion::dataframe::DataFrame, EngineError> {
        let mut df = self.ctx.table(Table::Entries.name()).await?;
        df = df.filter(self.filter.clone())?;
        for p in time_predicates(from_us, self.to_us) {
            df = df.filter(p)?;
        }
        Ok(df)
    }
}

/// Width of the first window of a newest-first query, µs (one hour partition).
const FIRST_WINDOW_US: i64 = 3_600_000_000;
/// How much wider each next window of a newest-first query is.
const WINDOW_GROWTH: i64 = 8;

fn time_predicates(from: Option<i64>, to: Option<i64>) -> Vec<Expr> {
    let ts = || col(entry_col::TIMESTAMP);
    let mut out = Vec::new();
    out.extend(from.map(|f| ts().gt_eq(ts_lit(f))));
    out.extend(to.map(|t| ts().lt(ts_lit(t))));
    out
}
