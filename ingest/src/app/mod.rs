//! Application layer: HTTP/1.x and DNS dissectors fed from reassembled streams, pairing
//! requests with responses and explaining the halves that stay alone.

pub mod dns;
pub mod http;
mod layer;
pub mod names;
pub mod reason;

pub use layer::{AppConfig, AppLayer, AppStats};
