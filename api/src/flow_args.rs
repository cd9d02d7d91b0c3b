//! Flow-tracking flags shared by `ingest`, `capture` and `serve`: when streams go stale, how
//! long closed connections linger, when unanswered attempts end.

use clap::Args;
use faultline_ingest::flow::FlowConfig;

use crate::ingest_cmd::seconds_to_us;

/// `--stream-timeout`, `--close-linger`, `--attempt-timeout`.
#[derive(Debug, Clone, Args)]
pub struct FlowArgs {
    /// Seconds of capture time after which an idle, incomplete stream is stale.
    #[arg(long, default_value_t = 10.0)]
    pub stream_timeout: f64,
    /// Seconds a closed or reset connection is kept for late packets before its entries
    /// are written.
    #[arg(long, default_value_t = 5.0)]
    pub close_linger: f64,
    /// End an unanswered connection attempt this many seconds after its first SYN
    /// (default: at the stream timeout).
    #[arg(long)]
    pub attempt_timeout: Option<f64>,
}

impl FlowArgs {
    /// Sets the flow table's timers from the flags.
    pub fn apply(&self, flow: &mut FlowConfig) -> anyhow::Result<()> {
        flow.stream_timeout_us = seconds_to_us(self.stream_timeout, "--stream-timeout")?;
        flow.close_linger_us = seconds_to_us(self.close_linger, "--close-linger")?;
        flow.attempt_timeout_us = self
            .attempt_timeout
            .map(|s| seconds_to_us(s, "--attempt-timeout"))
            .transpose()?;
        Ok(())
    }
}
