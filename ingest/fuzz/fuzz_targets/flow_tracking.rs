//! Arbitrary packet sequences through decode, the flow table with its TCP/loss/ICMP
//! classifiers, and the batcher. The input is cut into frames: one byte picks the link type,
//! then each frame is `[len: u16 LE][time step in ms: u8][len bytes]`. Any panic is a bug, and
//! every flow that was opened must come out as exactly one flow record.
#![no_main]

use faultline_ingest::batch::Batcher;
use faultline_ingest::flow::FlowConfig;
use faultline_ingest::pipeline::FlowAnalysis;
use faultline_ingest::sink::MemorySink;
use faultline_ingest::{Frame, LinkType, decode};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 4] = [LinkType::Ethernet, LinkType::RawIp, LinkType::LinuxSll, LinkType::Null];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else { return };
    let link = LINKS[usize::from(selector) % LINKS.len()];
    let mut table = FlowAnalysis::new(FlowConfig::default());
    let mut out = Batcher::new(MemorySink::default(), 64);
    let mut ts_us = 1_700_000_000_000_000i64;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        // Steps up to 255 ms, and with the high bit pattern 0xff a jump past the stream timeout.
        ts_us += if rest[2] == 0xff { 11_000_000 } else { i64::from(rest[2]) * 1000 };
        rest = &rest[3..];
        let bytes = &rest[..len.min(rest.len())];
        rest = &rest[bytes.len()..];
        let frame = Frame { ts_us, link, data: bytes, orig_len: bytes.len() as u32, interface: 0 };
        if let Ok(packet) = decode(&frame) {
            table.process(&packet, &mut out);
        }
    }
    table.finish(&mut out);
    assert!(table.is_empty(), "flows left after finish");
    let created = table.stats().flows_created;
    let sink = out.finish().expect("memory sink cannot fail");
    let flows: usize = sink.flows.iter().map(|b| b.num_rows()).sum();
    assert_eq!(flows as u64, created, "every flow yields one record");
});
