//! Where a command finds the store, shared by every command that opens it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use faultline_engine::{Engine, EngineConfig};

/// `--data` and `--wal-dir`.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store: a data directory, or an `s3://bucket/prefix` URL (credentials and endpoint
    /// from the `AWS_*` environment variables; then `--wal-dir` is required).
    #[arg(long, default_value = crate::DEFAULT_DATA_DIR)]
    pub data: String,
    /// Local directory of the write-ahead log (default `<data>/_faultline/wal`).
    #[arg(long)]
    pub wal_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// The engine settings for this store.
    pub fn config(&self) -> EngineConfig {
        let mut config = EngineConfig::new(self.data.clone());
        config.wal_dir = self.wal_dir.clone();
        config
    }

    /// The data directory, when the store is local.
    pub fn local_dir(&self) -> Option<PathBuf> {
        (!self.data.contains("://")).then(|| PathBuf::from(&self.data))
    }

    /// Opens a read-only view (what queries use, even while an ingest is writing the store).
    pub fn open_read_only(&self, runtime: &tokio::runtime::Runtime) -> anyhow::Result<Engine> {
        let mut config = self.config();
        config.read_only = true;
        runtime
            .block_on(Engine::open(config))
            .with_context(|| format!("opening {}", self.data))
    }
}

/// The multi-threaded runtime every command runs its async parts on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
