//! `list_runs`: one summary line per run folder under a root such as `runs/`. A run in use by a
//! search is listed as `running` without its counts, and a damaged or foreign folder is listed
//! with its error, so one bad folder never hides the others.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

use super::record::Status;
use super::run_store::RunStore;

/// What `nas runs` shows about one run folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// The folder's name.
    pub name: String,
    pub path: PathBuf,
    pub space_name: Option<String>,
    /// The `strategy` field of the run's settings, if present.
    pub strategy: Option<String>,
    /// Candidates of every status; unknown while the run is locked.
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
        if path.is_dir() {
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
    match RunStore::open(dir).and_then(|store| fill(&mut summary, &store)) {
        Ok(()) => {}
        Err(Error::RunLocked { .. }) => summary.status = "running".to_string(),
        Err(e) => {
            summary.status = "error".to_string();
            summary.error = Some(e.to_string());
        }
    }
    summary
}

fn fill(summary: &mut RunSummary, store: &RunStore) -> Result<()> {
    let meta = store.meta()?;
    summary.space_name = Some(meta.space_name);
    summary.strategy = meta
        .settings
        .get("strategy")
        .and_then(|s| s.as_str())
        .map(str::to_string);
    let candidates = store.candidates()?;
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
    // We hold the lock, so a run that says it is running was stopped without saying so.
    summary.status = match store.meta_value("status")?.as_deref() {
        Some("running") => "interrupted".to_string(),
        Some(status) => status.to_string(),
        None => "unknown".to_string(),
    };
    Ok(())
}
