//! The checker: resolves every selector against the field map, types every node, folds
//! constants, evaluates time helpers once, pulls out `limit(n)`, and collects warnings.
//!
//! This module walks the tree; [`helper_calls`] checks calls of KFL's helpers (`now()`,
//! `datetime()`, time units, the string methods), [`compare`] types and folds comparisons, and
//! [`mixed_logic`] words the warning for `and` and `or` mixed without parentheses.

mod compare;
mod helper_calls;
mod mixed_logic;

use faultline_schemas::{FieldKind, FieldPath, FieldType};

use crate::ast::{CmpOp, Expr, ExprKind, Literal, LogicOp, Query, Selector, UnaryOp};
use crate::diag::{Diagnostic, KflError, Span, Warning};
use crate::ir::{Lit, Pred, Value, ValueType};
use crate::resolve::{Resolved, resolve};

/// A query that passed the checker.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedQuery {
    /// The row filter; TRUE for an empty query.
    pub filter: Pred,
    /// `limit(n)`: stop after n matching entries.
    pub limit: Option<u64>,
    /// Things that are legal but worth a look, in source order.
    pub warnings: Vec<Warning>,
}

/// Checks a parsed query; `now_ms` is what `now()` returns (Unix ms).
pub fn check_query(query: &Query, source: &str, now_ms: i64) -> Result<CheckedQuery, KflError> {
    let mut checker = Checker {
        src: source,
        now_ms,
        warnings: Vec::new(),
        limit: None,
    };
    let filter = match &query.expr {
        None => Pred::TRUE,
        Some(expr) => checker.top(expr)?,
    };
    Ok(CheckedQuery {
        filter,
        limit: checker.limit.map(|(n, _)| n),
        warnings: checker.warnings,
    })
}

/// The type of a checked sub-expression.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A condition.
    Pred(Pred),
    /// A number, string or time.
    Scalar(Value),
    /// A regex literal.
    Regex(String),
    /// `nil`.
    Nil,
    /// A Kubeshark field faultline does not record: NULL of any type.
    Absent,
    /// `error`: the entry has an error (the column is not null); also comparable with `nil`.
    Present(&'static str),
}

impl Node {
    fn describe(&self) -> &'static str {
        match self {
            Node::Pred(_) | Node::Present(_) => "a condition",
            Node::Scalar(v) => match v.ty() {
                ValueType::Int | ValueType::Float => "a number",
                ValueType::Str => "a string",
                ValueType::Timestamp => "a time",
                ValueType::Bool => "a condition",
            },
            Node::Regex(_) => "a regex",
            Node::Nil => "nil",
            Node::Absent => "a missing field",
        }
    }
}

/// A checked node and where it came from.
struct Typed<'e> {
    node: Node,
    expr: &'e Expr,
}

/// The state of one check: the source (for diagnostics), `now()`, warnings and `limit(n)`.
struct Checker<'s> {
    src: &'s str,
    now_ms: i64,
    warnings: Vec<Warning>,
    limit: Option<(u64, Span)>,
}

impl<'s> Checker<'s> {
    fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.src, span, message)
    }

    fn type_error(&self, span: Span, message: impl Into<String>) -> KflError {
        KflError::Type(self.diag(span, message))
    }

    fn warn(&mut self, diag: Diagnostic) {
        if !self.warnings.iter().any(|w| w.0.message == diag.message) {
            self.warnings.push(Warning(diag));
        }
    }

    /// The top level: the only place `limit(n)` may stand, alone or joined with `and`.
    fn top(&mut self, expr: &Expr) -> Result<Pred, KflError> {
        let inner = ungroup(expr);
        match &inner.kind {
            ExprKind::Logic {
                op: LogicOp::And,
                operands,
            } => {
                let mut parts = Vec::with_capacity(operands.len());
                for operand in operands {
                    if !self.take_limit(ungroup(operand))? {
                        let node = self.check(operand)?;
                        parts.push(self.to_pred(node, operand)?);
                    }
                }
                Ok(Pred::and(parts))
            }
            _ if self.take_limit(inner)? => Ok(Pred::TRUE),
            _ => {
                let node = self.check(expr)?;
                self.to_pred(node, expr)
            }
        }
    }

    /// Records `limit(n)` if `expr` is that call.
    fn take_limit(&mut self, expr: &Expr) -> Result<bool, KflError> {
        let ExprKind::Call {
            target: None,
            name,
            name_span,
            args,
        } = &expr.kind
        else {
            return Ok(false);
        };
        if name != "limit" {
            return Ok(false);
        }
        let whole = match args.as_slice() {
            [
                Expr {
                    kind: ExprKind::Literal(Literal::Int(n)),
                    ..
                },
            ] => u64::try_from(*n).ok(),
            _ => None,
        };
        let Some(n) = whole else {
            return Err(KflError::Helper(
                self.diag(expr.span, "limit() takes one whole number")
                    .with_help("write `limit(100)`"),
            ));
        };
        if let Some((_, first)) = self.limit {
            let position = crate::diag::Position::of(self.src, first.start);
            return Err(KflError::Helper(self.diag(
                *name_span,
                format!("limit() is already given at {position}"),
            )));
        }
        self.limit = Some((n, expr.span));
        Ok(true)
    }

    fn check(&mut self, expr: &Expr) -> Result<Node, KflError> {
        match &expr.kind {
            ExprKind::Literal(lit) => self.literal(lit, expr.span),
            ExprKind::Selector(sel) => self.selector(sel),
            ExprKind::Call {
                target,
                name,
                name_span,
                args,
            } => self.call(expr, target.as_ref(), name, *name_span, args),
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr: inner,
            } => {
                let node = self.check(inner)?;
                Ok(Node::Pred(self.to_pred(node, inner)?.negate()))
            }
            ExprKind::Unary {
                op: UnaryOp::Neg,
                expr: inner,
            } => self.negative(inner, expr.span),
            ExprKind::Compare { op, lhs, rhs } => {
                let l = Typed {
                    node: self.check(lhs)?,
                    expr: lhs,
                };
                let r = Typed {
                    node: self.check(rhs)?,
                    expr: rhs,
                };
                Ok(Node::Pred(self.compare(*op, l, r, expr.span)?))
            }
            ExprKind::Logic { op, operands } => self.logic(expr, *op, operands),
            ExprKind::Group(inner) => self.check(inner),
        }
    }

    fn literal(&mut self, lit: &Literal, span: Span) -> Result<Node, KflError> {
        Ok(match lit {
            Literal::Int(i) => Node::Scalar(Value::Lit(Lit::Int(*i))),
            Literal::Float(f) => Node::Scalar(Value::Lit(Lit::Float(*f))),
            Literal::Str(s) => Node::Scalar(Value::Lit(Lit::Str(s.clone()))),
            Literal::Bool(b) => Node::Pred(Pred::Const(Some(*b))),
            Literal::Nil => Node::Nil,
            Literal::Regex(pattern) => {
                if let Err(e) = regex_syntax::Parser::new().parse(pattern) {
                    let msg = e.to_string();
                    let reason = msg
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim_start_matches("error: ");
                    return Err(KflError::Type(
                        self.diag(span, format!("invalid regex: {reason}")),
                    ));
                }
                Node::Regex(pattern.clone())
            }
        })
    }

    fn selector(&mut self, sel: &Selector) -> Result<Node, KflError> {
        if sel.segments.len() == 1 && sel.path() == "now" {
            return self.time_value(self.now_ms as f64, sel.span);
        }
        Ok(match resolve(sel, self.src)? {
            Resolved::Field(f) => field_node(f),
            Resolved::MapKey(column, key) => Node::Scalar(Value::MapGet { column, key }),
            Resolved::Absent(path) => {
                let d = self.diag(
                    sel.span,
                    format!("`{path}` is a Kubeshark field that faultline does not record: it is always missing"),
                );
                self.warn(d.with_help(
                    "comparisons with a missing value are never true; `!field` is true",
                ));
                Node::Absent
            }
            Resolved::NeverProduced(name) => {
                self.warn(self.diag(
                    sel.span,
                    format!("faultline produces no `{name}` entries: `{name}` is always false"),
                ));
                Node::Pred(Pred::FALSE)
            }
        })
    }

    fn negative(&mut self, inner: &Expr, span: Span) -> Result<Node, KflError> {
        match self.check(inner)? {
            Node::Scalar(Value::Lit(Lit::Int(i))) => Ok(Node::Scalar(Value::Lit(
                i.checked_neg().map_or(Lit::Float(-(i as f64)), Lit::Int),
            ))),
            Node::Scalar(Value::Lit(Lit::Float(f))) => Ok(Node::Scalar(Value::Lit(Lit::Float(-f)))),
            _ => Err(self.type_error(span, "unary `-` applies only to number literals")),
        }
    }

    /// A node used as a condition: bare values are true when present and non-empty.
    fn to_pred(&self, node: Node, expr: &Expr) -> Result<Pred, KflError> {
        Ok(match node {
            Node::Pred(p) => p,
            Node::Nil | Node::Absent => Pred::FALSE,
            Node::Present(column) => Pred::IsNull {
                value: present_value(column),
                negated: true,
            },
            Node::Scalar(Value::Lit(lit)) => Pred::Const(Some(literal_truth(&lit))),
            Node::Scalar(value) => Pred::Truthy(value),
            Node::Regex(_) => {
                return Err(
                    self.type_error(expr.span, "a regex can only be compared with `==` or `!=`")
                );
            }
        })
    }

    fn logic(&mut self, expr: &Expr, op: LogicOp, operands: &[Expr]) -> Result<Node, KflError> {
        if op == LogicOp::Or
            && operands
                .iter()
                .any(|e| matches!(e.kind, ExprKind::Logic { .. }))
        {
            self.warn_mixed(expr, operands);
        }
        let mut parts = Vec::with_capacity(operands.len());
        for operand in operands {
            let node = self.check(operand)?;
            parts.push(self.to_pred(node, operand)?);
        }
        Ok(Node::Pred(match op {
            LogicOp::And => Pred::and(parts),
            LogicOp::Or => Pred::or(parts),
        }))
    }
}

/// The value a [`FieldKind::Present`] column is tested with.
fn present_value(column: &'static str) -> Value {
    Value::Column {
        name: column,
        ty: ValueType::Str,
    }
}

fn field_node(f: &'static FieldPath) -> Node {
    match f.kind {
        FieldKind::Column(name) => match f.ty {
            FieldType::String => Node::Scalar(Value::Column {
                name,
                ty: ValueType::Str,
            }),
            FieldType::Int => Node::Scalar(Value::Column {
                name,
                ty: ValueType::Int,
            }),
            FieldType::Timestamp => Node::Scalar(Value::Column {
                name,
                ty: ValueType::Timestamp,
            }),
            // A boolean column is used through its truth (`IS TRUE`, never NULL).
            FieldType::Bool => Node::Pred(Pred::Truthy(Value::Column {
                name,
                ty: ValueType::Bool,
            })),
        },
        FieldKind::Equals(name, value) => Node::Pred(Pred::Cmp {
            op: CmpOp::Eq,
            lhs: Value::Column {
                name,
                ty: ValueType::Str,
            },
            rhs: Value::Lit(Lit::Str(value.to_string())),
        }),
        FieldKind::Present(name) => Node::Present(name),
        FieldKind::Map(_) => Node::Absent,
    }
}

fn literal_truth(lit: &Lit) -> bool {
    match lit {
        Lit::Int(i) => *i > 0,
        Lit::Float(f) => *f > 0.0,
        Lit::Str(s) => !s.is_empty(),
        Lit::Timestamp(_) => true,
    }
}

fn ungroup(expr: &Expr) -> &Expr {
    match &expr.kind {
        ExprKind::Group(inner) => ungroup(inner),
        _ => expr,
    }
}

fn selector_path(expr: &Expr) -> Option<String> {
    match &ungroup(expr).kind {
        ExprKind::Selector(s) => Some(s.path()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
