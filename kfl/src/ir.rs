//! The checked, typed form of a query: what the checker produces and the DataFusion compiler and
//! the SQL renderer consume. Every selector is resolved to a column, every literal has the type
//! of what it is compared with, and constant parts are folded.
//!
//! Predicates are three-valued like SQL: a comparison with a missing (NULL) value is NULL, and a
//! filter keeps only the rows where the predicate is TRUE.

pub use crate::ast::CmpOp;

/// The type of a scalar value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// An integer.
    Int,
    /// A floating-point number.
    Float,
    /// Text.
    Str,
    /// A point in time (µs since the epoch, UTC).
    Timestamp,
    /// A boolean column (only ever used as a condition).
    Bool,
}

impl ValueType {
    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Int | ValueType::Float => "number",
            ValueType::Str => "string",
            ValueType::Timestamp => "time",
            ValueType::Bool => "condition",
        }
    }

    /// Whether values of this type are numbers.
    pub fn is_numeric(self) -> bool {
        matches!(self, ValueType::Int | ValueType::Float)
    }
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// An integer (`i64` or `u64` range).
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// Text.
    Str(String),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
}

impl Lit {
    /// Its type.
    pub fn ty(&self) -> ValueType {
        match self {
            Lit::Int(_) => ValueType::Int,
            Lit::Float(_) => ValueType::Float,
            Lit::Str(_) => ValueType::Str,
            Lit::Timestamp(_) => ValueType::Timestamp,
        }
    }
}

/// A scalar expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A column of the `entries` table.
    Column {
        /// Column name.
        name: &'static str,
        /// Its KFL type.
        ty: ValueType,
    },
    /// The value under `key` (lower-case) in a `Map<Utf8, Utf8>` column; NULL when absent.
    MapGet {
        /// Column name.
        column: &'static str,
        /// The key, lower-case.
        key: String,
    },
    /// A constant.
    Lit(Lit),
    /// A number as its decimal text, for regex and string helpers on numeric fields.
    AsText(Box<Value>),
}

impl Value {
    /// Its type.
    pub fn ty(&self) -> ValueType {
        match self {
            Value::Column { ty, .. } => *ty,
            Value::MapGet { .. } | Value::AsText(_) => ValueType::Str,
            Value::Lit(l) => l.ty(),
        }
    }
}

/// The string tests `startsWith`, `endsWith`, `contains`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFn {
    /// `startsWith(s)`: prefix test.
    StartsWith,
    /// `endsWith(s)`: suffix test.
    EndsWith,
    /// `contains(s)`: substring test.
    Contains,
}

impl TextFn {
    /// The KFL helper name.
    pub fn kfl_name(self) -> &'static str {
        match self {
            TextFn::StartsWith => "startsWith",
            TextFn::EndsWith => "endsWith",
            TextFn::Contains => "contains",
        }
    }

    /// The DataFusion / SQL function name.
    pub fn sql_name(self) -> &'static str {
        match self {
            TextFn::StartsWith => "starts_with",
            TextFn::EndsWith => "ends_with",
            TextFn::Contains => "contains",
        }
    }
}

/// A three-valued predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    /// TRUE, FALSE or NULL (`None`).
    Const(Option<bool>),
    /// Negation (NULL stays NULL).
    Not(Box<Pred>),
    /// Conjunction of two or more predicates.
    And(Vec<Pred>),
    /// Disjunction of two or more predicates.
    Or(Vec<Pred>),
    /// A comparison; both sides have compatible types and at most one is a literal.
    Cmp {
        /// Operator.
        op: CmpOp,
        /// Left side.
        lhs: Value,
        /// Right side.
        rhs: Value,
    },
    /// `value IS NULL` (or `IS NOT NULL` when negated); never NULL itself.
    IsNull {
        /// What is tested.
        value: Value,
        /// `IS NOT NULL` when true.
        negated: bool,
    },
    /// A bare value used as a condition: present and non-empty (text), present and above zero
    /// (numbers), present (times), TRUE (booleans). Never NULL.
    Truthy(Value),
    /// Unanchored RE2 match of a text value.
    Regex {
        /// The text.
        value: Value,
        /// The pattern.
        pattern: String,
        /// `!=` in KFL: the match fails.
        negated: bool,
    },
    /// `startsWith` / `endsWith` / `contains`.
    Text {
        /// Which test.
        func: TextFn,
        /// The text tested.
        value: Value,
        /// The prefix, suffix or substring.
        arg: Value,
    },
}

impl Pred {
    /// TRUE.
    pub const TRUE: Pred = Pred::Const(Some(true));
    /// FALSE.
    pub const FALSE: Pred = Pred::Const(Some(false));
    /// NULL.
    pub const NULL: Pred = Pred::Const(None);

    /// `NOT p`, folding constants and double negation (both exact in three-valued logic).
    pub fn negate(self) -> Pred {
        match self {
            Pred::Const(b) => Pred::Const(b.map(|b| !b)),
            Pred::Not(p) => *p,
            Pred::IsNull { value, negated } => Pred::IsNull {
                value,
                negated: !negated,
            },
            p => Pred::Not(Box::new(p)),
        }
    }

    /// `p1 AND p2 AND …`, flattening nested conjunctions and folding TRUE and FALSE.
    pub fn and(parts: Vec<Pred>) -> Pred {
        Self::junction(parts, true)
    }

    /// `p1 OR p2 OR …`, flattening nested disjunctions and folding TRUE and FALSE.
    pub fn or(parts: Vec<Pred>) -> Pred {
        Self::junction(parts, false)
    }

    /// `is_and`: TRUE is the identity and FALSE absorbs; for OR the other way round.
    fn junction(parts: Vec<Pred>, is_and: bool) -> Pred {
        let mut out = Vec::with_capacity(parts.len());
        for p in parts {
            match p {
                Pred::Const(Some(b)) if b == is_and => {}
                Pred::Const(Some(b)) => return Pred::Const(Some(b)),
                Pred::And(inner) if is_and => out.extend(inner),
                Pred::Or(inner) if !is_and => out.extend(inner),
                // NULL AND NULL and NULL OR NULL are NULL: one is enough.
                Pred::Const(None) if out.contains(&Pred::NULL) => {}
                p => out.push(p),
            }
        }
        match out.len() {
            0 => Pred::Const(Some(is_and)),
            1 => out.remove(0),
            _ if is_and => Pred::And(out),
            _ => Pred::Or(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col() -> Pred {
        Pred::Truthy(Value::Column {
            name: "src_ip",
            ty: ValueType::Str,
        })
    }

    #[test]
    fn folding() {
        assert_eq!(Pred::and(vec![Pred::TRUE, col()]), col());
        assert_eq!(Pred::and(vec![col(), Pred::FALSE]), Pred::FALSE);
        assert_eq!(Pred::or(vec![Pred::FALSE, Pred::FALSE]), Pred::FALSE);
        assert_eq!(Pred::or(vec![col(), Pred::TRUE]), Pred::TRUE);
        assert_eq!(Pred::and(vec![]), Pred::TRUE);
        // NULL is kept: NULL AND x is not x.
        assert_eq!(
            Pred::and(vec![Pred::NULL, col()]),
            Pred::And(vec![Pred::NULL, col()])
        );
        assert_eq!(Pred::NULL.negate(), Pred::NULL);
        assert_eq!(col().negate().negate(), col());
        let nested = Pred::and(vec![Pred::And(vec![col(), col()]), col()]);
        assert!(matches!(nested, Pred::And(v) if v.len() == 3));
    }
}
