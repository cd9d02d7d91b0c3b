//! The capture reader and decoder against the team's real captures (`/work/shared/pcaps`):
//! every capture delivers MANIFEST.tsv's packet count and yields as many TCP and UDP packets as
//! tshark's conversation tables (the oracle) count; every link type decodes to IP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)] // shared by the oracle tests; this one only finds its folder with it
mod oracle_support;

use std::path::{Path, PathBuf};

use faultline_ingest::decode::Transport;
use faultline_ingest::{CaptureReader, SourceError, decode};

/// The deliberately truncated capture (ends inside a record).
const TRUNCATED: &str = "http__suricata_http-mime-truncated.pcap";

/// `FAULTLINE_PCAPS` or `<workspace>/../shared/pcaps`; `None` (skip) when missing outside CI.
fn pcaps_dir() -> Option<PathBuf> {
    let present = |dir: &Path| dir.join("MANIFEST.tsv").is_file();
    oracle_support::shared_dir("FAULTLINE_PCAPS", "pcaps", present, "captures")
}

/// One MANIFEST.tsv row.
struct Entry {
    file: String,
    packets: u64,
    link_type: String,
}

fn manifest(dir: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file, packets, link) = (col("file"), col("packets"), col("link_type"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Entry {
                file: f[file].to_string(),
                packets: f[packets].parse().unwrap(),
                link_type: f[link].to_string(),
            }
        })
        .collect()
}

/// What reading and decoding one capture gave.
#[derive(Debug, Default)]
struct Tally {
    frames: u64,
    ip: u64,
    tcp: u64,
    udp: u64,
    error: Option<String>,
}

fn tally(path: &Path) -> Tally {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut t = Tally::default();
    while let Some(item) = reader.next_frame() {
        match item {
            Ok(frame) => {
                t.frames += 1;
                if let Ok(p) = decode(&frame) {
                    t.ip += 1;
                    match p.transport {
                        Transport::Tcp(_) => t.tcp += 1,
                        Transport::Udp(_) => t.udp += 1,
                        _ => {}
                    }
                }
            }
            Err(e) => {
                assert!(t.error.is_none(), "second error {e}");
                t.error = Some(e.to_string());
            }
        }
    }
    assert_eq!(reader.stats().frames, t.frames);
    t
}

/// Total frames of tshark's UDP and TCP conversation tables (`conv.txt`).
fn oracle_conversation_frames(dir: &Path, file: &str) -> Option<(u64, u64)> {
    let path = dir.join("../oracles/tshark").join(file).join("conv.txt");
    let text = std::fs::read_to_string(path).ok()?;
    let (mut tcp, mut udp, mut section) = (0, 0, "");
    for line in text.lines() {
        if line.starts_with("TCP Conversations") {
            section = "tcp";
        } else if line.starts_with("UDP Conversations") {
            section = "udp";
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let Some(arrow) = tokens.iter().position(|t| *t == "<->") else {
            continue;
        };
        // After the two endpoints: frames, bytes, unit (<-), the same (->), then the totals.
        let total: u64 = tokens.get(arrow + 8)?.parse().ok()?;
        match section {
            "tcp" => tcp += total,
            "udp" => udp += total,
            _ => {}
        }
    }
    Some((tcp, udp))
}

#[test]
fn link_type_captures_read_decode_and_match_tshark() {
    let Some(dir) = pcaps_dir() else { return };
    let links: Vec<Entry> = manifest(&dir)
        .into_iter()
        .filter(|e| e.file.starts_with("link__") || e.link_type != "ether")
        .collect();
    assert!(
        links.len() >= 10,
        "expected the link__ and non-Ethernet captures"
    );
    for e in &links {
        let t = tally(&dir.join(&e.file));
        println!("{} ({}): {t:?}", e.file, e.link_type);
        assert!(t.error.is_none(), "{}: {:?}", e.file, t.error);
        assert_eq!(t.frames, e.packets, "{}: frame count", e.file);
        // A few ARP or similar frames are fine (q-in-q has 1 ARP frame of 5).
        assert!(
            t.frames - t.ip <= (t.frames / 50).max(1),
            "{}: only {} of {} frames decode to IP",
            e.file,
            t.ip,
            t.frames
        );
        if let Some((tcp, udp)) = oracle_conversation_frames(&dir, &e.file) {
            assert_eq!((t.tcp, t.udp), (tcp, udp), "{}: TCP/UDP vs tshark", e.file);
        }
    }
}

#[test]
fn every_capture_delivers_its_packet_count_and_tshark_tcp_udp_counts() {
    let Some(dir) = pcaps_dir() else { return };
    let mut compared = 0;
    for e in manifest(&dir) {
        let t = tally(&dir.join(&e.file));
        if e.file != TRUNCATED {
            // The truncated capture has its own test.
            assert!(t.error.is_none(), "{}: {:?}", e.file, t.error);
        }
        assert_eq!(t.frames, e.packets, "{}", e.file);
        if let Some((tcp, udp)) = oracle_conversation_frames(&dir, &e.file) {
            assert_eq!((t.tcp, t.udp), (tcp, udp), "{}: TCP/UDP vs tshark", e.file);
            compared += 1;
        }
    }
    assert!(
        compared >= 80,
        "only {compared} captures had a tshark conv.txt"
    );
}

#[test]
fn truncated_capture_yields_frames_then_one_error() {
    let Some(dir) = pcaps_dir() else { return };
    let expected = manifest(&dir)
        .into_iter()
        .find(|e| e.file == TRUNCATED)
        .unwrap()
        .packets;
    let mut reader = CaptureReader::open(&dir.join(TRUNCATED)).unwrap();
    let mut frames = 0u64;
    let mut errors = Vec::new();
    while let Some(item) = reader.next_frame() {
        match item {
            Ok(_) => {
                assert!(errors.is_empty(), "frame after the error");
                frames += 1;
            }
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(frames, expected);
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(errors[0], SourceError::Truncated { offset, .. } if offset > 0),
        "{}",
        errors[0]
    );
    assert_eq!(reader.stats().errors, 1);
    println!("{frames} frames, then: {}", errors[0]);
}
