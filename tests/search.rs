//! The search end to end through the binary: table spaces (no training), limits and
//! de-duplication (no training either), and a short real search on the synthetic data set.

mod common;

use common::{json_lines, nas, ok, scratch};

fn table_search(
    dir: &std::path::Path,
    run: &str,
    strategy: &str,
    seed: u64,
    samples: usize,
) -> Vec<serde_json::Value> {
    let out = ok(nas(dir)
        .args(["search", "--space", "toy-table", "--json", "--batch", "8"])
        .args([
            "--strategy",
            strategy,
            "--seed",
            &seed.to_string(),
            "--samples",
            &samples.to_string(),
            "--run",
            run,
        ]));
    json_lines(&out)
}

#[test]
fn a_table_search_prints_one_line_per_candidate_and_a_summary() {
    let dir = scratch();
    let lines = table_search(dir.path(), "t1", "reinforce", 1, 40);
    assert_eq!(lines.len(), 41);
    for (i, line) in lines[..40].iter().enumerate() {
        assert_eq!(line["id"], i as u64);
        assert_eq!(line["status"], "completed");
        assert!(line["reward"].as_f64().unwrap() > 0.5);
        assert!(
            line["metrics"]["params"].as_f64().is_some(),
            "other table columns are metrics"
        );
    }
    let summary = &lines[40];
    assert_eq!(summary["samples"], 40);
    let best = summary["best_reward"].as_f64().unwrap();
    let max = lines[..40]
        .iter()
        .map(|l| l["reward"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(best, max);
    // the run is readable after the process has ended
    let show = ok(nas(dir.path()).args(["show", "t1", "--json"]));
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["candidates"].as_array().unwrap().len(), 40);
    assert_eq!(
        shown["candidates"][0]["reward"].as_f64().unwrap(),
        best,
        "best first"
    );
    let runs = ok(nas(dir.path()).args(["runs", "--json"]));
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["name"], "t1");
    assert_eq!(runs[0]["samples"], 40);
}

#[test]
fn the_same_seed_gives_the_same_search_for_every_strategy() {
    let dir = scratch();
    for strategy in ["reinforce", "random", "evolution"] {
        let a = table_search(dir.path(), &format!("{strategy}-a"), strategy, 5, 48);
        let b = table_search(dir.path(), &format!("{strategy}-b"), strategy, 5, 48);
        let keys = |v: &[serde_json::Value]| {
            v[..48]
                .iter()
                .map(|l| l["hash"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&a), keys(&b), "{strategy}");
        let c = table_search(dir.path(), &format!("{strategy}-c"), strategy, 6, 48);
        assert_ne!(
            keys(&a),
            keys(&c),
            "{strategy}: another seed searches differently"
        );
    }
}

#[test]
fn reinforce_beats_random_on_the_table_over_ten_seeds() {
    let dir = scratch();
    let mut diffs = Vec::new();
    for seed in 0..10u64 {
        let best = |strategy: &str| {
            let lines = table_search(
                dir.path(),
                &format!("{strategy}-{seed}"),
                strategy,
                seed,
                800,
            );
            lines.last().unwrap()["best_reward"].as_f64().unwrap()
        };
        diffs.push(best("reinforce") - best("random"));
    }
    let n = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / n;
    let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let se = sd / n.sqrt();
    assert!(
        mean > 2.0 * se && mean > 0.0,
        "reinforce - random = {mean:.4} +- {se:.4} (diffs {diffs:?})"
    );
}

#[test]
fn a_limit_that_nothing_meets_is_refused_before_anything_is_written() {
    let dir = scratch();
    let out = nas(dir.path())
        .args([
            "search",
            "--space",
            "dense-cells",
            "--samples",
            "24",
            "--max-params",
            "10",
            "--dataset",
            "synthetic",
            "--run",
            "lim",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--max-params") && err.contains("no architecture of 1000 sampled"),
        "{err}"
    );
    assert!(!dir.path().join("runs/lim").exists());
}

#[test]
fn a_tight_limit_steers_the_search_and_delivers_every_sample_asked_for() {
    let dir = scratch();
    // about 8% of dense-cells has at most 90,000 parameters
    let out = ok(nas(dir.path()).args([
        "search",
        "--space",
        "dense-cells",
        "--samples",
        "4",
        "--batch",
        "4",
        "--max-params",
        "90000",
        "--dataset",
        "synthetic",
        "--epochs",
        "1",
        "--train-size",
        "128",
        "--val-size",
        "64",
        "--finalists",
        "0",
        "--strategy",
        "random",
        "--json",
        "--run",
        "lim",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("within the limits") && err.contains("% of `dense-cells`"),
        "{err}"
    );
    let lines = json_lines(&out);
    let candidates = &lines[..lines.len() - 1];
    let trained = candidates
        .iter()
        .filter(|l| l["status"] != "rejected")
        .count();
    let rejected = candidates
        .iter()
        .filter(|l| l["status"] == "rejected")
        .count();
    assert_eq!(trained, 4, "every sample asked for is within the limit");
    assert!(
        rejected > 4,
        "most of the space is over the limit: {rejected} rejected"
    );
    let show = ok(nas(dir.path()).args(["show", "lim", "--json"]));
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    for c in shown["candidates"].as_array().unwrap() {
        match c["status"].as_str().unwrap() {
            "rejected" => {
                assert!(
                    c["reason"].as_str().unwrap().contains("--max-params 90000"),
                    "{c}"
                );
                assert!(
                    c["started_at"].is_null(),
                    "rejected candidates are never trained"
                );
            }
            _ => assert!(c["params"].as_u64().unwrap() <= 90_000, "{c}"),
        }
    }
}

#[test]
fn duplicates_point_at_the_first_candidate_with_the_same_network() {
    let dir = scratch();
    // a space with only 2 architectures: most of 12 samples are duplicates
    let space = dir.path().join("two.toml");
    std::fs::write(
        &space,
        "version = 1\nname = \"two\"\n[skeleton]\nstem_channels = 4\nstages = 1\nreduce = \"conv\"\n\
         channel_growth = 1.0\n[choices]\ncells_per_stage = [1]\ncell = [\"residual\"]\nkernel = [1, 3]\n",
    )
    .unwrap();
    let out = ok(nas(dir.path())
        .args(["search", "--space", space.to_str().unwrap()])
        .args([
            "--samples",
            "12",
            "--batch",
            "4",
            "--dataset",
            "synthetic",
            "--epochs",
            "1",
            "--train-size",
            "256",
            "--val-size",
            "128",
            "--finalists",
            "0",
            "--json",
            "--run",
            "dup",
            "--strategy",
            "random",
        ]));
    let lines = json_lines(&out);
    let completed: Vec<_> = lines[..12]
        .iter()
        .filter(|l| l["status"] == "completed")
        .collect();
    let dups: Vec<_> = lines[..12]
        .iter()
        .filter(|l| l["status"] == "duplicate")
        .collect();
    assert_eq!(
        completed.len(),
        2,
        "each of the two networks is trained once"
    );
    assert_eq!(dups.len(), 10);
    for d in dups {
        let original = completed.iter().find(|c| c["hash"] == d["hash"]).unwrap();
        assert_eq!(original["reward"], d["reward"]);
    }
}

#[test]
fn a_short_real_search_trains_children_on_the_synthetic_set() {
    let dir = scratch();
    let out = ok(nas(dir.path()).args([
        "search",
        "--space",
        "resnet-cells",
        "--samples",
        "3",
        "--batch",
        "3",
        "--dataset",
        "synthetic",
        "--epochs",
        "2",
        "--train-size",
        "2000",
        "--val-size",
        "500",
        "--finalists",
        "0",
        "--json",
        "--run",
        "real",
    ]));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    for l in &lines[..3] {
        assert!(
            ["completed", "duplicate"].contains(&l["status"].as_str().unwrap()),
            "{l}"
        );
        let acc = l["metrics"]["val_acc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert_eq!(l["reward"].as_f64().unwrap(), acc);
    }
    assert!(
        lines[3]["best_reward"].as_f64().unwrap() > 0.5,
        "better than chance (0.1) after two epochs"
    );
}

#[test]
fn a_fire_cells_search_trains_squeezenet_cells() {
    let dir = scratch();
    let out = ok(nas(dir.path()).args([
        "search",
        "--space",
        "fire-cells",
        "--samples",
        "2",
        "--batch",
        "2",
        "--dataset",
        "synthetic",
        "--train-size",
        "2000",
        "--val-size",
        "256",
        "--epochs",
        "2",
        "--finalists",
        "0",
        "--json",
        "--run",
        "fire",
    ]));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "two candidates and a summary");
    for l in &lines[..2] {
        assert_eq!(l["status"], "completed", "{l}");
    }
    assert!(
        lines[2]["best_reward"].as_f64().unwrap() > 0.2,
        "better than chance: {}",
        lines[2]
    );
}

#[test]
fn drop_path_is_kept_with_the_run_and_refused_out_of_range() {
    let dir = scratch();
    let bad = nas(dir.path())
        .args(["search", "--space", "resnet-cells", "--drop-path", "1.5"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--drop-path"), "{stderr}");
    ok(nas(dir.path()).args([
        "search",
        "--space",
        "resnet-cells",
        "--samples",
        "1",
        "--dataset",
        "synthetic",
        "--train-size",
        "256",
        "--val-size",
        "64",
        "--finalists",
        "0",
        "--drop-path",
        "0.2",
        "--json",
        "--run",
        "dropped",
    ]));
    let shown = ok(nas(dir.path()).args(["show", "runs/dropped", "--json"]));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let rate = &shown["run"]["settings"]["train"]["drop_path"];
    assert_eq!(rate.as_f64(), Some(0.2), "{}", shown["run"]["settings"]);
}
