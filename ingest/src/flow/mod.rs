//! Flow tracking: canonical bidirectional keys, Community IDs, originator detection, and the
//! flow table that ties packets to flows, expires idle flows by capture time and hands every
//! packet, ICMP error and flow end to the [`Analyzer`] chain it is built with. The tracker
//! knows nothing of what the protocols mean: analyzers (`tcp`, `udp`, `icmp`, `app`) plug into
//! it through [`Analyzer`], and depend on it, never the reverse.

pub mod analyzer;
pub mod community_id;
pub mod key;
pub mod lifecycle;
mod report;
pub mod roles;
mod state;
pub mod table;
mod timer;

pub use analyzer::{Analyzer, ByTransport, FlowEnded, FlowPacket, TransportState};
pub use community_id::CommunityId;
pub use key::{FlowKey, Side};
pub use lifecycle::{EndReason, Ending, FlowConfig, FlowStats, Liveness};
pub use report::Ident;
pub use state::{Flow, Tracked};
pub use table::FlowTable;
