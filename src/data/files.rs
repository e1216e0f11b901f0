//! Finding and reading the files of a data set. Data sets ship their files raw or gzipped, under
//! slightly different names; this is the one place that knows how to look, so every reader gives
//! the same kind of error for a missing or unreadable file.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The first existing file in `dir` among `names`, each tried raw and with `.gz`.
///
/// A missing file is an error that names the first (canonical) name and the folder searched.
pub(crate) fn find_file(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    for name in names {
        for candidate in [name.to_string(), format!("{name}.gz")] {
            let path = dir.join(&candidate);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    let tried: Vec<String> = names
        .iter()
        .flat_map(|n| [n.to_string(), format!("{n}.gz")])
        .collect();
    Err(Error::Data {
        path: dir.join(names.first().copied().unwrap_or_default()),
        msg: format!(
            "file not found in folder {} (tried {})",
            dir.display(),
            tried.join(", ")
        ),
    })
}

/// The whole content of `path`, decompressed when it is a gzip stream (detected by its magic
/// bytes, not its name, so a misnamed file still reads).
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| Error::Data {
            path: path.to_path_buf(),
            msg: format!("broken gzip stream: {e}"),
        })?;
    Ok(out)
}

/// A `Data` error about `path`.
pub(crate) fn data_error(path: &Path, msg: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// Checks that `bytes` (the content of `path`) is exactly `expected` bytes long.
pub(crate) fn check_len(path: &Path, bytes: &[u8], expected: usize, what: &str) -> Result<()> {
    let actual = bytes.len();
    if actual < expected {
        return Err(data_error(
            path,
            format!("truncated {what}: expected {expected} bytes, found {actual}"),
        ));
    }
    if actual > expected {
        return Err(data_error(
            path,
            format!("{what} too long: expected {expected} bytes, found {actual} (trailing data)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_detected_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain-name");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"hello").unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        assert_eq!(read_maybe_gz(&path).unwrap(), b"hello");
    }

    #[test]
    fn missing_file_names_file_and_folder() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_file(dir.path(), &["a-file", "a.file"]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a-file"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains("a.file.gz"), "{msg}");
    }
}
