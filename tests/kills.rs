//! Crash safety: the `nas` process itself killed with SIGKILL at hundreds of points (from the
//! first milliseconds of a new run, while it creates its folder, to a second in), resumed each
//! time, ends with exactly the history of a search that ran straight through. After every kill,
//! every candidate the killed process had reported as finished is in the run, each recorded
//! candidate equals the uninterrupted run's candidate with its id, and the run opens.
//!
//! `NAS_KILLS=2000 cargo test --release --test kills -- --ignored` runs the long soak.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{history, json_lines, nas, ok, scratch, Row};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A delay between 1 ms and `max_ms`, uniform on a log scale, so that kills land as often in
/// a run's first writes as late in it.
fn log_delay(rng: &mut ChaCha8Rng, max_ms: f64) -> Duration {
    let ms = rng.random_range(0.0..max_ms.ln()).exp();
    Duration::from_micros((ms * 1000.0) as u64)
}

/// The ids a killed search had printed as finished (its `--json` lines).
fn reported(stdout: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["id"].as_u64())
        .collect()
}

/// Runs `first` (or `--resume RUN` once the run folder exists), kills it after `delay()`, checks
/// the run against `expected`, and repeats until a process finishes by itself or `max_kills`
/// kills are done (then it runs to the end). Returns the number of kills.
fn kill_series(
    dir: &Path,
    first: &[String],
    run: &str,
    expected: &BTreeMap<u64, Row>,
    max_kills: usize,
    mut delay: impl FnMut() -> Duration,
) -> usize {
    let mut kills = 0;
    loop {
        let mut cmd = nas(dir);
        if dir.join("runs").join(run).exists() {
            cmd.args(["search", "--resume", run, "--json"]);
        } else {
            cmd.args(first);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if kills < max_kills {
            std::thread::sleep(delay());
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL to nas itself
                let out = child.wait_with_output().unwrap();
                kills += 1;
                check_after_kill(dir, run, expected, &reported(&out.stdout), kills);
                continue;
            }
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "after {kills} kills: {err}");
        assert!(!err.contains("panicked"), "{err}");
        return kills;
    }
}

fn check_after_kill(
    dir: &Path,
    run: &str,
    expected: &BTreeMap<u64, Row>,
    reported: &[u64],
    kill: usize,
) {
    if !dir.join("runs").join(run).exists() {
        assert!(
            reported.is_empty(),
            "kill {kill}: a run that reported candidates is gone"
        );
        return;
    }
    let got = history(dir, run);
    for id in reported {
        assert!(
            got.contains_key(id),
            "kill {kill}: candidate {id} was reported finished, then lost"
        );
    }
    for (id, row) in &got {
        assert_eq!(
            Some(row),
            expected.get(id),
            "kill {kill}: candidate {id} differs from the straight run"
        );
    }
}

fn table_args(run: &str, seed: u64, samples: usize) -> Vec<String> {
    let samples = samples.to_string();
    let seed = seed.to_string();
    [
        "search",
        "--space",
        "toy-table",
        "--samples",
        &samples,
        "--batch",
        "8",
        "--seed",
        &seed,
        "--json",
        "--run",
        run,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Table searches killed at `target` points or more, in series of at most 40 kills each.
fn table_searches_survive_kills(target: usize) {
    let dir = scratch();
    let mut rng = ChaCha8Rng::seed_from_u64(20261202);
    let mut expected = BTreeMap::new();
    for seed in 0..3 {
        let run = format!("straight-{seed}");
        ok(nas(dir.path()).args(table_args(&run, seed, 400)));
        let history = history(dir.path(), &run);
        assert_eq!(history.len(), 400);
        expected.insert(seed, history);
    }
    let (mut total, mut series) = (0, 0);
    while total < target {
        let seed = series % 3;
        let run = format!("killed-{series}");
        let args = table_args(&run, seed, 400);
        let kills = kill_series(dir.path(), &args, &run, &expected[&seed], 40, || {
            log_delay(&mut rng, 1000.0)
        });
        let got = history(dir.path(), &run);
        assert_eq!(
            got, expected[&seed],
            "series {series}: the whole history after {kills} kills"
        );
        total += kills;
        series += 1;
    }
    eprintln!("{total} kill points over {series} table searches");
}

#[test]
fn table_searches_killed_at_two_hundred_points_end_with_the_uninterrupted_history() {
    table_searches_survive_kills(200);
}

/// The long soak: `NAS_KILLS` kill points (default 2000).
#[test]
#[ignore]
fn soak_table_searches_killed_at_thousands_of_points() {
    let target = std::env::var("NAS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    table_searches_survive_kills(target);
}

fn training_args(run: &str) -> Vec<String> {
    [
        "search",
        "--space",
        "resnet-cells",
        "--samples",
        "6",
        "--batch",
        "2",
        "--seed",
        "4",
        "--dataset",
        "synthetic",
        "--epochs",
        "1",
        "--train-size",
        "256",
        "--val-size",
        "128",
        "--workers",
        "1",
        "--finalists",
        "0",
        "--json",
        "--run",
        run,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The files of an export folder, by name (temporary files of an atomic write left out).
fn export_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .map(|name| (name.clone(), std::fs::read(dir.join(&name)).unwrap()))
        .collect()
}

#[test]
fn a_training_search_and_its_export_killed_at_many_points_lose_nothing() {
    let dir = scratch();
    ok(nas(dir.path()).args(training_args("straight")));
    let expected = history(dir.path(), "straight");
    assert_eq!(expected.len(), 6);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut kills = 0;
    let mut series = 0;
    while kills < 12 {
        let run = format!("killed-{series}");
        kills += kill_series(dir.path(), &training_args(&run), &run, &expected, 8, || {
            Duration::from_millis(rng.random_range(5..2500))
        });
        assert_eq!(history(dir.path(), &run), expected, "series {series}");
        series += 1;
    }

    // `nas export` is a reader: killing it never harms the run, and it writes each file whole.
    let export = |out: &str| -> Command {
        let mut cmd = nas(dir.path());
        cmd.args(["export", "runs/killed-0", "--top", "2", "--out", out]);
        cmd
    };
    ok(&mut export("exp"));
    let reference = export_files(&dir.path().join("exp"));
    // two candidates (code, weights, architecture each) and the shared preprocess.rs
    assert_eq!(reference.len(), 7, "{:?}", reference.keys());
    std::fs::remove_dir_all(dir.path().join("exp")).unwrap();
    let mut export_kills = 0;
    while export_kills < 15 {
        let mut child = export("exp").stdout(Stdio::null()).spawn().unwrap();
        std::thread::sleep(log_delay(&mut rng, 800.0));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            export_kills += 1;
        }
        child.wait().unwrap();
        for (name, bytes) in export_files(&dir.path().join("exp")) {
            assert_eq!(
                Some(&bytes),
                reference.get(&name),
                "{name} is torn or different"
            );
        }
        if export_kills % 5 == 0 {
            std::fs::remove_dir_all(dir.path().join("exp")).ok();
        }
    }
    ok(&mut export("exp"));
    assert_eq!(export_files(&dir.path().join("exp")), reference);
    assert_eq!(history(dir.path(), "killed-0"), expected);
    let resumed = ok(nas(dir.path()).args(["search", "--resume", "killed-0", "--json"]));
    assert_eq!(
        json_lines(&resumed).len(),
        1,
        "a finished run has nothing left to do"
    );
}
