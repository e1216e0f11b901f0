//! What a report shows, gathered from the store's read-only `RunView`s: per run, its summary,
//! its candidates in search order, the Pareto front of accuracy against size, the controller's
//! updates and the failures. Everything is computed here, once, so the plots and the HTML only
//! draw, and `nas report --json` prints exactly what the page shows.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::{Candidate, RunStatus, RunView, Status, StatusCounts};

/// Everything one report shows: one or more runs.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub runs: Vec<RunReport>,
    /// How many best candidates each run shows in detail.
    pub top: usize,
    /// Unix seconds when the report was gathered.
    pub generated_at: f64,
}

/// One run as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The folder's name (`runs/NAME`).
    pub name: String,
    /// The folder, as given.
    pub path: String,
    pub space: String,
    /// `table` or `cells`.
    pub space_kind: String,
    pub strategy: String,
    pub settings: serde_json::Value,
    pub status: RunStatus,
    pub counts: StatusCounts,
    /// Unix seconds of the run's creation, and of the last thing it recorded.
    pub created_at: Option<f64>,
    pub last_write: Option<f64>,
    /// Every candidate, by id.
    pub candidates: Vec<Candidate>,
    /// The best candidates, best first (at most `Report::top`).
    pub best: Vec<Candidate>,
    /// Ids on the front of accuracy against parameters (fewest parameters first).
    pub pareto_params: Vec<u64>,
    /// Ids on the front of accuracy against multiply-accumulates.
    pub pareto_macs: Vec<u64>,
    /// The strategy's updates that carry controller statistics.
    pub updates: Vec<Update>,
    /// Per decision of a table space: its name and choices (empty for cell spaces).
    pub decisions: Vec<(String, Vec<String>)>,
    /// Ids whose trained weights `nas export` can hand out.
    pub exportable: Vec<u64>,
}

/// One strategy update's statistics.
#[derive(Debug, Clone, Serialize)]
pub struct Update {
    pub step: u64,
    pub mean_reward: Option<f64>,
    pub baseline: Option<f64>,
    pub entropy: Option<f64>,
}

impl Report {
    /// Gathers the report of `views`, showing the best `top` candidates of each.
    pub fn gather(views: &[RunView], top: usize) -> Report {
        Report {
            runs: views.iter().map(|v| RunReport::gather(v, top)).collect(),
            top,
            generated_at: now(),
        }
    }

    /// Whether any run is still being searched (the page then reloads itself).
    pub fn running(&self) -> bool {
        self.runs.iter().any(|r| r.status == RunStatus::Running)
    }
}

impl RunReport {
    /// Gathers one run.
    pub fn gather(view: &RunView, top: usize) -> RunReport {
        let meta = view.meta();
        let candidates = view.candidates();
        let mut best: Vec<Candidate> = candidates
            .iter()
            .filter(|c| c.status == Status::Completed)
            .cloned()
            .collect();
        best.sort_by(Candidate::best_first);
        best.truncate(top);
        let text = |key: &str| {
            meta.settings
                .get(key)
                .and_then(|s| s.as_str())
                .unwrap_or("-")
                .to_string()
        };
        let decisions = table_decisions(&meta.space_text);
        let mut exportable = view.weights_ids();
        exportable.extend(
            candidates
                .iter()
                .filter(|c| c.finalist.as_ref().is_some_and(|f| f.reason.is_none()))
                .map(|c| c.id),
        );
        exportable.sort_unstable();
        exportable.dedup();
        RunReport {
            name: view
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| view.path().display().to_string()),
            path: view.path().display().to_string(),
            space: meta.space_name.clone(),
            space_kind: if decisions.is_empty() {
                "cells"
            } else {
                "table"
            }
            .to_string(),
            strategy: text("strategy"),
            settings: meta.settings.clone(),
            status: view.status(),
            counts: view.counts(),
            created_at: meta.created_at.parse().ok(),
            last_write: view.last_write(),
            pareto_params: pareto(&candidates, |c| c.params),
            pareto_macs: pareto(&candidates, |c| c.macs),
            updates: updates(view.updates()),
            best,
            candidates,
            decisions,
            exportable,
        }
    }

    /// Seconds from the run's creation to its last record (to now while it runs).
    pub fn wall_seconds(&self, now: f64) -> Option<f64> {
        let end = match self.status {
            RunStatus::Running => Some(now),
            _ => self.last_write,
        };
        Some((end? - self.created_at?).max(0.0))
    }

    /// The candidates that failed or were refused, with their reasons.
    pub fn failures(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates
            .iter()
            .filter(|c| matches!(c.status, Status::Failed | Status::Rejected))
    }

    /// Whether any update carries a baseline or an entropy (a learning controller).
    pub fn has_controller(&self) -> bool {
        self.updates
            .iter()
            .any(|u| u.baseline.is_some() || u.entropy.is_some())
    }
}

/// A candidate's accuracy for the size plots: its validation accuracy, else its reward.
pub fn accuracy(c: &Candidate) -> f64 {
    c.metrics.get("val_acc").copied().unwrap_or(c.reward)
}

/// The completed candidates no other beats on both accuracy and `size` (a size of 0 means
/// unmeasured and is left out), fewest first.
pub fn pareto(candidates: &[Candidate], size: impl Fn(&Candidate) -> u64) -> Vec<u64> {
    let mut points: Vec<(u64, f64, u64)> = candidates
        .iter()
        .filter(|c| c.status == Status::Completed && size(c) > 0 && accuracy(c).is_finite())
        .map(|c| (size(c), accuracy(c), c.id))
        .collect();
    // smallest first; at equal size the most accurate first, so it alone can join the front
    points.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for (_, acc, id) in points {
        if acc > best {
            best = acc;
            front.push(id);
        }
    }
    front
}

fn updates(raw: &[(u64, serde_json::Value)]) -> Vec<Update> {
    let number = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_f64());
    raw.iter()
        .map(|(step, stats)| Update {
            step: *step,
            mean_reward: number(stats, "mean_reward"),
            baseline: number(stats, "baseline"),
            entropy: number(stats, "mean_entropy").or_else(|| number(stats, "entropy")),
        })
        .collect()
}

/// The decisions of a table space, read from the run's copy of its file (the table itself is
/// not needed: the candidates carry their values). Empty for a cell space.
fn table_decisions(space_text: &str) -> Vec<(String, Vec<String>)> {
    let Ok(value) = space_text.parse::<toml::Table>() else {
        return vec![];
    };
    if value.get("kind").and_then(|k| k.as_str()) != Some("table") {
        return vec![];
    }
    let Some(decisions) = value.get("decision").and_then(|d| d.as_array()) else {
        return vec![];
    };
    decisions
        .iter()
        .map(|d| {
            let name = d.get("name").and_then(|n| n.as_str()).unwrap_or("?");
            let choices = d
                .get("choices")
                .and_then(|c| c.as_array())
                .map(|c| {
                    c.iter()
                        .map(|x| x.as_str().unwrap_or("?").to_string())
                        .collect()
                })
                .unwrap_or_default();
            (name.to_string(), choices)
        })
        .collect()
}

/// Best reward so far after each completed candidate, as (id, best) steps.
pub fn best_so_far(candidates: &[Candidate]) -> Vec<(u64, f64)> {
    let mut best = f64::NEG_INFINITY;
    let mut out = Vec::new();
    for c in candidates.iter().filter(|c| c.status == Status::Completed) {
        if c.reward.is_finite() && c.reward > best {
            best = c.reward;
        }
        if best.is_finite() {
            out.push((c.id, best));
        }
    }
    out
}

/// Counts of failure reasons, most common first, for a one-line digest.
pub fn reason_counts<'a>(failures: impl Iterator<Item = &'a Candidate>) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in failures {
        let reason = c
            .reason
            .clone()
            .unwrap_or_else(|| "no reason recorded".into());
        *counts.entry(reason).or_default() += 1;
    }
    let mut out: Vec<(String, usize)> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
