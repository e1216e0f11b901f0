//! `nas train` end to end: the real binary on the synthetic set, its JSON and its files.

use std::path::Path;
use std::process::{Command, Output};

/// A one-cell residual architecture; `nas train` replaces its input and classes.
const ARCH: &str = r#"{
  "input": [3, 32, 32],
  "classes": 100,
  "stem": {"channels": 8, "kernel": 3},
  "stages": [{"reduce": null, "channels": 8, "cells": [{"block": {"type": "residual", "kernel": 3, "out": 8}}]}]
}"#;

fn nas_train(dir: &Path, extra: &[&str]) -> Output {
    let arch = dir.join("tiny.json");
    std::fs::write(&arch, ARCH).unwrap();
    let out = dir.join("run");
    Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(["train", "--arch"])
        .arg(&arch)
        .args([
            "--dataset",
            "synthetic",
            "--epochs",
            "1",
            "--train-size",
            "600",
        ])
        .args([
            "--val-size",
            "200",
            "--batch-size",
            "50",
            "--threads",
            "2",
            "--json",
            "--out",
        ])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn train_with_an_arch_file_writes_weights_arch_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let output = nas_train(dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for key in [
        "val_acc",
        "test_acc",
        "epochs",
        "seconds",
        "images_per_second",
        "params",
        "macs",
    ] {
        assert!(report.get(key).is_some(), "{key} missing from {report}");
    }
    assert_eq!(report["epochs"], 1);
    let test_acc = report["test_acc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&test_acc), "{report}");
    let run = dir.path().join("run");
    let weights = std::fs::read(run.join("weights.safetensors")).unwrap();
    assert!(weights.len() > 1000);
    let arch: nas::arch::Architecture =
        serde_json::from_str(&std::fs::read_to_string(run.join("arch.json")).unwrap()).unwrap();
    assert_eq!((arch.input, arch.classes), ([1, 16, 16], 10));
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["test_acc"], report["test_acc"]);
    let leftovers = std::fs::read_dir(&run).unwrap().count();
    assert_eq!(leftovers, 3, "no temp files are left behind");
}

#[test]
fn a_training_that_diverges_exits_with_code_1_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let output = nas_train(dir.path(), &["--lr", "1e30"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "failed");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.starts_with("loss is"), "{reason}");
    assert!(!dir.path().join("run").exists());
}
