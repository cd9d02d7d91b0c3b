//! Library side of the `faultline` binary: the ingest service that wires `ingest` into
//! `engine` ([`service`]), the HTTP server, reports and pcap export, shared by the binary, its
//! tests and the benchmarks.

pub mod pcap_export;
pub mod render;
pub mod reports;
pub mod server;
pub mod service;
