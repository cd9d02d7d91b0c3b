//! faultline's ingest pipeline: source -> decode -> flow table -> classifiers -> batcher -> sink.
//!
//! Packets come from capture files ([`source`]) or network interfaces ([`live`]), are decoded without allocation ([`decode`]),
//! tracked per bidirectional flow ([`flow`]), analysed by the chain of analyzers the pipeline
//! composes ([`pipeline::chain`]): TCP connection errors, stale streams and packet loss
//! ([`tcp`]), UDP ([`udp`]), ICMP messages ([`icmp`]) and HTTP/DNS transactions ([`app`]); and
//! written as Arrow record batches ([`batch`]) to a [`sink::BatchSink`].

pub mod app;
pub mod batch;
pub mod decode;
pub mod emit;
pub mod flow;
pub mod generate;
pub mod icmp;
pub mod live;
pub mod pipeline;
pub mod recorder;
pub mod sink;
pub mod source;
pub mod tcp;
pub mod udp;

pub use decode::{Packet, decode};
pub use emit::{Emit, EntryBody, EntryHeader, EntryView, FlowView};
pub use sink::{BatchSink, MemorySink, Table};
pub use source::{CaptureReader, Frame, LinkType, SourceError, SourceStats};
