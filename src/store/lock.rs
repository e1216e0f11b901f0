//! The run lock: an exclusive advisory lock on `runs/RUN/lock`, taken before sled opens the
//! database so that a second process (or a second opener in this process) gets a clear
//! `RunLocked` error instead of sled's raw "could not acquire lock". Released on drop.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::{Error, Result};

/// The name of the lock file inside a run folder.
pub const LOCK_FILE: &str = "lock";

/// Holds the exclusive lock on one run for as long as it lives.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Takes the lock of the run in `run`, creating the lock file if needed; fails at once with
    /// `RunLocked` when another holder has it.
    pub fn acquire(run: &Path) -> Result<RunLock> {
        let path = run.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { file }),
            Err(TryLockError::WouldBlock) => Err(Error::RunLocked {
                run: run.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }
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
}
