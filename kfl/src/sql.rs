//! Renders a checked query as an equivalent SQL `WHERE` condition, built as a sqlparser AST, so a
//! user can see and reuse the SQL (`SELECT * FROM entries WHERE <this>` in DataFusion).

use sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, Subscript, UnaryOperator,
    Value as SqlValue,
};
use sqlparser::keywords::ALL_KEYWORDS;

use crate::ir::{CmpOp, Lit, Pred, TextFn, Value, ValueType};
use crate::time;

/// The SQL text of a predicate.
pub fn to_sql(pred: &Pred) -> String {
    to_sql_ast(pred).to_string()
}

/// The sqlparser expression of a predicate. String literals in it hold their SQL text, quotes
/// already doubled (see `string`).
pub fn to_sql_ast(pred: &Pred) -> Expr {
    match pred {
        Pred::Const(Some(b)) => Expr::value(SqlValue::Boolean(*b)),
        Pred::Const(None) => Expr::value(SqlValue::Null),
        Pred::Not(p) => Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: Box::new(nested(to_sql_ast(p))),
        },
        Pred::And(ps) => balanced(ps, BinaryOperator::And),
        Pred::Or(ps) => balanced(ps, BinaryOperator::Or),
        Pred::Cmp { op, lhs, rhs } => binary(value_sql(lhs), operator(*op), value_sql(rhs)),
        Pred::IsNull {
            value,
            negated: false,
        } => Expr::IsNull(Box::new(value_sql(value))),
        Pred::IsNull {
            value,
            negated: true,
        } => Expr::IsNotNull(Box::new(value_sql(value))),
        Pred::Truthy(value) => truthy(value),
        Pred::Regex {
            value,
            pattern,
            negated,
        } => {
            let m = call("regexp_like", vec![value_sql(value), string(pattern)]);
            if *negated {
                Expr::UnaryOp {
                    op: UnaryOperator::Not,
                    expr: Box::new(m),
                }
            } else {
                m
            }
        }
        Pred::Text { func, value, arg } => {
            call(text_fn(*func), vec![value_sql(value), value_sql(arg)])
        }
    }
}

fn text_fn(func: TextFn) -> &'static str {
    func.sql_name()
}

/// Joins operands as a balanced tree; operands that are themselves and/or get parentheses.
fn balanced(parts: &[Pred], op: BinaryOperator) -> Expr {
    match parts {
        [] => Expr::value(SqlValue::Boolean(op == BinaryOperator::And)),
        [one] => match one {
            Pred::And(_) | Pred::Or(_) => nested(to_sql_ast(one)),
            _ => to_sql_ast(one),
        },
        _ => {
            let (l, r) = parts.split_at(parts.len() / 2);
            binary(balanced(l, op.clone()), op.clone(), balanced(r, op))
        }
    }
}

fn nested(e: Expr) -> Expr {
    match e {
        Expr::Identifier(_) | Expr::Value(_) | Expr::Function(_) | Expr::Nested(_) => e,
        e => Expr::Nested(Box::new(e)),
    }
}

fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }
}

fn operator(op: CmpOp) -> BinaryOperator {
    match op {
        CmpOp::Eq => BinaryOperator::Eq,
        CmpOp::Ne => BinaryOperator::NotEq,
        CmpOp::Gt => BinaryOperator::Gt,
        CmpOp::Ge => BinaryOperator::GtEq,
        CmpOp::Lt => BinaryOperator::Lt,
        CmpOp::Le => BinaryOperator::LtEq,
    }
}

fn truthy(value: &Value) -> Expr {
    let v = value_sql(value);
    let present = Expr::IsNotNull(Box::new(v.clone()));
    let inner = match value.ty() {
        ValueType::Str => binary(
            present,
            BinaryOperator::And,
            binary(v, BinaryOperator::NotEq, string("")),
        ),
        ValueType::Int | ValueType::Float => binary(
            present,
            BinaryOperator::And,
            binary(v, BinaryOperator::Gt, number("0".to_string())),
        ),
        ValueType::Timestamp => return present,
        ValueType::Bool => return Expr::IsTrue(Box::new(v)),
    };
    Expr::Nested(Box::new(inner))
}

fn value_sql(value: &Value) -> Expr {
    match value {
        Value::Column { name, .. } => Expr::Identifier(ident(name)),
        Value::MapGet { column, key } => Expr::CompoundFieldAccess {
            root: Box::new(Expr::Identifier(ident(column))),
            access_chain: vec![AccessExpr::Subscript(Subscript::Index {
                index: string(key),
            })],
        },
        Value::Lit(Lit::Int(i)) => number(i.to_string()),
        Value::Lit(Lit::Float(f)) => number(format!("{f:?}")),
        Value::Lit(Lit::Str(s)) => string(s),
        // Compared with a timestamp column, an RFC 3339 string is cast to the column's type.
        Value::Lit(Lit::Timestamp(us)) => string(&time::format_us(*us)),
        Value::AsText(v) => Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(value_sql(v)),
            data_type: DataType::Varchar(None),
            array: false,
            format: None,
        },
    }
}

fn number(text: String) -> Expr {
    Expr::value(SqlValue::Number(text, false))
}

/// A string literal. sqlparser's `Display` leaves a quote alone when it follows a backslash or
/// another quote (it guesses the text is already escaped), so `a\'b` and `a''b` would print
/// unescaped and parse back as something else. With every quote doubled first, the guess is
/// always "already escaped" and the text prints exactly as given.
fn string(s: &str) -> Expr {
    Expr::value(SqlValue::SingleQuotedString(s.replace('\'', "''")))
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// A column name, double-quoted when it is a keyword or not a plain lower-case name.
fn ident(name: &str) -> Ident {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let keyword = ALL_KEYWORDS
        .binary_search(&name.to_ascii_uppercase().as_str())
        .is_ok();
    if plain && !keyword {
        Ident::new(name)
    } else {
        Ident::with_quote('"', name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_at;

    fn sql(src: &str) -> String {
        to_sql(&check_at(src, 0).unwrap().filter)
    }

    #[test]
    fn renders() {
        for (src, want) in [
            ("response.status == \"200\"", "response_status = 200"),
            (
                "timestamp >= 1634668142000",
                "\"timestamp\" >= '2021-10-19T18:29:02Z'",
            ),
            ("!error", "error_type IS NULL"),
            ("src.name", "(src_name IS NOT NULL AND src_name <> '')"),
            (
                "request.headers[\"X-It's\"] == \"a\"",
                "request_headers['x-it''s'] = 'a'",
            ),
            (
                "response.status == r\"^4\"",
                "regexp_like(CAST(response_status AS VARCHAR), '^4')",
            ),
            (
                "!(tcp and src.port == 1)",
                "NOT (protocol_name = 'tcp' AND src_port = 1)",
            ),
            (
                "(tcp or icmp) and (src.port == 1 or dst.port == 2)",
                "(protocol_name = 'tcp' OR protocol_name = 'icmp') AND (src_port = 1 OR dst_port = 2)",
            ),
            ("node.name == \"x\"", "NULL"),
            ("", "true"),
            ("loss.retransmissions > 2.5", "retransmissions > 2.5"),
            ("response.status < 1e20", "response_status < 1e20"),
        ] {
            assert_eq!(sql(src), want, "{src}");
        }
        assert_eq!(
            sql("request.path.endsWith(\"x\")"),
            "ends_with(request_path, 'x')"
        );
    }

    #[test]
    fn quotes_always_doubled() {
        // KFL `"a\\'b''c'"` is the text a\'b''c' (only `\\` and `\"` are escapes).
        let kfl = r#"summary == "a\\'b''c'""#;
        assert_eq!(sql(kfl), r"summary = 'a\''b''''c'''");
        let reparsed = sqlparser::parser::Parser::new(&sqlparser::dialect::GenericDialect {})
            .try_with_sql(&sql(kfl))
            .and_then(|mut p| p.parse_expr())
            .unwrap();
        // Parsed back, the literal is the original text.
        let Expr::BinaryOp { right, .. } = reparsed else {
            panic!("{reparsed:?}")
        };
        let Expr::Value(v) = *right else {
            panic!("{right:?}")
        };
        assert_eq!(
            v.value,
            SqlValue::SingleQuotedString(r"a\'b''c'".to_string())
        );
    }

    #[test]
    fn identifiers() {
        assert_eq!(ident("src_ip").to_string(), "src_ip");
        assert_eq!(ident("timestamp").to_string(), "\"timestamp\"");
        assert_eq!(ident("Weird").to_string(), "\"Weird\"");
    }
}
