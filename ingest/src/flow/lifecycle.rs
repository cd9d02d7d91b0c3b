//! How flows live and leave the table: the timeouts ([`FlowConfig`]), what analyzers say about a
//! flow's life ([`Liveness`]), how a flow ended ([`Ending`], [`EndReason`]), and the table's
//! counters ([`FlowStats`]). The tracker and every analyzer share these types; they have no
//! other home.

const SEC_US: i64 = 1_000_000;

/// Timeouts of the flow table, all in capture-time microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// A TCP flow idle this long is expired (Kubeshark's stream timeout).
    pub stream_timeout_us: i64,
    /// A UDP, ICMP or other flow idle this long is expired.
    pub idle_timeout_us: i64,
    /// A TCP connection that closed (both FINs acknowledged) or was reset stays this long, so
    /// that late ACKs and RSTs still find it, then leaves.
    pub close_linger_us: i64,
    /// Zeek's `tcp_attempt_delay`: when set, an unanswered connection attempt (SYN sent, nothing
    /// from the responder) ends this long after its first SYN. Off by default, so that the SYN
    /// retries of one attempt stay one flow.
    pub attempt_timeout_us: Option<i64>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            stream_timeout_us: 10 * SEC_US,
            idle_timeout_us: 10 * SEC_US,
            close_linger_us: 5 * SEC_US,
            attempt_timeout_us: None,
        }
    }
}

impl FlowConfig {
    /// Zeek's default timeouts: TCP inactivity 5 min, UDP/ICMP 1 min, close/reset delay 5 s,
    /// connection attempts 5 s. Used to compare flows with Zeek's `conn.log`.
    pub fn zeek() -> Self {
        FlowConfig {
            stream_timeout_us: 300 * SEC_US,
            idle_timeout_us: 60 * SEC_US,
            close_linger_us: 5 * SEC_US,
            attempt_timeout_us: Some(5 * SEC_US),
        }
    }

    /// The longest timeout, which bounds how far ahead a flow's deadline can be.
    pub(super) fn max_timeout_us(&self) -> i64 {
        self.stream_timeout_us
            .max(self.idle_timeout_us)
            .max(self.close_linger_us)
            .max(self.attempt_timeout_us.unwrap_or(0))
    }
}

/// What a flow's analyzers say about its life, which decides when it leaves the table: the
/// tracker keeps timers, analyzers know protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Open: the flow leaves when idle past its timeout.
    Open,
    /// An unanswered connection attempt since this time, µs: it may also end at the attempt
    /// timeout ([`FlowConfig::attempt_timeout_us`]).
    Attempt {
        /// When the attempt began, µs.
        since_us: i64,
    },
    /// Closed normally: the flow lingers ([`FlowConfig::close_linger_us`]), then leaves.
    Closed,
    /// Reset: the flow lingers, then leaves.
    Reset,
}

impl Liveness {
    /// `self`, or `other` when `self` has nothing to say (is [`Liveness::Open`]); combines the
    /// answers of a chain of analyzers, the first that knows better winning.
    pub fn or(self, other: Liveness) -> Liveness {
        match self {
            Liveness::Open => other,
            known => known,
        }
    }
}

/// How a flow ended: why it left the table and, for a timeout, how idle it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Closed normally (both FINs acknowledged).
    Closed,
    /// Reset.
    Reset,
    /// Idle longer than its timeout (idle time, timeout), µs.
    Timeout {
        /// How long the flow had been idle when it was expired.
        idle_us: i64,
        /// The timeout that expired it.
        timeout_us: i64,
    },
    /// The capture ended.
    EndOfInput,
    /// A new connection reused the 4-tuple.
    Reused,
}

impl Ending {
    /// The `end_reason` this ending is stored as.
    pub fn reason(self) -> EndReason {
        match self {
            Ending::Closed => EndReason::Closed,
            Ending::Reset => EndReason::Reset,
            Ending::Timeout { .. } => EndReason::Timeout,
            Ending::EndOfInput => EndReason::EndOfInput,
            Ending::Reused => EndReason::Reused,
        }
    }
}

/// Why a flow left the table (the `end_reason` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// TCP: both FINs acknowledged.
    Closed,
    /// TCP: reset.
    Reset,
    /// Idle past its timeout.
    Timeout,
    /// Still open when the input ended.
    EndOfInput,
    /// TCP: a new connection (a SYN with a new sequence number, or after a close) took over the
    /// 4-tuple.
    Reused,
}

impl EndReason {
    /// The string stored in `end_reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Closed => "closed",
            EndReason::Reset => "reset",
            EndReason::Timeout => "timeout",
            EndReason::EndOfInput => "end-of-input",
            EndReason::Reused => "reused",
        }
    }
}

/// Counters of the flow table and of the entries its analyzers emit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Packets processed.
    pub packets: u64,
    /// TCP/UDP/ICMP packets without a usable transport header (non-first fragments, headers
    /// cut by the snaplen): counted, not attributed to a flow.
    pub unattributed: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows that ended closed.
    pub ended_closed: u64,
    /// Flows that ended reset.
    pub ended_reset: u64,
    /// Flows expired by idle (or attempt) timeout.
    pub ended_timeout: u64,
    /// Flows replaced by a new connection on the same 4-tuple.
    pub ended_reused: u64,
    /// Flows still open at the end of the input.
    pub ended_end_of_input: u64,
    /// Flows in the table now.
    pub active: u64,
    /// Most flows in the table at once.
    pub active_max: u64,
    /// `tcp` entries emitted.
    pub tcp_entries: u64,
    /// `timeout` entries emitted.
    pub timeout_entries: u64,
    /// `loss` entries emitted.
    pub loss_entries: u64,
    /// `icmp` entries emitted.
    pub icmp_entries: u64,
}

impl FlowStats {
    /// Counts a flow that ended for `reason`.
    pub(super) fn count_end(&mut self, reason: EndReason) {
        match reason {
            EndReason::Closed => self.ended_closed += 1,
            EndReason::Reset => self.ended_reset += 1,
            EndReason::Timeout => self.ended_timeout += 1,
            EndReason::EndOfInput => self.ended_end_of_input += 1,
            EndReason::Reused => self.ended_reused += 1,
        }
    }
}
