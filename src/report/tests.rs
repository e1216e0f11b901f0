//! The report's pure parts without a browser: the Pareto front, the architecture drawing, and
//! the page's structure (sections, plots with SVG content, nothing fetched from the network,
//! the reload tag only while a run is running).

use std::collections::BTreeMap;

use super::model::{pareto, Report, RunReport, Update};
use super::{draw_architecture, render};
use crate::store::{Candidate, Finalist, RunStatus, Status, StatusCounts};

fn candidate(id: u64, status: Status, reward: f64, params: u64, macs: u64) -> Candidate {
    Candidate {
        id,
        step: id / 4,
        decisions: vec![0, 1],
        arch: serde_json::json!({
        "input": [1, 28, 28], "classes": 10, "stem": {"channels": 8, "kernel": 3},
        "stages": [
            {"reduce": null, "channels": 8, "cells": [
                {"block": {"type": "residual", "kernel": 3, "out": 8}},
                {"block": {"type": "residual", "kernel": 5, "out": 8}, "skips": [0]}]},
            {"reduce": "conv", "channels": 16, "cells": [
                {"block": {"type": "dense", "kernel": 3, "growth": 4, "layers": 2}},
                {"block": {"type": "inception", "kernel": 3, "out": 16, "branches": 3}, "skips": [0, 1]}]}
        ]}),
        hash: format!("h{id}"),
        status,
        reward,
        metrics: BTreeMap::from([("val_acc".to_string(), reward)]),
        params,
        macs,
        epochs_val_acc: vec![reward * 0.8, reward],
        started_at: None,
        finished_at: None,
        seconds: 1.0,
        reason: (status != Status::Completed).then(|| "loss became NaN <at epoch 1>".to_string()),
        duplicate_of: None,
        rungs: vec![],
        finalist: None,
    }
}

fn run(status: RunStatus) -> RunReport {
    let mut candidates: Vec<Candidate> = (0..12)
        .map(|i| {
            candidate(
                i,
                Status::Completed,
                0.5 + 0.03 * (i % 7) as f64,
                1000 * (i + 1),
                50_000 * (i + 1),
            )
        })
        .collect();
    candidates.push(candidate(12, Status::Failed, 0.0, 0, 0));
    candidates[6].finalist = Some(Finalist {
        epochs: 3,
        train_images: 100,
        epochs_val_acc: vec![0.6, 0.7, 0.72],
        val_acc: 0.72,
        test_acc: 0.7,
        seconds: 3.0,
        mean: vec![0.1],
        std: vec![0.3],
        reason: None,
    });
    let mut best: Vec<Candidate> = candidates
        .iter()
        .filter(|c| c.status == Status::Completed)
        .cloned()
        .collect();
    best.sort_by(Candidate::best_first);
    best.truncate(3);
    RunReport {
        name: "r1".into(),
        path: "runs/r1".into(),
        space: "resnet-cells".into(),
        space_kind: "cells".into(),
        strategy: "reinforce".into(),
        settings: serde_json::json!({"strategy": "reinforce", "samples": 20}),
        status,
        counts: StatusCounts::of(&candidates),
        created_at: Some(1_700_000_000.0),
        last_write: Some(1_700_000_100.0),
        pareto_params: pareto(&candidates, |c| c.params),
        pareto_macs: pareto(&candidates, |c| c.macs),
        updates: (1..4)
            .map(|s| Update {
                step: s,
                mean_reward: Some(0.5 + 0.01 * s as f64),
                baseline: Some(0.5),
                entropy: Some(2.0 - 0.1 * s as f64),
            })
            .collect(),
        decisions: vec![],
        exportable: vec![6],
        best,
        candidates,
    }
}

fn report(status: RunStatus) -> Report {
    Report {
        runs: vec![run(status)],
        top: 3,
        generated_at: 1_700_000_200.0,
    }
}

#[test]
fn the_pareto_front_keeps_only_candidates_nothing_beats_on_both_size_and_accuracy() {
    let cs = vec![
        candidate(0, Status::Completed, 0.5, 100, 0),
        candidate(1, Status::Completed, 0.4, 200, 0), // larger and worse than #0
        candidate(2, Status::Completed, 0.7, 300, 0),
        candidate(3, Status::Completed, 0.7, 300, 0), // a tie: the first stays
        candidate(4, Status::Failed, 0.9, 50, 0),     // failures never join
        candidate(5, Status::Completed, 0.9, 0, 0),   // unmeasured size never joins
        candidate(6, Status::Completed, 0.8, 1000, 0),
    ];
    assert_eq!(pareto(&cs, |c| c.params), vec![0, 2, 6]);
    assert!(pareto(&cs, |c| c.macs).is_empty());
}

#[test]
fn an_architecture_drawing_has_a_box_per_cell_and_an_arc_per_skip() {
    let c = candidate(0, Status::Completed, 0.5, 1, 1);
    let svg = draw_architecture(&c.arch, &c.decisions, &[]);
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    // input, stem, 4 cells, one reduction, classifier
    assert_eq!(
        svg.matches("<rect x=").count() - svg.matches("class=\"stage\"").count(),
        8,
        "{svg}"
    );
    // skip 1 of the last cell is its predecessor, which every cell reads anyway
    assert_eq!(svg.matches("class=\"skip\"").count(), 2, "{svg}");
    assert_eq!(svg.matches("class=\"stage\"").count(), 2);
    for kind in ["residual", "dense", "inception", "stage 2 · 16 ch"] {
        assert!(svg.contains(kind), "{kind} missing");
    }
}

#[test]
fn a_table_candidate_is_drawn_as_its_named_choices() {
    let names = vec![
        (
            "op1".to_string(),
            vec!["conv3".to_string(), "pool".to_string()],
        ),
        (
            "width".to_string(),
            vec!["16".to_string(), "32".to_string()],
        ),
    ];
    let svg = draw_architecture(&serde_json::json!("1-0"), &[1, 0], &names);
    assert!(
        svg.contains(">op1<") && svg.contains(">pool<") && svg.contains(">16<"),
        "{svg}"
    );
}

#[test]
fn the_page_has_every_section_and_every_plot_holds_svg_content() {
    let page = render(&report(RunStatus::Finished)).unwrap();
    assert!(page.starts_with("<!DOCTYPE html><html lang=\"en\">"));
    assert!(page.trim_end().ends_with("</html>"));
    let mut at = 0;
    for id in [
        "summary",
        "progress",
        "size",
        "controller",
        "best",
        "failures",
    ] {
        let found = page[at..]
            .find(&format!("<section id=\"{id}\">"))
            .unwrap_or_else(|| panic!("section {id} missing or out of order"));
        at += found;
    }
    for tag in ["section", "figure", "table", "article", "svg", "main"] {
        assert_eq!(
            page.matches(&format!("<{tag}")).count(),
            page.matches(&format!("</{tag}>")).count(),
            "unbalanced <{tag}>"
        );
    }
    let plots: Vec<&str> = page.split("<figure class=\"plot\"").skip(1).collect();
    let names: Vec<&str> = plots.iter().map(|p| p.split('"').nth(1).unwrap()).collect();
    for name in [
        "progress",
        "params",
        "macs",
        "controller-reward",
        "controller-entropy",
        "epochs-6",
    ] {
        assert!(names.contains(&name), "plot {name} missing from {names:?}");
    }
    assert!(
        page.contains("finalist (whole training split)"),
        "the finalist's curve"
    );
    for plot in plots {
        let svg = &plot[plot.find("<svg").unwrap()..plot.find("</svg>").unwrap()];
        assert!(
            svg.matches('<').count() > 10,
            "a plot with almost nothing in it: {svg}"
        );
    }
}

#[test]
fn the_page_fetches_nothing_and_escapes_what_it_shows() {
    let page = render(&report(RunStatus::Finished)).unwrap();
    for remote in ["src=\"http", "href=\"http", "url(http", "@import", "<link"] {
        assert!(
            !page.contains(remote),
            "the page refers outside itself: {remote}"
        );
    }
    assert!(page.contains("loss became NaN &lt;at epoch 1&gt;"));
    assert!(!page.contains("<at epoch 1>"));
}

#[test]
fn the_page_reloads_itself_only_while_a_run_is_running() {
    let live = render(&report(RunStatus::Running)).unwrap();
    assert!(live.contains("<meta http-equiv=\"refresh\""));
    for status in [RunStatus::Finished, RunStatus::Interrupted] {
        assert!(!render(&report(status))
            .unwrap()
            .contains("http-equiv=\"refresh\""));
    }
}
