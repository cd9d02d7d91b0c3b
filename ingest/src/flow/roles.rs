//! Who is the originator of a new flow.
//!
//! A TCP flow opened by a SYN (without ACK) belongs to the SYN's sender; one first seen at its
//! SYN-ACK belongs to the SYN-ACK's receiver. For flows first seen mid-stream (and for UDP),
//! Zeek's port heuristic applies: the roles flip when the sender's port is a likely server port
//! and the receiver's is not (for TCP without SYN, also when both are and the sender's port is
//! the lower one). Zeek marks such flips with `^` in the history, and so does faultline.

use crate::decode::TcpSegment;
use crate::decode::tcp_flags::{ACK, SYN};

/// TCP ports Zeek's default scripts register as likely server ports (its `likely_server_ports`
/// is filled by the protocol analyzers it loads; this list models the default set).
const TCP_SERVER_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 80, 81, 88, 110, 111, 135, 139, 143, 389, 443, 445, 502, 513, 514, 563,
    585, 587, 614, 631, 636, 750, 989, 990, 992, 993, 995, 1080, 1433, 1434, 1883, 2049, 2811,
    3128, 3268, 3306, 3389, 5222, 5223, 5269, 5432, 5900, 5901, 5902, 5903, 6379, 6666, 6667, 6668,
    6669, 8000, 8080, 8443, 8888, 9200, 11211, 20000, 27017,
];

/// UDP ports modelled on Zeek's default `likely_server_ports`.
const UDP_SERVER_PORTS: &[u16] = &[
    53, 67, 69, 88, 123, 137, 138, 161, 162, 443, 500, 514, 750, 1812, 1813, 2123, 2152, 3544,
    4500, 4789, 5060, 5072, 5353, 5355, 6081, 11211, 20000,
];

/// True when `port` is a well-known TCP service port.
pub fn likely_tcp_server(port: u16) -> bool {
    TCP_SERVER_PORTS.binary_search(&port).is_ok()
}

/// True when `port` is a well-known UDP service port.
pub fn likely_udp_server(port: u16) -> bool {
    UDP_SERVER_PORTS.binary_search(&port).is_ok()
}

/// True when the receiver of this first TCP segment is the originator.
pub fn tcp_receiver_is_originator(seg: &TcpSegment<'_>) -> bool {
    match seg.flags & (SYN | ACK) {
        f if f == SYN => false,
        f if f == SYN | ACK => true,
        _ => {
            let (src, dst) = (seg.src_port, seg.dst_port);
            likely_tcp_server(src) && (!likely_tcp_server(dst) || src < dst)
        }
    }
}

/// True when the receiver of this first UDP datagram is the originator.
pub fn udp_receiver_is_originator(src_port: u16, dst_port: u16) -> bool {
    likely_udp_server(src_port) && !likely_udp_server(dst_port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::{FIN, PSH, RST};

    fn seg(src_port: u16, dst_port: u16, flags: u8) -> TcpSegment<'static> {
        TcpSegment {
            src_port,
            dst_port,
            seq: 1,
            ack: 1,
            flags,
            window: 1000,
            window_scale: None,
            payload_len: 0,
            payload: &[],
        }
    }

    #[test]
    fn port_lists_are_sorted() {
        assert!(TCP_SERVER_PORTS.windows(2).all(|w| w[0] < w[1]));
        assert!(UDP_SERVER_PORTS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn syn_and_syn_ack_decide() {
        assert!(
            !tcp_receiver_is_originator(&seg(80, 40000, SYN)),
            "a SYN's sender originates"
        );
        assert!(
            tcp_receiver_is_originator(&seg(40000, 80, SYN | ACK)),
            "even from a high port"
        );
    }

    #[test]
    fn mid_stream_uses_server_ports() {
        assert!(tcp_receiver_is_originator(&seg(80, 40000, PSH | ACK)));
        assert!(!tcp_receiver_is_originator(&seg(40000, 80, PSH | ACK)));
        assert!(!tcp_receiver_is_originator(&seg(40000, 50000, RST)));
        assert!(
            tcp_receiver_is_originator(&seg(22, 80, FIN | ACK)),
            "both likely: lower sender flips"
        );
        assert!(!tcp_receiver_is_originator(&seg(80, 22, ACK)));
        assert!(udp_receiver_is_originator(53, 40000));
        assert!(!udp_receiver_is_originator(40000, 53));
        assert!(!udp_receiver_is_originator(5353, 5353));
    }
}
