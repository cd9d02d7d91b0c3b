//! From a KFL query to a pcap: the distinct `flow_id`s of the matching entries (found by the
//! engine), then their packets from the traffic recorder (`<data>/recorder`). Shared by
//! `faultline export-pcap` and `GET /api/pcap`.
//!
//! With a query, every retained packet of the matching flows is exported (a flow's packets
//! may precede the entry that names it, so the time range only selects entries). Without a
//! query (empty KFL), every retained packet in the time range is exported, packets that
//! belong to no flow included.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt64Type;
use arrow::record_batch::RecordBatch;
use faultline_engine::{Engine, EngineError, KflQuery};
use faultline_ingest::recorder::ExportFilter;
use faultline_schemas::entry_col;
use futures::TryStreamExt;

/// Name of the recorder directory inside a local data directory.
pub const RECORDER_DIR: &str = "recorder";

/// The recorder directory of the local data directory `data`.
pub fn recorder_dir(data: &Path) -> PathBuf {
    data.join(RECORDER_DIR)
}

/// What to export, resolved against the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The recorder filter.
    pub filter: ExportFilter,
    /// The flows the query matched (empty when there was no query).
    pub flows: BTreeSet<u64>,
}

/// True when `kfl` selects nothing by itself (empty or blank): export by time range.
pub fn is_time_only(kfl: &str) -> bool {
    kfl.trim().is_empty()
}

/// Resolves `query` to a recorder filter: the distinct flow ids of the matching entries, or
/// the time range alone when the query is empty.
pub async fn select(engine: &Engine, query: &KflQuery) -> Result<Selection, EngineError> {
    if is_time_only(&query.kfl) {
        return Ok(Selection {
            filter: ExportFilter {
                flows: None,
                from_us: query.from_us,
                to_us: query.to_us,
            },
            flows: BTreeSet::new(),
        });
    }
    let flows = matching_flows(engine, query).await?;
    Ok(Selection {
        filter: ExportFilter {
            flows: Some(flows.iter().copied().collect::<HashSet<u64>>()),
            from_us: None,
            to_us: None,
        },
        flows,
    })
}

/// The distinct `flow_id`s of the entries matching `query`. Without `limit(n)` in the KFL,
/// one SQL query that reads only `flow_id` (its KFL through `kfl('…')`); with it, the KFL query
/// itself, so that the limit counts entries.
pub async fn matching_flows(
    engine: &Engine,
    query: &KflQuery,
) -> Result<BTreeSet<u64>, EngineError> {
    // Checked here first, so that an invalid query reports its place in the KFL text.
    let compiled = faultline_kfl::compile(&query.kfl)?;
    let batches: Vec<RecordBatch> = if compiled.limit.is_some() || query.limit.is_some() {
        engine.query_kfl(query).await?.try_collect().await?
    } else {
        engine
            .query_sql(&flow_ids_sql(query))
            .await?
            .try_collect()
            .await?
    };
    let mut flows = BTreeSet::new();
    for b in &batches {
        let Some(ids) = b.column_by_name(entry_col::FLOW_ID) else {
            continue;
        };
        let ids = ids.as_primitive::<UInt64Type>();
        flows.extend(
            (0..ids.len())
                .filter(|i| ids.is_valid(*i))
                .map(|i| ids.value(i)),
        );
    }
    Ok(flows)
}

/// `SELECT DISTINCT flow_id FROM entries WHERE kfl('…') [AND time bounds]`. The KFL text is
/// one SQL string literal (quotes doubled), the bounds are generated from integers.
fn flow_ids_sql(query: &KflQuery) -> String {
    let ts = entry_col::TIMESTAMP;
    let mut sql = format!(
        "SELECT DISTINCT {id} FROM entries WHERE {id} IS NOT NULL AND kfl('{kfl}')",
        id = entry_col::FLOW_ID,
        kfl = query.kfl.replace('\'', "''"),
    );
    let bound = |us: i64| format!("CAST('{}' AS TIMESTAMP)", rfc3339(us));
    if let Some(from) = query.from_us {
        sql.push_str(&format!(" AND \"{ts}\" >= {}", bound(from)));
    }
    if let Some(to) = query.to_us {
        sql.push_str(&format!(" AND \"{ts}\" < {}", bound(to)));
    }
    sql
}

/// RFC 3339 text of `us` (clamped to ±250 000 years, which chrono can represent).
fn rfc3339(us: i64) -> String {
    const LIMIT: i64 = 7_800_000_000_000_000_000;
    chrono::DateTime::from_timestamp_micros(us.clamp(-LIMIT, LIMIT))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_and_bounds_are_numbers() {
        let q = KflQuery {
            kfl: "src.name == 'x' or error".into(),
            from_us: Some(5),
            to_us: Some(-7),
            ..KflQuery::default()
        };
        let sql = flow_ids_sql(&q);
        assert!(sql.contains("kfl('src.name == ''x'' or error')"), "{sql}");
        assert!(
            sql.contains(">= CAST('1970-01-01T00:00:00.000005Z' AS TIMESTAMP)"),
            "{sql}"
        );
        assert!(
            sql.contains("< CAST('1969-12-31T23:59:59.999993Z' AS TIMESTAMP)"),
            "{sql}"
        );
        assert!(!rfc3339(i64::MAX).is_empty() && !rfc3339(i64::MIN).is_empty());
        assert!(is_time_only("  "));
        assert!(!is_time_only("error"));
    }
}
