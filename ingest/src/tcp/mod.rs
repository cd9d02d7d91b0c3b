//! TCP classification: Zeek-style connection state and history, Kubeshark connection errors
//! and stale streams, and packet-loss signals.

pub mod analysis;
pub mod endpoint;
pub mod history;
pub mod layer;
pub mod reassembly;
pub mod state;
pub mod verdict;

pub use endpoint::EndpointState;
pub use history::{History, tcp_conn_state, udp_conn_state};
pub use layer::TcpLayer;
pub use state::TcpConn;
pub use verdict::Verdict;
