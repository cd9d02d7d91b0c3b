//! The engine's DataFusion `TableProvider`: one table (`entries` or `flows`) as it was when the
//! query started, i.e. the live buffer's batches plus the catalogued Parquet files.
//!
//! Files are chosen from the catalog snapshot (no listing) and skipped when their time range
//! misses the query's bounds on the timestamp column; the Parquet scan then prunes row groups
//! and pages by statistics and evaluates pushed-down filters while decoding (the session turns
//! Parquet filter pushdown on). Most filters are reported as `Inexact`, so DataFusion keeps the
//! filter above the union and the live-buffer rows are filtered too. Plain time bounds on the
//! timestamp column (`ts >= a AND ts < b`) are `Exact`: the provider applies them itself, only
//! to the live rows and to the files that straddle a bound, so a file wholly inside the range
//! is read without decoding its timestamps for the filter.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter::FilterExecBuilder;
use datafusion::physical_plan::union::UnionExec;
use datafusion::scalar::ScalarValue;

use crate::Table;
use crate::catalog::{FileRecord, FileSet};
use crate::location::DataLocation;

/// Both tables as of one moment: what a query reads from start to end, whatever flushes,
/// compactions or retention passes happen meanwhile.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Live-buffer batches per table ([`Table::index`]).
    pub live: [Vec<RecordBatch>; 2],
    /// Catalogued files per table.
    pub files: [FileSet; 2],
}

impl Snapshot {
    /// The oldest and newest timestamps (µs) of `table` in the snapshot: from the catalogue for
    /// files, from the batches for the live part; `None` when it holds no rows.
    pub fn time_bounds(&self, table: Table) -> Option<(i64, i64)> {
        let t = table.index();
        let files = self.files[t].iter().map(|f| (f.min_ts, f.max_ts));
        let live = self.live[t]
            .iter()
            .filter_map(|b| batch_time_bounds(b, table.ts_column()));
        files
            .chain(live)
            .reduce(|(lo, hi), (l, h)| (lo.min(l), hi.max(h)))
    }

    /// Rows of `table` held in the snapshot's live part.
    pub fn live_rows(&self, table: Table) -> usize {
        self.live[table.index()]
            .iter()
            .map(RecordBatch::num_rows)
            .sum()
    }
}

/// The range of one batch's µs timestamp column `name`.
fn batch_time_bounds(batch: &RecordBatch, name: &str) -> Option<(i64, i64)> {
    let ts = batch
        .column_by_name(name)?
        .as_any()
        .downcast_ref::<arrow::array::TimestampMicrosecondArray>()?;
    Some((arrow::compute::min(ts)?, arrow::compute::max(ts)?))
}

/// A table of a [`Snapshot`], registered in a query's session.
pub struct SnapshotTable {
    table: Table,
    schema: SchemaRef,
    snapshot: Arc<Snapshot>,
    location: DataLocation,
}

impl fmt::Debug for SnapshotTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotTable")
            .field("table", &self.table)
            .field(
                "live_batches",
                &self.snapshot.live[self.table.index()].len(),
            )
            .field("files", &self.snapshot.files[self.table.index()].len())
            .finish()
    }
}

impl SnapshotTable {
    /// `table` of `snapshot`, whose files are read from `location`.
    pub fn new(table: Table, snapshot: Arc<Snapshot>, location: DataLocation) -> Self {
        Self {
            table,
            schema: table.schema(),
            snapshot,
            location,
        }
    }

    /// The Parquet scan of `files`.
    async fn parquet_scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
        files: &[&FileRecord],
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let files: Vec<PartitionedFile> = files
            .iter()
            .map(|f| PartitionedFile::new(self.location.object(&f.path).to_string(), f.bytes))
            .collect();
        if files.is_empty() {
            return Ok(None);
        }
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let source = format.file_source(TableSchema::from(self.schema.clone()));
        let groups = split_groups(files, state.config().target_partitions());
        let config = FileScanConfigBuilder::new(self.location.url().clone(), source)
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(Some(format.create_physical_plan(state, config).await?))
    }

    /// The live-buffer batches, spread over up to `partitions` partitions.
    fn live_scan(
        &self,
        partitions: usize,
        projection: Option<&Vec<usize>>,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let live = &self.snapshot.live[self.table.index()];
        if live.is_empty() {
            return Ok(None);
        }
        let n = partitions.clamp(1, live.len());
        let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
        for (i, batch) in live.iter().enumerate() {
            parts[i % n].push(batch.clone());
        }
        let exec =
            MemorySourceConfig::try_new_exec(&parts, self.schema.clone(), projection.cloned())?;
        Ok(Some(exec))
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let ts = self.table.ts_column();
        Ok(filters
            .iter()
            .map(|f| {
                if is_time_bound(f, ts) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let ts = self.table.ts_column();
        let (from, to) = time_bounds(filters, ts);
        // The filters this provider promised to apply itself, and the range they keep.
        let exact: Vec<Expr> = filters
            .iter()
            .filter(|f| is_time_bound(f, ts))
            .map(|f| unnormalize_col(f.clone()))
            .collect();
        let (exact_from, exact_to) = time_bounds(&exact, ts);
        let inside = |f: &FileRecord| {
            exact_from.is_none_or(|a| f.min_ts >= a) && exact_to.is_none_or(|b| f.max_ts < b)
        };
        let (whole, straddling): (Vec<&FileRecord>, Vec<&FileRecord>) = self.snapshot.files
            [self.table.index()]
        .iter()
        .map(AsRef::as_ref)
        .filter(|f| f.overlaps(from, to))
        .partition(|f| inside(f));
        let partitions = state.config().target_partitions();
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        inputs.extend(self.parquet_scan(state, projection, limit, &whole).await?);
        let bounded = TimeFilter::new(&self.schema, ts, projection, conjunction(exact));
        let scan_projection = bounded.scan_projection();
        let straddling = self
            .parquet_scan(state, scan_projection.as_ref(), None, &straddling)
            .await?;
        let live = self.live_scan(partitions, scan_projection.as_ref())?;
        for plan in straddling.into_iter().chain(live) {
            inputs.push(bounded.apply(state, plan)?);
        }
        match inputs.len() {
            0 => {
                let schema = match projection {
                    Some(p) => Arc::new(self.schema.project(p)?),
                    None => self.schema.clone(),
                };
                Ok(Arc::new(EmptyExec::new(schema)))
            }
            1 => Ok(inputs.remove(0)),
            _ => UnionExec::try_new(inputs),
        }
    }
}

/// The exact time bounds a scan applies to the inputs that may hold rows outside them: the
/// scan reads the requested columns plus the timestamp, filters, then drops the timestamp
/// again if it was not requested.
struct TimeFilter {
    predicate: Option<Expr>,
    /// Requested column indices (`None`: all).
    projection: Option<Vec<usize>>,
    /// Index of the timestamp column in the table schema.
    ts_index: Option<usize>,
}

impl TimeFilter {
    fn new(
        schema: &SchemaRef,
        ts: &str,
        projection: Option<&Vec<usize>>,
        predicate: Option<Expr>,
    ) -> Self {
        Self {
            predicate,
            projection: projection.cloned(),
            ts_index: schema.index_of(ts).ok(),
        }
    }

    /// Whether the timestamp must be added to the scan only for the filter.
    fn adds_ts(&self) -> bool {
        match (&self.predicate, &self.projection, self.ts_index) {
            (Some(_), Some(p), Some(ts)) => !p.contains(&ts),
            _ => false,
        }
    }

    /// The columns the filtered inputs read.
    fn scan_projection(&self) -> Option<Vec<usize>> {
        let mut projection = self.projection.clone()?;
        if self.adds_ts()
            && let Some(ts) = self.ts_index
        {
            projection.push(ts);
        }
        Some(projection)
    }

    /// `input` filtered by the bounds, with the requested columns only.
    fn apply(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(predicate) = &self.predicate else {
            return Ok(input);
        };
        let schema = DFSchema::try_from(input.schema())?;
        let physical = state.create_physical_expr(predicate.clone(), &schema)?;
        let keep = match (&self.projection, self.adds_ts()) {
            (Some(p), true) => Some((0..p.len()).collect()),
            _ => None,
        };
        let filter = FilterExecBuilder::new(physical, input)
            .apply_projection(keep)?
            .build()?;
        Ok(Arc::new(filter))
    }
}

/// Whether `expr` is only comparisons of `ts_column` with timestamp literals joined by `AND`,
/// each converting to µs without rounding: a filter the provider can apply exactly by time.
fn is_time_bound(expr: &Expr, ts_column: &str) -> bool {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return false;
    };
    if *op == Operator::And {
        return is_time_bound(left, ts_column) && is_time_bound(right, ts_column);
    }
    if !matches!(
        op,
        Operator::Gt | Operator::GtEq | Operator::Lt | Operator::LtEq | Operator::Eq
    ) {
        return false;
    }
    let is_ts = |e: &Expr| matches!(e, Expr::Column(c) if c.name == ts_column);
    let literal = match (left.as_ref(), right.as_ref()) {
        (l, Expr::Literal(v, _)) if is_ts(l) => v,
        (Expr::Literal(v, _), r) if is_ts(r) => v,
        _ => return false,
    };
    exact_timestamp_us(literal).is_some()
}

/// A timestamp literal in whole µs; `None` for other literals, nulls and sub-µs values.
fn exact_timestamp_us(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) if v % 1_000 != 0 => None,
        other => timestamp_us(other),
    }
}

/// Splits time-ordered files into at most `n` contiguous groups of similar total size, so each
/// partition reads neighbouring hours.
fn split_groups(files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
    let n = n.clamp(1, files.len().max(1));
    let total: u64 = files.iter().map(|f| f.object_meta.size).sum();
    let per_group = total.div_ceil(n as u64).max(1);
    let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new()];
    let mut size = 0;
    for file in files {
        let full = size >= per_group && groups.len() < n;
        if full {
            groups.push(Vec::new());
            size = 0;
        }
        size += file.object_meta.size;
        if let Some(last) = groups.last_mut() {
            last.push(file);
        }
    }
    groups.into_iter().map(FileGroup::new).collect()
}

/// The `[from, to)` bounds (µs) the filters put on `ts_column`: `ts >= x`, `ts > x`, `ts < x`,
/// `ts <= x`, `ts = x`, either way round, with a timestamp literal of any unit.
pub(crate) fn time_bounds(filters: &[Expr], ts_column: &str) -> (Option<i64>, Option<i64>) {
    let mut from: Option<i64> = None;
    let mut to: Option<i64> = None;
    let mut raise = |v: i64| from = Some(from.map_or(v, |f| f.max(v)));
    let mut lower = |v: i64| to = Some(to.map_or(v, |t| t.min(v)));
    let mut bounds = Vec::new();
    for filter in filters {
        collect_bounds(filter, ts_column, &mut bounds);
    }
    for (op, v) in bounds {
        match op {
            Operator::GtEq => raise(v),
            Operator::Gt => raise(v.saturating_add(1)),
            Operator::Lt => lower(v),
            Operator::LtEq => lower(v.saturating_add(1)),
            Operator::Eq => {
                raise(v);
                lower(v.saturating_add(1));
            }
            _ => {}
        }
    }
    (from, to)
}

/// Comparisons of the column with a timestamp literal inside an `AND` tree, normalised to
/// `column op literal`.
fn collect_bounds(expr: &Expr, ts_column: &str, out: &mut Vec<(Operator, i64)>) {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return;
    };
    if *op == Operator::And {
        collect_bounds(left, ts_column, out);
        collect_bounds(right, ts_column, out);
        return;
    }
    let is_ts = |e: &Expr| matches!(e, Expr::Column(c) if c.name == ts_column);
    let (op, lit) = match (left.as_ref(), right.as_ref()) {
        (l, Expr::Literal(v, _)) if is_ts(l) => (*op, v),
        (Expr::Literal(v, _), r) if is_ts(r) => match op.swap() {
            Some(swapped) => (swapped, v),
            None => return,
        },
        _ => return,
    };
    if let Some(us) = timestamp_us(lit) {
        out.push((op, us));
    }
}

/// A timestamp literal in µs; `None` for other literals or when it does not fit.
fn timestamp_us(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1_000)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn ts(us: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(
            Some(us),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn bounds_from_conjuncts() {
        let filters = vec![
            col("timestamp").gt_eq(ts(10)),
            col("timestamp").lt(ts(50)).and(col("timestamp").gt(ts(20))),
            col("kind").eq(lit("tcp")),
        ];
        assert_eq!(time_bounds(&filters, "timestamp"), (Some(21), Some(50)));
        let swapped = vec![ts(30).gt(col("timestamp"))];
        assert_eq!(time_bounds(&swapped, "timestamp"), (None, Some(30)));
        let eq = vec![col("timestamp").eq(lit(ScalarValue::TimestampMillisecond(Some(2), None)))];
        assert_eq!(time_bounds(&eq, "timestamp"), (Some(2000), Some(2001)));
    }

    #[test]
    fn only_plain_time_comparisons_are_exact() {
        assert!(is_time_bound(&col("timestamp").gt_eq(ts(10)), "timestamp"));
        assert!(is_time_bound(
            &col("timestamp").lt(ts(50)).and(ts(20).lt(col("timestamp"))),
            "timestamp"
        ));
        assert!(!is_time_bound(
            &col("timestamp").gt(ts(1)).and(col("kind").eq(lit("tcp"))),
            "timestamp"
        ));
        assert!(!is_time_bound(
            &col("timestamp").gt(ts(1)).or(col("timestamp").lt(ts(0))),
            "timestamp"
        ));
        assert!(!is_time_bound(&col("timestamp").not_eq(ts(1)), "timestamp"));
        assert!(!is_time_bound(&col("start").gt(ts(1)), "timestamp"));
        let sub_us = lit(ScalarValue::TimestampNanosecond(Some(1_500), None));
        assert!(!is_time_bound(&col("timestamp").gt(sub_us), "timestamp"));
        let whole_us = lit(ScalarValue::TimestampNanosecond(Some(2_000), None));
        assert!(is_time_bound(&col("timestamp").gt(whole_us), "timestamp"));
    }

    #[test]
    fn or_gives_no_bound() {
        let filters = vec![col("timestamp").gt(ts(10)).or(col("timestamp").lt(ts(5)))];
        assert_eq!(time_bounds(&filters, "timestamp"), (None, None));
        assert_eq!(
            time_bounds(&[col("start").gt(ts(1))], "timestamp"),
            (None, None)
        );
    }

    #[test]
    fn groups_are_contiguous_and_bounded() {
        let files: Vec<_> = (0..10)
            .map(|i| PartitionedFile::new(format!("f{i}"), 100))
            .collect();
        let groups = split_groups(files, 4);
        assert!(groups.len() <= 4);
        let names: Vec<String> = groups
            .iter()
            .flat_map(|g| g.iter().map(|f| f.object_meta.location.to_string()))
            .collect();
        let want: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
        assert_eq!(names, want);
        assert!(split_groups(Vec::new(), 4).len() <= 1);
    }
}
