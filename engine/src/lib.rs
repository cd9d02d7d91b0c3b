//! faultline's storage and query engine.
//!
//! An [`Engine`] is the store behind every interface:
//!
//! - **Writes**: [`Engine::append`] logs each batch to the write-ahead log ([`wal::Wal`],
//!   synced before it returns) and adds it to the live buffer, where queries see it at once.
//!   Flushes ([`Engine::flush`], or by [`FlushPolicy`] in the background) write the buffer as
//!   sorted, hour-partitioned Parquet (`<table>/date=YYYY-MM-DD/hour=HH/*.parquet`), commit the
//!   files to the [`catalog`] and truncate the log. The live buffer is bounded in bytes; a full
//!   buffer makes appends wait (back-pressure).
//!   The engine is ingest's [`BatchSink`] (defined with [`Table`] in `faultline-schemas`):
//!   a pipeline writes straight into it.
//! - **Storage** goes through `object_store` ([`location::DataLocation`]): a local directory or
//!   an `s3://` URL; only the log is always local.
//! - **Upkeep**: [`Engine::compact`] merges the files of settled hours, [`Engine::apply_retention`]
//!   drops old ones; files leave the disk only when no running query's [`Snapshot`] holds them.
//! - **Reads**: [`Engine::query_kfl`] and [`Engine::query_sql`] (read-only, under memory and time
//!   limits) plan over [`SnapshotTable`]s, the engine's `TableProvider`s, which union the live
//!   buffer with the catalogued files, prune files by time and row groups by statistics, and
//!   push filters into the Parquet scan. [`Engine::subscribe`] streams newly appended entries
//!   that match a KFL filter.
//!
//! The older listing-table path (a store directory read as plain DataFusion listing tables)
//! is test support now (`engine/tests/support/listing.rs`): tests and the `query_compare`
//! benchmark use it as the reference the engine must agree with.
//!
//! # SQL views and functions
//!
//! SQL queries also see the analytic views of [`views::VIEWS`] (`error_counts_per_minute`,
//! `top_failing_destinations`, `error_rate_per_service`), written in SQL over `entries` and
//! `flows` and bucketed by `minute` or `day`; a filter on the bucket becomes a time range in the
//! scan. `kfl('<KFL query>')` is replaced before planning by the KFL query's SQL condition, and
//! `kfl_datetime(text)` parses KFL's `datetime()` layout. See [`views`].
//!
//! # Analytics
//!
//! [`analytics`] holds every analytic query once: the views' SQL, the error summary of the HTTP
//! API and the default report's queries; the HTTP API and the reports only render its results.

pub mod analytics;
pub mod catalog;
mod config;
mod engine;
mod error;
mod files;
pub mod location;
mod maintenance;
pub mod provider;
pub mod session;
mod sink;
pub mod sql;
pub mod storage;
mod stream;
pub mod subscribe;
mod table;
#[cfg(test)]
mod test_batches;
pub mod views;
pub mod wal;

pub use catalog::{CatalogOpen, FileRecord};
pub use config::{CompactionPolicy, EngineConfig, FlushPolicy, ParquetOptions, parse_age};
pub use engine::{Engine, EngineStats, FlushStats, KflQuery, OpenReport, Order};
pub use error::EngineError;
pub use faultline_schemas::{BatchSink, SinkError};
pub use maintenance::{CompactionStats, RetentionStats};
pub use provider::{Snapshot, SnapshotTable};
pub use session::session_config;
pub use sql::{SqlLimits, validate_read_only};
pub use stream::QueryStream;
pub use subscribe::{
    LiveFilter, Subscription, SubscriptionEvent, SubscriptionStats, Subscriptions,
};
pub use table::Table;
pub use wal::{Replay, TornReason, TornTail, Wal};
