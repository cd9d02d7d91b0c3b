//! The `entries` table: one row per noteworthy event.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::timestamp_type;

/// Column names of the `entries` table, for builders and queries.
pub mod entry_col {
    /// Unique entry id (deterministic for a given capture).
    pub const ID: &str = "id";
    /// Time of the event (capture time), µs UTC.
    pub const TIMESTAMP: &str = "timestamp";
    /// Entry kind: `tcp`, `timeout`, `loss`, `icmp`, `http`, `dns`.
    pub const KIND: &str = "kind";
    /// Lower-case protocol name (`tcp`, `udp`, `icmp`, `http`, `dns`).
    pub const PROTOCOL_NAME: &str = "protocol_name";
    /// Kubeshark's protocol abbreviation (`TCP`, `UDP`, `ICMPv4`, `ICMPv6`, `HTTP`, `DNS`).
    pub const PROTOCOL_ABBR: &str = "protocol_abbr";
    /// Transport protocol of the flow (`tcp`, `udp`, `icmp`, `icmp6`).
    pub const TRANSPORT: &str = "transport";
    /// IP version, 4 or 6.
    pub const IP_VERSION: &str = "ip_version";
    /// Id of the flow this entry belongs to (joins `flows.flow_id`).
    pub const FLOW_ID: &str = "flow_id";
    /// Community ID of the flow (v1, seed 0).
    pub const COMMUNITY_ID: &str = "community_id";
    /// Source address (originator for flow-level entries, sender for ICMP).
    pub const SRC_IP: &str = "src_ip";
    /// Source port.
    pub const SRC_PORT: &str = "src_port";
    /// Destination address.
    pub const DST_IP: &str = "dst_ip";
    /// Destination port.
    pub const DST_PORT: &str = "dst_port";
    /// Outer VLAN id.
    pub const VLAN: &str = "vlan";
    /// One-line summary as shown in a list (`Reset`, `DestinationUnreachable(Port)`).
    pub const SUMMARY: &str = "summary";
    /// Error type (`connection`, `timeout`, `loss`, `dissection`, `pair-not-found`); null when not an error.
    pub const ERROR_TYPE: &str = "error_type";
    /// Error message: the TCP state name, or a short description.
    pub const ERROR_MSG: &str = "error_msg";
    /// Why it happened, in words (`refused: RST from responder`).
    pub const ERROR_REASON: &str = "error_reason";
    /// ICMP version (4 or 6).
    pub const ICMP_VERSION: &str = "icmp_version";
    /// ICMP type.
    pub const ICMP_TYPE: &str = "icmp_type";
    /// ICMP code.
    pub const ICMP_CODE: &str = "icmp_code";
    /// IP protocol of the packet quoted in an ICMP error.
    pub const QUOTED_PROTO: &str = "quoted_proto";
    /// Source address of the quoted packet.
    pub const QUOTED_SRC_IP: &str = "quoted_src_ip";
    /// Source port of the quoted packet.
    pub const QUOTED_SRC_PORT: &str = "quoted_src_port";
    /// Destination address of the quoted packet.
    pub const QUOTED_DST_IP: &str = "quoted_dst_ip";
    /// Destination port of the quoted packet.
    pub const QUOTED_DST_PORT: &str = "quoted_dst_port";
    /// Retransmissions (tshark `tcp.analysis.retransmission`, fast and spurious included).
    pub const RETRANSMISSIONS: &str = "retransmissions";
    /// Fast retransmissions.
    pub const FAST_RETRANSMISSIONS: &str = "fast_retransmissions";
    /// Segments after a gap: previous segment not captured.
    pub const LOST_SEGMENTS: &str = "lost_segments";
    /// ACKs of segments never seen.
    pub const ACK_LOST_SEGMENTS: &str = "ack_lost_segments";
    /// Duplicate ACKs.
    pub const DUP_ACKS: &str = "dup_acks";
    /// Out-of-order segments.
    pub const OUT_OF_ORDER: &str = "out_of_order";
    /// Zero-window advertisements.
    pub const ZERO_WINDOWS: &str = "zero_windows";
    /// Packets the capture itself dropped (capture-drop loss entries).
    pub const CAPTURE_DROPS: &str = "capture_drops";
    /// Length of the interval the `capture_drops` count covers, µs (it ends at `timestamp`).
    pub const CAPTURE_INTERVAL_US: &str = "capture_interval_us";
    /// Where the packets came from: file name or interface.
    pub const CAPTURE_SOURCE: &str = "capture_source";
    /// Name of the source, learnt from DNS answers, when known.
    pub const SRC_NAME: &str = "src_name";
    /// Name of the destination, learnt from DNS answers, when known.
    pub const DST_NAME: &str = "dst_name";
    /// HTTP request method (`GET`, `POST`, ...).
    pub const REQUEST_METHOD: &str = "request_method";
    /// HTTP request path, query string included.
    pub const REQUEST_PATH: &str = "request_path";
    /// HTTP request `Host`.
    pub const REQUEST_HOST: &str = "request_host";
    /// HTTP request headers, keys lower-cased (repeated headers joined with `, `).
    pub const REQUEST_HEADERS: &str = "request_headers";
    /// HTTP response status code.
    pub const RESPONSE_STATUS: &str = "response_status";
    /// HTTP response reason phrase (`Not Found`).
    pub const RESPONSE_STATUS_TEXT: &str = "response_status_text";
    /// HTTP response headers, keys lower-cased.
    pub const RESPONSE_HEADERS: &str = "response_headers";
    /// Request size in bytes (HTTP: headers and body; DNS: the query message).
    pub const REQUEST_SIZE: &str = "request_size";
    /// Response size in bytes.
    pub const RESPONSE_SIZE: &str = "response_size";
    /// Response time minus request time, ms (Kubeshark `elapsedTime`).
    pub const ELAPSED_MS: &str = "elapsed_ms";
    /// DNS question name.
    pub const DNS_NAME: &str = "dns_name";
    /// DNS question type (`A`, `AAAA`, ...).
    pub const DNS_TYPE: &str = "dns_type";
    /// DNS response code (0 NoError, 3 NXDomain, ...).
    pub const DNS_RCODE: &str = "dns_rcode";
    /// DNS answers, `TYPE data` joined with `, ` (`CNAME a.example, A 192.0.2.1`).
    pub const DNS_ANSWERS: &str = "dns_answers";
    /// First bytes of the HTTP request body, de-chunked, up to the ingest's body prefix.
    pub const REQUEST_BODY: &str = "request_body";
    /// First bytes of the HTTP response body, de-chunked, up to the ingest's body prefix.
    pub const RESPONSE_BODY: &str = "response_body";
}

/// Arrow type of the header columns: `Map<Utf8, Utf8>` with lower-case keys, laid out as
/// arrow's `MapBuilder` builds it (`entries: {keys, values}`), so builders and schema agree.
pub fn string_map_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ]
            .into(),
        ),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

/// The Arrow schema of the `entries` table (shared, built once).
pub fn entries_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(build).clone()
}

fn build() -> SchemaRef {
    use entry_col::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    Arc::new(Schema::new(vec![
        f(ID, DataType::UInt64, false),
        f(TIMESTAMP, timestamp_type(), false),
        f(KIND, DataType::Utf8, false),
        f(PROTOCOL_NAME, DataType::Utf8, false),
        f(PROTOCOL_ABBR, DataType::Utf8, false),
        f(TRANSPORT, DataType::Utf8, false),
        f(IP_VERSION, DataType::UInt8, true),
        f(FLOW_ID, DataType::UInt64, true),
        f(COMMUNITY_ID, DataType::Utf8, true),
        f(SRC_IP, DataType::Utf8, true),
        f(SRC_PORT, DataType::UInt16, true),
        f(DST_IP, DataType::Utf8, true),
        f(DST_PORT, DataType::UInt16, true),
        f(VLAN, DataType::UInt16, true),
        f(SUMMARY, DataType::Utf8, false),
        f(ERROR_TYPE, DataType::Utf8, true),
        f(ERROR_MSG, DataType::Utf8, true),
        f(ERROR_REASON, DataType::Utf8, true),
        f(ICMP_VERSION, DataType::UInt8, true),
        f(ICMP_TYPE, DataType::UInt8, true),
        f(ICMP_CODE, DataType::UInt8, true),
        f(QUOTED_PROTO, DataType::UInt8, true),
        f(QUOTED_SRC_IP, DataType::Utf8, true),
        f(QUOTED_SRC_PORT, DataType::UInt16, true),
        f(QUOTED_DST_IP, DataType::Utf8, true),
        f(QUOTED_DST_PORT, DataType::UInt16, true),
        f(RETRANSMISSIONS, DataType::UInt32, true),
        f(FAST_RETRANSMISSIONS, DataType::UInt32, true),
        f(LOST_SEGMENTS, DataType::UInt32, true),
        f(ACK_LOST_SEGMENTS, DataType::UInt32, true),
        f(DUP_ACKS, DataType::UInt32, true),
        f(OUT_OF_ORDER, DataType::UInt32, true),
        f(ZERO_WINDOWS, DataType::UInt32, true),
        f(CAPTURE_DROPS, DataType::UInt64, true),
        f(CAPTURE_INTERVAL_US, DataType::Int64, true),
        f(CAPTURE_SOURCE, DataType::Utf8, true),
        f(SRC_NAME, DataType::Utf8, true),
        f(DST_NAME, DataType::Utf8, true),
        f(REQUEST_METHOD, DataType::Utf8, true),
        f(REQUEST_PATH, DataType::Utf8, true),
        f(REQUEST_HOST, DataType::Utf8, true),
        f(REQUEST_HEADERS, string_map_type(), true),
        f(RESPONSE_STATUS, DataType::UInt16, true),
        f(RESPONSE_STATUS_TEXT, DataType::Utf8, true),
        f(RESPONSE_HEADERS, string_map_type(), true),
        f(REQUEST_SIZE, DataType::UInt64, true),
        f(RESPONSE_SIZE, DataType::UInt64, true),
        f(ELAPSED_MS, DataType::Int64, true),
        f(DNS_NAME, DataType::Utf8, true),
        f(DNS_TYPE, DataType::Utf8, true),
        f(DNS_RCODE, DataType::UInt16, true),
        f(DNS_ANSWERS, DataType::Utf8, true),
        f(REQUEST_BODY, DataType::Utf8, true),
        f(RESPONSE_BODY, DataType::Utf8, true),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let s = entries_schema();
        let mut names: Vec<_> = s.fields().iter().map(|f| f.name().clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), s.fields().len());
    }
}
