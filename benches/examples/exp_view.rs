//! Throwaway experiment (deleted after): Utf8 vs Utf8View table schema on the same files.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = &args[1];
    let sqls = [
        "SELECT dst_ip, count(*) AS syn_sent FROM entries WHERE error_msg = 'SynSent' GROUP BY dst_ip ORDER BY syn_sent DESC, dst_ip LIMIT 10",
        "SELECT * FROM entries WHERE src_ip = '10.1.19.250' ORDER BY \"timestamp\", id",
        "SELECT count(*) FROM entries WHERE error_msg = 'SynSent'",
        "SELECT count(*) FROM entries WHERE src_ip = '10.1.19.250'",
    ];
    for mode in ["utf8", "view", "dict"] {
        for pushdown in [true, false] {
            let mut config = faultline_engine::query::session_config();
            config.options_mut().execution.parquet.pushdown_filters = pushdown;
            let ctx = SessionContext::new_with_config(config);
            let base = faultline_schemas::entries_schema();
            let fields: Vec<Field> = base
                .fields()
                .iter()
                .map(|f| {
                    let f = f.as_ref().clone();
                    match (mode, f.data_type()) {
                        ("view", DataType::Utf8) => f.with_data_type(DataType::Utf8View),
                        ("dict", DataType::Utf8) => f.with_data_type(DataType::Dictionary(
                            Box::new(DataType::Int32),
                            Box::new(DataType::Utf8),
                        )),
                        _ => f,
                    }
                })
                .collect();
            let url = ListingTableUrl::parse(format!("{dir}/entries/")).unwrap();
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let cfg = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(Arc::new(Schema::new(fields)));
            ctx.register_table("entries", Arc::new(ListingTable::try_new(cfg).unwrap()))
                .unwrap();
            for sql in sqls {
                let mut times = Vec::new();
                let mut rows = 0;
                for _ in 0..4 {
                    let t = Instant::now();
                    let b = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                    rows = b.iter().map(|b| b.num_rows()).sum::<usize>();
                }
                times.sort_by(|a, b| a.partial_cmp(b).unwrap());
                println!(
                    "{mode:5} pushdown={pushdown:5} {:>8.1} ms rows={rows:6} {}",
                    times[times.len() / 2],
                    &sql[..60]
                );
            }
        }
    }
}
