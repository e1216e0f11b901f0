//! `nas bench search` end to end: the real binary's JSON read back as the library's comparison,
//! on the toy table and on a shipped NAS-Bench-201 table, its table output, and its bad input.

mod common;

use common::{nas, ok, scratch};
use nas::bench::search::Comparison;

fn comparison(dir: &std::path::Path, args: &[&str]) -> Comparison {
    let out = ok(nas(dir).args(["bench", "search", "--json"]).args(args));
    serde_json::from_slice(&out.stdout).expect("the comparison as JSON")
}

#[test]
fn bench_search_compares_every_strategy_and_budget_on_the_toy_table() {
    let dir = scratch();
    let c = comparison(
        dir.path(),
        &["--space", "toy-table", "--samples", "16,40", "--seeds", "3"],
    );
    assert_eq!(
        (c.space.as_str(), c.metric.as_str()),
        ("toy-table", "val_acc")
    );
    assert_eq!((c.table_rows, c.table_best), (4096, Some(0.95)));
    let rows: Vec<(String, usize, usize)> = c
        .rows
        .iter()
        .map(|r| (r.strategy.to_string(), r.budget, r.runs))
        .collect();
    let want: Vec<(String, usize, usize)> = ["reinforce", "random", "evolution"]
        .iter()
        .flat_map(|s| [16, 40].map(|b| (s.to_string(), b, 3)))
        .collect();
    assert_eq!(rows, want);
    for row in &c.rows {
        assert!(row.mean > 0.5 && row.mean <= 0.95, "{row:?}");
        assert!(row.mean_rank >= 1.0 && row.mean_rank <= 4096.0);
        for r in &row.results {
            assert_eq!(r.metric, r.best.reward, "scored by the reward column");
            assert_eq!(r.best.samples, row.budget);
        }
    }
    assert!(
        !dir.path().join("runs").exists(),
        "bench search creates no run folder"
    );
    // the same seeds give the same comparison
    let again = comparison(
        dir.path(),
        &["--space", "toy-table", "--samples", "16,40", "--seeds", "3"],
    );
    assert_eq!(c, again);
}

#[test]
fn bench_search_scores_nb201_by_the_200_epoch_test_accuracy() {
    let dir = scratch();
    let out = ok(nas(dir.path()).args([
        "bench",
        "search",
        "--space",
        "nb201-cifar100",
        "--strategies",
        "reinforce,random",
        "--samples",
        "12",
        "--seeds",
        "2",
        "--metric",
        "test_200",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("TEST_200 (MEAN ± STD)"), "{text}");
    assert!(lines[1].starts_with("reinforce"), "{text}");
    assert!(lines[2].starts_with("random"), "{text}");
    assert!(
        lines[3].contains("nb201-cifar100: reward val_12")
            && lines[3].contains("15,625 rows (the best has 73.51)"),
        "{text}"
    );
    let c = comparison(
        dir.path(),
        &[
            "--space",
            "nb201-imagenet16",
            "--strategies",
            "evolution",
            "--samples",
            "12",
            "--seeds",
            "2",
            "--metric",
            "test_200",
        ],
    );
    assert_eq!(c.table_best, Some(47.3111));
    let r = &c.rows[0].results[0];
    assert!(r.metric > 10.0 && r.metric <= 47.3111, "{r:?}");
    assert!(r.rank >= 1 && r.rank <= 15_625, "{r:?}");
}

/// Runs `args` and checks exit code 2 with `want` in the one-line error.
fn refused(args: &[&str], want: &str) {
    let dir = scratch();
    let out = nas(dir.path()).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(want), "{args:?}: want `{want}` in: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn bench_search_refuses_bad_input_with_exit_code_2() {
    let base = ["bench", "search", "--space", "toy-table"];
    let with = |extra: &[&'static str]| [&base[..], extra].concat();
    refused(&with(&["--metric", "test_200"]), "--metric");
    refused(&with(&["--samples", "50,0"]), "--samples");
    refused(&with(&["--seeds", "0"]), "--seeds");
    refused(
        &with(&["--strategies", "reinforce,annealing"]),
        "--strategies",
    );
    refused(&with(&["--controller-lr", "nan"]), "--controller-lr");
    refused(&with(&["--ppo-clip", "-0.2"]), "--ppo-clip");
    refused(&with(&["--controller-algo", "a2c"]), "--controller-algo");
    refused(
        &["bench", "search", "--space", "resnet-cells"],
        "cell space",
    );
}
