//! The KFL parser: tokens to a [`Query`] syntax tree.
//!
//! Grammar (tightest last):
//!
//! ```text
//! query    = [ or ] EOF
//! or       = and { ("or" | "||") and }
//! and      = cmp { ("and" | "&&") cmp }
//! cmp      = unary [ ("==" | "!=" | ">" | ">=" | "<" | "<=") unary ]   (does not chain)
//! unary    = ("!" | "not" | "-") unary | primary
//! primary  = Int | Float | String | Regex | "true" | "false" | "nil"
//!          | path [ "(" [ or { "," or } ] ")" ] | "(" or ")"
//! path     = Ident { "." Ident | "[" (Int | String) "]" }
//! ```
//!
//! Chains of one operator (`a and b and c`) become one n-ary node, so long chains do not make
//! the tree deep; nesting through parentheses and `!` is limited to [`MAX_DEPTH`].

use crate::ast::{CmpOp, Expr, ExprKind, Literal, LogicOp, Query, Segment, Selector, UnaryOp};
use crate::diag::{Diagnostic, KflError, Span};
use crate::lexer::{Token, TokenKind, tokenize};

/// How deeply parentheses and unary operators may nest.
pub const MAX_DEPTH: usize = 128;

/// Parses KFL text.
pub fn parse(source: &str) -> Result<Query, KflError> {
    let tokens = tokenize(source)?;
    let mut parser = Parser {
        src: source,
        tokens,
        pos: 0,
        depth: 0,
    };
    if parser.peek() == &TokenKind::Eof {
        return Ok(Query { expr: None });
    }
    let expr = parser.or()?;
    match parser.peek() {
        TokenKind::Eof => Ok(Query { expr: Some(expr) }),
        TokenKind::RParen => Err(parser.syntax_here("unmatched `)`")),
        TokenKind::Minus | TokenKind::Plus => Err(parser.arithmetic()),
        _ => Err(parser.expected("`and`, `or` or the end of the query")),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &TokenKind {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].kind
    }

    fn peek_span(&self) -> Span {
        self.tokens[self.pos.min(self.tokens.len() - 1)].span
    }

    fn peek_at(&self, n: usize) -> &TokenKind {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].kind
    }

    fn bump(&mut self) -> Token {
        let tok = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        tok
    }

    fn eat(&mut self, kind: &TokenKind) -> Option<Span> {
        (self.peek() == kind).then(|| self.bump().span)
    }

    fn syntax(&self, span: Span, message: impl Into<String>) -> KflError {
        KflError::Syntax(Diagnostic::new(self.src, span, message))
    }

    fn syntax_here(&self, message: impl Into<String>) -> KflError {
        self.syntax(self.peek_span(), message)
    }

    fn expected(&self, what: &str) -> KflError {
        self.syntax_here(format!("expected {what}, found {}", self.peek().describe()))
    }

    fn unsupported(&self, span: Span, message: impl Into<String>) -> KflError {
        KflError::Unsupported(Diagnostic::new(self.src, span, message))
    }

    fn arithmetic(&self) -> KflError {
        KflError::Syntax(
            Diagnostic::new(self.src, self.peek_span(), "KFL has no arithmetic").with_help(
                "for a time n units ago write `seconds(-n)`, `minutes(-n)`, …, `years(-n)`",
            ),
        )
    }

    fn enter(&mut self) -> Result<(), KflError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.syntax_here(format!("query nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, KflError> {
        self.chain(LogicOp::Or, Self::and)
    }

    fn and(&mut self) -> Result<Expr, KflError> {
        self.chain(LogicOp::And, Self::cmp)
    }

    fn chain(
        &mut self,
        op: LogicOp,
        next: fn(&mut Self) -> Result<Expr, KflError>,
    ) -> Result<Expr, KflError> {
        let token = match op {
            LogicOp::And => TokenKind::And,
            LogicOp::Or => TokenKind::Or,
        };
        let first = next(self)?;
        let mut operands = vec![first];
        while self.eat(&token).is_some() {
            operands.push(next(self)?);
        }
        if operands.len() == 1 {
            return Ok(operands.remove(0));
        }
        let span = operands[0].span.to(operands[operands.len() - 1].span);
        Ok(Expr {
            kind: ExprKind::Logic { op, operands },
            span,
        })
    }

    fn cmp(&mut self) -> Result<Expr, KflError> {
        let lhs = self.unary()?;
        let Some(op) = cmp_op(self.peek()) else {
            return match self.peek() {
                TokenKind::Minus | TokenKind::Plus => Err(self.arithmetic()),
                _ => Ok(lhs),
            };
        };
        self.bump();
        let rhs = self.unary()?;
        if cmp_op(self.peek()).is_some() {
            return Err(KflError::Syntax(
                Diagnostic::new(self.src, self.peek_span(), "comparisons do not chain")
                    .with_help("group them with parentheses and join them with `and` or `or`"),
            ));
        }
        let span = lhs.span.to(rhs.span);
        Ok(Expr {
            kind: ExprKind::Compare {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            span,
        })
    }

    fn unary(&mut self) -> Result<Expr, KflError> {
        let op = match self.peek() {
            TokenKind::Not => UnaryOp::Not,
            TokenKind::Minus => UnaryOp::Neg,
            _ => return self.primary(),
        };
        let start = self.bump().span;
        self.enter()?;
        let expr = self.unary()?;
        self.depth -= 1;
        let span = start.to(expr.span);
        Ok(Expr {
            kind: ExprKind::Unary {
                op,
                expr: Box::new(expr),
            },
            span,
        })
    }

    fn primary(&mut self) -> Result<Expr, KflError> {
        let span = self.peek_span();
        let literal = match self.peek().clone() {
            TokenKind::Int(i) => Literal::Int(i),
            TokenKind::Float(f) => Literal::Float(f),
            TokenKind::Str(s) => Literal::Str(s),
            TokenKind::Regex(s) => Literal::Regex(s),
            TokenKind::True => Literal::Bool(true),
            TokenKind::False => Literal::Bool(false),
            TokenKind::Nil => Literal::Nil,
            TokenKind::Ident(_) => return self.path_or_call(),
            TokenKind::LParen => return self.group(),
            _ => return Err(self.expected("a value, a field or `(`")),
        };
        self.bump();
        Ok(Expr {
            kind: ExprKind::Literal(literal),
            span,
        })
    }

    fn group(&mut self) -> Result<Expr, KflError> {
        let open = self.bump().span;
        self.enter()?;
        if self.peek() == &TokenKind::RParen {
            return Err(self.syntax(open.to(self.peek_span()), "empty parentheses"));
        }
        let inner = self.or()?;
        self.depth -= 1;
        let Some(close) = self.eat(&TokenKind::RParen) else {
            return Err(match self.peek() {
                TokenKind::Minus | TokenKind::Plus => self.arithmetic(),
                _ => self.expected("`)`"),
            });
        };
        Ok(Expr {
            kind: ExprKind::Group(Box::new(inner)),
            span: open.to(close),
        })
    }

    fn path_or_call(&mut self) -> Result<Expr, KflError> {
        let first = self.bump();
        let TokenKind::Ident(name) = first.kind else {
            return Err(self.expected("a field name"));
        };
        let mut segments = vec![Segment::Field(name)];
        let mut last = first.span;
        loop {
            match self.peek() {
                TokenKind::Dot => {
                    let dot = self.bump().span;
                    last = self.field_segment(dot, &mut segments)?;
                }
                TokenKind::LBracket => last = self.bracket_segment(&mut segments)?,
                TokenKind::LParen => return self.call(segments, first.span, last),
                _ => break,
            }
        }
        let span = first.span.to(last);
        Ok(Expr {
            kind: ExprKind::Selector(Selector { segments, span }),
            span,
        })
    }

    fn field_segment(&mut self, dot: Span, segments: &mut Vec<Segment>) -> Result<Span, KflError> {
        match self.peek().clone() {
            TokenKind::Ident(name) => {
                segments.push(Segment::Field(name));
                Ok(self.bump().span)
            }
            TokenKind::Star => Err(self.unsupported(
                dot.to(self.peek_span()),
                "wildcard selectors (`.*`) are not supported",
            )),
            TokenKind::Dot => Err(self.unsupported(
                dot.to(self.peek_span()),
                "recursive descent (`..name`) is not supported",
            )),
            _ => Err(self.expected("a field name after `.`")),
        }
    }

    fn bracket_segment(&mut self, segments: &mut Vec<Segment>) -> Result<Span, KflError> {
        let open = self.bump().span;
        let segment = match self.peek().clone() {
            TokenKind::Int(i)
                if let Ok(i) = i64::try_from(i)
                    && i >= 0 =>
            {
                Segment::Index(i)
            }
            TokenKind::Str(s) => Segment::Key(s),
            TokenKind::Star => {
                return Err(self.unsupported(
                    open.to(self.peek_span()),
                    "wildcard selectors (`[*]`) are not supported",
                ));
            }
            _ => return Err(self.expected("an index or a quoted key inside `[ ]`")),
        };
        self.bump();
        let Some(close) = self.eat(&TokenKind::RBracket) else {
            return Err(self.expected("`]`"));
        };
        segments.push(segment);
        Ok(open.to(close))
    }

    /// `name(args)` or `target.name(args)`: the last path step names the helper.
    fn call(
        &mut self,
        mut segments: Vec<Segment>,
        start: Span,
        last: Span,
    ) -> Result<Expr, KflError> {
        let Some(Segment::Field(name)) = segments.pop() else {
            return Err(self.syntax_here("only a name can be called: `field.helper(…)`"));
        };
        let name_span = last;
        let target = (!segments.is_empty()).then(|| Selector {
            span: start.to(self.target_end(start, name_span)),
            segments,
        });
        self.bump(); // (
        self.enter()?;
        let mut args = Vec::new();
        if self.peek() != &TokenKind::RParen {
            loop {
                if matches!(self.peek(), TokenKind::Ident(_))
                    && self.peek_at(1) == &TokenKind::Colon
                {
                    return Err(self.unsupported(
                        self.peek_span(),
                        "named helper parameters (`name: value`) are not supported",
                    ));
                }
                args.push(self.or()?);
                if self.eat(&TokenKind::Comma).is_none() {
                    break;
                }
            }
        }
        self.depth -= 1;
        let Some(close) = self.eat(&TokenKind::RParen) else {
            return Err(self.expected("`,` or `)`"));
        };
        if matches!(self.peek(), TokenKind::Dot | TokenKind::LBracket) {
            let message = match crate::ast::unsupported_helper(&name) {
                Some(why) => format!("`{name}()` is not supported: {why}"),
                None => format!("selecting into the result of `{name}()` is not supported"),
            };
            return Err(self.unsupported(name_span.to(close), message));
        }
        Ok(Expr {
            kind: ExprKind::Call {
                target,
                name,
                name_span,
                args,
            },
            span: start.to(close),
        })
    }

    /// End of the target path: just before the `.` that precedes the helper name.
    fn target_end(&self, start: Span, name_span: Span) -> Span {
        let end = self.src[..name_span.start]
            .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
            .len();
        Span::new(start.start, end.max(start.end))
    }
}

fn cmp_op(kind: &TokenKind) -> Option<CmpOp> {
    Some(match kind {
        TokenKind::Eq => CmpOp::Eq,
        TokenKind::Ne => CmpOp::Ne,
        TokenKind::Gt => CmpOp::Gt,
        TokenKind::Ge => CmpOp::Ge,
        TokenKind::Lt => CmpOp::Lt,
        TokenKind::Le => CmpOp::Le,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(src: &str) -> String {
        parse(src)
            .unwrap()
            .expr
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    fn err(src: &str) -> String {
        parse(src).unwrap_err().diagnostic().message.clone()
    }

    #[test]
    fn precedence() {
        let q = parse("a or b and !c == 1").unwrap().expr.unwrap();
        let ExprKind::Logic {
            op: LogicOp::Or,
            operands,
        } = &q.kind
        else {
            panic!("{q:?}")
        };
        assert_eq!(operands.len(), 2);
        let ExprKind::Logic {
            op: LogicOp::And,
            operands: inner,
        } = &operands[1].kind
        else {
            panic!()
        };
        assert!(
            matches!(&inner[1].kind, ExprKind::Compare { lhs, .. } if matches!(lhs.kind, ExprKind::Unary { .. }))
        );
    }

    #[test]
    fn chains_are_flat() {
        let q = parse("a and b and c and d").unwrap().expr.unwrap();
        assert!(matches!(&q.kind, ExprKind::Logic { operands, .. } if operands.len() == 4));
    }

    #[test]
    fn round_trip_display() {
        for src in [
            "request.headers[\"User-Agent\"] == r\"curl.*\"",
            "request.path[1] == \"v1\"",
            "brand.name.startsWith(\"Chev\") and limit(100)",
            "!(a == 1) or -3 < b",
            "timestamp > datetime(\"10/19/2021, 6:29:02.000 PM\")",
            "now()",
        ] {
            assert_eq!(show(src), src);
        }
        assert_eq!(show("a && b || not c"), "a and b or !c");
        assert_eq!(show(""), "");
        assert_eq!(show("  \n "), "");
    }

    #[test]
    fn spans() {
        let src = "x.y.startsWith(\"a\") == true";
        let q = parse(src).unwrap().expr.unwrap();
        let ExprKind::Compare { lhs, .. } = &q.kind else {
            panic!()
        };
        let ExprKind::Call {
            target, name_span, ..
        } = &lhs.kind
        else {
            panic!()
        };
        assert_eq!(target.as_ref().unwrap().span.text(src), "x.y");
        assert_eq!(name_span.text(src), "startsWith");
        assert_eq!(lhs.span.text(src), "x.y.startsWith(\"a\")");
    }

    #[test]
    fn errors() {
        for (src, want) in [
            (
                "a ==",
                "expected a value, a field or `(`, found the end of the query",
            ),
            ("a == 1 == 2", "comparisons do not chain"),
            ("(a", "expected `)`, found the end of the query"),
            ("a)", "unmatched `)`"),
            (
                "a b",
                "expected `and`, `or` or the end of the query, found `b`",
            ),
            ("now() - 5", "KFL has no arithmetic"),
            (
                "request.path.*",
                "wildcard selectors (`.*`) are not supported",
            ),
            ("a[*] == 1", "wildcard selectors (`[*]`) are not supported"),
            ("a..b == 1", "recursive descent (`..name`) is not supported"),
            (
                "body.json().a == 1",
                "`json()` is not supported: faultline stores no payloads to decode",
            ),
            (
                "now().a == 1",
                "selecting into the result of `now()` is not supported",
            ),
            (
                "a[-1] == 1",
                "expected an index or a quoted key inside `[ ]`, found `-`",
            ),
            ("()", "empty parentheses"),
        ] {
            assert_eq!(err(src), want, "{src}");
        }
        assert_eq!(
            err("f(x: 1)"),
            "named helper parameters (`name: value`) are not supported"
        );
    }

    #[test]
    fn depth_is_limited() {
        let deep = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(err(&deep).starts_with("query nests deeper"));
        let nots = format!("{}a", "!".repeat(10_000));
        assert!(err(&nots).starts_with("query nests deeper"));
        let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let long = vec!["a"; 10_000].join(" or ");
        assert!(parse(&long).is_ok());
    }
}
