//! `nas bench train` end to end: the real binary's JSON read back as the library's report.

use std::process::Command;

use nas::bench::BenchReport;

#[test]
fn bench_train_json_is_the_library_report() {
    let output = Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(["bench", "train", "--net", "lenet5", "--net", "residual"])
        .args(["--steps", "1", "--warmup", "0", "--batch-size", "8"])
        .args(["--eval-batch-size", "8", "--threads", "2", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: BenchReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report.threads, 2);
    let names: Vec<&str> = report.nets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["lenet5", "residual"]);
    assert_eq!(report.nets[0].params, 61_706);
    assert_eq!(report.nets[1].params, 42_938);
    assert!(report.nets.iter().all(|t| t.train_images_per_second > 0.0));
}

#[test]
fn bench_train_refuses_an_unknown_net() {
    let output = Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(["bench", "train", "--net", "vgg16", "--steps", "1"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown net `vgg16`"));
}
