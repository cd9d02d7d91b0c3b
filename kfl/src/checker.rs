//! The checker: resolves every selector against the field map, types every node, folds
//! constants, evaluates time helpers once, pulls out `limit(n)`, and collects warnings.

use faultline_schemas::{FieldKind, FieldPath, FieldType};

use crate::ast::{CmpOp, Expr, ExprKind, Literal, LogicOp, Query, Selector, UnaryOp};
use crate::diag::{Diagnostic, KflError, Span, Warning};
use crate::ir::{Lit, Pred, TextFn, Value, ValueType};
use crate::resolve::{Resolved, resolve};
use crate::time;

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

struct Checker<'s> {
    src: &'s str,
    now_ms: i64,
    warnings: Vec<Warning>,
    limit: Option<(u64, Span)>,
}

const HELPERS: &[&str] = &[
    "startsWith",
    "endsWith",
    "contains",
    "datetime",
    "now",
    "limit",
    "seconds",
    "minutes",
    "hours",
    "days",
    "weeks",
    "months",
    "years",
];

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

    /// `a and b or c` without parentheses: say how it is grouped, and how Kubeshark v1 (one
    /// level for and/or, grouped to the right) grouped it when that differs.
    fn warn_mixed(&mut self, expr: &Expr, or_operands: &[Expr]) {
        let mut items: Vec<(&str, Option<LogicOp>)> = Vec::new();
        for (i, operand) in or_operands.iter().enumerate() {
            match &operand.kind {
                ExprKind::Logic { operands, .. } => {
                    for (j, e) in operands.iter().enumerate() {
                        let last = j + 1 == operands.len();
                        items.push((
                            e.span.text(self.src),
                            Some(if last { LogicOp::Or } else { LogicOp::And }),
                        ));
                    }
                }
                _ => items.push((operand.span.text(self.src), Some(LogicOp::Or))),
            }
            if i + 1 == or_operands.len()
                && let Some(last) = items.last_mut()
            {
                last.1 = None;
            }
        }
        let ours = precedence_grouped(&items);
        let kubeshark = right_grouped(&items);
        let mut message = format!("`and` binds tighter than `or`: this reads as `{ours}`");
        if kubeshark != ours {
            message.push_str(&format!("; Kubeshark v1 read it as `{kubeshark}`"));
        }
        let d = self
            .diag(expr.span, message)
            .with_help("add parentheses to make the grouping explicit");
        self.warn(d);
    }

    fn call(
        &mut self,
        expr: &Expr,
        target: Option<&Selector>,
        name: &str,
        name_span: Span,
        args: &[Expr],
    ) -> Result<Node, KflError> {
        let text_fn = match name {
            "startsWith" => Some(TextFn::StartsWith),
            "endsWith" => Some(TextFn::EndsWith),
            "contains" => Some(TextFn::Contains),
            _ => None,
        };
        if let Some(func) = text_fn {
            return self.text_call(expr, target, func, args);
        }
        if let Some(why) = crate::ast::unsupported_helper(name) {
            return Err(KflError::Unsupported(
                self.diag(expr.span, format!("`{name}()` is not supported: {why}")),
            ));
        }
        if !HELPERS.contains(&name) {
            let mut d = self.diag(name_span, format!("unknown helper `{name}()`"));
            let best = HELPERS
                .iter()
                .min_by_key(|h| strsim::damerau_levenshtein(name, h));
            if let Some(h) = best.filter(|h| strsim::damerau_levenshtein(name, h) <= 2) {
                d = d.with_help(format!("did you mean `{h}()`?"));
            }
            return Err(KflError::Helper(d));
        }
        if let Some(t) = target {
            return Err(KflError::Helper(self.diag(
                t.span.to(name_span),
                format!(
                    "`{name}()` is a function, not a method: call it without `{}.`",
                    t.path()
                ),
            )));
        }
        match name {
            "limit" => Err(KflError::Helper(
                self.diag(
                    expr.span,
                    "limit() must stand at the top level, joined to the rest with `and`",
                )
                .with_help("write `… and limit(100)`"),
            )),
            "now" => {
                self.arity(expr, name, args, 0)?;
                self.time_value(self.now_ms as f64, expr.span)
            }
            "datetime" => self.datetime(expr, args),
            unit => self.relative_time(expr, unit, args),
        }
    }

    fn arity(&self, expr: &Expr, name: &str, args: &[Expr], n: usize) -> Result<(), KflError> {
        if args.len() == n {
            return Ok(());
        }
        let what = match n {
            0 => "no arguments".to_string(),
            1 => "one argument".to_string(),
            n => format!("{n} arguments"),
        };
        Err(KflError::Helper(self.diag(
            expr.span,
            format!("`{name}()` takes {what}, got {}", args.len()),
        )))
    }

    fn time_value(&self, ms: f64, span: Span) -> Result<Node, KflError> {
        let us = time::ms_to_us(ms)
            .ok_or_else(|| KflError::Helper(self.diag(span, "time out of range")))?;
        Ok(Node::Scalar(Value::Lit(Lit::Timestamp(us))))
    }

    fn datetime(&mut self, expr: &Expr, args: &[Expr]) -> Result<Node, KflError> {
        self.arity(expr, "datetime", args, 1)?;
        let text = match &args[0].kind {
            ExprKind::Literal(Literal::Str(s)) => s,
            _ => {
                return Err(KflError::Helper(
                    self.diag(args[0].span, "`datetime()` takes a quoted date"),
                ));
            }
        };
        let us = time::parse_datetime(text).ok_or_else(|| {
            KflError::Helper(
                self.diag(args[0].span, format!("cannot read \"{text}\" as a date"))
                    .with_help(format!(
                        "write it as \"{}\", e.g. \"10/19/2021, 6:29:02.000 PM\" (UTC)",
                        time::DATETIME_LAYOUT
                    )),
            )
        })?;
        Ok(Node::Scalar(Value::Lit(Lit::Timestamp(us))))
    }

    fn relative_time(&mut self, expr: &Expr, unit: &str, args: &[Expr]) -> Result<Node, KflError> {
        self.arity(expr, unit, args, 1)?;
        let unit_ms = time::UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map_or(1_000, |(_, ms)| *ms);
        let n = match self.check(&args[0])? {
            Node::Scalar(Value::Lit(Lit::Int(i))) => i as f64,
            Node::Scalar(Value::Lit(Lit::Float(f))) => f,
            _ => {
                return Err(KflError::Helper(
                    self.diag(args[0].span, format!("`{unit}()` takes a number")),
                ));
            }
        };
        let us = time::relative_us(self.now_ms, n, unit_ms)
            .ok_or_else(|| KflError::Helper(self.diag(expr.span, "time out of range")))?;
        Ok(Node::Scalar(Value::Lit(Lit::Timestamp(us))))
    }

    fn text_call(
        &mut self,
        expr: &Expr,
        target: Option<&Selector>,
        func: TextFn,
        args: &[Expr],
    ) -> Result<Node, KflError> {
        let name = func.kfl_name();
        let Some(target) = target else {
            return Err(KflError::Helper(
                self.diag(
                    expr.span,
                    format!("`{name}()` is a method: call it on a field"),
                )
                .with_help(format!("write `request.path.{name}(\"/api\")`")),
            ));
        };
        self.arity(expr, name, args, 1)?;
        let value = match self.selector(target)? {
            Node::Absent => None,
            node => Some(self.text_operand(node, target.span, name)?),
        };
        let arg = match self.check(&args[0])? {
            Node::Absent => None,
            node => Some(self.text_operand(node, args[0].span, name)?),
        };
        let (Some(value), Some(arg)) = (value, arg) else {
            return Ok(Node::Pred(Pred::NULL));
        };
        Ok(Node::Pred(Pred::Text { func, value, arg }))
    }

    /// A string, or a number as text, for the string helpers.
    fn text_operand(&self, node: Node, span: Span, helper: &str) -> Result<Value, KflError> {
        match node {
            Node::Scalar(v) => match v {
                Value::Lit(Lit::Int(i)) => Ok(Value::Lit(Lit::Str(i.to_string()))),
                Value::Lit(Lit::Float(f)) => Ok(Value::Lit(Lit::Str(f.to_string()))),
                v if v.ty() == ValueType::Str => Ok(v),
                v if v.ty().is_numeric() => Ok(Value::AsText(Box::new(v))),
                _ => {
                    Err(self.type_error(span, format!("`{helper}()` works on text, not on a time")))
                }
            },
            other => Err(self.type_error(
                span,
                format!("`{helper}()` works on text, not on {}", other.describe()),
            )),
        }
    }

    fn compare(
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

/// Renders operands joined by operators with `and` binding tighter than `or`, parenthesising
/// each `and` group: `(a and b) or c`.
fn precedence_grouped(items: &[(&str, Option<LogicOp>)]) -> String {
    let mut groups: Vec<Vec<&str>> = vec![Vec::new()];
    for (text, op) in items {
        if let Some(group) = groups.last_mut() {
            group.push(text);
        }
        if *op == Some(LogicOp::Or) {
            groups.push(Vec::new());
        }
    }
    groups
        .iter()
        .map(|g| {
            if g.len() > 1 {
                format!("({})", g.join(" and "))
            } else {
                g.join("")
            }
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Renders operands joined by operators grouped to the right, the way Kubeshark v1 parsed a
/// flat and/or chain: `a and b or c` is `a and (b or c)`. `items` pairs each operand with the
/// operator after it (`None` for the last).
fn right_grouped(items: &[(&str, Option<LogicOp>)]) -> String {
    let mut out = String::new();
    let mut next_op: Option<LogicOp> = None;
    for (text, op) in items.iter().rev() {
        out = match op {
            None => text.to_string(),
            Some(op) => {
                let rest = if next_op.is_some_and(|n| n != *op) {
                    format!("({out})")
                } else {
                    out
                };
                format!("{text} {} {rest}", op.as_str())
            }
        };
        if op.is_some() {
            next_op = *op;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    const NOW: i64 = 1_700_000_000_000;

    fn check(src: &str) -> Result<CheckedQuery, KflError> {
        check_query(&parse(src)?, src, NOW)
    }

    fn filter(src: &str) -> Pred {
        check(src).unwrap().filter
    }

    fn err(src: &str) -> String {
        check(src).unwrap_err().diagnostic().message.clone()
    }

    fn warnings(src: &str) -> Vec<String> {
        check(src)
            .unwrap()
            .warnings
            .into_iter()
            .map(|w| w.0.message)
            .collect()
    }

    fn col(name: &'static str, ty: ValueType) -> Value {
        Value::Column { name, ty }
    }

    #[test]
    fn constants_fold() {
        for (src, want) in [
            ("true and 5", true),
            ("true and 0", false),
            ("5 == 5", true),
            ("3 == 5", false),
            ("\"abc\" != \"xyz\"", true),
            ("42 >= 42", true),
            ("41 >= 42", false),
            ("-300 < 42", true),
            ("!true", false),
            ("\"200\" == 200", true),
            ("5 == \"abc\"", false),
            ("nil == nil", true),
            ("\"abc\" == r\"b\"", true),
            ("200 == r\"^2\"", true),
            ("\"\"", false),
            ("nil", false),
            ("datetime(\"1/1/2020, 1:00:00 AM\") < now()", true),
            ("now() == now", true),
            ("seconds(-5) < now()", true),
        ] {
            assert_eq!(filter(src), Pred::Const(Some(want)), "{src}");
        }
    }

    #[test]
    fn comparisons_are_typed() {
        let status = || col("response_status", ValueType::Int);
        assert_eq!(
            filter("response.status == \"200\""),
            Pred::Cmp {
                op: CmpOp::Eq,
                lhs: status(),
                rhs: Value::Lit(Lit::Int(200))
            }
        );
        // The column goes left.
        assert_eq!(
            filter("400 <= response.status"),
            Pred::Cmp {
                op: CmpOp::Ge,
                lhs: status(),
                rhs: Value::Lit(Lit::Int(400))
            }
        );
        assert_eq!(
            filter("src.port == dst.port"),
            Pred::Cmp {
                op: CmpOp::Eq,
                lhs: col("src_port", ValueType::Int),
                rhs: col("dst_port", ValueType::Int)
            }
        );
        assert_eq!(
            filter("timestamp > 1634668524000"),
            Pred::Cmp {
                op: CmpOp::Gt,
                lhs: col("timestamp", ValueType::Timestamp),
                rhs: Value::Lit(Lit::Timestamp(1_634_668_524_000_000))
            }
        );
        assert_eq!(
            filter("timestamp >= minutes(-5)"),
            Pred::Cmp {
                op: CmpOp::Ge,
                lhs: col("timestamp", ValueType::Timestamp),
                rhs: Value::Lit(Lit::Timestamp((NOW - 300_000) * 1000))
            }
        );
        assert_eq!(
            filter("src.ip == 5"),
            Pred::Cmp {
                op: CmpOp::Eq,
                lhs: col("src_ip", ValueType::Str),
                rhs: Value::Lit(Lit::Str("5".into()))
            }
        );
    }

    #[test]
    fn bare_names_and_nil() {
        assert_eq!(
            filter("!error"),
            Pred::IsNull {
                value: col("error_type", ValueType::Str),
                negated: false
            }
        );
        assert_eq!(
            filter("error != nil"),
            Pred::IsNull {
                value: col("error_type", ValueType::Str),
                negated: true
            }
        );
        assert_eq!(
            filter("tcp"),
            Pred::Cmp {
                op: CmpOp::Eq,
                lhs: col("protocol_name", ValueType::Str),
                rhs: Value::Lit(Lit::Str("tcp".into()))
            }
        );
        assert_eq!(
            filter("src.name"),
            Pred::Truthy(col("src_name", ValueType::Str))
        );
        assert_eq!(filter("http == false"), filter("!http"));
        assert_eq!(
            filter("dst.name == nil"),
            Pred::IsNull {
                value: col("dst_name", ValueType::Str),
                negated: false
            }
        );
    }

    #[test]
    fn absent_fields_are_null() {
        assert_eq!(filter("node.name == \"x\""), Pred::NULL);
        assert_eq!(filter("!node.name"), Pred::TRUE);
        assert_eq!(filter("node.name == nil"), Pred::TRUE);
        assert_eq!(filter("src.namespace.startsWith(\"k\")"), Pred::NULL);
        assert_eq!(
            warnings("src.namespace == \"a\" or src.namespace == \"b\""),
            vec![
                "`src.namespace` is a Kubeshark field that faultline does not record: it is always missing"
            ]
        );
        assert_eq!(filter("kafka or tcp"), filter("tcp"));
    }

    #[test]
    fn limit_is_pulled_out() {
        let q = check("limit(100) and tcp").unwrap();
        assert_eq!(q.limit, Some(100));
        assert_eq!(q.filter, filter("tcp"));
        let q = check("(limit(5))").unwrap();
        assert_eq!((q.limit, q.filter), (Some(5), Pred::TRUE));
        assert_eq!(
            err("tcp or limit(5)"),
            "limit() must stand at the top level, joined to the rest with `and`"
        );
        assert_eq!(
            err("limit(1) and limit(2)"),
            "limit() is already given at 1:1"
        );
        assert_eq!(err("limit(-1)"), "limit() takes one whole number");
    }

    #[test]
    fn mixed_and_or_warns() {
        assert_eq!(
            warnings("tcp and src.port == 1 or icmp"),
            vec![
                "`and` binds tighter than `or`: this reads as `(tcp and src.port == 1) or icmp`; Kubeshark v1 read it as `tcp and (src.port == 1 or icmp)`"
            ]
        );
        assert_eq!(
            warnings("tcp or src.port == 1 && icmp"),
            vec!["`and` binds tighter than `or`: this reads as `tcp or (src.port == 1 and icmp)`"]
        );
        assert!(warnings("(tcp and icmp) or udp").is_empty());
        assert!(warnings("tcp and (icmp or udp)").is_empty());
    }

    #[test]
    fn right_grouping() {
        use LogicOp::*;
        assert_eq!(
            right_grouped(&[("a", Some(And)), ("b", Some(Or)), ("c", None)]),
            "a and (b or c)"
        );
        assert_eq!(
            right_grouped(&[("a", Some(Or)), ("b", Some(And)), ("c", None)]),
            "a or (b and c)"
        );
        assert_eq!(
            right_grouped(&[
                ("a", Some(And)),
                ("b", Some(And)),
                ("c", Some(Or)),
                ("d", None)
            ]),
            "a and b and (c or d)"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            err("response.status > \"abc\""),
            "`response.status` is a number and \"abc\" is not"
        );
        assert_eq!(
            err("src.ip > 5"),
            "`src.ip` is a string; it cannot be ordered against a number"
        );
        assert_eq!(
            err("r\"a\" > 1"),
            "a regex can only be compared with `==` or `!=`"
        );
        assert_eq!(err("src.ip == r\"(\""), "invalid regex: unclosed group");
        assert_eq!(err("tcp == 1"), "cannot compare a condition with a number");
        assert_eq!(
            err("!src.ip == \"1.2.3.4\""),
            "cannot compare a condition with a string"
        );
        assert_eq!(err("tcp == icmp"), "cannot compare two conditions");
        assert_eq!(
            err("src.ip == src.port"),
            "cannot compare a string with a number"
        );
        assert_eq!(
            err("timestamp > \"yesterday\""),
            "`timestamp` is a time; compare it with a time, not a string"
        );
        assert_eq!(
            err("elapsedTime > now()"),
            "`elapsedTime` is a number, not a time"
        );
        assert_eq!(
            err("a.startsWithx(\"b\")"),
            "unknown helper `startsWithx()`"
        );
        assert_eq!(
            err("src.ip.startsWith()"),
            "`startsWith()` takes one argument, got 0"
        );
        assert_eq!(
            err("startsWith(\"a\")"),
            "`startsWith()` is a method: call it on a field"
        );
        assert_eq!(
            err("datetime(\"yesterday\")"),
            "cannot read \"yesterday\" as a date"
        );
        assert_eq!(err("seconds(\"5\")"), "`seconds()` takes a number");
        assert_eq!(
            err("src.ip.now()"),
            "`now()` is a function, not a method: call it without `src.ip.`"
        );
        assert_eq!(
            err("response.body.json()"),
            "`json()` is not supported: faultline stores no payloads to decode"
        );
        assert_eq!(
            err("-src.port > 1"),
            "unary `-` applies only to number literals"
        );
        assert_eq!(err("nil > 1"), "nil can only be compared with `==` or `!=`");
        assert_eq!(err("tcp > true"), "conditions cannot be ordered");
        assert_eq!(err("timestamp == r\"1\""), "a regex cannot match a time");
        assert_eq!(err("years(1e300)"), "time out of range");
    }
}
