//! Shared by the tshark-oracle tests: finding the captures and the oracle, reading the oracle's
//! TSV files, and walking a capture's decoded packets with tshark's frame numbers; also finding
//! the team's other shared test data.

use std::path::{Path, PathBuf};

use faultline_ingest::{CaptureReader, Packet, SourceError, decode};

/// Where the captures and tshark's outputs for them live.
pub struct Dirs {
    /// `FAULTLINE_PCAPS` or `<workspace>/../shared/pcaps`.
    pub pcaps: PathBuf,
    /// `<pcaps>/../oracles/tshark`.
    pub oracle: PathBuf,
}

/// Where tshark's outputs are, relative to the captures.
const ORACLE: &str = "../oracles/tshark";

/// The directories, or `None` (test skipped) when the captures are missing outside CI.
pub fn dirs() -> Option<Dirs> {
    let present = |pcaps: &Path| pcaps.is_dir() && pcaps.join(ORACLE).is_dir();
    let pcaps = shared_dir(
        "FAULTLINE_PCAPS",
        "pcaps",
        present,
        "captures or tshark oracle",
    )?;
    let oracle = pcaps.join(ORACLE);
    Some(Dirs { pcaps, oracle })
}

/// A folder of the team's shared test data: the environment variable `var` if set, else
/// `<workspace>/../shared/<default>`. When `present` says it is not there, the test is skipped
/// with a notice (`None`), or fails under `CI`; `what` names it in both messages.
pub fn shared_dir(
    var: &str,
    default: &str,
    present: impl Fn(&Path) -> bool,
    what: &str,
) -> Option<PathBuf> {
    let dir = std::env::var_os(var).map_or_else(
        || {
            PathBuf::from(format!(
                "{}/../../shared/{default}",
                env!("CARGO_MANIFEST_DIR")
            ))
        },
        PathBuf::from,
    );
    if present(&dir) {
        Some(dir)
    } else if std::env::var_os("CI").is_some() {
        panic!("{what} not found at {}", dir.display());
    } else {
        eprintln!("skipping: {what} not found at {}", dir.display());
        None
    }
}

impl Dirs {
    /// Capture file names that have an oracle directory, sorted.
    pub fn captures(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.pcaps)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
            .filter(|n| self.oracle.join(n).is_dir())
            .collect();
        names.sort();
        assert!(
            !names.is_empty(),
            "no captures with an oracle in {}",
            self.pcaps.display()
        );
        names
    }

    /// Rows of one oracle TSV file of one capture, split on tabs (header included if any).
    pub fn oracle_rows(&self, capture: &str, file: &str) -> Vec<Vec<String>> {
        let path = self.oracle.join(capture).join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }
}

/// Calls `f(frame_number, packet)` for every frame of `path` that decodes, numbering frames from
/// 1 like tshark (frames that do not decode still take their number). Returns the reader error
/// that ended the capture early, if any (tshark stops at the same point).
pub fn for_each_packet(path: &Path, mut f: impl FnMut(u64, &Packet<'_>)) -> Option<SourceError> {
    let mut reader =
        CaptureReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut number = 0;
    while let Some(frame) = reader.next_frame() {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => return Some(e),
        };
        number += 1;
        if let Ok(packet) = decode(&frame) {
            f(number, &packet);
        }
    }
    None
}
