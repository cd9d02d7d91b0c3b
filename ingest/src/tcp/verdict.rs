//! The Kubeshark error state a TCP connection ends in (`SynSent`, `Reset`, `CloseWait`,
//! `LastAck`), or whether it went stale, and the reason in words.
//!
//! Decided from the Zeek endpoint states when the connection leaves the flow table:
//! - `SynSent`: the originator's SYNs got no answer at all, or a RST (Zeek `REJ`), or the
//!   originator gave up with a RST (`RSTOS0`);
//! - `Reset`: any other RST that left an endpoint reset (`RSTO`, `RSTR`, `RSTRH`, mid-stream);
//! - `LastAck`: both sides sent FIN but a FIN is unacknowledged;
//! - `CloseWait`: one side sent FIN, the other never did;
//! - stale: timed out with unacknowledged data or a handshake missing its final ACK.

use std::fmt::Write as _;
use std::net::SocketAddr;

use faultline_schemas::TcpErrorState;

use super::endpoint::EndpointState;
use super::state::{NONE, TcpConn};
use crate::flow::Ending;

/// How a connection's entry should read, decided when it leaves the flow table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A Kubeshark TCP error state, at the time of the event that caused it.
    Error(TcpErrorState, i64),
    /// Timed out with something incomplete (unacknowledged data, unfinished handshake).
    Stale,
}

impl TcpConn {
    /// The error state the connection ends in, or whether it went stale, given how it ended.
    pub fn verdict(&self, ending: Ending) -> Option<Verdict> {
        use TcpErrorState as K;
        let [o, r] = &self.ep;
        if let Some(v) = self.reset_verdict() {
            return Some(v);
        }
        if self.syns > 0 && r.state == EndpointState::Inactive {
            return Some(Verdict::Error(K::SynSent, self.first_syn_us));
        }
        let fins = (o.fin_cnt > 0, r.fin_cnt > 0);
        match fins {
            (true, true) if !self.is_closed() => Some(Verdict::Error(
                K::LastAck,
                o.first_fin_us.max(r.first_fin_us),
            )),
            (true, true) => None,
            (true, false) => Some(Verdict::Error(K::CloseWait, o.first_fin_us)),
            (false, true) => Some(Verdict::Error(K::CloseWait, r.first_fin_us)),
            (false, false) => {
                let stale = matches!(ending, Ending::Timeout { .. }) && self.incomplete();
                stale.then_some(Verdict::Stale)
            }
        }
    }

    fn reset_verdict(&self) -> Option<Verdict> {
        use TcpErrorState as K;
        if !self.is_reset() {
            return None;
        }
        let v = match self.conn_state() {
            "REJ" => Verdict::Error(K::SynSent, self.reset_side().1),
            "RSTOS0" => Verdict::Error(K::SynSent, self.first_syn_us),
            _ => Verdict::Error(K::Reset, self.reset_side().1),
        };
        Some(v)
    }

    /// Which side reset the connection (true = originator) and when: the side in RST state,
    /// the earlier one when both are.
    fn reset_side(&self) -> (bool, i64) {
        let [o, r] = &self.ep;
        let o_reset = o.state == EndpointState::Reset;
        let r_reset = r.state == EndpointState::Reset;
        if o_reset && (!r_reset || o.first_rst_us <= r.first_rst_us) {
            (true, o.first_rst_us)
        } else {
            (false, r.first_rst_us)
        }
    }

    fn handshake_incomplete(&self) -> bool {
        self.syns > 0 && self.synack_us != NONE && !self.handshake_acked
    }

    fn incomplete(&self) -> bool {
        self.handshake_incomplete() || self.ep.iter().any(|e| e.unacked() > 0)
    }

    /// Writes the error reason (or what made the stream stale) in words.
    pub fn write_reason(
        &self,
        verdict: Verdict,
        ending: Ending,
        endpoints: (SocketAddr, SocketAddr),
        out: &mut String,
    ) {
        use TcpErrorState as K;
        out.clear();
        let (orig, resp) = endpoints;
        let [o, r] = &self.ep;
        let side = |is_orig: bool| {
            if is_orig {
                ("originator", orig)
            } else {
                ("responder", resp)
            }
        };
        let _ = match verdict {
            Verdict::Error(K::SynSent, _) => self.write_syn_sent(ending, out),
            Verdict::Error(K::Reset, _) => {
                let by_orig = self.reset_side().0;
                let (by, addr) = side(by_orig);
                let (a, b) = self.sizes();
                let (own, other) = if by_orig { (o, r) } else { (r, o) };
                let after = if own.fin_cnt > 0 {
                    " following its own FIN"
                } else if other.fin_cnt > 0 {
                    " following the peer's FIN"
                } else {
                    ""
                };
                write!(out, "reset by {by} {addr} after {} bytes{after}", a + b)
            }
            Verdict::Error(K::CloseWait, _) => {
                let (who, addr) = side(o.fin_cnt > 0);
                let (other, other_addr) = side(o.fin_cnt == 0);
                write!(out, "FIN from {who} {addr}, none from {other} {other_addr}")
                    .and_then(|()| write_ending(ending, out))
            }
            Verdict::Error(K::LastAck, _) => {
                let (who, _) = side(!o.fin_acked());
                write!(
                    out,
                    "both sides sent FIN; final ACK of the {who}'s FIN missing"
                )
                .and_then(|()| write_ending(ending, out))
            }
            Verdict::Stale => self.write_stale(ending, endpoints, out),
        };
    }

    fn write_syn_sent(&self, ending: Ending, out: &mut String) -> std::fmt::Result {
        let n = self.syns;
        let plural = if n == 1 { "" } else { "s" };
        match self.conn_state() {
            "REJ" => write!(
                out,
                "connection refused: RST from responder after {n} SYN{plural}"
            ),
            "RSTOS0" => write!(
                out,
                "no SYN-ACK to {n} SYN{plural}; originator aborted with RST"
            ),
            _ => {
                write!(out, "no SYN-ACK to {n} SYN{plural}")?;
                write_ending(ending, out)
            }
        }
    }

    fn write_stale(
        &self,
        ending: Ending,
        (orig, resp): (SocketAddr, SocketAddr),
        out: &mut String,
    ) -> std::fmt::Result {
        let mut sep = "";
        if self.handshake_incomplete() {
            out.push_str("handshake incomplete: no ACK after SYN-ACK");
            sep = "; ";
        }
        for (ep, peer, addr, peer_addr) in [
            (&self.ep[0], &self.ep[1], orig, resp),
            (&self.ep[1], &self.ep[0], resp, orig),
        ] {
            let n = ep.unacked();
            if n == 0 {
                continue;
            }
            if peer.state == EndpointState::Inactive {
                write!(
                    out,
                    "{sep}{n} bytes from {addr}, nothing seen from {peer_addr}"
                )?;
            } else {
                write!(out, "{sep}{n} bytes from {addr} unacknowledged")?;
            }
            sep = "; ";
        }
        if let Ending::Timeout { idle_us, .. } = ending {
            write!(out, "{sep}idle {:.1} s", idle_us as f64 / 1e6)?;
        }
        Ok(())
    }
}

/// The end of a reason text: how the flow ended.
fn write_ending(ending: Ending, out: &mut String) -> std::fmt::Result {
    match ending {
        Ending::Timeout { timeout_us, .. } => {
            write!(out, "; stream timed out after {} s", fmt_secs(timeout_us))
        }
        Ending::EndOfInput => write!(out, "; capture ended"),
        Ending::Reused => write!(out, "; port reused by a new connection"),
        Ending::Closed | Ending::Reset => Ok(()),
    }
}

/// Seconds without a trailing `.0` for whole numbers.
fn fmt_secs(us: i64) -> FmtSecs {
    FmtSecs(us)
}

/// Displays microseconds as seconds.
struct FmtSecs(i64);

impl std::fmt::Display for FmtSecs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.rem_euclid(1_000_000) == 0 {
            write!(f, "{}", self.0 / 1_000_000)
        } else {
            write!(f, "{:.1}", self.0 as f64 / 1e6)
        }
    }
}
