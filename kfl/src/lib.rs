//! KFL, the Kubeshark Filter Language, for faultline's `entries` table.
//!
//! Pipeline: [`lexer`] → [`parser`] (syntax tree with byte spans) → [`checker`] (resolves every
//! selector against the schema's field map, types every node, folds constants, collects
//! warnings) → [`compile`] (a DataFusion `Expr` that runs inside the Parquet scan) and [`sql`]
//! (the same condition as SQL text). Semantics are documented in `kfl/README.md`.
//!
//! ```
//! let q = faultline_kfl::check_at("response.status >= 500 or error", 0).unwrap();
//! assert_eq!(q.to_sql(), "response_status >= 500 OR error_type IS NOT NULL");
//! ```

pub mod ast;
pub mod checker;
#[cfg(feature = "datafusion")]
pub mod compile;
pub mod diag;
pub mod ir;
pub mod lexer;
pub mod parser;
mod resolve;
pub mod sql;
pub mod time;

pub use checker::CheckedQuery;
pub use diag::{Diagnostic, KflError, Position, Span, Warning};
pub use parser::parse;

/// Parses and checks KFL text; `now()` and the relative-time helpers read the system clock.
pub fn check(source: &str) -> Result<CheckedQuery, KflError> {
    check_at(source, time::now_ms())
}

/// Parses and checks KFL text with `now()` fixed at `now_ms` (Unix milliseconds), for tests and
/// for running one query consistently over several tables.
pub fn check_at(source: &str, now_ms: i64) -> Result<CheckedQuery, KflError> {
    checker::check_query(&parse(source)?, source, now_ms)
}

impl CheckedQuery {
    /// The filter as a DataFusion expression over the `entries` columns.
    #[cfg(feature = "datafusion")]
    pub fn to_expr(&self) -> datafusion::logical_expr::Expr {
        compile::to_expr(&self.filter)
    }

    /// The filter as a SQL `WHERE` condition.
    pub fn to_sql(&self) -> String {
        sql::to_sql(&self.filter)
    }

    /// The filter as a sqlparser expression.
    pub fn to_sql_ast(&self) -> sqlparser::ast::Expr {
        sql::to_sql_ast(&self.filter)
    }
}

/// Everything the CLI needs from a query: the DataFusion filter, its SQL text, the `limit(n)`
/// option and the warnings.
#[cfg(feature = "datafusion")]
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The row filter as a DataFusion expression.
    pub expr: datafusion::logical_expr::Expr,
    /// The same filter as a SQL `WHERE` condition.
    pub sql: String,
    /// `limit(n)`: return at most n entries.
    pub limit: Option<u64>,
    /// Warnings; render them with [`Warning::render`] and the query text.
    pub warnings: Vec<Warning>,
}

/// Parses, checks and compiles KFL text (system clock for `now()`).
#[cfg(feature = "datafusion")]
pub fn compile(source: &str) -> Result<Compiled, KflError> {
    compile_at(source, time::now_ms())
}

/// [`compile`] with `now()` fixed at `now_ms` (Unix milliseconds).
#[cfg(feature = "datafusion")]
pub fn compile_at(source: &str, now_ms: i64) -> Result<Compiled, KflError> {
    let checked = check_at(source, now_ms)?;
    Ok(Compiled {
        expr: checked.to_expr(),
        sql: checked.to_sql(),
        limit: checked.limit,
        warnings: checked.warnings,
    })
}

#[cfg(test)]
mod readme_tests {
    use faultline_schemas::{FieldKind, fields};

    /// Every path of the field map is documented in `kfl/README.md`.
    #[test]
    fn readme_lists_every_field() {
        let readme = include_str!("../README.md");
        for f in fields() {
            let shown = match f.kind {
                FieldKind::Map(_) => format!("`{}[", f.path),
                _ => format!("`{}`", f.path),
            };
            assert!(readme.contains(&shown), "kfl/README.md misses {shown}");
        }
    }
}
