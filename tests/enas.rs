//! Weight sharing (`--strategy enas`) through the binary: a short search on the synthetic set
//! on every cell space, what `show` and `export` make of it, bad input, and a search killed
//! with Ctrl-C, then SIGKILL at random points, that resumes to exactly the history (finalist
//! included) of one that was not.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{json_lines, nas, ok, scratch};
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// A small weight-sharing search: 16x16 synthetic images, two epochs of four minibatches.
fn args(space: &str, run: &str, seed: u64) -> Vec<String> {
    let mut args: Vec<String> = ["search", "--space", space, "--strategy", "enas"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (flag, value) in [
        ("--dataset", "synthetic"),
        ("--train-size", "256"),
        ("--val-size", "128"),
        ("--epochs", "1"),
        ("--enas-epochs", "2"),
        ("--enas-steps", "2"),
        ("--enas-children", "3"),
        ("--enas-rate-batch", "32"),
        ("--enas-derive", "8"),
        ("--enas-derive-batch", "64"),
        ("--enas-top", "2"),
        // epoch 1 trains uniformly sampled children, epoch 2 the controller's (plain ENAS)
        ("--enas-train-from", "policy"),
        ("--enas-warmup", "1"),
        ("--finalists", "1"),
        ("--final-epochs", "1"),
        ("--workers", "1"),
        ("--run", run),
    ] {
        args.extend([flag.to_string(), value.to_string()]);
    }
    args.extend(["--seed".into(), seed.to_string(), "--json".into()]);
    args
}

/// Sets `flag` to `value` in `args`: in place when it is there, else appended.
fn set_flag(args: &mut Vec<String>, flag: &str, value: &str) {
    match args.iter().position(|a| a == flag) {
        Some(at) => args[at + 1] = value.to_string(),
        None => args.extend([flag.to_string(), value.to_string()]),
    }
}

fn show(dir: &Path, run: &str) -> Value {
    let out = ok(nas(dir).args(["show", run, "--json"]));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_enas_search_prints_its_epochs_and_derived_candidates_and_show_lists_both_ratings() {
    let dir = scratch();
    let out = ok(nas(dir.path()).args(args("resnet-cells", "e", 1)));
    let lines = json_lines(&out);
    assert_eq!(
        lines.len(),
        2 + 1 + 2 + 1 + 1,
        "two epochs, the deriving, two candidates, one finalist, the summary"
    );
    for (i, epoch) in lines[..2].iter().enumerate() {
        assert_eq!(epoch["event"], "epoch");
        assert_eq!(epoch["epoch"], i as u64 + 1);
        assert_eq!(epoch["rated"], 6 * (i as u64 + 1), "2 steps of 3 children");
        assert!(epoch["shared_loss"].as_f64().unwrap().is_finite());
        assert!(epoch["entropy"].as_f64().unwrap() > 0.0);
    }
    // the deriving: 8 drawn, each distinct one rated, the best two going on to be trained
    let derived = &lines[2];
    assert_eq!(derived["event"], "derived", "{derived}");
    assert_eq!(derived["sampled"], 8);
    let rated = derived["rated"].as_u64().unwrap();
    assert!((2..=8).contains(&rated), "{derived}");
    let top = derived["top"].as_array().unwrap();
    assert_eq!(top.len(), 2, "{derived}");
    // the candidates, the finalist and the summary follow
    let after = &lines[3..];
    for (id, c) in after[0..2].iter().enumerate() {
        assert_eq!(c["hash"], top[id]["hash"], "{c}");
        assert_eq!(c["metrics"]["shared_acc"], top[id]["shared_acc"], "{c}");
        assert_eq!(c["status"], "completed");
        assert_eq!(c["metrics"]["shared_rank"], id as f64);
        assert!(c["metrics"]["shared_acc"].as_f64().is_some());
        assert!(c["metrics"]["val_acc"].as_f64().unwrap() > 0.0);
    }
    assert!(
        after[0]["metrics"]["shared_acc"].as_f64() >= after[1]["metrics"]["shared_acc"].as_f64()
    );
    // the derived candidate with the best stand-alone accuracy, trained again from scratch as
    // the run's finalist, is what the run delivers
    let best = if after[0]["reward"].as_f64() >= after[1]["reward"].as_f64() {
        &after[0]
    } else {
        &after[1]
    };
    assert_eq!(after[2]["finalist"], best["id"], "{}", after[2]);
    assert_eq!(after[2]["result"]["epochs"], 1);
    assert!(after[2]["result"]["val_acc"].as_f64().unwrap() > 0.0);
    assert_eq!(after[3]["samples"], 2);
    assert_eq!(after[3]["delivered"]["id"], best["id"], "{}", after[3]);
    let shown = show(dir.path(), "e");
    let candidates = shown["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2);
    assert!(candidates
        .iter()
        .any(|c| c["id"] == best["id"] && c["finalist"]["epochs"] == 1));
    assert_eq!(shown["enas"]["history"].as_array().unwrap().len(), 2);
    assert_eq!(shown["enas"]["phase"]["phase"], "derived");
    assert_eq!(shown["run"]["status"], "finished");
    let text = ok(nas(dir.path()).args(["show", "e"]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("SHARED") && text.contains("VAL_ACC"),
        "{text}"
    );
    assert!(text.contains("SHARED_LOSS"), "{text}");
    // the derived candidates are ordinary candidates: exportable with their trained weights
    ok(nas(dir.path()).args(["export", "runs/e", "--top", "2"]));
    let export = dir.path().join("runs/e/export");
    assert!(export.join("candidate_0.rs").is_file() && export.join("candidate_1.rs").is_file());
    // the warm-up is kept with the run, and it is what epoch 1 trained: without it, epoch 1
    // trains the controller's children, and its shared loss differs
    assert_eq!(
        shown["run"]["settings"]["strategy_config"]["enas"]["warmup"],
        1
    );
    // the same search with one flag set otherwise: its first epoch's shared loss differs
    let differs = |run: &str, flag: &str, value: &str| {
        let mut other = args("resnet-cells", run, 1);
        set_flag(&mut other, flag, value);
        let other = json_lines(&ok(nas(dir.path()).args(other)));
        assert_ne!(
            other[0]["shared_loss"], lines[0]["shared_loss"],
            "{flag} {value}"
        );
        assert_eq!(other[1]["event"], "epoch", "{flag} {value}");
    };
    differs("plain", "--enas-warmup", "0");
    // training on uniformly drawn children throughout (the default) keeps epoch 1, which was
    // uniform already, and changes epoch 2
    assert_eq!(
        shown["run"]["settings"]["strategy_config"]["enas"]["train_from"],
        "policy"
    );
    let mut uniform = args("resnet-cells", "uniform", 1);
    set_flag(&mut uniform, "--enas-train-from", "uniform");
    let uniform = json_lines(&ok(nas(dir.path()).args(uniform)));
    assert_eq!(uniform[0]["shared_loss"], lines[0]["shared_loss"]);
    assert_ne!(uniform[1]["shared_loss"], lines[1]["shared_loss"]);
    // so is the sandwich rule (on by default, every 4th minibatch: the first of each epoch
    // here), and without it the sampled children train on other weights
    assert_eq!(
        shown["run"]["settings"]["strategy_config"]["enas"]["sandwich"],
        4
    );
    differs("open", "--enas-sandwich", "0");
    // the full rule trains the smallest child on those minibatches too: kept with the run,
    // and the sampled children after it train on other weights
    assert_eq!(
        shown["run"]["settings"]["strategy_config"]["enas"]["smallest"],
        false
    );
    differs("full", "--enas-sandwich-smallest", "true");
    assert_eq!(
        show(dir.path(), "full")["run"]["settings"]["strategy_config"]["enas"]["smallest"],
        true
    );
    // the derived ratings are calibrated by default (each refined architecture fine-tuned for
    // ten steps of its own before it is rated again): without it the shared training is the
    // same, the refined architectures rated otherwise, and the setting kept with the run
    assert_eq!(
        shown["run"]["settings"]["strategy_config"]["enas"]["calibrate"],
        10
    );
    let mut plain = args("resnet-cells", "uncalibrated", 1);
    set_flag(&mut plain, "--enas-calibrate", "0");
    let plain = json_lines(&ok(nas(dir.path()).args(plain)));
    assert_eq!(plain[0]["shared_loss"], lines[0]["shared_loss"]);
    assert_eq!(plain[1]["shared_loss"], lines[1]["shared_loss"]);
    assert_eq!(plain[2]["event"], "derived");
    assert_eq!(plain[2]["rated"], lines[2]["rated"]);
    let ratings = |line: &Value| -> Vec<(String, f64)> {
        let mut r: Vec<_> = line["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["hash"].to_string(), t["shared_acc"].as_f64().unwrap()))
            .collect();
        r.sort_by(|a, b| a.0.cmp(&b.0));
        r
    };
    assert_ne!(ratings(&plain[2]), ratings(&lines[2]));
    assert_eq!(
        show(dir.path(), "uncalibrated")["run"]["settings"]["strategy_config"]["enas"]["calibrate"],
        0
    );
}

#[test]
fn enas_runs_on_every_other_cell_space() {
    let dir = scratch();
    for space in [
        "bottleneck-cells",
        "inception-cells",
        "dense-cells",
        "mixed-cells",
    ] {
        let mut a = args(space, space, 2);
        for (flag, value) in [
            ("--enas-epochs", "1"),
            ("--enas-top", "1"),
            ("--finalists", "0"),
        ] {
            set_flag(&mut a, flag, value);
        }
        // deriving from the controller's policy (not the default) on one of them
        let policy = space == "mixed-cells";
        if policy {
            a.extend(["--enas-derive-from".to_string(), "policy".to_string()]);
        }
        let lines = json_lines(&ok(nas(dir.path()).args(&a)));
        assert_eq!(
            lines.len(),
            4,
            "{space}: one epoch, the deriving, one candidate, the summary"
        );
        assert_eq!(lines[1]["event"], "derived", "{space}: {}", lines[1]);
        assert_eq!(lines[2]["status"], "completed", "{space}: {}", lines[2]);
        let from =
            &show(dir.path(), space)["run"]["settings"]["strategy_config"]["enas"]["derive_from"];
        assert_eq!(from, if policy { "policy" } else { "uniform" }, "{space}");
    }
}

#[test]
fn enas_refuses_table_spaces_and_misplaced_flags_with_exit_2() {
    let dir = scratch();
    let cases: [(&[&str], &str); 7] = [
        (
            &["--space", "toy-table", "--strategy", "enas"],
            "table space",
        ),
        (
            &["--space", "resnet-cells", "--enas-epochs", "3"],
            "--strategy enas",
        ),
        (
            &[
                "--space",
                "resnet-cells",
                "--strategy",
                "enas",
                "--enas-top",
                "0",
            ],
            "--enas-top",
        ),
        (
            &[
                "--space",
                "resnet-cells",
                "--strategy",
                "enas",
                "--enas-kernels",
                "big",
            ],
            "--enas-kernels",
        ),
        (
            &[
                "--space",
                "resnet-cells",
                "--strategy",
                "enas",
                "--enas-derive-from",
                "best",
            ],
            "--enas-derive-from",
        ),
        (
            &[
                "--space",
                "resnet-cells",
                "--strategy",
                "enas",
                "--enas-sandwich-smallest",
                "maybe",
            ],
            "--enas-sandwich-smallest",
        ),
        (
            &[
                "--space",
                "resnet-cells",
                "--strategy",
                "enas",
                "--enas-warmup",
                "some",
            ],
            "--enas-warmup",
        ),
    ];
    for (extra, expected) in cases {
        let out = nas(dir.path())
            .arg("search")
            .args(extra)
            .args(["--run", "bad"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(expected), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !dir.path().join("runs/bad").exists(),
            "{extra:?} left a run behind"
        );
    }
}

/// Everything a run decided, as `nas show --json` tells it: the candidates (id, hash, status,
/// reward, shared rating, finalist accuracy) and the epochs (all but their wall time).
fn history(dir: &Path, run: &str) -> (Vec<Value>, Vec<Value>) {
    let shown = show(dir, run);
    let candidates = shown["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            serde_json::json!([
                c["id"],
                c["hash"],
                c["status"],
                c["reward"],
                c["metrics"]["shared_acc"],
                c["finalist"]["val_acc"]
            ])
        })
        .collect();
    let mut epochs: Vec<Value> = shown["enas"]["history"].as_array().unwrap().clone();
    for e in &mut epochs {
        let e = e.as_object_mut().unwrap();
        e.remove("seconds");
        e.remove("controller_seconds");
    }
    (candidates, epochs)
}

#[test]
fn an_enas_search_stopped_with_ctrl_c_then_killed_at_random_points_resumes_to_the_uninterrupted_history(
) {
    let dir = scratch();
    ok(nas(dir.path()).args(args("resnet-cells", "straight", 7)));
    let expected = history(dir.path(), "straight");
    assert_eq!(expected.0.len(), 2);
    assert_eq!(
        expected.0.iter().filter(|c| c[5].is_f64()).count(),
        1,
        "one finalist"
    );
    assert_eq!(expected.1.len(), 2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let (mut kills, mut started) = (0, false);
    loop {
        let mut cmd = nas(dir.path());
        if started {
            cmd.args(["search", "--resume", "killed", "--json"]);
        } else {
            cmd.args(args("resnet-cells", "killed", 7));
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        started = true;
        if kills < 5 {
            std::thread::sleep(Duration::from_millis(rng.random_range(300..4000)));
            if child.try_wait().unwrap().is_none() {
                if kills == 0 {
                    // the first stop is a Ctrl-C: a clean exit that says how to resume
                    let sent = std::process::Command::new("kill")
                        .args(["-INT", &child.id().to_string()])
                        .status()
                        .unwrap();
                    assert!(sent.success());
                    let out = child.wait_with_output().unwrap();
                    let err = String::from_utf8_lossy(&out.stderr);
                    assert!(!err.contains("panicked"), "{err}");
                    if out.status.success() {
                        break; // it finished before the signal came
                    }
                    assert_eq!(out.status.code(), Some(130), "{err}");
                    assert!(err.contains("nas search --resume runs/killed"), "{err}");
                    assert_eq!(show(dir.path(), "killed")["run"]["status"], "interrupted");
                } else {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                }
                kills += 1;
                continue;
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        break;
    }
    assert!(kills >= 1, "the search finished before the first kill");
    assert_eq!(history(dir.path(), "killed"), expected);
}
