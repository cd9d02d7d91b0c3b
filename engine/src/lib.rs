//! faultline's storage and query engine.
//!
//! Today it holds the Parquet store: record batches of the `entries` and `flows` tables are
//! written as zstd-compressed Parquet with statistics, partitioned by hour
//! (`<data>/<table>/date=YYYY-MM-DD/hour=HH/*.parquet`), each file written under a temporary name
//! and renamed when complete so that a crash never leaves a half file under a real name.
//! Queries run with DataFusion: KFL filters over `entries` ([`query_entries`]) and read-only
//! SQL over `entries` and `flows` ([`query_sql`]).
//! A write-ahead log ([`wal::Wal`]) makes appended batches durable (CRC-framed Arrow IPC records,
//! `sync_data` before acknowledging) and replays them on start, dropping a torn tail record.

mod error;
pub mod query;
pub mod sql;
pub mod storage;
pub mod wal;

pub use error::EngineError;
pub use query::{EntryQuery, Order, query_entries};
pub use sql::{SqlLimits, query_sql, query_sql_with_limits, validate_read_only};
pub use storage::{PartitionedWriter, StoreConfig, StoreStats};
pub use wal::{Replay, TornReason, TornTail, Wal, WalTable};
