//! `nas runs` and `nas show RUN`: the stored history, read from the runs' journals (also while
//! a search is writing them).

use anyhow::Result;
use nas::search::run_dir;
use nas::store::{list_runs, Candidate, RunView};
use serde_json::json;

use super::table::{print_json, render, thousands};

/// `nas runs`: every run under runs/ with its space, strategy, samples and best reward.
pub fn list(json: bool) -> Result<()> {
    let runs = list_runs(std::path::Path::new("runs"))?;
    if json {
        return print_json(&runs);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.space_name.clone().unwrap_or_else(|| "-".into()),
                r.strategy.clone().unwrap_or_else(|| "-".into()),
                r.samples
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                r.best_reward
                    .map(|b| format!("{b:.4}"))
                    .unwrap_or_else(|| "-".into()),
                r.error
                    .clone()
                    .map(|e| format!("{} ({e})", r.status))
                    .unwrap_or_else(|| r.status.clone()),
            ]
        })
        .collect();
    print!(
        "{}",
        render(
            &["RUN", "SPACE", "STRATEGY", "SAMPLES", "BEST", "STATUS"],
            &rows
        )
    );
    Ok(())
}

/// `nas show RUN`: settings and candidates, best first.
pub fn show(run: &str, top: Option<usize>, json: bool) -> Result<()> {
    let store = RunView::open(&run_dir(run))?;
    let meta = store.meta();
    let mut candidates = store.candidates();
    sort_best_first(&mut candidates);
    if let Some(k) = top {
        candidates.truncate(k);
    }
    let enas = nas::enas::progress(&store)?;
    if json {
        return print_json(&json!({
            "run": {"path": store.path(), "space": meta.space_name, "settings": meta.settings,
                    "created_at": meta.created_at, "nas_version": meta.nas_version,
                    "status": store.status(), "samples": store.len()},
            "candidates": candidates,
            "enas": enas,
        }));
    }
    println!(
        "run {} (space {}, created {}, {})",
        store.path().display(),
        meta.space_name,
        meta.created_at
            .parse()
            .map(nas::search::utc_time)
            .unwrap_or_else(|_| meta.created_at.clone()),
        store.status().as_str()
    );
    println!("settings: {}", serde_json::to_string(&meta.settings)?);
    print!("{}", top_table(&candidates, candidates.len()));
    if let Some(enas) = enas {
        print!("{}", super::enas::history_table(&enas));
        if let Some(tau) = store.meta_value("enas_tau") {
            println!("Kendall's tau between SHARED and VAL_ACC: {tau}");
        }
    }
    Ok(())
}

/// Completed candidates by their highest rung, then accuracy there (the reward without
/// rungs), then the rest by id.
pub fn sort_best_first(candidates: &mut [Candidate]) {
    candidates.sort_by(Candidate::best_first);
}

/// The best `k` candidates as a table.
pub fn top_table(candidates: &[Candidate], k: usize) -> String {
    let mut sorted = candidates.to_vec();
    sort_best_first(&mut sorted);
    let with_rungs = sorted.iter().any(|c| !c.rungs.is_empty());
    let with_finalists = sorted.iter().any(|c| c.finalist.is_some());
    // weight-sharing candidates also show their rating under the shared weights
    let shared = sorted.iter().any(|c| c.metrics.contains_key("shared_acc"));
    let percent = |c: &Candidate, key: &str| {
        c.metrics
            .get(key)
            .map(|v| format!("{:.2}%", v * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .take(k)
        .map(|c| {
            let (arch, metrics) =
                match serde_json::from_value::<nas::arch::Architecture>(c.arch.clone()) {
                    Ok(a) => (a.summary(), String::new()),
                    // table candidates: their key, and every other column of the table
                    Err(_) => {
                        let m: Vec<String> =
                            c.metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        (c.hash.clone(), m.join(" "))
                    }
                };
            let note = match (&c.reason, c.duplicate_of) {
                (_, Some(d)) => format!("(same as #{d})"),
                (Some(r), _) => format!("({r})"),
                _ => metrics,
            };
            let mut row = vec![
                c.id.to_string(),
                c.status.as_str().to_string(),
                format!("{:.4}", c.reward),
                percent(c, "val_acc"),
            ];
            if shared {
                row.insert(3, percent(c, "shared_acc"));
            }
            if with_rungs {
                row.push(match c.rungs.last() {
                    Some(r) => format!("{} ({} ep) {:.4}", r.rung, r.epochs, r.val_acc),
                    None => "-".into(),
                });
            }
            if with_finalists {
                row.push(match &c.finalist {
                    Some(f) if f.reason.is_none() => format!(
                        "{:.2}% val, {:.2}% test",
                        f.val_acc * 100.0,
                        f.test_acc * 100.0
                    ),
                    Some(_) => "failed".into(),
                    None => "-".into(),
                });
            }
            row.extend([
                thousands(c.params),
                thousands(c.macs),
                format!("{arch} {note}").trim().to_string(),
            ]);
            row
        })
        .collect();
    let mut headers = vec!["ID", "STATUS", "REWARD", "VAL_ACC"];
    if shared {
        headers.insert(3, "SHARED");
    }
    if with_rungs {
        headers.push("RUNG");
    }
    if with_finalists {
        headers.push("FINALIST");
    }
    headers.extend(["PARAMS", "MACS", "ARCHITECTURE"]);
    render(&headers, &rows)
}
