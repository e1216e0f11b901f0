//! `list_runs`: one summary line per run folder under a root such as `runs/`, read from the
//! runs' journals, so a run being searched is listed with its counts so far. A damaged or
//! foreign folder is listed with its error, so one bad folder never hides the others; hidden
//! folders (a run being created) are skipped.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

use super::record::Status;
use super::view::RunView;

/// What `nas runs` shows about one run folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// The folder's name.
    pub name: String,
    pub path: PathBuf,
    pub space_name: Option<String>,
    /// The `strategy` field of the run's settings, if present.
    pub strategy: Option<String>,
    /// Candidates of every status recorded so far; unknown for a folder that cannot be read.
    pub samples: Option<u64>,
    /// The best reward among completed candidates.
    pub best_reward: Option<f64>,
    pub best_id: Option<u64>,
    /// `running`, `finished`, `interrupted`, `unknown` (no status recorded) or `error`.
    pub status: String,
    /// Why the run could not be read, for `status == "error"`.
    pub error: Option<String>,
}

/// Summaries of every run folder directly under `root`, sorted by name; none if `root` is missing.
pub fn list_runs(root: &Path) -> Result<Vec<RunSummary>> {
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut dirs = Vec::new();
    for entry in fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let path = entry.map_err(|e| Error::io(root, e))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if path.is_dir() && !hidden {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs.iter().map(|dir| summarise(dir)).collect())
}

fn summarise(dir: &Path) -> RunSummary {
    let mut summary = RunSummary {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: dir.to_path_buf(),
        space_name: None,
        strategy: None,
        samples: None,
        best_reward: None,
        best_id: None,
        status: "unknown".to_string(),
        error: None,
    };
    match RunView::open(dir) {
        Ok(view) => fill(&mut summary, &view),
        Err(e) => {
            summary.status = "error".to_string();
            summary.error = Some(e.to_string());
        }
    }
    summary
}

fn fill(summary: &mut RunSummary, view: &RunView) {
    let meta = view.meta();
    summary.space_name = Some(meta.space_name.clone());
    summary.strategy = meta
        .settings
        .get("strategy")
        .and_then(|s| s.as_str())
        .map(str::to_string);
    let candidates = view.candidates();
    summary.samples = Some(candidates.len() as u64);
    let best = candidates
        .iter()
        .filter(|c| c.status == Status::Completed && c.reward.is_finite())
        .fold(None, |best: Option<(u64, f64)>, c| match best {
            Some((_, reward)) if reward >= c.reward => best,
            _ => Some((c.id, c.reward)),
        });
    summary.best_id = best.map(|(id, _)| id);
    summary.best_reward = best.map(|(_, reward)| reward);
    summary.status = view.status().as_str().to_string();
}
