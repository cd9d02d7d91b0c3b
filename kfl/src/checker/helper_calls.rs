//! Calls of KFL's helpers: `limit()` out of place, `now()`, `datetime()`, the relative time
//! units (`minutes(-5)`) and the string methods (`startsWith`, `endsWith`, `contains`).

use super::{Checker, Node};
use crate::ast::{Expr, ExprKind, Literal, Selector};
use crate::diag::{KflError, Span};
use crate::ir::{Lit, Pred, TextFn, Value, ValueType};
use crate::time;

/// The helpers KFL knows, for "did you mean" suggestions.
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
impl Checker<'_> {
    /// Checks a call of a helper function or string method.
    pub(super) fn call(
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

    /// A time literal of `ms` Unix milliseconds.
    pub(super) fn time_value(&self, ms: f64, span: Span) -> Result<Node, KflError> {
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
}
