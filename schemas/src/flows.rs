//! The `flows` table: one row per flow, shaped like Zeek's `conn.log`.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::timestamp_type;

/// Column names of the `flows` table.
pub mod flow_col {
    /// Flow id (joins `entries.flow_id`).
    pub const FLOW_ID: &str = "flow_id";
    /// Community ID (v1, seed 0).
    pub const COMMUNITY_ID: &str = "community_id";
    /// First packet time, µs UTC (Zeek `ts`).
    pub const START: &str = "start";
    /// Last packet time, µs UTC.
    pub const END: &str = "end";
    /// `end - start` in µs (Zeek `duration`).
    pub const DURATION_US: &str = "duration_us";
    /// Transport (`tcp`, `udp`, `icmp`, `icmp6`).
    pub const TRANSPORT: &str = "transport";
    /// IP version, 4 or 6.
    pub const IP_VERSION: &str = "ip_version";
    /// Originator address (Zeek `id.orig_h`).
    pub const ORIG_IP: &str = "orig_ip";
    /// Originator port (ICMP: type).
    pub const ORIG_PORT: &str = "orig_port";
    /// Responder address (Zeek `id.resp_h`).
    pub const RESP_IP: &str = "resp_ip";
    /// Responder port (ICMP: code).
    pub const RESP_PORT: &str = "resp_port";
    /// Outer VLAN id.
    pub const VLAN: &str = "vlan";
    /// Zeek `conn_state` (TCP: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH; UDP as Zeek derives it).
    pub const CONN_STATE: &str = "conn_state";
    /// Zeek-style `history` string.
    pub const HISTORY: &str = "history";
    /// Kubeshark TCP error state of the flow, if any.
    pub const TCP_ERROR: &str = "tcp_error";
    /// Why the flow left the flow table: `closed`, `reset`, `timeout`, `end-of-input`, `reused`.
    pub const END_REASON: &str = "end_reason";
    /// tshark's `tcp.completeness` bitmask (SYN 1, SYN-ACK 2, ACK 4, DATA 8, FIN 16, RST 32).
    pub const COMPLETENESS: &str = "completeness";
    /// Packets from the originator.
    pub const ORIG_PKTS: &str = "orig_pkts";
    /// Payload bytes from the originator (Zeek `orig_bytes`).
    pub const ORIG_BYTES: &str = "orig_bytes";
    /// IP-level bytes from the originator (Zeek `orig_ip_bytes`).
    pub const ORIG_IP_BYTES: &str = "orig_ip_bytes";
    /// Packets from the responder.
    pub const RESP_PKTS: &str = "resp_pkts";
    /// Payload bytes from the responder.
    pub const RESP_BYTES: &str = "resp_bytes";
    /// IP-level bytes from the responder.
    pub const RESP_IP_BYTES: &str = "resp_ip_bytes";
    /// Retransmissions, both directions.
    pub const RETRANSMISSIONS: &str = "retransmissions";
    /// Fast retransmissions.
    pub const FAST_RETRANSMISSIONS: &str = "fast_retransmissions";
    /// Previous segment not captured.
    pub const LOST_SEGMENTS: &str = "lost_segments";
    /// ACKed unseen segments.
    pub const ACK_LOST_SEGMENTS: &str = "ack_lost_segments";
    /// Duplicate ACKs.
    pub const DUP_ACKS: &str = "dup_acks";
    /// Out-of-order segments.
    pub const OUT_OF_ORDER: &str = "out_of_order";
    /// Zero-window advertisements.
    pub const ZERO_WINDOWS: &str = "zero_windows";
    /// SYN to SYN-ACK (or SYN-ACK to ACK) time, µs.
    pub const HANDSHAKE_RTT_US: &str = "handshake_rtt_us";
    /// ICMP echo requests seen in this flow.
    pub const ECHO_REQUESTS: &str = "echo_requests";
    /// ICMP echo replies seen in this flow.
    pub const ECHO_REPLIES: &str = "echo_replies";
    /// ICMPv6 neighbour discovery messages (133-137) seen in this flow.
    pub const NEIGHBOR_DISCOVERY: &str = "neighbor_discovery";
    /// Where the packets came from: file name or interface.
    pub const CAPTURE_SOURCE: &str = "capture_source";
}

/// The Arrow schema of the `flows` table (shared, built once).
pub fn flows_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(build).clone()
}

fn build() -> SchemaRef {
    use flow_col::*;
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    let u64n = |name: &str| Field::new(name, DataType::UInt64, false);
    let u32n = |name: &str| Field::new(name, DataType::UInt32, false);
    Arc::new(Schema::new(vec![
        u64n(FLOW_ID),
        f(COMMUNITY_ID, DataType::Utf8, false),
        f(START, timestamp_type(), false),
        f(END, timestamp_type(), false),
        f(DURATION_US, DataType::Int64, false),
        f(TRANSPORT, DataType::Utf8, false),
        f(IP_VERSION, DataType::UInt8, false),
        f(ORIG_IP, DataType::Utf8, false),
        f(ORIG_PORT, DataType::UInt16, false),
        f(RESP_IP, DataType::Utf8, false),
        f(RESP_PORT, DataType::UInt16, false),
        f(VLAN, DataType::UInt16, true),
        f(CONN_STATE, DataType::Utf8, true),
        f(HISTORY, DataType::Utf8, true),
        f(TCP_ERROR, DataType::Utf8, true),
        f(END_REASON, DataType::Utf8, false),
        f(COMPLETENESS, DataType::UInt8, true),
        u64n(ORIG_PKTS),
        u64n(ORIG_BYTES),
        u64n(ORIG_IP_BYTES),
        u64n(RESP_PKTS),
        u64n(RESP_BYTES),
        u64n(RESP_IP_BYTES),
        u32n(RETRANSMISSIONS),
        u32n(FAST_RETRANSMISSIONS),
        u32n(LOST_SEGMENTS),
        u32n(ACK_LOST_SEGMENTS),
        u32n(DUP_ACKS),
        u32n(OUT_OF_ORDER),
        u32n(ZERO_WINDOWS),
        f(HANDSHAKE_RTT_US, DataType::Int64, true),
        u32n(ECHO_REQUESTS),
        u32n(ECHO_REPLIES),
        u32n(NEIGHBOR_DISCOVERY),
        f(CAPTURE_SOURCE, DataType::Utf8, true),
    ]))
}
