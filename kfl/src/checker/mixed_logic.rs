//! The warning for `and` and `or` mixed without parentheses: how faultline groups the chain
//! and, when it differs, how Kubeshark v1 grouped it.

use super::Checker;
use crate::ast::{Expr, ExprKind, LogicOp};

impl Checker<'_> {
    /// `a and b or c` without parentheses: say how it is grouped, and how Kubeshark v1 (one
    /// level for and/or, grouped to the right) grouped it when that differs.
    pub(super) fn warn_mixed(&mut self, expr: &Expr, or_operands: &[Expr]) {
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
pub(super) fn right_grouped(items: &[(&str, Option<LogicOp>)]) -> String {
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
