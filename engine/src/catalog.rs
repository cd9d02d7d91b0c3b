//! The catalog: which Parquet files make up each table, with each file's time range, rows and
//! bytes, so that queries never list the store and can skip files by time.
//!
//! It is persisted as `_faultline/manifest.json` (written atomically on every change) and is
//! the commit point of flushes and compactions: a file is part of the table once the manifest
//! names it. Each file also carries its own catalog record in its Parquet key-value metadata
//! (`faultline.file`), so a missing or damaged manifest is rebuilt from the files themselves:
//! files of an incomplete flush group (a crash before the manifest was written) are deleted,
//! since their rows are still in the write-ahead log, and files a completed compaction
//! replaced are deleted too.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};

use crate::location::DataLocation;
use crate::{EngineError, Table};

/// Object path of the manifest, relative to the data location.
pub const MANIFEST_PATH: &str = "_faultline/manifest.json";
/// Parquet key-value metadata key holding a file's [`FileRecord`] as JSON.
pub const FILE_META_KEY: &str = "faultline.file";
const MANIFEST_VERSION: u32 = 1;

/// What faultline knows about one Parquet file of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// `entries` or `flows`.
    pub table: String,
    /// Object path relative to the data location, e.g.
    /// `entries/date=2026-11-26/hour=13/part-….parquet`.
    pub path: String,
    /// Start of the file's hour partition, µs since the epoch.
    pub hour_us: i64,
    /// Smallest timestamp in the file, µs.
    pub min_ts: i64,
    /// Largest timestamp in the file, µs.
    pub max_ts: i64,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the file, bytes (0 until known).
    #[serde(default)]
    pub bytes: u64,
    /// Highest write-ahead-log sequence whose rows the file holds.
    pub wal_seq: u64,
    /// The flush or compaction that wrote the file.
    pub group: u64,
    /// How many files that flush or compaction wrote (for crash recovery).
    pub group_files: u32,
    /// Files this one (with the rest of its group) replaced in a compaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
    /// Wall-clock time the file was written, µs.
    pub created_us: i64,
}

impl FileRecord {
    /// The table the file belongs to, if its name is known.
    pub fn table(&self) -> Option<Table> {
        Table::from_name(&self.table)
    }

    /// Whether the file may hold rows in `[from, to)` (either bound optional).
    pub fn overlaps(&self, from: Option<i64>, to: Option<i64>) -> bool {
        from.is_none_or(|f| self.max_ts >= f) && to.is_none_or(|t| self.min_ts < t)
    }
}

/// The files of one table at one moment, oldest first; shared by queries as a snapshot.
pub type FileSet = Arc<Vec<Arc<FileRecord>>>;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    /// Every WAL record up to this sequence is in the files.
    flushed_seq: Option<u64>,
    next_group: u64,
    files: Vec<FileRecord>,
}

/// How the catalog was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogOpen {
    /// Why the manifest was rebuilt from the files, if it was.
    pub rebuilt: Option<String>,
    /// Files a rebuild discarded (deleted unless read-only): incomplete flushes and compaction
    /// inputs already merged.
    pub removed: Vec<String>,
}

/// The persisted catalog (owned by whoever changes the table: flush, compaction, retention).
#[derive(Debug)]
pub struct Catalog {
    location: DataLocation,
    manifest: Manifest,
}

impl Catalog {
    /// Loads the manifest, or rebuilds it from the files when it is missing or damaged. A
    /// `writable` catalog persists the rebuilt manifest and deletes the files the rebuild
    /// discards; a read-only one only leaves them out.
    pub async fn open(
        location: DataLocation,
        writable: bool,
    ) -> Result<(Catalog, CatalogOpen), EngineError> {
        let reason = match location.get(MANIFEST_PATH).await? {
            None => "no manifest".to_owned(),
            Some(bytes) => match parse_manifest(&bytes) {
                Ok(manifest) => {
                    let catalog = Catalog { location, manifest };
                    return Ok((catalog, CatalogOpen::default()));
                }
                Err(why) => format!("damaged manifest ({why})"),
            },
        };
        let (manifest, removed) = rebuild(&location).await?;
        let catalog = Catalog { location, manifest };
        if writable {
            for path in &removed {
                catalog.location.delete(path).await?;
            }
            catalog.persist().await?;
        }
        let open = CatalogOpen {
            rebuilt: Some(reason),
            removed,
        };
        Ok((catalog, open))
    }

    /// The files of `table`, oldest first.
    pub fn files(&self, table: Table) -> FileSet {
        let mut files: Vec<Arc<FileRecord>> = self
            .manifest
            .files
            .iter()
            .filter(|f| f.table == table.name())
            .map(|f| Arc::new(f.clone()))
            .collect();
        files.sort_by_key(|f| (f.min_ts, f.max_ts));
        Arc::new(files)
    }

    /// Every WAL record up to this sequence is stored in the files.
    pub fn flushed_seq(&self) -> Option<u64> {
        self.manifest.flushed_seq
    }

    /// A fresh group number for a flush or compaction.
    pub fn next_group(&mut self) -> u64 {
        let group = self.manifest.next_group;
        self.manifest.next_group += 1;
        group
    }

    /// Every file record (both tables).
    pub fn records(&self) -> &[FileRecord] {
        &self.manifest.files
    }

    /// Adds `add`, removes the files named in `remove`, raises the flushed sequence, and writes
    /// the manifest: the commit point of a flush, compaction or retention pass.
    pub async fn commit(
        &mut self,
        add: Vec<FileRecord>,
        remove: &HashSet<String>,
        flushed_seq: Option<u64>,
    ) -> Result<(), EngineError> {
        self.manifest.files.retain(|f| !remove.contains(&f.path));
        self.manifest.files.extend(add);
        if let Some(seq) = flushed_seq {
            let old = self.manifest.flushed_seq.unwrap_or(0);
            self.manifest.flushed_seq = Some(old.max(seq));
        }
        self.persist().await
    }

    async fn persist(&self) -> Result<(), EngineError> {
        let json = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| EngineError::Catalog(format!("encoding manifest: {e}")))?;
        self.location.put(MANIFEST_PATH, Bytes::from(json)).await
    }
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if manifest.version != MANIFEST_VERSION {
        return Err(format!("unknown version {}", manifest.version));
    }
    if let Some(bad) = manifest.files.iter().find(|f| f.table().is_none()) {
        return Err(format!("unknown table `{}`", bad.table));
    }
    Ok(manifest)
}

/// Rebuilds the manifest from the Parquet files under each table's directory; returns it and
/// the files to delete (incomplete groups, replaced compaction inputs).
async fn rebuild(location: &DataLocation) -> Result<(Manifest, Vec<String>), EngineError> {
    let mut found = Vec::new();
    for table in Table::ALL {
        for meta in location.list(table.name()).await? {
            let Some(path) = location.relative(&meta.location) else {
                continue;
            };
            if !path.ends_with(".parquet") {
                continue;
            }
            match read_record(location, table, &path, meta.size).await {
                Ok(record) => found.push(record),
                // A file that is not readable Parquet cannot be served; leave it for an operator.
                Err(e) => tracing::warn!(%path, error = %e, "catalog rebuild: skipping a file"),
            }
        }
    }
    let (keep, drop) = settle_groups(found);
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        flushed_seq: keep.iter().map(|f| f.wal_seq).max(),
        next_group: keep.iter().map(|f| f.group + 1).max().unwrap_or(0),
        files: keep,
    };
    Ok((manifest, drop))
}

/// Splits rebuilt records into the files to keep and those to delete: members of incomplete
/// groups, and files replaced by a complete compaction group.
fn settle_groups(found: Vec<FileRecord>) -> (Vec<FileRecord>, Vec<String>) {
    let mut per_group: BTreeMap<u64, u32> = BTreeMap::new();
    for f in &found {
        *per_group.entry(f.group).or_default() += 1;
    }
    let complete = |f: &FileRecord| per_group.get(&f.group).copied().unwrap_or(0) >= f.group_files;
    let replaced: HashSet<String> = found
        .iter()
        .filter(|f| complete(f))
        .flat_map(|f| f.replaces.iter().cloned())
        .collect();
    let (keep, drop): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|f| complete(f) && !replaced.contains(&f.path));
    (keep, drop.into_iter().map(|f| f.path).collect())
}

/// Reads a file's catalog record from its footer; files without one (written before the
/// catalog existed) get one from their row count and timestamp statistics.
async fn read_record(
    location: &DataLocation,
    table: Table,
    path: &str,
    size: u64,
) -> Result<FileRecord, EngineError> {
    let meta = &read_footer(location, path, size).await?;
    let rows = u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
    let embedded = meta
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == FILE_META_KEY))
        .and_then(|kv| kv.value.as_deref())
        .and_then(|json| serde_json::from_str::<FileRecord>(json).ok());
    if let Some(mut record) = embedded {
        record.path = path.to_owned();
        record.rows = rows;
        record.bytes = size;
        return Ok(record);
    }
    let (min_ts, max_ts) = ts_range(meta, table)
        .ok_or_else(|| EngineError::Catalog(format!("{path}: no timestamp statistics")))?;
    Ok(FileRecord {
        table: table.name().to_owned(),
        path: path.to_owned(),
        hour_us: min_ts.div_euclid(crate::storage::HOUR_US) * crate::storage::HOUR_US,
        min_ts,
        max_ts,
        rows,
        bytes: size,
        wal_seq: 0,
        group: u64::MAX,
        group_files: 0,
        replaces: Vec::new(),
        created_us: 0,
    })
}

/// A Parquet file's footer, fetched with two ranged reads (no whole-file download).
async fn read_footer(
    location: &DataLocation,
    path: &str,
    size: u64,
) -> Result<ParquetMetaData, EngineError> {
    let tail_len = 8u64;
    if size < tail_len + 4 {
        return Err(EngineError::Catalog(format!(
            "{path}: too short for Parquet"
        )));
    }
    let tail = location.get_range(path, size - tail_len..size).await?;
    let tail: [u8; 8] = tail
        .as_ref()
        .try_into()
        .map_err(|_| EngineError::Catalog(format!("{path}: short read of the footer")))?;
    let len = FooterTail::try_new(&tail)?.metadata_length() as u64;
    let start = (size - tail_len)
        .checked_sub(len)
        .ok_or_else(|| EngineError::Catalog(format!("{path}: footer longer than the file")))?;
    let footer = location.get_range(path, start..size - tail_len).await?;
    Ok(ParquetMetaDataReader::decode_metadata(&footer)?)
}

/// The smallest and largest timestamp of a file, from its row-group statistics.
fn ts_range(meta: &ParquetMetaData, table: Table) -> Option<(i64, i64)> {
    let column = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == table.ts_column())?;
    let mut range: Option<(i64, i64)> = None;
    for rg in meta.row_groups() {
        let Some(Statistics::Int64(stats)) = rg.column(column).statistics() else {
            return None;
        };
        let (lo, hi) = (*stats.min_opt()?, *stats.max_opt()?);
        range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
    }
    range
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, group: u64, group_files: u32, replaces: &[&str]) -> FileRecord {
        FileRecord {
            table: "entries".into(),
            path: path.into(),
            hour_us: 0,
            min_ts: 0,
            max_ts: 10,
            rows: 1,
            bytes: 1,
            wal_seq: group,
            group,
            group_files,
            replaces: replaces.iter().map(|s| s.to_string()).collect(),
            created_us: 0,
        }
    }

    #[test]
    fn incomplete_groups_and_replaced_files_are_dropped() {
        let found = vec![
            record("a", 1, 2, &[]),
            record("b", 1, 2, &[]),
            record("c", 2, 2, &[]), // its partner is missing: a crashed flush
            record("m", 3, 1, &["a"]),
            record("n", 4, 2, &["b"]), // incomplete compaction: b stays
            record("old", u64::MAX, 0, &[]),
        ];
        let (keep, mut drop) = settle_groups(found);
        let mut kept: Vec<_> = keep.iter().map(|f| f.path.as_str()).collect();
        kept.sort();
        drop.sort();
        assert_eq!(kept, ["b", "m", "old"]);
        assert_eq!(drop, ["a", "c", "n"]);
    }

    #[test]
    fn overlap() {
        let f = record("a", 0, 1, &[]);
        assert!(f.overlaps(None, None));
        assert!(f.overlaps(Some(10), None));
        assert!(!f.overlaps(Some(11), None));
        assert!(f.overlaps(None, Some(1)));
        assert!(!f.overlaps(None, Some(0)));
    }

    #[test]
    fn manifest_validation() {
        assert!(parse_manifest(b"{").is_err());
        assert!(
            parse_manifest(br#"{"version":9,"flushed_seq":null,"next_group":0,"files":[]}"#)
                .is_err()
        );
        assert!(
            parse_manifest(br#"{"version":1,"flushed_seq":3,"next_group":0,"files":[]}"#).is_ok()
        );
    }
}
