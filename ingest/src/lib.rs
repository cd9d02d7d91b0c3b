//! faultline's ingest pipeline: source -> decode -> flow table -> classifiers -> batcher -> sink.
//!
//! Packets come from capture files ([`source`]) or network interfaces ([`live`]), are decoded without allocation ([`decode`]),
//! tracked per bidirectional flow ([`flow`]), classified into TCP connection errors, stale
//! streams, packet loss and ICMP messages ([`tcp`], [`icmp`]), and written as Arrow record
//! batches ([`batch`]) to a [`sink::BatchSink`].

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

pub use decode::{Packet, decode};
pub use emit::{Emit, EntryBody, EntryHeader, EntryView, FlowView};
pub use sink::{BatchSink, MemorySink, Table};
pub use source::{CaptureReader, Frame, LinkType, SourceError, SourceStats};
