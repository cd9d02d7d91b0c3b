//! Conversations: the packets of one scripted exchange (a TCP connection, a DNS lookup, an ICMP
//! error with the packet that caused it), their payload text, and the [`Script`] used to write
//! them. Conversation slots are reused, so their buffers stop growing after warm-up.

use std::collections::VecDeque;

use super::GenerateError;
use super::content::Body;
use super::hosts::Ports;
use super::rng::Rng;
use super::truth::Draft;
use super::wire::{IpExtra, L4, MAX_NODES, Node, Payload, Spec, build_frame};

/// A message whose head is stored in the conversation text and whose body is generated.
#[derive(Debug, Clone, Copy)]
struct Msg {
    start: u32,
    head_len: u32,
    body: Body,
    body_len: u32,
}

/// One conversation: endpoints, packets (sorted by time once finished) and payload text.
pub(crate) struct Conv {
    /// Endpoints by node index (0 = originator, 1 = responder, 2-3 = others).
    pub(crate) nodes: [Node; MAX_NODES],
    /// VLAN tag of all frames.
    pub(crate) vlan: Option<u16>,
    /// Packets still to write.
    pub(crate) specs: VecDeque<Spec>,
    text: Vec<u8>,
    msgs: Vec<Msg>,
}

impl Conv {
    /// An empty conversation.
    pub(crate) fn new() -> Self {
        Conv {
            nodes: [Node::NONE; MAX_NODES],
            vlan: None,
            specs: VecDeque::new(),
            text: Vec::new(),
            msgs: Vec::new(),
        }
    }

    /// Empties the conversation, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.nodes = [Node::NONE; MAX_NODES];
        self.vlan = None;
        self.specs.clear();
        self.text.clear();
        self.msgs.clear();
    }

    /// Adds a message: `head` writes its head, `body_len` bytes of `body` follow.
    /// Returns the message index and total length.
    pub(crate) fn add_msg(
        &mut self,
        head: impl FnOnce(&mut Vec<u8>),
        body: Body,
        body_len: u32,
    ) -> (u16, u32) {
        let start = self.text.len();
        head(&mut self.text);
        let head_len = (self.text.len() - start) as u32;
        let idx = self.msgs.len() as u16;
        self.msgs.push(Msg {
            start: start as u32,
            head_len,
            body,
            body_len,
        });
        (idx, head_len + body_len)
    }

    /// Writes the payload bytes of `p` into `out` (cleared first).
    pub(crate) fn payload(&self, p: &Payload, out: &mut Vec<u8>) {
        out.clear();
        let Payload::Msg { msg, off, len } = *p else {
            return;
        };
        let Some(m) = self.msgs.get(usize::from(msg)) else {
            return;
        };
        let end = off.saturating_add(len);
        if off < m.head_len {
            let (a, b) = (
                (m.start + off) as usize,
                (m.start + end.min(m.head_len)) as usize,
            );
            out.extend_from_slice(&self.text[a..b]);
        }
        if end > m.head_len {
            let body_off = off.saturating_sub(m.head_len);
            m.body
                .extend(m.body_len, body_off, end - m.head_len - body_off, out);
        }
    }

    /// Finishes a scripted conversation: sorts packets by time, assigns IPv4 identifications
    /// per sender in time order and renders ICMP quotes of earlier packets.
    pub(crate) fn finish(
        &mut self,
        rng: &mut Rng,
        scratch: &mut Vec<u8>,
        frame: &mut Vec<u8>,
    ) -> Result<(), GenerateError> {
        self.specs
            .make_contiguous()
            .sort_unstable_by_key(|s| (s.ts, s.ord));
        let mut ids = [0u16; MAX_NODES];
        for id in &mut ids {
            *id = rng.below(65_536) as u16;
        }
        for s in self.specs.iter_mut() {
            let id = &mut ids[usize::from(s.src) % MAX_NODES];
            s.ip_id = *id;
            *id = id.wrapping_add(1);
        }
        for i in 0..self.specs.len() {
            let Payload::Quote { ord, max, ttl } = self.specs[i].payload else {
                continue;
            };
            let mut q = *self
                .specs
                .iter()
                .find(|s| s.ord == ord)
                .ok_or(GenerateError::Internal("quote of no packet"))?;
            if let Some(t) = ttl {
                q.ttl = t;
            }
            self.payload(&q.payload, scratch);
            build_frame(&self.nodes, None, &q, scratch, false, frame)?;
            frame.truncate(usize::from(max));
            let (msg, len) = self.add_msg(|out| out.extend_from_slice(frame), Body::None, 0);
            self.specs[i].payload = Payload::Msg { msg, off: 0, len };
        }
        Ok(())
    }
}

/// Writer of one conversation's packets.
pub(crate) struct Script<'a> {
    /// This conversation's random stream.
    pub(crate) rng: Rng,
    /// The conversation being written.
    pub(crate) conv: &'a mut Conv,
    /// Ephemeral ports.
    pub(crate) ports: &'a mut Ports,
    /// Truth drafts of the events injected here.
    pub(crate) drafts: &'a mut Vec<Draft>,
    /// Start time.
    pub(crate) t0: i64,
    /// Latest packet time so far.
    pub(crate) end: i64,
    /// Set by scenarios whose flows must stay silent for more than the stream timeout.
    pub(crate) needs_quiet: bool,
    next_ord: u32,
}

impl<'a> Script<'a> {
    /// A script for `conv` (cleared) starting at `t0`.
    pub(crate) fn new(
        rng: Rng,
        conv: &'a mut Conv,
        ports: &'a mut Ports,
        drafts: &'a mut Vec<Draft>,
        t0: i64,
    ) -> Self {
        conv.clear();
        Script {
            rng,
            conv,
            ports,
            drafts,
            t0,
            end: t0,
            needs_quiet: false,
            next_ord: 0,
        }
    }

    /// Sets endpoint `i`.
    pub(crate) fn set_node(&mut self, i: u8, node: Node) {
        self.conv.nodes[usize::from(i) % MAX_NODES] = node;
    }

    /// The ordinal the next packet added will get.
    pub(crate) fn next_ord(&self) -> u32 {
        self.next_ord
    }

    /// Adds a packet; returns its ordinal.
    pub(crate) fn push(
        &mut self,
        ts: i64,
        hop: (u8, u8),
        ttl: u8,
        l4: L4,
        payload: Payload,
    ) -> u32 {
        self.push_extra(ts, hop, ttl, l4, payload, IpExtra::None)
    }

    /// Adds a packet with unusual IP content; returns its ordinal.
    pub(crate) fn push_extra(
        &mut self,
        ts: i64,
        hop: (u8, u8),
        ttl: u8,
        l4: L4,
        payload: Payload,
        extra: IpExtra,
    ) -> u32 {
        let ts = ts.max(self.t0);
        let ord = self.next_ord;
        self.next_ord += 1;
        self.end = self.end.max(ts);
        self.conv.specs.push_back(Spec {
            ts,
            ord,
            src: hop.0,
            dst: hop.1,
            ttl,
            ip_id: 0,
            extra,
            l4,
            payload,
        });
        ord
    }

    /// Adds a message with a generated head and a `body_len`-byte body.
    pub(crate) fn msg(
        &mut self,
        head: impl FnOnce(&mut Vec<u8>, &mut Rng),
        body: Body,
        body_len: u32,
    ) -> (u16, u32) {
        let rng = &mut self.rng;
        self.conv.add_msg(|out| head(out, rng), body, body_len)
    }

    /// Adds a head-only message and returns it as a whole payload.
    pub(crate) fn bytes(&mut self, head: impl FnOnce(&mut Vec<u8>)) -> Payload {
        let (msg, len) = self.conv.add_msg(head, Body::None, 0);
        Payload::Msg { msg, off: 0, len }
    }

    /// Records an injected event.
    pub(crate) fn draft(&mut self, d: Draft) {
        self.drafts.push(d);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn payload_spans_head_and_body() {
        let mut c = Conv::new();
        let (m, len) = c.add_msg(|o| o.extend_from_slice(b"HEAD"), Body::Opaque, 10);
        assert_eq!(len, 14);
        let mut whole = Vec::new();
        c.payload(
            &Payload::Msg {
                msg: m,
                off: 0,
                len,
            },
            &mut whole,
        );
        let mut a = Vec::new();
        let mut b = Vec::new();
        c.payload(
            &Payload::Msg {
                msg: m,
                off: 0,
                len: 6,
            },
            &mut a,
        );
        c.payload(
            &Payload::Msg {
                msg: m,
                off: 6,
                len: 8,
            },
            &mut b,
        );
        assert_eq!(&whole[..4], b"HEAD");
        a.extend_from_slice(&b);
        assert_eq!(a, whole);
    }

    #[test]
    fn finish_sorts_and_resolves_quotes() {
        let mut rng = Rng::new(1);
        let mut ports = Ports::new(&mut rng);
        let mut conv = Conv::new();
        let mut drafts = Vec::new();
        let mut sc = Script::new(Rng::new(2), &mut conv, &mut ports, &mut drafts, 100);
        sc.set_node(
            0,
            Node {
                ip: Ipv4Addr::new(10, 0, 0, 1).into(),
                mac: [2; 6],
            },
        );
        sc.set_node(
            1,
            Node {
                ip: Ipv4Addr::new(10, 1, 0, 1).into(),
                mac: [4; 6],
            },
        );
        let data = sc.bytes(|o| o.extend_from_slice(&[7u8; 40]));
        let icmp = L4::Icmp {
            ty: 3,
            code: 3,
            rest: [0; 4],
        };
        sc.push(
            300,
            (1, 0),
            63,
            icmp,
            Payload::Quote {
                ord: 1,
                max: 36,
                ttl: None,
            },
        );
        sc.push(
            200,
            (0, 1),
            64,
            L4::Udp {
                sport: 5,
                dport: 53,
            },
            data,
        );
        let (mut s, mut f) = (Vec::new(), Vec::new());
        conv.finish(&mut rng, &mut s, &mut f).unwrap();
        assert_eq!(conv.specs[0].ts, 200);
        assert_eq!(conv.specs[1].payload.len(), 36, "20 IP + 8 UDP + 8 data");
        let mut quote = Vec::new();
        conv.payload(&conv.specs[1].payload, &mut quote);
        assert_eq!(
            u16::from_be_bytes([quote[4], quote[5]]),
            conv.specs[0].ip_id,
            "quote carries the same IP id"
        );
    }
}
