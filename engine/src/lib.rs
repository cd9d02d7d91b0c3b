//! faultline's storage and query engine.
//!
//! Today it holds the Parquet store: record batches of the `entries` and `flows` tables are
//! written as zstd-compressed Parquet with statistics, partitioned by hour
//! (`<data>/<table>/date=YYYY-MM-DD/hour=HH/*.parquet`), each file written under a temporary name
//! and renamed when complete so that a crash never leaves a half file under a real name.

mod error;
pub mod query;
pub mod storage;

pub use error::EngineError;
pub use query::{EntryQuery, Order, query_entries};
pub use storage::{PartitionedWriter, StoreConfig, StoreStats};
