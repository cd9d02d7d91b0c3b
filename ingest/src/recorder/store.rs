//! One directory of segments (the ring, or the error store): the open segment, the closed ones
//! oldest first, rotation by size, age and link type, and which segment is due for deletion
//! under the directory's byte and age bounds.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::RecorderError;
use super::segment::{SegmentWriter, paths, seq_of};
use crate::source::LinkType;

/// Bounds of one segment directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    /// Most bytes on disk (data and index files); the oldest segments go first.
    pub(crate) max_bytes: u64,
    /// A closed segment is deleted this long after it was closed.
    pub(crate) max_age: Duration,
    /// A segment is closed once it holds this many bytes...
    pub(crate) segment_bytes: u64,
    /// ...or has been open this long.
    pub(crate) segment_age: Duration,
}

/// A closed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed {
    pub(crate) seq: u64,
    pub(crate) bytes: u64,
    pub(crate) closed_at: SystemTime,
}

/// A directory of segments.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) dir: PathBuf,
    pub(crate) bounds: Bounds,
    pub(crate) closed: VecDeque<Closed>,
    pub(crate) open: Option<SegmentWriter>,
    next_seq: u64,
}

impl Store {
    /// Opens (creating) `dir` and lists the segments a previous run left, as closed.
    pub(crate) fn open(dir: &Path, bounds: Bounds) -> Result<Store, RecorderError> {
        std::fs::create_dir_all(dir).map_err(|e| RecorderError::io(dir, e))?;
        let mut closed = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| RecorderError::io(dir, e))? {
            let entry = entry.map_err(|e| RecorderError::io(dir, e))?;
            let Some(seq) = seq_of(&entry.file_name().to_string_lossy()) else {
                continue;
            };
            let meta = entry.metadata().map_err(|e| RecorderError::io(dir, e))?;
            let (_, index) = paths(dir, seq);
            let index_len = std::fs::metadata(&index).map(|m| m.len()).unwrap_or(0);
            closed.push(Closed {
                seq,
                bytes: meta.len() + index_len,
                closed_at: meta.modified().unwrap_or_else(|_| SystemTime::now()),
            });
        }
        closed.sort_by_key(|c| c.seq);
        let next_seq = closed.last().map_or(1, |c| c.seq + 1);
        Ok(Store {
            dir: dir.to_owned(),
            bounds,
            closed: closed.into(),
            open: None,
            next_seq,
        })
    }

    /// The segment to write a frame of `link` to: the open one, unless it is full or of
    /// another link type (then it is closed and a new one opened).
    pub(crate) fn writer(
        &mut self,
        link: LinkType,
        now: SystemTime,
    ) -> Result<&mut SegmentWriter, RecorderError> {
        if !self.fits(link) {
            self.rotate(link, now)?;
        }
        self.open_writer()
    }

    /// True when a frame of `link` goes to the open segment (no rotation, no clock needed).
    pub(crate) fn fits(&self, link: LinkType) -> bool {
        self.open
            .as_ref()
            .is_some_and(|w| w.link == link && w.data_len < self.bounds.segment_bytes)
    }

    /// Closes the open segment and opens a new one for `link`.
    pub(crate) fn rotate(&mut self, link: LinkType, now: SystemTime) -> Result<(), RecorderError> {
        self.close_open(now)?;
        let w = self.create(link, now)?;
        self.open = Some(w);
        Ok(())
    }

    /// The open segment.
    pub(crate) fn open_writer(&mut self) -> Result<&mut SegmentWriter, RecorderError> {
        match self.open.as_mut() {
            Some(w) => Ok(w),
            None => Err(RecorderError::io(
                &self.dir,
                std::io::Error::other("no open segment"),
            )),
        }
    }

    /// True when the open segment has been open longer than the segment age.
    pub(crate) fn open_is_old(&self, now: SystemTime) -> bool {
        self.open.as_ref().is_some_and(|w| {
            now.duration_since(w.opened).unwrap_or_default() >= self.bounds.segment_age
        })
    }

    /// Creates the next segment; skips numbers another writer already took.
    fn create(&mut self, link: LinkType, now: SystemTime) -> Result<SegmentWriter, RecorderError> {
        let mut attempts = 0;
        loop {
            let seq = self.next_seq;
            self.next_seq += 1;
            match SegmentWriter::create(&self.dir, seq, link, now) {
                Ok(w) => return Ok(w),
                Err(e) if attempts < 16 && e.is_already_exists() => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Flushes and closes the open segment (an empty one is deleted).
    pub(crate) fn close_open(&mut self, now: SystemTime) -> Result<(), RecorderError> {
        let Some(mut w) = self.open.take() else {
            return Ok(());
        };
        w.flush()
            .map_err(|e| RecorderError::io(w.index_path(), e))?;
        let (seq, bytes, packets) = (w.seq, w.bytes(), w.packets);
        drop(w);
        if packets == 0 {
            remove_segment(&self.dir, seq)?;
        } else {
            self.closed.push_back(Closed {
                seq,
                bytes,
                closed_at: now,
            });
        }
        Ok(())
    }

    /// Bytes of every segment, the open one included.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.closed.iter().map(|c| c.bytes).sum::<u64>()
            + self.open.as_ref().map_or(0, |w| w.bytes())
    }

    /// The oldest closed segment, when the bounds say it must go.
    pub(crate) fn due(&self, now: SystemTime) -> Option<Closed> {
        let oldest = *self.closed.front()?;
        let too_old =
            now.duration_since(oldest.closed_at).unwrap_or_default() >= self.bounds.max_age;
        (too_old || self.total_bytes() > self.bounds.max_bytes).then_some(oldest)
    }

    /// Deletes the oldest closed segment.
    pub(crate) fn remove_oldest(&mut self) -> Result<(), RecorderError> {
        match self.closed.pop_front() {
            Some(c) => remove_segment(&self.dir, c.seq),
            None => Ok(()),
        }
    }

    /// Sequence number of the open segment, or of the next one.
    pub(crate) fn current_seq(&self) -> u64 {
        self.open.as_ref().map_or(self.next_seq, |w| w.seq)
    }

    /// Hands buffered bytes of the open segment to the OS.
    pub(crate) fn flush(&mut self) -> Result<(), RecorderError> {
        match self.open.as_mut() {
            Some(w) => w.flush().map_err(|e| RecorderError::io(w.index_path(), e)),
            None => Ok(()),
        }
    }
}

/// Deletes both files of a segment, the index first (a data file left alone by a crash is
/// still listed, and deleted later); a file already gone is fine.
fn remove_segment(dir: &Path, seq: u64) -> Result<(), RecorderError> {
    let (data, index) = paths(dir, seq);
    for p in [index, data] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RecorderError::io(&p, e)),
        }
    }
    Ok(())
}

/// Data files of the segments in `dir`, by sequence number (for readers).
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, RecorderError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(RecorderError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| RecorderError::io(dir, e))?;
        if let Some(seq) = seq_of(&entry.file_name().to_string_lossy()) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Frame;

    fn bounds() -> Bounds {
        Bounds {
            max_bytes: 10_000,
            max_age: Duration::from_secs(60),
            segment_bytes: 1000,
            segment_age: Duration::from_secs(10),
        }
    }

    fn write(store: &mut Store, link: LinkType, n: usize, now: SystemTime) {
        let data = [0u8; 100];
        for i in 0..n {
            let frame = Frame {
                ts_us: i as i64,
                link,
                data: &data,
                orig_len: 100,
                interface: 0,
            };
            store.writer(link, now).unwrap().write(1, &frame).unwrap();
        }
    }

    #[test]
    fn rotates_by_size_and_link_type() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let mut s = Store::open(dir.path(), bounds()).unwrap();
        // 24 + 9 * 116 = 1068 >= 1000 after the 9th packet: the 10th opens segment 2.
        write(&mut s, LinkType::Ethernet, 10, now);
        assert_eq!(s.closed.len(), 1);
        write(&mut s, LinkType::RawIp, 1, now);
        assert_eq!(s.closed.len(), 2);
        assert_eq!(s.current_seq(), 3);
        s.close_open(now).unwrap();
        let listed: Vec<u64> = list(dir.path()).unwrap().iter().map(|x| x.0).collect();
        assert_eq!(listed, [1, 2, 3]);
        // Reopened, numbering goes on after the last segment.
        let s = Store::open(dir.path(), bounds()).unwrap();
        assert_eq!((s.closed.len(), s.current_seq()), (3, 4));
        assert_eq!(s.total_bytes(), dir_bytes(dir.path()));
    }

    fn dir_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    }

    #[test]
    fn bounded_by_bytes_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let mut s = Store::open(dir.path(), bounds()).unwrap();
        write(&mut s, LinkType::Ethernet, 95, now);
        assert!(s.total_bytes() > 10_000);
        let mut removed = 0;
        while s.due(now).is_some() {
            s.remove_oldest().unwrap();
            removed += 1;
        }
        assert!(s.total_bytes() <= 10_000);
        s.flush().unwrap();
        assert_eq!(s.total_bytes(), dir_bytes(dir.path()));
        assert!(removed >= 1);
        // Age: nothing is due within a minute of closing, everything closed is after it.
        assert!(s.due(now + Duration::from_secs(59)).is_none());
        assert!(!s.open_is_old(now + Duration::from_secs(9)));
        assert!(s.open_is_old(now + Duration::from_secs(10)));
        let later = now + Duration::from_secs(61);
        while s.due(later).is_some() {
            s.remove_oldest().unwrap();
        }
        assert!(s.closed.is_empty());
        assert!(s.open.is_some());
    }

    #[test]
    fn empty_segment_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let mut s = Store::open(dir.path(), bounds()).unwrap();
        s.writer(LinkType::Ethernet, now).unwrap();
        s.close_open(now).unwrap();
        assert!(s.closed.is_empty());
        assert!(list(dir.path()).unwrap().is_empty());
    }
}
