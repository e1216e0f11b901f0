//! The CIFAR-10 binary format: fixed-size records of one label byte and a 32x32 colour image
//! stored as three planes (red, green, blue), which is already the CHW layout batching wants.
//! The files carry no header, so the record size and label range are the only checks possible.

use std::path::{Path, PathBuf};

use super::dataset::{SourceData, Split};
use super::files::{data_error, find_file, read_maybe_gz};
use crate::error::Result;

/// Bytes of one image: 3 planes of 32x32.
const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes of one record: the label and the image.
const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// CIFAR-10 has ten classes.
const CLASSES: usize = 10;
/// The class names, in label order (`batches.meta.txt` of the official archive).
pub(crate) const CLASS_NAMES: [&str; CLASSES] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
/// The sub-folder the official archive unpacks to.
const SUBFOLDER: &str = "cifar-10-batches-bin";
/// The training batches, in order.
const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch.
const TEST_FILE: &str = "test_batch.bin";

/// Reads the five training batches and the test batch from `dir` or `dir/cifar-10-batches-bin`.
pub(crate) fn read_dir(dir: &Path) -> Result<SourceData> {
    let dir = batches_dir(dir);
    let mut train = Split::default();
    for name in TRAIN_FILES {
        parse_into(&find_file(&dir, &[name])?, &mut train)?;
    }
    let mut test = Split::default();
    parse_into(&find_file(&dir, &[TEST_FILE])?, &mut test)?;
    Ok(SourceData {
        input: [3, 32, 32],
        classes: CLASSES,
        train,
        test,
    })
}

/// `dir` itself when it holds the test batch, else its `cifar-10-batches-bin` sub-folder if that
/// does; `dir` when neither does, so the missing-file error names the folder the user gave.
fn batches_dir(dir: &Path) -> PathBuf {
    let sub = dir.join(SUBFOLDER);
    let holds = |d: &Path| find_file(d, &[TEST_FILE]).is_ok();
    if !holds(dir) && holds(&sub) {
        sub
    } else {
        dir.to_path_buf()
    }
}

/// Appends the records of the batch file `path` to `split`.
fn parse_into(path: &Path, split: &mut Split) -> Result<()> {
    let bytes = read_maybe_gz(path)?;
    parse_records(path, &bytes, split)
}

/// Appends the records in `bytes` (the content of `path`) to `split`, checking size and labels.
pub(crate) fn parse_records(path: &Path, bytes: &[u8], split: &mut Split) -> Result<()> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        let whole = bytes.len() / RECORD_BYTES;
        return Err(data_error(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD_BYTES}-byte records (expected {} bytes for {} records; truncated?)",
                bytes.len(),
                (whole.max(1)) * RECORD_BYTES,
                whole.max(1)
            ),
        ));
    }
    let n = bytes.len() / RECORD_BYTES;
    split.images.reserve(n * IMAGE_BYTES);
    split.labels.reserve(n);
    for (i, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0];
        if label as usize >= CLASSES {
            return Err(data_error(
                path,
                format!("label {label} of record {i} is out of range 0..9"),
            ));
        }
        split.labels.push(label as u32);
        split.images.extend_from_slice(&record[1..]);
    }
    split.len += n;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::tests::write;

    /// `n` records with label `(start + i) % 10` and every pixel of plane c equal to `label * 3 + c`.
    fn batch_bytes(n: usize, start: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n * RECORD_BYTES);
        for i in 0..n {
            let label = ((start + i) % 10) as u8;
            out.push(label);
            for c in 0..3u8 {
                out.extend(std::iter::repeat_n(label * 3 + c, 1024));
            }
        }
        out
    }

    fn write_set(dir: &Path, gz: bool) {
        for (k, name) in TRAIN_FILES.iter().enumerate() {
            write(dir, name, &batch_bytes(4, k * 4), gz);
        }
        write(dir, TEST_FILE, &batch_bytes(3, 0), gz);
    }

    #[test]
    fn reads_raw_and_gzipped_batches() {
        for gz in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_set(dir.path(), gz);
            let data = read_dir(dir.path()).unwrap();
            assert_eq!((data.input, data.classes), ([3, 32, 32], 10));
            assert_eq!((data.train.len, data.test.len), (20, 3));
            assert_eq!(data.train.labels[..6], [0, 1, 2, 3, 4, 5]);
            let image5 = &data.train.images[5 * IMAGE_BYTES..6 * IMAGE_BYTES];
            assert_eq!((image5[0], image5[1024], image5[2047 + 1024]), (15, 16, 17));
        }
    }

    #[test]
    fn reads_the_archive_subfolder() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join(SUBFOLDER);
        std::fs::create_dir(&sub).unwrap();
        write_set(&sub, false);
        assert_eq!(read_dir(dir.path()).unwrap().train.len, 20);
    }

    #[test]
    fn partial_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), false);
        let mut bytes = batch_bytes(4, 0);
        bytes.truncate(3 * RECORD_BYTES + 100);
        write(dir.path(), "data_batch_3.bin", &bytes, false);
        let msg = read_dir(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("data_batch_3.bin: 9319 bytes"), "{msg}");
        assert!(msg.contains("expected 9219 bytes for 3 records"), "{msg}");
    }

    #[test]
    fn label_out_of_range_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), false);
        let mut bytes = batch_bytes(3, 0);
        bytes[RECORD_BYTES] = 10;
        write(dir.path(), TEST_FILE, &bytes, false);
        let msg = read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("test_batch.bin: label 10 of record 1 is out of range"),
            "{msg}"
        );
    }

    #[test]
    fn missing_batch_names_file_and_folder() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), false);
        std::fs::remove_file(dir.path().join("data_batch_4.bin")).unwrap();
        let msg = read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("data_batch_4.bin: file not found in folder"),
            "{msg}"
        );
    }
}
