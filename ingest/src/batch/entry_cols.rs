//! Builders of the `entries` columns: the header columns every row fills, and one group of
//! columns per body kind, which only rows of that kind fill. The row's body is matched once;
//! the other groups are padded with nulls when their next row comes or the batch is finished.

use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder,
    UInt64Builder,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use faultline_schemas::{EntryKind, entries_schema, entry_col as ec};

use super::app_cols::{DnsBuilders, HttpBuilders, TxnBuilders};
use super::{Columns, LossBuilders, append_ip, assemble, ip_version, transport_name, ts_builder};
use crate::emit::{DropCount, EntryBody, EntryView, IcmpView};

/// A group of columns that can be padded with null rows.
pub(super) trait NullPad {
    /// Appends `n` null rows to every column of the group.
    fn append_nulls(&mut self, n: usize);
}

/// A group of columns filled by one kind of row only; rows of other kinds become nulls,
/// appended in one go when the group's next row comes or the batch is finished.
struct Sparse<B> {
    /// Rows the group holds, values and nulls.
    filled: usize,
    cols: B,
}

impl<B: NullPad> Sparse<B> {
    fn new(cols: B) -> Self {
        Sparse { filled: 0, cols }
    }

    /// The group, padded with nulls up to `row`; the caller appends row `row` to it.
    fn at(&mut self, row: usize) -> &mut B {
        self.cols.append_nulls(row.saturating_sub(self.filled));
        self.filled = row + 1;
        &mut self.cols
    }

    /// The group padded with nulls to `rows` rows, ready to finish (and empty again after).
    fn padded(&mut self, rows: usize) -> &mut B {
        self.cols.append_nulls(rows.saturating_sub(self.filled));
        self.filled = 0;
        &mut self.cols
    }
}

/// Appends an address, or a null.
fn append_opt_ip(b: &mut StringBuilder, ip: Option<IpAddr>) {
    match ip {
        Some(ip) => append_ip(b, ip),
        None => b.append_null(),
    }
}

/// Kubeshark-style protocol name and abbreviation of an entry.
fn protocol_of(kind: EntryKind, proto: u8) -> (&'static str, &'static str) {
    match (kind, proto) {
        (EntryKind::Http, _) => ("http", "HTTP"),
        (EntryKind::Dns, _) => ("dns", "DNS"),
        (_, 1) => ("icmp", "ICMPv4"),
        (_, 58) => ("icmp", "ICMPv6"),
        (_, 6) => ("tcp", "TCP"),
        (_, 17) => ("udp", "UDP"),
        _ => ("ip", "IP"),
    }
}

/// The columns every entry fills: id, time, kind, endpoints, summary, error, names, source.
struct HeaderBuilders {
    id: UInt64Builder,
    ts: TimestampMicrosecondBuilder,
    kind: StringBuilder,
    proto_name: StringBuilder,
    proto_abbr: StringBuilder,
    transport: StringBuilder,
    ip_version: UInt8Builder,
    flow_id: UInt64Builder,
    community_id: StringBuilder,
    src_ip: StringBuilder,
    src_port: UInt16Builder,
    dst_ip: StringBuilder,
    dst_port: UInt16Builder,
    vlan: UInt16Builder,
    summary: StringBuilder,
    error_type: StringBuilder,
    error_msg: StringBuilder,
    error_reason: StringBuilder,
    src_name: StringBuilder,
    dst_name: StringBuilder,
    source: StringBuilder,
}

impl HeaderBuilders {
    fn new(cap: usize) -> Self {
        let s = || StringBuilder::with_capacity(cap, cap * 8);
        Self {
            id: UInt64Builder::with_capacity(cap),
            ts: ts_builder(cap),
            kind: s(),
            proto_name: s(),
            proto_abbr: s(),
            transport: s(),
            ip_version: UInt8Builder::with_capacity(cap),
            flow_id: UInt64Builder::with_capacity(cap),
            community_id: s(),
            src_ip: s(),
            src_port: UInt16Builder::with_capacity(cap),
            dst_ip: s(),
            dst_port: UInt16Builder::with_capacity(cap),
            vlan: UInt16Builder::with_capacity(cap),
            summary: s(),
            error_type: s(),
            error_msg: s(),
            error_reason: s(),
            src_name: s(),
            dst_name: s(),
            source: s(),
        }
    }

    fn append(&mut self, id: u64, source: Option<&str>, e: &EntryView<'_>) {
        let h = &e.header;
        let kind = e.kind();
        let (pname, pabbr) = protocol_of(kind, h.proto);
        self.id.append_value(id);
        self.ts.append_value(h.ts_us);
        self.kind.append_value(kind.as_str());
        self.proto_name.append_value(pname);
        self.proto_abbr.append_value(pabbr);
        self.transport.append_value(transport_name(h.proto));
        self.ip_version.append_value(ip_version(h.src.0));
        self.flow_id.append_option(h.flow.map(|f| f.flow_id));
        self.community_id
            .append_option(h.flow.map(|f| f.community_id));
        append_ip(&mut self.src_ip, h.src.0);
        self.src_port.append_option(h.src.1);
        append_ip(&mut self.dst_ip, h.dst.0);
        self.dst_port.append_option(h.dst.1);
        self.vlan.append_option(h.vlan);
        self.summary.append_value(h.summary);
        self.error_type
            .append_option(h.error.map(|x| x.error_type.as_str()));
        self.error_msg.append_option(h.error.map(|x| x.msg));
        self.error_reason.append_option(h.error.map(|x| x.reason));
        self.src_name.append_option(h.src_name);
        self.dst_name.append_option(h.dst_name);
        self.source.append_option(source);
    }

    fn finish(&mut self) -> Columns {
        vec![
            (ec::ID, Arc::new(self.id.finish())),
            (ec::TIMESTAMP, Arc::new(self.ts.finish())),
            (ec::KIND, Arc::new(self.kind.finish())),
            (ec::PROTOCOL_NAME, Arc::new(self.proto_name.finish())),
            (ec::PROTOCOL_ABBR, Arc::new(self.proto_abbr.finish())),
            (ec::TRANSPORT, Arc::new(self.transport.finish())),
            (ec::IP_VERSION, Arc::new(self.ip_version.finish())),
            (ec::FLOW_ID, Arc::new(self.flow_id.finish())),
            (ec::COMMUNITY_ID, Arc::new(self.community_id.finish())),
            (ec::SRC_IP, Arc::new(self.src_ip.finish())),
            (ec::SRC_PORT, Arc::new(self.src_port.finish())),
            (ec::DST_IP, Arc::new(self.dst_ip.finish())),
            (ec::DST_PORT, Arc::new(self.dst_port.finish())),
            (ec::VLAN, Arc::new(self.vlan.finish())),
            (ec::SUMMARY, Arc::new(self.summary.finish())),
            (ec::ERROR_TYPE, Arc::new(self.error_type.finish())),
            (ec::ERROR_MSG, Arc::new(self.error_msg.finish())),
            (ec::ERROR_REASON, Arc::new(self.error_reason.finish())),
            (ec::SRC_NAME, Arc::new(self.src_name.finish())),
            (ec::DST_NAME, Arc::new(self.dst_name.finish())),
            (ec::CAPTURE_SOURCE, Arc::new(self.source.finish())),
        ]
    }
}

/// The columns of an `icmp` entry: the message and the 5-tuple it quotes.
struct IcmpBuilders {
    version: UInt8Builder,
    icmp_type: UInt8Builder,
    code: UInt8Builder,
    q_proto: UInt8Builder,
    q_src_ip: StringBuilder,
    q_src_port: UInt16Builder,
    q_dst_ip: StringBuilder,
    q_dst_port: UInt16Builder,
}

impl IcmpBuilders {
    fn new(cap: usize) -> Self {
        let s = || StringBuilder::with_capacity(cap, cap * 8);
        Self {
            version: UInt8Builder::with_capacity(cap),
            icmp_type: UInt8Builder::with_capacity(cap),
            code: UInt8Builder::with_capacity(cap),
            q_proto: UInt8Builder::with_capacity(cap),
            q_src_ip: s(),
            q_src_port: UInt16Builder::with_capacity(cap),
            q_dst_ip: s(),
            q_dst_port: UInt16Builder::with_capacity(cap),
        }
    }

    fn append(&mut self, i: &IcmpView) {
        self.version.append_value(i.version);
        self.icmp_type.append_value(i.icmp_type);
        self.code.append_value(i.code);
        let q = i.quoted;
        self.q_proto.append_option(q.map(|q| q.proto));
        append_opt_ip(&mut self.q_src_ip, q.map(|q| q.src));
        self.q_src_port.append_option(q.and_then(|q| q.src_port));
        append_opt_ip(&mut self.q_dst_ip, q.map(|q| q.dst));
        self.q_dst_port.append_option(q.and_then(|q| q.dst_port));
    }

    fn finish(&mut self, cols: &mut Columns) {
        cols.extend([
            (ec::ICMP_VERSION, Arc::new(self.version.finish()) as _),
            (ec::ICMP_TYPE, Arc::new(self.icmp_type.finish()) as _),
            (ec::ICMP_CODE, Arc::new(self.code.finish()) as _),
            (ec::QUOTED_PROTO, Arc::new(self.q_proto.finish()) as _),
            (ec::QUOTED_SRC_IP, Arc::new(self.q_src_ip.finish()) as _),
            (ec::QUOTED_SRC_PORT, Arc::new(self.q_src_port.finish()) as _),
            (ec::QUOTED_DST_IP, Arc::new(self.q_dst_ip.finish()) as _),
            (ec::QUOTED_DST_PORT, Arc::new(self.q_dst_port.finish()) as _),
        ]);
    }
}

impl NullPad for IcmpBuilders {
    fn append_nulls(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        for b in [
            &mut self.version,
            &mut self.icmp_type,
            &mut self.code,
            &mut self.q_proto,
        ] {
            b.append_nulls(n);
        }
        self.q_src_ip.append_nulls(n);
        self.q_src_port.append_nulls(n);
        self.q_dst_ip.append_nulls(n);
        self.q_dst_port.append_nulls(n);
    }
}

/// The columns of a capture-drop `loss` entry: packets dropped and over how long.
struct DropBuilders {
    packets: UInt64Builder,
    interval_us: Int64Builder,
}

impl DropBuilders {
    fn new(cap: usize) -> Self {
        Self {
            packets: UInt64Builder::with_capacity(cap),
            interval_us: Int64Builder::with_capacity(cap),
        }
    }

    fn append(&mut self, d: &DropCount) {
        self.packets.append_value(d.packets);
        self.interval_us.append_value(d.interval_us);
    }

    fn finish(&mut self, cols: &mut Columns) {
        cols.push((ec::CAPTURE_DROPS, Arc::new(self.packets.finish())));
        cols.push((ec::CAPTURE_INTERVAL_US, Arc::new(self.interval_us.finish())));
    }
}

impl NullPad for DropBuilders {
    fn append_nulls(&mut self, n: usize) {
        self.packets.append_nulls(n);
        self.interval_us.append_nulls(n);
    }
}

impl NullPad for LossBuilders {
    fn append_nulls(&mut self, n: usize) {
        self.0.iter_mut().for_each(|b| b.append_nulls(n));
    }
}

/// Builds `entries` record batches from [`EntryView`]s: the one place entry rows become
/// Arrow columns. The [`super::Batcher`] uses it with ids it derives from the capture source;
/// synthetic row generators (the benchmarks') use it with ids and sources of their own.
pub struct EntryBatchBuilder {
    rows: usize,
    header: HeaderBuilders,
    loss: Sparse<LossBuilders>,
    icmp: Sparse<IcmpBuilders>,
    http: Sparse<HttpBuilders>,
    dns: Sparse<DnsBuilders>,
    txn: Sparse<TxnBuilders>,
    drops: Sparse<DropBuilders>,
}

impl EntryBatchBuilder {
    /// An empty batch with room for `capacity` rows before its builders grow.
    pub fn new(capacity: usize) -> Self {
        Self {
            rows: 0,
            header: HeaderBuilders::new(capacity),
            loss: Sparse::new(LossBuilders::new(capacity)),
            icmp: Sparse::new(IcmpBuilders::new(capacity)),
            http: Sparse::new(HttpBuilders::new(capacity)),
            dns: Sparse::new(DnsBuilders::new(capacity)),
            txn: Sparse::new(TxnBuilders::new(capacity)),
            drops: Sparse::new(DropBuilders::new(capacity)),
        }
    }

    /// Rows appended since the last [`EntryBatchBuilder::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one entry with its row `id` and capture `source`.
    pub fn append(&mut self, id: u64, source: Option<&str>, e: &EntryView<'_>) {
        let row = self.rows;
        self.rows += 1;
        self.header.append(id, source, e);
        match &e.body {
            EntryBody::Tcp | EntryBody::Timeout => {}
            EntryBody::Loss(l) => self.loss.at(row).append(Some(l)),
            EntryBody::Icmp(i) => self.icmp.at(row).append(i),
            EntryBody::Http(h) => {
                self.http.at(row).append(h);
                self.txn
                    .at(row)
                    .append(h.request_size, h.response_size, h.elapsed_ms);
            }
            EntryBody::Dns(d) => {
                self.dns.at(row).append(d);
                self.txn
                    .at(row)
                    .append(d.request_size, d.response_size, d.elapsed_ms);
            }
            EntryBody::CaptureDrop(d) => self.drops.at(row).append(d),
        }
    }

    /// The rows appended so far as one batch of [`entries_schema`]; the builder is empty after.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let rows = std::mem::take(&mut self.rows);
        let mut cols = self.header.finish();
        self.loss
            .padded(rows)
            .finish(LossBuilders::NAMES_ENTRIES, &mut cols);
        self.icmp.padded(rows).finish(&mut cols);
        self.http.padded(rows).finish(&mut cols);
        self.dns.padded(rows).finish(&mut cols);
        self.txn.padded(rows).finish(&mut cols);
        self.drops.padded(rows).finish(&mut cols);
        assemble(&entries_schema(), rows, cols)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{UInt32Type, UInt64Type};
    use faultline_schemas::entries_schema;

    use super::*;
    use crate::emit::{EntryHeader, LossCounters};

    fn entry(body: EntryBody<'_>) -> EntryView<'_> {
        let ip = "10.0.0.1".parse().unwrap();
        EntryView::new(EntryHeader::new(1, (ip, None), (ip, None), 6, "x"), body)
    }

    #[test]
    fn body_columns_are_null_for_other_kinds_across_batches() {
        let loss = EntryBody::Loss(LossCounters {
            retransmissions: 4,
            ..LossCounters::default()
        });
        let drop = EntryBody::CaptureDrop(DropCount {
            packets: 9,
            interval_us: 1_000,
        });
        let mut b = EntryBatchBuilder::new(2);
        let mut batches = Vec::new();
        for rows in [
            &[loss, EntryBody::Tcp, drop][..],
            &[EntryBody::Timeout, loss],
        ] {
            for body in rows {
                b.append(1, None, &entry(*body));
            }
            assert_eq!(b.rows(), rows.len());
            batches.push(b.finish().unwrap());
        }
        assert_eq!(b.rows(), 0);
        let col = |i: usize, name: &str| batches[i].column_by_name(name).unwrap().clone();
        let retrans = col(0, ec::RETRANSMISSIONS);
        let retrans = retrans.as_primitive::<UInt32Type>();
        assert_eq!((retrans.len(), retrans.value(0)), (3, 4));
        assert!(retrans.is_null(1) && retrans.is_null(2));
        let drops = col(0, ec::CAPTURE_DROPS);
        let drops = drops.as_primitive::<UInt64Type>();
        assert!(drops.is_null(0) && drops.is_null(1));
        assert_eq!(drops.value(2), 9);
        let kinds = col(0, ec::KIND);
        let kinds: Vec<_> = kinds.as_string::<i32>().iter().flatten().collect();
        assert_eq!(kinds, ["loss", "tcp", "loss"]);
        let retrans = col(1, ec::RETRANSMISSIONS);
        let retrans = retrans.as_primitive::<UInt32Type>();
        assert_eq!(retrans.len(), 2);
        assert!(retrans.is_null(0));
        assert_eq!(retrans.value(1), 4);
        assert_eq!(col(1, ec::CAPTURE_DROPS).null_count(), 2);
        assert_eq!(col(1, ec::ICMP_TYPE).null_count(), 2);
        assert!(batches.iter().all(|b| b.schema() == entries_schema()));
    }
}
