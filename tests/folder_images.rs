//! Folders of images of mixed sizes and formats through the binary: a search learns a learnable
//! folder and warns on one with random labels, the default image size is the rule's and is
//! recorded with the run, a second load reads the decoded images from the cache, `nas train`
//! takes `--image-size`, and bad sizes or unreadable files are clear errors.

mod common;

use std::path::Path;

use common::folders::Shapes;
use common::{json_lines, nas, ok, scratch};
use serde_json::Value;

/// A search space of small residual nets (a handful of architectures), fast to train.
const TINY_SPACE: &str =
    "version = 1\nname = \"tiny\"\n[skeleton]\nstem_channels = 8\nstages = 2\n\
reduce = \"conv\"\nchannel_growth = 2.0\n[choices]\ncells_per_stage = [1]\ncell = [\"residual\"]\n\
kernel = [1, 3]\nwidth = [0.5, 1.0]\n";

/// `nas search` on `folder` with the tiny space and a short budget, plus `extra` flags.
fn search(dir: &Path, folder: &Path, run: &str, extra: &[&str]) -> std::process::Output {
    let space = dir.join("tiny.toml");
    std::fs::write(&space, TINY_SPACE).unwrap();
    nas(dir)
        .args(["search", "--space", space.to_str().unwrap(), "--run", run])
        .arg("--dataset")
        .arg(format!("folder:{}", folder.display()))
        .args([
            "--strategy",
            "random",
            "--epochs",
            "2",
            "--batch-size",
            "16",
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// The JSON summary (last line) of a successful `--json` search.
fn summary(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "search failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(out).pop().unwrap()
}

/// The default side for the images in `folder`: their median shorter side, clamped to 8..=64.
fn expected_default_side(folder: &Path) -> usize {
    let mut shorter: Vec<usize> = Vec::new();
    for class in std::fs::read_dir(folder).unwrap() {
        let class = class.unwrap().path();
        if class
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with('.')
        {
            continue;
        }
        for file in std::fs::read_dir(class).unwrap() {
            let (w, h) = image::image_dimensions(file.unwrap().path()).unwrap();
            shorter.push(w.min(h) as usize);
        }
    }
    shorter.sort_unstable();
    shorter[(shorter.len() - 1) / 2].clamp(8, 64)
}

#[test]
fn a_search_on_a_mixed_size_folder_learns_and_a_second_search_decodes_nothing() {
    let dir = scratch();
    let folder = dir.path().join("shapes");
    Shapes::default().write(&folder);
    let flags = ["--samples", "3", "--batch", "3", "--json"];
    let first = summary(&search(dir.path(), &folder, "first", &flags));
    let best = first["best_reward"].as_f64().unwrap();
    assert!(best > 0.7, "3 classes (chance 0.33): best {best}");
    assert!(first["warning"].is_null(), "a learnable folder: {first}");
    let data = &first["data"];
    let side = expected_default_side(&folder);
    assert_eq!(data["image_size"], side.to_string());
    assert_eq!(
        data["input"],
        serde_json::json!([3, side, side]),
        "grey and colour: colour"
    );
    let reason = data["size_choice"].as_str().unwrap();
    assert!(reason.contains(&format!("{side}x{side}")), "{reason}");
    assert_eq!(
        data["class_names"],
        serde_json::json!(["disc", "square", "stripe"])
    );
    let val: Vec<u64> = data["val"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(
        val.iter().max().unwrap() - val.iter().min().unwrap() <= 1,
        "stratified: {val:?}"
    );
    assert_eq!(
        (
            data["cache"]["hits"].as_u64(),
            data["cache"]["decoded"].as_u64()
        ),
        (Some(0), Some(300))
    );
    // The size is recorded with the run.
    let show = ok(nas(dir.path()).args(["show", "first", "--json"]));
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(
        shown["run"]["settings"]["image_size"],
        side.to_string(),
        "{shown}"
    );

    let second = summary(&search(dir.path(), &folder, "second", &flags));
    let cache = &second["data"]["cache"];
    assert_eq!(
        (cache["hits"].as_u64(), cache["decoded"].as_u64()),
        (Some(300), Some(0)),
        "{cache}"
    );
    assert_eq!(second["data"]["train"], data["train"]);
}

#[test]
fn a_given_size_is_used_and_kept_on_resume() {
    let dir = scratch();
    let folder = dir.path().join("shapes");
    Shapes {
        per_class: 20,
        ..Shapes::default()
    }
    .write(&folder);
    let flags = ["--samples", "1", "--json", "--image-size", "12x20"];
    let first = summary(&search(dir.path(), &folder, "sized", &flags));
    assert_eq!(first["data"]["input"], serde_json::json!([3, 12, 20]));
    assert!(first["data"]["size_choice"].is_null(), "given, not picked");
    let resumed = ok(nas(dir.path()).args(["search", "--resume", "sized", "--json"]));
    let resumed = json_lines(&resumed).pop().unwrap();
    assert_eq!(resumed["data"]["image_size"], "12x20");
}

#[test]
fn random_labels_make_the_search_warn_and_say_what_to_change() {
    let dir = scratch();
    let folder = dir.path().join("random");
    let shapes = Shapes {
        classes: 2,
        random_labels: true,
        ..Shapes::default()
    };
    shapes.write(&folder);
    let text = search(
        dir.path(),
        &folder,
        "plain",
        &["--samples", "4", "--batch", "2"],
    );
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(text.status.success(), "{stderr}");
    let warnings = stderr
        .matches("warning: the search is learning nothing")
        .count();
    assert_eq!(
        warnings, 2,
        "after the first batch and at the end:\n{stderr}"
    );
    assert!(stderr.contains("--epochs"), "{stderr}");
    for line in [
        "CLASS",
        "disc",
        "square",
        "image size: images differ in size",
    ] {
        assert!(
            stderr.contains(line),
            "per-class counts and size are shown: {stderr}"
        );
    }
    let json = summary(&search(
        dir.path(),
        &folder,
        "json",
        &["--samples", "2", "--json"],
    ));
    assert_eq!(json["warning"]["kind"], "at_chance", "{json}");
}

#[test]
fn train_fits_a_folder_to_the_size_given() {
    let dir = scratch();
    let folder = dir.path().join("shapes");
    Shapes {
        per_class: 20,
        ..Shapes::default()
    }
    .write(&folder);
    let arch = dir.path().join("tiny.json");
    std::fs::write(
        &arch,
        r#"{"input": [1, 8, 8], "classes": 2, "stem": {"channels": 4, "kernel": 3},
           "stages": [{"reduce": null, "channels": 4, "cells": [{"block": {"type": "residual", "kernel": 3, "out": 4}}]}]}"#,
    )
    .unwrap();
    let out = ok(nas(dir.path())
        .args([
            "train",
            "--arch",
            arch.to_str().unwrap(),
            "--epochs",
            "1",
            "--json",
        ])
        .arg("--dataset")
        .arg(format!("folder:{}", folder.display()))
        .args(["--image-size", "10x14", "--out", "trained"]));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["image_size"], "10x14");
    assert_eq!(report["data"]["cache"]["decoded"], 60);
    let trained = std::fs::read_to_string(dir.path().join("trained/arch.json")).unwrap();
    let trained: nas::arch::Architecture = serde_json::from_str(&trained).unwrap();
    assert_eq!((trained.input, trained.classes), ([3, 10, 14], 3));
}

#[test]
fn bad_sizes_and_unreadable_images_are_clear_errors() {
    let dir = scratch();
    let folder = dir.path().join("shapes");
    Shapes {
        per_class: 4,
        ..Shapes::default()
    }
    .write(&folder);
    let fails = |args: &[&str], expect: &str| {
        let out = nas(dir.path()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    let dataset = format!("folder:{}", folder.display());
    let train = ["train", "--zoo", "lenet5", "--dataset", &dataset];
    fails(
        &[&train[..], &["--image-size", "0"]].concat(),
        "--image-size",
    );
    fails(
        &[&train[..], &["--image-size", "12x"]].concat(),
        "--image-size",
    );
    fails(
        &["search", "--space", "resnet-cells", "--image-size", "9000"],
        "--image-size",
    );
    fails(
        &["train", "--zoo", "lenet5", "--image-size", "32"],
        "only folder:DIR",
    );
    std::fs::write(folder.join("disc/broken.jpg"), b"not a jpeg").unwrap();
    fails(&train, "broken.jpg: cannot decode");
}

/// Decode times with and without the cache on a folder of photo-sized images (4,000 by
/// default, `NAS_BENCH_IMAGES` to change), alternating cold and warm loads and keeping each
/// side's best. A measurement, not a check: run it in release,
/// `cargo test --release --test folder_images -- --ignored --nocapture decode_times`.
#[test]
#[ignore]
fn decode_times_with_and_without_the_cache() {
    let images: usize = std::env::var("NAS_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let dir = scratch();
    let folder = dir.path().join("photos");
    let start = std::time::Instant::now();
    Shapes {
        classes: 4,
        per_class: images / 4,
        sides: (160, 480),
        ..Shapes::default()
    }
    .write(&folder);
    let bytes: u64 = walk_bytes(&folder);
    eprintln!(
        "generated {images} images (160-480 px a side, PNG and JPEG, {:.0} MB) in {:.1} s",
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let load = || {
        let out = ok(nas(dir.path())
            .args([
                "train",
                "--zoo",
                "lenet5",
                "--epochs",
                "1",
                "--train-size",
                "64",
            ])
            .args([
                "--val-size",
                "64",
                "--json",
                "--out",
                "trained",
                "--dataset",
            ])
            .arg(format!("folder:{}", folder.display())));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        report["data"]["cache"].clone()
    };
    let (mut cold, mut warm) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(folder.join(".nas-cache"));
        let first = load();
        assert_eq!(first["decoded"], images);
        cold = cold.min(first["seconds"].as_f64().unwrap());
        let second = load();
        assert_eq!(second["hits"], images);
        warm = warm.min(second["seconds"].as_f64().unwrap());
    }
    eprintln!(
        "{images} images: {cold:.2} s decoding (no cache), {warm:.2} s from the cache ({:.1}x), {} threads",
        cold / warm,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
}

/// The total size of the files under `dir`.
fn walk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk_bytes(&path)
            } else {
                path.metadata().unwrap().len()
            }
        })
        .sum()
}
