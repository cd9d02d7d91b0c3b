//! A deterministic generator of synthetic `entries` rows for storage and query benchmarks.
//!
//! It makes [`EntryView`]s directly (no packets, no flow tracking) and turns them into record
//! batches of [`faultline_schemas::entries_schema`] with ingest's own [`EntryBatchBuilder`], so
//! the rows are shaped exactly as ingested ones; fast enough to make ten million rows in
//! seconds. The
//! distributions aim at what a busy network yields: timestamps increasing over a number of days
//! with a diurnal cycle and quieter weekends; TCP connection errors (`SynSent`, `Reset`,
//! `CloseWait`, `LastAck`), stale streams, packet-loss entries and ICMP errors in fixed
//! proportions; a few thousand clients and servers picked with a Zipf-like skew (so that
//! [`EntriesGenerator::rare_src_ip`] is a selective filter), service ports tied to servers, and
//! reason texts shaped like the ones the ingest pipeline writes.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use base64::Engine as _;
use faultline_ingest::batch::EntryBatchBuilder;
use faultline_ingest::emit::{
    EntryBody, EntryHeader, EntryView, ErrorView, FlowIdent, IcmpView, LossCounters, QuotedTuple,
};
use faultline_schemas::{ErrorType, TcpErrorState};

/// Microseconds per hour.
const HOUR_US: i64 = 3_600_000_000;
/// Microseconds per day.
pub const DAY_US: i64 = 24 * HOUR_US;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Rows in all.
    pub rows: u64,
    /// Days the timestamps span, from `start_us`.
    pub days: u32,
    /// Seed of every random choice: the same config yields the same rows.
    pub seed: u64,
    /// First instant of the span, µs since the epoch (UTC).
    pub start_us: i64,
    /// Rows per record batch (the last one may be shorter).
    pub batch_rows: usize,
    /// Distinct client (originator) addresses.
    pub clients: usize,
    /// Distinct server (responder) addresses.
    pub servers: usize,
}

impl Default for GenConfig {
    /// One million rows over 7 days from Monday 2024-03-04 00:00 UTC, 8192-row batches,
    /// 5000 clients and 2000 servers.
    fn default() -> Self {
        Self {
            rows: 1_000_000,
            days: 7,
            seed: 42,
            start_us: 1_709_510_400_000_000,
            batch_rows: 8192,
            clients: 5000,
            servers: 2000,
        }
    }
}

impl GenConfig {
    /// The end of the span (exclusive), µs since the epoch.
    pub fn end_us(&self) -> i64 {
        self.start_us + i64::from(self.days.max(1)) * DAY_US
    }
}

/// SplitMix64: a tiny, fast, well-mixed deterministic generator (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `[0, 1)` with 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, n)` (multiply-shift; `n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform below a power of two whose exponent is itself uniform in `lo..=hi`: small values
    /// common, large ones possible (sizes, counts).
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let bits = self.between(lo, hi);
        self.below(1 << bits)
    }

    /// Picks an index by cumulative weights (`cum` ascending, last = total).
    fn pick(&mut self, cum: &[f64]) -> usize {
        let total = cum.last().copied().unwrap_or(0.0);
        let u = self.next_f64() * total;
        cum.partition_point(|&c| c <= u)
            .min(cum.len().saturating_sub(1))
    }
}

/// SplitMix64's finaliser: a bijection on u64, so distinct inputs give distinct outputs.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Running sums of `weights`, for [`SplitMix64::pick`].
fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    weights
        .into_iter()
        .scan(0.0, |acc, w| {
            *acc += w;
            Some(*acc)
        })
        .collect()
}

/// Zipf weights `1 / (i + 1)^s` for `n` ranks.
fn zipf(n: usize, s: f64) -> Vec<f64> {
    cumulative((0..n).map(|i| 1.0 / ((i + 1) as f64).powf(s)))
}

/// What a generated row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A `tcp` entry in one of Kubeshark's error states.
    Tcp(TcpErrorState),
    /// A stale stream (`timeout`).
    Stale,
    /// A flow with retransmissions or gaps (`loss`).
    Loss,
    /// An ICMP error about a flow (`icmp`).
    Icmp,
}

/// Row shapes and their shares (per mille).
const SHAPES: [(Shape, f64); 7] = [
    (Shape::Tcp(TcpErrorState::SynSent), 140.0),
    (Shape::Tcp(TcpErrorState::Reset), 120.0),
    (Shape::Tcp(TcpErrorState::CloseWait), 40.0),
    (Shape::Tcp(TcpErrorState::LastAck), 20.0),
    (Shape::Stale, 130.0),
    (Shape::Loss, 400.0),
    (Shape::Icmp, 150.0),
];

/// Service ports of servers (a server keeps one) and their shares.
const SERVICE_PORTS: [(u16, f64); 10] = [
    (443, 50.0),
    (80, 15.0),
    (8080, 8.0),
    (5432, 5.0),
    (6379, 5.0),
    (3306, 4.0),
    (9092, 4.0),
    (22, 3.0),
    (25, 2.0),
    (8443, 4.0),
];

/// ICMP errors: (type, code, Kubeshark name) and their shares.
const ICMP_MESSAGES: [(u8, u8, &str, f64); 6] = [
    (3, 3, "DestinationUnreachable(Port)", 45.0),
    (3, 1, "DestinationUnreachable(Host)", 20.0),
    (3, 0, "DestinationUnreachable(Net)", 5.0),
    (3, 4, "DestinationUnreachable(FragmentationNeeded)", 5.0),
    (
        3,
        13,
        "DestinationUnreachable(CommunicationAdminProhibited)",
        5.0,
    ),
    (11, 0, "TimeExceeded(TTLExceeded)", 20.0),
];

/// Capture interfaces.
const SOURCES: [&str; 3] = ["eth0", "eth1", "bond0"];

/// Routers that send ICMP errors.
const ROUTERS: usize = 16;

/// Precomputed addresses and pick tables.
#[derive(Debug)]
struct Hosts {
    clients: Vec<IpAddr>,
    servers: Vec<IpAddr>,
    routers: Vec<IpAddr>,
    /// The least and the most frequent client, as text.
    rare_client: String,
    busiest_client: String,
    client_cum: Vec<f64>,
    server_cum: Vec<f64>,
    server_port: Vec<u16>,
}

impl Hosts {
    fn new(cfg: &GenConfig, rng: &mut SplitMix64) -> Self {
        // Every octet below is < 256 by construction.
        let ip = |a: usize, b: usize, c: usize, d: usize| {
            IpAddr::V4(Ipv4Addr::new(a as u8, b as u8, c as u8, d as u8))
        };
        let clients: Vec<IpAddr> = (0..cfg.clients.max(1))
            .map(|i| ip(10, 1 + i / 62_500 % 250, i / 250 % 250, 1 + i % 250))
            .collect();
        let servers: Vec<IpAddr> = (0..cfg.servers.max(1))
            .map(|i| match i % 4 {
                3 => ip(198, 51, 100 + i / 250 % 100, 1 + i % 250),
                _ => ip(172, 16 + i / 62_500 % 16, i / 250 % 250, 1 + i % 250),
            })
            .collect();
        let routers = (0..ROUTERS).map(|i| ip(10, 255, 0, i + 1)).collect();
        let text = |ip: Option<&IpAddr>| ip.map_or_else(String::new, IpAddr::to_string);
        let port_cum = cumulative(SERVICE_PORTS.iter().map(|p| p.1));
        let server_port = (0..servers.len())
            .map(|_| SERVICE_PORTS[rng.pick(&port_cum)].0)
            .collect();
        Self {
            client_cum: zipf(clients.len(), 1.1),
            server_cum: zipf(servers.len(), 1.1),
            rare_client: text(clients.last()),
            busiest_client: text(clients.first()),
            clients,
            servers,
            routers,
            server_port,
        }
    }
}

/// Spreads rows over hours: how many rows each hour of the span gets (diurnal cycle peaking at
/// 14:00 UTC, weekends at 60 %), as cumulative row counts per hour.
fn hour_ends(cfg: &GenConfig) -> Vec<u64> {
    let hours = i64::from(cfg.days.max(1)) * 24;
    let weight = |h: i64| {
        let abs_hour = cfg.start_us.div_euclid(HOUR_US) + h;
        let hour_of_day = abs_hour.rem_euclid(24) as f64;
        // 1970-01-01 was a Thursday: day 0 is Thursday, so Saturday is 2 and Sunday 3 (mod 7).
        let weekday = abs_hour.div_euclid(24).rem_euclid(7);
        let weekend = if weekday == 2 || weekday == 3 {
            0.6
        } else {
            1.0
        };
        let diurnal = 1.0 + 0.6 * ((hour_of_day - 14.0) / 24.0 * std::f64::consts::TAU).cos();
        diurnal * weekend
    };
    let cum = cumulative((0..hours).map(weight));
    let total = cum.last().copied().unwrap_or(1.0);
    cum.iter()
        .map(|c| ((c / total) * cfg.rows as f64).round() as u64)
        .collect()
}

/// One flow's endpoints, as indexes into [`Hosts`] plus ports.
#[derive(Debug, Clone, Copy)]
struct Endpoints {
    client: usize,
    server: usize,
    src_port: u16,
    dst_port: u16,
}

/// Yields the configured rows as record batches, oldest first.
#[derive(Debug)]
pub struct EntriesGenerator {
    cfg: GenConfig,
    rng: SplitMix64,
    texts: Texts,
    hosts: Hosts,
    shape_cum: Vec<f64>,
    icmp_cum: Vec<f64>,
    hour_ends: Vec<u64>,
    hour: usize,
    row: u64,
}

impl EntriesGenerator {
    /// A generator for `cfg`.
    pub fn new(cfg: GenConfig) -> Self {
        let mut rng = SplitMix64(cfg.seed);
        let hosts = Hosts::new(&cfg, &mut rng);
        Self {
            rng,
            texts: Texts::default(),
            hosts,
            shape_cum: cumulative(SHAPES.iter().map(|s| s.1)),
            icmp_cum: cumulative(ICMP_MESSAGES.iter().map(|m| m.3)),
            hour_ends: hour_ends(&cfg),
            hour: 0,
            row: 0,
            cfg,
        }
    }

    /// The least frequent client address: the `src.ip` of only a few rows (about one in
    /// 75,000 with the default 5000 clients), for a selective query.
    pub fn rare_src_ip(&self) -> &str {
        &self.hosts.rare_client
    }

    /// The most frequent client address.
    pub fn busiest_src_ip(&self) -> &str {
        &self.hosts.busiest_client
    }

    /// The configuration.
    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// Timestamp of the next row: evenly spread within its hour with jitter, never decreasing.
    fn next_ts(&mut self) -> i64 {
        while self.hour + 1 < self.hour_ends.len() && self.row >= self.hour_ends[self.hour] {
            self.hour += 1;
        }
        let first = if self.hour == 0 {
            0
        } else {
            self.hour_ends[self.hour - 1]
        };
        let n = self.hour_ends[self.hour].saturating_sub(first).max(1);
        let k = self.row.saturating_sub(first) as f64;
        let offset = ((k + self.rng.next_f64()) / n as f64 * HOUR_US as f64) as i64;
        self.cfg.start_us + self.hour as i64 * HOUR_US + offset.min(HOUR_US - 1)
    }

    fn endpoints(&mut self) -> Endpoints {
        let client = self.rng.pick(&self.hosts.client_cum);
        let server = self.rng.pick(&self.hosts.server_cum);
        Endpoints {
            client,
            server,
            src_port: self.rng.between(32_768, 60_999) as u16,
            dst_port: self.hosts.server_port[server],
        }
    }

    /// Builds the next batch of at most `batch_rows` rows.
    fn batch(&mut self, rows: usize) -> Result<RecordBatch, ArrowError> {
        let mut b = EntryBatchBuilder::new(rows);
        let mut texts = std::mem::take(&mut self.texts);
        for _ in 0..rows {
            self.row(&mut b, &mut texts);
        }
        self.texts = texts;
        b.finish()
    }

    /// Makes the next row and appends it to `b`.
    fn row(&mut self, b: &mut EntryBatchBuilder, t: &mut Texts) {
        let ts = self.next_ts();
        let id = mix64(self.row ^ self.cfg.seed.rotate_left(32));
        self.row += 1;
        let shape = SHAPES[self.rng.pick(&self.shape_cum)].0;
        let ep = self.endpoints();
        let flow_id = mix64((ep.client as u64) << 40 ^ (ep.server as u64) << 20 ^ ts as u64);
        write_community_id(&mut t.community_id, flow_id);
        let vlan = match self.rng.below(10) {
            0 => Some(100),
            1 => Some(200),
            _ => None,
        };
        let source = Some(SOURCES[ep.server % SOURCES.len()]);
        if shape == Shape::Icmp {
            let (router, name, icmp) = self.icmp_row(ep);
            let client = (self.hosts.clients[ep.client], None);
            let header = EntryHeader::new(ts, (router, None), client, 1, name);
            let header = EntryHeader {
                flow: Some(self.flow_ident(ep, flow_id, vlan, &t.community_id)),
                vlan,
                ..header
            };
            b.append(id, source, &EntryView::new(header, EntryBody::Icmp(icmp)));
            return;
        }
        let (body, error_type, msg) = self.tcp_flow_row(ep, shape, t);
        let summary = if shape == Shape::Loss {
            &t.summary
        } else {
            msg
        };
        let flow = self.flow_ident(ep, flow_id, vlan, &t.community_id);
        let header = EntryHeader::of_flow(ts, flow, summary);
        let header = header.with_error(ErrorView {
            error_type,
            msg,
            reason: &t.reason,
        });
        b.append(id, source, &EntryView::new(header, body));
    }

    /// The identity of the TCP flow client → server a row is about.
    fn flow_ident<'a>(
        &self,
        ep: Endpoints,
        flow_id: u64,
        vlan: Option<u16>,
        community_id: &'a str,
    ) -> FlowIdent<'a> {
        FlowIdent {
            flow_id,
            community_id,
            orig: (self.hosts.clients[ep.client], ep.src_port),
            resp: (self.hosts.servers[ep.server], ep.dst_port),
            proto: 6,
            vlan,
        }
    }

    /// The body, error type and message of a `tcp`, `timeout` or `loss` row of a TCP flow
    /// client → server; the reason (and a loss row's summary) are written into `t`.
    fn tcp_flow_row(
        &mut self,
        ep: Endpoints,
        shape: Shape,
        t: &mut Texts,
    ) -> (EntryBody<'static>, ErrorType, &'static str) {
        let (src, dst) = (self.hosts.clients[ep.client], self.hosts.servers[ep.server]);
        let (error_type, msg) = match shape {
            Shape::Tcp(state) => (ErrorType::Connection, state.as_str()),
            Shape::Stale => (ErrorType::Timeout, "stale stream"),
            _ => (ErrorType::Loss, "packet loss"),
        };
        let rng = &mut self.rng;
        let r = &mut t.reason;
        r.clear();
        // Writing into a String cannot fail.
        let _ = match shape {
            Shape::Tcp(TcpErrorState::SynSent) => {
                let n = rng.between(1, 6);
                let s = if n == 1 { "" } else { "s" };
                if rng.below(3) == 0 {
                    write!(r, "connection refused: RST from responder after {n} SYN{s}")
                } else {
                    write!(r, "no SYN-ACK to {n} SYN{s}; stream timed out after 30 s")
                }
            }
            Shape::Tcp(TcpErrorState::Reset) => {
                let by = if rng.below(4) == 0 {
                    ("originator", src, ep.src_port)
                } else {
                    ("responder", dst, ep.dst_port)
                };
                let bytes = rng.log_uniform(6, 20);
                write!(r, "reset by {} {}:{} after {bytes} bytes", by.0, by.1, by.2)
            }
            Shape::Tcp(TcpErrorState::CloseWait) => write!(
                r,
                "FIN from responder {dst}:{}, none from originator {src}:{}; stream timed out after 30 s",
                ep.dst_port, ep.src_port
            ),
            Shape::Tcp(TcpErrorState::LastAck) => write!(
                r,
                "both sides sent FIN; final ACK of the responder's FIN missing; capture ended"
            ),
            Shape::Stale => write!(
                r,
                "{} bytes from {src}:{} unacknowledged; idle {:.1} s",
                rng.between(1, 65_535),
                ep.src_port,
                30.0 + rng.below(300) as f64 / 10.0
            ),
            _ => Ok(()),
        };
        let body = match shape {
            Shape::Tcp(_) => EntryBody::Tcp,
            Shape::Stale => EntryBody::Timeout,
            _ => EntryBody::Loss(self.loss_counters(t)),
        };
        (body, error_type, msg)
    }

    /// The counters of a `loss` row, with its reason and summary written into `t`.
    fn loss_counters(&mut self, t: &mut Texts) -> LossCounters {
        let rng = &mut self.rng;
        let retrans = (rng.below(2) + rng.log_uniform(0, 5)) as u32;
        let lost = if rng.below(3) == 0 {
            rng.between(1, 4) as u32
        } else {
            0
        };
        let retrans = if retrans == 0 && lost == 0 {
            1
        } else {
            retrans
        };
        let loss = LossCounters {
            retransmissions: retrans,
            fast_retransmissions: retrans / 3,
            lost_segments: lost,
            ack_lost_segments: u32::from(rng.below(10) == 0),
            dup_acks: retrans / 2 + lost,
            out_of_order: rng.below(3) as u32,
            zero_windows: u32::from(rng.below(20) == 0),
        };
        let counts = loss.to_array();
        let words = [
            "retransmitted",
            "fast-retransmitted",
            "after a segment not captured",
            "ACKing unseen data",
            "duplicate ACKs",
            "out of order",
            "zero-window",
        ];
        let r = &mut t.reason;
        r.push_str("segments flagged by tshark's analysis: ");
        let mut sep = "";
        for (n, what) in counts.iter().zip(words) {
            if *n > 0 {
                let _ = write!(r, "{sep}{n} {what}");
                sep = ", ";
            }
        }
        let s = &mut t.summary;
        s.clear();
        let mut sep = "";
        for (n, what) in [
            (counts[0], "retransmission"),
            (counts[2], "lost segment"),
            (counts[3], "ACKed unseen segment"),
        ] {
            if n > 0 {
                let plural = if n == 1 { "" } else { "s" };
                let _ = write!(s, "{sep}{n} {what}{plural}");
                sep = ", ";
            }
        }
        loss
    }

    /// An ICMP error from a router to the client about the client's flow to a server: the
    /// router, the message's name and its fields.
    fn icmp_row(&mut self, ep: Endpoints) -> (IpAddr, &'static str, IcmpView) {
        let (icmp_type, code, name, _) = ICMP_MESSAGES[self.rng.pick(&self.icmp_cum)];
        let router = self.hosts.routers[ep.server % ROUTERS];
        let udp = self.rng.below(2) == 0;
        let dst_port = if udp {
            [53, 123, 443][ep.server % 3]
        } else {
            ep.dst_port
        };
        let quoted = QuotedTuple {
            proto: if udp { 17 } else { 6 },
            src: self.hosts.clients[ep.client],
            src_port: Some(ep.src_port),
            dst: self.hosts.servers[ep.server],
            dst_port: Some(dst_port),
        };
        let icmp = IcmpView {
            version: 4,
            icmp_type,
            code,
            quoted: Some(quoted),
        };
        (router, name, icmp)
    }
}

/// Texts of the row being made, reused from row to row.
#[derive(Debug, Default)]
struct Texts {
    summary: String,
    reason: String,
    community_id: String,
}

/// Writes a Community-ID-shaped value (`1:` and 28 base64 characters) derived from the flow id.
fn write_community_id(out: &mut String, flow_id: u64) {
    let mut digest = [0u8; 21];
    let mut state = SplitMix64(flow_id);
    for chunk in digest.chunks_mut(8) {
        let bytes = state.next_u64().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    let mut text = [0u8; 28];
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(&digest[..20], &mut text)
        .unwrap_or(0);
    out.clear();
    out.push_str("1:");
    out.push_str(std::str::from_utf8(&text[..n]).unwrap_or(""));
}

impl Iterator for EntriesGenerator {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let left = self.cfg.rows.saturating_sub(self.row);
        if left == 0 {
            return None;
        }
        let rows = left.min(self.cfg.batch_rows.max(1) as u64) as usize;
        Some(self.batch(rows))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.cfg.rows.saturating_sub(self.row);
        let n = left.div_ceil(self.cfg.batch_rows.max(1) as u64) as usize;
        (n, Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{TimestampMicrosecondType, UInt64Type};
    use faultline_schemas::{entries_schema, entry_col as ec};
    use std::collections::{HashMap, HashSet};

    fn generate(cfg: GenConfig) -> Vec<RecordBatch> {
        EntriesGenerator::new(cfg).map(|b| b.unwrap()).collect()
    }

    fn small(rows: u64) -> GenConfig {
        GenConfig {
            rows,
            ..GenConfig::default()
        }
    }

    fn strings<'a>(batches: &'a [RecordBatch], col: &str) -> Vec<Option<&'a str>> {
        batches
            .iter()
            .flat_map(|b| b.column_by_name(col).unwrap().as_string::<i32>().iter())
            .collect()
    }

    #[test]
    fn schema_and_row_count() {
        let batches = generate(small(20_000));
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[0].num_rows(), 8192);
        assert_eq!(
            batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
            20_000
        );
        for b in &batches {
            assert_eq!(b.schema(), entries_schema());
        }
    }

    #[test]
    fn timestamps_sorted_within_span_and_diurnal() {
        let cfg = small(200_000);
        let batches = generate(cfg.clone());
        let ts: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b.column_by_name(ec::TIMESTAMP)
                    .unwrap()
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        assert!(ts[0] >= cfg.start_us && *ts.last().unwrap() < cfg.end_us());
        assert!(*ts.last().unwrap() > cfg.end_us() - HOUR_US);
        // Monday 14:00 is busier than Monday 02:00, and Monday busier than Saturday.
        let in_hour = |h: i64| {
            let lo = cfg.start_us + h * HOUR_US;
            ts.iter().filter(|&&t| t >= lo && t < lo + HOUR_US).count()
        };
        assert!(
            in_hour(14) > 2 * in_hour(2),
            "{} {}",
            in_hour(14),
            in_hour(2)
        );
        assert!(in_hour(14) > in_hour(5 * 24 + 14));
    }

    #[test]
    fn deterministic_per_seed() {
        let a = generate(small(10_000));
        let b = generate(small(10_000));
        assert_eq!(a, b);
        let c = generate(GenConfig {
            seed: 7,
            ..small(10_000)
        });
        assert_ne!(a, c);
    }

    #[test]
    fn ids_unique() {
        let batches = generate(small(50_000));
        let ids: HashSet<u64> = batches
            .iter()
            .flat_map(|b| {
                b.column_by_name(ec::ID)
                    .unwrap()
                    .as_primitive::<UInt64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids.len(), 50_000);
    }

    #[test]
    fn kinds_and_errors_consistent() {
        let batches = generate(small(50_000));
        let kinds = strings(&batches, ec::KIND);
        let types = strings(&batches, ec::ERROR_TYPE);
        let msgs = strings(&batches, ec::ERROR_MSG);
        let mut per_kind: HashMap<&str, usize> = HashMap::new();
        for ((k, t), m) in kinds.iter().zip(&types).zip(&msgs) {
            let k = k.unwrap();
            *per_kind.entry(k).or_default() += 1;
            match k {
                "tcp" => {
                    assert_eq!(*t, Some("connection"));
                    assert!(["SynSent", "Reset", "CloseWait", "LastAck"].contains(&m.unwrap()));
                }
                "timeout" => assert_eq!((*t, *m), (Some("timeout"), Some("stale stream"))),
                "loss" => assert_eq!((*t, *m), (Some("loss"), Some("packet loss"))),
                "icmp" => assert_eq!((*t, *m), (None, None)),
                other => panic!("unexpected kind {other}"),
            }
        }
        assert_eq!(per_kind.len(), 4, "{per_kind:?}");
        let syn_sent = msgs.iter().filter(|m| **m == Some("SynSent")).count();
        // 14 % of rows, within a generous margin.
        assert!((5_500..8_500).contains(&syn_sent), "{syn_sent}");
        let reasons = strings(&batches, ec::ERROR_REASON);
        let summaries = strings(&batches, ec::SUMMARY);
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!(reasons[i].is_some(), *k != Some("icmp"));
            assert!(!summaries[i].unwrap().is_empty(), "row {i}");
        }
        let community = strings(&batches, ec::COMMUNITY_ID);
        assert!(community.iter().all(|c| c.unwrap().len() == 30));
    }

    #[test]
    fn sources_skewed() {
        let generator = EntriesGenerator::new(small(100_000));
        let (rare, busy) = (
            generator.rare_src_ip().to_owned(),
            generator.busiest_src_ip().to_owned(),
        );
        let batches: Vec<RecordBatch> = generator.map(|b| b.unwrap()).collect();
        let src = strings(&batches, ec::SRC_IP);
        let count = |ip: &str| src.iter().filter(|s| **s == Some(ip)).count();
        assert!(count(&busy) > 1000, "{}", count(&busy));
        assert!(count(&rare) < 10, "{}", count(&rare));
        let distinct: HashSet<_> = src.iter().collect();
        assert!(distinct.len() > 1000, "{}", distinct.len());
        let nulls = batches[0].column_by_name(ec::REQUEST_HEADERS).unwrap();
        assert_eq!(nulls.null_count(), nulls.len());
    }
}
