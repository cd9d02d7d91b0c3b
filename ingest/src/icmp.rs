//! ICMP and ICMPv6 classification: which messages become `icmp` entries, their Kubeshark
//! (gopacket) names, and the 5-tuple of the packet an error message quotes; [`IcmpLayer`] is
//! ICMP's analyzer in the flow table's chain.
//!
//! Entries are produced for exactly the messages tshark's oracle filter selects:
//! `icmp.type in {3,4,5,9,10,11,12} || icmpv6.type in {1,2,3,4,133,134,137}`.

use std::fmt;

use etherparse::{IpNumber, Ipv6ExtensionSlice, LaxIpSlice};

use crate::decode::IcmpMessage;
use crate::emit::QuotedTuple;

mod layer;

pub use layer::{EchoCounts, IcmpLayer};

/// What kind of ICMP message a packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpClass {
    /// An error quoting the offending packet: v4 types 3, 4, 5, 11, 12; v6 types 1, 2, 3, 4.
    Error,
    /// Router discovery / redirect: v4 types 9, 10; v6 types 133, 134, 137.
    Router,
    /// Echo request (v4 type 8, v6 type 128).
    EchoRequest,
    /// Echo reply (v4 type 0, v6 type 129).
    EchoReply,
    /// ICMPv6 neighbour solicitation / advertisement (135, 136).
    NeighborDiscovery,
    /// Anything else (timestamps, MLD, unknown types, ...).
    Other,
}

impl IcmpClass {
    /// True for the classes that become `icmp` entries (errors and router messages).
    pub fn produces_entry(self) -> bool {
        matches!(self, Self::Error | Self::Router)
    }
}

/// Classifies an ICMP (`version` 4) or ICMPv6 (`version` 6) message type.
pub fn classify_type(version: u8, icmp_type: u8) -> IcmpClass {
    match (version, icmp_type) {
        (4, 3 | 4 | 5 | 11 | 12) | (6, 1..=4) => IcmpClass::Error,
        (4, 9 | 10) | (6, 133 | 134 | 137) => IcmpClass::Router,
        (4, 8) | (6, 128) => IcmpClass::EchoRequest,
        (4, 0) | (6, 129) => IcmpClass::EchoReply,
        (6, 135 | 136) => IcmpClass::NeighborDiscovery,
        _ => IcmpClass::Other,
    }
}

/// Classifies a decoded ICMP or ICMPv6 message.
pub fn classify(msg: &IcmpMessage<'_>) -> IcmpClass {
    classify_type(msg.version, msg.icmp_type)
}

/// A gopacket type name with its code names, pre-joined as `Type(Code)` so that known
/// combinations are `&'static str`.
struct TypeInfo {
    name: &'static str,
    /// Full names indexed by code; `None` when the type does not use its code field.
    codes: Option<&'static [&'static str]>,
}

macro_rules! type_info {
    ($name:literal) => {
        TypeInfo { name: $name, codes: None }
    };
    ($name:literal: $($code:literal),+ $(,)?) => {
        TypeInfo { name: $name, codes: Some(&[$(concat!($name, "(", $code, ")")),+]) }
    };
}

/// gopacket `layers/icmp4.go` `icmpv4TypeCodeInfo`.
fn icmpv4_info(icmp_type: u8) -> Option<TypeInfo> {
    Some(match icmp_type {
        0 => type_info!("EchoReply"),
        3 => type_info!("DestinationUnreachable":
            "Net", "Host", "Protocol", "Port", "FragmentationNeeded", "SourceRoutingFailed",
            "NetUnknown", "HostUnknown", "SourceIsolated", "NetAdminProhibited",
            "HostAdminProhibited", "NetTOS", "HostTOS", "CommAdminProhibited", "HostPrecedence",
            "PrecedenceCutoff"),
        4 => type_info!("SourceQuench"),
        5 => type_info!("Redirect": "Net", "Host", "TOS+Net", "TOS+Host"),
        8 => type_info!("EchoRequest"),
        9 => type_info!("RouterAdvertisement"),
        10 => type_info!("RouterSolicitation"),
        11 => type_info!("TimeExceeded": "TTLExceeded", "FragmentReassemblyTimeExceeded"),
        12 => type_info!("ParameterProblem": "PointerIndicatesError", "MissingOption", "BadLength"),
        13 => type_info!("TimestampRequest"),
        14 => type_info!("TimestampReply"),
        15 => type_info!("InfoRequest"),
        16 => type_info!("InfoReply"),
        17 => type_info!("AddressMaskRequest"),
        18 => type_info!("AddressMaskReply"),
        _ => return None,
    })
}

/// gopacket `layers/icmp6.go` `icmpv6TypeCodeInfo` (MLD types have no name there).
fn icmpv6_info(icmp_type: u8) -> Option<TypeInfo> {
    Some(match icmp_type {
        1 => type_info!("DestinationUnreachable":
            "NoRouteToDst", "AdminProhibited", "BeyondScopeOfSrc", "AddressUnreachable",
            "PortUnreachable", "SrcAddressFailedPolicy", "RejectRouteToDst"),
        2 => type_info!("PacketTooBig"),
        3 => type_info!("TimeExceeded": "HopLimitExceeded", "FragmentReassemblyTimeExceeded"),
        4 => type_info!("ParameterProblem":
            "ErroneousHeaderField", "UnrecognizedNextHeader", "UnrecognizedIPv6Option"),
        128 => type_info!("EchoRequest"),
        129 => type_info!("EchoReply"),
        133 => type_info!("RouterSolicitation"),
        134 => type_info!("RouterAdvertisement"),
        135 => type_info!("NeighborSolicitation"),
        136 => type_info!("NeighborAdvertisement"),
        137 => type_info!("Redirect"),
        _ => return None,
    })
}

/// The name Kubeshark (gopacket's `ICMPv4TypeCode.String()` / `ICMPv6TypeCode.String()`) gives
/// a type/code pair. Copy, allocation-free; [`IcmpName::as_static`] gives the `&'static str` of
/// every known combination, `Display` renders all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpName {
    version: u8,
    icmp_type: u8,
    code: u8,
}

/// Names an ICMP (`version` 4) or ICMPv6 (`version` 6) type/code pair the way gopacket does:
/// `DestinationUnreachable(Port)`, bare `EchoRequest` for types without codes when the code is
/// 0, `Type(Code: n)` for an unexpected code, `t(c)` for an unknown type.
pub fn icmp_name(version: u8, icmp_type: u8, code: u8) -> IcmpName {
    IcmpName {
        version,
        icmp_type,
        code,
    }
}

impl IcmpName {
    fn info(&self) -> Option<TypeInfo> {
        if self.version == 6 {
            icmpv6_info(self.icmp_type)
        } else {
            icmpv4_info(self.icmp_type)
        }
    }

    /// The name as a static string, when the type and code are both known (or the type takes no
    /// code and the code is 0); `None` when it has to be formatted.
    pub fn as_static(&self) -> Option<&'static str> {
        let info = self.info()?;
        match info.codes {
            None => (self.code == 0).then_some(info.name),
            Some(codes) => codes.get(usize::from(self.code)).copied(),
        }
    }
}

impl fmt::Display for IcmpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.as_static() {
            return f.write_str(name);
        }
        match self.info() {
            Some(info) => write!(f, "{}(Code: {})", info.name, self.code),
            None => write!(f, "{}({})", self.icmp_type, self.code),
        }
    }
}

/// The 5-tuple of the packet quoted by an ICMP error (`None` for other classes or when no IP
/// header can be read). Ports are read from the first 4 bytes of a quoted TCP or UDP header
/// (present in the usual 8-byte quote) and are `None` when those bytes are missing or the quote
/// is a non-first fragment. Truncated quotes and IPv6 extension headers are handled by
/// `etherparse`'s lax slicing.
pub fn quoted_tuple(msg: &IcmpMessage<'_>) -> Option<QuotedTuple> {
    if classify(msg) != IcmpClass::Error {
        return None;
    }
    let (ip, _ext_error) = LaxIpSlice::from_slice(msg.body).ok()?;
    let payload = ip.payload();
    let has_ports =
        matches!(payload.ip_number, IpNumber::TCP | IpNumber::UDP) && !is_later_fragment(&ip);
    let ports = match payload.payload {
        [a, b, c, d, ..] if has_ports => {
            Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])))
        }
        _ => None,
    };
    Some(QuotedTuple {
        proto: payload.ip_number.0,
        src: ip.source_addr(),
        src_port: ports.map(|p| p.0),
        dst: ip.destination_addr(),
        dst_port: ports.map(|p| p.1),
    })
}

/// True when the quoted packet is a fragment other than the first (no transport header).
fn is_later_fragment(ip: &LaxIpSlice<'_>) -> bool {
    match ip {
        LaxIpSlice::Ipv4(v4) => v4.header().fragments_offset().value() != 0,
        LaxIpSlice::Ipv6(v6) => v6.extensions().clone().into_iter().any(|ext| match ext {
            Ipv6ExtensionSlice::Fragment(frag) => frag.fragment_offset().value() != 0,
            _ => false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;

    fn msg(version: u8, icmp_type: u8, code: u8, body: &[u8]) -> IcmpMessage<'_> {
        IcmpMessage {
            version,
            icmp_type,
            code,
            rest: [0; 4],
            body,
        }
    }

    /// An IPv4 header (20 bytes, given total length and fragment field) followed by `l4`.
    fn ipv4_quote(proto: u8, total_len: u16, frag: u16, l4: &[u8]) -> Vec<u8> {
        let mut v = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 192, 0, 2, 7,
        ];
        v[2..4].copy_from_slice(&total_len.to_be_bytes());
        v[6..8].copy_from_slice(&frag.to_be_bytes());
        v.extend_from_slice(l4);
        v
    }

    /// An IPv6 header from 2001:db8::1 to 2001:db8::2 with the given next header and payload.
    fn ipv6_quote(next: u8, payload_len: u16, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&payload_len.to_be_bytes());
        v.extend_from_slice(&[next, 64]);
        v.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn names_known_pairs_statically() {
        let cases = [
            (4, 3, 3, "DestinationUnreachable(Port)"),
            (4, 3, 0, "DestinationUnreachable(Net)"),
            (4, 3, 4, "DestinationUnreachable(FragmentationNeeded)"),
            (4, 3, 10, "DestinationUnreachable(HostAdminProhibited)"),
            (4, 3, 15, "DestinationUnreachable(PrecedenceCutoff)"),
            (4, 5, 1, "Redirect(Host)"),
            (4, 5, 2, "Redirect(TOS+Net)"),
            (4, 11, 0, "TimeExceeded(TTLExceeded)"),
            (4, 11, 1, "TimeExceeded(FragmentReassemblyTimeExceeded)"),
            (4, 12, 2, "ParameterProblem(BadLength)"),
            (4, 4, 0, "SourceQuench"),
            (4, 8, 0, "EchoRequest"),
            (4, 0, 0, "EchoReply"),
            (4, 9, 0, "RouterAdvertisement"),
            (4, 10, 0, "RouterSolicitation"),
            (4, 18, 0, "AddressMaskReply"),
            (6, 1, 0, "DestinationUnreachable(NoRouteToDst)"),
            (6, 1, 4, "DestinationUnreachable(PortUnreachable)"),
            (6, 1, 6, "DestinationUnreachable(RejectRouteToDst)"),
            (6, 2, 0, "PacketTooBig"),
            (6, 3, 0, "TimeExceeded(HopLimitExceeded)"),
            (6, 4, 2, "ParameterProblem(UnrecognizedIPv6Option)"),
            (6, 128, 0, "EchoRequest"),
            (6, 134, 0, "RouterAdvertisement"),
            (6, 135, 0, "NeighborSolicitation"),
            (6, 137, 0, "Redirect"),
        ];
        for (v, t, c, want) in cases {
            let name = icmp_name(v, t, c);
            assert_eq!(name.as_static(), Some(want), "v{v} {t}/{c}");
            assert_eq!(name.to_string(), want);
        }
    }

    #[test]
    fn formats_unknown_codes_and_types() {
        let cases = [
            (4, 3, 16, "DestinationUnreachable(Code: 16)"),
            (4, 8, 1, "EchoRequest(Code: 1)"),
            (4, 2, 0, "2(0)"),
            (4, 200, 7, "200(7)"),
            (6, 1, 7, "DestinationUnreachable(Code: 7)"),
            (6, 2, 1, "PacketTooBig(Code: 1)"),
            (6, 130, 0, "130(0)"),
            (6, 143, 0, "143(0)"),
        ];
        for (v, t, c, want) in cases {
            let name = icmp_name(v, t, c);
            assert_eq!(name.as_static(), None, "v{v} {t}/{c}");
            assert_eq!(name.to_string(), want);
        }
    }

    #[test]
    fn entry_types_match_the_oracle_filter() {
        // tshark: icmp.type in {3,4,5,9,10,11,12} || icmpv6.type in {1,2,3,4,133,134,137}
        for t in 0..=255u8 {
            let v4 = matches!(t, 3 | 4 | 5 | 9 | 10 | 11 | 12);
            let v6 = matches!(t, 1 | 2 | 3 | 4 | 133 | 134 | 137);
            assert_eq!(classify_type(4, t).produces_entry(), v4, "v4 type {t}");
            assert_eq!(classify_type(6, t).produces_entry(), v6, "v6 type {t}");
        }
    }

    #[test]
    fn classifies_each_kind() {
        assert_eq!(classify(&msg(4, 11, 0, &[])), IcmpClass::Error);
        assert_eq!(classify(&msg(4, 9, 0, &[])), IcmpClass::Router);
        assert_eq!(classify(&msg(4, 8, 0, &[])), IcmpClass::EchoRequest);
        assert_eq!(classify(&msg(4, 0, 0, &[])), IcmpClass::EchoReply);
        assert_eq!(classify(&msg(4, 13, 0, &[])), IcmpClass::Other);
        assert_eq!(classify(&msg(6, 2, 0, &[])), IcmpClass::Error);
        assert_eq!(classify(&msg(6, 137, 0, &[])), IcmpClass::Router);
        assert_eq!(classify(&msg(6, 128, 0, &[])), IcmpClass::EchoRequest);
        assert_eq!(classify(&msg(6, 129, 0, &[])), IcmpClass::EchoReply);
        assert_eq!(classify(&msg(6, 136, 0, &[])), IcmpClass::NeighborDiscovery);
        assert_eq!(classify(&msg(6, 143, 0, &[])), IcmpClass::Other);
    }

    #[test]
    fn quoted_udp_in_truncated_ipv4_quote() {
        // Total length claims 328 bytes but only the header and 8 bytes of UDP are quoted.
        let body = ipv4_quote(17, 328, 0, &[0xa8, 0xc1, 0x00, 0x35, 0x01, 0x34, 0, 0]);
        let q = quoted_tuple(&msg(4, 3, 3, &body)).unwrap();
        assert_eq!(q.proto, 17);
        assert_eq!(q.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(q.dst, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
        assert_eq!((q.src_port, q.dst_port), (Some(43201), Some(53)));
    }

    #[test]
    fn quoted_tcp_ports_need_four_bytes() {
        let body = ipv4_quote(6, 60, 0, &[0x04, 0xd2, 0x00]);
        let q = quoted_tuple(&msg(4, 11, 0, &body)).unwrap();
        assert_eq!((q.proto, q.src_port, q.dst_port), (6, None, None));
        let body = ipv4_quote(6, 60, 0, &[0x04, 0xd2, 0x00, 0x50]);
        let q = quoted_tuple(&msg(4, 11, 0, &body)).unwrap();
        assert_eq!((q.src_port, q.dst_port), (Some(1234), Some(80)));
    }

    #[test]
    fn quoted_non_tcp_udp_and_later_fragments_have_no_ports() {
        let body = ipv4_quote(1, 84, 0, &[8, 0, 0, 0, 0, 1, 0, 1]);
        let q = quoted_tuple(&msg(4, 11, 0, &body)).unwrap();
        assert_eq!((q.proto, q.src_port), (1, None));
        // Fragment offset 185 (x8 bytes): the bytes after the header are not a UDP header.
        let body = ipv4_quote(17, 60, 185, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let q = quoted_tuple(&msg(4, 3, 4, &body)).unwrap();
        assert_eq!((q.proto, q.src_port), (17, None));
        // A first fragment (more-fragments set, offset 0) still carries the ports.
        let body = ipv4_quote(17, 60, 0x2000, &[0, 7, 0, 9, 0, 0, 0, 0]);
        let q = quoted_tuple(&msg(4, 3, 4, &body)).unwrap();
        assert_eq!((q.src_port, q.dst_port), (Some(7), Some(9)));
    }

    #[test]
    fn quoted_ipv6_with_extension_header() {
        // Destination options (next header UDP, 8 bytes) then a UDP header.
        let mut rest = vec![17, 0, 1, 4, 0, 0, 0, 0];
        rest.extend_from_slice(&[0x75, 0x30, 0x32, 0xc8, 0, 16, 0, 0]);
        let body = ipv6_quote(60, 24, &rest);
        let q = quoted_tuple(&msg(6, 1, 0, &body)).unwrap();
        assert_eq!(q.proto, 17);
        assert_eq!(q.src, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(q.dst, "2001:db8::2".parse::<IpAddr>().unwrap());
        assert_eq!((q.src_port, q.dst_port), (Some(30000), Some(13000)));
    }

    #[test]
    fn quoted_ipv6_later_fragment_has_no_ports() {
        // Fragment header: next UDP, offset 100 (x8), then 8 bytes of data.
        let mut rest = vec![17, 0, 0x03, 0x20, 0, 0, 0, 1];
        rest.extend_from_slice(&[0, 7, 0, 9, 0, 0, 0, 0]);
        let body = ipv6_quote(44, 16, &rest);
        let q = quoted_tuple(&msg(6, 3, 1, &body)).unwrap();
        assert_eq!((q.proto, q.src_port), (17, None));
    }

    #[test]
    fn no_quote_without_an_ip_header_or_for_non_errors() {
        assert_eq!(quoted_tuple(&msg(4, 3, 0, &[])), None);
        assert_eq!(quoted_tuple(&msg(4, 3, 0, &[0x45, 0, 0])), None);
        assert_eq!(quoted_tuple(&msg(6, 1, 0, &[0x00; 8])), None);
        let body = ipv4_quote(17, 28, 0, &[0, 7, 0, 9, 0, 8, 0, 0]);
        assert_eq!(quoted_tuple(&msg(4, 9, 0, &body)), None);
        assert_eq!(quoted_tuple(&msg(4, 8, 0, &body)), None);
    }
}
