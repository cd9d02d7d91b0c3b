//! Errors of the engine crate.

/// Everything that can go wrong in storage and queries.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A filesystem operation failed; the path says where.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Arrow rejected data.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// The Parquet writer failed.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// DataFusion failed to plan or run a query.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// A KFL query was rejected; the message says what and where (line:column). Render it
    /// with the query text and a caret via [`faultline_kfl::KflError::render`].
    #[error(transparent)]
    Kfl(#[from] faultline_kfl::KflError),
    /// The data location could not be opened or an object could not be read or written.
    #[error("storage: {0}")]
    Location(String),
    /// The catalog (manifest) could not be encoded or a file's catalog record is unusable.
    #[error("catalog: {0}")]
    Catalog(String),
    /// An appended batch does not have the table's schema.
    #[error("{0}")]
    Schema(String),
    /// The engine was closed; nothing more can be appended.
    #[error("the engine is closed")]
    Closed,
    /// The engine was opened read-only.
    #[error("the store is open read-only")]
    ReadOnly,
    /// Another process holds the store open for writing.
    #[error("{0} is in use by another faultline process (lock held on {1})")]
    Locked(String, std::path::PathBuf),
    /// A SQL statement was refused (not a single read-only query) or could not be planned.
    #[error("{0}")]
    Sql(String),
    /// A SQL query ran longer than its time limit.
    #[error("query timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A SQL query needed more memory than its limit.
    #[error("query exceeded its memory limit of {limit} bytes: {detail}")]
    MemoryLimit {
        /// The limit, bytes.
        limit: usize,
        /// DataFusion's description of the failed reservation.
        detail: String,
    },
    /// A batch does not have the column the store partitions by.
    #[error("batch has no timestamp column `{0}`")]
    MissingTimestamp(String),
    /// The write-ahead log holds a damaged record where it cannot be a torn tail (an earlier
    /// segment, or a bad record followed by more data); replaying past it would lose data silently.
    #[error("write-ahead log {path} is corrupt at byte {offset}: {reason}")]
    WalCorrupt {
        /// The segment file.
        path: std::path::PathBuf,
        /// Byte offset of the damaged record in the segment.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
}

impl EngineError {
    /// Wraps an I/O error with the operation and path it concerned.
    pub fn io(
        op: &'static str,
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| EngineError::Io { op, path, source }
    }
}
