//! Tests of the checker: folding, typing, nil, absent fields, `limit`, warnings and errors.

use super::mixed_logic::right_grouped;
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
    for (src, want) in [
        (
            "response.status > \"abc\"",
            "`response.status` is a number and \"abc\" is not",
        ),
        (
            "src.ip > 5",
            "`src.ip` is a string; it cannot be ordered against a number",
        ),
        (
            "r\"a\" > 1",
            "a regex can only be compared with `==` or `!=`",
        ),
        ("src.ip == r\"(\"", "invalid regex: unclosed group"),
        ("tcp == 1", "cannot compare a condition with a number"),
        (
            "!src.ip == \"1.2.3.4\"",
            "cannot compare a condition with a string",
        ),
        ("tcp == icmp", "cannot compare two conditions"),
        (
            "src.ip == src.port",
            "cannot compare a string with a number",
        ),
        (
            "timestamp > \"yesterday\"",
            "`timestamp` is a time; compare it with a time, not a string",
        ),
        (
            "elapsedTime > now()",
            "`elapsedTime` is a number, not a time",
        ),
        ("a.startsWithx(\"b\")", "unknown helper `startsWithx()`"),
        (
            "src.ip.startsWith()",
            "`startsWith()` takes one argument, got 0",
        ),
        (
            "startsWith(\"a\")",
            "`startsWith()` is a method: call it on a field",
        ),
        (
            "datetime(\"yesterday\")",
            "cannot read \"yesterday\" as a date",
        ),
        ("seconds(\"5\")", "`seconds()` takes a number"),
        (
            "src.ip.now()",
            "`now()` is a function, not a method: call it without `src.ip.`",
        ),
        (
            "response.body.json()",
            "`json()` is not supported: faultline stores no payloads to decode",
        ),
        ("-src.port > 1", "unary `-` applies only to number literals"),
        ("nil > 1", "nil can only be compared with `==` or `!=`"),
        ("tcp > true", "conditions cannot be ordered"),
        ("timestamp == r\"1\"", "a regex cannot match a time"),
    ] {
        assert_eq!(err(src), want, "{src}");
    }
    assert_eq!(err("years(1e300)"), "time out of range");
}
