//! The batcher: turns [`EntryView`]s and [`FlowView`]s straight into Arrow builders and hands
//! full [`RecordBatch`]es to a [`BatchSink`]. Columns of the table schema that the batcher does
//! not fill (added by later stages) are written as nulls.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt8Builder,
    UInt16Builder, UInt32Builder, UInt64Builder, new_null_array,
};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use faultline_schemas::{entry_col as ec, flow_col as fc, flows_schema};

use crate::emit::{Emit, EntryView, FlowView, LossCounters};
use crate::sink::{BatchSink, SinkError, Table};

mod app_cols;
mod entry_cols;

pub use entry_cols::EntryBatchBuilder;

/// Rows per record batch unless configured otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

/// Named columns in the order a batch is assembled; matched against the schema by name.
type Columns = Vec<(&'static str, ArrayRef)>;

/// Builds a batch for `schema` from named columns, filling absent columns with nulls.
fn assemble(schema: &SchemaRef, rows: usize, mut cols: Columns) -> Result<RecordBatch, ArrowError> {
    let arrays = schema
        .fields()
        .iter()
        .map(
            |f| match cols.iter().position(|(n, _)| *n == f.name().as_str()) {
                Some(i) => cols.swap_remove(i).1,
                None => new_null_array(f.data_type(), rows),
            },
        )
        .collect();
    RecordBatch::try_new(schema.clone(), arrays)
}

fn ts_builder(cap: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(cap).with_timezone("UTC")
}

/// Appends an address in its canonical text form without allocating.
fn append_ip(b: &mut StringBuilder, ip: IpAddr) {
    // Writing into a StringBuilder cannot fail.
    let _ = write!(b, "{ip}");
    b.append_value("");
}

/// Lower-case transport name of an IP protocol number.
pub fn transport_name(proto: u8) -> &'static str {
    match proto {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmp6",
        132 => "sctp",
        _ => "ip",
    }
}

fn ip_version(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 4 } else { 6 }
}

/// The seven loss counters, one builder each, shared by both tables.
struct LossBuilders([UInt32Builder; 7]);

impl LossBuilders {
    const NAMES_ENTRIES: [&'static str; 7] = [
        ec::RETRANSMISSIONS,
        ec::FAST_RETRANSMISSIONS,
        ec::LOST_SEGMENTS,
        ec::ACK_LOST_SEGMENTS,
        ec::DUP_ACKS,
        ec::OUT_OF_ORDER,
        ec::ZERO_WINDOWS,
    ];
    const NAMES_FLOWS: [&'static str; 7] = [
        fc::RETRANSMISSIONS,
        fc::FAST_RETRANSMISSIONS,
        fc::LOST_SEGMENTS,
        fc::ACK_LOST_SEGMENTS,
        fc::DUP_ACKS,
        fc::OUT_OF_ORDER,
        fc::ZERO_WINDOWS,
    ];

    fn new(cap: usize) -> Self {
        Self(std::array::from_fn(|_| UInt32Builder::with_capacity(cap)))
    }

    fn append(&mut self, l: Option<&LossCounters>) {
        match l {
            Some(l) => {
                for (b, v) in self.0.iter_mut().zip(l.to_array()) {
                    b.append_value(v);
                }
            }
            None => self.0.iter_mut().for_each(|b| b.append_null()),
        }
    }

    fn finish(&mut self, names: [&'static str; 7], cols: &mut Columns) {
        for (name, b) in names.into_iter().zip(self.0.iter_mut()) {
            cols.push((name, Arc::new(b.finish())));
        }
    }
}

/// Builders of the `flows` columns.
struct FlowBuilders {
    rows: usize,
    flow_id: UInt64Builder,
    community_id: StringBuilder,
    start: TimestampMicrosecondBuilder,
    end: TimestampMicrosecondBuilder,
    duration: Int64Builder,
    transport: StringBuilder,
    ip_version: UInt8Builder,
    orig_ip: StringBuilder,
    orig_port: UInt16Builder,
    resp_ip: StringBuilder,
    resp_port: UInt16Builder,
    vlan: UInt16Builder,
    conn_state: StringBuilder,
    history: StringBuilder,
    tcp_error: StringBuilder,
    end_reason: StringBuilder,
    completeness: UInt8Builder,
    counts: [UInt64Builder; 6],
    loss: LossBuilders,
    rtt: Int64Builder,
    icmp: [UInt32Builder; 3],
    source: StringBuilder,
}

impl FlowBuilders {
    const COUNT_NAMES: [&'static str; 6] = [
        fc::ORIG_PKTS,
        fc::ORIG_BYTES,
        fc::ORIG_IP_BYTES,
        fc::RESP_PKTS,
        fc::RESP_BYTES,
        fc::RESP_IP_BYTES,
    ];
    const ICMP_NAMES: [&'static str; 3] =
        [fc::ECHO_REQUESTS, fc::ECHO_REPLIES, fc::NEIGHBOR_DISCOVERY];

    fn new(cap: usize) -> Self {
        let s = || StringBuilder::with_capacity(cap, cap * 8);
        Self {
            rows: 0,
            flow_id: UInt64Builder::with_capacity(cap),
            community_id: s(),
            start: ts_builder(cap),
            end: ts_builder(cap),
            duration: Int64Builder::with_capacity(cap),
            transport: s(),
            ip_version: UInt8Builder::with_capacity(cap),
            orig_ip: s(),
            orig_port: UInt16Builder::with_capacity(cap),
            resp_ip: s(),
            resp_port: UInt16Builder::with_capacity(cap),
            vlan: UInt16Builder::with_capacity(cap),
            conn_state: s(),
            history: s(),
            tcp_error: s(),
            end_reason: s(),
            completeness: UInt8Builder::with_capacity(cap),
            counts: std::array::from_fn(|_| UInt64Builder::with_capacity(cap)),
            loss: LossBuilders::new(cap),
            rtt: Int64Builder::with_capacity(cap),
            icmp: std::array::from_fn(|_| UInt32Builder::with_capacity(cap)),
            source: s(),
        }
    }

    fn append(&mut self, source: Option<&str>, f: &FlowView<'_>) {
        let id = &f.ident;
        self.rows += 1;
        self.flow_id.append_value(id.flow_id);
        self.community_id.append_value(id.community_id);
        self.start.append_value(f.start_us);
        self.end.append_value(f.end_us);
        self.duration
            .append_value(f.end_us.saturating_sub(f.start_us));
        self.transport.append_value(transport_name(id.proto));
        self.ip_version.append_value(ip_version(id.orig.0));
        append_ip(&mut self.orig_ip, id.orig.0);
        self.orig_port.append_value(id.orig.1);
        append_ip(&mut self.resp_ip, id.resp.0);
        self.resp_port.append_value(id.resp.1);
        self.vlan.append_option(id.vlan);
        self.conn_state.append_option(f.conn_state);
        self.history.append_option(f.history);
        self.tcp_error.append_option(f.tcp_error);
        self.end_reason.append_value(f.end_reason);
        self.completeness.append_option(f.completeness);
        let counts = [
            f.orig.pkts,
            f.orig.bytes,
            f.orig.ip_bytes,
            f.resp.pkts,
            f.resp.bytes,
            f.resp.ip_bytes,
        ];
        for (b, v) in self.counts.iter_mut().zip(counts) {
            b.append_value(v);
        }
        self.loss.append(Some(&f.loss));
        self.rtt.append_option(f.handshake_rtt_us);
        for (b, v) in
            self.icmp
                .iter_mut()
                .zip([f.echo_requests, f.echo_replies, f.neighbor_discovery])
        {
            b.append_value(v);
        }
        self.source.append_option(source);
    }

    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let rows = std::mem::take(&mut self.rows);
        let mut cols: Columns = vec![
            (fc::FLOW_ID, Arc::new(self.flow_id.finish())),
            (fc::COMMUNITY_ID, Arc::new(self.community_id.finish())),
            (fc::START, Arc::new(self.start.finish())),
            (fc::END, Arc::new(self.end.finish())),
            (fc::DURATION_US, Arc::new(self.duration.finish())),
            (fc::TRANSPORT, Arc::new(self.transport.finish())),
            (fc::IP_VERSION, Arc::new(self.ip_version.finish())),
            (fc::ORIG_IP, Arc::new(self.orig_ip.finish())),
            (fc::ORIG_PORT, Arc::new(self.orig_port.finish())),
            (fc::RESP_IP, Arc::new(self.resp_ip.finish())),
            (fc::RESP_PORT, Arc::new(self.resp_port.finish())),
            (fc::VLAN, Arc::new(self.vlan.finish())),
            (fc::CONN_STATE, Arc::new(self.conn_state.finish())),
            (fc::HISTORY, Arc::new(self.history.finish())),
            (fc::TCP_ERROR, Arc::new(self.tcp_error.finish())),
            (fc::END_REASON, Arc::new(self.end_reason.finish())),
            (fc::COMPLETENESS, Arc::new(self.completeness.finish())),
            (fc::HANDSHAKE_RTT_US, Arc::new(self.rtt.finish())),
            (fc::CAPTURE_SOURCE, Arc::new(self.source.finish())),
        ];
        for (name, b) in Self::COUNT_NAMES.into_iter().zip(self.counts.iter_mut()) {
            cols.push((name, Arc::new(b.finish())));
        }
        for (name, b) in Self::ICMP_NAMES.into_iter().zip(self.icmp.iter_mut()) {
            cols.push((name, Arc::new(b.finish())));
        }
        self.loss.finish(LossBuilders::NAMES_FLOWS, &mut cols);
        assemble(&flows_schema(), rows, cols)
    }
}

/// Errors the batcher reports.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Arrow refused the assembled columns (a bug: columns out of step with the schema).
    #[error("building a record batch: {0}")]
    Arrow(#[from] ArrowError),
    /// The sink could not store a batch.
    #[error("storing a batch: {0}")]
    Sink(SinkError),
}

/// Counts of what the batcher has written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Entry rows per kind, indexed like [`faultline_schemas::EntryKind::ALL`].
    pub entries_by_kind: [u64; 6],
    /// Flow rows.
    pub flows: u64,
    /// Record batches handed to the sink.
    pub batches: u64,
}

impl BatchStats {
    /// Total entry rows.
    pub fn entries(&self) -> u64 {
        self.entries_by_kind.iter().sum()
    }
}

/// Accumulates entries and flows into record batches of a fixed row count.
pub struct Batcher<S: BatchSink> {
    sink: S,
    rows_per_batch: usize,
    entries: EntryBatchBuilder,
    flows: FlowBuilders,
    source: Option<String>,
    id_seed: u64,
    seq: u64,
    stats: BatchStats,
    error: Option<BatchError>,
}

/// SplitMix64 finaliser: a cheap, well-mixed 64-bit hash step.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over bytes, used to seed ids from a source name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<S: BatchSink> Batcher<S> {
    /// A batcher writing batches of `rows_per_batch` rows to `sink`.
    pub fn new(sink: S, rows_per_batch: usize) -> Self {
        let rows = rows_per_batch.max(1);
        let cap = rows.min(DEFAULT_BATCH_ROWS);
        Self {
            sink,
            rows_per_batch: rows,
            entries: EntryBatchBuilder::new(cap),
            flows: FlowBuilders::new(cap.min(4096)),
            source: None,
            id_seed: 0,
            seq: 0,
            stats: BatchStats::default(),
            error: None,
        }
    }

    /// Names the capture source of the rows that follow. Entry ids are derived from the source
    /// name and the entry's ordinal in that source, so re-ingesting a file yields the same ids.
    pub fn set_source(&mut self, name: &str) {
        self.source = Some(name.to_owned());
        self.id_seed = fnv1a(name.as_bytes());
        self.seq = 0;
    }

    /// Like [`Batcher::set_source`], with `salt` mixed into the entry ids: a live capture
    /// passes its start time, so two runs on the same interface do not reuse ids.
    pub fn set_source_salted(&mut self, name: &str, salt: u64) {
        self.set_source(name);
        self.id_seed = mix64(self.id_seed ^ salt);
    }

    /// Hands partial batches to the sink now (a live capture does this periodically, so rows
    /// become queryable within a bounded time instead of when a batch fills).
    pub fn flush_pending(&mut self) {
        self.flush_entries();
        self.flush_flows();
    }

    /// What has been written so far.
    pub fn stats(&self) -> &BatchStats {
        &self.stats
    }

    /// The first error met, if any; ingest should stop when this is `Some`.
    pub fn error(&self) -> Option<&BatchError> {
        self.error.as_ref()
    }

    /// Takes the first error met, leaving the batcher usable again.
    pub fn take_error(&mut self) -> Option<BatchError> {
        self.error.take()
    }

    /// Writes out partial batches and flushes the sink; returns the sink.
    pub fn finish(mut self) -> Result<S, BatchError> {
        self.flush_entries();
        self.flush_flows();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.sink.flush().map_err(BatchError::Sink)?;
        Ok(self.sink)
    }

    /// Borrows the sink (e.g. to inspect a [`crate::MemorySink`]).
    pub fn sink(&self) -> &S {
        &self.sink
    }

    fn hand_over(&mut self, table: Table, batch: Result<RecordBatch, ArrowError>) {
        if self.error.is_some() {
            return;
        }
        let result = batch
            .map_err(BatchError::from)
            .and_then(|b| self.sink.write(table, b).map_err(BatchError::Sink));
        match result {
            Ok(()) => self.stats.batches += 1,
            Err(e) => self.error = Some(e),
        }
    }

    fn flush_entries(&mut self) {
        if self.entries.rows() > 0 {
            let batch = self.entries.finish();
            self.hand_over(Table::Entries, batch);
        }
    }

    fn flush_flows(&mut self) {
        if self.flows.rows > 0 {
            let batch = self.flows.finish();
            self.hand_over(Table::Flows, batch);
        }
    }
}

impl<S: BatchSink> Emit for Batcher<S> {
    fn entry(&mut self, e: &EntryView<'_>) {
        let id = mix64(self.id_seed ^ mix64(self.seq));
        self.seq += 1;
        self.entries.append(id, self.source.as_deref(), e);
        let kind = e.kind();
        let k = faultline_schemas::EntryKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(0);
        self.stats.entries_by_kind[k] += 1;
        if self.entries.rows() >= self.rows_per_batch {
            self.flush_entries();
        }
    }

    fn flow(&mut self, f: &FlowView<'_>) {
        self.flows.append(self.source.as_deref(), f);
        self.stats.flows += 1;
        if self.flows.rows >= self.rows_per_batch {
            self.flush_flows();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::{
        DirCounts, EntryBody, EntryHeader, ErrorView, FlowIdent, IcmpView, QuotedTuple,
    };
    use crate::sink::MemorySink;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::UInt16Type;
    use faultline_schemas::{ErrorType, entries_schema};

    fn ident() -> FlowIdent<'static> {
        FlowIdent {
            flow_id: 7,
            community_id: "1:abc",
            orig: ("10.0.0.1".parse().unwrap(), 1234),
            resp: ("10.0.0.2".parse().unwrap(), 80),
            proto: 6,
            vlan: Some(5),
        }
    }

    fn tcp_entry() -> EntryView<'static> {
        let header = EntryHeader::of_flow(1_700_000_000_000_000, ident(), "Reset");
        EntryView::new(
            header.with_error(ErrorView {
                error_type: ErrorType::Connection,
                msg: "Reset",
                reason: "reset by responder",
            }),
            EntryBody::Tcp,
        )
    }

    #[test]
    fn entries_follow_the_schema_and_split_into_batches() {
        let mut b = Batcher::new(MemorySink::default(), 2);
        b.set_source("a.pcap");
        for _ in 0..3 {
            b.entry(&tcp_entry());
        }
        let header = EntryHeader {
            proto: 1,
            summary: "DestinationUnreachable(Port)",
            error: None,
            ..tcp_entry().header
        };
        let icmp = EntryView::new(
            header,
            EntryBody::Icmp(IcmpView {
                version: 4,
                icmp_type: 3,
                code: 3,
                quoted: Some(QuotedTuple {
                    proto: 17,
                    src: "10.0.0.2".parse().unwrap(),
                    src_port: Some(53),
                    dst: "10.0.0.1".parse().unwrap(),
                    dst_port: None,
                }),
            }),
        );
        b.entry(&icmp);
        assert_eq!(b.stats().entries_by_kind, [3, 0, 0, 1, 0, 0]);
        let sink = b.finish().unwrap();
        assert_eq!(sink.entries.len(), 2);
        let batch = &sink.entries[1];
        assert_eq!(batch.schema(), entries_schema());
        assert_eq!(batch.num_rows(), 2);
        let abbr = batch
            .column_by_name(ec::PROTOCOL_ABBR)
            .unwrap()
            .as_string::<i32>();
        assert_eq!(abbr.value(0), "TCP");
        assert_eq!(abbr.value(1), "ICMPv4");
        let qport = batch
            .column_by_name(ec::QUOTED_SRC_PORT)
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert!(qport.is_null(0));
        assert_eq!(qport.value(1), 53);
        let ids = sink.entries[0]
            .column_by_name(ec::ID)
            .unwrap()
            .as_primitive::<arrow::datatypes::UInt64Type>();
        assert_ne!(ids.value(0), ids.value(1));
    }

    #[test]
    fn ids_are_deterministic_per_source() {
        let run = || {
            let mut b = Batcher::new(MemorySink::default(), 10);
            b.set_source("x.pcap");
            b.entry(&tcp_entry());
            b.finish().unwrap().entries[0].column(0).clone()
        };
        assert_eq!(run().as_ref(), run().as_ref());
    }

    #[test]
    fn flows_follow_the_schema() {
        let mut b = Batcher::new(MemorySink::default(), 10);
        b.flow(&FlowView {
            ident: ident(),
            start_us: 10,
            end_us: 25,
            conn_state: Some("SF"),
            history: Some("ShADadFf"),
            tcp_error: None,
            end_reason: "closed",
            completeness: Some(31),
            orig: DirCounts {
                pkts: 5,
                bytes: 100,
                ip_bytes: 300,
            },
            resp: DirCounts::default(),
            loss: LossCounters::default(),
            handshake_rtt_us: Some(3),
            echo_requests: 0,
            echo_replies: 0,
            neighbor_discovery: 0,
        });
        let sink = b.finish().unwrap();
        let batch = &sink.flows[0];
        assert_eq!(batch.schema(), flows_schema());
        let d = batch
            .column_by_name(fc::DURATION_US)
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(d.value(0), 15);
    }
}
