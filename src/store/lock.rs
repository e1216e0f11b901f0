//! The run lock: an exclusive advisory lock on `runs/RUN/lock`, taken by the one process that
//! writes a run (a search or resume), before sled opens the database, so that a second writer
//! gets a clear `RunLocked` error instead of sled's raw "could not acquire lock". Readers never
//! wait for it: they only probe it, with a shared lock held for an instant, to tell a running
//! search from one that stopped without saying so. Released on drop.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The name of the lock file inside a run folder.
pub const LOCK_FILE: &str = "lock";

/// How long a writer keeps trying while the lock is held: long enough for a reader's probe to
/// let go, far too short to wait for another writer.
const WRITER_PATIENCE: Duration = Duration::from_millis(500);

/// Holds the exclusive lock on one run for as long as it lives.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Takes the lock of the run in `run`, creating the lock file if needed; fails with
    /// `RunLocked` when another writer has it.
    pub fn acquire(run: &Path) -> Result<RunLock> {
        let path = run.join(LOCK_FILE);
        let file = open(&path)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RunLock { file }),
                Err(TryLockError::WouldBlock) if started.elapsed() < WRITER_PATIENCE => {
                    thread::sleep(Duration::from_millis(5));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::RunLocked {
                        run: run.to_path_buf(),
                    })
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
    }

    /// Whether a writer holds the lock of the run in `run` right now. A run folder without a
    /// lock file has no writer.
    pub fn writer_active(run: &Path) -> bool {
        let Ok(file) = File::open(run.join(LOCK_FILE)) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(TryLockError::WouldBlock) => true,
            Err(TryLockError::Error(_)) => false,
        }
    }
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the release explicit.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, Error::RunLocked { .. }), "{err}");
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_probe_sees_the_writer_and_never_blocks_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!RunLock::writer_active(dir.path()));
        let writer = RunLock::acquire(dir.path()).unwrap();
        assert!(RunLock::writer_active(dir.path()));
        drop(writer);
        assert!(!RunLock::writer_active(dir.path()));
        let _again = RunLock::acquire(dir.path()).unwrap();
    }
}
