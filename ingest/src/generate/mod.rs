//! Synthetic capture generator: a realistic, deterministic pcap with injected network errors
//! and a truth file saying exactly which entries faultline should produce from it. Used by the
//! README demo (`faultline generate`), the benchmarks and end-to-end tests.
//!
//! # Output
//! [`write_capture`] writes a classic little-endian pcap (microsecond timestamps,
//! `LINKTYPE_ETHERNET`) in time order, and a truth file of JSON lines, one [`TruthRecord`] per
//! injected event, in the order the events' conversations start.
//!
//! # Traffic
//! The capture point is the access switch of a client LAN (see `hosts.rs`): 55 IPv4 clients
//! (10.0.0.x, plus 10.0.100.x on VLAN 100 and 10.0.200.x on VLAN 200, 802.1Q-tagged), 16
//! IPv6 clients (2001:db8:0:1::/64), servers behind the router (web 10.1.0.10-13:80,
//! 10.1.0.20-21:8080, 2001:db8:1::10/12:80; resolver 10.1.0.53 / 2001:db8:1::53; NTP, syslog,
//! IPsec hosts). Normal conversations: HTTP/1.1 keep-alive connections (three-way handshake,
//! one to six GET/POST requests with realistic headers, 200/404/500/301 responses with
//! Content-Length, slow start and delayed ACKs, FIN close from either side), DNS A/AAAA lookups
//! (NOERROR with answers, some NXDOMAIN), NTP and ping. About 12 % of conversations are IPv6.
//! RTTs range from 0.2 to 50 ms; lengths and checksums are filled in by
//! `etherparse::PacketBuilder`.
//!
//! # Injected events ([`Event`])
//! * TCP `SynSent`: SYN + retransmissions at 1 s and 3 s then silence (`syn-no-answer`, tshark
//!   counts 2 retransmissions); SYN answered by RST-ACK (`syn-refused`).
//! * TCP `Reset`: RST-ACK from the originator or responder in the middle of a response, or
//!   from the server instead of a response (`http-request-reset`).
//! * TCP `CloseWait`: one FIN, acknowledged, then silence; `LastAck`: FIN both ways, no final
//!   ACK, then silence.
//! * `timeout`: request data never acknowledged, then silence (`idle-unacked`).
//! * `loss`: a download with one or two segments missing from the capture, each followed by
//!   3-5 segments and as many duplicate ACKs, then a fast retransmission (`loss-gap`); an upload
//!   whose last segment is resent once or twice on timeout (`loss-retransmission`); a
//!   keep-alive HTTP connection where the capture missed a whole response that the client
//!   acknowledged (`http-response-lost`: 1 lost and 2 ACKed-unseen segments, and the request
//!   left without response for "packets lost"), or a whole request that the server
//!   acknowledged (`http-request-lost`, the same counts, and its response without request).
//! * Application layer: HTTP requests without response, responses cut short, bytes that are
//!   not HTTP, DNS queries without response, responses without query and malformed
//!   datagrams, responses announcing chunked bodies that are not chunked, a connection the
//!   capture begins in the middle of (the first conversation of every capture, first seen at
//!   a response) and an HTTP request still open when the capture ends, each with the
//!   `error_reason` faultline must give ([`Event::app_effect`]).
//! * ICMP errors quoting a packet of a real flow of the capture (port/host unreachable,
//!   fragmentation needed, redirect, source quench, parameter problem over UDP; time exceeded
//!   quoting a TCP SYN, which also yields a `syn-time-exceeded` SynSent record), ICMPv4 router
//!   advertisement/solicitation, ICMPv6 port unreachable, packet too big, time exceeded,
//!   parameter problem (unrecognised hop-by-hop option), router solicitation/advertisement and
//!   redirect; echo requests without reply (`echo-no-reply`, a flow-level fact, `entry: false`).
//!
//! Flows that must look idle are followed by at least [`QUIET_US`] of capture (a final DNS
//! lookup is added if needed), so a 10 s stream timeout sees them expire. Ports are never
//! reused within a capture of realistic size, so a flow's 5-tuple identifies it.
//!
//! # Truth schema (one JSON object per line, fields of [`TruthRecord`])
//! `id` (line number), `event` (kebab-case [`Event`]), `kind` (`tcp`, `timeout`, `loss`,
//! `icmp`), `entry` (whether an `entries` row is expected), `ts_us` (the decisive packet, see
//! [`TruthRecord::ts_us`]), `flow` (`{proto, orig_ip, orig_port, resp_ip, resp_port, vlan}`,
//! originator first; for ICMP error and router messages sender first, ports null), `tuple`
//! (`flow` as text), `first_us`/`last_us`/`packets` (the flow's span and packet count; null
//! for ICMP error/router messages), `error_type`, `state` (`SynSent`, `Reset`, `CloseWait`,
//! `LastAck`), `reason` (token), `icmp` (`{version, icmp_type, code, quoted}` with the quoted
//! packet's `{proto, src_ip, src_port, dst_ip, dst_port}`), `related` (the quoted packet's flow,
//! originator first) and `counters` (tshark `tcp.analysis` counts expected for the TCP flow:
//! retransmissions, fast_retransmissions, lost_segments, ack_lost_segments, dup_acks,
//! out_of_order, zero_windows). Every TCP flow of the capture not named in the truth file has
//! all counters zero.
//!
//! # Determinism and scale
//! The same [`Config`] gives byte-identical output: randomness comes from a hand-written
//! SplitMix64 (no `rand`, whose streams may change between versions) with integer arithmetic
//! only, one child stream per conversation. Packets are streamed: a binary heap holds one entry
//! per active conversation (plus the conversation spawner) and the earliest next packet is
//! written; conversation slots and buffers are reused, so memory depends on the number of
//! concurrent conversations (a few hundred), not on `target_packets`. Injected events are
//! drawn at `error_permille` of conversations, plus `min_per_event` of every event spread over
//! the capture, so small captures contain every kind and large ones keep a low error rate.

pub mod app_load;
mod content;
mod hosts;
mod pcap;
mod rng;
mod scenarios;
mod script;
mod tcp;
mod truth;
mod wire;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, BufWriter, Write};

use serde::Serialize;

pub use truth::{Counters, Event, FlowKey, IcmpTruth, QuotedTuple, TruthRecord};

use pcap::PcapWriter;
use rng::Rng;
use scenarios::{NORMAL_MIX, Normal};
use script::{Conv, Script};
use truth::Draft;

/// Capture time that follows the last packet of every flow meant to look idle (> 10 s).
pub const QUIET_US: i64 = 12_000_000;

/// Generator settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Seed of all randomness; the same config gives the same bytes.
    pub seed: u64,
    /// Packets to write, approximately: conversations are started until this many packets are
    /// scheduled, then finished (so the result is a little larger).
    pub target_packets: u64,
    /// Time of the first packet, µs since the epoch (must fit pcap's 32-bit seconds).
    pub start_us: i64,
    /// Mean rate at which conversations start.
    pub conversations_per_sec: u32,
    /// Share of conversations that are injected events, in 1/1000.
    pub error_permille: u32,
    /// Minimum occurrences of every scheduled event, spread over the capture.
    pub min_per_event: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            target_packets: 20_000,
            start_us: 1_704_067_200_000_000, // 2024-01-01T00:00:00Z
            conversations_per_sec: 20,
            error_permille: 15,
            min_per_event: 3,
        }
    }
}

impl Config {
    fn validate(&self) -> Result<(), GenerateError> {
        if self.conversations_per_sec == 0 || self.conversations_per_sec > 1_000_000 {
            return Err(GenerateError::Config(
                "conversations_per_sec must be in 1..=1000000",
            ));
        }
        if self.error_permille > 1000 {
            return Err(GenerateError::Config("error_permille must be at most 1000"));
        }
        if self.start_us < 0 || self.start_us / 1_000_000 > i64::from(u32::MAX) - 400_000_000 {
            return Err(GenerateError::Config(
                "start_us must be between 1970 and about 2093",
            ));
        }
        Ok(())
    }
}

/// What [`write_capture`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Packets (pcap records) written.
    pub packets: u64,
    /// Bytes of the pcap file, headers included.
    pub bytes: u64,
    /// Conversations scripted (a TCP connection, a DNS lookup, an ICMP error with its trigger).
    pub conversations: u64,
    /// Flows: distinct 5-tuples per conversation, summed (ICMP messages sent to the same host
    /// by different conversations are counted once per conversation).
    pub flows: u64,
    /// Truth records written.
    pub truth_records: u64,
    /// Most conversations in flight at once: what the generator's memory is proportional to.
    pub peak_conversations: u64,
    /// Time of the first packet, µs.
    pub first_us: i64,
    /// Time of the last packet, µs.
    pub last_us: i64,
    /// Truth records per event.
    pub events: BTreeMap<Event, u64>,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Writing the pcap or truth output failed.
    #[error("writing output: {0}")]
    Io(#[from] io::Error),
    /// Serialising a truth record failed.
    #[error("writing a truth record: {0}")]
    Json(#[from] serde_json::Error),
    /// `etherparse` refused to build a packet.
    #[error("building a packet: {0}")]
    Build(#[from] etherparse::err::packet::BuildVecWriteError),
    /// The configuration is unusable.
    #[error("invalid config: {0}")]
    Config(&'static str),
    /// A timestamp does not fit the pcap format.
    #[error("timestamp {0} µs is outside the pcap range")]
    TimestampOutOfRange(i64),
    /// A frame is longer than the snapshot length.
    #[error("frame of {0} bytes exceeds the snapshot length")]
    FrameTooLong(usize),
    /// A generator bug (a script inconsistency).
    #[error("internal generator error: {0}")]
    Internal(&'static str),
}

/// Writes a synthetic capture to `out` and its truth file to `truth`, as described in the
/// module documentation. Both writers are buffered internally.
pub fn write_capture(
    cfg: &Config,
    out: impl Write,
    truth: impl Write,
) -> Result<Summary, GenerateError> {
    cfg.validate()?;
    let mut g = Generator::new(*cfg, out, truth)?;
    g.run()?;
    g.finish()
}

/// Heap slot of the conversation spawner.
const SPAWNER: u32 = u32::MAX;

/// What to start next.
#[derive(Debug, Clone, Copy)]
enum Choice {
    Normal(Normal),
    Event(Event),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Starting conversations until the packet target is scheduled.
    Running,
    /// Waiting for the quiet period to pass, then one last conversation.
    Tail,
    /// Draining.
    Done,
}

struct Generator<W: Write, T: Write> {
    cfg: Config,
    rng: Rng,
    pcap: PcapWriter<W>,
    truth: BufWriter<T>,
    ports: hosts::Ports,
    slots: Vec<Conv>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(i64, u64, u32)>>,
    seq: u64,
    drafts: Vec<Draft>,
    frame: Vec<u8>,
    payload: Vec<u8>,
    deck: Vec<Event>,
    deck_pos: usize,
    scheduled: u64,
    quiet_until: i64,
    last_ts: i64,
    phase: Phase,
    summary: Summary,
}

impl<W: Write, T: Write> Generator<W, T> {
    fn new(cfg: Config, out: W, truth: T) -> Result<Self, GenerateError> {
        let mut rng = Rng::new(cfg.seed);
        let ports = hosts::Ports::new(&mut rng);
        let deck = event_deck(&mut rng, cfg.min_per_event);
        Ok(Generator {
            cfg,
            rng,
            pcap: PcapWriter::new(out)?,
            truth: BufWriter::new(truth),
            ports,
            slots: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            drafts: Vec::new(),
            frame: Vec::with_capacity(2048),
            payload: Vec::with_capacity(2048),
            deck,
            deck_pos: 0,
            scheduled: 0,
            quiet_until: i64::MIN,
            last_ts: cfg.start_us,
            phase: Phase::Running,
            summary: Summary {
                first_us: cfg.start_us,
                last_us: cfg.start_us,
                ..Summary::default()
            },
        })
    }

    fn schedule(&mut self, ts: i64, slot: u32) {
        self.seq += 1;
        self.heap.push(Reverse((ts, self.seq, slot)));
    }

    fn run(&mut self) -> Result<(), GenerateError> {
        self.start(self.cfg.start_us, Choice::Event(Event::HttpMidStream))?;
        self.schedule(self.cfg.start_us + 1, SPAWNER);
        while let Some(Reverse((ts, _, slot))) = self.heap.pop() {
            if slot == SPAWNER {
                self.spawn(ts)?;
            } else {
                self.emit(slot)?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Summary, GenerateError> {
        self.pcap.flush()?;
        self.truth.flush()?;
        self.summary.packets = self.pcap.packets;
        self.summary.bytes = self.pcap.bytes;
        self.summary.peak_conversations = self.slots.len() as u64;
        Ok(self.summary)
    }

    fn spawn(&mut self, ts: i64) -> Result<(), GenerateError> {
        match self.phase {
            Phase::Running => {
                let choice = self.pick();
                self.start(ts, choice)?;
                if self.scheduled < self.cfg.target_packets {
                    let mean = 1_000_000 / i64::from(self.cfg.conversations_per_sec);
                    let next = ts + 1 + self.rng.range(0, 2 * mean);
                    self.schedule(next, SPAWNER);
                    return Ok(());
                }
                // Guarantee the minimum of every event, then wait for the quiet period.
                while let Some(&ev) = self.deck.get(self.deck_pos) {
                    self.deck_pos += 1;
                    self.start(ts, Choice::Event(ev))?;
                }
                self.phase = Phase::Tail;
                self.schedule(self.quiet_until.max(ts + 1), SPAWNER);
            }
            Phase::Tail if self.quiet_until > ts => self.schedule(self.quiet_until, SPAWNER),
            Phase::Tail => {
                self.phase = Phase::Done;
                self.start(ts, Choice::Normal(Normal::Dns))?;
                self.start(ts, Choice::Event(Event::HttpCaptureEnded))?;
            }
            Phase::Done => {}
        }
        Ok(())
    }

    /// The next conversation: a due guaranteed event, a random event, or normal traffic.
    fn pick(&mut self) -> Choice {
        if let Some(&ev) = self.deck.get(self.deck_pos) {
            let due = (self.deck_pos as u128 + 1) * u128::from(self.cfg.target_packets)
                / (self.deck.len() as u128 + 1);
            if u128::from(self.scheduled) >= due {
                self.deck_pos += 1;
                return Choice::Event(ev);
            }
        }
        if self.rng.chance(self.cfg.error_permille) {
            let i = self.rng.below(SCHEDULED_EVENTS as u64) as usize;
            return Choice::Event(Event::INJECTED[i.min(SCHEDULED_EVENTS - 1)]);
        }
        let weights = NORMAL_MIX.map(|(_, w)| w);
        Choice::Normal(NORMAL_MIX[self.rng.weighted(&weights)].0)
    }

    /// Scripts a conversation starting at `ts`, writes its truth records and queues it.
    fn start(&mut self, ts: i64, choice: Choice) -> Result<(), GenerateError> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Conv::new());
                u32::try_from(self.slots.len() - 1)
                    .map_err(|_| GenerateError::Internal("too many conversations"))?
            }
        };
        let conv_rng = self.rng.fork();
        let conv = &mut self.slots[slot as usize];
        let mut sc = Script::new(conv_rng, conv, &mut self.ports, &mut self.drafts, ts);
        match choice {
            Choice::Normal(k) => scenarios::normal(&mut sc, k),
            Choice::Event(ev) => scenarios::event(&mut sc, ev),
        }
        let (needs_quiet, end) = (sc.needs_quiet, sc.end);
        if needs_quiet {
            self.quiet_until = self.quiet_until.max(end + QUIET_US);
        }
        let mut finish_rng = self.rng.fork();
        let conv = &mut self.slots[slot as usize];
        conv.finish(&mut finish_rng, &mut self.payload, &mut self.frame)?;
        self.scheduled += conv.specs.len() as u64;
        self.summary.conversations += 1;
        self.summary.flows += count_flows(conv);
        for d in self.drafts.drain(..) {
            let rec = truth::resolve(conv, &d, self.summary.truth_records)?;
            serde_json::to_writer(&mut self.truth, &rec)?;
            self.truth.write_all(b"\n")?;
            self.summary.truth_records += 1;
            *self.summary.events.entry(d.event).or_insert(0) += 1;
        }
        match conv.specs.front() {
            Some(first) => {
                let t = first.ts;
                self.schedule(t, slot);
            }
            None => self.free.push(slot),
        }
        Ok(())
    }

    /// Writes the next packet of conversation `slot`.
    fn emit(&mut self, slot: u32) -> Result<(), GenerateError> {
        let conv = self
            .slots
            .get_mut(slot as usize)
            .ok_or(GenerateError::Internal("unknown slot"))?;
        let Some(spec) = conv.specs.pop_front() else {
            self.free.push(slot);
            return Ok(());
        };
        if spec.ts < self.last_ts {
            return Err(GenerateError::Internal("packets out of time order"));
        }
        conv.payload(&spec.payload, &mut self.payload);
        wire::build_frame(
            &conv.nodes,
            conv.vlan,
            &spec,
            &self.payload,
            true,
            &mut self.frame,
        )?;
        self.pcap.record(spec.ts, &self.frame)?;
        if self.pcap.packets == 1 {
            self.summary.first_us = spec.ts;
        }
        self.last_ts = spec.ts;
        self.summary.last_us = spec.ts;
        match conv.specs.front() {
            Some(next) => {
                let t = next.ts;
                self.schedule(t, slot);
            }
            None => self.free.push(slot),
        }
        Ok(())
    }
}

/// Events scheduled on purpose: all of [`Event::INJECTED`] but the last three (a by-product,
/// the request left open when the capture ends and the connection it began in the middle of).
const SCHEDULED_EVENTS: usize = Event::INJECTED.len() - 3;

/// `min_per_event` rounds of every scheduled event, each round shuffled.
fn event_deck(rng: &mut Rng, min_per_event: u32) -> Vec<Event> {
    let mut deck = Vec::new();
    for _ in 0..min_per_event {
        let mut round: Vec<Event> = Event::INJECTED[..SCHEDULED_EVENTS].to_vec();
        for i in (1..round.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            round.swap(i, j);
        }
        deck.extend(round);
    }
    deck
}

/// Distinct flows of a finished conversation (canonical 5-tuples).
fn count_flows(conv: &Conv) -> u64 {
    let mut seen: [(u8, u8, u8); 8] = [(0, 0, 0); 8];
    let mut n = 0usize;
    for s in &conv.specs {
        let (a, b) = if s.src < s.dst {
            (s.src, s.dst)
        } else {
            (s.dst, s.src)
        };
        let p = match s.l4 {
            wire::L4::Tcp { .. } => 6,
            wire::L4::Udp { .. } => 17,
            wire::L4::Icmp { .. } => 1,
        };
        let key = (p, a, b);
        if !seen[..n].contains(&key) && n < seen.len() {
            seen[n] = key;
            n += 1;
        }
    }
    n as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_events_exclude_by_products() {
        assert!(
            Event::INJECTED[..SCHEDULED_EVENTS]
                .iter()
                .all(|e| e.scheduled())
        );
        assert!(
            Event::INJECTED[SCHEDULED_EVENTS..]
                .iter()
                .all(|e| !e.scheduled())
        );
    }

    #[test]
    fn deck_has_every_event_min_times() {
        let deck = event_deck(&mut Rng::new(1), 3);
        assert_eq!(deck.len(), 3 * SCHEDULED_EVENTS);
        for e in &Event::INJECTED[..SCHEDULED_EVENTS] {
            assert_eq!(deck.iter().filter(|d| *d == e).count(), 3);
        }
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = [
            Config {
                conversations_per_sec: 0,
                ..Config::default()
            },
            Config {
                error_permille: 1001,
                ..Config::default()
            },
            Config {
                start_us: -1,
                ..Config::default()
            },
        ];
        for cfg in bad {
            assert!(matches!(
                write_capture(&cfg, io::sink(), io::sink()),
                Err(GenerateError::Config(_))
            ));
        }
    }

    #[test]
    fn small_capture_is_streamed_in_order() {
        let cfg = Config {
            target_packets: 300,
            min_per_event: 1,
            ..Config::default()
        };
        let mut pcap = Vec::new();
        let mut truth = Vec::new();
        let s = write_capture(&cfg, &mut pcap, &mut truth).unwrap();
        assert!(s.packets >= 300);
        assert_eq!(s.bytes, pcap.len() as u64);
        assert_eq!(
            s.truth_records as usize,
            truth
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
        );
        assert!(s.last_us > s.first_us);
    }
}
