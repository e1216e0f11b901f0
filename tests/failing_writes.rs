//! Writes that fail: a full disk (a file-size limit, so that writes fail with EFBIG, needing no
//! mount) and a run folder made read-only. The search ends with exit 2 and a message naming the
//! file and the cause, and once the cause is gone the run resumes to exactly the history of a
//! search that ran straight through.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{nas, ok, scratch};

fn table_args(run: &str) -> Vec<String> {
    [
        "search",
        "--space",
        "toy-table",
        "--samples",
        "1500",
        "--batch",
        "8",
        "--seed",
        "5",
        "--json",
        "--run",
        run,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn history(dir: &Path, run: &str) -> serde_json::Value {
    let out = ok(nas(dir).args(["show", run, "--json"]));
    let mut shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut candidates = shown["candidates"].take();
    let list = candidates.as_array_mut().unwrap();
    list.sort_by_key(|c| c["id"].as_u64());
    for c in list.iter_mut() {
        // timings differ from run to run; everything else must not
        for key in ["started_at", "finished_at", "seconds"] {
            c.as_object_mut().unwrap().remove(key);
        }
    }
    candidates
}

/// Runs `cmd` with its files limited to `bytes` (RLIMIT_FSIZE, set in the child itself).
fn with_file_limit(cmd: &mut Command, bytes: u64) -> Output {
    // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

fn assert_clean_failure(out: &Output, run: &str, cause: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let first = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
    assert!(
        first.contains(run),
        "the message names the run's file: {err}"
    );
    assert!(
        cause.iter().any(|c| first.contains(c)),
        "the message gives the cause: {err}"
    );
    err
}

#[test]
fn a_full_disk_ends_the_search_cleanly_and_the_run_resumes_once_there_is_room() {
    let dir = scratch();
    ok(nas(dir.path()).args(table_args("straight")));
    let expected = history(dir.path(), "straight");
    for limit in [300_000u64, 900_000] {
        let run = format!("full-{limit}");
        let out = with_file_limit(nas(dir.path()).args(table_args(&run)), limit);
        assert_clean_failure(&out, &run, &["File too large", "os error 27"]);
        // still no room: refused again, nothing harmed
        let again = with_file_limit(nas(dir.path()).args(["search", "--resume", &run]), limit);
        assert_eq!(again.status.code(), Some(2));
        ok(nas(dir.path()).args(["search", "--resume", &run, "--json"]));
        assert_eq!(history(dir.path(), &run), expected, "limit {limit}");
    }
}

/// Makes every file and folder under `path` read-only (`chattr +i` for root, whom permission
/// bits do not stop) or writable again.
fn set_read_only(path: &Path, read_only: bool) {
    let root = unsafe { libc::geteuid() } == 0;
    let status = if root {
        let flag = if read_only { "+i" } else { "-i" };
        Command::new("chattr").args(["-R", flag]).arg(path).status()
    } else {
        let mode = if read_only { "a-w" } else { "u+w" };
        Command::new("chmod").args(["-R", mode]).arg(path).status()
    };
    assert!(
        status.unwrap().success(),
        "could not change {}",
        path.display()
    );
}

#[test]
fn a_read_only_run_folder_is_refused_with_the_file_named_and_resumes_once_writable() {
    let dir = scratch();
    ok(nas(dir.path()).args(table_args("straight")));
    let expected = history(dir.path(), "straight");
    // half a search: killed part-way
    let mut child = nas(dir.path())
        .args(table_args("ro"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    let run = dir.path().join("runs/ro");
    assert!(run.exists());
    set_read_only(&run, true);
    let out = nas(dir.path())
        .args(["search", "--resume", "ro"])
        .output()
        .unwrap();
    set_read_only(&run, false);
    assert_clean_failure(
        &out,
        "ro",
        &["Permission denied", "Operation not permitted"],
    );
    ok(nas(dir.path()).args(["search", "--resume", "ro", "--json"]));
    assert_eq!(history(dir.path(), "ro"), expected);
}
