//! The traffic recorder's flags, shared by `ingest`, `capture` and `serve`: raw packets are
//! kept under `<data>/recorder` (a ring bounded by size and age, and an error store with a
//! longer retention) so that `faultline export-pcap` and `GET /api/pcap` can return them.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use faultline::pcap_export::recorder_dir;
use faultline_ingest::recorder::{Recorder, RecorderConfig};
use faultline_kfl::time::{DURATION_FORMS, parse_duration as parse_any_duration};

use crate::store_args::StoreArgs;

/// `--record-bytes`, `--record-age`, `--error-bytes`, `--error-retention`, `--no-record`.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Do not keep raw packets (no pcap export of what this run ingests).
    #[arg(long)]
    pub no_record: bool,
    /// Most disk the ring of recent raw packets uses (`512MiB`, `2GiB`, bytes).
    #[arg(long, value_parser = parse_size, default_value = "1GiB")]
    pub record_bytes: u64,
    /// How long recent raw packets are kept (`90m`, `1h`, `2d`).
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub record_age: Duration,
    /// Most disk the packets of flows with errors use.
    #[arg(long, value_parser = parse_size, default_value = "2GiB")]
    pub error_bytes: u64,
    /// How long the packets of flows with errors are kept.
    #[arg(long, value_parser = parse_duration, default_value = "7d")]
    pub error_retention: Duration,
}

impl RecordArgs {
    /// The recorder bounds these flags give.
    pub fn config(&self) -> RecorderConfig {
        RecorderConfig {
            ring_bytes: self.record_bytes,
            ring_age: self.record_age,
            error_bytes: self.error_bytes,
            error_age: self.error_retention,
            ..RecorderConfig::default()
        }
    }

    /// Opens the recorder of the store, unless `--no-record` or the store is not local (then
    /// a note says so).
    pub fn open(&self, store: &StoreArgs) -> anyhow::Result<Option<Recorder>> {
        if self.no_record {
            return Ok(None);
        }
        let Some(data) = store.local_dir() else {
            tracing::info!("raw packets are not recorded for a remote store");
            return Ok(None);
        };
        let dir = recorder_dir(&data);
        Recorder::open(&dir, self.config())
            .map(Some)
            .with_context(|| format!("opening the traffic recorder in {}", dir.display()))
    }
}

/// Closes the recorder at the end of a run and warns about what went wrong while recording.
pub fn finish(recorder: Option<&Recorder>) {
    let Some(recorder) = recorder else { return };
    if let Err(e) = recorder.close() {
        tracing::warn!(error = %e, "closing the traffic recorder failed");
    }
    let stats = recorder.stats();
    if let Some(e) = &stats.failed {
        tracing::warn!(error = %e, "raw packets stopped being recorded");
    }
    for p in &stats.expiry_problems {
        tracing::warn!(problem = %p, "traffic recorder");
    }
}

/// A flag's duration, in faultline's one duration grammar.
fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_any_duration(s).ok_or_else(|| format!("`{s}` is not a duration: use {DURATION_FORMS}"))
}

/// `123`, `64KiB`, `512MiB`, `2GiB`, `1TiB` (also `K`, `M`, `G`, `T`, `KB`…: binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 512MiB or 2GiB"))?;
    let unit = unit
        .trim()
        .trim_end_matches(['B', 'b'])
        .trim_end_matches('i');
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "`{s}` has an unknown unit (use KiB, MiB, GiB, TiB)"
            ));
        }
    };
    n.checked_mul(1 << shift)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("`{s}` is not a positive size that fits in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1 TB"), Ok(1 << 40));
        for bad in ["", "GiB", "5 parsecs", "0", "99999999999TiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("soon").is_err());
    }
}
