//! The background thread of an engine open for writing: it flushes by the flush policy and,
//! every [`HOUSEKEEPING`], runs compaction, retention and the deletion of unreferenced files.
//! It holds the engine only weakly, through the same [`Engine`] handle callers use, and ends
//! when the engine is closed or dropped.

use std::sync::Weak;
use std::time::{Duration, Instant};

use super::{Engine, Shared};
use crate::EngineError;

/// Time between compaction/retention passes.
const HOUSEKEEPING: Duration = Duration::from_secs(30);

/// Starts the thread over the engine `weak` points to.
pub(super) fn spawn(weak: Weak<Shared>) -> Result<std::thread::JoinHandle<()>, EngineError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EngineError::io("starting background runtime", "."))?;
    std::thread::Builder::new()
        .name("faultline-maintenance".into())
        .spawn(move || run(&weak, &runtime))
        .map_err(EngineError::io("starting background thread", "."))
}

fn run(weak: &Weak<Shared>, runtime: &tokio::runtime::Runtime) {
    let mut last_housekeeping = Instant::now();
    loop {
        let Some(engine) = weak.upgrade().map(|shared| Engine { shared }) else {
            return;
        };
        if engine.is_closed() {
            return;
        }
        if engine.needs_flush()
            && let Err(e) = runtime.block_on(engine.flush())
        {
            tracing::warn!(error = %e, "background flush failed (will retry)");
        }
        if last_housekeeping.elapsed() >= HOUSEKEEPING {
            last_housekeeping = Instant::now();
            let passes = async {
                engine.compact().await?;
                engine.apply_retention().await?;
                engine.collect_garbage().await
            };
            if let Err(e) = runtime.block_on(passes) {
                tracing::warn!(error = %e, "background compaction/retention failed");
            }
        }
        engine.wait_changed(engine.shared.config.tick);
    }
}
