//! How an [`crate::Engine`] is set up: where data lives, when the live buffer is flushed,
//! how much memory it may hold, how files are compacted and how long data is kept.

use std::path::PathBuf;
use std::time::Duration;

use crate::sql::SqlLimits;

/// When the live buffer is written to Parquet: whichever limit is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Flush once the buffer holds this many bytes (Arrow memory).
    pub max_bytes: usize,
    /// Flush once the buffer holds this many rows (both tables together).
    pub max_rows: usize,
    /// Flush once the oldest unflushed row has waited this long.
    pub max_age: Duration,
}

impl Default for FlushPolicy {
    /// 64 MiB, 1 M rows, 10 s.
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            max_rows: 1_000_000,
            max_age: Duration::from_secs(10),
        }
    }
}

/// When the files of a closed hour are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// An hour is closed (no longer written by live traffic) once this much wall-clock time has
    /// passed since its newest file was written.
    pub settle: Duration,
    /// Compact an hour once it has at least this many files.
    pub min_files: usize,
    /// Target rows per merged file; an hour with more rows gets several files.
    pub target_rows: usize,
}

impl Default for CompactionPolicy {
    /// Hours untouched for 2 minutes with 4 or more files, merged into files of up to 8 M rows.
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(120),
            min_files: 4,
            target_rows: 8_000_000,
        }
    }
}

/// How Parquet files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetOptions {
    /// Rows per row group.
    pub row_group_rows: usize,
    /// zstd compression level (1-22).
    pub zstd_level: i32,
}

impl Default for ParquetOptions {
    /// 128 Ki-row row groups, zstd level 1 (the same size as level 3 on entries, measured
    /// 65.2 vs 65.3 bytes/entry, and about 1.5x faster to write).
    fn default() -> Self {
        Self {
            row_group_rows: 128 * 1024,
            zstd_level: 1,
        }
    }
}

/// Everything an engine needs to open.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where Parquet files and the catalog live: a local directory or an object-store URL
    /// (`s3://bucket/prefix`, credentials and endpoint from the usual `AWS_*` variables).
    pub data: String,
    /// Object-store options for a remote `data` URL (`aws_endpoint`, `aws_region`,
    /// `aws_access_key_id`, `aws_allow_http`, …), overriding the `AWS_*` environment.
    pub storage_options: Vec<(String, String)>,
    /// Write-ahead log directory (always local). Default: `<data>/_faultline/wal` for a local
    /// store; required for a remote one.
    pub wal_dir: Option<PathBuf>,
    /// When the live buffer is flushed.
    pub flush: FlushPolicy,
    /// Most bytes the live buffer may hold; appends wait (back-pressure) beyond it.
    pub live_max_bytes: usize,
    /// Data older than this (by its timestamp, against the wall clock) is deleted.
    pub retention: Option<Duration>,
    /// When small files are merged.
    pub compaction: CompactionPolicy,
    /// Parquet writer settings.
    pub parquet: ParquetOptions,
    /// Memory and time limits of each query.
    pub query_limits: SqlLimits,
    /// Run flushes, compaction and retention in a background thread. Off, they only run when
    /// called ([`crate::Engine::flush`], [`crate::Engine::compact`],
    /// [`crate::Engine::apply_retention`]), which tests and one-shot tools want.
    pub background: bool,
    /// How often the background thread checks its policies.
    pub tick: Duration,
    /// Open a read-only view of a store another process may be writing: the catalog and the
    /// WAL are read but never changed, appends and flushes are refused, no background thread.
    pub read_only: bool,
}

impl EngineConfig {
    /// Defaults for the store at `data` (a directory or URL).
    pub fn new(data: impl Into<String>) -> Self {
        Self {
            data: data.into(),
            storage_options: Vec::new(),
            wal_dir: None,
            flush: FlushPolicy::default(),
            live_max_bytes: 256 << 20,
            retention: None,
            compaction: CompactionPolicy::default(),
            parquet: ParquetOptions::default(),
            query_limits: SqlLimits::default(),
            background: true,
            tick: Duration::from_millis(250),
            read_only: false,
        }
    }
}

/// Parses a retention age such as `7d`, `36h`, `90m`, `30s` or `2w`: faultline's one duration
/// grammar, [`faultline_kfl::time::parse_duration`].
pub fn parse_age(text: &str) -> Option<Duration> {
    faultline_kfl::time::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_age("36h"), Some(Duration::from_secs(36 * 3600)));
        assert_eq!(parse_age("2w"), Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_age("30s"), Some(Duration::from_secs(30)));
        for bad in ["", "d", "7", "7x", "-1d", "99999999999999999999d", "7 d"] {
            assert_eq!(parse_age(bad), None, "{bad}");
        }
    }
}
