//! Library side of the `faultline` binary: the pieces that wire `ingest` into `engine`, shared
//! by the binary and the benchmarks.

pub mod engine_sink;
pub mod pcap_export;
pub mod render;
pub mod reports;
pub mod server;
