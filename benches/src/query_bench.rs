//! The query benchmark's pieces shared by the `query_compare` harness and the criterion bench:
//! loading generated entries through [`Engine::append`], the four benchmark queries (each as
//! the engine runs it and as equivalent SQL for DuckDB and a plain DataFusion listing table),
//! and a digest of a result that both sides compute the same way so results can be compared
//! across engines.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use faultline_engine::{Engine, EngineError, KflQuery, Order, Table};
use faultline_kfl::KflError;
use faultline_schemas::entries_schema;
use sha1::{Digest as _, Sha1};

/// The engine's test-support listing tables (the legacy query path), the plain baseline.
#[path = "../../engine/tests/support/listing.rs"]
#[allow(dead_code)]
mod listing;

/// Lines of a result kept in a [`Digest`] for showing differences.
pub const HEAD_LINES: usize = 10;

/// What can fail while loading or querying.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A KFL query did not compile.
    #[error("KFL: {0}")]
    Kfl(#[from] KflError),
    /// DataFusion refused a setting or a query of the plain baseline.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed to convert or format a result.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    /// Reading the data directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The time span of the loaded entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Start of the span (inclusive), µs since the epoch.
    pub start_us: i64,
    /// End of the span (exclusive), µs since the epoch.
    pub end_us: i64,
    /// Newest entry's timestamp, µs since the epoch.
    pub max_us: i64,
}

/// How the faultline engine runs a benchmark query.
#[derive(Debug, Clone)]
pub enum EngineQuery {
    /// Through [`Engine::query_kfl`].
    Kfl(KflQuery),
    /// Through [`Engine::query_sql`].
    Sql(String),
}

/// One benchmark query.
#[derive(Debug, Clone)]
pub struct BenchQuery {
    /// Short key: `a`, `b`, `c`, `d`.
    pub key: &'static str,
    /// What it asks, in words.
    pub title: String,
    /// The query as faultline's engine runs it.
    pub engine: EngineQuery,
    /// The same query as SQL over a table `entries` (DuckDB, plain DataFusion).
    pub sql: String,
    /// Latency target of faultline's median, if the issue sets one.
    pub target_ms: Option<f64>,
}

/// `us` as an SQL timestamp literal both DataFusion and DuckDB accept
/// (`2024-03-10 23:00:00.000000+00:00`).
pub fn ts_literal(us: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(us).unwrap_or_default();
    format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f+00:00"))
}

/// `SELECT <entries columns> FROM entries WHERE (<kfl as SQL>) AND <time range> ORDER BY
/// timestamp, id`: what [`Engine::query_kfl`] computes, as SQL.
fn kfl_as_sql(kfl: &str, from_us: i64, to_us: Option<i64>) -> Result<String, KflError> {
    let condition = faultline_kfl::check_at(kfl, 0)?.to_sql();
    let schema = entries_schema();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name()))
        .collect();
    let mut sql = format!(
        "SELECT {} FROM entries WHERE ({condition}) AND \"timestamp\" >= {}",
        columns.join(", "),
        ts_literal(from_us)
    );
    if let Some(to) = to_us {
        let _ = write!(sql, " AND \"timestamp\" < {}", ts_literal(to));
    }
    sql.push_str(" ORDER BY \"timestamp\", id");
    Ok(sql)
}

fn kfl_query(
    key: &'static str,
    title: String,
    kfl: &str,
    (from_us, to_us): (i64, Option<i64>),
    target_ms: Option<f64>,
) -> Result<BenchQuery, KflError> {
    Ok(BenchQuery {
        key,
        title,
        sql: kfl_as_sql(kfl, from_us, to_us)?,
        engine: EngineQuery::Kfl(KflQuery {
            kfl: kfl.to_owned(),
            from_us: Some(from_us),
            to_us,
            limit: None,
            order: Order::Ascending,
        }),
        target_ms,
    })
}

fn sql_query(key: &'static str, title: String, sql: String) -> BenchQuery {
    BenchQuery {
        key,
        title,
        engine: EngineQuery::Sql(sql.clone()),
        sql,
        target_ms: None,
    }
}

/// Latency target of query (a), ms.
pub const TARGET_A_MS: f64 = 50.0;

/// The four queries over `bounds`: (a) `error or icmp or tcp` in the last hour, (b)
/// error counts per minute by kind over one day (the fourth day of the span, or the last day
/// of a shorter one), (c) the top 10 destinations by `SynSent` over the whole span, (d)
/// `src.ip == rare_ip` over the whole span.
pub fn queries(bounds: &Bounds, rare_ip: &str) -> Result<Vec<BenchQuery>, KflError> {
    const DAY_US: i64 = 86_400_000_000;
    let hour_ago = bounds.max_us - 3_600_000_000;
    let days = (bounds.end_us - bounds.start_us).div_euclid(DAY_US).max(1);
    let day = bounds.start_us + days.min(4).saturating_sub(1) * DAY_US;
    let span = format!(
        "\"timestamp\" >= {} AND \"timestamp\" < {}",
        ts_literal(bounds.start_us),
        ts_literal(bounds.end_us)
    );
    Ok(vec![
        kfl_query(
            "a",
            "KFL `error or icmp or tcp`, last hour".into(),
            "error or icmp or tcp",
            (hour_ago, None),
            Some(TARGET_A_MS),
        )?,
        sql_query(
            "b",
            "SQL errors per minute by kind, one day".into(),
            format!(
                "SELECT date_trunc('minute', \"timestamp\") AS minute, kind, count(*) AS errors \
                 FROM entries WHERE error_type IS NOT NULL AND \"timestamp\" >= {} \
                 AND \"timestamp\" < {} GROUP BY 1, 2 ORDER BY 1, 2",
                ts_literal(day),
                ts_literal(day + DAY_US)
            ),
        ),
        sql_query(
            "c",
            format!("SQL top 10 dst by SynSent, {days} days"),
            format!(
                "SELECT dst_ip, count(*) AS syn_sent FROM entries \
                 WHERE error_msg = 'SynSent' AND {span} \
                 GROUP BY dst_ip ORDER BY syn_sent DESC, dst_ip LIMIT 10"
            ),
        ),
        kfl_query(
            "d",
            format!("KFL `src.ip == \"{rare_ip}\"`, {days} days"),
            &format!("src.ip == \"{rare_ip}\""),
            (bounds.start_us, Some(bounds.end_us)),
            None,
        )?,
    ])
}

/// Runs `q` through the engine and collects every batch.
pub async fn run_engine(engine: &Engine, q: &EngineQuery) -> Result<Vec<RecordBatch>, BenchError> {
    let stream = match q {
        EngineQuery::Kfl(k) => engine.query_kfl(k).await?,
        EngineQuery::Sql(s) => engine.query_sql(s).await?,
    };
    Ok(stream.collect().await?)
}

/// Runs `sql` over a plain DataFusion listing table of the Parquet directory `data` (hive
/// partitions, no catalog, no live buffer), in a session with faultline's settings
/// ([`faultline_engine::session_config`]) changed by `settings` (`datafusion.…` keys).
pub async fn run_plain(
    data: &Path,
    sql: &str,
    settings: &[(String, String)],
) -> Result<Vec<RecordBatch>, BenchError> {
    let mut config = faultline_engine::session_config();
    for (key, value) in settings {
        config.options_mut().set(key, value)?;
    }
    let ctx = SessionContext::new_with_config(config);
    listing::register_entries(&ctx, data)?;
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// Times `run` once cold, then `warm` more times.
pub async fn time_runs<F, Fut>(warm: usize, mut run: F) -> Result<Timings, BenchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<RecordBatch>, BenchError>>,
{
    let started = Instant::now();
    let first = run().await?;
    let cold = started.elapsed();
    let mut runs = Vec::with_capacity(warm);
    for _ in 0..warm {
        let started = Instant::now();
        let batches = run().await?;
        runs.push(started.elapsed());
        drop(batches);
    }
    Ok(Timings {
        cold,
        warm: runs,
        digest: digest(&first)?,
    })
}

/// Timings of one query on one engine, and the digest of its (first) result.
#[derive(Debug, Clone)]
pub struct Timings {
    /// The first run.
    pub cold: Duration,
    /// The runs after it.
    pub warm: Vec<Duration>,
    /// The first run's result.
    pub digest: Digest,
}

impl Timings {
    /// Median of the warm runs (the cold run when there are none).
    pub fn median(&self) -> Duration {
        let mut v = self.warm.clone();
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or(self.cold)
    }

    /// Fastest warm run (the cold run when there are none).
    pub fn min(&self) -> Duration {
        self.warm.iter().min().copied().unwrap_or(self.cold)
    }
}

/// A result reduced for comparison across engines: one line per row (values joined by tabs,
/// NULL as `\N`, timestamps as integer µs), SHA-1 over `line\n` in result order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// Rows.
    pub rows: usize,
    /// Hex SHA-1 of the lines.
    pub sha1: String,
    /// The first [`HEAD_LINES`] lines.
    pub head: Vec<String>,
}

/// Timestamps of any unit as integer µs; every other column as it is.
fn canonical(column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    match column.data_type() {
        DataType::Timestamp(_, tz) => {
            let micros = cast(
                column,
                &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            )?;
            cast(&micros, &DataType::Int64)
        }
        _ => Ok(column.clone()),
    }
}

/// The [`Digest`] of a result.
pub fn digest(batches: &[RecordBatch]) -> Result<Digest, ArrowError> {
    let options = FormatOptions::default().with_null("\\N");
    let mut sha = Sha1::new();
    let mut head = Vec::new();
    let mut rows = 0;
    let mut line = String::new();
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(canonical)
            .collect::<Result<Vec<_>, _>>()?;
        let formatters = columns
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            line.clear();
            for (i, f) in formatters.iter().enumerate() {
                if i > 0 {
                    line.push('\t');
                }
                let _ = write!(line, "{}", f.value(row));
            }
            sha.update(line.as_bytes());
            sha.update(b"\n");
            if head.len() < HEAD_LINES {
                head.push(line.clone());
            }
        }
        rows += batch.num_rows();
    }
    let sha1 = sha.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    Ok(Digest { rows, sha1, head })
}

/// What loading took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadStats {
    /// Rows appended.
    pub rows: u64,
    /// Time in the append loop (every batch durable in the WAL and visible).
    pub append: Duration,
    /// Time of the final flush after the loop (everything in Parquet).
    pub flush: Duration,
}

impl LoadStats {
    /// Rows per second of the append loop.
    pub fn append_rate(&self) -> f64 {
        self.rows as f64 / self.append.as_secs_f64().max(1e-9)
    }

    /// Rows per second until everything was in Parquet.
    pub fn durable_rate(&self) -> f64 {
        self.rows as f64 / (self.append + self.flush).as_secs_f64().max(1e-9)
    }
}

/// Appends `batches` to `entries` from the calling thread (which must not be an async task),
/// then flushes on `rt`.
pub fn load(
    rt: &tokio::runtime::Runtime,
    engine: &Engine,
    batches: &[RecordBatch],
) -> Result<LoadStats, BenchError> {
    let started = Instant::now();
    let mut rows = 0;
    for b in batches {
        engine.append(Table::Entries, b.clone())?;
        rows += b.num_rows() as u64;
    }
    let append = started.elapsed();
    let started = Instant::now();
    rt.block_on(engine.flush())?;
    Ok(LoadStats {
        rows,
        append,
        flush: started.elapsed(),
    })
}

/// Parquet files under `dir` (recursively): how many and their total size in bytes.
pub fn parquet_size(dir: &Path) -> Result<(u64, u64), BenchError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BenchError::Io { path, source }
    };
    let mut files = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            let (f, b) = parquet_size(&path)?;
            files += f;
            bytes += b;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            files += 1;
            bytes += std::fs::metadata(&path).map_err(io(&path))?.len();
        }
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entries_gen::{EntriesGenerator, GenConfig};
    use arrow::array::{Int64Array, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn bounds() -> Bounds {
        let cfg = GenConfig::default();
        Bounds {
            start_us: cfg.start_us,
            end_us: cfg.end_us(),
            max_us: cfg.end_us() - 1,
        }
    }

    #[test]
    fn digest_canonical_form() {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampNanosecondArray::from(vec![1_000, 2_000]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec![Some("x"), None])),
                Arc::new(Int64Array::from(vec![7, 8])),
            ],
        )
        .unwrap();
        let d = digest(&[batch]).unwrap();
        assert_eq!(d.rows, 2);
        assert_eq!(d.head, vec!["1\tx\t7".to_owned(), "2\t\\N\t8".to_owned()]);
        // sha1("1\tx\t7\n2\t\\N\t8\n"), as Python's hashlib computes it.
        assert_eq!(d.sha1, "270282122f25541d1fae27531de991c8a853e532");
    }

    #[test]
    fn queries_as_sql() {
        let qs = queries(&bounds(), "10.1.19.250").unwrap();
        assert_eq!(qs.len(), 4);
        assert!(
            qs[0].sql.contains("WHERE (error_type IS NOT NULL OR"),
            "{}",
            qs[0].sql
        );
        assert!(
            qs[0]
                .sql
                .contains("\"timestamp\" >= '2024-03-10 22:59:59.999999+00:00'")
        );
        assert!(
            qs[1].sql.contains("'2024-03-07 00:00:00.000000+00:00'"),
            "{}",
            qs[1].sql
        );
        assert!(qs[2].sql.contains("error_msg = 'SynSent'"));
        assert!(
            qs[3].sql.contains("src_ip = '10.1.19.250'"),
            "{}",
            qs[3].sql
        );
        assert!(matches!(&qs[3].engine, EngineQuery::Kfl(k) if k.to_us == Some(bounds().end_us)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn engine_plain_and_sql_agree() {
        let dir = tempfile::tempdir().unwrap();
        let generator = EntriesGenerator::new(GenConfig {
            rows: 60_000,
            ..GenConfig::default()
        });
        let rare = generator.busiest_src_ip().to_owned();
        let batches: Vec<RecordBatch> = generator.map(|b| b.unwrap()).collect();
        let mut config = faultline_engine::EngineConfig::new(dir.path().to_string_lossy());
        config.background = false;
        let engine = Engine::open(config).await.unwrap();
        let appender = engine.clone();
        tokio::task::spawn_blocking(move || {
            for b in batches {
                appender.append(Table::Entries, b).unwrap();
            }
        })
        .await
        .unwrap();
        engine.flush().await.unwrap();
        let max = run_engine(
            &engine,
            &EngineQuery::Sql("SELECT max(\"timestamp\") FROM entries".into()),
        )
        .await
        .unwrap();
        let max_us = canonical(max[0].column(0)).unwrap();
        let max_us = max_us
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0);
        let b = Bounds { max_us, ..bounds() };
        for q in queries(&b, &rare).unwrap() {
            let via_engine = digest(&run_engine(&engine, &q.engine).await.unwrap()).unwrap();
            let plain = digest(&run_plain(dir.path(), &q.sql, &[]).await.unwrap()).unwrap();
            let sql = digest(
                &run_engine(&engine, &EngineQuery::Sql(q.sql.clone()))
                    .await
                    .unwrap(),
            )
            .unwrap();
            assert!(via_engine.rows > 0, "{}: no rows", q.key);
            assert_eq!(via_engine, plain, "{}", q.key);
            assert_eq!(via_engine, sql, "{}", q.key);
        }
    }
}
