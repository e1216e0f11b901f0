//! Successive halving and finalists through the binary: rungs on a table space with fidelities
//! and on a cell space, the `rungs` list in `nas show --json`, finalists trained on the whole
//! training split with a test accuracy, `nas finalize`, `nas export` preferring a finalist's
//! weights, and exact resumes of halving and finalist runs killed at many points.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{json_lines, nas, ok, scratch};
use rand::{Rng, SeedableRng};

/// A table space of 4 x 4 x 4 architectures whose cheap fidelity (`val_1`, 1 epoch) ranks them
/// only roughly like the expensive one (`val_9`, 9 epochs).
fn fidelity_table(dir: &Path) -> String {
    let mut csv = String::from("arch,val_1,val_9,test_9\n");
    for a in 0..4 {
        for b in 0..4 {
            for c in 0..4 {
                let quality = (a * 16 + b * 4 + c) as f64 / 63.0;
                let wobble = ((a * 7 + b * 3 + c * 5) % 9) as f64 / 9.0;
                let val_1 = 0.3 + 0.3 * quality + 0.2 * wobble;
                let val_9 = 0.5 + 0.45 * quality;
                csv.push_str(&format!(
                    "{a}-{b}-{c},{val_1:.4},{val_9:.4},{:.4}\n",
                    val_9 - 0.01
                ));
            }
        }
    }
    std::fs::write(dir.join("fid.csv"), csv).unwrap();
    let choices = "choices = [\"p\", \"q\", \"r\", \"s\"]\n";
    let mut toml = String::from(
        "version = 1\nname = \"fid\"\nkind = \"table\"\ntable = \"fid.csv\"\nreward = \"val_1\"\n\n\
         [[fidelity]]\ncolumn = \"val_1\"\nepochs = 1\n\n[[fidelity]]\ncolumn = \"val_9\"\nepochs = 9\n",
    );
    for name in ["a", "b", "c"] {
        toml.push_str(&format!("\n[[decision]]\nname = \"{name}\"\n{choices}"));
    }
    std::fs::write(dir.join("fid.toml"), toml).unwrap();
    "fid.toml".into()
}

fn show(dir: &Path, run: &str) -> serde_json::Value {
    serde_json::from_slice(&ok(nas(dir).args(["show", run, "--json"])).stdout).unwrap()
}

#[test]
fn halving_on_a_table_promotes_the_best_third_of_each_rung_at_the_fidelity_cost() {
    let dir = scratch();
    let space = fidelity_table(dir.path());
    let out = ok(nas(dir.path()).args([
        "search",
        "--space",
        &space,
        "--schedule",
        "halving",
        "--samples",
        "30",
        "--batch",
        "5",
        "--strategy",
        "random",
        "--seed",
        "2",
        "--json",
        "--run",
        "h",
    ]));
    let summary = json_lines(&out).pop().unwrap();
    let shown = show(dir.path(), "h");
    let candidates = shown["candidates"].as_array().unwrap();
    let at_rung = |k: usize| {
        candidates
            .iter()
            .filter(|c| c["rungs"].as_array().is_some_and(|r| r.len() > k))
            .count()
    };
    let completed = at_rung(0);
    assert!(completed >= 20, "{completed} of 30 were distinct");
    // ASHA promotes greedily (whatever is in the top third when a worker is free), so at
    // the end at least the top third of rung 0 has moved up, and far from everything
    assert!(
        at_rung(1) >= completed / 3,
        "{} promoted of {completed}",
        at_rung(1)
    );
    assert!(
        at_rung(1) < completed,
        "{} promoted of {completed}",
        at_rung(1)
    );
    for c in candidates {
        let rungs = c["rungs"].as_array().unwrap();
        if rungs.len() == 2 {
            assert_eq!(rungs[1]["epochs"], 9);
            assert_eq!(rungs[1]["val_acc"], c["metrics"]["val_9"]);
        }
        if let Some(r0) = rungs.first() {
            assert_eq!(
                r0["val_acc"], c["reward"],
                "the strategy learns from rung 0"
            );
        }
    }
    let spent = summary["epochs_spent"].as_f64().unwrap();
    assert_eq!(spent, (completed + 8 * at_rung(1)) as f64);
    // every candidate of the final top third of rung 0 was promoted
    let mut rung0: Vec<f64> = candidates
        .iter()
        .filter_map(|c| c["rungs"][0]["val_acc"].as_f64())
        .collect();
    rung0.sort_by(|a, b| b.total_cmp(a));
    let first_outside = rung0[completed / 3];
    for c in candidates {
        let rungs = c["rungs"].as_array().unwrap();
        if rungs
            .first()
            .is_some_and(|r| r["val_acc"].as_f64().unwrap() > first_outside)
        {
            assert_eq!(
                rungs.len(),
                2,
                "a top-third candidate was not promoted: {c}"
            );
        }
    }
    // the best candidate is the best at the highest rung
    let best = &candidates[0];
    assert_eq!(best["rungs"].as_array().unwrap().len(), 2);
    assert_eq!(summary["best_id"], best["id"]);
}

fn cell_halving_args(run: &str) -> Vec<String> {
    [
        "search",
        "--space",
        "resnet-cells",
        "--dataset",
        "synthetic",
        "--schedule",
        "halving",
        "--min-epochs",
        "1",
        "--epochs",
        "3",
        "--eta",
        "3",
        "--samples",
        "6",
        "--batch",
        "3",
        "--train-size",
        "128",
        "--val-size",
        "64",
        "--seed",
        "6",
        "--workers",
        "1",
        "--finalists",
        "1",
        "--final-epochs",
        "1",
        "--json",
        "--run",
        run,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A run's history with every rung and finalist figure, timings left out.
fn history(dir: &Path, run: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for c in show(dir, run)["candidates"].as_array().unwrap() {
        let rungs: Vec<serde_json::Value> = c["rungs"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|r| serde_json::json!([r["rung"], r["epochs"], r["val_acc"]]))
                    .collect()
            })
            .unwrap_or_default();
        let finalist = &c["finalist"];
        out.push(serde_json::json!({
            "id": c["id"], "hash": c["hash"], "status": c["status"], "reward": c["reward"],
            "rungs": rungs,
            "finalist": [finalist["val_acc"], finalist["test_acc"], finalist["train_images"]],
        }));
    }
    out.sort_by_key(|c| c["id"].as_u64());
    out
}

#[test]
fn a_cell_halving_search_with_a_finalist_survives_kills_and_resumes_exactly() {
    let dir = scratch();
    let out = ok(nas(dir.path()).args(cell_halving_args("straight")));
    let summary = json_lines(&out).pop().unwrap();
    let expected = history(dir.path(), "straight");
    let promoted = expected
        .iter()
        .filter(|c| c["rungs"].as_array().unwrap().len() == 2)
        .count();
    assert!(promoted >= 1, "{expected:?}");
    // the finalist: trained on the whole training split, with a test accuracy
    let delivered = &summary["delivered"];
    let id = delivered["id"].as_u64().unwrap();
    let finalist = expected.iter().find(|c| c["id"] == id).unwrap();
    assert!(
        finalist["finalist"][2].as_u64().unwrap() > 128,
        "{finalist}"
    );
    assert!(delivered["test_acc"].as_f64().unwrap() > 0.0);
    for file in ["source", "weights", "arch"] {
        assert!(
            dir.path().join(delivered[file].as_str().unwrap()).is_file(),
            "{delivered}"
        );
    }
    let code =
        std::fs::read_to_string(dir.path().join(delivered["source"].as_str().unwrap())).unwrap();
    assert!(
        code.contains("finalist training from scratch"),
        "the export says which weights"
    );

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    let mut kills = 0;
    loop {
        let mut cmd = nas(dir.path());
        if dir.path().join("runs/killed").exists() {
            cmd.args(["search", "--resume", "killed", "--json"]);
        } else {
            cmd.args(cell_halving_args("killed"));
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if kills < 12 {
            std::thread::sleep(Duration::from_millis(rng.random_range(5..3000)));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                continue;
            }
        }
        assert!(child.wait().unwrap().success());
        break;
    }
    assert!(kills >= 10, "{kills}");
    assert_eq!(
        history(dir.path(), "killed"),
        expected,
        "same promotions, rungs and finalist after {kills} kills"
    );
}

#[test]
fn finalize_trains_the_finalists_of_a_finished_run_and_export_prefers_them() {
    let dir = scratch();
    ok(nas(dir.path()).args([
        "search",
        "--space",
        "resnet-cells",
        "--dataset",
        "synthetic",
        "--samples",
        "3",
        "--batch",
        "3",
        "--epochs",
        "1",
        "--train-size",
        "128",
        "--val-size",
        "64",
        "--finalists",
        "0",
        "--json",
        "--run",
        "done",
    ]));
    assert!(show(dir.path(), "done")["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["finalist"].is_null()));
    let out =
        ok(nas(dir.path()).args(["finalize", "done", "--top", "2", "--epochs", "1", "--json"]));
    let lines = json_lines(&out);
    let finalists: Vec<_> = lines
        .iter()
        .filter(|l| l.get("finalist").is_some())
        .collect();
    assert_eq!(finalists.len(), 2);
    let shown = show(dir.path(), "done");
    let with: Vec<_> = shown["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["finalist"].is_null())
        .collect();
    assert_eq!(with.len(), 2);
    for c in &with {
        let f = &c["finalist"];
        assert!(f["test_acc"].as_f64().unwrap() > 0.0, "{f}");
        assert_eq!(f["epochs"], 1);
        assert!(f["train_images"].as_u64().unwrap() > 128);
    }
    // already trained for 1 epoch: nothing to do again
    let again =
        ok(nas(dir.path()).args(["finalize", "done", "--top", "2", "--epochs", "1", "--json"]));
    assert!(json_lines(&again)
        .iter()
        .all(|l| l.get("finalist").is_none()));
    let exported = ok(nas(dir.path()).args([
        "export",
        "done",
        "--id",
        &with[0]["id"].to_string(),
        "--out",
        "exp",
        "--json",
    ]));
    let text = String::from_utf8_lossy(&exported.stdout).into_owned();
    let code_path = dir
        .path()
        .join("exp")
        .join(format!("candidate_{}.rs", with[0]["id"]));
    let code = std::fs::read_to_string(code_path).unwrap();
    assert!(code.contains("finalist training from scratch"), "{text}");
    // a table run has nothing to finalize
    ok(nas(dir.path()).args([
        "search",
        "--space",
        "toy-table",
        "--samples",
        "8",
        "--run",
        "t",
    ]));
    let refused = nas(dir.path()).args(["finalize", "t"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("table space"));
}
