//! KFL front end: parse + check + compile (DataFusion `Expr` and SQL text) of the example
//! queries of `kfl/tests/slt/kubeshark_examples.slt` (Kubeshark's ~65 documented examples mapped
//! onto faultline's schema, plus the unsupported ones, which end in an error). Reported per query.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const EXAMPLES: &str = include_str!("../../kfl/tests/slt/kubeshark_examples.slt");
const NOW_MS: i64 = 1_634_668_150_000;

/// The KFL text of every `query` and `error` case in the file.
fn example_queries() -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = EXAMPLES.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("query") || line.starts_with("error") {
            let text: Vec<&str> = lines
                .by_ref()
                .take_while(|l| l.trim_end() != "----")
                .collect();
            out.push(text.join("\n"));
        }
    }
    out
}

/// Parse, check and compile one query; errors are a normal outcome for the unsupported ones.
fn front_end(query: &str) -> usize {
    match faultline_kfl::compile_at(query, NOW_MS) {
        Ok(c) => c.sql.len() + c.warnings.len(),
        Err(e) => e.diagnostic().message.len(),
    }
}

fn bench_kfl(c: &mut Criterion) {
    let queries = example_queries();
    let compiling: Vec<&String> = queries
        .iter()
        .filter(|q| faultline_kfl::compile_at(q, NOW_MS).is_ok())
        .collect();
    eprintln!(
        "kfl bench: {} example queries, {} compile, {} are errors",
        queries.len(),
        compiling.len(),
        queries.len() - compiling.len()
    );
    let mut group = c.benchmark_group("kfl");
    group.throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function("all_examples", |b| {
        b.iter(|| {
            queries
                .iter()
                .map(|q| front_end(black_box(q)))
                .sum::<usize>()
        })
    });
    group.throughput(Throughput::Elements(compiling.len() as u64));
    group.bench_function("compiling_examples", |b| {
        b.iter(|| {
            compiling
                .iter()
                .map(|q| front_end(black_box(q)))
                .sum::<usize>()
        })
    });
    group.throughput(Throughput::Elements(1));
    let dashboard = "response.status > 400 or error or icmp or tcp";
    group.bench_function("error_dashboard", |b| {
        b.iter(|| front_end(black_box(dashboard)))
    });
    group.finish();
}

criterion_group!(benches, bench_kfl);
criterion_main!(benches);
