//! `kfl('<KFL query>')` in SQL: each call is replaced, in the parsed statement and before
//! planning, by the SQL condition KFL compiles the query to (`faultline_kfl`'s `to_sql_ast`),
//! so `SELECT count(*) FROM entries WHERE kfl('error or icmp')` plans exactly like
//! `… WHERE error_type IS NOT NULL OR protocol_name = 'icmp'` and its filter reaches the scan.
//!
//! An optional second argument names the table or alias the KFL fields belong to, for joins:
//! `FROM entries e JOIN flows f USING (flow_id) WHERE kfl('tcp', 'e')`.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Spanned, Statement, Value, visit_expressions_mut,
};
use sqlparser::tokenizer::Location;

use crate::EngineError;

/// Name of the SQL function whose calls are replaced by the KFL query's condition.
pub const KFL_FUNCTION: &str = "kfl";

/// Replaces every `kfl('<query>'[, '<table>'])` call in `statement` by the SQL condition of
/// the KFL query (in parentheses), its columns qualified with `<table>` when given.
/// An invalid query is an [`EngineError::Sql`] naming the call's place in the SQL and showing
/// the KFL error with a caret under the offending KFL text. KFL warnings are dropped (`faultline
/// kfl check` shows them); `limit(n)` is refused, since SQL has `LIMIT`.
pub fn expand_kfl_calls(statement: &mut Statement) -> Result<(), EngineError> {
    match visit_expressions_mut(statement, expand) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn expand(expr: &mut Expr) -> ControlFlow<EngineError> {
    let Expr::Function(call) = expr else {
        return ControlFlow::Continue(());
    };
    if !is_kfl(&call.name) {
        return ControlFlow::Continue(());
    }
    match kfl_condition(call) {
        Ok(condition) => {
            *expr = Expr::Nested(Box::new(condition));
            ControlFlow::Continue(())
        }
        Err(e) => ControlFlow::Break(e),
    }
}

fn is_kfl(name: &ObjectName) -> bool {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(id)] => match id.quote_style {
            None => id.value.eq_ignore_ascii_case(KFL_FUNCTION),
            Some(_) => id.value == KFL_FUNCTION,
        },
        _ => false,
    }
}

/// An error about the `kfl()` call that starts at `at`.
fn call_error(at: Location, what: impl std::fmt::Display) -> EngineError {
    EngineError::Sql(format!(
        "kfl() at line {}, column {}: {what}",
        at.line, at.column
    ))
}

/// The condition a `kfl()` call stands for.
fn kfl_condition(call: &Function) -> Result<Expr, EngineError> {
    let at = call.name.span().start;
    let (query, table) = kfl_args(call).ok_or_else(|| {
        call_error(
            at,
            "expected kfl('<KFL query>') or kfl('<KFL query>', '<table or alias>'), \
             string literals only",
        )
    })?;
    let checked = faultline_kfl::check(&query)
        .map_err(|e| call_error(at, format!("invalid KFL\n{}", e.render(&query))))?;
    if checked.limit.is_some() {
        return Err(call_error(
            at,
            "limit(n) cannot be used inside SQL; write LIMIT n at the end of the query",
        ));
    }
    let mut condition = checked.to_sql_ast();
    if let Some(table) = table {
        qualify(&mut condition, &table);
    }
    Ok(condition)
}

/// The query text and optional table name of a well-formed call: one or two unnamed
/// single-quoted string arguments and no other clause.
fn kfl_args(call: &Function) -> Option<(String, Option<String>)> {
    let plain = matches!(call.parameters, FunctionArguments::None)
        && call.filter.is_none()
        && call.null_treatment.is_none()
        && call.over.is_none()
        && call.within_group.is_empty();
    let FunctionArguments::List(list) = &call.args else {
        return None;
    };
    if !plain || list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    let mut texts = list.args.iter().map(string_arg);
    match (texts.next(), texts.next(), texts.next()) {
        (Some(Some(query)), None, None) => Some((query, None)),
        (Some(Some(query)), Some(Some(table)), None) if !table.is_empty() => {
            Some((query, Some(table)))
        }
        _ => None,
    }
}

fn string_arg(arg: &FunctionArg) -> Option<String> {
    match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Prefixes every column of `condition` with `table`.
fn qualify(condition: &mut Expr, table: &str) {
    let _ = visit_expressions_mut(condition, |e| {
        if let Expr::Identifier(column) = e {
            *e = Expr::CompoundIdentifier(vec![Ident::new(table), column.clone()]);
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;

    fn expanded(sql: &str) -> Result<String, EngineError> {
        let mut statements = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
        let mut statement = statements.remove(0);
        expand_kfl_calls(&mut statement)?;
        Ok(statement.to_string())
    }

    fn error(sql: &str) -> String {
        match expanded(sql) {
            Err(EngineError::Sql(msg)) => msg,
            other => panic!("{sql}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn replaces_calls_anywhere() {
        assert_eq!(
            expanded("SELECT count(*) FROM entries WHERE kfl('error or icmp') AND id > 3").unwrap(),
            "SELECT count(*) FROM entries WHERE (error_type IS NOT NULL OR protocol_name = 'icmp') \
             AND id > 3"
        );
        assert_eq!(
            expanded(
                "SELECT count(*) FILTER (WHERE KFL('tcp')) FROM (SELECT * FROM entries \
                 WHERE kfl('dst.port == 80')) t"
            )
            .unwrap(),
            "SELECT count(*) FILTER (WHERE (protocol_name = 'tcp')) FROM (SELECT * FROM entries \
             WHERE (dst_port = 80)) t"
        );
        // Other functions and a `kfl` column are left alone.
        let plain = "SELECT kfl, upper(kind) FROM entries";
        assert_eq!(expanded(plain).unwrap(), plain);
    }

    #[test]
    fn qualifies_columns_for_joins() {
        assert_eq!(
            expanded(
                "SELECT * FROM entries e JOIN flows f USING (flow_id) \
                 WHERE kfl('tcp and request.headers[\"Host\"] == \"a\"', 'e')"
            )
            .unwrap(),
            "SELECT * FROM entries e JOIN flows f USING(flow_id) \
             WHERE (e.protocol_name = 'tcp' AND e.request_headers['host'] = 'a')"
        );
    }

    #[test]
    fn invalid_kfl_points_at_the_call_and_the_kfl_text() {
        let msg = error("SELECT *\nFROM entries\nWHERE  kfl('response.stauts >= 500')");
        let expected = "\
kfl() at line 3, column 8: invalid KFL
error: unknown field `response.stauts`
 --> 1:1
  |
1 | response.stauts >= 500
  | ^^^^^^^^^^^^^^^
  = help: did you mean `response.status`?";
        assert_eq!(msg, expected);
        let msg = error("SELECT * FROM entries WHERE kfl('tcp and')");
        assert!(
            msg.contains("line 1, column 29") && msg.contains("--> 1:8"),
            "{msg}"
        );
    }

    #[test]
    fn refuses_malformed_calls_and_limit() {
        for sql in [
            "SELECT * FROM entries WHERE kfl()",
            "SELECT * FROM entries WHERE kfl(kind)",
            "SELECT * FROM entries WHERE kfl('tcp', 'e', 'x')",
            "SELECT * FROM entries WHERE kfl('tcp', '')",
            "SELECT * FROM entries WHERE kfl(\"tcp\")",
            "SELECT * FROM entries WHERE kfl(DISTINCT 'tcp')",
            "SELECT kfl('tcp') OVER () FROM entries",
        ] {
            assert!(error(sql).contains("expected kfl('<KFL query>')"), "{sql}");
        }
        assert!(error("SELECT * FROM entries WHERE kfl('tcp and limit(5)')").contains("LIMIT n"));
    }
}
