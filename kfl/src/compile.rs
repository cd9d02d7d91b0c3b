//! Compiles a checked query to a DataFusion [`Expr`] over the `entries` table.
//!
//! The output is pushdown-friendly: plain column comparisons with literals of the column's own
//! Arrow type (no casts for Parquet statistics to trip on), `IS [NOT] NULL`, built-in
//! `starts_with` / `ends_with` / `contains` / `regexp_like` and `get_field` for header maps.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::functions::expr_fn::{contains, ends_with, get_field, regexp_like, starts_with};
use datafusion::logical_expr::{Expr, Operator, binary_expr, cast, lit};
use faultline_schemas::entries_schema;

use crate::ir::{CmpOp, Lit, Pred, TextFn, Value, ValueType};

/// The DataFusion expression for a predicate.
pub fn to_expr(pred: &Pred) -> Expr {
    match pred {
        Pred::Const(b) => lit(ScalarValue::Boolean(*b)),
        Pred::Not(p) => Expr::Not(Box::new(to_expr(p))),
        Pred::And(ps) => balanced(ps, Operator::And),
        Pred::Or(ps) => balanced(ps, Operator::Or),
        Pred::Cmp { op, lhs, rhs } => {
            let (l, r) = typed_pair(lhs, rhs);
            binary_expr(l, operator(*op), r)
        }
        Pred::IsNull {
            value,
            negated: false,
        } => value_expr(value).is_null(),
        Pred::IsNull {
            value,
            negated: true,
        } => value_expr(value).is_not_null(),
        Pred::Truthy(value) => truthy(value),
        Pred::Regex {
            value,
            pattern,
            negated,
        } => {
            let m = regexp_like(value_expr(value), lit(pattern.as_str()), None);
            if *negated { Expr::Not(Box::new(m)) } else { m }
        }
        Pred::Text { func, value, arg } => {
            let (v, a) = (value_expr(value), value_expr(arg));
            match func {
                TextFn::StartsWith => starts_with(v, a),
                TextFn::EndsWith => ends_with(v, a),
                TextFn::Contains => contains(v, a),
            }
        }
    }
}

/// Joins operands as a balanced tree, so a long chain does not make a deep expression.
fn balanced(parts: &[Pred], op: Operator) -> Expr {
    match parts {
        [] => lit(op == Operator::And),
        [one] => to_expr(one),
        _ => {
            let (l, r) = parts.split_at(parts.len() / 2);
            binary_expr(balanced(l, op), op, balanced(r, op))
        }
    }
}

fn operator(op: CmpOp) -> Operator {
    match op {
        CmpOp::Eq => Operator::Eq,
        CmpOp::Ne => Operator::NotEq,
        CmpOp::Gt => Operator::Gt,
        CmpOp::Ge => Operator::GtEq,
        CmpOp::Lt => Operator::Lt,
        CmpOp::Le => Operator::LtEq,
    }
}

/// Two-valued truth of a bare value.
fn truthy(value: &Value) -> Expr {
    let v = value_expr(value);
    match value.ty() {
        ValueType::Str => v.clone().is_not_null().and(v.not_eq(lit(""))),
        ValueType::Int | ValueType::Float => v.clone().is_not_null().and(v.gt(lit(0i64))),
        ValueType::Timestamp => v.is_not_null(),
        ValueType::Bool => v.is_true(),
    }
}

/// Both sides of a comparison; a literal takes the Arrow type of the column it meets.
fn typed_pair(lhs: &Value, rhs: &Value) -> (Expr, Expr) {
    match (lhs, rhs) {
        (col @ Value::Column { name, .. }, Value::Lit(l)) => {
            (value_expr(col), literal_as(l, column_type(name)))
        }
        (Value::Lit(l), col @ Value::Column { name, .. }) => {
            (literal_as(l, column_type(name)), value_expr(col))
        }
        (a, b) => (value_expr(a), value_expr(b)),
    }
}

fn column_type(name: &str) -> Option<DataType> {
    entries_schema()
        .field_with_name(name)
        .ok()
        .map(|f| f.data_type().clone())
}

/// The expression for a scalar value.
pub fn value_expr(value: &Value) -> Expr {
    match value {
        Value::Column { name, .. } => Expr::Column(Column::new_unqualified(*name)),
        Value::MapGet { column, key } => {
            get_field(Expr::Column(Column::new_unqualified(*column)), key.as_str())
        }
        Value::Lit(l) => literal_as(l, None),
        Value::AsText(v) => cast(value_expr(v), DataType::Utf8),
    }
}

/// A literal, in the column's integer type when it fits (so no cast is needed on the column).
fn literal_as(l: &Lit, column: Option<DataType>) -> Expr {
    lit(match (l, column) {
        (Lit::Int(i), Some(dt)) => int_scalar(*i, &dt).unwrap_or_else(|| wide_int(*i)),
        (Lit::Int(i), None) => wide_int(*i),
        (Lit::Float(f), _) => ScalarValue::Float64(Some(*f)),
        (Lit::Str(s), _) => ScalarValue::Utf8(Some(s.clone())),
        (Lit::Timestamp(us), _) => ScalarValue::TimestampMicrosecond(Some(*us), Some("UTC".into())),
    })
}

/// An integer with no column type to follow: `Int64`, or `UInt64` above `i64::MAX`.
fn wide_int(i: i128) -> ScalarValue {
    match (i64::try_from(i), u64::try_from(i)) {
        (Ok(v), _) => ScalarValue::Int64(Some(v)),
        (_, Ok(v)) => ScalarValue::UInt64(Some(v)),
        _ => ScalarValue::Float64(Some(i as f64)),
    }
}

fn int_scalar(i: i128, dt: &DataType) -> Option<ScalarValue> {
    Some(match dt {
        DataType::UInt8 => ScalarValue::UInt8(Some(u8::try_from(i).ok()?)),
        DataType::UInt16 => ScalarValue::UInt16(Some(u16::try_from(i).ok()?)),
        DataType::UInt32 => ScalarValue::UInt32(Some(u32::try_from(i).ok()?)),
        DataType::UInt64 => ScalarValue::UInt64(Some(u64::try_from(i).ok()?)),
        DataType::Int8 => ScalarValue::Int8(Some(i8::try_from(i).ok()?)),
        DataType::Int16 => ScalarValue::Int16(Some(i16::try_from(i).ok()?)),
        DataType::Int32 => ScalarValue::Int32(Some(i32::try_from(i).ok()?)),
        DataType::Int64 => ScalarValue::Int64(Some(i64::try_from(i).ok()?)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_at;

    fn expr(src: &str) -> String {
        to_expr(&check_at(src, 0).unwrap().filter).to_string()
    }

    #[test]
    fn literals_take_the_column_type() {
        assert_eq!(
            expr("response.status == 200"),
            "response_status = UInt16(200)"
        );
        assert_eq!(
            expr("response.status == 70000"),
            "response_status = Int64(70000)"
        );
        assert_eq!(expr("src.port > -1"), "src_port > Int64(-1)");
        assert_eq!(
            expr("response.status < 1.5"),
            "response_status < Float64(1.5)"
        );
        assert_eq!(
            expr("timestamp >= 1000"),
            "timestamp >= TimestampMicrosecond(1000000, Some(\"UTC\"))"
        );
    }

    #[test]
    fn flow_ids_above_i64_stay_exact() {
        assert_eq!(
            expr("flow_id == 18446744073709551615"),
            "flow_id = UInt64(18446744073709551615)"
        );
        assert_eq!(
            expr("flow_id == 9223372036854775808"),
            "flow_id = UInt64(9223372036854775808)"
        );
        assert_eq!(
            expr("src.port == 18446744073709551615"),
            "src_port = UInt64(18446744073709551615)",
            "too big for the column's type, still exact"
        );
    }

    #[test]
    fn shapes() {
        assert_eq!(expr("!error"), "error_type IS NULL");
        assert_eq!(
            expr("src.name"),
            "src_name IS NOT NULL AND src_name != Utf8(\"\")"
        );
        assert_eq!(
            expr("request.path.startsWith(\"/api\")"),
            "starts_with(request_path, Utf8(\"/api\"))"
        );
        assert_eq!(
            expr("request.headers[\"User-Agent\"] == r\"curl\""),
            "regexp_like(get_field(request_headers, Utf8(\"user-agent\")), Utf8(\"curl\"))"
        );
        assert_eq!(
            expr("response.status != r\"^4\""),
            "NOT regexp_like(CAST(response_status AS Utf8), Utf8(\"^4\"))"
        );
        assert_eq!(expr("node.name == \"x\""), "Boolean(NULL)");
        assert_eq!(
            expr("tcp or icmp or udp or dns"),
            "protocol_name = Utf8(\"tcp\") OR protocol_name = Utf8(\"icmp\") OR protocol_name = Utf8(\"udp\") OR protocol_name = Utf8(\"dns\")"
        );
    }
}
