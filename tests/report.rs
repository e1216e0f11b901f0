//! `nas report` end to end: real short searches through the binary, their report rendered by
//! headless Chromium (no console errors, every plot drawn with SVG content, a screenshot that
//! is not blank), several runs on one page, the live report of a running search, and bad input.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{nas, ok, scratch};

/// The Chromium binary; CI installs it (`.ci/run`), so a missing browser fails the test.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
        {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !path.is_empty() {
                return PathBuf::from(path);
            }
        }
    }
    panic!("chromium is not installed: the report's browser test needs it (apt-get install -y chromium)");
}

/// Runs headless Chromium on `page` with `extra` arguments; returns (stdout, stderr).
fn browse(page: &Path, profile: &Path, extra: &[String]) -> (String, String) {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("start chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Renders `page` in Chromium at `width` pixels and checks it: no console message, every plot
/// drawn (the page's own check, after layout), and a screenshot with real content.
fn check_in_browser(page: &Path, work: &Path, width: u32) {
    let html = std::fs::read_to_string(page).unwrap();
    let plots = html.matches("<figure class=\"plot\"").count();
    let (dom, log) = browse(
        page,
        &work.join(format!("profile-dom-{width}")),
        &["--virtual-time-budget=3000".into(), "--dump-dom".into()],
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "console messages in the report: {console:#?}"
    );
    let drawn = format!("data-plots-drawn=\"{plots}/{plots}\"");
    assert!(
        dom.contains(&drawn),
        "not every plot drew: expected {drawn} in {}",
        &dom[..dom.len().min(400)]
    );
    let shot = work.join(format!("shot-{width}.png"));
    browse(
        page,
        &work.join(format!("profile-shot-{width}")),
        &[
            format!("--screenshot={}", shot.display()),
            format!("--window-size={width},2400"),
        ],
    );
    let image = image::open(&shot).expect("a PNG screenshot").to_luma8();
    let pixels: Vec<f64> = image.pixels().map(|p| p.0[0] as f64).collect();
    let mean = pixels.iter().sum::<f64>() / pixels.len() as f64;
    let variance = pixels.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / pixels.len() as f64;
    assert!(
        variance > 100.0,
        "the screenshot looks blank (variance {variance:.1})"
    );
}

fn table_search(dir: &Path, run: &str, strategy: &str, samples: &str) {
    ok(nas(dir).args([
        "search",
        "--space",
        "toy-table",
        "--strategy",
        strategy,
        "--samples",
        samples,
        "--batch",
        "10",
        "--seed",
        "3",
        "--run",
        run,
        "--json",
    ]));
}

#[test]
fn a_table_search_report_renders_in_chromium_with_every_plot_drawn() {
    let dir = scratch();
    table_search(dir.path(), "t1", "reinforce", "120");
    let page = dir.path().join("runs/t1/report.html");
    let left = std::fs::read_to_string(&page).expect("the search leaves its report");
    assert!(
        left.contains("finished") && !left.contains("http-equiv=\"refresh\""),
        "the page a finished search leaves does not reload"
    );
    let out = ok(nas(dir.path()).args(["report", "t1", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &json["report"]["runs"][0];
    assert_eq!(run["status"], "finished");
    assert_eq!(run["candidates"].as_array().unwrap().len(), 120);
    let html = std::fs::read_to_string(&page).unwrap();
    for plot in [
        "progress",
        "params",
        "controller-reward",
        "controller-entropy",
    ] {
        assert!(
            html.contains(&format!("data-plot=\"{plot}\"")),
            "plot {plot} missing"
        );
    }
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "a finished run's page does not reload"
    );
    for width in [1280, 390] {
        check_in_browser(&page, dir.path(), width);
    }
}

#[test]
fn several_runs_share_one_report_with_one_line_each() {
    let dir = scratch();
    table_search(dir.path(), "rl", "reinforce", "60");
    table_search(dir.path(), "rand", "random", "60");
    let page = dir.path().join("both.html");
    ok(nas(dir.path()).args(["report", "rl", "rand", "--out", page.to_str().unwrap()]));
    let html = std::fs::read_to_string(&page).unwrap();
    let progress = html
        .split("data-plot=\"progress\"")
        .nth(1)
        .unwrap()
        .split("</svg>")
        .next()
        .unwrap();
    assert!(
        progress.contains("rl best so far") && progress.contains("rand best so far"),
        "one line per run"
    );
    let controller = html
        .split("data-plot=\"controller-reward\"")
        .nth(1)
        .unwrap()
        .split("</svg>")
        .next()
        .unwrap();
    assert!(
        controller.contains("rl mean reward") && !controller.contains("rand mean reward"),
        "only the learning strategy has a controller line"
    );
    check_in_browser(&page, dir.path(), 1280);
}

#[test]
fn a_cell_search_report_draws_architectures_and_accuracy_per_epoch() {
    let dir = scratch();
    let space = dir.path().join("tiny.toml");
    std::fs::write(
        &space,
        "version = 1\nname = \"tiny\"\n[skeleton]\nstem_channels = 4\nstages = 2\nreduce = \"conv\"\n\
         channel_growth = 2.0\n[choices]\ncells_per_stage = [2, 3]\ncell = [\"residual\"]\nkernel = [1, 3]\nskip_inputs = true\n",
    )
    .unwrap();
    ok(nas(dir.path())
        .args(["search", "--space", space.to_str().unwrap()])
        .args([
            "--samples",
            "3",
            "--batch",
            "3",
            "--strategy",
            "random",
            "--dataset",
            "synthetic",
            "--epochs",
            "2",
            "--train-size",
            "128",
            "--val-size",
            "64",
            "--finalists",
            "1",
            "--final-epochs",
            "1",
            "--keep-top",
            "1",
            "--run",
            "cells",
            "--json",
        ]));
    let page = dir.path().join("runs/cells/report.html");
    let html = std::fs::read_to_string(&page).expect("the search leaves its report");
    assert!(
        html.contains("<svg class=\"arch\""),
        "an architecture drawing"
    );
    assert!(html.contains(">residual<"), "cells drawn as boxes");
    assert!(html.contains("data-plot=\"epochs-"), "accuracy per epoch");
    assert!(
        html.contains("finalist (whole training split)"),
        "the finalist's curve"
    );
    assert!(
        html.contains("nas export runs/cells --id "),
        "the export command"
    );
    check_in_browser(&page, dir.path(), 1280);
}

#[test]
fn the_live_report_reloads_while_the_search_runs_and_not_once_it_stopped() {
    let dir = scratch();
    let mut search = nas(dir.path())
        .args([
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
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(search.stdout.take().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    let page = dir.path().join("runs/live/report.html");
    let start = Instant::now();
    while !std::fs::read_to_string(&page).is_ok_and(|h| h.contains("http-equiv=\"refresh\"")) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no live report with a reload tag"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let elsewhere = dir.path().join("now.html");
    let out = ok(nas(dir.path()).args(["report", "live", "--out", elsewhere.to_str().unwrap()]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("reloads while the search runs"));
    // killed, the run is interrupted: a report written now no longer reloads
    search.kill().unwrap();
    search.wait().unwrap();
    drop(lines);
    ok(nas(dir.path()).args(["report", "live"]));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "the page of a run no longer searched does not reload"
    );
    assert!(html.contains(">interrupted<"));
}

#[test]
fn an_unknown_run_or_an_unwritable_out_is_one_line_naming_it_with_exit_code_2() {
    let dir = scratch();
    let out = nas(dir.path()).args(["report", "nosuch"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("runs/nosuch") && err.trim().lines().count() == 1,
        "{err}"
    );
    table_search(dir.path(), "t", "random", "10");
    let out = nas(dir.path())
        .args(["report", "t", "--out", "missing/dir/r.html"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("missing/dir/r.html") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(!dir.path().join("missing").exists(), "nothing half-written");
}
