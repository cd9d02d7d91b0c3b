#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
mod oracle_support;
use faultline_ingest::emit::{Emit, EntryView, FlowView};
use faultline_ingest::flow::{FlowConfig, FlowTable};

struct P;
impl Emit for P {
    fn entry(&mut self, e: &EntryView<'_>) {
        println!("  ENTRY {:?} {} ts={} reason={:?} flow={:?}", e.kind, e.summary, e.ts_us, e.error.map(|x| x.reason), e.flow.map(|f| f.flow_id));
    }
    fn flow(&mut self, f: &FlowView<'_>) {
        println!("FLOW {} {}:{} -> {}:{} p{} vlan={:?} {:?} {:?} c={:?} end={} pk={}/{} by={}/{} start={} last={} err={:?}", f.ident.flow_id, f.ident.orig.0, f.ident.orig.1, f.ident.resp.0, f.ident.resp.1, f.ident.proto, f.ident.vlan, f.conn_state, f.history, f.completeness, f.end_reason, f.orig.pkts, f.resp.pkts, f.orig.bytes, f.resp.bytes, f.start_us, f.end_us, f.tcp_error);
    }
}

#[test]
fn debug_capture() {
    let Ok(name) = std::env::var("CAP") else { return };
    let dirs = oracle_support::dirs().unwrap();
    let cfg = if std::env::var("ZEEK").is_ok() { FlowConfig::zeek() } else { FlowConfig::default() };
    let mut t = FlowTable::new(cfg);
    let mut p = P;
    oracle_support::for_each_packet(&dirs.pcaps.join(&name), |_, pk| t.process(pk, &mut p));
    t.finish(&mut p);
    println!("{:?}", t.stats());
}

#[derive(Default)]
struct Count(u64, u64);
impl Emit for Count {
    fn entry(&mut self, _e: &EntryView<'_>) { self.0 += 1; }
    fn flow(&mut self, _f: &FlowView<'_>) { self.1 += 1; }
}

#[test]
fn throughput() {
    let Ok(name) = std::env::var("TPUT") else { return };
    let dirs = oracle_support::dirs().unwrap();
    let mut reader = faultline_ingest::CaptureReader::open(&dirs.pcaps.join(&name)).unwrap();
    let mut frames: Vec<(i64, faultline_ingest::LinkType, Vec<u8>, u32)> = Vec::new();
    while let Some(Ok(f)) = reader.next_frame() {
        frames.push((f.ts_us, f.link, f.data.to_vec(), f.orig_len));
    }
    let mut pkts = Vec::new();
    for (ts, link, data, orig_len) in &frames {
        let fr = faultline_ingest::Frame { ts_us: *ts, link: *link, data, orig_len: *orig_len, interface: 0 };
        if let Ok(p) = faultline_ingest::decode(&fr) { pkts.push(p); }
    }
    let span = pkts.last().unwrap().ts_us - pkts[0].ts_us + 60_000_000;
    let rounds = 30;
    let mut t = FlowTable::new(FlowConfig::default());
    let mut c = Count::default();
    let start = std::time::Instant::now();
    for r in 0..rounds {
        let off = r * span;
        for p in &pkts {
            let q = faultline_ingest::Packet { ts_us: p.ts_us + off, ..*p };
            t.process(&q, &mut c);
        }
    }
    t.finish(&mut c);
    let el = start.elapsed();
    let n = pkts.len() as f64 * rounds as f64;
    println!("{} packets x {rounds}: {:.2} s, {:.2} M packets/s; entries {} flows {} {:?}", pkts.len(), el.as_secs_f64(), n / el.as_secs_f64() / 1e6, c.0, c.1, t.stats());
}
