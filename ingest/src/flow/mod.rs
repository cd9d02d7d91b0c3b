//! Flow tracking: canonical bidirectional keys, Community IDs, originator detection, and the
//! flow table that ties packets to flows, runs the TCP state machine, expires idle flows by
//! capture time and emits entries and flow records.

pub mod community_id;
pub mod key;
mod report;
pub mod roles;
mod state;
pub mod table;
mod timer;

pub use community_id::CommunityId;
pub use key::{FlowKey, Side};
pub use table::{EndReason, FlowConfig, FlowStats, FlowTable};

pub(crate) use report::Ident;
pub(crate) use state::Flow;

#[cfg(test)]
mod tests;
