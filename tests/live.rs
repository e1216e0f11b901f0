//! Runs are readable while a search writes them (`show`, `runs`, `export`, and their JSON), a
//! second writer is still refused, and default run names stay unique when searches start at
//! the same instant.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};

use common::{json_lines, nas, ok, scratch};

/// A search started in the background, with its `--json` lines readable as they come.
struct Running {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Running {
    fn start(dir: &Path, args: &[&str]) -> Running {
        let mut child = nas(dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap());
        Running { child, lines }
    }

    /// Waits for the next candidate the search reports as finished; returns its id.
    fn next_finished(&mut self) -> u64 {
        let mut line = String::new();
        assert!(
            self.lines.read_line(&mut line).unwrap() > 0,
            "the search ended early"
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        value["id"].as_u64().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn show(dir: &Path, run: &str) -> serde_json::Value {
    serde_json::from_slice(&ok(nas(dir).args(["show", run, "--json"])).stdout).unwrap()
}

#[test]
fn a_running_table_search_is_shown_and_listed_with_everything_finished_so_far() {
    let dir = scratch();
    let mut search = Running::start(
        dir.path(),
        &[
            "search",
            "--space",
            "toy-table",
            "--samples",
            "1000000",
            "--batch",
            "8",
            "--run",
            "live",
            "--json",
        ],
    );
    let mut last = 0;
    for _ in 0..40 {
        last = search.next_finished();
    }
    let shown = show(dir.path(), "live");
    assert_eq!(shown["run"]["status"], "running");
    let ids: Vec<u64> = shown["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    for id in 0..=last {
        assert!(
            ids.contains(&id),
            "candidate {id} was reported but is not shown"
        );
    }
    let text =
        String::from_utf8_lossy(&ok(nas(dir.path()).args(["show", "live", "--top", "3"])).stdout)
            .into_owned();
    assert!(text.contains("running"), "{text}");

    let runs: serde_json::Value =
        serde_json::from_slice(&ok(nas(dir.path()).args(["runs", "--json"])).stdout).unwrap();
    let run = &runs.as_array().unwrap()[0];
    assert_eq!(run["status"], "running");
    assert!(run["samples"].as_u64().unwrap() > last);

    let second = nas(dir.path())
        .args(["search", "--resume", "live"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("another nas process"), "{err}");
    drop(search);
    let after = show(dir.path(), "live");
    assert_eq!(after["run"]["status"], "interrupted");
}

#[test]
fn a_running_training_search_exports_its_best_candidate_so_far() {
    let dir = scratch();
    let mut search = Running::start(
        dir.path(),
        &[
            "search",
            "--space",
            "resnet-cells",
            "--dataset",
            "synthetic",
            "--samples",
            "40",
            "--batch",
            "2",
            "--epochs",
            "1",
            "--train-size",
            "256",
            "--val-size",
            "128",
            "--run",
            "live",
            "--json",
        ],
    );
    let first = search.next_finished();
    let out = ok(nas(dir.path()).args(["export", "live", "--out", "exp", "--json"]));
    let exported: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = exported.to_string();
    assert!(text.contains("candidate_"), "{text}");
    assert!(dir.path().join("exp").read_dir().unwrap().count() >= 3);
    let shown = show(dir.path(), "live");
    assert_eq!(shown["run"]["status"], "running");
    assert!(shown["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == first));
}

#[test]
fn searches_started_together_get_distinct_default_names() {
    let dir = scratch();
    let children: Vec<Child> = (0..4)
        .map(|i| {
            let strategy = ["random", "evolution", "random", "reinforce"][i];
            nas(dir.path())
                .args([
                    "search",
                    "--space",
                    "toy-table",
                    "--samples",
                    "40",
                    "--strategy",
                    strategy,
                    "--json",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut runs = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = json_lines(&out).pop().unwrap();
        runs.push(summary["run"].as_str().unwrap().to_string());
    }
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), 4, "{runs:?}");
    let listed: serde_json::Value =
        serde_json::from_slice(&ok(nas(dir.path()).args(["runs", "--json"])).stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 4);
    for run in listed.as_array().unwrap() {
        assert_eq!(run["status"], "finished");
        assert_eq!(run["samples"], 40);
    }
}
