//! Entry kinds, error types and TCP error states, with the strings stored in Parquet.

/// What an `entries` row describes; stored in the `kind` column and usable as a bare KFL name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A TCP connection error (Kubeshark's `SynSent`, `Reset`, `CloseWait`, `LastAck`).
    Tcp,
    /// An L4 stream that stayed incomplete and idle past the stream timeout.
    Timeout,
    /// A flow that ended with sequence gaps or retransmissions, or capture drops.
    Loss,
    /// An ICMP or ICMPv6 error or router message.
    Icmp,
    /// An HTTP/1.x transaction.
    Http,
    /// A DNS transaction.
    Dns,
}

impl EntryKind {
    /// Every kind, in a stable order.
    pub const ALL: [EntryKind; 6] = [
        EntryKind::Tcp,
        EntryKind::Timeout,
        EntryKind::Loss,
        EntryKind::Icmp,
        EntryKind::Http,
        EntryKind::Dns,
    ];

    /// The string stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Tcp => "tcp",
            EntryKind::Timeout => "timeout",
            EntryKind::Loss => "loss",
            EntryKind::Icmp => "icmp",
            EntryKind::Http => "http",
            EntryKind::Dns => "dns",
        }
    }

    /// Parses the stored string.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Kubeshark's `error.type` values, plus faultline's `loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Invalid payload or an early end of stream in an application parser.
    Dissection,
    /// A TCP connection error.
    Connection,
    /// A stream that timed out incomplete.
    Timeout,
    /// A request without response or a response without request.
    PairNotFound,
    /// Packet loss: sequence gaps, retransmissions, capture drops.
    Loss,
}

impl ErrorType {
    /// The string stored in the `error_type` column (Kubeshark's JSON form).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Dissection => "dissection",
            ErrorType::Connection => "connection",
            ErrorType::Timeout => "timeout",
            ErrorType::PairNotFound => "pair-not-found",
            ErrorType::Loss => "loss",
        }
    }
}

/// Kubeshark's TCP error states, stored as `error_msg` of `tcp` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpErrorState {
    /// SYN never answered, or answered with RST (refused).
    SynSent,
    /// RST after the connection was established.
    Reset,
    /// One side sent FIN and the close never completed.
    CloseWait,
    /// Both sides sent FIN; the final ACK is missing.
    LastAck,
}

impl TcpErrorState {
    /// The state name as Kubeshark shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpErrorState::SynSent => "SynSent",
            TcpErrorState::Reset => "Reset",
            TcpErrorState::CloseWait => "CloseWait",
            TcpErrorState::LastAck => "LastAck",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in EntryKind::ALL {
            assert_eq!(EntryKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EntryKind::parse("nope"), None);
    }
}
