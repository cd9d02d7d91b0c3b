//! The tables as queries see them: the live buffer (appended batches not yet in Parquet) and
//! the catalogued file sets, under one lock so that a snapshot never sees a row twice or misses
//! one while a flush moves rows from the buffer to files. Files that leave the file sets wait
//! in a graveyard until no snapshot holds them.
//!
//! This is the shared state of the write path (which adds and flushes batches), the read path
//! (which takes snapshots) and the stored files (which commit file changes and delete what no
//! snapshot holds); the policies (back-pressure, when to flush) live with the write path.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;

use super::lock;
use crate::Table;
use crate::catalog::{FileRecord, FileSet};
use crate::provider::Snapshot;

/// One appended batch in the live buffer.
#[derive(Debug)]
pub(super) struct LiveBatch {
    /// The batch's WAL sequence.
    pub(super) seq: u64,
    pub(super) batch: RecordBatch,
    /// Arrow memory the batch holds.
    pub(super) bytes: usize,
}

/// Everything a query snapshot needs, under one lock.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Live batches per table ([`Table::index`]), in append order.
    pub(super) live: [Vec<LiveBatch>; 2],
    pub(super) live_bytes: usize,
    pub(super) live_rows: usize,
    /// When the oldest unflushed batch was appended.
    pub(super) oldest: Option<Instant>,
    /// Catalogued files per table, oldest first.
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

    /// Updates the file sets: `add` joins, `remove` leaves for the graveyard. Files that stay
    /// keep their `Arc`, so running snapshots and the graveyard count references right.
    fn swap_files(&mut self, add: &[FileRecord], remove: &HashSet<String>) {
        for table in Table::ALL {
            let old = &self.files[table.index()];
            let (gone, mut kept): (Vec<_>, Vec<_>) =
                old.iter().cloned().partition(|f| remove.contains(&f.path));
            kept.extend(
                add.iter()
                    .filter(|r| r.table == table.name())
                    .map(|r| Arc::new(r.clone())),
            );
            kept.sort_by_key(|f| (f.min_ts, f.max_ts));
            self.files[table.index()] = Arc::new(kept);
            self.graveyard.extend(gone);
        }
    }
}

/// Sizes of the tables now, for [`crate::EngineStats`].
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LiveSizes {
    pub(super) live_rows: u64,
    pub(super) live_bytes: u64,
    pub(super) files: u64,
    pub(super) stored_rows: u64,
    pub(super) stored_bytes: u64,
    pub(super) files_pending_delete: u64,
}

/// The live buffer and file sets, shared by the engine's parts.
#[derive(Debug, Default)]
pub(crate) struct LiveTables {
    state: Mutex<State>,
    /// Signalled when the live buffer shrinks (appends waiting for room) or grows past a flush
    /// threshold (the background thread).
    changed: Condvar,
}

impl LiveTables {
    /// Tables holding the catalogued `files` (per table) and an empty live buffer.
    pub(super) fn new(files: [FileSet; 2]) -> Self {
        Self {
            state: Mutex::new(State {
                files,
                ..State::default()
            }),
            changed: Condvar::new(),
        }
    }

    /// The state, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Adds an appended (or replayed) batch with WAL sequence `seq` to the live buffer.
    pub(super) fn push(state: &mut State, table: Table, seq: u64, batch: RecordBatch) {
        let bytes = batch.get_array_memory_size();
        state.live_bytes += bytes;
        state.live_rows += batch.num_rows();
        state.oldest.get_or_insert_with(Instant::now);
        state.live[table.index()].push(LiveBatch { seq, batch, bytes });
    }

    /// Wakes every thread waiting for the tables to change.
    pub(super) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Waits up to `timeout` for a change, with `state` locked; returns the lock again.
    pub(super) fn wait<'a>(
        &self,
        state: MutexGuard<'a, State>,
        timeout: Duration,
    ) -> MutexGuard<'a, State> {
        self.changed
            .wait_timeout(state, timeout)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }

    /// Applies a catalog commit to what queries see, in one step: files in `remove` leave (for
    /// the graveyard), `add` joins and, for a flush, the live batches up to `flushed_seq`
    /// (now in `add`) leave the buffer.
    pub(super) fn commit(
        &self,
        add: &[FileRecord],
        remove: &HashSet<String>,
        flushed_seq: Option<u64>,
    ) {
        let mut state = self.lock();
        if let Some(seq) = flushed_seq {
            for list in &mut state.live {
                list.retain(|b| b.seq > seq);
            }
            state.recount();
        }
        state.swap_files(add, remove);
        if flushed_seq.is_some() {
            self.notify();
        }
    }

    /// Takes the removed files that no snapshot holds any more out of the graveyard.
    pub(super) fn take_unreferenced(&self) -> Vec<Arc<FileRecord>> {
        let mut state = self.lock();
        let (ready, wait) = std::mem::take(&mut state.graveyard)
            .into_iter()
            .partition(|f| Arc::strong_count(f) == 1);
        state.graveyard = wait;
        ready
    }

    /// The tables as they are now: live batches and catalogued files.
    pub(super) fn snapshot(&self) -> Arc<Snapshot> {
        let state = self.lock();
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

    /// Rows, bytes and files now.
    pub(super) fn sizes(&self) -> LiveSizes {
        let state = self.lock();
        let files = state.files.iter().flat_map(|s| s.iter());
        LiveSizes {
            live_rows: state.live_rows as u64,
            live_bytes: state.live_bytes as u64,
            files: files.clone().count() as u64,
            stored_rows: files.clone().map(|f| f.rows).sum(),
            stored_bytes: files.map(|f| f.bytes).sum(),
            files_pending_delete: state.graveyard.len() as u64,
        }
    }
}
