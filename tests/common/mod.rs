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
