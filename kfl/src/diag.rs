//! Spans, errors and warnings, and their rendering with a caret under the offending text.

use std::fmt;

/// A byte range `start..end` in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (bytes).
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// The text this span covers (empty if it does not fall on character boundaries).
    pub fn text(self, source: &str) -> &str {
        source.get(self.start..self.end).unwrap_or("")
    }
}

/// A line and column, both 1-based; the column counts characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `source`.
    pub fn of(source: &str, offset: usize) -> Position {
        let offset = floor_boundary(source, offset);
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Position { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

fn floor_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// One message about a place in the query: what is wrong, where, and optionally how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, one line.
    pub message: String,
    /// Where, in bytes.
    pub span: Span,
    /// Where, as line and column of the span's start.
    pub position: Position,
    /// A hint ("did you mean `response.status`?").
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `span` of `source`.
    pub fn new(source: &str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            span,
            position: Position::of(source, span.start),
            help: None,
        }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders `label: message`, the source line and a caret line under the span, and the hint.
    pub fn render(&self, label: &str, source: &str) -> String {
        let Position { line, column } = self.position;
        let text = source.lines().nth(line - 1).unwrap_or("");
        let start = floor_boundary(source, self.span.start);
        let end = floor_boundary(source, self.span.end.max(start));
        // The caret covers the span's part on its first line, at least one character.
        let on_line = source[start..end].split('\n').next().unwrap_or("");
        let width = on_line.chars().count().max(1);
        let gutter = " ".repeat(line.to_string().len());
        let mut out = format!(
            "{label}: {}\n{gutter}--> {line}:{column}\n{gutter} |\n{line} | {text}\n{gutter} | {}{}",
            self.message,
            " ".repeat(column - 1),
            "^".repeat(width)
        );
        if let Some(help) = &self.help {
            out.push_str(&format!("\n{gutter} = help: {help}"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.message, self.position)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Why a KFL query was rejected. Every variant carries the place and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KflError {
    /// The text is not KFL: a bad token, or tokens in an order the grammar does not allow.
    #[error("syntax error: {0}")]
    Syntax(Diagnostic),
    /// A selector that names no field of the `entries` table.
    #[error("unknown field: {0}")]
    UnknownField(Diagnostic),
    /// Operands whose types do not go together (`response.status > "abc"`, `r"x" > 1`).
    #[error("type error: {0}")]
    Type(Diagnostic),
    /// A helper that is unknown or called with the wrong arguments.
    #[error("bad helper call: {0}")]
    Helper(Diagnostic),
    /// A KFL feature faultline does not implement (payload decoding, wildcards, redaction).
    #[error("unsupported: {0}")]
    Unsupported(Diagnostic),
}

impl KflError {
    /// The diagnostic inside.
    pub fn diagnostic(&self) -> &Diagnostic {
        match self {
            KflError::Syntax(d)
            | KflError::UnknownField(d)
            | KflError::Type(d)
            | KflError::Helper(d)
            | KflError::Unsupported(d) => d,
        }
    }

    /// Renders the error with the query line and a caret under the offending text.
    pub fn render(&self, source: &str) -> String {
        self.diagnostic().render("error", source)
    }
}

/// Something legal but probably not what the user meant, or a place where faultline reads a
/// query differently from Kubeshark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub Diagnostic);

impl Warning {
    /// The message, one line.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Renders the warning with the query line and a caret under the text it is about.
    pub fn render(&self, source: &str) -> String {
        self.0.render("warning", source)
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_lines_and_characters() {
        let src = "a and\n  é == 1";
        assert_eq!(Position::of(src, 0), Position { line: 1, column: 1 });
        let at = src.find("==").unwrap();
        assert_eq!(Position::of(src, at), Position { line: 2, column: 5 });
        // Inside a multi-byte character: clamps to its start.
        let e = src.find('é').unwrap();
        assert_eq!(Position::of(src, e + 1), Position { line: 2, column: 3 });
    }

    #[test]
    fn render_puts_caret_under_span() {
        let src = "x and\nresponse.stauts == 1";
        let start = src.find("response").unwrap();
        let d = Diagnostic::new(
            src,
            Span::new(start, start + 15),
            "unknown field `response.stauts`",
        )
        .with_help("did you mean `response.status`?");
        let want = "error: unknown field `response.stauts`\n --> 2:1\n  |\n2 | response.stauts == 1\n  | ^^^^^^^^^^^^^^^\n  = help: did you mean `response.status`?";
        assert_eq!(d.render("error", src), want);
    }

    #[test]
    fn render_empty_span_at_end() {
        let src = "a ==";
        let d = Diagnostic::new(src, Span::new(4, 4), "expected a value");
        assert!(d.render("error", src).ends_with("1 | a ==\n  |     ^"));
    }
}
