//! The DataFusion settings every faultline query runs with, in one place: the session
//! configuration (Parquet filter pushdown on) and the runtime of a query under limits (a
//! bounded memory pool, no spilling).

use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::{CacheManagerConfig, FileMetadataCache};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;

use crate::{EngineError, SqlLimits};

/// The session settings every faultline query uses: Parquet filter pushdown on, no
/// information schema. URL tables (`FROM 'file.parquet'`) stay off: DataFusion only reads
/// them after `SessionContext::enable_url_table`, which faultline never calls.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(false);
    let opts = config.options_mut();
    opts.execution.parquet.pushdown_filters = true;
    opts.execution.parquet.reorder_filters = true;
    config
}

/// The runtime of one query under `limits`: its operators reserve memory from a pool of
/// `limits.memory_bytes`, and spilling is off, so a query over its limit fails clearly instead
/// of writing temporary files on behalf of a request. `metadata_cache`, when given, shares
/// parsed Parquet footers between queries.
pub fn limited_runtime(
    limits: &SqlLimits,
    metadata_cache: Option<Arc<FileMetadataCache>>,
) -> Result<Arc<RuntimeEnv>, EngineError> {
    let mut builder = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(GreedyMemoryPool::new(limits.memory_bytes)))
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        );
    if let Some(cache) = metadata_cache {
        builder = builder.with_cache_manager(
            CacheManagerConfig::default().with_file_metadata_cache(Some(cache)),
        );
    }
    Ok(builder.build_arc()?)
}

/// A DataFusion failure as the engine reports it: running out of the query's memory pool of
/// `limit` bytes is [`EngineError::MemoryLimit`].
pub fn query_error(e: DataFusionError, limit: usize) -> EngineError {
    match e.find_root() {
        DataFusionError::ResourcesExhausted(detail) => EngineError::MemoryLimit {
            limit,
            detail: detail.clone(),
        },
        _ => EngineError::DataFusion(e),
    }
}
