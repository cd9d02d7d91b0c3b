//! Community ID v1 (<https://github.com/corelight/community-id-spec>): a flow hash that Zeek,
//! Suricata, Arkime and others compute the same way, so faultline flows can be joined with their
//! logs.
//!
//! `"1:" + base64(SHA1(seed(2) | saddr | daddr | proto | 0 | sport(2) | dport(2)))`, all in
//! network order, endpoints ordered so that both directions hash alike. ICMP uses the type as
//! source port and the counterpart type (request/reply pairs) or the code (one-way messages) as
//! destination port; one-way messages are not reordered. Protocols without ports hash the
//! addresses and protocol only.
//!
//! The `community-id` crate (0.2.4) implements the same thing but returns a freshly allocated
//! `String`, reinterprets packed structs with `unsafe`, and pulls in `hex`; this module writes
//! into a fixed 30-byte buffer with the `sha1` and `base64` crates the workspace already uses.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

use super::key::{icmp_counterpart, proto};

/// Length of a v1 Community ID: `"1:"` plus 28 base64 characters of a 20-byte SHA-1.
const LEN: usize = 30;

/// A computed Community ID, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommunityId {
    buf: [u8; LEN],
}

impl std::fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CommunityId {
    /// The Community ID (seed 0) of a flow from `src:sport` to `dst:dport` over `proto`. For
    /// ICMP/ICMPv6 pass the message type as `sport` and the code as `dport`; for protocols other
    /// than TCP, UDP, SCTP and ICMP the ports are ignored.
    pub fn new(src: (IpAddr, u16), dst: (IpAddr, u16), proto: u8) -> CommunityId {
        Self::with_seed(0, src, dst, proto)
    }

    /// Like [`CommunityId::new`] with an explicit seed.
    pub fn with_seed(seed: u16, src: (IpAddr, u16), dst: (IpAddr, u16), ip_proto: u8) -> Self {
        const SCTP: u8 = 132;
        let (mut s, mut d) = (src, dst);
        let mut one_way = false;
        let has_ports = match ip_proto {
            proto::TCP | proto::UDP | SCTP => true,
            proto::ICMP | proto::ICMPV6 => {
                let version = if ip_proto == proto::ICMPV6 { 6 } else { 4 };
                let icmp_type = u8::try_from(src.1).unwrap_or(u8::MAX);
                match icmp_counterpart(version, icmp_type) {
                    Some(other) => d.1 = u16::from(other),
                    None => one_way = true,
                }
                true
            }
            _ => false,
        };
        if !one_way && !ordered(s, d, has_ports) {
            std::mem::swap(&mut s, &mut d);
        }
        let mut h = Sha1::new();
        h.update(seed.to_be_bytes());
        update_addr(&mut h, s.0);
        update_addr(&mut h, d.0);
        h.update([ip_proto, 0]);
        if has_ports {
            h.update(s.1.to_be_bytes());
            h.update(d.1.to_be_bytes());
        }
        let digest = h.finalize();
        let mut buf = [0u8; LEN];
        buf[0] = b'1';
        buf[1] = b':';
        // 20 bytes always encode to exactly 28 characters, so this cannot fail.
        let _ = STANDARD.encode_slice(digest, &mut buf[2..]);
        CommunityId { buf }
    }

    /// The ID as text (`1:...`).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf).unwrap_or_default()
    }
}

/// True when `src` already sorts before `dst` (addresses, then ports when present).
fn ordered(src: (IpAddr, u16), dst: (IpAddr, u16), has_ports: bool) -> bool {
    let (a, b) = (addr_order(src.0), addr_order(dst.0));
    a < b || (a == b && has_ports && src.1 < dst.1)
}

/// Addresses compare as unsigned big-endian integers of their own width.
fn addr_order(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn update_addr(h: &mut Sha1, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn id(src: &str, sport: u16, dst: &str, dport: u16, proto: u8) -> String {
        CommunityId::new((ip(src), sport), (ip(dst), dport), proto).to_string()
    }

    /// Vectors from the spec's baseline (community-id-spec `baseline/baseline_deflt.json`) and
    /// the `community-id` crate's documentation, plus cases whose values were cross-checked
    /// against that crate (0.2.4); two-way cases are checked in both directions.
    #[test]
    fn published_vectors() {
        let cases = [
            (
                "128.232.110.120",
                34855,
                "66.35.250.204",
                80,
                6,
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            ),
            (
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                6,
                "1:wCb3OG7yAFWelaUydu0D+125CLM=",
            ),
            (
                "1.2.3.4",
                1122,
                "5.6.7.8",
                3344,
                17,
                "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
            ),
            (
                "1.2.3.4",
                8,
                "5.6.7.8",
                0,
                1,
                "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
            ),
            (
                "fe80::200:86ff:fe05:80da",
                135,
                "fe80::260:97ff:fe07:69ea",
                0,
                58,
                "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
            ),
            (
                "2001:db8::1",
                443,
                "2001:db8::2",
                50000,
                6,
                "1:UFel+zfGDXB/GhABjlRQUzVNUI8=",
            ),
            (
                "10.0.0.1",
                80,
                "10.0.0.1",
                1234,
                6,
                "1:WaobEo3Uyp/JjlL9QX3lvrl1Oag=",
            ),
            (
                "10.0.0.1",
                3,
                "10.0.0.2",
                3,
                1,
                "1:sn6MAmXQ6UD1gYE1XbV3XTNewrk=",
            ),
            (
                "10.0.0.2",
                3,
                "10.0.0.1",
                3,
                1,
                "1:LhjXG72oBqb/FpYqPl9LboG4/B4=",
            ),
            (
                "10.0.0.1",
                0,
                "10.0.0.2",
                0,
                47,
                "1:+KlEHDT0vJgzs/eNmzHq0aSpRYw=",
            ),
        ];
        for (src, sport, dst, dport, proto, want) in cases {
            assert_eq!(
                id(src, sport, dst, dport, proto),
                want,
                "{src}:{sport} -> {dst}:{dport}"
            );
            if proto != 1 && proto != 58 {
                assert_eq!(id(dst, dport, src, sport, proto), want, "reverse of {src}");
            }
        }
    }

    #[test]
    fn icmp_request_and_reply_share_an_id() {
        let req = id("10.0.0.1", 8, "10.0.0.2", 0, 1);
        let rep = id("10.0.0.2", 0, "10.0.0.1", 0, 1);
        assert_eq!(req, rep);
        let nd = id(
            "fe80::260:97ff:fe07:69ea",
            136,
            "fe80::200:86ff:fe05:80da",
            0,
            58,
        );
        assert_eq!(
            nd, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=",
            "advertisement matches its solicitation"
        );
        let req6 = id("2001:db8::1", 128, "2001:db8::2", 0, 58);
        let rep6 = id("2001:db8::2", 129, "2001:db8::1", 0, 58);
        assert_eq!(req6, rep6);
    }

    #[test]
    fn one_way_icmp_keeps_its_direction() {
        let a = id("10.0.0.1", 3, "10.0.0.2", 3, 1);
        let b = id("10.0.0.2", 3, "10.0.0.1", 3, 1);
        assert_ne!(a, b, "one-way messages are not reordered");
    }

    #[test]
    fn portless_protocols_ignore_ports() {
        assert_eq!(
            id("10.0.0.1", 1, "10.0.0.2", 2, 47),
            id("10.0.0.2", 9, "10.0.0.1", 7, 47)
        );
        assert_eq!(id("10.0.0.1", 0, "10.0.0.2", 0, 47).len(), 30);
    }
}
