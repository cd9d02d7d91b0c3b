//! Comparisons: regexes, `nil`, conditions against `true`/`false`, columns against literals
//! (converted to the column's type) and constants folded to a truth value.

use super::{Checker, Node, Typed, present_value, selector_path};
use crate::ast::{CmpOp, Expr, ExprKind, UnaryOp};
use crate::diag::{KflError, Span};
use crate::ir::{Lit, Pred, Value, ValueType};
use crate::time;

impl Checker<'_> {
    /// Types a comparison of two checked operands, folding it when both are constant.
    pub(super) fn compare(
        &mut self,
        op: CmpOp,
        l: Typed<'_>,
        r: Typed<'_>,
        span: Span,
    ) -> Result<Pred, KflError> {
        let (Typed { node: ln, expr: le }, Typed { node: rn, expr: re }) = (l, r);
        match (ln, rn) {
            (Node::Regex(_), Node::Regex(_)) => {
                Err(self.type_error(span, "cannot compare two regexes"))
            }
            (Node::Regex(_), _) | (_, Node::Regex(_)) if !op.is_equality() => {
                Err(self.type_error(span, "a regex can only be compared with `==` or `!=`"))
            }
            (Node::Regex(p), node) => {
                self.regex_match(Typed { node, expr: re }, p, op == CmpOp::Ne)
            }
            (node, Node::Regex(p)) => {
                self.regex_match(Typed { node, expr: le }, p, op == CmpOp::Ne)
            }
            (Node::Nil, _) | (_, Node::Nil) if !op.is_equality() => {
                Err(self.type_error(span, "nil can only be compared with `==` or `!=`"))
            }
            (Node::Nil, node) => self.nil_test(Typed { node, expr: re }, op == CmpOp::Ne),
            (node, Node::Nil) => self.nil_test(Typed { node, expr: le }, op == CmpOp::Ne),
            (Node::Absent, _) | (_, Node::Absent) => Ok(Pred::NULL),
            (Node::Scalar(a), Node::Scalar(b)) => self.scalar_compare(op, (a, le), (b, re), span),
            (a @ (Node::Pred(_) | Node::Present(_)), b @ (Node::Pred(_) | Node::Present(_))) => {
                let a = self.to_pred(a, le)?;
                let b = self.to_pred(b, re)?;
                self.condition_compare(op, a, b, span)
            }
            (a, b) => {
                let (cond, other) = if matches!(a, Node::Scalar(_)) {
                    (re, &a)
                } else {
                    (le, &b)
                };
                let mut d = self.diag(
                    span,
                    format!("cannot compare a condition with {}", other.describe()),
                );
                if matches!(
                    le.kind,
                    ExprKind::Unary {
                        op: UnaryOp::Not,
                        ..
                    }
                ) {
                    d = d.with_help(format!(
                        "`!` binds tighter than `{}`: write `!(a {} b)`",
                        op.as_str(),
                        op.as_str()
                    ));
                } else if let Some(path) = selector_path(cond) {
                    d = d.with_help(format!(
                        "`{path}` is true or false; compare it with `true` or `false`"
                    ));
                }
                Err(KflError::Type(d))
            }
        }
    }

    /// `cond == true`, `cond != false`, …
    fn condition_compare(&self, op: CmpOp, a: Pred, b: Pred, span: Span) -> Result<Pred, KflError> {
        if !op.is_equality() {
            return Err(self.type_error(span, "conditions cannot be ordered"));
        }
        let ((Pred::Const(Some(k)), p) | (p, Pred::Const(Some(k)))) = (a, b) else {
            return Err(KflError::Type(
                self.diag(span, "cannot compare two conditions")
                    .with_help("combine them with `and` or `or`"),
            ));
        };
        // `p == true` is p, `p == false` is !p; `!=` the other way round.
        Ok(if k == (op == CmpOp::Eq) {
            p
        } else {
            p.negate()
        })
    }

    fn nil_test(&self, other: Typed<'_>, negated: bool) -> Result<Pred, KflError> {
        Ok(match other.node {
            Node::Nil => Pred::Const(Some(!negated)),
            Node::Absent => Pred::Const(Some(!negated)),
            Node::Present(column) => Pred::IsNull {
                value: present_value(column),
                negated,
            },
            Node::Scalar(Value::Lit(_)) => Pred::Const(Some(negated)),
            Node::Scalar(value) => Pred::IsNull { value, negated },
            Node::Pred(_) | Node::Regex(_) => {
                return Err(self.type_error(
                    other.expr.span,
                    format!("{} is never nil", other.node.describe()),
                ));
            }
        })
    }

    fn regex_match(
        &mut self,
        target: Typed<'_>,
        pattern: String,
        negated: bool,
    ) -> Result<Pred, KflError> {
        let value = match target.node {
            Node::Absent => return Ok(Pred::NULL),
            Node::Scalar(Value::Lit(lit)) => {
                let text = literal_text(&lit);
                let re = regex::Regex::new(&pattern).map_err(|e| {
                    self.type_error(target.expr.span, format!("invalid regex: {e}"))
                })?;
                return Ok(Pred::Const(Some(re.is_match(&text) != negated)));
            }
            Node::Scalar(v) if v.ty() == ValueType::Str => v,
            Node::Scalar(v) if v.ty().is_numeric() => {
                if !pattern.starts_with('^') {
                    let d = self.diag(
                        target.expr.span,
                        format!("regex on a number is unanchored: r\"{pattern}\" also matches in the middle (e.g. 204 for r\"0\")"),
                    );
                    self.warn(d.with_help(
                        "anchor it with `^` (r\"^4\") or compare numbers (>= 400 and < 500)",
                    ));
                }
                Value::AsText(Box::new(v))
            }
            other => {
                return Err(self.type_error(
                    target.expr.span,
                    format!("a regex cannot match {}", other.describe()),
                ));
            }
        };
        Ok(Pred::Regex {
            value,
            pattern,
            negated,
        })
    }

    fn scalar_compare(
        &self,
        op: CmpOp,
        a: (Value, &Expr),
        b: (Value, &Expr),
        span: Span,
    ) -> Result<Pred, KflError> {
        // Put a column (if any) on the left.
        let (op, (a, a_expr), (b, b_expr)) =
            if matches!(a.0, Value::Lit(_)) && !matches!(b.0, Value::Lit(_)) {
                (op.flipped(), b, a)
            } else {
                (op, a, b)
            };
        let (a, b) = match (a, b) {
            (Value::Lit(x), Value::Lit(y)) => return self.fold_compare(op, x, y, span),
            (col, Value::Lit(lit)) => {
                let lit = self.coerce_literal(op, &col, a_expr, lit, b_expr)?;
                (col, Value::Lit(lit))
            }
            (x, y) => {
                let (tx, ty) = (x.ty(), y.ty());
                if !(tx == ty || (tx.is_numeric() && ty.is_numeric())) {
                    return Err(self.type_error(
                        span,
                        format!("cannot compare a {} with a {}", tx.name(), ty.name()),
                    ));
                }
                (x, y)
            }
        };
        Ok(Pred::Cmp { op, lhs: a, rhs: b })
    }

    /// Converts a literal to the type of the column it is compared with.
    fn coerce_literal(
        &self,
        op: CmpOp,
        col: &Value,
        col_expr: &Expr,
        lit: Lit,
        lit_expr: &Expr,
    ) -> Result<Lit, KflError> {
        let field =
            selector_path(col_expr).unwrap_or_else(|| col_expr.span.text(self.src).to_string());
        match (col.ty(), lit) {
            (ValueType::Int | ValueType::Float, lit @ (Lit::Int(_) | Lit::Float(_))) => Ok(lit),
            (ValueType::Int | ValueType::Float, Lit::Str(s)) => parse_number(&s).ok_or_else(|| {
                self.type_error(lit_expr.span, format!("`{field}` is a number and \"{s}\" is not"))
            }),
            (ValueType::Str, lit @ Lit::Str(_)) => Ok(lit),
            (ValueType::Str, lit @ (Lit::Int(_) | Lit::Float(_))) if op.is_equality() => Ok(Lit::Str(literal_text(&lit))),
            (ValueType::Str, Lit::Int(_) | Lit::Float(_)) => Err(KflError::Type(
                self.diag(lit_expr.span, format!("`{field}` is a string; it cannot be ordered against a number"))
                    .with_help("quote the number to compare as text"),
            )),
            (ValueType::Timestamp, Lit::Int(ms)) => ms
                .checked_mul(1000)
                .and_then(|us| i64::try_from(us).ok())
                .map(Lit::Timestamp)
                .ok_or_else(|| self.type_error(lit_expr.span, "time out of range")),
            (ValueType::Timestamp, Lit::Float(ms)) => self.ms_literal(ms, lit_expr.span),
            (ValueType::Timestamp, lit @ Lit::Timestamp(_)) => Ok(lit),
            (ValueType::Timestamp, Lit::Str(_)) => Err(KflError::Type(
                self.diag(lit_expr.span, format!("`{field}` is a time; compare it with a time, not a string"))
                    .with_help("use datetime(\"10/19/2021, 6:29:02.000 PM\"), now(), minutes(-5) or Unix milliseconds"),
            )),
            (ty @ (ValueType::Int | ValueType::Float | ValueType::Str), Lit::Timestamp(_)) => {
                Err(self.type_error(lit_expr.span, format!("`{field}` is a {}, not a time", ty.name())))
            }
            (ValueType::Bool, _) => Err(self.type_error(col_expr.span, format!("`{field}` is a condition"))),
        }
    }

    fn ms_literal(&self, ms: f64, span: Span) -> Result<Lit, KflError> {
        time::ms_to_us(ms)
            .map(Lit::Timestamp)
            .ok_or_else(|| self.type_error(span, "time out of range"))
    }

    /// Both sides constant: decide now. Numbers compare as numbers (a string that reads as a
    /// number counts as one), strings as strings, times as times (a number is Unix ms).
    fn fold_compare(&self, op: CmpOp, x: Lit, y: Lit, span: Span) -> Result<Pred, KflError> {
        use std::cmp::Ordering;
        let ord: Option<Ordering> = match (&x, &y) {
            (Lit::Str(a), Lit::Str(b)) => Some(a.cmp(b)),
            (Lit::Timestamp(a), Lit::Timestamp(b)) => Some(a.cmp(b)),
            (Lit::Timestamp(_), Lit::Str(_)) | (Lit::Str(_), Lit::Timestamp(_)) => {
                return Err(self.type_error(span, "cannot compare a time with a string"));
            }
            (Lit::Timestamp(t), n) | (n, Lit::Timestamp(t)) => {
                let us = as_number(n)
                    .and_then(time::ms_to_us)
                    .ok_or_else(|| self.type_error(span, "time out of range"))?;
                let o = if matches!(x, Lit::Timestamp(_)) {
                    t.cmp(&us)
                } else {
                    us.cmp(t)
                };
                Some(o)
            }
            (Lit::Int(a), Lit::Int(b)) => Some(a.cmp(b)),
            _ => match (as_number(&x), as_number(&y)) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ if op.is_equality() => None,
                _ => {
                    return Err(self.type_error(
                        span,
                        "cannot order a number against a string that is not a number",
                    ));
                }
            },
        };
        let truth = match (op, ord) {
            (CmpOp::Eq, o) => o == Some(Ordering::Equal),
            (CmpOp::Ne, o) => o != Some(Ordering::Equal),
            (_, None) => false,
            (CmpOp::Gt, Some(o)) => o.is_gt(),
            (CmpOp::Ge, Some(o)) => o.is_ge(),
            (CmpOp::Lt, Some(o)) => o.is_lt(),
            (CmpOp::Le, Some(o)) => o.is_le(),
        };
        Ok(Pred::Const(Some(truth)))
    }
}

/// A literal's text, as a string field would hold it.
fn literal_text(lit: &Lit) -> String {
    match lit {
        Lit::Int(i) => i.to_string(),
        Lit::Float(f) => f.to_string(),
        Lit::Str(s) => s.clone(),
        Lit::Timestamp(us) => time::format_us(*us),
    }
}

fn as_number(lit: &Lit) -> Option<f64> {
    match lit {
        Lit::Int(i) => Some(*i as f64),
        Lit::Float(f) => Some(*f),
        Lit::Str(s) => parse_number(s).and_then(|l| as_number(&l)),
        Lit::Timestamp(_) => None,
    }
}

/// `"200"` → 200, `"1.5"` → 1.5; anything else is not a number.
fn parse_number(s: &str) -> Option<Lit> {
    let s = s.trim();
    if let Some(i) = crate::lexer::parse_int(s) {
        return Some(Lit::Int(i));
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Lit::Float)
}
