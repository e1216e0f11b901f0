//! A worker's heartbeat: while it trains a job, a thread re-claims the job's pending entry for
//! the worker itself (XCLAIM with no minimum idle time) every third of the run's reclaim
//! timeout, which resets the entry's idle time. A live worker's long child is therefore never
//! taken by XAUTOCLAIM; a dead worker's stops being renewed and is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::cmd;

use super::link::Endpoint;
use super::wire::GROUP;
use super::worker::Taken;

/// Beats until dropped.
pub struct Heartbeat {
    done: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Heartbeat {
    pub(super) fn start(endpoint: Endpoint, taken: &Taken, name: &str) -> Heartbeat {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let (stream, entry, name) = (
            taken.keys.jobs.clone(),
            taken.entry.clone(),
            name.to_string(),
        );
        let every = Duration::from_millis((taken.reclaim_ms / 3).max(100));
        let handle = std::thread::Builder::new()
            .name("nas-heartbeat".into())
            .spawn(move || {
                let mut conn = None;
                let mut last = Instant::now();
                while !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                    if last.elapsed() < every {
                        continue;
                    }
                    last = Instant::now();
                    if conn.is_none() {
                        conn = endpoint.connect().ok();
                    }
                    let Some(c) = conn.as_mut() else { continue };
                    let beat = cmd("XCLAIM")
                        .arg(&stream)
                        .arg(GROUP)
                        .arg(&name)
                        .arg(0)
                        .arg(&entry)
                        .arg("JUSTID")
                        .query::<redis::Value>(c);
                    if beat.is_err() {
                        conn = None; // Redis gone for now: try again next beat
                    }
                }
            })
            .ok();
        Heartbeat { done, handle }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
