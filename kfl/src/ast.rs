//! The KFL syntax tree: what the parser produces, every node with its byte span.

use std::fmt;

use crate::diag::Span;

/// A literal value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// An integer (`i64` or `u64` range).
    Int(i128),
    /// A number with a fraction or exponent, or too large for `i64`.
    Float(f64),
    /// A string.
    Str(String),
    /// A regex `r"…"` (RE2 syntax, unanchored).
    Regex(String),
    /// `true` or `false`.
    Bool(bool),
    /// `nil`.
    Nil,
}

/// One step of a selector path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// `.name` (or the first name).
    Field(String),
    /// `[3]`.
    Index(i64),
    /// `["User-Agent"]`.
    Key(String),
}

/// A selector: a path into the entry, `request.headers["Accept"]`, `src.ip`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The steps, the first always a [`Segment::Field`].
    pub segments: Vec<Segment>,
    /// Where the whole path is.
    pub span: Span,
}

impl Selector {
    /// The canonical text of the path: `a.b[1]["k"]`.
    pub fn path(&self) -> String {
        path_of(&self.segments)
    }
}

/// The canonical text of a sequence of path steps: `a.b[1]["k"]`.
pub fn path_of(segments: &[Segment]) -> String {
    let mut out = String::new();
    for seg in segments {
        match seg {
            Segment::Field(name) if out.is_empty() => out.push_str(name),
            Segment::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Key(k) => out.push_str(&format!("[\"{k}\"]")),
        }
    }
    out
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `!` / `not`.
    Not,
    /// `-`.
    Neg,
}

/// Comparison operators; all six share one precedence level and do not chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
}

impl CmpOp {
    /// The operator as KFL writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }

    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            same => same,
        }
    }

    /// Whether this is `==` or `!=`.
    pub fn is_equality(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// `and` / `or`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicOp {
    /// `and` / `&&`.
    And,
    /// `or` / `||`.
    Or,
}

impl LogicOp {
    /// The operator as KFL writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogicOp::And => "and",
            LogicOp::Or => "or",
        }
    }
}

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Literal(Literal),
    /// A field path.
    Selector(Selector),
    /// A helper call: `now()`, `limit(10)`, or a method on a selector, `request.path.startsWith("/api")`.
    Call {
        /// The selector the method is called on, if any.
        target: Option<Selector>,
        /// The helper name.
        name: String,
        /// Where the helper name is.
        name_span: Span,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// `!x`, `-x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<Expr>,
    },
    /// `a == b` and the other comparisons.
    Compare {
        /// The operator.
        op: CmpOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `a and b and …`, `a or b or …`: one flat chain of the same operator, two or more operands.
    Logic {
        /// The operator.
        op: LogicOp,
        /// The operands, in source order.
        operands: Vec<Expr>,
    },
    /// `( … )`: kept so the checker knows what the user grouped explicitly.
    Group(Box<Expr>),
}

/// Kubeshark helpers faultline does not implement, and why.
const UNSUPPORTED_HELPERS: &[(&str, &str)] = &[
    ("json", "faultline stores no payloads to decode"),
    ("xml", "faultline stores no payloads to decode"),
    ("redact", "faultline stores no payloads to redact"),
    ("record", "faultline has no Traffic Recorder recordings"),
];

/// Why a Kubeshark helper is not supported, if it is one of those.
pub fn unsupported_helper(name: &str) -> Option<&'static str> {
    UNSUPPORTED_HELPERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// A parsed query: an optional expression (the empty query matches everything).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The expression, `None` for an empty query.
    pub expr: Option<Expr>,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x}"),
            Literal::Str(s) => write!(f, "\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
            Literal::Regex(s) => write!(f, "r\"{s}\""),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Nil => write!(f, "nil"),
        }
    }
}

impl Expr {
    /// The parse tree as an indented outline, one node per line (for `faultline kfl check`).
    pub fn tree(&self) -> String {
        let mut out = String::new();
        self.write_tree(&mut out, 0);
        out
    }

    fn write_tree(&self, out: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        let children: Vec<&Expr> = match &self.kind {
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr,
            } => {
                out.push_str(&format!("{pad}not\n"));
                vec![expr]
            }
            ExprKind::Unary {
                op: UnaryOp::Neg,
                expr,
            } => {
                out.push_str(&format!("{pad}negate\n"));
                vec![expr]
            }
            ExprKind::Compare { op, lhs, rhs } => {
                out.push_str(&format!("{pad}{}\n", op.as_str()));
                vec![lhs, rhs]
            }
            ExprKind::Logic { op, operands } => {
                out.push_str(&format!("{pad}{}\n", op.as_str()));
                operands.iter().collect()
            }
            ExprKind::Group(e) => {
                out.push_str(&format!("{pad}( )\n"));
                vec![e]
            }
            _ => {
                out.push_str(&format!("{pad}{self}\n"));
                Vec::new()
            }
        };
        for c in children {
            c.write_tree(out, depth + 1);
        }
    }
}

/// Prints KFL back, with parentheses only where the tree had them.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(l) => write!(f, "{l}"),
            ExprKind::Selector(s) => write!(f, "{}", s.path()),
            ExprKind::Call {
                target, name, args, ..
            } => {
                if let Some(t) = target {
                    write!(f, "{}.", t.path())?;
                }
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr,
            } => write!(f, "!{expr}"),
            ExprKind::Unary {
                op: UnaryOp::Neg,
                expr,
            } => write!(f, "-{expr}"),
            ExprKind::Compare { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
            ExprKind::Logic { op, operands } => {
                for (i, e) in operands.iter().enumerate() {
                    if i > 0 {
                        write!(f, " {} ", op.as_str())?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
            ExprKind::Group(e) => write!(f, "({e})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_path() {
        let s = Selector {
            segments: vec![
                Segment::Field("request".into()),
                Segment::Field("questions".into()),
                Segment::Index(0),
                Segment::Field("name".into()),
                Segment::Key("k".into()),
            ],
            span: Span::default(),
        };
        assert_eq!(s.path(), "request.questions[0].name[\"k\"]");
    }

    #[test]
    fn tree_outline() {
        let q = crate::parse("tcp and !(dst.port == 80) or icmp").unwrap();
        assert_eq!(
            q.expr.unwrap().tree(),
            "or\n  and\n    tcp\n    not\n      ( )\n        ==\n          dst.port\n          80\n  icmp\n"
        );
    }

    #[test]
    fn flipped() {
        assert_eq!(CmpOp::Lt.flipped(), CmpOp::Gt);
        assert_eq!(CmpOp::Eq.flipped(), CmpOp::Eq);
    }
}
