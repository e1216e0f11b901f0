//! `nas train --init FILE`: starting a zoo net from weights of a previous run, end to end
//! through the binary, and refusing files whose keys or shapes do not match the net.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use candle_core::{Device, Tensor};

fn nas_train(out: &Path, epochs: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(["train", "--zoo", "lenet5", "--dataset", "synthetic"])
        .args([
            "--epochs",
            epochs,
            "--train-size",
            "600",
            "--val-size",
            "200",
        ])
        .args(["--batch-size", "50", "--threads", "2", "--json", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn report(output: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_net_started_from_a_trained_runs_weights_has_its_accuracy_before_any_training() {
    let dir = tempfile::tempdir().unwrap();
    let first = report(&nas_train(&dir.path().join("first"), "6", &[]));
    let weights = dir.path().join("first/weights.safetensors");
    let tuned = report(&nas_train(
        &dir.path().join("tuned"),
        "1",
        &["--init", weights.to_str().unwrap(), "--seed", "0"],
    ));
    // the same seed and sizes give the same validation split, and evaluation is exact
    assert_eq!(tuned["init_val_acc"], first["val_acc"], "{tuned}");
    let trained = first["val_acc"].as_f64().unwrap();
    assert!(trained > 0.2, "the first run learned something: {first}");
    let fresh = report(&nas_train(&dir.path().join("fresh"), "1", &["--seed", "0"]));
    assert!(fresh.get("init_val_acc").is_none(), "{fresh}");
}

/// Writes `tensors` as a safetensors file in `dir` and runs `--init` with it, expecting a
/// refusal that names the file and `key`, and nothing written.
fn refused(dir: &Path, name: &str, tensors: &HashMap<String, Tensor>, key: &str) {
    let file = dir.join(name);
    candle_core::safetensors::save(tensors, &file).unwrap();
    let out = dir.join(format!("out-{name}"));
    let output = nas_train(&out, "1", &["--init", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
    assert!(
        stderr.contains(&file.display().to_string()) && stderr.contains(&format!("`{key}`")),
        "{name}: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
    assert!(!out.exists(), "{name}: nothing is written");
}

#[test]
fn init_files_with_a_missing_an_extra_or_a_misshapen_key_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    report(&nas_train(&dir.path().join("first"), "1", &[]));
    let weights = dir.path().join("first/weights.safetensors");
    let good = candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    let mut missing = good.clone();
    missing.remove("fc2.bias").unwrap();
    refused(dir.path(), "missing.safetensors", &missing, "fc2.bias");
    let mut extra = good.clone();
    let zero = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap();
    extra.insert("fc9.weight".into(), zero.clone());
    refused(dir.path(), "extra.safetensors", &extra, "fc9.weight");
    let mut misshapen = good;
    misshapen.insert("conv1.bias".into(), zero);
    refused(dir.path(), "shape.safetensors", &misshapen, "conv1.bias");
    std::fs::write(dir.path().join("junk.safetensors"), b"not weights").unwrap();
    let output = nas_train(
        &dir.path().join("out-junk"),
        "1",
        &[
            "--init",
            dir.path().join("junk.safetensors").to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("junk.safetensors"), "{stderr}");
}
