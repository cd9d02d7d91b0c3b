//! Selector resolution: a KFL path to a column of the `entries` table, a Kubeshark field that
//! faultline does not record, or an error with a "did you mean" hint.

use faultline_schemas::{FieldKind, FieldPath, entries_schema, field, field_names, fields};

use crate::ast::{Segment, Selector, path_of};
use crate::diag::{Diagnostic, KflError};

/// What a selector names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    /// A field of the map (a column, a bare protocol/kind name or `error`).
    Field(&'static FieldPath),
    /// A key (lower-cased) of a map column.
    MapKey(&'static str, String),
    /// A Kubeshark field faultline does not record: always missing.
    Absent(String),
    /// A Kubeshark protocol name faultline never produces: false on every entry.
    NeverProduced(String),
}

/// Kubeshark protocol macros and KFL2 booleans for traffic faultline does not dissect.
const NEVER_PRODUCED: &[&str] = &[
    "http2",
    "grpc",
    "gql",
    "gqlv1",
    "gqlv2",
    "amqp",
    "kafka",
    "redis",
    "tls",
    "sctp",
    "ws",
    "ldap",
    "radius",
    "diameter",
    "mongodb",
    "mysql",
    "postgresql",
    "conn",
    "flow",
    "tcp_conn",
    "udp_conn",
    "tcp_flow",
    "udp_flow",
];

/// Kubeshark entry fields (`kubeshark/api` `Entry`) that faultline does not record. A path
/// equal to one of these or below it resolves to an always-missing value.
const KUBESHARK_ONLY: &[&str] = &[
    "index",
    "stream",
    "worker",
    "node",
    "passed",
    "failed",
    "startTime",
    "size",
    "record",
    "entryFile",
    "duplicate",
    "outgoing",
    "namespace",
    "matcherKey",
    "subProtocol",
    "requestRef",
    "responseRef",
    "dataRef",
    "eventRef",
    "checksums",
    "networkProps",
    "event",
    "protocol.version",
    "protocol.longName",
    "protocol.macro",
    "protocol.backgroundColor",
    "protocol.foregroundColor",
    "protocol.fontSize",
    "protocol.referenceLink",
    "protocol.ports",
    "protocol.layer3",
    "protocol.priority",
    "capture.backend",
    "capture.proxy",
    "capture.vlan.dot1q",
];

/// Kubeshark's `Resolution` fields of `src` and `dst` that faultline does not record.
const RESOLUTION_ONLY: &[&str] = &[
    "namespace",
    "pod",
    "service",
    "endpointSlice",
    "cgroupId",
    "containerId",
    "socketId",
    "processId",
    "parentProcessId",
    "hostProcessId",
    "hostParentProcessId",
    "processName",
    "processPath",
    "cpuUsage",
    "memoryUsage",
    "resolutionMechanism",
];

/// Protocol payload roots: Kubeshark's request/response objects are open-ended per protocol
/// (`request.queue`, `response.payload.errorCode`), so unknown paths below them are missing
/// values rather than errors, unless they are a near miss of a known field.
const PAYLOAD_ROOTS: &[&str] = &["request", "response"];

/// KFL2 (CEL) names and what KFL calls them here.
const KFL2_NAMES: &[(&str, &str)] = &[
    ("status_code", "response.status"),
    ("method", "request.method"),
    ("path", "request.path"),
    ("url", "request.path"),
    ("tcp_error_type", "error.type"),
    ("tcp_error_message", "error.msg"),
    ("icmp_type", "icmp.type"),
    ("icmp_version", "icmp.version"),
    ("src.dns", "src.name"),
    ("dst.dns", "dst.name"),
    ("capture_source", "capture.source"),
    ("dns_questions", "dns.name"),
    ("elapsed_time", "elapsedTime"),
    ("response_body_size", "responseSize"),
];

/// Resolves a selector.
pub(crate) fn resolve(sel: &Selector, src: &str) -> Result<Resolved, KflError> {
    let path = sel.path();
    if let Some(f) = field(&path) {
        return match f.kind {
            FieldKind::Map(_) => Err(KflError::Type(
                Diagnostic::new(src, sel.span, format!("`{path}` is a map; pick one key"))
                    .with_help(format!("write `{path}[\"User-Agent\"]`")),
            )),
            _ => Ok(Resolved::Field(f)),
        };
    }
    if let Some(found) = known_prefix(sel, src)? {
        return Ok(found);
    }
    if sel.segments.len() == 1 && NEVER_PRODUCED.contains(&path.as_str()) {
        return Ok(Resolved::NeverProduced(path));
    }
    let root = match &sel.segments[0] {
        Segment::Field(name) => name.as_str(),
        _ => "",
    };
    if is_kubeshark_only(&path) {
        return Ok(Resolved::Absent(path));
    }
    let suggestion = suggest(&path).or_else(|| suggest(&field_prefix(sel)));
    if PAYLOAD_ROOTS.contains(&root) && !suggestion.as_ref().is_some_and(|s| s.near) {
        return Ok(Resolved::Absent(path));
    }
    let mut diag = Diagnostic::new(src, sel.span, format!("unknown field `{path}`"));
    diag = match suggestion {
        Some(s) => diag.with_help(s.help),
        None => diag.with_help("the fields are listed in kfl/README.md"),
    };
    Err(KflError::UnknownField(diag))
}

/// The longest known field that is a strict prefix of the selector: a map key, or an error for
/// stepping into a scalar (`src.ip.x`, `request.path[1]`).
fn known_prefix(sel: &Selector, src: &str) -> Result<Option<Resolved>, KflError> {
    for n in (1..sel.segments.len()).rev() {
        let prefix_path = path_of(&sel.segments[..n]);
        let Some(f) = field(&prefix_path) else {
            continue;
        };
        let rest = &sel.segments[n..];
        let (owner, what, step) = match (f.kind, rest) {
            (FieldKind::Map(column), [Segment::Key(k) | Segment::Field(k)]) => {
                return Ok(Some(Resolved::MapKey(column, k.to_lowercase())));
            }
            (FieldKind::Map(_), [Segment::Index(_), ..]) => (
                prefix_path,
                "a map",
                "index it with a quoted key".to_string(),
            ),
            (FieldKind::Map(_), [_, next, ..]) => {
                (path_of(&sel.segments[..=n]), "a string", step_word(next))
            }
            (FieldKind::Column(_), [next, ..]) => (prefix_path, type_word(f), step_word(next)),
            (_, [next, ..]) => (prefix_path, "a condition", step_word(next)),
            (_, []) => continue,
        };
        return Err(KflError::Type(Diagnostic::new(
            src,
            sel.span,
            format!("`{owner}` is {what}: {step}"),
        )));
    }
    Ok(None)
}

fn type_word(f: &FieldPath) -> &'static str {
    match f.ty {
        faultline_schemas::FieldType::String => "a string",
        faultline_schemas::FieldType::Int => "a number",
        faultline_schemas::FieldType::Timestamp => "a time",
        faultline_schemas::FieldType::Bool => "a condition",
    }
}

fn step_word(seg: &Segment) -> String {
    match seg {
        Segment::Index(_) => "it cannot be indexed".to_string(),
        Segment::Key(k) => format!("it has no key \"{k}\""),
        Segment::Field(name) => format!("it has no field `{name}`"),
    }
}

fn is_kubeshark_only(path: &str) -> bool {
    let leaf = path
        .strip_prefix("src.")
        .or_else(|| path.strip_prefix("dst."));
    KUBESHARK_ONLY.iter().any(|base| is_at_or_below(path, base))
        || leaf.is_some_and(|leaf| {
            RESOLUTION_ONLY
                .iter()
                .any(|base| is_at_or_below(leaf, base))
        })
}

/// `path` is `base` or a step below it (`base.x`, `base[0]`).
fn is_at_or_below(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// The dotted names before the first index or key: `request.query` for `request.query["x"]`.
fn field_prefix(sel: &Selector) -> String {
    let names: Vec<&str> = sel
        .segments
        .iter()
        .map_while(|s| match s {
            Segment::Field(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    names.join(".")
}

/// A hint for an unknown path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Suggestion {
    /// The help text.
    pub help: String,
    /// Whether the path is a near miss of a known field (a typo), not a different name.
    pub near: bool,
}

/// Finds the field the user probably meant.
pub(crate) fn suggest(path: &str) -> Option<Suggestion> {
    let did_you_mean = |p: &str, near: bool| {
        Some(Suggestion {
            help: format!("did you mean `{p}`?"),
            near,
        })
    };
    if let Some((_, ours)) = KFL2_NAMES.iter().find(|(name, _)| *name == path) {
        return Some(Suggestion {
            help: format!("`{path}` is a KFL2 (CEL) name; in KFL write `{ours}`"),
            near: false,
        });
    }
    if let Some(p) = path_of_column(path) {
        return did_you_mean(p, true);
    }
    if let Some(p) = field_names().find(|p| p.eq_ignore_ascii_case(path)) {
        return did_you_mean(p, true);
    }
    let limit = if path.len() >= 5 { 2 } else { 1 };
    let best = field_names()
        .map(|p| (strsim::damerau_levenshtein(path, p), p))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d);
    if let Some((_, p)) = best {
        return did_you_mean(p, true);
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    let mut same_leaf = field_names().filter(|p| p.rsplit('.').next() == Some(last) && *p != path);
    match (same_leaf.next(), same_leaf.next()) {
        (Some(p), None) => did_you_mean(p, false),
        _ => None,
    }
}

/// The KFL path of a column written by its SQL name (`response_status`).
fn path_of_column(name: &str) -> Option<&'static str> {
    entries_schema().field_with_name(name).ok()?;
    fields()
        .iter()
        .find(|f| matches!(f.kind, FieldKind::Column(c) | FieldKind::Map(c) if c == name))
        .map(|f| f.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::ExprKind;
    use crate::parser::parse;

    fn res(src: &str) -> Result<Resolved, KflError> {
        let q = parse(src).unwrap().expr.unwrap();
        let ExprKind::Selector(sel) = q.kind else {
            panic!("{src}")
        };
        resolve(&sel, src)
    }

    fn help(src: &str) -> String {
        res(src)
            .unwrap_err()
            .diagnostic()
            .help
            .clone()
            .unwrap_or_default()
    }

    #[test]
    fn fields_and_keys() {
        assert!(matches!(res("src.ip"), Ok(Resolved::Field(f)) if f.path == "src.ip"));
        assert!(
            matches!(res("request.questions[0].name"), Ok(Resolved::Field(f)) if f.path == "request.questions[0].name")
        );
        assert!(
            matches!(res("request.headers[\"User-Agent\"]"), Ok(Resolved::MapKey("request_headers", k)) if k == "user-agent")
        );
        assert!(
            matches!(res("response.headers.Server"), Ok(Resolved::MapKey("response_headers", k)) if k == "server")
        );
    }

    #[test]
    fn absent_and_never_produced() {
        for path in [
            "src.namespace",
            "src.pod.metadata.name",
            "node.name",
            "request.query[\"x\"]",
            "response.payload.errorCode",
        ] {
            assert_eq!(res(path).unwrap(), Resolved::Absent(path.into()), "{path}");
        }
        assert_eq!(
            res("kafka").unwrap(),
            Resolved::NeverProduced("kafka".into())
        );
    }

    #[test]
    fn errors_and_hints() {
        for (src, want) in [
            ("response.stauts", "did you mean `response.status`?"),
            ("request.header[\"a\"]", "did you mean `request.headers`?"),
            ("response_status", "did you mean `response.status`?"),
            ("SRC.IP", "did you mean `src.ip`?"),
            (
                "status_code",
                "`status_code` is a KFL2 (CEL) name; in KFL write `response.status`",
            ),
            ("zzz", "the fields are listed in kfl/README.md"),
        ] {
            assert_eq!(help(src), want, "{src}");
        }
        for (src, want) in [
            ("src.ip.x", "`src.ip` is a string: it has no field `x`"),
            (
                "request.path[1]",
                "`request.path` is a string: it cannot be indexed",
            ),
            (
                "request.headers[0]",
                "`request.headers` is a map: index it with a quoted key",
            ),
            (
                "request.headers",
                "`request.headers` is a map; pick one key",
            ),
            (
                "request.headers[\"a\"].x",
                "`request.headers[\"a\"]` is a string: it has no field `x`",
            ),
        ] {
            let message = res(src).unwrap_err().diagnostic().message.clone();
            assert_eq!(message, want, "{src}");
        }
    }
}
