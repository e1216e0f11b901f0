//! The IDX format of MNIST and its many look-alikes (Fashion-MNIST, KMNIST, EMNIST): a big-endian
//! header with a magic number and the dimensions, then raw bytes. Every header field is checked
//! against the file's length so that a truncated download fails here, naming the file, instead
//! of as a shape error deep in training.

use std::path::{Path, PathBuf};

use super::dataset::{SourceData, Split};
use super::files::{check_len, data_error, find_file, read_maybe_gz};
use crate::error::Result;
use crate::graph::MAX_INPUT_SIDE;

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub(crate) const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub(crate) const LABELS_MAGIC: u32 = 0x0000_0801;

/// The four files of an IDX data set, each with its canonical name and the dotted variant.
const TRAIN_IMAGES: [&str; 2] = ["train-images-idx3-ubyte", "train-images.idx3-ubyte"];
const TRAIN_LABELS: [&str; 2] = ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte"];
const TEST_IMAGES: [&str; 2] = ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"];
const TEST_LABELS: [&str; 2] = ["t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"];

/// One images file and its labels file, read and checked against each other.
struct Pair {
    images_path: PathBuf,
    labels_path: PathBuf,
    hw: [usize; 2],
    split: Split,
}

/// Reads the four IDX files in `dir`; the class count is the largest training label plus one.
pub(crate) fn read_dir(dir: &Path) -> Result<SourceData> {
    let train = read_pair(dir, &TRAIN_IMAGES, &TRAIN_LABELS)?;
    let test = read_pair(dir, &TEST_IMAGES, &TEST_LABELS)?;
    let ([h, w], [test_h, test_w]) = (train.hw, test.hw);
    if (h, w) != (test_h, test_w) {
        return Err(data_error(
            &test.images_path,
            format!("images are {test_h}x{test_w} but the training images are {h}x{w}"),
        ));
    }
    let classes = train
        .split
        .labels
        .iter()
        .max()
        .map_or(0, |&m| m as usize + 1);
    let out_of_range = test
        .split
        .labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes);
    if let Some((i, &label)) = out_of_range {
        return Err(data_error(
            &test.labels_path,
            format!(
                "label {label} of item {i} is out of range: the training labels have {classes} classes (0..{})",
                classes.saturating_sub(1)
            ),
        ));
    }
    Ok(SourceData {
        input: [1, h, w],
        classes,
        train: train.split,
        test: test.split,
    })
}

/// Reads one images file and its labels file, checking that their counts agree.
fn read_pair(dir: &Path, images: &[&str], labels: &[&str]) -> Result<Pair> {
    let images_path = find_file(dir, images)?;
    let labels_path = find_file(dir, labels)?;
    let (n, hw, pixels) = parse_images(&images_path, read_maybe_gz(&images_path)?)?;
    let labels = parse_labels(&labels_path, &read_maybe_gz(&labels_path)?)?;
    if labels.len() != n {
        return Err(data_error(
            &labels_path,
            format!(
                "{} labels but {} has {n} images",
                labels.len(),
                images_path.display()
            ),
        ));
    }
    Ok(Pair {
        images_path,
        labels_path,
        hw,
        split: Split::new(pixels, labels),
    })
}

/// The big-endian u32 at byte `offset` of the header, or a truncation error.
fn header_u32(path: &Path, bytes: &[u8], offset: usize) -> Result<u32> {
    bytes
        .get(offset..offset + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| {
            data_error(
                path,
                format!(
                    "truncated IDX header: expected at least {} bytes, found {}",
                    offset + 4,
                    bytes.len()
                ),
            )
        })
}

/// Checks the magic number at the start of an IDX file.
fn check_magic(path: &Path, bytes: &[u8], expected: u32, what: &str) -> Result<()> {
    let magic = header_u32(path, bytes, 0)?;
    if magic != expected {
        return Err(data_error(
            path,
            format!("wrong magic number {magic:#010x}, expected {expected:#010x} ({what})"),
        ));
    }
    Ok(())
}

/// Parses an IDX images file into (count, [rows, cols], pixels), reusing its buffer.
pub(crate) fn parse_images(
    path: &Path,
    mut bytes: Vec<u8>,
) -> Result<(usize, [usize; 2], Vec<u8>)> {
    check_magic(path, &bytes, IMAGES_MAGIC, "IDX images")?;
    let n = header_u32(path, &bytes, 4)? as usize;
    let rows = header_u32(path, &bytes, 8)? as usize;
    let cols = header_u32(path, &bytes, 12)? as usize;
    if rows == 0 || cols == 0 || rows > MAX_INPUT_SIDE || cols > MAX_INPUT_SIDE {
        return Err(data_error(
            path,
            format!("images of size {rows}x{cols} (sides must be 1 to {MAX_INPUT_SIDE})"),
        ));
    }
    let expected = n
        .checked_mul(rows * cols)
        .and_then(|b| b.checked_add(16))
        .ok_or_else(|| {
            data_error(
                path,
                format!("implausible header: {n} images of {rows}x{cols}"),
            )
        })?;
    check_len(path, &bytes, expected, "IDX images file")?;
    bytes.drain(..16);
    Ok((n, [rows, cols], bytes))
}

/// Parses an IDX labels file.
pub(crate) fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u32>> {
    check_magic(path, bytes, LABELS_MAGIC, "IDX labels")?;
    let n = header_u32(path, bytes, 4)? as usize;
    check_len(path, bytes, n + 8, "IDX labels file")?;
    Ok(bytes[8..].iter().map(|&l| l as u32).collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// The bytes of an IDX images file of `n` images of `rows`x`cols`, pixel = (i + y + x) % 256.
    pub(crate) fn images_bytes(n: usize, rows: usize, cols: usize) -> Vec<u8> {
        let mut out = IMAGES_MAGIC.to_be_bytes().to_vec();
        for d in [n, rows, cols] {
            out.extend_from_slice(&(d as u32).to_be_bytes());
        }
        for i in 0..n {
            for y in 0..rows {
                for x in 0..cols {
                    out.push(((i + y + x) % 256) as u8);
                }
            }
        }
        out
    }

    /// The bytes of an IDX labels file.
    pub(crate) fn labels_bytes(labels: &[u8]) -> Vec<u8> {
        let mut out = LABELS_MAGIC.to_be_bytes().to_vec();
        out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        out.extend_from_slice(labels);
        out
    }

    /// Writes `bytes` to `dir/name`, gzipped (and named `.gz`) when `gz`.
    pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8], gz: bool) {
        if gz {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(bytes).unwrap();
            std::fs::write(dir.join(format!("{name}.gz")), enc.finish().unwrap()).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    /// A small, valid IDX set: 20 training and 6 test images of 4x3, labels `i % 3`.
    pub(crate) fn write_set(dir: &Path, gz: bool) {
        let labels = |n: usize| (0..n).map(|i| (i % 3) as u8).collect::<Vec<_>>();
        write(dir, "train-images-idx3-ubyte", &images_bytes(20, 4, 3), gz);
        write(
            dir,
            "train-labels-idx1-ubyte",
            &labels_bytes(&labels(20)),
            gz,
        );
        write(dir, "t10k-images-idx3-ubyte", &images_bytes(6, 4, 3), gz);
        write(dir, "t10k-labels-idx1-ubyte", &labels_bytes(&labels(6)), gz);
    }

    #[test]
    fn reads_raw_and_gzipped_sets() {
        for gz in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_set(dir.path(), gz);
            let data = read_dir(dir.path()).unwrap();
            assert_eq!(data.input, [1, 4, 3]);
            assert_eq!(data.classes, 3);
            assert_eq!((data.train.len, data.test.len), (20, 6));
            assert_eq!(data.train.images.len(), 20 * 12);
            assert_eq!(data.train.images[12 * 2 + 3 + 1], 2 + 1 + 1);
            assert_eq!(data.test.labels, vec![0, 1, 2, 0, 1, 2]);
        }
    }

    #[test]
    fn accepts_dotted_names() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), true);
        for name in ["train-images", "t10k-labels"] {
            let kind = if name.ends_with("images") {
                "idx3"
            } else {
                "idx1"
            };
            let from = dir.path().join(format!("{name}-{kind}-ubyte.gz"));
            std::fs::rename(&from, dir.path().join(format!("{name}.{kind}-ubyte.gz"))).unwrap();
        }
        assert_eq!(read_dir(dir.path()).unwrap().train.len, 20);
    }

    #[test]
    fn truncated_file_names_file_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), false);
        let mut bytes = images_bytes(20, 4, 3);
        bytes.truncate(100);
        write(dir.path(), "train-images-idx3-ubyte", &bytes, true);
        std::fs::remove_file(dir.path().join("train-images-idx3-ubyte")).unwrap();
        let msg = read_dir(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("train-images-idx3-ubyte.gz"), "{msg}");
        assert!(msg.contains("expected 256 bytes, found 100"), "{msg}");
    }

    #[test]
    fn wrong_magic_number_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), false);
        write(
            dir.path(),
            "train-images-idx3-ubyte",
            &labels_bytes(&[0; 20]),
            false,
        );
        let msg = read_dir(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("train-images-idx3-ubyte: wrong magic number 0x00000801, expected 0x00000803 (IDX images)"), "{msg}");
    }

    #[test]
    fn label_count_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), false);
        write(
            dir.path(),
            "train-labels-idx1-ubyte",
            &labels_bytes(&[0; 19]),
            false,
        );
        let msg = read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("train-labels-idx1-ubyte: 19 labels but"),
            "{msg}"
        );
    }

    #[test]
    fn test_label_out_of_range_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), false);
        write(
            dir.path(),
            "t10k-labels-idx1-ubyte",
            &labels_bytes(&[0, 1, 2, 7, 0, 1]),
            false,
        );
        let msg = read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("t10k-labels-idx1-ubyte: label 7 of item 3 is out of range"),
            "{msg}"
        );
    }

    #[test]
    fn a_set_of_one_class_or_no_test_images_is_refused_naming_the_folder() {
        let load = |dir: &Path| {
            let spec = crate::data::DatasetSpec::Idx(dir.to_path_buf());
            crate::data::load(&spec, &Default::default())
        };
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), false);
        write(
            dir.path(),
            "train-labels-idx1-ubyte",
            &labels_bytes(&[0; 20]),
            false,
        );
        write(
            dir.path(),
            "t10k-labels-idx1-ubyte",
            &labels_bytes(&[0; 6]),
            false,
        );
        let msg = load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("name 1 class(es)"), "{msg}");
        assert!(msg.starts_with(&dir.path().display().to_string()), "{msg}");
        write_set(dir.path(), false);
        write(
            dir.path(),
            "t10k-images-idx3-ubyte",
            &images_bytes(0, 4, 3),
            false,
        );
        write(
            dir.path(),
            "t10k-labels-idx1-ubyte",
            &labels_bytes(&[]),
            false,
        );
        let msg = load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("the test split holds no images"), "{msg}");
    }

    #[test]
    fn missing_file_names_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), false);
        std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
        let msg = read_dir(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("t10k-labels-idx1-ubyte"), "{msg}");
        assert!(msg.contains("not found in folder"), "{msg}");
    }
}
