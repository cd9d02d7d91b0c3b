//! faultline's ingest pipeline: source -> decode -> flow table -> analyzer chain -> batcher ->
//! sink.
//!
//! Packets come from capture files ([`source`]) or network interfaces ([`live`]), are decoded
//! without allocation ([`decode`]), tracked per bidirectional flow ([`flow`]), and analysed by
//! the chain of analyzers the pipeline composes ([`pipeline::chain`]): TCP connection errors,
//! stale streams and packet loss ([`tcp`]), UDP ([`udp`]), ICMP messages ([`icmp`]) and
//! HTTP/DNS transactions ([`app`]). Analyzers emit borrowed rows ([`emit`]: an
//! [`EntryView`] is a header plus a body per kind), which the batcher ([`batch`]) copies into
//! Arrow record batches for a [`sink::BatchSink`] (the engine implements it; this crate never
//! depends on the engine). Beside the pipeline: the traffic recorder ([`recorder`]), which keeps
//! the raw packets indexed by flow for pcap export, and the generator ([`generate`]) of
//! synthetic captures with injected errors and the truth of what each must give.

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
