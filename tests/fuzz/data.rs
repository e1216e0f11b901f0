//! Data-set mutations: a small valid IDX set and CIFAR-10 set, with headers, labels and
//! lengths changed as a bad download or a wrong file would change them.

use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::{select, Index};

/// The four IDX files, in the order edits name them.
const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Header values that break careless size arithmetic.
const WORDS: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    12,
    0x801,
    0x803,
    0x802,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// One change to an IDX file.
#[derive(Clone, Debug)]
pub enum IdxEdit {
    /// The big-endian word at header position `field` (0 magic, 1 count, 2 rows, 3 cols).
    Header(usize, u32),
    Byte(Index, u8),
    Truncate(Index),
    Append(Vec<u8>),
    /// The file's whole content.
    Replace(Vec<u8>),
    /// A gzip stream cut short.
    BrokenGzip,
    Remove,
    /// A consistent file of this many items.
    Count(u32),
    /// Every label (of a labels file) set to this value.
    Labels(u8),
}

pub fn idx_edit() -> impl Strategy<Value = IdxEdit> {
    prop_oneof![
        4 => (0usize..4, select(WORDS)).prop_map(|(f, v)| IdxEdit::Header(f, v)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| IdxEdit::Byte(i, b)),
        2 => any::<Index>().prop_map(IdxEdit::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..20).prop_map(IdxEdit::Append),
        1 => Just(IdxEdit::BrokenGzip),
        1 => Just(IdxEdit::Remove),
        2 => prop_oneof![0u32..4, Just(12)].prop_map(IdxEdit::Count),
        1 => prop_oneof![Just(0u8), Just(1), Just(255)].prop_map(IdxEdit::Labels),
    ]
}

fn images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [0x803, n, rows, cols] {
        out.extend_from_slice(&u32::to_be_bytes(word));
    }
    out.extend((0..n * rows * cols).map(|i| (i * 37 % 256) as u8));
    out
}

fn labels(n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [0x801, n] {
        out.extend_from_slice(&u32::to_be_bytes(word));
    }
    out.extend((0..n).map(|i| (i % 3) as u8));
    out
}

/// Writes a valid IDX set of 12 training and 4 test images of 4x3 into `dir`, then applies
/// `edits` (file index, edit); `gzip[k]` gzips file `k`.
pub fn write_idx(dir: &Path, edits: &[(usize, IdxEdit)], gzip: [bool; 4]) {
    let mut files = [images(12, 4, 3), labels(12), images(4, 4, 3), labels(4)].map(Some);
    let mut broken = [false; 4];
    for (k, edit) in edits {
        let Some(bytes) = files[*k].as_mut() else {
            continue;
        };
        match edit {
            IdxEdit::Header(field, word) => {
                let at = field * 4;
                if bytes.len() >= at + 4 {
                    bytes[at..at + 4].copy_from_slice(&word.to_be_bytes());
                }
            }
            IdxEdit::Byte(i, b) if !bytes.is_empty() => {
                let at = i.index(bytes.len());
                bytes[at] = *b;
            }
            IdxEdit::Truncate(i) => {
                let len = i.index(bytes.len() + 1);
                bytes.truncate(len);
            }
            IdxEdit::Append(more) => bytes.extend_from_slice(more),
            IdxEdit::Replace(all) => *bytes = all.clone(),
            IdxEdit::BrokenGzip => broken[*k] = true,
            IdxEdit::Remove => files[*k] = None,
            IdxEdit::Count(n) if k % 2 == 0 => *bytes = images(*n, 4, 3),
            IdxEdit::Count(n) => *bytes = labels(*n),
            IdxEdit::Labels(l) if k % 2 == 1 && bytes.len() > 8 => bytes[8..].fill(*l),
            IdxEdit::Byte(..) | IdxEdit::Labels(_) => {}
        }
    }
    for (k, name) in IDX_FILES.iter().enumerate() {
        let Some(bytes) = &files[k] else { continue };
        if gzip[k] || broken[k] {
            let mut gz = gzip_bytes(bytes);
            if broken[k] {
                gz.truncate(gz.len() / 2);
            }
            std::fs::write(dir.join(format!("{name}.gz")), gz).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The six CIFAR-10 batch files, in the order edits name them.
const CIFAR_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];
/// Bytes of one CIFAR-10 record: a label and a 3x32x32 image.
const RECORD: usize = 1 + 3 * 32 * 32;

/// One change to a CIFAR-10 batch file.
#[derive(Clone, Debug)]
pub enum CifarEdit {
    /// The label byte of record `r` (of 2).
    Label(usize, u8),
    Truncate(Index),
    Append(Vec<u8>),
    Empty,
    Remove,
}

pub fn cifar_edit() -> impl Strategy<Value = CifarEdit> {
    prop_oneof![
        3 => (0usize..2, prop_oneof![0u8..12, any::<u8>()]).prop_map(|(r, l)| CifarEdit::Label(r, l)),
        2 => any::<Index>().prop_map(CifarEdit::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..10).prop_map(CifarEdit::Append),
        1 => Just(CifarEdit::Empty),
        1 => Just(CifarEdit::Remove),
    ]
}

/// Writes six CIFAR-10 batches of two records each into `dir`, then applies `edits`.
pub fn write_cifar(dir: &Path, edits: &[(usize, CifarEdit)]) {
    let batch = |k: usize| -> Vec<u8> {
        (0..2)
            .flat_map(|r| {
                let mut record = vec![((k * 2 + r) % 10) as u8];
                record.extend((0..RECORD - 1).map(|i| ((i + k) % 251) as u8));
                record
            })
            .collect()
    };
    let mut files: Vec<Option<Vec<u8>>> = (0..6).map(|k| Some(batch(k))).collect();
    for (k, edit) in edits {
        let Some(bytes) = files[*k].as_mut() else {
            continue;
        };
        match edit {
            CifarEdit::Label(r, label) => {
                if bytes.len() > r * RECORD {
                    bytes[r * RECORD] = *label;
                }
            }
            CifarEdit::Truncate(i) => {
                let len = i.index(bytes.len() + 1);
                bytes.truncate(len);
            }
            CifarEdit::Append(more) => bytes.extend_from_slice(more),
            CifarEdit::Empty => bytes.clear(),
            CifarEdit::Remove => files[*k] = None,
        }
    }
    for (k, name) in CIFAR_FILES.iter().enumerate() {
        if let Some(bytes) = &files[k] {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
