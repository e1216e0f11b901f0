//! The machinery of `fuzz_parsers.rs`: the base inputs, the mutations, and the checks that
//! run each input through its parser and, when it is accepted, through what comes next.
#![allow(dead_code)]

mod data;
mod edits;

use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

use nas::arch::Architecture;
use nas::data::{DatasetSpec, LoadOptions};
use nas::space::Space;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError};
use rand::SeedableRng;
use serde_json::{json, Value};

pub use data::{cifar_edit, idx_edit, write_cifar, write_idx, IdxEdit};
pub use edits::{edits, mutate};

/// The shipped cell spaces, the bases of the space mutations.
pub const CELL_SPACES: &[&str] = &[
    "resnet-cells.toml",
    "bottleneck-cells.toml",
    "inception-cells.toml",
    "dense-cells.toml",
    "mixed-cells.toml",
];

/// The seed used unless `NAS_FUZZ_SEED` says otherwise, so a failure in CI replays.
const DEFAULT_SEED: u64 = 0x6e61_735f_6675_7a7a;

/// Proptest settings: `default` cases unless `NAS_FUZZ_CASES` is set, the fixed seed unless
/// `NAS_FUZZ_SEED` is set, and no regression files (found cases live in `FOUND_*`).
pub fn config(default: u32) -> Config {
    let cases = std::env::var("NAS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let seed = match std::env::var("NAS_FUZZ_SEED").ok().as_deref() {
        Some("random") => RngSeed::Random,
        Some(n) => RngSeed::Fixed(n.parse().expect("NAS_FUZZ_SEED: a number or `random`")),
        None => RngSeed::Fixed(DEFAULT_SEED),
    };
    Config {
        cases,
        rng_seed: seed,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

/// A fresh scratch folder for one case.
pub struct Sandbox(tempfile::TempDir);

impl Sandbox {
    pub fn new(prefix: &str) -> Sandbox {
        Sandbox(
            tempfile::Builder::new()
                .prefix(&format!("nas-fuzz-{prefix}"))
                .tempdir()
                .expect("temp dir"),
        )
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The text of a shipped file of `search_spaces/`, without its comments (mutating prose finds
/// nothing but syntax errors).
pub fn shipped(name: &str) -> String {
    let path = super::common::repo().join("search_spaces").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| l.split(" #").next().unwrap_or(""))
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

/// The header and first rows of the shipped toy table (the whole one is slow to re-read
/// thousands of times, and missing rows are allowed).
pub fn small_table() -> String {
    static TABLE: LazyLock<String> = LazyLock::new(|| {
        shipped("toy-table.csv")
            .lines()
            .take(41)
            .map(|l| format!("{l}\n"))
            .collect()
    });
    TABLE.clone()
}

/// Architecture JSON of random samples of every shipped cell space.
pub fn architectures() -> &'static [String] {
    static ARCHS: LazyLock<Vec<String>> = LazyLock::new(|| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut out = Vec::new();
        for name in CELL_SPACES {
            let path = super::common::repo().join("search_spaces").join(name);
            let space = Space::from_file(&path).expect("shipped space");
            for _ in 0..4 {
                let arch = space.decode(&space.sample(&mut rng)).expect("decodes");
                out.push(arch.to_json());
            }
        }
        out
    });
    &ARCHS
}

/// The element of `items` that `index` picks.
pub fn pick<'a, T>(items: &'a [T], index: &Index) -> &'a T {
    &items[index.index(items.len())]
}

/// Checks that an error's message is one non-empty line, and names `file` when given.
pub fn one_line(err: &nas::Error, file: Option<&str>) -> Result<(), TestCaseError> {
    let msg = err.to_string();
    prop_assert!(!msg.trim().is_empty(), "empty message: {err:?}");
    prop_assert!(!msg.contains('\n'), "message of several lines: {msg}");
    if let Some(file) = file {
        prop_assert!(msg.contains(file), "`{file}` not named in: {msg}");
    }
    Ok(())
}

/// Parses a space file's text; when it is accepted, decodes, lowers and counts a few of its
/// architectures and checks that bad decision vectors are refused.
pub fn space(text: &str, path: &Path) -> Result<(), TestCaseError> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let space = match Space::parse(text, path) {
        Ok(space) => space,
        Err(err) => {
            let msg = err.to_string();
            prop_assert!(
                msg.contains(&name) || msg.contains("toy-table.csv"),
                "neither file named in: {msg}"
            );
            return one_line(&err, None);
        }
    };
    let _ = (space.size(), space.decisions().len(), space.kind());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(text.len() as u64);
    for _ in 0..3 {
        let decisions = space.sample(&mut rng);
        match space.decode(&decisions) {
            Ok(arch) => architecture_value(&arch)?,
            Err(err) => one_line(&err, None)?,
        }
    }
    let n = space.decisions().len();
    for bad in [vec![0; n + 1], vec![usize::MAX; n]] {
        if n > 0 || bad.len() != n {
            prop_assert!(space.decode(&bad).is_err(), "decoded {bad:?}");
        }
    }
    Ok(())
}

/// Parses architecture JSON; when it is accepted, lowers and counts it.
pub fn architecture(text: &str) -> Result<(), TestCaseError> {
    match Architecture::from_json(text, Some(Path::new("arch.json"))) {
        Ok(arch) => architecture_value(&arch),
        Err(err) => one_line(&err, Some("arch.json")),
    }
}

/// Lowers an architecture and counts it; its JSON must read back to the same network.
fn architecture_value(arch: &Architecture) -> Result<(), TestCaseError> {
    let _ = (arch.hash(), arch.summary());
    match arch.lower() {
        Ok(graph) => {
            let _ = (graph.params(), graph.macs(), graph.classes());
            let _ = nas::train::activation_bytes(&graph, 256);
            if let Err(err) = graph.validate() {
                one_line(&err, None)?;
            }
            let back = Architecture::from_json(&arch.to_json(), None);
            prop_assert!(back.is_ok(), "lowered but does not read back: {back:?}");
            prop_assert_eq!(back.unwrap().hash(), arch.hash());
            Ok(())
        }
        Err(err) => one_line(&err, None),
    }
}

/// A `train_size` or `val_size`: none, small, or absurd.
pub fn size() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        3 => Just(None),
        3 => (0usize..30).prop_map(Some),
        1 => Just(Some(usize::MAX)),
    ]
}

/// Loads a data set; when it loads, checks what a trainer relies on.
pub fn dataset(
    spec: &DatasetSpec,
    (train_size, val_size, clamp): (Option<usize>, Option<usize>, bool),
) -> Result<(), TestCaseError> {
    let opts = LoadOptions {
        seed: 1,
        train_size,
        val_size,
        augment: None,
        clamp,
        image_size: None,
    };
    let data = match nas::data::load(spec, &opts) {
        Ok(data) => data,
        Err(err) => return one_line(&err, None),
    };
    let image_len = data.image_len();
    prop_assert!(data.classes >= 2, "{} classes", data.classes);
    for split in [&data.train, &data.val, &data.test] {
        prop_assert_eq!(split.images.len(), split.len * image_len);
        prop_assert_eq!(split.labels.len(), split.len);
        prop_assert!(split.labels.iter().all(|&l| (l as usize) < data.classes));
    }
    prop_assert!(data.train.len > 0 && data.val.len > 0 && data.test.len > 0);
    prop_assert!(data.mean.iter().chain(&data.std).all(|v| v.is_finite()));
    Ok(())
}

/// A JSON number, mostly from `typical`, sometimes extreme or not a number at all.
fn field(typical: &'static [u64]) -> impl Strategy<Value = Value> {
    prop_oneof![
        40 => proptest::sample::select(typical).prop_map(|v| json!(v)),
        1 => (0..EXTREMES.len()).prop_map(extreme),
    ]
}

/// Values that break careless arithmetic or typing.
const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "-9223372036854775808",
    "1.5",
    "1e300",
    "\"3\"",
    "null",
    "[]",
    "true",
    "65537",
    "1099511627776",
];

/// The `i`th extreme value.
pub fn extreme(i: usize) -> Value {
    serde_json::from_str(EXTREMES[i % EXTREMES.len()]).expect("valid JSON")
}

const KERNELS: &[u64] = &[1, 3, 3, 5, 7, 11, 2];
const WIDTHS: &[u64] = &[1, 2, 4, 8, 16, 24, 32, 3];
const SMALL: &[u64] = &[0, 1, 2, 3, 4];

fn block_value() -> impl Strategy<Value = Value> {
    let kind = proptest::sample::select(
        &[
            "residual",
            "bottleneck",
            "inception",
            "dense",
            "residual",
            "bottleneck",
            "inception",
            "dense",
            "conv",
        ][..],
    );
    (
        kind,
        field(KERNELS),
        field(WIDTHS),
        field(SMALL),
        field(SMALL),
    )
        .prop_map(|(kind, kernel, out, a, b)| match kind {
            "residual" => json!({"type": kind, "kernel": kernel, "out": out}),
            "bottleneck" => {
                json!({"type": kind, "kernel": kernel, "out": out, "expansion": a, "groups": b})
            }
            "inception" => json!({"type": kind, "kernel": kernel, "out": out, "branches": a}),
            "dense" => json!({"type": kind, "kernel": kernel, "growth": out, "layers": a}),
            _ => json!({"type": kind, "kernel": kernel}),
        })
}

fn stage_value() -> impl Strategy<Value = Value> {
    let reduce = proptest::sample::select(
        &[
            "null",
            "\"conv\"",
            "\"max_pool\"",
            "\"transition\"",
            "null",
            "\"conv\"",
            "\"max_pool\"",
            "\"transition\"",
            "\"avg\"",
        ][..],
    );
    let cell = (
        block_value(),
        proptest::collection::vec(field(&[0, 1, 2]), 0..2),
    )
        .prop_map(|(block, skips)| json!({"block": block, "skips": skips}));
    (reduce, field(WIDTHS), proptest::collection::vec(cell, 0..4)).prop_map(
        |(reduce, channels, cells)| {
            let reduce: Value = serde_json::from_str(reduce).unwrap();
            json!({"reduce": reduce, "channels": channels, "cells": cells})
        },
    )
}

/// Architecture JSON with every field drawn separately: mostly plausible, sometimes not.
pub fn arch_value() -> impl Strategy<Value = Value> {
    const SIDES: &[u64] = &[1, 4, 8, 16, 28, 32, 3];
    let input = (field(&[1, 3]), field(SIDES), field(SIDES));
    let dropout = proptest::sample::select(
        &[
            "0.0", "0.0", "0.0", "0.5", "0.99", "-0.5", "1.0", "1e39", "1e-45",
        ][..],
    );
    (
        input,
        field(&[2, 10, 10, 100, 1]),
        (field(WIDTHS), field(KERNELS)),
        proptest::collection::vec(stage_value(), 0..4),
        dropout,
    )
        .prop_map(
            |((c, h, w), classes, (channels, kernel), stages, dropout)| {
                let dropout: Value = serde_json::from_str(dropout).unwrap();
                json!({
                    "input": [c, h, w], "classes": classes,
                    "stem": {"channels": channels, "kernel": kernel},
                    "stages": stages, "dropout": dropout,
                })
            },
        )
}

/// Byte ranges of numbers in `text` (runs of digits with an optional fraction).
pub fn number_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            spans.push(start..i);
        } else {
            i += 1;
        }
    }
    spans
}

/// Space files the fuzzing found that broke a promise (a panic, a message of several lines);
/// each must now be accepted or refused with a one-line message.
pub const FOUND_SPACES: &[&str] = &[
    // a TOML escape put a newline into the quoted cell type of the message
    "version = 1\nname = \"s\"\n[skeleton]\nstem_channels = 8\nstages = 2\nreduce = \"conv\"\n\
     channel_growth = 2.0\n[choices]\ncells_per_stage = [1]\ncell = [\"inceptio\\n\"]\nkernel = [3]\n",
];

/// Architecture JSON the fuzzing found, or that reached the bugs it found by another path; each
/// must now be refused with a one-line message, never a panic.
pub const FOUND_ARCHITECTURES: &[&str] = &[
    // an escaped newline in an unknown field name, quoted by serde into the message
    r#"{"input": [1, 8, 8], "classes": 3, "stem": {"channels": 4, "kernel": 3}, "stages": [], "dropou\nt": 0.0}"#,
    // MAC count overflow (graph.rs node_macs multiplied unchecked)
    r#"{"input": [1, 8, 8], "classes": 18446744073709551615, "stem": {"channels": 4, "kernel": 3}, "stages": []}"#,
    r#"{"input": [1, 4294967296, 4294967296], "classes": 3, "stem": {"channels": 4294967296, "kernel": 3}, "stages": []}"#,
    // a dropout that is infinite as f32 was written back as null and could not be read again
    r#"{"input": [1, 8, 8], "classes": 3, "stem": {"channels": 4, "kernel": 3}, "stages": [], "dropout": 1e39}"#,
    // a skip to an anchor that does not exist (lower indexed past the anchors)
    r#"{"input": [1, 8, 8], "classes": 3, "stem": {"channels": 4, "kernel": 3}, "stages": [{"reduce": null, "channels": 4, "cells": [{"block": {"type": "residual", "kernel": 3, "out": 4}, "skips": [5]}]}]}"#,
    // zero inception branches and zero bottleneck groups (divisions by zero in lowering)
    r#"{"input": [1, 8, 8], "classes": 3, "stem": {"channels": 4, "kernel": 3}, "stages": [{"reduce": null, "channels": 4, "cells": [{"block": {"type": "inception", "kernel": 3, "out": 4, "branches": 0}}]}]}"#,
    r#"{"input": [1, 8, 8], "classes": 3, "stem": {"channels": 4, "kernel": 3}, "stages": [{"reduce": null, "channels": 4, "cells": [{"block": {"type": "bottleneck", "kernel": 3, "out": 4, "expansion": 1, "groups": 0}}]}]}"#,
    // a dense growth whose 4x bottleneck width overflows, and a dense cell too long to lower
    r#"{"input": [1, 8, 8], "classes": 3, "stem": {"channels": 4, "kernel": 3}, "stages": [{"reduce": null, "channels": 4, "cells": [{"block": {"type": "dense", "kernel": 3, "growth": 4611686018427387904, "layers": 1}}]}]}"#,
    r#"{"input": [1, 8, 8], "classes": 3, "stem": {"channels": 4, "kernel": 3}, "stages": [{"reduce": null, "channels": 4, "cells": [{"block": {"type": "dense", "kernel": 3, "growth": 4, "layers": 1000000000}}]}]}"#,
    // a kernel whose reach overflows the shape arithmetic
    r#"{"input": [1, 8, 8], "classes": 3, "stem": {"channels": 4, "kernel": 18446744073709551615}, "stages": []}"#,
];
