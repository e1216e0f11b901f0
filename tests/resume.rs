//! Resuming: a second process on a running run is refused, a changed space file is refused
//! unless forced, and Ctrl-C stops cleanly with the way to resume. (Kills at hundreds of points
//! are in `kills.rs`.)

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{json_lines, nas, ok, scratch};

/// Candidates of a finished run as (id, hash, status, reward), from `nas show --json`.
fn history(dir: &Path, run: &str) -> Vec<(u64, String, String, f64)> {
    let out = ok(nas(dir).args(["show", run, "--json"]));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rows: Vec<(u64, String, String, f64)> = shown["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap(),
                c["hash"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["reward"].as_f64().unwrap(),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

fn assert_complete(rows: &[(u64, String, String, f64)], samples: usize) {
    assert_eq!(
        rows.len(),
        samples,
        "every asked candidate is recorded, none twice"
    );
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.0, i as u64, "ids are unique and contiguous");
    }
}

#[test]
fn a_second_process_on_a_running_run_is_refused_with_the_run_named() {
    let dir = scratch();
    let mut first = nas(dir.path())
        .args([
            "search",
            "--space",
            "toy-table",
            "--samples",
            "200000",
            "--batch",
            "8",
            "--run",
            "busy",
            "--json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let second = nas(dir.path())
        .args(["search", "--resume", "busy"])
        .output()
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("busy") && err.contains("another nas process"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn resuming_with_a_changed_space_file_is_refused_unless_forced() {
    let dir = scratch();
    let space = dir.path().join("mine.toml");
    let csv = common::repo().join("search_spaces/toy-table.csv");
    std::fs::copy(&csv, dir.path().join("toy-table.csv")).unwrap();
    let text =
        std::fs::read_to_string(common::repo().join("search_spaces/toy-table.toml")).unwrap();
    std::fs::write(&space, &text).unwrap();
    ok(nas(dir.path()).args([
        "search",
        "--space",
        "mine.toml",
        "--samples",
        "16",
        "--batch",
        "8",
        "--run",
        "r",
        "--json",
    ]));
    std::fs::write(&space, text.replace("synthetic table", "changed table")).unwrap();
    let out = nas(dir.path())
        .args(["search", "--resume", "r"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("changed since the run started") && err.contains("changed table"),
        "{err}"
    );
    ok(nas(dir.path()).args(["search", "--resume", "r", "--force"]));
}

#[test]
fn ctrl_c_stops_after_the_running_batch_and_says_how_to_resume() {
    let dir = scratch();
    let args = [
        "search",
        "--space",
        "resnet-cells",
        "--samples",
        "4",
        "--batch",
        "2",
        "--seed",
        "8",
        "--dataset",
        "synthetic",
        "--epochs",
        "3",
        "--train-size",
        "600",
        "--val-size",
        "128",
        "--workers",
        "1",
        "--finalists",
        "0",
        "--json",
        "--run",
        "int",
    ];
    let out = ctrl_c_after(nas(dir.path()).args(args), Duration::from_millis(2500));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("nas search --resume runs/int"), "{err}");
    let summary = json_lines(&out).pop().unwrap();
    assert_eq!(summary["interrupted"], true);
    ok(nas(dir.path()).args(["search", "--resume", "int", "--json"]));
    assert_complete(&history(dir.path(), "int"), 4);
}

#[test]
fn ctrl_c_stops_a_table_search_between_candidates_and_it_resumes_to_the_end() {
    // A table candidate is never in flight: the stop flag must be seen between candidates, or
    // a table search runs all its samples before it notices Ctrl-C.
    let dir = scratch();
    let samples = 200_000;
    let mut search = nas(dir.path());
    search
        .args([
            "search",
            "--space",
            "toy-table",
            "--samples",
            &samples.to_string(),
        ])
        .args(["--batch", "8", "--seed", "3", "--json", "--run", "tint"]);
    let out = ctrl_c_after(&mut search, Duration::from_millis(1500));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let summary = json_lines(&out).pop().unwrap();
    assert_eq!(summary["interrupted"], true, "{summary}");
    let done = shown_count(dir.path(), "tint");
    assert!(done > 0 && done < samples, "{done} candidates after Ctrl-C");
    // The resumed run picks up where the stopped one ended (a few more, then Ctrl-C again
    // would do; here it only has to open and go on).
    let out = ctrl_c_after(
        nas(dir.path()).args(["search", "--resume", "tint", "--json"]),
        Duration::from_millis(800),
    );
    assert_eq!(out.status.code(), Some(130));
    assert!(shown_count(dir.path(), "tint") >= done);
}

/// How many candidates `nas show --json` lists.
fn shown_count(dir: &Path, run: &str) -> usize {
    let out = ok(nas(dir).args(["show", run, "--json"]));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    shown["candidates"].as_array().unwrap().len()
}

/// Starts `cmd`, sends it SIGINT (Ctrl-C) after `wait`, and returns what it printed.
fn ctrl_c_after(cmd: &mut std::process::Command, wait: Duration) -> std::process::Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(wait);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}
