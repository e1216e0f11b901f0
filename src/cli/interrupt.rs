//! Ctrl-C: the first press asks the running job to stop cleanly (running children finish their
//! batch, the run stays resumable); the second exits at once, which the store also survives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Result;

/// Exit code of a job stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The shared stop flag, with the Ctrl-C handler installed on first use.
pub fn install() -> Result<Arc<AtomicBool>> {
    if let Some(stop) = STOP.get() {
        return Ok(stop.clone());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting now; the run can still be resumed");
            std::process::exit(EXIT_INTERRUPTED);
        }
        eprintln!(
            "\ninterrupt: finishing the running batches, then stopping (Ctrl-C again to exit now)"
        );
    })?;
    let _ = STOP.set(stop.clone());
    Ok(stop)
}
