//! A corpus of bad inputs across the project, each run through the binary: every one must exit
//! with code 2 and a one-line message naming what was wrong, never a panic or a backtrace.

mod common;

use std::path::Path;

use common::{nas, scratch};

const GOOD_SPACE: &str = "version = 1\nname = \"s\"\n[skeleton]\nstem_channels = 8\nstages = 2\n\
reduce = \"conv\"\nchannel_growth = 2.0\n[choices]\ncells_per_stage = [1, 2]\ncell = [\"residual\"]\n\
kernel = [3, 5]\n";

/// Writes `name` with `content` into `dir` and returns its path as a string.
fn file(dir: &Path, name: &str, content: &[u8]) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs `args` in `dir` and checks exit code 2, one line on stderr containing `want`.
fn refused(dir: &Path, args: &[&str], want: &str) {
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
    let first = err.lines().next().unwrap_or("");
    assert!(first.starts_with("error: "), "{args:?}: {err}");
    assert!(
        first.contains(want),
        "{args:?}: want `{want}` in the first line of: {err}"
    );
}

fn space_case(dir: &Path, name: &str, from: &str, to: &str, want: &str) {
    assert!(GOOD_SPACE.contains(from), "{from}");
    let path = file(dir, name, GOOD_SPACE.replacen(from, to, 1).as_bytes());
    refused(dir, &["space", "show", &path], want);
}

#[test]
fn bad_space_files_are_refused_with_file_line_and_field() {
    let d = scratch();
    let dir = d.path();
    space_case(
        dir,
        "a.toml",
        "stages = 2",
        "stages = 2\nbogus = 1",
        "a.toml:6:1: field `bogus`: unknown field",
    );
    space_case(
        dir,
        "b.toml",
        "version = 1",
        "version = 3",
        "b.toml:1:11: field `version`",
    );
    space_case(
        dir,
        "c.toml",
        "kernel = [3, 5]",
        "kernel = [2]",
        "c.toml:11:10: field `choices.kernel`",
    );
    space_case(
        dir,
        "d.toml",
        "cell = [\"residual\"]",
        "cell = [\"conv\"]",
        "field `choices.cell`: unknown cell type",
    );
    space_case(
        dir,
        "e.toml",
        "stages = 2",
        "stages = 0",
        "field `skeleton.stages`: 0 is out of range",
    );
    space_case(
        dir,
        "f.toml",
        "channel_growth = 2.0",
        "channel_growth = \"x\"",
        "field `skeleton.channel_growth`",
    );
    space_case(dir, "g.toml", "[choices]", "[choices", "g.toml:8:");
    space_case(
        dir,
        "h.toml",
        "cells_per_stage = [1, 2]",
        "cells_per_stage = [1, 1]",
        "1 is listed twice",
    );
    space_case(
        dir,
        "i.toml",
        "reduce = \"conv\"",
        "reduce = \"avg\"",
        "field `skeleton.reduce`",
    );
    refused(
        dir,
        &["space", "show", "no-such-space"],
        "unknown search space `no-such-space`",
    );
    refused(
        dir,
        &["space", "show", "missing/file.toml"],
        "missing/file.toml",
    );
    let bin = file(dir, "binary.toml", &[0xff, 0xfe, 0x00, 0x12]);
    refused(dir, &["space", "show", &bin], "binary.toml");
}

#[test]
fn bad_table_spaces_name_the_csv_line() {
    let d = scratch();
    let dir = d.path();
    let table =
        "version = 1\nname = \"t\"\nkind = \"table\"\ntable = \"t.csv\"\nreward = \"acc\"\n\
                 [[decision]]\nname = \"a\"\nchoices = [\"x\", \"y\"]\n";
    let space = file(dir, "t.toml", table.as_bytes());
    file(dir, "t.csv", b"arch,acc\n0,0.5\n1,oops\n");
    refused(
        dir,
        &["space", "show", &space],
        "t.csv: line 3: `acc` is not a number",
    );
    file(dir, "t.csv", b"arch,acc\n0,0.5\n7,0.6\n");
    refused(dir, &["space", "show", &space], "line 3: key `7`");
    file(dir, "t.csv", b"key,acc\n0,0.5\n");
    refused(dir, &["space", "show", &space], "no `arch` column");
    std::fs::remove_file(dir.join("t.csv")).unwrap();
    refused(dir, &["space", "show", &space], "table file");
}

#[test]
fn bad_command_line_values_are_refused() {
    let d = scratch();
    let dir = d.path();
    refused(
        dir,
        &["search", "--space", "toy-table", "--samples", "0"],
        "--samples",
    );
    refused(
        dir,
        &["search", "--space", "toy-table", "--batch", "0"],
        "--batch",
    );
    refused(
        dir,
        &["search", "--space", "toy-table", "--strategy", "genetic"],
        "genetic",
    );
    refused(
        dir,
        &["search", "--space", "toy-table", "--samples", "many"],
        "many",
    );
    refused(
        dir,
        &["search", "--space", "resnet-cells", "--dataset", "imagenet"],
        "imagenet",
    );
    refused(
        dir,
        &[
            "search",
            "--space",
            "resnet-cells",
            "--device",
            "tpu:0",
            "--samples",
            "1",
        ],
        "tpu:0",
    );
    refused(
        dir,
        &["zoo", "show", "resnet9000"],
        "unknown zoo network `resnet9000`",
    );
    refused(
        dir,
        &["zoo", "show", "alexnet", "--input", "3x16x16"],
        "alexnet",
    );
    refused(
        dir,
        &["zoo", "show", "lenet5", "--input", "1x28"],
        "expected CxHxW",
    );
    refused(dir, &["space", "sample", "resnet-cells", "-n", "-3"], "-3");
}

#[test]
fn bad_data_files_name_the_file() {
    let d = scratch();
    let dir = d.path();
    let idx = dir.join("idx");
    std::fs::create_dir_all(&idx).unwrap();
    // wrong magic number in the training images
    let mut images = vec![0, 0, 8, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2];
    images.extend([0u8; 4]);
    file(&idx, "train-images-idx3-ubyte", &images);
    let good_images = [0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4];
    let labels = [0, 0, 8, 1, 0, 0, 0, 1, 3];
    file(&idx, "train-labels-idx1-ubyte", &labels);
    file(&idx, "t10k-images-idx3-ubyte", &good_images);
    file(&idx, "t10k-labels-idx1-ubyte", &labels);
    let args = [
        "search",
        "--space",
        "resnet-cells",
        "--dataset",
        "idx:idx",
        "--samples",
        "1",
    ];
    refused(dir, &args, "train-images-idx3-ubyte: wrong magic number");
    // a missing folder
    refused(
        dir,
        &[
            "search",
            "--space",
            "resnet-cells",
            "--dataset",
            "cifar10:nowhere",
        ],
        "nowhere",
    );
}

#[test]
fn bad_run_folders_are_refused() {
    let d = scratch();
    let dir = d.path();
    refused(dir, &["search", "--resume", "ghost"], "ghost");
    refused(dir, &["show", "ghost"], "ghost");
    std::fs::create_dir_all(dir.join("runs/empty")).unwrap();
    refused(dir, &["search", "--resume", "empty"], "empty");
    // a damaged database
    std::fs::create_dir_all(dir.join("runs/broken/db")).unwrap();
    file(dir, "runs/broken/db/conf", b"garbage garbage");
    file(dir, "runs/broken/db/db", &[0xAB; 4096]);
    refused(dir, &["show", "broken"], "broken");
    // a run that exists already cannot be started again
    let ok = nas(dir)
        .args([
            "search",
            "--space",
            "toy-table",
            "--samples",
            "8",
            "--run",
            "done",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    refused(
        dir,
        &["search", "--space", "toy-table", "--run", "done"],
        "already exists",
    );
}
