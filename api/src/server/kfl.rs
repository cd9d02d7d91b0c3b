//! `POST /api/kfl/check`: parse and check a KFL query; answer with its parse tree, warnings
//! (with positions) and the equivalent SQL, or a 400 `invalid_kfl` with the error's position.

use axum::Json;
use faultline_kfl::Warning;
use faultline_kfl::ast::{Expr, ExprKind, Literal, UnaryOp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ApiError, ErrorPosition};
use super::params::JsonBody;

/// The request body.
#[derive(Debug, Deserialize)]
pub struct CheckRequest {
    /// The KFL text.
    pub q: String,
}

/// One warning with its place.
#[derive(Debug, Serialize)]
pub struct WarningInfo {
    /// What is probably wrong.
    pub message: String,
    /// Where.
    pub position: ErrorPosition,
    /// A hint, if any.
    pub help: Option<String>,
}

impl From<&Warning> for WarningInfo {
    fn from(w: &Warning) -> Self {
        let d = &w.0;
        WarningInfo {
            message: d.message.clone(),
            position: ErrorPosition {
                line: d.position.line,
                column: d.position.column,
                start: d.span.start,
                end: d.span.end,
            },
            help: d.help.clone(),
        }
    }
}

/// `POST /api/kfl/check` with `{"q": "<kfl>"}`.
pub async fn check(JsonBody(req): JsonBody<CheckRequest>) -> Result<Json<Value>, ApiError> {
    let checked = faultline_kfl::check(&req.q)?;
    let parsed = faultline_kfl::parse(&req.q)?;
    let tree = parsed.expr.as_ref().map(|e| tree_json(e, &req.q));
    let outline = parsed.expr.as_ref().map(Expr::tree);
    let warnings: Vec<WarningInfo> = checked.warnings.iter().map(WarningInfo::from).collect();
    let condition = checked.to_sql();
    Ok(Json(json!({
        "valid": true,
        "tree": tree,
        "outline": outline,
        "warnings": warnings,
        "limit": checked.limit,
        "condition": condition,
        "sql": format!("SELECT * FROM entries WHERE {condition}"),
    })))
}

/// A parse-tree node as JSON: `node` (its kind), `span` (bytes), `text` (the source it
/// covers), kind-specific fields and `children`.
fn tree_json(e: &Expr, source: &str) -> Value {
    let mut node = match &e.kind {
        ExprKind::Literal(l) => {
            json!({ "node": "literal", "type": literal_type(l), "value": l.to_string() })
        }
        ExprKind::Selector(s) => json!({ "node": "selector", "path": s.path() }),
        ExprKind::Call {
            target, name, args, ..
        } => json!({
            "node": "call",
            "name": name,
            "target": target.as_ref().map(|t| t.path()),
            "children": args.iter().map(|a| tree_json(a, source)).collect::<Vec<_>>(),
        }),
        ExprKind::Unary { op, expr } => json!({
            "node": "unary",
            "op": match op { UnaryOp::Not => "not", UnaryOp::Neg => "negate" },
            "children": [tree_json(expr, source)],
        }),
        ExprKind::Compare { op, lhs, rhs } => json!({
            "node": "compare",
            "op": op.as_str(),
            "children": [tree_json(lhs, source), tree_json(rhs, source)],
        }),
        ExprKind::Logic { op, operands } => json!({
            "node": "logic",
            "op": op.as_str(),
            "children": operands.iter().map(|o| tree_json(o, source)).collect::<Vec<_>>(),
        }),
        ExprKind::Group(inner) => {
            json!({ "node": "group", "children": [tree_json(inner, source)] })
        }
    };
    if let Some(obj) = node.as_object_mut() {
        obj.insert("span".into(), json!([e.span.start, e.span.end]));
        obj.insert("text".into(), json!(e.span.text(source)));
    }
    node
}

fn literal_type(l: &Literal) -> &'static str {
    match l {
        Literal::Int(_) => "int",
        Literal::Float(_) => "float",
        Literal::Str(_) => "string",
        Literal::Regex(_) => "regex",
        Literal::Bool(_) => "bool",
        Literal::Nil => "nil",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_has_nodes_spans_and_text() {
        let src = "response.status >= 500 or !tcp";
        let parsed = faultline_kfl::parse(src).unwrap();
        let tree = tree_json(parsed.expr.as_ref().unwrap(), src);
        assert_eq!(tree["node"], "logic");
        assert_eq!(tree["op"], "or");
        assert_eq!(tree["text"], src);
        let cmp = &tree["children"][0];
        assert_eq!(cmp["op"], ">=");
        assert_eq!(cmp["children"][0]["path"], "response.status");
        assert_eq!(cmp["children"][1]["value"], "500");
        assert_eq!(tree["children"][1]["node"], "unary");
        assert_eq!(tree["children"][1]["span"], json!([26, 30]));
    }
}
