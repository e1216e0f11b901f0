//! A corpus of bad inputs across the project, each run through the binary: every one must exit
//! with code 2 and a first line naming what was wrong and where, never a panic or a backtrace,
//! and must leave nothing half-written (no run folder, no export folder).
//!
//! Each test is a table of cases of one shape; the last test counts them all.

mod common;

use std::path::Path;

use common::{nas, scratch};

const GOOD_SPACE: &str = "version = 1\nname = \"s\"\n[skeleton]\nstem_channels = 8\nstages = 2\n\
reduce = \"conv\"\nchannel_growth = 2.0\n[choices]\ncells_per_stage = [1, 2]\ncell = [\"residual\"]\n\
kernel = [3, 5]\n";

const GOOD_TABLE: &str = "version = 1\nname = \"t\"\nkind = \"table\"\ntable = \"t.csv\"\n\
reward = \"acc\"\n[[decision]]\nname = \"a\"\nchoices = [\"x\", \"y\"]\n";

const GOOD_ARCH: &str = r#"{"input": [1, 8, 8], "classes": 3, "stem": {"channels": 4, "kernel": 3},
"stages": [{"reduce": null, "channels": 4, "cells": [
  {"block": {"type": "residual", "kernel": 3, "out": 4}},
  {"block": {"type": "dense", "kernel": 3, "growth": 2, "layers": 2}, "skips": [0]}]}],
"dropout": 0.0}"#;

/// Writes `name` with `content` into `dir` and returns its path as a string.
fn file(dir: &Path, name: &str, content: &[u8]) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs `args` in `dir` and checks exit code 2, no panic, and a first line on stderr that
/// starts with `error: ` and contains `want`.
fn refused(dir: &Path, args: &[&str], want: &str) {
    refused_naming(dir, args, &[want]);
}

/// As [`refused`], with a first line that contains every one of `wants`.
fn refused_naming(dir: &Path, args: &[&str], wants: &[&str]) {
    let out = nas(dir)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} exited {:?}: {err}",
        out.status.code()
    );
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{args:?}: {err}"
    );
    let first = err
        .lines()
        .find(|l| !l.starts_with("warning: "))
        .unwrap_or("");
    assert!(first.starts_with("error: "), "{args:?}: {err}");
    let parts: Vec<&str> = first.split(": ").collect();
    assert!(
        parts.windows(2).all(|w| w[0] != w[1]),
        "{args:?}: a cause repeated in: {first}"
    );
    for want in wants {
        assert!(
            first.contains(want),
            "{args:?}: want `{want}` in the first line of: {err}"
        );
    }
}

/// Checks that a refused command left `path` (relative to `dir`) unwritten.
fn absent(dir: &Path, path: &str) {
    assert!(!dir.join(path).exists(), "{path} was left behind");
}

/// Space files that differ from `GOOD_SPACE` by one replacement: (from, to, wanted message).
#[rustfmt::skip]
const SPACE_EDITS: &[(&str, &str, &str)] = &[
    ("stages = 2", "stages = 2\nbogus = 1", ":6:1: field `bogus`: unknown field"),
    ("version = 1", "version = 3", ":1:11: field `version`"),
    ("version = 1", "version = -1", "field `version`"),
    ("version = 1\n", "", "missing field `version`"),
    ("kernel = [3, 5]", "kernel = [2]", ":11:10: field `choices.kernel`"),
    ("kernel = [3, 5]", "kernel = [13]", "field `choices.kernel`: 13 is out of range 1 to 11"),
    ("kernel = [3, 5]", "kernel = []", "field `choices.kernel`: must list at least one"),
    ("cell = [\"residual\"]", "cell = [\"conv\"]", "field `choices.cell`: unknown cell type"),
    ("cell = [\"residual\"]", "cell = []", "field `choices.cell`: must list at least one"),
    ("cell = [\"residual\"]", "cell = [\"dense\"]", "field `choices.growth`: required"),
    ("kernel = [3, 5]", "kernel = [3]\nexpansion = [2]", "field `choices.expansion`: applies only to bottleneck"),
    ("stages = 2", "stages = 0", "field `skeleton.stages`: 0 is out of range"),
    ("stages = 2", "stages = 7", "field `skeleton.stages`: 7 is out of range 1 to 6"),
    ("stages = 2", "stages = 2.5", "field `skeleton.stages`"),
    ("stem_channels = 8", "stem_channels = 5000", "field `skeleton.stem_channels`"),
    ("stem_channels = 8", "stem_channels = 18446744073709551616", "field `skeleton.stem_channels`"),
    ("stages = 2", "stages = 2\nstem_kernel = 4", "field `skeleton.stem_kernel`: kernel 4 must be odd"),
    ("channel_growth = 2.0", "channel_growth = \"x\"", "field `skeleton.channel_growth`"),
    ("channel_growth = 2.0", "channel_growth = nan", "field `skeleton.channel_growth`: NaN is out of range"),
    ("channel_growth = 2.0", "channel_growth = inf", "field `skeleton.channel_growth`: inf is out of range"),
    ("channel_growth = 2.0", "channel_growth = 2.0\ndropout = 1.5", "field `skeleton.dropout`"),
    ("channel_growth = 2.0", "channel_growth = 2.0\ndropout = nan", "field `skeleton.dropout`"),
    ("[choices]", "[choices", ".toml:8:"),
    ("cells_per_stage = [1, 2]", "cells_per_stage = [1, 1]", "1 is listed twice"),
    ("cells_per_stage = [1, 2]", "cells_per_stage = [9]", "field `choices.cells_per_stage`: 9 is out of range"),
    ("cells_per_stage = [1, 2]", "cells_per_stage = [-1]", "field `choices.cells_per_stage`"),
    ("kernel = [3, 5]", "kernel = [3]\nwidth = [nan]", "field `choices.width`"),
    ("kernel = [3, 5]", "kernel = [3]\nwidth = [0.01]", "field `choices.width`: 0.01 is out of range"),
    ("kernel = [3, 5]", "kernel = [3]\nwidth = [1.0, 1.0]", "field `choices.width`: 1 is listed twice"),
    ("reduce = \"conv\"", "reduce = \"avg\"", "field `skeleton.reduce`"),
    ("name = \"s\"", "name = \"a b\"", "field `name`: must be letters"),
    ("name = \"s\"", "name = \"s\"\nname = \"t\"", "field `name`"),
    ("name = \"s\"", "name = \"s\"\nkind = \"graph\"", "field `kind`: unknown kind `graph`"),
    ("name = \"s\"", "name = \"s\"\nkind = 3", "field `kind`: must be a string"),
    ("[skeleton]", "[input]\nshape = [1, 28]\nclasses = 10\n[skeleton]", "field `input.shape`: must be three"),
    ("[skeleton]", "[input]\nshape = [1, 99999, 28]\nclasses = 10\n[skeleton]", "field `input.shape`: [1, 99999, 28] is too large"),
    ("[skeleton]", "[input]\nshape = [1, 28, 28]\nclasses = 1\n[skeleton]", "field `input.classes`: 1 is out of range 2 to 100000"),
];

#[test]
fn bad_space_files_are_refused_with_file_line_and_field() {
    let d = scratch();
    let dir = d.path();
    for (i, (from, to, want)) in SPACE_EDITS.iter().enumerate() {
        assert!(GOOD_SPACE.contains(from), "{from}");
        let name = format!("edit{i}.toml");
        let path = file(dir, &name, GOOD_SPACE.replacen(from, to, 1).as_bytes());
        refused_naming(dir, &["space", "show", &path], &[want, &name]);
    }
    let bin = file(dir, "binary.toml", &[0xff, 0xfe, 0x00, 0x12]);
    #[rustfmt::skip]
    let cases: &[(&[&str], &str)] = &[
        (&["space", "show", "no-such-space"], "unknown search space `no-such-space`"),
        (&["space", "show", "missing/file.toml"], "missing/file.toml: No such file or directory (os error 2)"),
        (&["space", "show", &bin], "binary.toml"),
        (&["space", "show", "."], "unknown search space `.`"),
        (&["space", "sample", "missing/file.toml"], "missing/file.toml"),
        (&["search", "--space", "missing/file.toml"], "missing/file.toml"),
    ];
    for (args, want) in cases {
        refused(dir, args, want);
    }
    absent(dir, "runs");
}

/// Table spaces: (space text, CSV text or `None` for no file, wanted message).
#[rustfmt::skip]
const TABLE_CASES: &[(&str, Option<&str>, &str)] = &[
    (GOOD_TABLE, Some("arch,acc\n0,0.5\n1,oops\n"), "t.csv: line 3: `acc` is not a number"),
    (GOOD_TABLE, Some("arch,acc\n0,0.5\n1,nan\n"), "t.csv: line 3: `acc` is not a number"),
    (GOOD_TABLE, Some("arch,acc\n0,0.5\n7,0.6\n"), "line 3: key `7`"),
    (GOOD_TABLE, Some("arch,acc\n0,0.5\n0-1,0.6\n"), "line 3: key `0-1` has 2 parts"),
    (GOOD_TABLE, Some("arch,acc\n0,0.5\n0,0.6\n"), "line 3: key `0` appears twice"),
    (GOOD_TABLE, Some("key,acc\n0,0.5\n"), "no `arch` column"),
    (GOOD_TABLE, Some("arch,loss\n0,0.5\n"), "no `acc` column"),
    (GOOD_TABLE, Some("arch,acc\n0,0.5,9\n"), "t.csv: line 2"),
    (GOOD_TABLE, Some(""), "t.csv: line 1: no `arch` column"),
    (GOOD_TABLE, None, "table file"),
    ("version = 1\nname = \"t\"\nkind = \"table\"\ntable = \"t.csv\"\nreward = \"acc\"\n",
        Some("arch,acc\n"), "field `decision`: a table space needs"),
    ("version = 1\nname = \"t\"\nkind = \"table\"\ntable = \"t.csv\"\nreward = \"acc\"\n[[decision]]\nname = \"a\"\nchoices = [\"x\"]\n",
        Some("arch,acc\n"), "field `decision.choices`: needs at least two"),
    ("version = 1\nname = \"t\"\nkind = \"table\"\ntable = \"t.csv\"\nreward = \"acc\"\n[[decision]]\nname = \"a\"\nchoices = [\"x\", \"y\"]\n[[decision]]\nname = \"a\"\nchoices = [\"x\", \"y\"]\n",
        Some("arch,acc\n"), "field `decision.name`: `a` is used twice"),
    ("version = 1\nname = \"t\"\nkind = \"table\"\ntable = \".\"\nreward = \"acc\"\n[[decision]]\nname = \"a\"\nchoices = [\"x\", \"y\"]\n",
        Some("arch,acc\n"), "field `table`: table file"),
    ("version = 1\nname = \"t\"\nkind = \"table\"\nreward = \"acc\"\n[[decision]]\nname = \"a\"\nchoices = [\"x\", \"y\"]\n",
        Some("arch,acc\n"), "missing field `table`"),
];

#[test]
fn bad_table_spaces_name_the_csv_line() {
    let d = scratch();
    let dir = d.path();
    for (space, csv, want) in TABLE_CASES {
        let path = file(dir, "t.toml", space.as_bytes());
        let _ = std::fs::remove_file(dir.join("t.csv"));
        if let Some(csv) = csv {
            file(dir, "t.csv", csv.as_bytes());
        }
        refused(dir, &["space", "show", &path], want);
    }
    file(dir, "t.toml", GOOD_TABLE.as_bytes());
    file(dir, "t.csv", b"arch,acc\n0,0.5\n1,x\n");
    refused(dir, &["search", "--space", "t.toml"], "t.csv: line 3");
    absent(dir, "runs");
}

/// Flags of every command with values that make no sense: (arguments, wanted message).
#[rustfmt::skip]
const FLAG_CASES: &[(&[&str], &str)] = &[
    (&["search", "--space", "toy-table", "--samples", "0"], "--samples"),
    (&["search", "--space", "toy-table", "--samples", "many"], "many"),
    (&["search", "--space", "toy-table", "--batch", "0"], "--batch"),
    (&["search", "--space", "toy-table", "--workers", "0"], "--workers"),
    (&["search", "--space", "toy-table", "--workers", "5000"], "5000 is out of range: must be 1 to 1024"),
    (&["search", "--space", "toy-table", "--threads", "0"], "--threads"),
    (&["search", "--space", "toy-table", "--threads", "100000"], "--threads"),
    (&["search", "--space", "toy-table", "--epochs", "0"], "--epochs"),
    (&["search", "--space", "toy-table", "--train-size", "0"], "--train-size"),
    (&["search", "--space", "toy-table", "--val-size", "-1"], "--val-size"),
    (&["search", "--space", "toy-table", "--lr", "nan"], "--lr"),
    (&["search", "--space", "toy-table", "--lr", "0"], "--lr"),
    (&["search", "--space", "toy-table", "--lr", "-0.1"], "-0.1 is out of range"),
    (&["search", "--space", "toy-table", "--lr", "inf"], "--lr"),
    (&["search", "--space", "toy-table", "--batch-size", "0"], "--batch-size"),
    (&["search", "--space", "toy-table", "--max-params", "0"], "--max-params"),
    (&["search", "--space", "toy-table", "--max-macs", "-5"], "--max-macs"),
    (&["search", "--space", "toy-table", "--target-params", "0"], "--target-params"),
    (&["search", "--space", "toy-table", "--keep-top", "-1"], "--keep-top"),
    (&["search", "--space", "toy-table", "--controller-lr", "inf"], "--controller-lr"),
    (&["search", "--space", "toy-table", "--controller-hidden", "0"], "--controller-hidden"),
    (&["search", "--space", "toy-table", "--controller-hidden", "100000000"], "must be 1 to 4096"),
    (&["search", "--space", "toy-table", "--entropy-weight", "-1"], "--entropy-weight"),
    (&["search", "--space", "toy-table", "--baseline-decay", "1"], "--baseline-decay"),
    (&["search", "--space", "toy-table", "--baseline-decay", "nan"], "--baseline-decay"),
    (&["search", "--space", "toy-table", "--tanh-c", "0"], "--tanh-c"),
    (&["search", "--space", "toy-table", "--temperature", "-1"], "--temperature"),
    (&["search", "--space", "toy-table", "--population", "0"], "--population"),
    (&["search", "--space", "toy-table", "--tournament", "0"], "--tournament"),
    (&["search", "--space", "toy-table", "--seed", "-1"], "--seed"),
    (&["search", "--space", "toy-table", "--strategy", "genetic"], "genetic"),
    (&["search", "--space", "resnet-cells", "--dataset", "imagenet"], "imagenet"),
    (&["search", "--space", "resnet-cells", "--dataset", "idx:"], "names no folder"),
    (&["search", "--space", "resnet-cells", "--device", "tpu:0", "--samples", "1"], "tpu:0"),
    (&["search", "--space", "resnet-cells", "--val-size", "0"], "--val-size"),
    (&["train", "--zoo", "lenet5", "--epochs", "0"], "--epochs"),
    (&["train", "--zoo", "lenet5", "--batch-size", "0"], "--batch-size"),
    (&["train", "--zoo", "lenet5", "--lr", "nan"], "--lr"),
    (&["train", "--zoo", "lenet5", "--threads", "0"], "--threads"),
    (&["train", "--zoo", "lenet5", "--train-size", "0"], "--train-size"),
    (&["train", "--zoo", "lenet5", "--dataset", "synthetic", "--train-size", "100000"], "invalid --train-size: 100000 is out of range"),
    (&["train", "--zoo", "lenet5", "--dataset", "synthetic", "--val-size", "100000"], "invalid --val-size: 100000 is out of range"),
    (&["train", "--zoo", "resnet9000", "--dataset", "synthetic"], "unknown zoo network `resnet9000`"),
    (&["train", "--zoo", "lenet5", "--dataset", "svhn:x"], "unknown data set kind `svhn`"),
    (&["show", "ghost", "--top", "0"], "--top"),
    (&["space", "sample", "resnet-cells", "-n", "0"], "-n"),
    (&["space", "sample", "resnet-cells", "-n", "-3"], "invalid value '-3' for '--n <N>'"),
    (&["zoo", "show", "lenet5", "--classes", "-1"], "invalid value '-1' for '--classes"),
    (&["show", "ghost", "--top", "-1"], "invalid value '-1' for '--top"),
    (&["space", "sample", "resnet-cells", "--seed", "x"], "--seed"),
    (&["zoo", "show", "resnet9000"], "unknown zoo network `resnet9000`"),
    (&["zoo", "show", "alexnet", "--input", "3x16x16"], "alexnet"),
    (&["zoo", "show", "lenet5", "--input", "1x28"], "expected CxHxW"),
    (&["zoo", "show", "lenet5", "--input", "0x28x28"], "expected CxHxW"),
    (&["zoo", "show", "lenet5", "--input", "1x99999x28"], "invalid --input `1x99999x28`: at most"),
    (&["zoo", "show", "lenet5", "--input", "1x18446744073709551615x28"], "--input"),
    (&["zoo", "show", "lenet5", "--classes", "1"], "--classes"),
    (&["zoo", "show", "lenet5", "--classes", "18446744073709551615"], "must be 2 to 100000"),
    (&["export", "--zoo", "lenet5", "--classes", "0", "--out", "out"], "--classes"),
    (&["export", "--zoo", "lenet5", "--input", "1x9x9", "--out", "out"], "smallest input lenet5 takes"),
    (&["export", "--zoo", "lenet5", "--mean", "0.5", "--std", "0", "--out", "out"], "--std"),
    (&["export", "--zoo", "lenet5", "--mean", "nan", "--std", "0.5", "--out", "out"], "--mean"),
    (&["export", "--zoo", "lenet5", "--mean", "1.5", "--std", "0.5", "--out", "out"], "--mean"),
    (&["export", "--zoo", "lenet5", "--mean", "0.5,0.5", "--std", "0.5", "--out", "out"], "--mean and --std need one value per channel"),
    (&["export", "--zoo", "lenet5", "--mean", "0.5,0.5", "--std", "0.5,0.5", "--out", "out"],
        "invalid --mean/--std: 2 means and 2 deviations given, but `lenet5` takes 1-channel"),
    (&["export", "--zoo", "vgg16", "--input", "3x8000x8001", "--out", "out"], "parameters is more than"),
    (&["export", "ghost", "--top", "0"], "--top"),
    (&["export", "ghost", "--id", "x"], "--id"),
    (&["bench", "train", "--steps", "0"], "--steps"),
    (&["bench", "train", "--batch-size", "0"], "--batch-size"),
    (&["bench", "train", "--eval-batch-size", "0"], "--eval-batch-size"),
    (&["bench", "train", "--threads", "0"], "--threads"),
    (&["bench", "train", "--warmup", "-1"], "--warmup"),
];

#[test]
fn bad_command_line_values_are_refused() {
    let d = scratch();
    let dir = d.path();
    for (args, want) in FLAG_CASES {
        refused(dir, args, want);
    }
    for left in ["runs", "out", "trained", "export"] {
        absent(dir, left);
    }
}

/// Architecture files that differ from `GOOD_ARCH` by one replacement: (from, to, wanted).
#[rustfmt::skip]
const ARCH_EDITS: &[(&str, &str, &str)] = &[
    ("{\"input\"", "[{\"input\"", "line 1 column 1: invalid type: map"),
    ("\"dropout\": 0.0", "\"dropout\": 0.0, \"extra\": 1", "unknown field `extra`"),
    ("\"classes\": 3", "\"classes\": \"3\"", "invalid type: string"),
    ("\"classes\": 3", "\"classes\": 1", "invalid input: 1 classes is out of range"),
    ("\"classes\": 3", "\"classes\": -3", "invalid value: integer `-3`"),
    ("[1, 8, 8]", "[1, 0, 8]", "input 1x0x8 has a zero dimension"),
    ("[1, 8, 8]", "[1, 8]", "invalid length 2"),
    ("[1, 8, 8]", "[1, 100000, 8]", "has a side longer than 8192"),
    ("[1, 8, 8]", "[5000, 8, 8]", "has more than 1024 channels"),
    ("\"channels\": 4, \"kernel\": 3}", "\"channels\": 4, \"kernel\": 4}", "`stem.kernel`: kernel 4 must be odd"),
    ("\"channels\": 4, \"kernel\": 3}", "\"channels\": 0, \"kernel\": 3}", "`stem.channels`: 0 is out of range"),
    ("\"kernel\": 3, \"out\": 4", "\"kernel\": 13, \"out\": 4", "`stages[0].cells[0].block.kernel`: kernel 13 must be odd, 1 to 11"),
    ("\"kernel\": 3, \"out\": 4", "\"kernel\": 3, \"out\": 0", "`stages[0].cells[0].block.out`: 0 is out of range"),
    ("\"kernel\": 3, \"out\": 4", "\"kernel\": 3, \"out\": 1e9", "invalid type: floating point"),
    ("\"kernel\": 3, \"out\": 4", "\"kernel\": 3, \"out\": 18446744073709551615", "`stages[0].cells[0].block.out`"),
    ("\"skips\": [0]", "\"skips\": [5]", "`stages[0].cells[1].skips`: 5 is not an earlier anchor"),
    ("\"skips\": [0]", "\"skips\": [1]", "`stages[0].cells[1].skips`: 1 is not an earlier anchor"),
    ("\"skips\": [0]", "\"skips\": [0, 0]", "`stages[0].cells[1].skips`: 0 is listed twice"),
    ("\"skips\": [0]", "\"skips\": [-1]", "invalid value: integer `-1`"),
    ("\"layers\": 2", "\"layers\": 65", "`stages[0].cells[1].block.layers`: 65 is out of range 1 to 64"),
    ("\"growth\": 2", "\"growth\": 0", "`stages[0].cells[1].block.growth`: 0 is out of range"),
    ("\"type\": \"dense\"", "\"type\": \"conv\"", "unknown variant `conv`"),
    ("\"dropout\": 0.0", "\"dropout\": 1.5", "`dropout`: 1.5 is out of range"),
    ("\"dropout\": 0.0", "\"dropout\": -0.1", "`dropout`: -0.1 is out of range"),
    ("\"dropout\": 0.0", "\"dropout\": 1e39", "number out of range at line 5 column 15"),
    ("\"reduce\": null", "\"reduce\": \"avg\"", "unknown variant `avg`"),
    ("\"stem\": {\"channels\": 4, \"kernel\": 3},", "", "missing field `stem`"),
    ("\"dropout\": 0.0}", "\"dropout\": 0.0", "EOF while parsing"),
    ("{\"block\": {\"type\": \"residual\", \"kernel\": 3, \"out\": 4}},",
        "{\"block\": {\"type\": \"inception\", \"kernel\": 3, \"out\": 2, \"branches\": 4}},",
        "`stages[0].cells[0].block.out`: 2 channels cannot be split into 4 branches"),
    ("{\"block\": {\"type\": \"residual\", \"kernel\": 3, \"out\": 4}},",
        "{\"block\": {\"type\": \"bottleneck\", \"kernel\": 3, \"out\": 4, \"expansion\": 0, \"groups\": 1}},",
        "`stages[0].cells[0].block.expansion`: 0 is out of range"),
    ("\"stages\": [{\"reduce\": null,",
        "\"stages\": [{\"reduce\": null, \"channels\": 4, \"cells\": []}, {\"reduce\": \"max_pool\", \"channels\": 4, \"cells\": []}, \
         {\"reduce\": \"max_pool\", \"channels\": 4, \"cells\": []}, {\"reduce\": \"max_pool\", \"channels\": 4, \"cells\": []}, {\"reduce\": \"max_pool\",",
        "window 2 does not fit input 1"),
    ("{\"block\": {\"type\": \"residual\", \"kernel\": 3, \"out\": 4}},",
        "{\"block\": {\"type\": \"residual\", \"kernel\": 11, \"out\": 32768}},",
        "parameters is more than"),
];

#[test]
fn bad_architecture_files_are_refused_naming_the_field() {
    let d = scratch();
    let dir = d.path();
    let good = file(dir, "good.json", GOOD_ARCH.as_bytes());
    let ok = nas(dir)
        .args(["export", "--arch", &good, "--out", "good-out"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    for (i, (from, to, want)) in ARCH_EDITS.iter().enumerate() {
        assert!(GOOD_ARCH.contains(from), "{from}");
        let name = format!("arch{i}.json");
        let path = file(dir, &name, GOOD_ARCH.replacen(from, to, 1).as_bytes());
        refused_naming(
            dir,
            &["export", "--arch", &path, "--out", "out"],
            &[want, &name],
        );
    }
    let bad = GOOD_ARCH.replacen("\"skips\": [0]", "\"skips\": [7]", 1);
    let bad = file(dir, "bad.json", bad.as_bytes());
    #[rustfmt::skip]
    let cases: &[(&[&str], &str)] = &[
        (&["export", "--arch", "missing.json"], "missing.json"),
        (&["export", "--arch", "."], "."),
        (&["train", "--arch", "missing.json", "--dataset", "synthetic"], "missing.json"),
        (&["train", "--arch", &bad, "--dataset", "synthetic"], "bad.json: `stages[0].cells[1].skips`"),
    ];
    for (args, want) in cases {
        refused(dir, args, want);
    }
    for left in ["out", "export", "trained"] {
        absent(dir, left);
    }
}

/// An IDX header: the magic number and the dimensions, big-endian.
fn idx_header(magic: u32, dims: &[u32]) -> Vec<u8> {
    std::iter::once(magic)
        .chain(dims.iter().copied())
        .flat_map(u32::to_be_bytes)
        .collect()
}

/// The bytes of an IDX images file of `n` images of `rows`x`cols`.
fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut out = idx_header(0x803, &[n, rows, cols]);
    out.resize(16 + (n * rows * cols) as usize, 7);
    out
}

/// The bytes of an IDX labels file.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = idx_header(0x801, &[labels.len() as u32]);
    out.extend_from_slice(labels);
    out
}

/// A valid IDX set in `dir/name`: 12 training and 4 test images of 4x4, three classes.
fn idx_set(dir: &Path, name: &str) {
    let labels: Vec<u8> = (0..12).map(|i| i % 3).collect();
    file(
        dir,
        &format!("{name}/train-images-idx3-ubyte"),
        &idx_images(12, 4, 4),
    );
    file(
        dir,
        &format!("{name}/train-labels-idx1-ubyte"),
        &idx_labels(&labels),
    );
    file(
        dir,
        &format!("{name}/t10k-images-idx3-ubyte"),
        &idx_images(4, 4, 4),
    );
    file(
        dir,
        &format!("{name}/t10k-labels-idx1-ubyte"),
        &idx_labels(&labels[..4]),
    );
}

/// A grey `w`x`h` PNG at `dir/path`.
fn png(dir: &Path, path: &str, w: u32, h: u32) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(w, h, image::Luma([9]))
        .save(path)
        .unwrap();
}

/// A CIFAR-10 batch of `n` records labelled `label`.
fn cifar_batch(n: usize, label: u8) -> Vec<u8> {
    (0..n)
        .flat_map(|_| std::iter::once(label).chain(std::iter::repeat_n(5, 3072)))
        .collect()
}

/// A valid CIFAR-10 set in `dir/name`, two records per batch.
fn cifar_set(dir: &Path, name: &str) {
    for k in 1..=5 {
        file(
            dir,
            &format!("{name}/data_batch_{k}.bin"),
            &cifar_batch(2, k as u8),
        );
    }
    file(dir, &format!("{name}/test_batch.bin"), &cifar_batch(2, 0));
}

/// Runs a one-sample search on data set `spec` and checks it is refused naming `want`.
fn search_refused(dir: &Path, spec: &str, want: &str) {
    let args = [
        "search",
        "--space",
        "resnet-cells",
        "--dataset",
        spec,
        "--samples",
        "1",
    ];
    refused(dir, &args, want);
}

#[test]
fn bad_data_files_name_the_file() {
    let d = scratch();
    let dir = d.path();
    // IDX: each case is a valid set with one file replaced: (file, content, wanted message)
    let labels: Vec<u8> = (0..12).map(|i| i % 3).collect();
    let mut bad_magic = idx_images(12, 4, 4);
    bad_magic[3] = 1;
    let mut truncated = idx_images(12, 4, 4);
    truncated.truncate(100);
    let mut one_image = idx_images(1, 4, 4);
    one_image.truncate(16 + 16);
    #[rustfmt::skip]
    let idx_cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("train-images-idx3-ubyte", bad_magic, "train-images-idx3-ubyte: wrong magic number"),
        ("train-images-idx3-ubyte", truncated, "train-images-idx3-ubyte: truncated IDX images file"),
        ("train-images-idx3-ubyte", vec![0, 0, 8], "truncated IDX header"),
        ("train-images-idx3-ubyte", idx_header(0x803, &[0xffff, 0xffff, 0xffff]), "sides must be 1 to 8192"),
        ("train-labels-idx1-ubyte", idx_labels(&labels[..11]), "train-labels-idx1-ubyte: 11 labels but"),
        ("t10k-labels-idx1-ubyte", idx_labels(&[0, 1, 2, 9]), "t10k-labels-idx1-ubyte: label 9 of item 3 is out of range"),
        ("t10k-images-idx3-ubyte", idx_images(4, 5, 4), "t10k-images-idx3-ubyte: images are 5x4"),
        ("train-labels-idx1-ubyte", idx_labels(&[0; 12]), "label 1 of item 1 is out of range: the training labels have 1 classes"),
        ("train-images-idx3-ubyte.gz", vec![0x1f, 0x8b, 8, 0, 0, 0], "broken gzip stream"),
    ];
    for (i, (name, bytes, want)) in idx_cases.iter().enumerate() {
        let folder = format!("i{i}");
        idx_set(dir, &folder);
        if let Some(raw) = name.strip_suffix(".gz") {
            std::fs::remove_file(dir.join(&folder).join(raw)).unwrap();
        }
        file(dir, &format!("{folder}/{name}"), bytes);
        search_refused(dir, &format!("idx:{folder}"), want);
    }
    idx_set(dir, "few");
    file(dir, "few/train-images-idx3-ubyte", &idx_images(1, 4, 4));
    file(dir, "few/train-labels-idx1-ubyte", &idx_labels(&[1]));
    file(
        dir,
        "few/t10k-labels-idx1-ubyte",
        &idx_labels(&[0, 1, 0, 1]),
    );
    idx_set(dir, "oneclass");
    file(
        dir,
        "oneclass/train-labels-idx1-ubyte",
        &idx_labels(&[0; 12]),
    );
    file(dir, "oneclass/t10k-labels-idx1-ubyte", &idx_labels(&[0; 4]));
    idx_set(dir, "notest");
    file(dir, "notest/t10k-images-idx3-ubyte", &idx_images(0, 4, 4));
    file(dir, "notest/t10k-labels-idx1-ubyte", &idx_labels(&[]));
    // CIFAR-10: a valid set with one file replaced, or removed when the content is `None`
    #[rustfmt::skip]
    let cifar_cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("data_batch_3.bin", Some(cifar_batch(2, 1)[..5000].to_vec()), "data_batch_3.bin: 5000 bytes is not a whole number"),
        ("test_batch.bin", Some(cifar_batch(1, 10)), "test_batch.bin: label 10 of record 0 is out of range"),
        ("data_batch_1.bin", Some(vec![]), "data_batch_1.bin: 0 bytes"),
        ("data_batch_5.bin", None, "data_batch_5.bin: file not found in folder"),
    ];
    for (i, (name, bytes, want)) in cifar_cases.iter().enumerate() {
        let folder = format!("c{i}");
        cifar_set(dir, &folder);
        match bytes {
            Some(bytes) => drop(file(dir, &format!("{folder}/{name}"), bytes)),
            None => std::fs::remove_file(dir.join(&folder).join(name)).unwrap(),
        }
        search_refused(dir, &format!("cifar10:{folder}"), want);
    }
    // image folders
    std::fs::create_dir_all(dir.join("f1")).unwrap();
    file(dir, "f3/a/notes.txt", b"no images here");
    png(dir, "f4/a/0.png", 4, 4);
    file(dir, "f4/a/broken.png", b"\x89PNG not really");
    png(dir, "f5/train/a/0.png", 4, 4);
    png(dir, "f6/train/a/0.png", 4, 4);
    png(dir, "f6/test/b/0.png", 4, 4);
    png(dir, "f7/a/0.png", 4, 4);
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        ("idx:few", "few: 1 training image(s)"),
        ("idx:notest", "the test split holds no images"),
        ("idx:oneclass", "oneclass: the labels name 1 class(es)"),
        ("cifar10:nowhere", "nowhere"),
        ("idx:nowhere", "nowhere"),
        ("folder:nowhere", "nowhere: image folder not found"),
        ("folder:f1", "f1: no class folders"),
        ("folder:f3", "no .png, .jpg or .bmp images"),
        ("folder:f4", "broken.png"),
        ("folder:f5", "a folder with train/ needs test/ beside it"),
        ("folder:f6", "class folder has no counterpart in train/"),
        ("folder:f7", "fewer than 2 images"),
    ];
    for (spec, want) in cases {
        search_refused(dir, spec, want);
    }
    let train = [
        "train",
        "--zoo",
        "lenet5",
        "--dataset",
        "folder:f4",
        "--epochs",
        "1",
    ];
    refused(dir, &train, "broken.png");
    for left in ["runs", "trained"] {
        absent(dir, left);
    }
}

#[test]
fn bad_run_folders_are_refused() {
    let d = scratch();
    let dir = d.path();
    std::fs::create_dir_all(dir.join("runs/empty")).unwrap();
    file(dir, "runs/afile", b"not a run");
    file(
        dir,
        "runs/dbfile/db",
        b"a file where the database folder should be",
    );
    std::fs::create_dir_all(dir.join("runs/emptydb/db")).unwrap();
    // a damaged database
    std::fs::create_dir_all(dir.join("runs/broken/db")).unwrap();
    file(dir, "runs/broken/db/conf", b"garbage garbage");
    file(dir, "runs/broken/db/db", &[0xAB; 4096]);
    let args = [
        "search",
        "--space",
        "toy-table",
        "--samples",
        "8",
        "--run",
        "done",
        "--json",
    ];
    let ok = nas(dir).args(args).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    #[rustfmt::skip]
    let cases: &[(&[&str], &str)] = &[
        (&["search", "--resume", "ghost"], "ghost"),
        (&["show", "ghost"], "ghost"),
        (&["export", "ghost"], "ghost"),
        (&["search", "--resume", "empty"], "empty"),
        (&["show", "empty"], "empty"),
        (&["search", "--resume", "afile"], "afile"),
        (&["show", "afile"], "afile"),
        (&["show", "dbfile"], "dbfile"),
        (&["show", "emptydb"], "emptydb"),
        (&["show", "broken"], "broken"),
        (&["search", "--resume", "broken"], "broken"),
        (&["export", "runs/broken"], "broken"),
        (&["search", "--space", "toy-table", "--run", "done"], "already exists"),
        (&["search", "--resume", "done", "--space", "toy-table"], "--space"),
        (&["export", "runs/done", "--id", "999"], "invalid --id 999: run runs/done has no candidate 999"),
        (&["export", "runs/done", "--top", "100"], "invalid --top 100: run runs/done has only"),
        (&["export", "runs/done", "--id", "1", "--top", "1"], "--top"),
    ];
    for (args, want) in cases {
        refused(dir, args, want);
    }
    for left in ["runs/ghost", "runs/empty/db", "export", "runs/done/export"] {
        absent(dir, left);
    }
}

/// Keeps the count honest: the cases above, table by table.
#[test]
fn the_corpus_holds_at_least_sixty_cases() {
    let spaces = SPACE_EDITS.len() + 6 + TABLE_CASES.len() + 1;
    let flags = FLAG_CASES.len();
    let archs = ARCH_EDITS.len() + 4;
    let data = 9 + 4 + 13 + 1;
    let runs = 17;
    let total = spaces + flags + archs + data + runs;
    assert!(total >= 60, "{total}");
}
