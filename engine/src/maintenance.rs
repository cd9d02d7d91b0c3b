//! Keeping the store in shape while it runs: compaction merges the small files of hours no
//! longer written into a few large ones, retention drops files older than the configured age.
//! [`crate::Engine::compact`] and [`crate::Engine::apply_retention`] run them, by hand or from
//! the engine's background thread.
//!
//! Both work on the store's files through one handle ([`StoredFiles`]) and change the catalog
//! the same way as a flush (new files written first, then one manifest commit); the files they
//! remove are only deleted once no running query's snapshot holds them.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::EngineError;
use crate::catalog::{Catalog, FileRecord};
use crate::config::CompactionPolicy;
use crate::engine::StoredFiles;
use crate::files::{GroupInfo, Part};
use crate::storage::HOUR_US;

/// What a compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Hours compacted.
    pub hours: u64,
    /// Files merged away.
    pub files_in: u64,
    /// Files written.
    pub files_out: u64,
    /// Rows rewritten.
    pub rows: u64,
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Files dropped from the catalog.
    pub files: u64,
    /// Rows they held.
    pub rows: u64,
}

/// Merges the files of every settled hour (no file written for
/// [`crate::CompactionPolicy::settle`]) that has at least `min_files` files into files of up
/// to `target_rows` rows, sorted by time, then deletes the merged files no query holds.
pub(crate) async fn compact(
    files: &StoredFiles,
    policy: &CompactionPolicy,
) -> Result<CompactionStats, EngineError> {
    let now = chrono::Utc::now().timestamp_micros();
    let settle = i64::try_from(policy.settle.as_micros()).unwrap_or(i64::MAX);
    let mut catalog = files.catalog().await;
    let mut stats = CompactionStats::default();
    for hour in settled_hours(
        catalog.records(),
        now.saturating_sub(settle),
        policy.min_files,
    ) {
        for chunk in chunks(hour, policy.target_rows) {
            if chunk.len() < 2 {
                continue;
            }
            let merged = merge(files, &mut catalog, &chunk).await?;
            stats.files_in += chunk.len() as u64;
            stats.files_out += merged.files;
            stats.rows += merged.rows;
        }
        stats.hours += 1;
    }
    drop(catalog);
    files.collect_garbage().await?;
    Ok(stats)
}

/// Rewrites `inputs` (one table, one hour) as one sorted file and swaps it in.
async fn merge(
    files: &StoredFiles,
    catalog: &mut Catalog,
    inputs: &[FileRecord],
) -> Result<MergeResult, EngineError> {
    let Some(first) = inputs.first() else {
        return Ok(MergeResult::default());
    };
    let table = first
        .table()
        .ok_or_else(|| EngineError::Catalog(format!("unknown table `{}`", first.table)))?;
    let mut batches = Vec::new();
    for file in inputs {
        batches.extend(files.read(file).await?);
    }
    let info = GroupInfo {
        group: catalog.next_group(),
        wal_seq: inputs.iter().map(|f| f.wal_seq).max().unwrap_or(0),
        replaces: inputs.iter().map(|f| f.path.clone()).collect(),
    };
    let part = Part {
        table,
        hour: first.hour_us.div_euclid(HOUR_US),
        batches,
    };
    let written = files.write(vec![part], &info).await?;
    let result = MergeResult {
        files: written.len() as u64,
        rows: written.iter().map(|f| f.rows).sum(),
    };
    let remove: HashSet<String> = info.replaces.into_iter().collect();
    files.commit(catalog, written, &remove, None).await?;
    Ok(result)
}

/// The cutoff of a retention of `age`: now (by the wall clock) minus `age`, µs.
pub(crate) fn retention_cutoff(age: Duration) -> i64 {
    let now = chrono::Utc::now().timestamp_micros();
    now.saturating_sub(i64::try_from(age.as_micros()).unwrap_or(i64::MAX))
}

/// Drops every file whose rows are all older than `cutoff_us`, then deletes the dropped files
/// no query holds.
pub(crate) async fn retain_after(
    files: &StoredFiles,
    cutoff_us: i64,
) -> Result<RetentionStats, EngineError> {
    let mut catalog = files.catalog().await;
    let expired: Vec<&FileRecord> = catalog
        .records()
        .iter()
        .filter(|f| f.max_ts < cutoff_us)
        .collect();
    let stats = RetentionStats {
        files: expired.len() as u64,
        rows: expired.iter().map(|f| f.rows).sum(),
    };
    if stats.files > 0 {
        let remove: HashSet<String> = expired.iter().map(|f| f.path.clone()).collect();
        files
            .commit(&mut catalog, Vec::new(), &remove, None)
            .await?;
    }
    drop(catalog);
    files.collect_garbage().await?;
    Ok(stats)
}

#[derive(Debug, Default)]
struct MergeResult {
    files: u64,
    rows: u64,
}

/// Per (table, hour) with at least `min_files` files, all written before `settled_before`:
/// the files, oldest first.
fn settled_hours(
    records: &[FileRecord],
    settled_before: i64,
    min_files: usize,
) -> Vec<Vec<FileRecord>> {
    let mut hours: BTreeMap<(String, i64), Vec<FileRecord>> = BTreeMap::new();
    for f in records {
        hours
            .entry((f.table.clone(), f.hour_us))
            .or_default()
            .push(f.clone());
    }
    hours
        .into_values()
        .filter(|files| {
            files.len() >= min_files.max(2) && files.iter().all(|f| f.created_us < settled_before)
        })
        .map(|mut files| {
            files.sort_by_key(|f| (f.min_ts, f.max_ts));
            files
        })
        .collect()
}

/// Consecutive runs of files whose rows add up to at most `target_rows` (a file larger than
/// that stays alone).
fn chunks(files: Vec<FileRecord>, target_rows: usize) -> Vec<Vec<FileRecord>> {
    let mut out: Vec<Vec<FileRecord>> = Vec::new();
    let mut rows = 0u64;
    for f in files {
        let fits = out.last().is_some_and(|c| !c.is_empty()) && rows + f.rows <= target_rows as u64;
        if !fits {
            out.push(Vec::new());
            rows = 0;
        }
        rows += f.rows;
        if let Some(last) = out.last_mut() {
            last.push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, table: &str, hour: i64, rows: u64, created: i64) -> FileRecord {
        FileRecord {
            table: table.into(),
            path: path.into(),
            hour_us: hour * HOUR_US,
            min_ts: hour * HOUR_US,
            max_ts: hour * HOUR_US + 1,
            rows,
            bytes: 10,
            wal_seq: 0,
            group: 0,
            group_files: 1,
            replaces: Vec::new(),
            created_us: created,
        }
    }

    #[test]
    fn only_settled_hours_with_enough_files() {
        let records = vec![
            rec("a", "entries", 1, 10, 0),
            rec("b", "entries", 1, 10, 0),
            rec("c", "entries", 2, 10, 0),
            rec("d", "entries", 2, 10, 100), // written recently: hour 2 not settled
            rec("e", "flows", 1, 10, 0),
        ];
        let hours = settled_hours(&records, 50, 2);
        assert_eq!(hours.len(), 1);
        assert_eq!(hours[0].len(), 2);
        assert_eq!(hours[0][0].path, "a");
    }

    #[test]
    fn chunks_respect_the_target() {
        let files: Vec<_> = [5, 5, 5, 20, 1]
            .iter()
            .enumerate()
            .map(|(i, &r)| rec(&i.to_string(), "entries", 1, r, 0))
            .collect();
        let sizes: Vec<usize> = chunks(files, 10).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 1, 1, 1]);
    }
}
