//! Helpers shared by the integration tests: the binary, a scratch folder, JSON output.
#![allow(dead_code)]

pub mod folders;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `nas` binary built for this test run, started in `dir`.
pub fn nas(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nas"));
    cmd.current_dir(dir);
    cmd
}

/// A scratch folder with the shipped spaces and data reachable (the binary looks in its
/// source tree when the current folder has none).
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a command and returns its output, panicking with stderr when it fails.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run nas");
    assert!(
        out.status.success(),
        "nas failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Stdout parsed as JSON lines.
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// One candidate as (id, hash, status, reward).
pub type Row = (u64, String, String, f64);

/// Candidates of a run as (id, hash, status, reward), by id, from `nas show --json` (which
/// reads the run's journal and works while a search writes it).
pub fn history(dir: &Path, run: &str) -> std::collections::BTreeMap<u64, Row> {
    let out = ok(nas(dir).args(["show", run, "--json"]));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    shown["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = c["id"].as_u64().unwrap();
            let row = (
                id,
                c["hash"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["reward"].as_f64().unwrap(),
            );
            (id, row)
        })
        .collect()
}
