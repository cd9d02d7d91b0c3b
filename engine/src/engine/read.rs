//! The read path: a query takes a snapshot of the tables (live buffer and catalogued files),
//! plans over it in a session of its own under the engine's memory and time limits, and
//! streams its rows while the snapshot keeps its files from being deleted.

use std::sync::Arc;

use datafusion::dataframe::DataFrame;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use faultline_schemas::entry_col;

use super::live::LiveTables;
use crate::location::DataLocation;
use crate::provider::{Snapshot, SnapshotTable};
use crate::session::{limited_runtime, query_error, session_config};
use crate::sql::SqlLimits;
use crate::stream::QueryStream;
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

/// Width of the first window of a newest-first query, µs (one hour partition).
const FIRST_WINDOW_US: i64 = 3_600_000_000;
/// How much wider each next window of a newest-first query is.
const WINDOW_GROWTH: i64 = 8;

/// The read side of an engine.
pub(crate) struct ReadPath {
    location: DataLocation,
    live: Arc<LiveTables>,
    /// Parsed Parquet footers, shared by every query's session.
    metadata_cache: Arc<FileMetadataCache>,
    limits: SqlLimits,
}

impl std::fmt::Debug for ReadPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadPath")
            .field("location", &self.location)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ReadPath {
    /// Queries over `live` and the files at `location`, each under `limits`.
    pub(super) fn new(
        location: DataLocation,
        live: Arc<LiveTables>,
        metadata_cache: Arc<FileMetadataCache>,
        limits: SqlLimits,
    ) -> Self {
        Self {
            location,
            live,
            metadata_cache,
            limits,
        }
    }

    /// The limits every query runs under.
    pub(super) fn limits(&self) -> SqlLimits {
        self.limits
    }

    /// The tables as they are now.
    pub(super) fn snapshot(&self) -> Arc<Snapshot> {
        self.live.snapshot()
    }

    /// A query session over `snapshot` (see [`crate::Engine::session`]).
    pub(super) async fn session(
        &self,
        snapshot: &Arc<Snapshot>,
    ) -> Result<SessionContext, EngineError> {
        let runtime = limited_runtime(&self.limits, Some(self.metadata_cache.clone()))?;
        let location = &self.location;
        runtime.register_object_store(location.url().as_ref(), location.store().clone());
        let ctx = SessionContext::new_with_config_rt(session_config(), runtime);
        for table in Table::ALL {
            let provider = SnapshotTable::new(table, snapshot.clone(), location.clone());
            ctx.register_table(table.name(), Arc::new(provider))?;
        }
        crate::views::register_views(&ctx).await?;
        Ok(ctx)
    }

    /// Runs a KFL query over `entries` (see [`crate::Engine::query_kfl`]).
    pub(super) async fn query_kfl(&self, q: &KflQuery) -> Result<QueryStream, EngineError> {
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
        let limits = self.limits;
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

    /// Runs one read-only SQL query (see [`crate::Engine::query_sql`]).
    pub(super) async fn query_sql(&self, sql: &str) -> Result<QueryStream, EngineError> {
        let started = tokio::time::Instant::now();
        let statement = crate::sql::prepare_query(sql)?;
        let snapshot = self.snapshot();
        let ctx = self.session(&snapshot).await?;
        let plan = crate::sql::plan_read_only(&ctx, statement).await?;
        let df = ctx.execute_logical_plan(plan).await?;
        self.run(df, snapshot, started).await
    }

    /// Starts executing `df`: its rows, read from `snapshot`, within the time left of the
    /// query's limit since `started`.
    async fn run(
        &self,
        df: DataFrame,
        snapshot: Arc<Snapshot>,
        started: tokio::time::Instant,
    ) -> Result<QueryStream, EngineError> {
        let limits = self.limits;
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
}

/// The entries a KFL query matches before ordering: its compiled filter up to its upper time
/// bound, in a query's session.
struct Matching<'a> {
    ctx: &'a SessionContext,
    filter: &'a Expr,
    to_us: Option<i64>,
}

impl Matching<'_> {
    /// The matching entries from `from_us` on.
    async fn since(&self, from_us: Option<i64>) -> Result<DataFrame, EngineError> {
        let mut df = self.ctx.table(Table::Entries.name()).await?;
        df = df.filter(self.filter.clone())?;
        for p in time_predicates(from_us, self.to_us) {
            df = df.filter(p)?;
        }
        Ok(df)
    }
}

fn ts_lit(us: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(us),
        Some("UTC".into()),
    ))
}

/// `timestamp >= from` and `timestamp < to`, for the bounds given.
fn time_predicates(from: Option<i64>, to: Option<i64>) -> Vec<Expr> {
    let ts = || col(entry_col::TIMESTAMP);
    let mut out = Vec::new();
    out.extend(from.map(|f| ts().gt_eq(ts_lit(f))));
    out.extend(to.map(|t| ts().lt(ts_lit(t))));
    out
}
