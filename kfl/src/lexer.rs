//! The KFL lexer: query text to tokens with byte spans.
//!
//! Tokens follow Go's `text/scanner` as Kubeshark's participle lexer does (Go identifiers,
//! decimal numbers, double-quoted strings), plus the aliases `&&`, `||` and `not`.

use crate::diag::{Diagnostic, KflError, Span};

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// An integer literal in `i64::MIN..=u64::MAX` (so 64-bit ids such as `flow_id` stay exact).
    Int(i128),
    /// Any other number literal.
    Float(f64),
    /// A double-quoted string, with `\"` and `\\` unescaped.
    Str(String),
    /// A regex literal `r"…"`, its body kept exactly as written.
    Regex(String),
    /// A Go identifier that is not a keyword.
    Ident(String),
    /// `true`.
    True,
    /// `false`.
    False,
    /// `nil`.
    Nil,
    /// `and` or `&&`.
    And,
    /// `or` or `||`.
    Or,
    /// `!` or `not`.
    Not,
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
    /// `-`.
    Minus,
    /// `+` (only to report that KFL has no arithmetic).
    Plus,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `.`.
    Dot,
    /// `,`.
    Comma,
    /// `:` (Basenine's parameter tags).
    Colon,
    /// `*` (Basenine's wildcards).
    Star,
    /// The end of the text.
    Eof,
}

impl TokenKind {
    /// How the token is named in "expected …, found …" messages.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Int(i) => format!("number `{i}`"),
            TokenKind::Float(f) => format!("number `{f}`"),
            TokenKind::Str(s) => format!("string \"{s}\""),
            TokenKind::Regex(s) => format!("regex r\"{s}\""),
            TokenKind::Ident(s) => format!("`{s}`"),
            TokenKind::Eof => "the end of the query".to_string(),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            TokenKind::True => "true",
            TokenKind::False => "false",
            TokenKind::Nil => "nil",
            TokenKind::And => "and",
            TokenKind::Or => "or",
            TokenKind::Not => "!",
            TokenKind::Eq => "==",
            TokenKind::Ne => "!=",
            TokenKind::Gt => ">",
            TokenKind::Ge => ">=",
            TokenKind::Lt => "<",
            TokenKind::Le => "<=",
            TokenKind::Minus => "-",
            TokenKind::Plus => "+",
            TokenKind::LParen => "(",
            TokenKind::RParen => ")",
            TokenKind::LBracket => "[",
            TokenKind::RBracket => "]",
            TokenKind::Dot => ".",
            TokenKind::Comma => ",",
            TokenKind::Colon => ":",
            TokenKind::Star => "*",
            _ => "?",
        }
    }
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Where it is, in bytes.
    pub span: Span,
}

/// Splits `source` into tokens; the last one is always [`TokenKind::Eof`].
pub fn tokenize(source: &str) -> Result<Vec<Token>, KflError> {
    let mut lexer = Lexer {
        src: source,
        pos: 0,
        tokens: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn run(&mut self) -> Result<(), KflError> {
        while let Some(c) = self.peek() {
            let start = self.pos;
            if c.is_whitespace() {
                self.pos += c.len_utf8();
                continue;
            }
            let kind = if c == 'r' && self.peek_at(1) == Some('"') {
                self.pos += 1;
                TokenKind::Regex(self.string_body(start, false)?)
            } else if is_ident_start(c) {
                self.word()
            } else if c.is_ascii_digit() {
                self.number(start)?
            } else if c == '"' {
                TokenKind::Str(self.string_body(start, true)?)
            } else {
                self.punct(c, start)?
            };
            self.tokens.push(Token {
                kind,
                span: Span::new(start, self.pos),
            });
        }
        let end = self.src.len();
        self.tokens.push(Token {
            kind: TokenKind::Eof,
            span: Span::new(end, end),
        });
        Ok(())
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn error(&self, span: Span, message: impl Into<String>) -> KflError {
        KflError::Syntax(Diagnostic::new(self.src, span, message))
    }

    fn word(&mut self) -> TokenKind {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| is_ident_continue(*c)) {
            self.pos += c.len_utf8();
        }
        match &self.src[start..self.pos] {
            "and" => TokenKind::And,
            "or" => TokenKind::Or,
            "not" => TokenKind::Not,
            "true" => TokenKind::True,
            "false" => TokenKind::False,
            "nil" => TokenKind::Nil,
            word => TokenKind::Ident(word.to_string()),
        }
    }

    /// Decimal integers and floats (`42`, `3.14`, `1e3`, `2.5E-1`).
    fn number(&mut self, start: usize) -> Result<TokenKind, KflError> {
        self.digits();
        let mut float = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.pos += 1;
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek_at(1), Some('+' | '-')));
            if self.peek_at(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                self.pos += 1 + sign;
                self.digits();
            }
        }
        if self.peek().is_some_and(is_ident_continue) {
            let end = self.pos + self.peek().map_or(0, char::len_utf8);
            return Err(self.error(Span::new(start, end), "malformed number"));
        }
        let text = &self.src[start..self.pos];
        let span = Span::new(start, self.pos);
        if !float && let Some(i) = parse_int(text) {
            return Ok(TokenKind::Int(i));
        }
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(TokenKind::Float)
            .ok_or_else(|| self.error(span, "number out of range"))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// Reads a `"…"` body starting at the opening quote. `\` escapes the next character; with
    /// `unescape`, `\"` and `\\` become `"` and `\` and other escapes stay as written.
    fn string_body(&mut self, start: usize, unescape: bool) -> Result<String, KflError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self
                    .error(Span::new(start, self.pos), "unterminated string")
                    .help_if_syntax("close it with a double quote `\"`"));
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(next) = self.peek() else { continue };
                    self.pos += next.len_utf8();
                    if !(unescape && matches!(next, '"' | '\\')) {
                        out.push('\\');
                    }
                    out.push(next);
                }
                '\n' => {
                    return Err(self
                        .error(Span::new(start, self.pos - 1), "unterminated string")
                        .help_if_syntax("close it with a double quote `\"` on the same line"));
                }
                c => out.push(c),
            }
        }
    }

    fn punct(&mut self, c: char, start: usize) -> Result<TokenKind, KflError> {
        let next = self.peek_at(1);
        let (kind, len) = match (c, next) {
            ('=', Some('=')) => (TokenKind::Eq, 2),
            ('!', Some('=')) => (TokenKind::Ne, 2),
            ('>', Some('=')) => (TokenKind::Ge, 2),
            ('<', Some('=')) => (TokenKind::Le, 2),
            ('&', Some('&')) => (TokenKind::And, 2),
            ('|', Some('|')) => (TokenKind::Or, 2),
            ('!', _) => (TokenKind::Not, 1),
            ('>', _) => (TokenKind::Gt, 1),
            ('<', _) => (TokenKind::Lt, 1),
            ('-', _) => (TokenKind::Minus, 1),
            ('+', _) => (TokenKind::Plus, 1),
            ('(', _) => (TokenKind::LParen, 1),
            (')', _) => (TokenKind::RParen, 1),
            ('[', _) => (TokenKind::LBracket, 1),
            (']', _) => (TokenKind::RBracket, 1),
            ('.', _) => (TokenKind::Dot, 1),
            (',', _) => (TokenKind::Comma, 1),
            (':', _) => (TokenKind::Colon, 1),
            ('*', _) => (TokenKind::Star, 1),
            _ => return Err(self.unexpected_char(c, start)),
        };
        self.pos += len;
        Ok(kind)
    }

    fn unexpected_char(&self, c: char, start: usize) -> KflError {
        let span = Span::new(start, start + c.len_utf8());
        let help = match c {
            '=' => Some("compare with `==`"),
            '&' => Some("write `and` or `&&`"),
            '|' => Some("write `or` or `||`"),
            '\'' | '`' => Some("KFL strings use double quotes: \"…\""),
            _ => None,
        };
        let shown = if c.is_control() {
            c.escape_debug().to_string()
        } else {
            c.to_string()
        };
        let err = self.error(span, format!("unexpected character `{shown}`"));
        match help {
            Some(h) => err.help_if_syntax(h),
            None => err,
        }
    }
}

impl KflError {
    fn help_if_syntax(self, help: &str) -> KflError {
        match self {
            KflError::Syntax(d) => KflError::Syntax(d.with_help(help)),
            other => other,
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// An integer literal when it is one that a 64-bit column can hold, signed or unsigned.
pub(crate) fn parse_int(text: &str) -> Option<i128> {
    text.parse::<i128>()
        .ok()
        .filter(|i| (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        tokenize(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn operators_and_aliases() {
        use TokenKind::*;
        assert_eq!(
            kinds("a && b || !c and not d or e >= 1 != 2 <= -3"),
            vec![
                Ident("a".into()),
                And,
                Ident("b".into()),
                Or,
                Not,
                Ident("c".into()),
                And,
                Not,
                Ident("d".into()),
                Or,
                Ident("e".into()),
                Ge,
                Int(1),
                Ne,
                Int(2),
                Le,
                Minus,
                Int(3),
                Eof
            ]
        );
    }

    #[test]
    fn literals() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"42 2.5 1e3 "a\"b\\c\d" r"\d+\"" true false nil"#),
            vec![
                Int(42),
                Float(2.5),
                Float(1000.0),
                Str(r#"a"b\c\d"#.into()),
                Regex(r#"\d+\""#.into()),
                True,
                False,
                Nil,
                Eof
            ]
        );
        // A huge integer becomes a float rather than an error.
        assert_eq!(kinds("99999999999999999999"), vec![Float(1e20), Eof]);
        assert_eq!(
            kinds("18446744073709551615"),
            vec![Int(i128::from(u64::MAX)), Eof],
            "u64 ids stay exact"
        );
        assert_eq!(
            kinds("18446744073709551616"),
            vec![Float(18446744073709551616.0), Eof]
        );
    }

    #[test]
    fn spans_are_bytes() {
        let toks = tokenize("é == \"x\"").unwrap();
        assert_eq!(toks[0].span, Span::new(0, 2));
        assert_eq!(toks[1].span, Span::new(3, 5));
        assert_eq!(toks[2].span, Span::new(6, 9));
    }

    #[test]
    fn path_with_index_is_not_a_float() {
        use TokenKind::*;
        assert_eq!(
            kinds("a[1].b"),
            vec![
                Ident("a".into()),
                LBracket,
                Int(1),
                RBracket,
                Dot,
                Ident("b".into()),
                Eof
            ]
        );
    }

    #[test]
    fn errors() {
        for (src, msg) in [
            ("a = 1", "unexpected character `=`"),
            ("\"abc", "unterminated string"),
            ("'a'", "unexpected character `'`"),
            ("a \u{7}", "unexpected character `\\u{7}`"),
            ("12ab", "malformed number"),
            ("a # b", "unexpected character `#`"),
            ("1e999", "number out of range"),
        ] {
            let err = tokenize(src).unwrap_err();
            assert_eq!(err.diagnostic().message, msg, "{src}");
        }
    }
}
