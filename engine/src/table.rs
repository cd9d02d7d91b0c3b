//! The engine's tables, `entries` and `flows`: the one [`Table`] enum of `faultline-schemas`
//! (shared with ingest, whose batches the engine stores), re-exported under the engine's path.

pub use faultline_schemas::Table;
