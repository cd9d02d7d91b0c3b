//! Read-only SQL over the stored tables (`entries`, `flows`).
//!
//! A statement is first parsed with `sqlparser` and refused unless it is exactly one query
//! (`SELECT`, `WITH`, or `EXPLAIN` of one) that reads no files by itself (no `read_parquet`-like
//! table functions, no quoted path or URL as a table). Its `kfl('…')` calls are then replaced by
//! the KFL query's SQL condition ([`crate::views::expand_kfl_calls`]), and DataFusion plans that
//! same statement (no second parse) with DDL, DML and statements disabled, in a session that
//! also has the analytic views and functions of [`crate::views`]; the engine's read path
//! ([`crate::Engine::query_sql`]) runs it under a memory pool and a timeout.

use std::ops::ControlFlow;
use std::time::Duration;

use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionContext};
use sqlparser::ast::{ObjectName, Statement, TableFactor, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::ALL_KEYWORDS;
use sqlparser::parser::Parser;

use crate::EngineError;
use crate::views::{expand_kfl_calls, plan_statement};

/// Table functions a query may call: they generate rows and read nothing.
const ALLOWED_TABLE_FUNCTIONS: [&str; 2] = ["generate_series", "range"];

/// Resource limits of one SQL query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Most memory the query's operators may reserve, bytes.
    pub memory_bytes: usize,
    /// Longest the query may take, planning included. DataFusion cancels cooperatively: the
    /// timer fires when a runtime worker is free to poll it, so a CPU-bound query on a busy
    /// machine can overrun by a moment (about 1 s for a 50 ms limit in a debug build).
    pub timeout: Duration,
}

impl Default for SqlLimits {
    /// 1 GiB of memory, 60 seconds.
    fn default() -> Self {
        Self {
            memory_bytes: 1 << 30,
            timeout: Duration::from_secs(60),
        }
    }
}

fn refused(what: impl std::fmt::Display) -> EngineError {
    EngineError::Sql(format!(
        "refused: {what}; only one read-only query is allowed"
    ))
}

/// Checks that `sql` is exactly one read-only query: a `SELECT`/`WITH` query or an `EXPLAIN`
/// of one, calling no file-reading table function and naming no path or URL as a table.
pub fn validate_read_only(sql: &str) -> Result<(), EngineError> {
    parse_read_only(sql).map(|_| ())
}

/// The statement [`crate::Engine::query_sql`] runs: `sql` validated by [`validate_read_only`], then its
/// `kfl('…')` calls expanded (an invalid KFL query is an [`EngineError::Sql`]).
pub fn prepare_query(sql: &str) -> Result<Statement, EngineError> {
    let mut statement = parse_read_only(sql)?;
    expand_kfl_calls(&mut statement)?;
    // The expansion adds conditions only; checking again keeps "what runs was validated" true.
    check_relations(&statement)?;
    Ok(statement)
}

fn parse_read_only(sql: &str) -> Result<Statement, EngineError> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| EngineError::Sql(format!("invalid SQL: {e}")))?;
    let statement = match <[Statement; 1]>::try_from(statements) {
        Ok([one]) => one,
        Err(v) if v.is_empty() => return Err(refused("empty statement")),
        Err(many) => return Err(refused(format!("{} statements", many.len()))),
    };
    check_statement(&statement)?;
    check_relations(&statement)?;
    Ok(statement)
}

fn check_relations(statement: &Statement) -> Result<(), EngineError> {
    match statement.visit(&mut RelationCheck) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Accepts a query or an `EXPLAIN` of a query; names the statement otherwise.
fn check_statement(statement: &Statement) -> Result<(), EngineError> {
    match statement {
        Statement::Query(_) => Ok(()),
        Statement::Explain { statement, .. } => check_statement(statement),
        other => Err(refused(format!("`{}` statement", statement_keyword(other)))),
    }
}

/// The leading keywords of a statement (`INSERT INTO`, `CREATE EXTERNAL TABLE`, `COPY`).
fn statement_keyword(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<String> = text
        .split_whitespace()
        .map(str::to_uppercase)
        .take_while(|w| ALL_KEYWORDS.binary_search(&w.as_str()).is_ok())
        .take(3)
        .collect();
    if words.is_empty() {
        "unknown".to_owned()
    } else {
        words.join(" ")
    }
}

/// Refuses table factors that would read files: table functions outside
/// [`ALLOWED_TABLE_FUNCTIONS`] and table names that look like a path or URL.
struct RelationCheck;

impl Visitor for RelationCheck {
    type Break = EngineError;

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<EngineError> {
        let verdict = match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => check_table_function(name),
            TableFactor::Table { name, .. } => check_table_name(name),
            TableFactor::TableFunction { expr, .. } => {
                Err(refused(format!("table function `TABLE({expr})`")))
            }
            _ => Ok(()),
        };
        match verdict {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

fn check_table_function(name: &ObjectName) -> Result<(), EngineError> {
    let plain = name.to_string().to_lowercase();
    if ALLOWED_TABLE_FUNCTIONS.contains(&plain.as_str()) {
        Ok(())
    } else {
        Err(refused(format!(
            "table function `{name}` (allowed: {})",
            ALLOWED_TABLE_FUNCTIONS.join(", ")
        )))
    }
}

fn check_table_name(name: &ObjectName) -> Result<(), EngineError> {
    let text = name.to_string();
    let inner = text.trim_matches(|c| c == '\'' || c == '"' || c == '`');
    let lower = inner.to_lowercase();
    let looks_like_file = inner.contains(['/', '\\', ':'])
        || [".parquet", ".csv", ".json", ".ndjson", ".avro", ".arrow"]
            .iter()
            .any(|ext| lower.ends_with(ext));
    if looks_like_file {
        Err(refused(format!("file or URL as a table: {text}")))
    } else {
        Ok(())
    }
}

/// Plans a statement from [`prepare_query`] in `ctx` and checks that the plan is a query:
/// DDL, DML and statements are refused whatever the parser let through.
pub async fn plan_read_only(
    ctx: &SessionContext,
    statement: Statement,
) -> Result<LogicalPlan, EngineError> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let plan = plan_statement(ctx, statement).await?;
    options
        .verify_plan(&plan)
        .map_err(|e| EngineError::Sql(format!("invalid query: {e}")))?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(sql: &str) -> String {
        match validate_read_only(sql) {
            Err(EngineError::Sql(msg)) => msg,
            other => panic!("{sql}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn accepts_queries() {
        for sql in [
            "SELECT kind, count(*) FROM entries GROUP BY kind",
            "WITH t AS (SELECT flow_id FROM flows) SELECT * FROM entries JOIN t USING (flow_id)",
            "EXPLAIN SELECT * FROM entries",
            "SELECT * FROM generate_series(1, 3)",
            "SELECT 1;",
        ] {
            validate_read_only(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn refuses_writes_and_commands_by_name() {
        for (sql, word) in [
            ("INSERT INTO entries VALUES (1)", "INSERT"),
            ("UPDATE entries SET kind = 'x'", "UPDATE"),
            ("DELETE FROM entries", "DELETE"),
            ("DROP TABLE entries", "`DROP TABLE` statement"),
            ("CREATE TABLE t (a INT)", "CREATE TABLE"),
            (
                "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc'",
                "CREATE EXTERNAL TABLE",
            ),
            ("COPY entries TO '/tmp/x.csv'", "`COPY` statement"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("EXPLAIN DELETE FROM entries", "DELETE"),
        ] {
            let msg = refusal(sql);
            assert!(
                msg.contains(word) && msg.contains("refused"),
                "{sql}: {msg}"
            );
        }
    }

    #[test]
    fn refuses_several_or_no_statements() {
        assert!(refusal("SELECT 1; SELECT 2").contains("2 statements"));
        assert!(refusal("").contains("empty"));
        assert!(refusal("  ;").contains("empty"));
        assert!(refusal("SELEC 1").contains("invalid SQL"));
    }

    #[test]
    fn refuses_file_reads() {
        for sql in [
            "SELECT * FROM read_parquet('/etc/x')",
            "SELECT * FROM read_csv('/etc/passwd')",
            "SELECT * FROM entries JOIN read_json('x.json') r ON true",
            "SELECT * FROM '/etc/passwd'",
            "SELECT * FROM \"data/entries/x.parquet\"",
            "SELECT * FROM 's3://bucket/key'",
            "SELECT * FROM (SELECT * FROM 'x.csv') t",
            "WITH t AS (SELECT * FROM read_avro('a')) SELECT * FROM t",
        ] {
            let msg = refusal(sql);
            assert!(
                msg.contains("table function") || msg.contains("file or URL"),
                "{sql}: {msg}"
            );
        }
    }
}
