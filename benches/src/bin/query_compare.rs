//! Query benchmark against DuckDB: generates synthetic entries over several days, appends them
//! through the engine (WAL on) measuring the append rate, reports the Parquet bytes per entry,
//! then runs the four queries through faultline's engine, through a plain DataFusion
//! listing table over the same files, and through DuckDB (Python, `read_parquet` with hive
//! partitioning) over the same files; checks that every engine returns the same rows and values
//! and prints median and fastest times and the faultline/DuckDB ratio.
//!
//! `cargo run --release -p faultline-benches --bin query_compare -- --rows 1000000`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use clap::Parser;
use faultline_benches::entries_gen::{EntriesGenerator, GenConfig};
use faultline_benches::query_bench::{
    BenchQuery, Bounds, Digest, EngineQuery, LoadStats, TARGET_A_MS, Timings, load, parquet_size,
    queries, run_engine, run_plain, time_runs,
};
use faultline_engine::{Engine, EngineConfig};
use serde::{Deserialize, Serialize};

/// The DuckDB side, run with `python3 -c`.
const DUCKDB_SCRIPT: &str = include_str!("../../scripts/duckdb_queries.py");

/// Issue targets.
const TARGET_RATIO: f64 = 1.5;
const TARGET_APPEND_RATE: f64 = 1_000_000.0;

/// Arguments.
#[derive(Debug, Parser)]
#[command(about = "faultline vs DuckDB on the same Parquet files")]
struct Args {
    /// Entries to generate.
    #[arg(long, default_value_t = 10_000_000)]
    rows: u64,
    /// Days the entries span.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Data directory (default: a temporary directory, removed at the end unless --keep).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep the temporary data directory.
    #[arg(long)]
    keep: bool,
    /// Query the store already in --data (made by an earlier run with the same --rows, --days
    /// and --seed) instead of generating and loading.
    #[arg(long, requires = "data")]
    reuse: bool,
    /// Warm runs per query and engine (after one cold run); the median and minimum are shown.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Python interpreter with the duckdb and pyarrow modules.
    #[arg(long, default_value = "python3")]
    duckdb_python: String,
    /// Compact after loading (hours with 2 or more files, no settle time).
    #[arg(long)]
    compact: bool,
    /// Skip the plain DataFusion listing-table baseline.
    #[arg(long)]
    no_plain: bool,
    /// A DataFusion setting of the plain baseline's session, `key=value` (repeatable), e.g.
    /// `datafusion.execution.parquet.pushdown_filters=false`.
    #[arg(long = "plain-set", value_parser = parse_setting)]
    plain_set: Vec<(String, String)>,
    /// Print faultline's EXPLAIN ANALYZE of each query's SQL form.
    #[arg(long)]
    explain: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (_temp, data) = data_dir(&args)?;
    let cfg = GenConfig {
        rows: args.rows,
        days: args.days,
        seed: args.seed,
        ..GenConfig::default()
    };
    let load = if args.reuse {
        println!("reusing {}", data.display());
        None
    } else {
        Some(load_phase(&rt, &args, &cfg, &data)?)
    };
    let (files, bytes) = parquet_size(&data.join("entries"))?;

    let started = Instant::now();
    let engine = rt.block_on(Engine::open(query_config(&data)))?;
    println!("engine open: {:.1} ms", ms(started.elapsed()));
    let (stored, max_us) = rt.block_on(count_and_max(&engine))?;
    if stored != cfg.rows {
        bail!("the store holds {stored} entries, expected {}", cfg.rows);
    }
    let bounds = Bounds {
        start_us: cfg.start_us,
        end_us: cfg.end_us(),
        max_us,
    };
    let rare_ip = EntriesGenerator::new(cfg.clone()).rare_src_ip().to_owned();
    let queries = queries(&bounds, &rare_ip)?;

    let faultline = rt.block_on(run_all(&queries, args.runs, |q| {
        let engine = engine.clone();
        let query = q.engine.clone();
        async move { run_engine(&engine, &query).await }
    }))?;
    let plain = if args.no_plain {
        None
    } else {
        Some(rt.block_on(run_all(&queries, args.runs, |q| {
            let (data, sql, settings) = (data.clone(), q.sql.clone(), args.plain_set.clone());
            async move { run_plain(&data, &sql, &settings).await }
        }))?)
    };
    let duckdb = match run_duckdb(&args, &data, &queries) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("DuckDB side not run: {e:#}");
            None
        }
    };
    check_results(&queries, &faultline, plain.as_deref(), duckdb.as_ref())?;
    report(&Report {
        rows: cfg.rows,
        files,
        bytes,
        load,
        queries: &queries,
        faultline: &faultline,
        plain: plain.as_deref(),
        duckdb: duckdb.as_ref(),
    });
    if args.explain {
        rt.block_on(explain(&engine, &queries))?;
    }
    rt.block_on(engine.close())?;
    Ok(())
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .ok_or_else(|| format!("expected key=value, got `{text}`"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The data directory and, for a temporary one, its guard (dropped: removed).
fn data_dir(args: &Args) -> anyhow::Result<(Option<tempfile::TempDir>, PathBuf)> {
    if let Some(d) = &args.data {
        if !args.reuse && d.join("entries").exists() {
            bail!(
                "{} already holds a store; pass --reuse or an empty directory",
                d.display()
            );
        }
        std::fs::create_dir_all(d)?;
        return Ok((None, d.clone()));
    }
    let temp = tempfile::Builder::new()
        .prefix("faultline-bench-")
        .tempdir()?;
    let path = temp.path().to_path_buf();
    if args.keep {
        println!("data kept in {}", temp.keep().display());
        return Ok((None, path));
    }
    Ok((Some(temp), path))
}

/// Engine settings of the query phase: no background work while measuring.
fn query_config(data: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(data.to_string_lossy());
    config.background = false;
    config
}

/// Generates the entries, appends them through a fresh engine (default settings, WAL on,
/// background flushing), flushes, optionally compacts, and closes.
fn load_phase(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    cfg: &GenConfig,
    data: &Path,
) -> anyhow::Result<LoadStats> {
    let started = Instant::now();
    let batches = EntriesGenerator::new(cfg.clone()).collect::<Result<Vec<RecordBatch>, _>>()?;
    let arrow_bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    println!(
        "generated {} entries over {} days in {:.2} s ({:.0} MiB of Arrow)",
        cfg.rows,
        cfg.days,
        started.elapsed().as_secs_f64(),
        arrow_bytes as f64 / (1 << 20) as f64
    );
    let mut config = EngineConfig::new(data.to_string_lossy());
    if args.compact {
        config.compaction.settle = Duration::ZERO;
        config.compaction.min_files = 2;
    }
    let engine = rt.block_on(Engine::open(config))?;
    let stats = load(rt, &engine, &batches)?;
    drop(batches);
    let es = engine.stats();
    let waited = Duration::from_micros(es.backpressure_us);
    println!(
        "appended in {:.2} s: {:.0} entries/s ({} flushes, {} back-pressure waits, {:.2} s waiting, \
         so {:.0} entries/s outside the waits); final flush {:.2} s",
        stats.append.as_secs_f64(),
        stats.append_rate(),
        es.flushes,
        es.backpressure_waits,
        waited.as_secs_f64(),
        stats.rows as f64 / stats.append.saturating_sub(waited).as_secs_f64().max(1e-9),
        stats.flush.as_secs_f64()
    );
    if args.compact {
        let started = Instant::now();
        let c = rt.block_on(engine.compact())?;
        println!(
            "compacted {} hours, {} files into {} in {:.2} s",
            c.hours,
            c.files_in,
            c.files_out,
            started.elapsed().as_secs_f64()
        );
    }
    rt.block_on(engine.close())?;
    Ok(stats)
}

/// Entries stored and the newest timestamp (µs).
async fn count_and_max(engine: &Engine) -> anyhow::Result<(u64, i64)> {
    let sql = "SELECT count(*) AS n, CAST(max(\"timestamp\") AS BIGINT) AS t FROM entries";
    let batches = run_engine(engine, &EngineQuery::Sql(sql.into())).await?;
    let batch = batches.first().context("no result")?;
    let n = batch
        .column(0)
        .as_primitive_opt::<Int64Type>()
        .context("count type")?;
    let t = batch
        .column(1)
        .as_primitive_opt::<Int64Type>()
        .context("max type")?;
    if n.is_empty() || t.is_null(0) {
        bail!("the store is empty");
    }
    Ok((u64::try_from(n.value(0))?, t.value(0)))
}

/// Times every query with `run`.
async fn run_all<F, Fut>(
    queries: &[BenchQuery],
    runs: usize,
    mut run: F,
) -> anyhow::Result<Vec<Timings>>
where
    F: FnMut(&BenchQuery) -> Fut,
    Fut: std::future::Future<
            Output = Result<Vec<RecordBatch>, faultline_benches::query_bench::BenchError>,
        >,
{
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let t = time_runs(runs, || run(q))
            .await
            .with_context(|| format!("query ({}) {}", q.key, q.title))?;
        out.push(t);
    }
    Ok(out)
}

/// What the Python side is given.
#[derive(Debug, Serialize)]
struct DuckSpec<'a> {
    glob: String,
    runs: usize,
    queries: Vec<DuckQuery<'a>>,
}

#[derive(Debug, Serialize)]
struct DuckQuery<'a> {
    key: &'a str,
    sql: &'a str,
}

/// What the Python side prints.
#[derive(Debug, Deserialize)]
struct DuckOutput {
    version: String,
    threads: serde_json::Value,
    results: Vec<DuckResult>,
}

#[derive(Debug, Deserialize)]
struct DuckResult {
    key: String,
    cold_ms: f64,
    warm_ms: Vec<f64>,
    rows: usize,
    digest: String,
    head: Vec<String>,
}

/// DuckDB's timings, in query order, and its version.
#[derive(Debug)]
struct DuckRun {
    version: String,
    threads: String,
    timings: Vec<Timings>,
}

fn run_duckdb(args: &Args, data: &Path, queries: &[BenchQuery]) -> anyhow::Result<DuckRun> {
    let spec = DuckSpec {
        glob: format!("{}/entries/**/*.parquet", data.display()),
        runs: args.runs,
        queries: queries
            .iter()
            .map(|q| DuckQuery {
                key: q.key,
                sql: &q.sql,
            })
            .collect(),
    };
    let mut spec_file = tempfile::NamedTempFile::new()?;
    serde_json::to_writer(&mut spec_file, &spec)?;
    let output = Command::new(&args.duckdb_python)
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(spec_file.path())
        .output()
        .with_context(|| format!("starting {}", args.duckdb_python))?;
    if !output.status.success() {
        bail!(
            "{} exited with {}: {}",
            args.duckdb_python,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let out: DuckOutput =
        serde_json::from_slice(&output.stdout).context("parsing the DuckDB script's JSON")?;
    let mut timings = Vec::with_capacity(queries.len());
    for q in queries {
        let r = out
            .results
            .iter()
            .find(|r| r.key == q.key)
            .with_context(|| format!("DuckDB gave no result for ({})", q.key))?;
        timings.push(duck_timings(r));
    }
    Ok(DuckRun {
        version: out.version,
        threads: out.threads.to_string(),
        timings,
    })
}

fn duck_timings(r: &DuckResult) -> Timings {
    let d = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1000.0);
    Timings {
        cold: d(r.cold_ms),
        warm: r.warm_ms.iter().copied().map(d).collect(),
        digest: Digest {
            rows: r.rows,
            sha1: r.digest.clone(),
            head: r.head.clone(),
        },
    }
}

/// Fails unless every engine returned the same result for every query.
fn check_results(
    queries: &[BenchQuery],
    faultline: &[Timings],
    plain: Option<&[Timings]>,
    duckdb: Option<&DuckRun>,
) -> anyhow::Result<()> {
    let mut bad = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let ours = &faultline[i].digest;
        let others = [
            ("plain DataFusion", plain.map(|p| &p[i].digest)),
            ("DuckDB", duckdb.map(|d| &d.timings[i].digest)),
        ];
        for (name, theirs) in others {
            if let Some(theirs) = theirs.filter(|t| *t != ours) {
                bad.push(format!(
                    "({}) {}: faultline {} rows {}, {name} {} rows {}\n  faultline head:\n    {}\n  {name} head:\n    {}",
                    q.key,
                    q.title,
                    ours.rows,
                    ours.sha1,
                    theirs.rows,
                    theirs.sha1,
                    ours.head.join("\n    "),
                    theirs.head.join("\n    ")
                ));
            }
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    bail!("RESULTS DIFFER:\n{}", bad.join("\n"))
}

/// Everything the final table shows.
struct Report<'a> {
    rows: u64,
    files: u64,
    bytes: u64,
    load: Option<LoadStats>,
    queries: &'a [BenchQuery],
    faultline: &'a [Timings],
    plain: Option<&'a [Timings]>,
    duckdb: Option<&'a DuckRun>,
}

fn cell(t: &Timings) -> String {
    format!(
        "{:>8.1} {:>8.1} {:>8.1}",
        ms(t.median()),
        ms(t.min()),
        ms(t.cold)
    )
}

fn report(r: &Report<'_>) {
    println!();
    if let Some(d) = r.duckdb {
        println!("DuckDB {} ({} threads)", d.version, d.threads);
    }
    println!(
        "{:<44} {:>8} | {:^26} | {:^26} | {:>6} | {:>8} | target",
        "query", "rows", "faultline med/min/cold ms", "DuckDB med/min/cold ms", "ratio", "plain DF"
    );
    for (i, q) in r.queries.iter().enumerate() {
        let ours = &r.faultline[i];
        let duck = r.duckdb.map(|d| &d.timings[i]);
        let ratio = duck.map(|d| ours.median().as_secs_f64() / d.median().as_secs_f64());
        let mut met = ratio.map(|x| x <= TARGET_RATIO);
        if let Some(target) = q.target_ms {
            let fast = ms(ours.median()) < target;
            met = Some(met.unwrap_or(true) && fast);
        }
        println!(
            "{:<44} {:>8} | {} | {} | {:>6} | {:>8} | {}",
            format!("({}) {}", q.key, q.title),
            ours.digest.rows,
            cell(ours),
            duck.map_or_else(|| format!("{:^26}", "-"), cell),
            ratio.map_or_else(|| "-".into(), |x| format!("{x:.2}x")),
            r.plain
                .map_or_else(|| "-".into(), |p| format!("{:.1}", ms(p[i].median()))),
            match met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "n/a",
            }
        );
    }
    println!(
        "targets: (a) median < {TARGET_A_MS} ms; every query within {TARGET_RATIO}x of DuckDB's median"
    );
    if let Some(l) = r.load {
        println!(
            "append (WAL on): {:.0} entries/s ({}; target {:.0}); until all in Parquet: {:.0} entries/s",
            l.append_rate(),
            if l.append_rate() >= TARGET_APPEND_RATE {
                "met"
            } else {
                "NOT met"
            },
            TARGET_APPEND_RATE,
            l.durable_rate()
        );
    }
    println!(
        "on disk: {} Parquet files, {:.1} MiB, {:.1} bytes/entry",
        r.files,
        r.bytes as f64 / (1 << 20) as f64,
        r.bytes as f64 / r.rows.max(1) as f64
    );
}

/// Prints faultline's EXPLAIN ANALYZE of each query's SQL form.
async fn explain(engine: &Engine, queries: &[BenchQuery]) -> anyhow::Result<()> {
    for q in queries {
        let sql = format!("EXPLAIN ANALYZE {}", q.sql);
        let batches = run_engine(engine, &EngineQuery::Sql(sql)).await?;
        println!("\n== ({}) {}", q.key, q.title);
        for b in &batches {
            let plan = b.column(1).as_string_opt::<i32>().context("plan column")?;
            for line in plan.iter().flatten() {
                println!("{line}");
            }
        }
    }
    Ok(())
}
