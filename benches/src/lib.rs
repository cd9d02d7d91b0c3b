//! Shared helpers of faultline's criterion benchmarks and comparison harnesses.

pub mod entries_gen;
pub mod query_bench;

use faultline_ingest::generate::{self, Config as GenerateConfig};

/// A generated capture held in memory: the pcap bytes and the number of packets.
pub struct Capture {
    /// The pcap file's bytes.
    pub bytes: Vec<u8>,
    /// Packets in it.
    pub packets: u64,
}

/// Generates a deterministic capture of about `packets` packets in memory.
pub fn generated_capture(packets: u64, seed: u64) -> anyhow::Result<Capture> {
    let cfg = GenerateConfig {
        seed,
        target_packets: packets,
        ..GenerateConfig::default()
    };
    let mut bytes = Vec::new();
    let summary = generate::write_capture(&cfg, &mut bytes, std::io::sink())?;
    Ok(Capture {
        bytes,
        packets: summary.packets,
    })
}
