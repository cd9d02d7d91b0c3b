use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{PacketBuilder, PacketBuilderStep, TcpHeader, TcpOptionElement, VlanId};

use super::*;

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const V4_A: [u8; 4] = [10, 0, 0, 1];
const V4_B: [u8; 4] = [10, 0, 0, 2];
const V6_A: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_B: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
    Frame {
        ts_us: 1_234,
        link,
        data,
        orig_len: data.len() as u32,
        interface: 0,
    }
}

fn write_tcp(step: PacketBuilderStep<TcpHeader>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    step.write(&mut out, payload).unwrap();
    out
}

/// Ethernet / IPv4 / TCP SYN with a window-scale option and `payload`.
fn eth_v4_syn(payload: &[u8]) -> Vec<u8> {
    let step = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(V4_A, V4_B, 64)
        .tcp(40000, 80, 1000, 29200)
        .syn()
        .ack(77)
        .options(&[
            TcpOptionElement::MaximumSegmentSize(1460),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(7),
        ])
        .unwrap();
    write_tcp(step, payload)
}

fn expect_tcp<'a>(p: &Packet<'a>) -> TcpSegment<'a> {
    match p.transport {
        Transport::Tcp(t) => t,
        other => panic!("expected TCP, got {other:?}"),
    }
}

#[test]
fn ethernet_ipv4_tcp_syn() {
    let bytes = eth_v4_syn(b"hello");
    let p = decode(&frame(LinkType::Ethernet, &bytes)).unwrap();
    assert_eq!(p.ts_us, 1_234);
    assert_eq!(p.vlan, None);
    assert_eq!(p.ip.version, 4);
    assert_eq!(p.ip.src, IpAddr::V4(Ipv4Addr::from(V4_A)));
    assert_eq!(p.ip.dst, IpAddr::V4(Ipv4Addr::from(V4_B)));
    assert_eq!(p.ip.proto, 6);
    assert_eq!(p.ip.total_len as usize, bytes.len() - 14);
    assert!(!p.ip.fragment);
    let t = expect_tcp(&p);
    assert_eq!(
        (t.src_port, t.dst_port, t.seq, t.ack),
        (40000, 80, 1000, 77)
    );
    assert_eq!(t.flags, tcp_flags::SYN | tcp_flags::ACK);
    assert!(t.has(tcp_flags::SYN | tcp_flags::ACK));
    assert!(!t.has(tcp_flags::RST));
    assert_eq!(t.window, 29200);
    assert_eq!(t.window_scale, Some(7));
    assert_eq!(t.payload_len, 5);
    assert_eq!(t.payload, b"hello");
}

#[test]
fn window_scale_only_read_on_syn() {
    let step = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(V4_A, V4_B, 64)
        .tcp(1, 2, 3, 4)
        .ack(5)
        .options(&[TcpOptionElement::WindowScale(7)])
        .unwrap();
    let bytes = write_tcp(step, b"");
    let p = decode(&frame(LinkType::Ethernet, &bytes)).unwrap();
    assert_eq!(expect_tcp(&p).window_scale, None);
}

#[test]
fn snaplen_truncated_tcp_keeps_wire_payload_length() {
    let bytes = eth_v4_syn(&[0xab; 1000]);
    let snap = &bytes[..100];
    let f = Frame {
        orig_len: bytes.len() as u32,
        ..frame(LinkType::Ethernet, snap)
    };
    let p = decode(&f).unwrap();
    assert_eq!(p.ip.total_len as usize, bytes.len() - 14);
    let t = expect_tcp(&p);
    assert_eq!(t.payload_len, 1000);
    assert_eq!(t.payload.len(), 100 - 14 - 20 - 28);
}

#[test]
fn truncated_tcp_header_is_other_but_still_ip() {
    let bytes = eth_v4_syn(b"");
    let p = decode(&frame(LinkType::Ethernet, &bytes[..14 + 20 + 10])).unwrap();
    assert_eq!(p.ip.proto, 6);
    assert_eq!(p.transport, Transport::Other);
}

#[test]
fn ethernet_padding_is_not_payload() {
    let step = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(V4_A, V4_B, 64)
        .tcp(1, 2, 3, 4)
        .ack(5);
    let mut bytes = write_tcp(step, b"");
    bytes.resize(60, 0);
    let p = decode(&frame(LinkType::Ethernet, &bytes)).unwrap();
    assert_eq!(p.ip.total_len, 40);
    let t = expect_tcp(&p);
    assert_eq!((t.payload_len, t.payload.len()), (0, 0));
}

#[test]
fn zero_ipv4_total_length_falls_back_to_frame_length() {
    // TCP segmentation offload: the capture shows total length 0.
    let mut bytes = eth_v4_syn(&[1; 3000]);
    bytes[16] = 0;
    bytes[17] = 0;
    let p = decode(&frame(LinkType::Ethernet, &bytes)).unwrap();
    assert_eq!(p.ip.total_len as usize, bytes.len() - 14);
    assert_eq!(expect_tcp(&p).payload_len, 3000);
}

#[test]
fn vlan_and_qinq_outer_id() {
    let single = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .single_vlan(VlanId::try_new(42).unwrap())
        .ipv4(V4_A, V4_B, 64)
        .udp(53, 5353);
    let mut bytes = Vec::new();
    single.write(&mut bytes, b"q").unwrap();
    let p = decode(&frame(LinkType::Ethernet, &bytes)).unwrap();
    assert_eq!(p.vlan, Some(42));

    let double = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .double_vlan(VlanId::try_new(100).unwrap(), VlanId::try_new(200).unwrap())
        .ipv6(V6_A, V6_B, 64)
        .tcp(1, 2, 3, 4);
    let bytes = write_tcp(double, b"x");
    let p = decode(&frame(LinkType::Ethernet, &bytes)).unwrap();
    assert_eq!(p.vlan, Some(100));
    assert_eq!(p.ip.version, 6);
    assert_eq!(expect_tcp(&p).payload, b"x");
}

#[test]
fn truncated_vlan_tag_is_malformed() {
    let mut f = Vec::new();
    f.extend(MAC_B);
    f.extend(MAC_A);
    f.extend([0x81, 0x00, 0x00]);
    assert_eq!(
        decode(&frame(LinkType::Ethernet, &f)),
        Err(DecodeError::Malformed("vlan"))
    );
}

#[test]
fn udp_datagram() {
    let mut bytes = Vec::new();
    PacketBuilder::ipv4(V4_A, V4_B, 64)
        .udp(5353, 53)
        .write(&mut bytes, b"query")
        .unwrap();
    let p = decode(&frame(LinkType::RawIp, &bytes)).unwrap();
    assert_eq!(
        p.transport,
        Transport::Udp(UdpDatagram {
            src_port: 5353,
            dst_port: 53,
            payload: b"query"
        })
    );
}

#[test]
fn icmpv4_error_quotes_the_packet() {
    let mut quoted = Vec::new();
    PacketBuilder::ipv4(V4_B, V4_A, 64)
        .udp(1111, 2222)
        .write(&mut quoted, b"")
        .unwrap();
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(V4_A, V4_B, 64)
        .icmpv4_raw(3, 3, [0, 0, 5, 0xdc])
        .write(&mut bytes, &quoted)
        .unwrap();
    let p = decode(&frame(LinkType::Ethernet, &bytes)).unwrap();
    assert_eq!(p.ip.proto, 1);
    assert_eq!(
        p.transport,
        Transport::Icmp(IcmpMessage {
            version: 4,
            icmp_type: 3,
            code: 3,
            rest: [0, 0, 5, 0xdc],
            body: &quoted,
        })
    );
}

#[test]
fn icmpv6_echo() {
    let mut bytes = Vec::new();
    PacketBuilder::ipv6(V6_A, V6_B, 64)
        .icmpv6_echo_request(0x1234, 7)
        .write(&mut bytes, b"ping")
        .unwrap();
    let p = decode(&frame(LinkType::Ipv6, &bytes)).unwrap();
    assert_eq!(p.ip.src, IpAddr::V6(Ipv6Addr::from(V6_A)));
    assert_eq!(p.ip.total_len as usize, bytes.len());
    match p.transport {
        Transport::Icmp(m) => {
            assert_eq!((m.version, m.icmp_type, m.code), (6, 128, 0));
            assert_eq!(m.rest, [0x12, 0x34, 0, 7]);
            assert_eq!(m.body, b"ping");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn short_icmp_is_other() {
    let mut bytes = Vec::new();
    PacketBuilder::ipv4(V4_A, V4_B, 64)
        .icmpv4_raw(3, 1, [0; 4])
        .write(&mut bytes, b"")
        .unwrap();
    let p = decode(&frame(LinkType::RawIp, &bytes[..20 + 6])).unwrap();
    assert_eq!(p.transport, Transport::Other);
}

/// IPv6 / UDP with a destination-options header (and optionally a fragment header) inserted.
fn v6_with_exts(fragment: Option<u16>) -> Vec<u8> {
    let mut plain = Vec::new();
    PacketBuilder::ipv6(V6_A, V6_B, 64)
        .udp(7, 9)
        .write(&mut plain, b"data")
        .unwrap();
    let (header, upper) = plain.split_at(40);
    let mut exts = Vec::new();
    let dest_next = if fragment.is_some() { 44 } else { 17 };
    exts.extend([dest_next, 0, 1, 4, 0, 0, 0, 0]); // PadN
    if let Some(offset_units) = fragment {
        let field = (offset_units << 3) | 1; // more fragments
        exts.extend([17, 0]);
        exts.extend(field.to_be_bytes());
        exts.extend([0, 0, 0, 9]);
    }
    let mut bytes = header.to_vec();
    bytes[6] = 60; // destination options
    let payload_len = (upper.len() + exts.len()) as u16;
    bytes[4..6].copy_from_slice(&payload_len.to_be_bytes());
    bytes.extend(exts);
    bytes.extend(upper);
    bytes
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    let bytes = v6_with_exts(None);
    let p = decode(&frame(LinkType::RawIp, &bytes)).unwrap();
    assert_eq!(p.ip.proto, 17);
    assert!(!p.ip.fragment);
    assert!(matches!(p.transport, Transport::Udp(u) if u.payload == b"data"));
}

#[test]
fn ipv6_fragments() {
    let first = v6_with_exts(Some(0));
    let p = decode(&frame(LinkType::RawIp, &first)).unwrap();
    assert!(!p.ip.fragment);
    assert!(matches!(p.transport, Transport::Udp(_)));

    let later = v6_with_exts(Some(100));
    let p = decode(&frame(LinkType::RawIp, &later)).unwrap();
    assert!(p.ip.fragment);
    assert_eq!(p.transport, Transport::Other);
}

#[test]
fn ipv4_fragments() {
    let mut first = eth_v4_syn(&[0; 64]);
    first[20] = 0x20; // more fragments, offset 0
    let p = decode(&frame(LinkType::Ethernet, &first)).unwrap();
    assert!(!p.ip.fragment);
    assert!(matches!(p.transport, Transport::Tcp(_)));

    let mut later = first.clone();
    later[21] = 0x10; // offset 16 * 8 bytes
    let p = decode(&frame(LinkType::Ethernet, &later)).unwrap();
    assert!(p.ip.fragment);
    assert_eq!(p.ip.proto, 6);
    assert_eq!(p.transport, Transport::Other);
}

/// IPv4 / TCP packet without link header.
fn v4_tcp() -> Vec<u8> {
    let step = PacketBuilder::ipv4(V4_A, V4_B, 64).tcp(5, 6, 7, 8).rst();
    write_tcp(step, b"")
}

#[test]
fn linux_cooked_v1_and_v2() {
    let ip = v4_tcp();
    for hatype in [1u16, 772, 65534] {
        let mut sll = vec![0, 0];
        sll.extend(hatype.to_be_bytes());
        sll.extend([0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00]);
        sll.extend(&ip);
        let p = decode(&frame(LinkType::LinuxSll, &sll)).unwrap();
        assert!(expect_tcp(&p).has(tcp_flags::RST), "hatype {hatype}");
    }
    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    let mut v6 = Vec::new();
    PacketBuilder::ipv6(V6_A, V6_B, 1)
        .udp(1, 2)
        .write(&mut v6, b"")
        .unwrap();
    sll2.extend(&v6);
    let p = decode(&frame(LinkType::LinuxSll2, &sll2)).unwrap();
    assert_eq!(p.ip.version, 6);

    let mut netlink = vec![0, 0, 0x03, 0x38];
    netlink.extend([0; 12]);
    assert_eq!(
        decode(&frame(LinkType::LinuxSll, &netlink)),
        Err(DecodeError::NotIp)
    );
    assert_eq!(
        decode(&frame(LinkType::LinuxSll2, &sll2[..10])),
        Err(DecodeError::Malformed("linux cooked"))
    );
}

#[test]
fn bsd_null_and_loop() {
    let ip = v4_tcp();
    let mut v6 = Vec::new();
    PacketBuilder::ipv6(V6_A, V6_B, 1)
        .udp(1, 2)
        .write(&mut v6, b"")
        .unwrap();
    let with = |family: [u8; 4], body: &[u8]| [&family[..], body].concat();
    // Host order: either byte order is recognised.
    for fam in [[2, 0, 0, 0], [0, 0, 0, 2]] {
        let f = with(fam, &ip);
        assert_eq!(decode(&frame(LinkType::Null, &f)).unwrap().ip.version, 4);
    }
    for n in [24u32, 28, 30] {
        let f = with(n.to_le_bytes(), &v6);
        assert_eq!(decode(&frame(LinkType::Null, &f)).unwrap().ip.version, 6);
        let f = with(n.to_be_bytes(), &v6);
        assert_eq!(decode(&frame(LinkType::Loop, &f)).unwrap().ip.version, 6);
    }
    let f = with(2u32.to_be_bytes(), &ip);
    assert_eq!(decode(&frame(LinkType::Loop, &f)).unwrap().ip.version, 4);
    let f = with(7u32.to_le_bytes(), &ip);
    assert_eq!(decode(&frame(LinkType::Null, &f)), Err(DecodeError::NotIp));
    assert_eq!(
        decode(&frame(LinkType::Null, &[2, 0])),
        Err(DecodeError::Malformed("loopback"))
    );
}

#[test]
fn non_ip_and_malformed_frames() {
    let mut arp = vec![0xff; 12];
    arp.extend([0x08, 0x06]);
    arp.extend([0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend([0; 20]);
    assert_eq!(
        decode(&frame(LinkType::Ethernet, &arp)),
        Err(DecodeError::NotIp)
    );
    assert_eq!(
        decode(&frame(LinkType::Ethernet, &arp[..10])),
        Err(DecodeError::Malformed("ethernet"))
    );
    let syn = eth_v4_syn(b"");
    assert_eq!(
        decode(&frame(LinkType::Ethernet, &syn[..14 + 12])),
        Err(DecodeError::Malformed("ip"))
    );
    assert_eq!(
        decode(&frame(LinkType::RawIp, &[0x75, 1, 2, 3])),
        Err(DecodeError::Malformed("ip"))
    );
    assert_eq!(
        decode(&frame(LinkType::RawIp, &[])),
        Err(DecodeError::Malformed("ip"))
    );
    assert_eq!(
        decode(&frame(LinkType::Other(147), &syn)),
        Err(DecodeError::UnsupportedLink(147))
    );
}

#[test]
fn window_scale_scan() {
    assert_eq!(window_scale(&[2, 4, 5, 0xb4, 1, 3, 3, 8]), Some(8));
    // Unknown kind (MPTCP, 30) before window scale is skipped by its length.
    assert_eq!(window_scale(&[30, 4, 0, 0, 3, 3, 2]), Some(2));
    assert_eq!(window_scale(&[0, 3, 3, 2]), None);
    assert_eq!(window_scale(&[30, 0, 3, 3, 2]), None);
    assert_eq!(window_scale(&[30, 200, 3, 3, 2]), None);
    assert_eq!(window_scale(&[3, 3]), None);
    assert_eq!(window_scale(&[1, 1, 1]), None);
}

#[test]
fn mpls_label_stack_is_skipped() {
    let ip = v4_tcp();
    let mut f = Vec::new();
    f.extend(MAC_B);
    f.extend(MAC_A);
    f.extend([0x81, 0x00, 0x00, 0x07, 0x88, 0x47]); // VLAN 7, then MPLS
    f.extend([0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]); // two labels, S on the 2nd
    f.extend(&ip);
    let p = decode(&frame(LinkType::Ethernet, &f)).unwrap();
    assert_eq!(p.vlan, Some(7));
    assert!(expect_tcp(&p).has(tcp_flags::RST));
    // No bottom-of-stack label, or a non-IP payload: not IP.
    let cut = &f[..14 + 4 + 4];
    assert_eq!(
        decode(&frame(LinkType::Ethernet, cut)),
        Err(DecodeError::NotIp)
    );
    let mut pw = f[..26].to_vec();
    pw.extend([0u8; 30]);
    assert_eq!(
        decode(&frame(LinkType::Ethernet, &pw)),
        Err(DecodeError::NotIp)
    );
}

#[test]
fn six_in_four_tunnel_reports_the_inner_packet() {
    let mut inner = Vec::new();
    PacketBuilder::ipv6(V6_A, V6_B, 64)
        .udp(1000, 53)
        .write(&mut inner, b"dns")
        .unwrap();
    let mut outer = Vec::new();
    PacketBuilder::ipv4(V4_A, V4_B, 64)
        .write(&mut outer, etherparse::IpNumber(41), &inner)
        .unwrap();
    let p = decode(&frame(LinkType::RawIp, &outer)).unwrap();
    assert_eq!(p.ip.version, 6);
    assert_eq!(p.ip.proto, 17);
    assert_eq!(p.ip.total_len as usize, inner.len());
    assert!(matches!(p.transport, Transport::Udp(u) if u.dst_port == 53));
    // An unreadable inner header leaves the outer packet.
    let p = decode(&frame(LinkType::RawIp, &outer[..24])).unwrap();
    assert_eq!((p.ip.version, p.ip.proto), (4, 41));
}
