//! The traffic recorder: raw packets of recent traffic on disk, indexed by flow, so that any
//! entry can be opened in Wireshark.
//!
//! Layout under the recorder directory (`<data>/recorder`):
//! - `ring/`: a bounded ring of segments (default 1 GiB, 1 h). A segment is a plain pcap
//!   file (`<seq>.pcap`, one link type) plus an index sidecar (`<seq>.idx`, 32 bytes per
//!   packet: flow id, time, offset, lengths). Segments rotate by size, age and link type; the
//!   oldest is deleted when the ring is over its byte bound or a segment is older than its
//!   age bound (wall clock since it was closed, so old capture files are kept too).
//! - `errors/`: the same format, longer retention (default 2 GiB, 7 d). Before a ring
//!   segment is deleted, the packets of flows that carried an error entry are copied here.
//!   Flows are marked through [`MarkErrors`], which wraps the entry sink; a flow whose error
//!   is only known after its ring segment was deleted keeps nothing.
//! - `ring/marks.bin`: the marked flows, saved by [`Recorder::tick`] after a change (at most
//!   every [`MARKS_SAVE_EVERY`]) and at [`Recorder::close`], for the next run: a crash loses
//!   at most the marks of the last few seconds.
//!
//! Writing is two buffered appends per packet and no allocation. [`export`] reads the
//! indexes of both directories and writes matching packets as one pcap (or pcapng, when they
//! span several link types). One writer per directory at a time: a [`Recorder`] is a handle
//! that pipelines of one process share.

mod export;
mod segment;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rustc_hash::FxHashMap;

use crate::emit::{Emit, EntryView, FlowView};
use crate::source::Frame;
use store::{Bounds, Store};

pub use export::{ExportFilter, ExportPlan, ExportReport, export, export_to_file};
pub use segment::{IndexRecord, SegmentIndex};

/// Errors of the recorder and of exports.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A segment or index file is damaged.
    #[error("{path}: damaged recorder file: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

impl RecorderError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        RecorderError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn is_already_exists(&self) -> bool {
        matches!(self, RecorderError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::AlreadyExists)
    }
}

/// Bounds of the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Most bytes the ring keeps.
    pub ring_bytes: u64,
    /// How long a ring segment is kept after it is closed.
    pub ring_age: Duration,
    /// Most bytes the error store keeps.
    pub error_bytes: u64,
    /// How long an error-store segment is kept after it is closed.
    pub error_age: Duration,
    /// Largest segment (capped at an eighth of each store's byte bound).
    pub segment_bytes: u64,
    /// Longest a segment stays open (capped at an eighth of each store's age bound).
    pub segment_age: Duration,
}

impl Default for RecorderConfig {
    /// Ring 1 GiB / 1 h, error store 2 GiB / 7 d, segments 64 MiB / 1 min.
    fn default() -> Self {
        RecorderConfig {
            ring_bytes: 1 << 30,
            ring_age: Duration::from_secs(3600),
            error_bytes: 2 << 30,
            error_age: Duration::from_secs(7 * 24 * 3600),
            segment_bytes: 64 << 20,
            segment_age: Duration::from_secs(60),
        }
    }
}

impl RecorderConfig {
    fn bounds(&self, max_bytes: u64, max_age: Duration) -> Bounds {
        Bounds {
            max_bytes,
            max_age,
            segment_bytes: self.segment_bytes.min(max_bytes / 8).max(4096),
            segment_age: self.segment_age.min(max_age / 8),
        }
    }
}

/// Counters of a recorder since it was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Packets written to the ring.
    pub packets: u64,
    /// Captured bytes written to the ring.
    pub bytes: u64,
    /// Ring segments deleted.
    pub segments_expired: u64,
    /// Packets copied to the error store.
    pub copied_to_errors: u64,
    /// Error-store segments deleted.
    pub error_segments_expired: u64,
    /// Flows marked as carrying an error (and not yet past the ring).
    pub marked_flows: u64,
    /// The first write error; recording stops after one (ingest goes on).
    pub failed: Option<String>,
    /// Problems met while expiring segments (a damaged segment whose packets could not be
    /// copied); the segments were deleted anyway to keep the ring bounded.
    pub expiry_problems: Vec<String>,
}

/// Name of the file the marked flows are saved in, in the ring directory.
const MARKS_FILE: &str = "marks.bin";
/// Least time between two saves of changed marks by [`Recorder::tick`].
pub const MARKS_SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

struct Inner {
    root: PathBuf,
    ring: Store,
    errors: Store,
    /// Flows with an error entry -> newest ring segment holding one of their packets.
    marks: FxHashMap<u64, u64>,
    /// `marks` changed since they were last saved.
    marks_changed: bool,
    /// When a tick last saved the marks.
    marks_saved_at: Option<SystemTime>,
    stats: RecorderStats,
}

/// A handle on the recorder of one directory; clones share it (and its lock).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("root", &self.lock().root)
            .finish()
    }
}

impl Recorder {
    /// Opens (creating) the recorder in `root`, picking up segments and marks a previous run
    /// left.
    pub fn open(root: &Path, config: RecorderConfig) -> Result<Recorder, RecorderError> {
        let ring = Store::open(
            &root.join("ring"),
            config.bounds(config.ring_bytes, config.ring_age),
        )?;
        let errors = Store::open(
            &root.join("errors"),
            config.bounds(config.error_bytes, config.error_age),
        )?;
        let marks = load_marks(&ring.dir.join(MARKS_FILE));
        Ok(Recorder {
            inner: Arc::new(Mutex::new(Inner {
                root: root.to_owned(),
                ring,
                errors,
                marks,
                marks_changed: false,
                marks_saved_at: None,
                stats: RecorderStats::default(),
            })),
        })
    }

    /// The recorder directory.
    pub fn root(&self) -> PathBuf {
        self.lock().root.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes one frame to the ring under `flow_id` (0: no flow). Does not allocate; after a
    /// write error, recording stops and the error is kept in [`RecorderStats::failed`].
    pub fn record(&self, flow_id: u64, frame: &Frame<'_>) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.stats.failed.is_some() {
            return;
        }
        if let Err(e) = inner.record(flow_id, frame) {
            inner.stats.failed = Some(e.to_string());
        }
    }

    /// Marks `flow_id` as carrying an error: its packets outlive the ring in the error store.
    pub fn mark_error(&self, flow_id: u64) {
        let mut inner = self.lock();
        let seq = inner.ring.current_seq();
        if inner.marks.get(&flow_id).is_none_or(|&last| last < seq) {
            inner.marks.insert(flow_id, seq);
            inner.marks_changed = true;
        }
    }

    /// Periodic work (a live capture calls it on every tick): rotates segments open too long,
    /// expires what is past the bounds, and flushes so that exports see recent packets.
    pub fn tick(&self) {
        self.tick_at(SystemTime::now());
    }

    fn tick_at(&self, now: SystemTime) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Err(e) = inner.maintain(now) {
            inner.stats.failed.get_or_insert_with(|| e.to_string());
        }
    }

    /// Hands buffered packets to the OS, so that an export sees them.
    pub fn flush(&self) -> Result<(), RecorderError> {
        let mut inner = self.lock();
        inner.ring.flush()?;
        inner.errors.flush()
    }

    /// Closes the open segments, expires what is past the bounds and saves the marks. The
    /// recorder can still be written afterwards (new segments are opened).
    pub fn close(&self) -> Result<(), RecorderError> {
        let now = SystemTime::now();
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.ring.close_open(now)?;
        inner.errors.close_open(now)?;
        inner.expire(now)?;
        inner.errors.close_open(now)?;
        inner.save_marks()
    }

    /// Counters so far.
    pub fn stats(&self) -> RecorderStats {
        let inner = self.lock();
        let mut stats = inner.stats.clone();
        stats.marked_flows = inner.marks.len() as u64;
        stats
    }

    /// Bytes on disk in the ring and in the error store.
    pub fn disk_bytes(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.ring.total_bytes(), inner.errors.total_bytes())
    }
}

impl Inner {
    fn record(&mut self, flow_id: u64, frame: &Frame<'_>) -> Result<(), RecorderError> {
        if !self.ring.fits(frame.link) {
            // Rare (a full segment, another link type): the clock is read only here.
            let now = SystemTime::now();
            self.ring.rotate(frame.link, now)?;
            self.expire(now)?;
        }
        let writer = self.ring.open_writer()?;
        writer
            .write(flow_id, frame)
            .map_err(|e| RecorderError::io(writer.index_path(), e))?;
        let seq = writer.seq;
        if flow_id != 0
            && let Some(slot) = self.marks.get_mut(&flow_id)
            && *slot != seq
        {
            *slot = seq;
            self.marks_changed = true;
        }
        self.stats.packets += 1;
        self.stats.bytes += frame.data.len() as u64;
        Ok(())
    }

    fn maintain(&mut self, now: SystemTime) -> Result<(), RecorderError> {
        if self.ring.open_is_old(now) {
            self.ring.close_open(now)?;
        }
        if self.errors.open_is_old(now) {
            self.errors.close_open(now)?;
        }
        self.expire(now)?;
        self.ring.flush()?;
        self.errors.flush()?;
        let due = self.marks_saved_at.is_none_or(|at| {
            now.duration_since(at)
                .is_ok_and(|since| since >= MARKS_SAVE_EVERY)
        });
        if self.marks_changed && due {
            self.save_marks()?;
            self.marks_saved_at = Some(now);
        }
        Ok(())
    }

    /// Saves the marks (atomically: a crash leaves the previous file or the new one).
    fn save_marks(&mut self) -> Result<(), RecorderError> {
        save_marks(&self.ring.dir.join(MARKS_FILE), &self.marks)?;
        self.marks_changed = false;
        Ok(())
    }

    /// Deletes ring segments past the bounds, copying the packets of marked flows to the
    /// error store first; then bounds the error store.
    fn expire(&mut self, now: SystemTime) -> Result<(), RecorderError> {
        let mut copied = false;
        while let Some(oldest) = self.ring.due(now) {
            if !self.marks.is_empty() {
                copied = true;
                if let Err(e) = self.copy_marked(oldest.seq, now) {
                    self.stats.expiry_problems.push(e.to_string());
                }
                let before = self.marks.len();
                self.marks.retain(|_, last| *last > oldest.seq);
                self.marks_changed |= self.marks.len() != before;
            }
            self.ring.remove_oldest()?;
            self.stats.segments_expired += 1;
        }
        if copied {
            self.errors.flush()?;
        }
        while self.errors.due(now).is_some() {
            self.errors.remove_oldest()?;
            self.stats.error_segments_expired += 1;
        }
        Ok(())
    }

    /// Copies the packets of marked flows in ring segment `seq` to the error store.
    fn copy_marked(&mut self, seq: u64, now: SystemTime) -> Result<(), RecorderError> {
        let (data, index) = segment::paths(&self.ring.dir, seq);
        let idx = segment::read_index(&index)?;
        if !idx
            .records
            .iter()
            .any(|r| self.marks.contains_key(&r.flow_id))
        {
            return Ok(());
        }
        let mut reader = segment::SegmentReader::open(&data)?;
        for rec in idx
            .records
            .iter()
            .filter(|r| self.marks.contains_key(&r.flow_id))
        {
            let packet = reader.packet(rec)?;
            let w = self.errors.writer(idx.link, now)?;
            w.write_raw(rec.flow_id, rec.ts_us, packet, rec.orig_len)
                .map_err(|e| RecorderError::io(w.index_path(), e))?;
            self.stats.copied_to_errors += 1;
        }
        Ok(())
    }
}

/// Reads saved marks (pairs of little-endian u64); a missing or damaged file gives none.
fn load_marks(path: &Path) -> FxHashMap<u64, u64> {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes
        .chunks_exact(16)
        .map(|c| {
            let mut a = [0u8; 8];
            let mut b = [0u8; 8];
            a.copy_from_slice(&c[..8]);
            b.copy_from_slice(&c[8..]);
            (u64::from_le_bytes(a), u64::from_le_bytes(b))
        })
        .collect()
}

fn save_marks(path: &Path, marks: &FxHashMap<u64, u64>) -> Result<(), RecorderError> {
    let mut bytes = Vec::with_capacity(marks.len() * 16);
    for (flow, seq) in marks {
        bytes.extend_from_slice(&flow.to_le_bytes());
        bytes.extend_from_slice(&seq.to_le_bytes());
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| RecorderError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| RecorderError::io(path, e))
}

/// An [`Emit`] that passes everything to `out` and marks the flows of error entries in the
/// recorder (when there is one).
pub struct MarkErrors<'a, E: Emit> {
    /// Where entries and flows go.
    pub out: &'a mut E,
    /// The recorder to mark flows in.
    pub recorder: Option<&'a Recorder>,
}

impl<'a, E: Emit> MarkErrors<'a, E> {
    /// Wraps `out`, marking in `recorder`.
    pub fn new(out: &'a mut E, recorder: Option<&'a Recorder>) -> Self {
        MarkErrors { out, recorder }
    }
}

impl<E: Emit> Emit for MarkErrors<'_, E> {
    fn entry(&mut self, e: &EntryView<'_>) {
        if let (Some(rec), Some(_), Some(flow)) = (self.recorder, e.header.error, e.header.flow) {
            rec.mark_error(flow.flow_id);
        }
        self.out.entry(e);
    }

    fn flow(&mut self, f: &FlowView<'_>) {
        self.out.flow(f);
    }
}

#[cfg(test)]
mod tests;
