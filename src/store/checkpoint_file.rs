//! The strategy's latest checkpoint, as one file replaced atomically (`RUN/checkpoint`).
//!
//! It is a file rather than a sled value for two reasons. sled 0.34 keeps large values as blob
//! files of their own, which a kill can leave torn; and the checkpoint must outlive a rebuild
//! of the database from the journal. It is not in the journal either: a controller checkpoint
//! is hundreds of kilobytes, written after every update, and only the latest one is ever read.

use std::path::Path;

use crate::atomic_file::replace;
use crate::error::{Error, Result};

/// The checkpoint's file name inside a run folder.
pub const CHECKPOINT_FILE: &str = "checkpoint";
const MAGIC: &[u8; 8] = b"NASCKP01";
const HEAD: usize = 8 + 8 + 4;

/// Replaces the run's checkpoint with `blob`, the state after `step` updates.
pub fn write(run: &Path, step: u64, blob: &[u8], sync: bool) -> Result<()> {
    let mut bytes = Vec::with_capacity(HEAD + blob.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&step.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(blob).to_le_bytes());
    bytes.extend_from_slice(blob);
    replace(&run.join(CHECKPOINT_FILE), &bytes, sync)
}

/// The run's checkpoint as `(step, blob)`, if it has one.
pub fn read(run: &Path) -> Result<Option<(u64, Vec<u8>)>> {
    let path = run.join(CHECKPOINT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let damaged = |msg: &str| Error::Store {
        run: run.to_path_buf(),
        msg: format!("{} is damaged ({msg})", path.display()),
    };
    if bytes.len() < HEAD || &bytes[..8] != MAGIC {
        return Err(damaged("not a nas checkpoint"));
    }
    let step = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let blob = bytes[HEAD..].to_vec();
    if crc32fast::hash(&blob) != crc {
        return Err(damaged("its checksum does not match"));
    }
    Ok(Some((step, blob)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_the_latest_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        write(dir.path(), 3, b"three", true).unwrap();
        write(dir.path(), 4, b"four", false).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some((4, b"four".to_vec())));
    }

    #[test]
    fn a_damaged_checkpoint_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 3, b"three", true).unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("checkpoint") && err.contains("checksum"),
            "{err}"
        );
    }
}
