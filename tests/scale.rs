//! `nas scale` end to end: a searched mobile-cells candidate scaled by EfficientNet's compound
//! rule, the file it writes trained by `nas train --arch`, and its bad input refused with exit
//! code 2 and one line.

mod common;

use std::path::Path;

use common::{nas, ok, scratch};
use nas::arch::{Architecture, Block};
use serde_json::Value;

/// A one-candidate search of cell space `space` on 16x16 synthetic images.
fn search(dir: &Path, space: &str, run: &str) {
    ok(nas(dir).args([
        "search",
        "--space",
        space,
        "--dataset",
        "synthetic",
        "--samples",
        "1",
        "--epochs",
        "1",
        "--train-size",
        "200",
        "--val-size",
        "100",
        "--finalists",
        "0",
        "--workers",
        "1",
        "--run",
        run,
        "--json",
    ]));
}

fn candidate_arch(dir: &Path, run: &str) -> Architecture {
    let out = ok(nas(dir).args(["show", run, "--json"]));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    serde_json::from_value(shown["candidates"][0]["arch"].clone()).unwrap()
}

#[test]
fn a_scaled_mobile_candidate_is_deeper_wider_larger_and_trains() {
    let dir = scratch();
    search(dir.path(), "mobile-cells", "m");
    let before = candidate_arch(dir.path(), "m");
    let out = ok(nas(dir.path()).args(["scale", "m", "--id", "0", "--phi", "2", "--json"]));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 16 * 1.15^2 = 21.16
    assert_eq!(report["input"], serde_json::json!([1, 21, 21]), "{report}");
    assert!(
        report["macs"].as_u64() > report["macs_before"].as_u64(),
        "{report}"
    );
    let file = dir.path().join("runs/m/scaled/candidate_0-phi2.json");
    assert_eq!(
        report["out"],
        file.strip_prefix(dir.path()).unwrap().to_str().unwrap()
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let after: Architecture = serde_json::from_str(&text).unwrap();
    for (old, new) in before.stages.iter().zip(&after.stages) {
        // ceil(n * 1.44)
        let n = old.cells.len();
        assert_eq!(new.cells.len(), (n as f64 * 1.44).ceil() as usize);
        for cell in &new.cells {
            let Block::Mobile { out, .. } = cell.block else {
                panic!("{cell:?}")
            };
            assert_eq!(out % 8, 0, "widths are multiples of 8");
        }
    }
    // the human line says the scaled input and where the file is
    let out = ok(nas(dir.path()).args(["scale", "m", "--id", "0", "--phi", "1"]));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.contains("input 1x18x18") && line.contains("candidate_0-phi1.json"),
        "{line}"
    );

    let trained = ok(nas(dir.path()).args([
        "train",
        "--arch",
        file.to_str().unwrap(),
        "--dataset",
        "synthetic",
        "--epochs",
        "1",
        "--train-size",
        "200",
        "--val-size",
        "100",
        "--threads",
        "2",
        "--out",
        "trained",
        "--json",
    ]));
    let metrics: Value = serde_json::from_slice(&trained.stdout).unwrap();
    // parameters do not depend on the input size (global pooling before the classifier)
    assert_eq!(metrics["params"], report["params"], "{metrics}");
    assert!(dir.path().join("trained/weights.safetensors").is_file());
}

/// Runs `args` in `dir` and checks exit code 2 and a one-line error containing `want`.
fn refused(dir: &Path, args: &[&str], want: &str) {
    let out = nas(dir).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: ") && first.contains(want),
        "{args:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn scale_refuses_unknown_runs_ids_bad_phi_and_broken_files_with_exit_2() {
    let dir = scratch();
    ok(nas(dir.path()).args([
        "search",
        "--space",
        "toy-table",
        "--samples",
        "2",
        "--run",
        "t",
    ]));
    std::fs::write(dir.path().join("broken.json"), "{\"input\": [1, 8, 8],").unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["scale", "nowhere", "--id", "0", "--phi", "1"], "nowhere"),
        (
            &["scale", "t", "--id", "99", "--phi", "1"],
            "has no candidate 99",
        ),
        (
            &["scale", "t", "--id", "0", "--phi", "1"],
            "is not a network",
        ),
        (
            &["scale", "--arch", "broken.json", "--phi", "-1"],
            "-1 is out of range 0 to 20",
        ),
        (
            &["scale", "--arch", "broken.json", "--phi", "1.5"],
            "not a whole number",
        ),
        (
            &["scale", "--arch", "broken.json", "--phi", "1"],
            "broken.json: line 1",
        ),
        (
            &["scale", "--arch", "missing.json", "--phi", "1"],
            "missing.json",
        ),
    ];
    for (args, want) in cases {
        refused(dir.path(), args, want);
    }
    // nothing was written for any of them
    assert!(!dir.path().join("runs/t/scaled").exists());
    assert!(!dir.path().join("broken-phi1.json").exists());
}
