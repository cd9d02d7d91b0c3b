//! Export: the retained packets of a set of flows (and/or a time range), from the ring and
//! the error store, in time order, as one pcap (one link type) or pcapng (one interface per
//! link type). A damaged segment is reported and skipped; the rest is still exported.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::RecorderError;
use super::segment::{IndexRecord, SegmentReader, paths, pcap_header, read_index};
use super::store::list;
use crate::source::LinkType;
use crate::source::pcap_file::record_header;

/// Which packets to export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    /// Flow ids to export; `None`: every packet in the time range, those without a flow
    /// (id 0) included.
    pub flows: Option<HashSet<u64>>,
    /// Inclusive lower bound on capture time, µs.
    pub from_us: Option<i64>,
    /// Exclusive upper bound on capture time, µs.
    pub to_us: Option<i64>,
}

impl ExportFilter {
    fn matches(&self, rec: &IndexRecord) -> bool {
        self.flows
            .as_ref()
            .is_none_or(|f| rec.flow_id != 0 && f.contains(&rec.flow_id))
            && self.from_us.is_none_or(|from| rec.ts_us >= from)
            && self.to_us.is_none_or(|to| rec.ts_us < to)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Packets written.
    pub packets: u64,
    /// Packets written per flow id.
    pub per_flow: HashMap<u64, u64>,
    /// Link types of the packets written, in interface order.
    pub link_types: Vec<LinkType>,
    /// True when the output is pcapng (several link types), false for pcap.
    pub pcapng: bool,
    /// Damaged or unreadable segments and packets that were skipped, one line each.
    pub problems: Vec<String>,
}

/// One matching packet: where it is and its index record.
#[derive(Debug, Clone, Copy)]
struct Hit {
    /// Segment in the export's segment list.
    segment: usize,
    rec: IndexRecord,
}

/// A segment to read: its data file, link type, and whether it is in the error store.
#[derive(Debug)]
struct Source {
    data: PathBuf,
    link: LinkType,
    error_store: bool,
}

/// The packets an export will write, found from the indexes; [`ExportPlan::write`] writes
/// them. Planning first lets a caller choose the file type (pcap or pcapng) before writing.
#[derive(Debug)]
pub struct ExportPlan {
    sources: Vec<Source>,
    hits: Vec<Hit>,
    links: Vec<LinkType>,
    problems: Vec<String>,
}

impl ExportPlan {
    /// Reads the indexes of the error store and the ring under `root` (a recorder directory)
    /// and picks the packets matching `filter`. Damaged indexes are noted, not fatal.
    pub fn new(root: &Path, filter: &ExportFilter) -> Result<ExportPlan, RecorderError> {
        let mut problems = Vec::new();
        let (sources, hits) = collect(root, filter, &mut problems)?;
        let mut links: Vec<LinkType> = Vec::new();
        for h in &hits {
            let link = sources[h.segment].link;
            if !links.contains(&link) {
                links.push(link);
            }
        }
        Ok(ExportPlan {
            sources,
            hits,
            links,
            problems,
        })
    }

    /// True when the output will be pcapng (the packets span several link types).
    pub fn pcapng(&self) -> bool {
        self.links.len() > 1
    }

    /// Packets found (a damaged data file may still make some unreadable).
    pub fn packets(&self) -> usize {
        self.hits.len()
    }

    /// Writes the packets in time order to `out`.
    pub fn write(self, out: impl Write) -> Result<ExportReport, RecorderError> {
        let io = |e| RecorderError::io(Path::new("export output"), e);
        let mut report = ExportReport {
            pcapng: self.pcapng(),
            problems: self.problems,
            ..ExportReport::default()
        };
        let mut w = Output::start(out, &self.links).map_err(io)?;
        report.link_types = self.links;
        let sources = self.sources;
        let mut readers: HashMap<usize, Option<SegmentReader>> = HashMap::new();
        for h in self.hits {
            let source = &sources[h.segment];
            let reader = readers.entry(h.segment).or_insert_with(|| {
                match SegmentReader::open(&source.data) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        report.problems.push(e.to_string());
                        None
                    }
                }
            });
            let Some(reader) = reader else { continue };
            match reader.packet(&h.rec) {
                Ok(data) => {
                    w.packet(source.link, &h.rec, data).map_err(io)?;
                    report.packets += 1;
                    *report.per_flow.entry(h.rec.flow_id).or_default() += 1;
                }
                Err(e) => {
                    // The rest of a damaged segment is not trusted either.
                    report
                        .problems
                        .push(format!("{e} (the rest of this segment is skipped)"));
                    readers.insert(h.segment, None);
                }
            }
        }
        w.finish().map_err(io)?;
        Ok(report)
    }
}

/// Writes the packets of `root` (a recorder directory) that match `filter` to `out`.
pub fn export(
    root: &Path,
    filter: &ExportFilter,
    out: impl Write,
) -> Result<ExportReport, RecorderError> {
    ExportPlan::new(root, filter)?.write(out)
}

/// [`export`] into a new file at `path`.
pub fn export_to_file(
    root: &Path,
    filter: &ExportFilter,
    path: &Path,
) -> Result<ExportReport, RecorderError> {
    let file = File::create(path).map_err(|e| RecorderError::io(path, e))?;
    export(root, filter, BufWriter::new(file))
}

/// Reads every index of the error store and the ring; returns the segments and the
/// matching packets in time order, a packet held in both stores once.
fn collect(
    root: &Path,
    filter: &ExportFilter,
    problems: &mut Vec<String>,
) -> Result<(Vec<Source>, Vec<Hit>), RecorderError> {
    let mut sources = Vec::new();
    let mut hits = Vec::new();
    for (dir, error_store) in [("errors", true), ("ring", false)] {
        let dir = root.join(dir);
        for (seq, data) in list(&dir)? {
            let (_, index) = paths(&dir, seq);
            let idx = match read_index(&index) {
                Ok(idx) => idx,
                // Deleted by the writer between listing and reading: nothing to export.
                Err(RecorderError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            if idx.partial_tail > 0 {
                problems.push(format!(
                    "{}: {} bytes at the end do not form a whole record (ignored)",
                    index.display(),
                    idx.partial_tail
                ));
            }
            let segment = sources.len();
            hits.extend(
                idx.records
                    .iter()
                    .filter(|r| filter.matches(r))
                    .map(|rec| Hit { segment, rec: *rec }),
            );
            sources.push(Source {
                data,
                link: idx.link,
                error_store,
            });
        }
    }
    let key = |h: &Hit| (h.rec.ts_us, h.rec.flow_id, h.rec.caplen, h.rec.orig_len);
    hits.sort_by_key(|h| {
        (
            key(h),
            sources[h.segment].error_store,
            h.segment,
            h.rec.offset,
        )
    });
    // A packet copied to the error store while its ring segment still exists is there twice.
    hits.dedup_by(|later, earlier| {
        key(later) == key(earlier)
            && sources[later.segment].error_store
            && !sources[earlier.segment].error_store
    });
    Ok((sources, hits))
}

/// The output file: pcap for one link type, pcapng for several.
enum Output<W: Write> {
    Pcap(W),
    Pcapng { out: W, links: Vec<LinkType> },
}

impl<W: Write> Output<W> {
    fn start(mut out: W, links: &[LinkType]) -> std::io::Result<Self> {
        if links.len() <= 1 {
            let link = links.first().copied().unwrap_or(LinkType::Ethernet);
            out.write_all(&pcap_header(link.number()))?;
            return Ok(Output::Pcap(out));
        }
        // Section header block: byte-order magic, version 1.0, section length unknown.
        let mut shb = Vec::with_capacity(28);
        shb.extend_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        shb.extend_from_slice(&28u32.to_le_bytes());
        out.write_all(&shb)?;
        for link in links {
            // Interface description block: link type, snap length 0 (none), no options, so
            // timestamps are in microseconds.
            let mut idb = Vec::with_capacity(20);
            idb.extend_from_slice(&1u32.to_le_bytes());
            idb.extend_from_slice(&20u32.to_le_bytes());
            idb.extend_from_slice(&(link.number() as u16).to_le_bytes());
            idb.extend_from_slice(&0u16.to_le_bytes());
            idb.extend_from_slice(&0u32.to_le_bytes());
            idb.extend_from_slice(&20u32.to_le_bytes());
            out.write_all(&idb)?;
        }
        Ok(Output::Pcapng {
            out,
            links: links.to_vec(),
        })
    }

    fn packet(&mut self, link: LinkType, rec: &IndexRecord, data: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Pcap(out) => {
                out.write_all(&record_header(rec.ts_us, rec.caplen, rec.orig_len))?;
                out.write_all(data)
            }
            Output::Pcapng { out, links } => {
                let interface = links.iter().position(|l| *l == link).unwrap_or(0) as u32;
                let padded = data.len().div_ceil(4) * 4;
                let len = (32 + padded) as u32;
                let ts = rec.ts_us.max(0) as u64;
                // Enhanced packet block.
                let mut head = [0u8; 28];
                head[0..4].copy_from_slice(&6u32.to_le_bytes());
                head[4..8].copy_from_slice(&len.to_le_bytes());
                head[8..12].copy_from_slice(&interface.to_le_bytes());
                head[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
                head[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
                head[20..24].copy_from_slice(&rec.caplen.to_le_bytes());
                head[24..28].copy_from_slice(&rec.orig_len.max(rec.caplen).to_le_bytes());
                out.write_all(&head)?;
                out.write_all(data)?;
                out.write_all(&[0u8; 3][..padded - data.len()])?;
                out.write_all(&len.to_le_bytes())
            }
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Output::Pcap(mut out) | Output::Pcapng { mut out, .. } => out.flush(),
        }
    }
}
