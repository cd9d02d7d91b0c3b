use std::collections::HashSet;

use super::*;
use crate::source::{CaptureReader, LinkType};

fn small() -> RecorderConfig {
    RecorderConfig {
        ring_bytes: 40_000,
        ring_age: Duration::from_secs(3600),
        error_bytes: 1 << 20,
        error_age: Duration::from_secs(7 * 24 * 3600),
        segment_bytes: 4096,
        segment_age: Duration::from_secs(60),
    }
}

/// A frame of `link` whose payload starts with the packet number (to check order and
/// content after export).
fn frame(n: u32, ts_us: i64, link: LinkType, buf: &mut [u8; 200]) -> Frame<'_> {
    buf[..4].copy_from_slice(&n.to_be_bytes());
    Frame {
        ts_us,
        link,
        data: &buf[..],
        orig_len: 200,
        interface: 0,
    }
}

/// Writes packets `start..start + n` alternating between flows 1..=flows, 1 ms apart.
fn fill(rec: &Recorder, start: u32, n: u32, flows: u64) {
    let mut buf = [0u8; 200];
    for i in start..start + n {
        let flow = u64::from(i) % flows + 1;
        rec.record(
            flow,
            &frame(
                i,
                1_000_000 + i64::from(i) * 1000,
                LinkType::Ethernet,
                &mut buf,
            ),
        );
    }
}

fn export_flows(root: &Path, flows: &[u64]) -> (ExportReport, Vec<u8>) {
    let filter = ExportFilter {
        flows: Some(flows.iter().copied().collect::<HashSet<_>>()),
        ..ExportFilter::default()
    };
    let mut out = Vec::new();
    let report = export(root, &filter, &mut out).unwrap();
    (report, out)
}

/// (timestamp µs, first four payload bytes) of every packet of a pcap/pcapng in memory.
fn read_back(bytes: &[u8]) -> Vec<(i64, u32)> {
    let mut reader = CaptureReader::from_read(std::io::Cursor::new(bytes.to_vec()), "t").unwrap();
    let mut got = Vec::new();
    while let Some(f) = reader.next_frame() {
        let f = f.unwrap();
        let mut n = [0u8; 4];
        n.copy_from_slice(&f.data[..4]);
        got.push((f.ts_us, u32::from_be_bytes(n)));
    }
    got
}

#[test]
fn ring_stays_bounded_and_exports_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(dir.path(), small()).unwrap();
    fill(&rec, 0, 1000, 4);
    rec.close().unwrap();
    let stats = rec.stats();
    assert_eq!(stats.packets, 1000);
    assert!(stats.segments_expired > 0, "{stats:?}");
    let (ring, errors) = rec.disk_bytes();
    assert!(ring <= 40_000, "{ring}");
    assert_eq!(errors, 0);
    // What is left is the newest packets of flow 2, in order.
    let (report, out) = export_flows(dir.path(), &[2]);
    let got = read_back(&out);
    assert_eq!(got.len() as u64, report.packets);
    assert!(!got.is_empty() && got.len() < 250);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(got.iter().all(|(_, n)| n % 4 == 1));
    assert_eq!(got.last().unwrap().1, 997);
    assert!(!report.pcapng && report.problems.is_empty());
}

#[test]
fn error_flows_outlive_the_ring() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(dir.path(), small()).unwrap();
    fill(&rec, 0, 100, 4);
    rec.mark_error(3);
    fill(&rec, 100, 2000, 4);
    rec.close().unwrap();
    let stats = rec.stats();
    // Flow 3 lost nothing: the 25 early packets and all later ones, each once.
    assert_eq!(stats.copied_to_errors, 525 - count_in_ring(dir.path(), 3));
    let (report, out) = export_flows(dir.path(), &[3]);
    assert_eq!(report.packets, 525);
    let got = read_back(&out);
    let bad: Vec<_> = got.windows(2).filter(|w| w[0].0 >= w[1].0).collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert!(got.iter().all(|(_, n)| n % 4 == 2));
    // Flow 1 was not marked: only what the ring still holds.
    let (report, _) = export_flows(dir.path(), &[1]);
    assert_eq!(report.packets, count_in_ring(dir.path(), 1));
    assert!(report.packets < 100);
}

fn count_in_ring(root: &Path, flow: u64) -> u64 {
    store::list(&root.join("ring"))
        .unwrap()
        .iter()
        .map(|(seq, _)| {
            let (_, idx) = segment::paths(&root.join("ring"), *seq);
            segment::read_index(&idx)
                .unwrap()
                .records
                .iter()
                .filter(|r| r.flow_id == flow)
                .count() as u64
        })
        .sum()
}

#[test]
fn error_store_expires_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(dir.path(), small()).unwrap();
    rec.mark_error(1);
    fill(&rec, 0, 1000, 2);
    rec.close().unwrap();
    let now = SystemTime::now();
    let (ring, errors) = rec.disk_bytes();
    assert!(ring > 0 && errors > 0);
    // Two hours on, the ring has expired; flow 1's last packets moved to the error store.
    let hours = now + Duration::from_secs(2 * 3600);
    rec.tick_at(hours);
    let (ring, more) = rec.disk_bytes();
    assert_eq!(ring, 0);
    assert!(more > errors);
    // A week after the first copies were closed, they go; the later ones are closed now.
    let week = Duration::from_secs(7 * 24 * 3600 + 1);
    rec.tick_at(now + week);
    let (_, left) = rec.disk_bytes();
    assert_eq!(left, more - errors);
    assert!(rec.stats().error_segments_expired > 0);
    rec.tick_at(hours + week + week);
    assert_eq!(rec.disk_bytes(), (0, 0));
    assert_eq!(export_flows(dir.path(), &[1]).0.packets, 0);
}

#[test]
fn marks_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(dir.path(), small()).unwrap();
    fill(&rec, 0, 20, 2);
    rec.mark_error(2);
    rec.close().unwrap();
    drop(rec);
    let rec = Recorder::open(dir.path(), small()).unwrap();
    assert_eq!(rec.stats().marked_flows, 1);
    // The next run pushes the first run's segment out of the ring: flow 2 is kept.
    let mut buf = [0u8; 200];
    for i in 0..1000 {
        rec.record(
            9,
            &frame(
                i,
                5_000_000_000 + i64::from(i),
                LinkType::Ethernet,
                &mut buf,
            ),
        );
    }
    rec.close().unwrap();
    assert_eq!(export_flows(dir.path(), &[2]).0.packets, 10);
    assert_eq!(export_flows(dir.path(), &[1]).0.packets, 0);
}

#[test]
fn marks_survive_a_crash_after_a_tick() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(dir.path(), small()).unwrap();
    fill(&rec, 0, 20, 2);
    rec.mark_error(2);
    let now = SystemTime::now();
    rec.tick_at(now);
    rec.mark_error(1);
    // Too soon after the last save: kept in memory only.
    rec.tick_at(now + MARKS_SAVE_EVERY / 2);
    // No close: what the last save wrote is what the next run finds.
    drop(rec);
    let rec = Recorder::open(dir.path(), small()).unwrap();
    assert_eq!(rec.stats().marked_flows, 1);
    rec.mark_error(1);
    rec.tick();
    drop(rec);
    assert_eq!(
        Recorder::open(dir.path(), small())
            .unwrap()
            .stats()
            .marked_flows,
        2
    );
}

#[test]
fn several_link_types_make_pcapng() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(dir.path(), RecorderConfig::default()).unwrap();
    let mut buf = [0u8; 200];
    rec.record(5, &frame(0, 30, LinkType::Ethernet, &mut buf));
    rec.record(5, &frame(1, 10, LinkType::RawIp, &mut buf));
    rec.record(0, &frame(2, 20, LinkType::Ethernet, &mut buf));
    rec.close().unwrap();
    let (report, out) = export_flows(dir.path(), &[5]);
    assert!(report.pcapng);
    assert_eq!(report.link_types, [LinkType::RawIp, LinkType::Ethernet]);
    assert_eq!(read_back(&out), [(10, 1), (30, 0)]);
    // Packets without a flow come out only by time range.
    let mut out = Vec::new();
    let filter = ExportFilter {
        flows: None,
        from_us: Some(15),
        to_us: Some(30),
    };
    let report = export(dir.path(), &filter, &mut out).unwrap();
    assert!(!report.pcapng);
    assert_eq!(read_back(&out), [(20, 2)]);
}

#[test]
fn damaged_files_are_reported_and_the_rest_exports() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(dir.path(), small()).unwrap();
    fill(&rec, 0, 100, 1);
    rec.close().unwrap();
    let ring = dir.path().join("ring");
    let segments = store::list(&ring).unwrap();
    assert!(segments.len() >= 3);
    let all = export_flows(dir.path(), &[1]).0.packets;
    // Segment 1: index overwritten; segment 2: data file cut in the middle.
    let (_, idx1) = segment::paths(&ring, segments[0].0);
    let in1 = segment::read_index(&idx1).unwrap().records.len() as u64;
    std::fs::write(&idx1, b"garbage garbage garbage").unwrap();
    let (data2, idx2) = segment::paths(&ring, segments[1].0);
    let in2 = segment::read_index(&idx2).unwrap().records.len() as u64;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&data2)
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len / 2).unwrap();
    let kept2 = read_back_count(&data2);
    assert!(kept2 > 0 && kept2 < in2);
    let (report, out) = export_flows(dir.path(), &[1]);
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(
        report.problems[0].contains("bad magic"),
        "{:?}",
        report.problems
    );
    assert!(
        report.problems[1].contains("past the end"),
        "{:?}",
        report.problems
    );
    assert_eq!(report.packets, all - in1 - (in2 - kept2));
    let got = read_back(&out);
    assert_eq!(got.len() as u64, report.packets);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
}

/// Whole packets left in a (cut) segment data file.
fn read_back_count(data: &Path) -> u64 {
    let bytes = std::fs::read(data).unwrap();
    let mut at = 24;
    let mut n = 0;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        if at + 16 + caplen > bytes.len() {
            break;
        }
        at += 16 + caplen;
        n += 1;
    }
    n
}

#[test]
fn mark_errors_marks_only_error_entries_with_a_flow() {
    use crate::emit::{EntryBody, EntryHeader, ErrorView, FlowIdent};
    use faultline_schemas::ErrorType;
    use std::net::{IpAddr, Ipv4Addr};
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::open(dir.path(), small()).unwrap();
    let mut sink: Vec<i64> = Vec::new();
    struct Rows<'a>(&'a mut Vec<i64>);
    impl Emit for Rows<'_> {
        fn entry(&mut self, e: &EntryView<'_>) {
            self.0.push(e.header.ts_us);
        }
        fn flow(&mut self, _: &FlowView<'_>) {}
    }
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let ident = |flow_id| FlowIdent {
        flow_id,
        community_id: "1:x",
        orig: (ip, 1),
        resp: (ip, 2),
        proto: 6,
        vlan: None,
    };
    let entry = |flow, error| {
        let header = EntryHeader::new(1, (ip, Some(1)), (ip, Some(2)), 6, "");
        EntryView::new(
            EntryHeader {
                flow,
                error,
                ..header
            },
            EntryBody::Tcp,
        )
    };
    let err = ErrorView {
        error_type: ErrorType::Connection,
        msg: "reset",
        reason: "",
    };
    let mut tap = MarkErrors {
        out: &mut Rows(&mut sink),
        recorder: Some(&rec),
    };
    tap.entry(&entry(Some(ident(7)), Some(err)));
    tap.entry(&entry(Some(ident(8)), None));
    tap.entry(&entry(None, Some(err)));
    assert_eq!(sink.len(), 3);
    assert_eq!(rec.stats().marked_flows, 1);
    assert!(rec.lock().marks.contains_key(&7));
}

#[test]
fn a_packet_in_both_stores_is_exported_once() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let mut buf = [0u8; 200];
    for (store, packets) in [("ring", [1u32, 2]), ("errors", [2, 3])] {
        let path = dir.path().join(store);
        std::fs::create_dir_all(&path).unwrap();
        let mut w = segment::SegmentWriter::create(&path, 1, LinkType::Ethernet, now).unwrap();
        for n in packets {
            w.write(4, &frame(n, i64::from(n), LinkType::Ethernet, &mut buf))
                .unwrap();
        }
        w.flush().unwrap();
    }
    let (report, out) = export_flows(dir.path(), &[4]);
    assert_eq!(read_back(&out), [(1, 1), (2, 2), (3, 3)]);
    assert_eq!(report.per_flow[&4], 3);
}
