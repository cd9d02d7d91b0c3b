//! Opening and closing a store: the writer lock, loading (or rebuilding) the catalog, removing
//! files a crash left outside it, replaying the WAL into the live buffer, starting the
//! background thread; and at close, the last flush and the release of the log and the lock.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::execution::runtime_env::RuntimeEnvBuilder;

use super::live::LiveTables;
use super::read::ReadPath;
use super::stored::StoredFiles;
use super::write::{BufferLimits, WritePath, conform};
use super::{Engine, Shared, background, lock};
use crate::catalog::{Catalog, CatalogOpen};
use crate::config::EngineConfig;
use crate::location::DataLocation;
use crate::storage::writer_properties;
use crate::subscribe::Subscriptions;
use crate::wal::{TornTail, Wal};
use crate::{EngineError, Table};

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

/// What an open engine holds for its own lifetime: the writer lock, the background thread and
/// what opening found.
#[derive(Debug)]
pub(super) struct Lifecycle {
    /// Held while the engine is open for writing; released by [`close`].
    writer_lock: Mutex<Option<WriterLock>>,
    /// The background flush/maintenance thread, joined by [`close`].
    background: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(super) report: OpenReport,
    /// Rows replayed from the WAL at open.
    pub(super) replayed_rows: u64,
}

/// Opens the store (see [`Engine::open`]).
pub(super) async fn open(config: EngineConfig) -> Result<Engine, EngineError> {
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
    let live = Arc::new(LiveTables::new([
        catalog.files(Table::Entries),
        catalog.files(Table::Flows),
    ]));
    let mut report = OpenReport {
        catalog: catalog_open,
        orphans_removed,
        torn_tail: replay.torn_tail.clone(),
        ..OpenReport::default()
    };
    let mut replayed_rows = 0;
    {
        let mut state = live.lock();
        for ((table, batch), seq) in replay.batches.into_iter().zip(replay.seqs) {
            if flushed.is_some_and(|f| seq <= f) {
                report.skipped_batches += 1;
                continue;
            }
            let batch = conform(table, batch)?;
            replayed_rows += batch.num_rows() as u64;
            report.replayed_batches += 1;
            LiveTables::push(&mut state, table, seq, batch);
        }
    }
    let props = Arc::new(writer_properties(
        config.parquet.row_group_rows,
        config.parquet.zstd_level,
    )?);
    let metadata_cache = RuntimeEnvBuilder::new()
        .build()?
        .cache_manager
        .get_file_metadata_cache();
    let files = Arc::new(StoredFiles::new(
        location.clone(),
        props,
        catalog,
        live.clone(),
    ));
    let subscriptions = Arc::new(Subscriptions::new());
    let writer = wal.map(|wal| {
        let limits = BufferLimits {
            flush: config.flush,
            max_bytes: config.live_max_bytes,
        };
        WritePath::new(
            wal,
            live.clone(),
            files.clone(),
            subscriptions.clone(),
            limits,
        )
    });
    let reader = ReadPath::new(location, live.clone(), metadata_cache, config.query_limits);
    let run_background = config.background && writable;
    let shared = Arc::new(Shared {
        config,
        live,
        files,
        writer,
        reader,
        subscriptions,
        lifecycle: Lifecycle {
            writer_lock: Mutex::new(writer_lock),
            background: Mutex::new(None),
            report,
            replayed_rows,
        },
    });
    if run_background {
        let handle = background::spawn(Arc::downgrade(&shared))?;
        *lock(&shared.lifecycle.background) = Some(handle);
    }
    Ok(Engine { shared })
}

/// Closes `engine` (see [`Engine::close`]).
pub(super) async fn close(engine: &Engine) -> Result<(), EngineError> {
    let Some(writer) = engine.shared.writer.as_ref() else {
        return Ok(());
    };
    engine.flush().await?;
    writer.shut();
    engine.shared.subscriptions.close_all();
    join_background(&engine.shared.lifecycle).await;
    engine.collect_garbage().await?;
    // Everything is in Parquet: close the log and let another process open the store now,
    // even while clones of this handle are still alive.
    writer.release();
    lock(&engine.shared.lifecycle.writer_lock).take();
    Ok(())
}

/// Waits for the background thread to see the close and stop, so that it no longer holds
/// the engine (and its files) once `close` returns.
async fn join_background(lifecycle: &Lifecycle) {
    let Some(handle) = lock(&lifecycle.background).take() else {
        return;
    };
    if handle.thread().id() == std::thread::current().id() {
        return;
    }
    let joined = tokio::task::spawn_blocking(move || handle.join()).await;
    if !matches!(joined, Ok(Ok(()))) {
        tracing::error!("the background maintenance thread ended abnormally");
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
    fn acquire(wal_dir: &Path, location: &DataLocation) -> Result<Self, EngineError> {
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

/// The WAL directory: the configured one, or `<data>/_faultline/wal` for a local store.
fn wal_dir(config: &EngineConfig, location: &DataLocation) -> Result<PathBuf, EngineError> {
    match (&config.wal_dir, location.local_root()) {
        (Some(dir), _) => Ok(dir.clone()),
        (None, Some(root)) => Ok(root.join("_faultline").join("wal")),
        (None, None) => Err(EngineError::Location(format!(
            "{location} is not local: give a local WAL directory"
        ))),
    }
}
