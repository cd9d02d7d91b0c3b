//! Live capture through the service: a [`LiveCapture`] runs through a pipeline into the store
//! until its stop flag is raised, on the caller's thread ([`IngestService::run_capture`]) or on
//! a thread of its own ([`IngestService::start_capture`]; a capture stays on the thread that
//! opened it).

use std::sync::atomic::Ordering;

use faultline_ingest::live::{LiveCapture, LiveConfig, LiveError, StopFlag};
use faultline_ingest::pipeline::{IngestSummary, LiveReport, PipelineError};

use super::IngestService;
use super::files::SourceCounts;

/// What one live capture gave: its report (unless storing failed while capturing), and the
/// summary of the pipeline once every row was handed to the store (unless that failed).
#[derive(Debug)]
pub struct CaptureRun {
    /// Frames, packets, drops and the error that stopped the capture, if any.
    pub report: Result<LiveReport, PipelineError>,
    /// Rows written.
    pub summary: Result<IngestSummary, PipelineError>,
}

/// Why a capture thread did not start.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The thread could not be spawned.
    #[error(transparent)]
    Spawn(#[from] std::io::Error),
    /// The thread ended without saying whether the capture opened.
    #[error("the capture thread ended before opening the capture")]
    ThreadEnded,
    /// The interfaces could not be opened.
    #[error("opening the capture")]
    Open(#[source] LiveError),
}

/// A capture running on its own thread; [`CaptureHandle::stop`] ends it.
#[derive(Debug)]
pub struct CaptureHandle {
    stop: StopFlag,
    thread: std::thread::JoinHandle<()>,
    label: String,
}

impl CaptureHandle {
    /// The interfaces captured on, as the rows' `capture_source` names them.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Raises the stop flag and waits until the capture's rows are all in the store.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.thread.join().is_err() {
            tracing::error!("the capture thread panicked");
        }
    }
}

impl IngestService {
    /// Ingests from `capture` until it stops (its flag is raised, or it fails), then hands
    /// every remaining row to the store. The observer hears of the source and its drops.
    pub fn run_capture(&self, capture: &mut LiveCapture) -> CaptureRun {
        let mut pipeline = self.pipeline();
        let report = pipeline.ingest_live(capture);
        if let Ok(r) = &report {
            self.observer().source_ingested(&SourceCounts {
                frames: r.source.frames,
                packets: r.packets,
                undecodable: r.undecodable.total(),
                error: r.error.as_ref().map(ToString::to_string),
            });
            self.observer()
                .capture_dropped(r.drops.kernel + r.drops.interface);
        }
        let summary = pipeline.finish().map(|(_, summary)| summary);
        CaptureRun { report, summary }
    }

    /// Opens `live` on a new thread and runs it there ([`IngestService::run_capture`]) until
    /// the handle stops it; returns once the capture is open. What stops it early is printed.
    pub fn start_capture(&self, live: LiveConfig) -> Result<CaptureHandle, CaptureError> {
        let stop = StopFlag::default();
        let thread_stop = stop.clone();
        let service = self.clone();
        let (opened_tx, opened) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("faultline-capture".into())
            .spawn(move || {
                let mut capture = match LiveCapture::open(&live, thread_stop) {
                    Ok(c) => {
                        let _ = opened_tx.send(Ok(c.label()));
                        c
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                let run = service.run_capture(&mut capture);
                match run.report {
                    Ok(report) => {
                        if let Some(e) = report.error {
                            tracing::warn!(error = %e, "capture stopped");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "capture failed"),
                }
                if let Err(e) = run.summary {
                    tracing::error!(error = %e, "capture failed");
                }
            })?;
        let label = opened
            .recv()
            .map_err(|_| CaptureError::ThreadEnded)?
            .map_err(CaptureError::Open)?;
        Ok(CaptureHandle {
            stop,
            thread,
            label,
        })
    }
}
