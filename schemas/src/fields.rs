//! The KFL field map: Kubeshark's field paths (`src.ip`, `error.type`, ...) and bare names
//! (`tcp`, `error`, ...) resolved to columns of the `entries` table.

use crate::entries::entry_col as c;

/// The value type a KFL path has, for the checker and compiler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// An integer (any width, signed or not).
    Int,
    /// A point in time (µs UTC in storage; ms in KFL literals).
    Timestamp,
    /// A boolean.
    Bool,
}

/// How a KFL path is evaluated against a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// The value of one column.
    Column(&'static str),
    /// A bare name that is true when `column == value` (protocol and kind names).
    Equals(&'static str, &'static str),
    /// A bare name that is true when the column is not null (`error`).
    Present(&'static str),
    /// A `Map<Utf8, Utf8>` column read by key, `request.headers["User-Agent"]`; keys are stored
    /// lower-case and looked up case-insensitively. `ty` is the type of the values.
    Map(&'static str),
}

/// One entry of the field map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPath {
    /// The dotted KFL path, e.g. `response.status`.
    pub path: &'static str,
    /// How it maps onto the table.
    pub kind: FieldKind,
    /// Its type.
    pub ty: FieldType,
    /// One line for documentation and suggestions.
    pub doc: &'static str,
}

const fn col(
    path: &'static str,
    column: &'static str,
    ty: FieldType,
    doc: &'static str,
) -> FieldPath {
    FieldPath {
        path,
        kind: FieldKind::Column(column),
        ty,
        doc,
    }
}

const fn is(
    path: &'static str,
    column: &'static str,
    value: &'static str,
    doc: &'static str,
) -> FieldPath {
    FieldPath {
        path,
        kind: FieldKind::Equals(column, value),
        ty: FieldType::Bool,
        doc,
    }
}

const fn map(path: &'static str, column: &'static str, doc: &'static str) -> FieldPath {
    FieldPath {
        path,
        kind: FieldKind::Map(column),
        ty: FieldType::String,
        doc,
    }
}

use FieldType::{Int, String as Str, Timestamp};

static FIELDS: &[FieldPath] = &[
    col("id", c::ID, Int, "entry id"),
    col("timestamp", c::TIMESTAMP, Timestamp, "time of the event"),
    col(
        "kind",
        c::KIND,
        Str,
        "entry kind: tcp, timeout, loss, icmp, http, dns",
    ),
    col(
        "protocol.name",
        c::PROTOCOL_NAME,
        Str,
        "protocol name: tcp, udp, icmp, http, dns",
    ),
    col(
        "protocol.abbr",
        c::PROTOCOL_ABBR,
        Str,
        "protocol abbreviation: TCP, UDP, ICMPv4, ICMPv6, HTTP, DNS",
    ),
    col(
        "protocol.layer4",
        c::TRANSPORT,
        Str,
        "transport: tcp, udp, icmp, icmp6",
    ),
    col("ip.version", c::IP_VERSION, Int, "IP version, 4 or 6"),
    col(
        "flow_id",
        c::FLOW_ID,
        Int,
        "id of the flow (joins flows.flow_id)",
    ),
    col(
        "community_id",
        c::COMMUNITY_ID,
        Str,
        "Community ID of the flow",
    ),
    col("src.ip", c::SRC_IP, Str, "source address"),
    col("src.port", c::SRC_PORT, Int, "source port"),
    col("dst.ip", c::DST_IP, Str, "destination address"),
    col("dst.port", c::DST_PORT, Int, "destination port"),
    col("capture.vlan.id", c::VLAN, Int, "outer VLAN id"),
    col(
        "capture.source",
        c::CAPTURE_SOURCE,
        Str,
        "capture file or interface",
    ),
    col(
        "captureSource",
        c::CAPTURE_SOURCE,
        Str,
        "capture file or interface (Kubeshark's name)",
    ),
    col("summary", c::SUMMARY, Str, "one-line summary"),
    col(
        "error.type",
        c::ERROR_TYPE,
        Str,
        "connection, timeout, loss, dissection, pair-not-found",
    ),
    col(
        "error.msg",
        c::ERROR_MSG,
        Str,
        "error message, e.g. the TCP state name",
    ),
    col(
        "error.reason",
        c::ERROR_REASON,
        Str,
        "why the error happened",
    ),
    col("icmp.version", c::ICMP_VERSION, Int, "ICMP version, 4 or 6"),
    col("icmp.type", c::ICMP_TYPE, Int, "ICMP type"),
    col("icmp.code", c::ICMP_CODE, Int, "ICMP code"),
    col(
        "icmp.quoted.proto",
        c::QUOTED_PROTO,
        Int,
        "IP protocol of the quoted packet",
    ),
    col(
        "icmp.quoted.src.ip",
        c::QUOTED_SRC_IP,
        Str,
        "source of the quoted packet",
    ),
    col(
        "icmp.quoted.src.port",
        c::QUOTED_SRC_PORT,
        Int,
        "source port of the quoted packet",
    ),
    col(
        "icmp.quoted.dst.ip",
        c::QUOTED_DST_IP,
        Str,
        "destination of the quoted packet",
    ),
    col(
        "icmp.quoted.dst.port",
        c::QUOTED_DST_PORT,
        Int,
        "destination port of the quoted packet",
    ),
    col(
        "loss.retransmissions",
        c::RETRANSMISSIONS,
        Int,
        "retransmitted segments",
    ),
    col(
        "loss.fast_retransmissions",
        c::FAST_RETRANSMISSIONS,
        Int,
        "fast retransmissions",
    ),
    col(
        "loss.lost_segments",
        c::LOST_SEGMENTS,
        Int,
        "previous segment not captured",
    ),
    col(
        "loss.ack_lost_segments",
        c::ACK_LOST_SEGMENTS,
        Int,
        "ACKed unseen segments",
    ),
    col("loss.dup_acks", c::DUP_ACKS, Int, "duplicate ACKs"),
    col(
        "loss.out_of_order",
        c::OUT_OF_ORDER,
        Int,
        "out-of-order segments",
    ),
    col(
        "loss.zero_windows",
        c::ZERO_WINDOWS,
        Int,
        "zero-window advertisements",
    ),
    col(
        "loss.capture_drops",
        c::CAPTURE_DROPS,
        Int,
        "packets dropped by the capture",
    ),
    col(
        "loss.capture_interval_us",
        c::CAPTURE_INTERVAL_US,
        Int,
        "interval the capture drops were counted over, µs",
    ),
    col(
        "src.name",
        c::SRC_NAME,
        Str,
        "name of the source, when known",
    ),
    col(
        "dst.name",
        c::DST_NAME,
        Str,
        "name of the destination, when known",
    ),
    col("request.method", c::REQUEST_METHOD, Str, "HTTP method"),
    col("request.path", c::REQUEST_PATH, Str, "HTTP request path"),
    col("request.host", c::REQUEST_HOST, Str, "HTTP Host"),
    map(
        "request.headers",
        c::REQUEST_HEADERS,
        "HTTP request headers: request.headers[\"User-Agent\"]",
    ),
    col(
        "response.status",
        c::RESPONSE_STATUS,
        Int,
        "HTTP status code",
    ),
    col(
        "response.statusText",
        c::RESPONSE_STATUS_TEXT,
        Str,
        "HTTP reason phrase",
    ),
    map(
        "response.headers",
        c::RESPONSE_HEADERS,
        "HTTP response headers: response.headers[\"Content-Type\"]",
    ),
    col("requestSize", c::REQUEST_SIZE, Int, "request size in bytes"),
    col(
        "responseSize",
        c::RESPONSE_SIZE,
        Int,
        "response size in bytes",
    ),
    col(
        "elapsedTime",
        c::ELAPSED_MS,
        Int,
        "response time minus request time, ms",
    ),
    col("dns.name", c::DNS_NAME, Str, "DNS question name"),
    col(
        "request.questions[0].name",
        c::DNS_NAME,
        Str,
        "DNS question name (Kubeshark's path)",
    ),
    col(
        "dns.type",
        c::DNS_TYPE,
        Str,
        "DNS question type: A, AAAA, ...",
    ),
    col(
        "request.questions[0].type",
        c::DNS_TYPE,
        Str,
        "DNS question type (Kubeshark's path)",
    ),
    col(
        "dns.rcode",
        c::DNS_RCODE,
        Int,
        "DNS response code: 0 NoError, 3 NXDomain, ...",
    ),
    col(
        "dns.answers",
        c::DNS_ANSWERS,
        Str,
        "DNS answers as text: `A 192.0.2.1, CNAME b.example`",
    ),
    col(
        "request.body",
        c::REQUEST_BODY,
        Str,
        "first bytes of the HTTP request body: request.body.contains(\"id\")",
    ),
    col(
        "response.body",
        c::RESPONSE_BODY,
        Str,
        "first bytes of the HTTP response body: response.body.contains(\"error\")",
    ),
    is(
        "tcp",
        c::PROTOCOL_NAME,
        "tcp",
        "TCP-level entries (connection errors, timeouts, loss)",
    ),
    is("udp", c::PROTOCOL_NAME, "udp", "UDP-level entries"),
    is("icmp", c::PROTOCOL_NAME, "icmp", "ICMP and ICMPv6 entries"),
    is("http", c::PROTOCOL_NAME, "http", "HTTP transactions"),
    is("dns", c::PROTOCOL_NAME, "dns", "DNS transactions"),
    is("loss", c::KIND, "loss", "packet-loss entries"),
    is("timeout", c::KIND, "timeout", "stale-stream entries"),
    FieldPath {
        path: "error",
        kind: FieldKind::Present(c::ERROR_TYPE),
        ty: FieldType::Bool,
        doc: "any entry that carries an error",
    },
];

/// Every KFL path the `entries` table knows.
pub fn fields() -> &'static [FieldPath] {
    FIELDS
}

/// Looks up a KFL path (exact, case-sensitive as in Kubeshark).
pub fn field(path: &str) -> Option<&'static FieldPath> {
    FIELDS.iter().find(|f| f.path == path)
}

/// All known paths, for "did you mean" suggestions.
pub fn field_names() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|f| f.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entries_schema;

    #[test]
    fn every_column_exists() {
        let schema = entries_schema();
        for f in fields() {
            let column = match f.kind {
                FieldKind::Column(c)
                | FieldKind::Equals(c, _)
                | FieldKind::Present(c)
                | FieldKind::Map(c) => c,
            };
            assert!(
                schema.field_with_name(column).is_ok(),
                "{} -> {column}",
                f.path
            );
        }
    }

    #[test]
    fn lookup() {
        assert_eq!(
            field("src.ip").map(|f| f.kind),
            Some(FieldKind::Column("src_ip"))
        );
        assert!(field("nope").is_none());
    }
}
