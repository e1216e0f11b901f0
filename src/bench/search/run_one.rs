//! One table search, through the search loop that `nas search` runs (in a temporary run folder
//! that is deleted afterwards), so a comparison measures exactly what a search does, halving
//! schedule included. Its best candidate is the one the search's summary names.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::search::{self, SearchConfig};
use crate::space::{Space, SpaceBody, TableSpace};
use crate::strategy::StrategyKind;

/// The candidate a search rated best, and how much it searched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestOfRun {
    /// Its candidate id (0-based, in the order the search made them).
    pub id: u64,
    /// Its table key, e.g. `3-3-1-3-0-3`.
    pub key: String,
    pub reward: f64,
    /// Candidates evaluated in all.
    pub samples: usize,
    /// Distinct architectures among them (the rest were duplicates).
    pub distinct: usize,
}

/// The table behind a table space; an error naming `--space` for a cell space.
pub fn table_of(space: &Space) -> Result<&TableSpace> {
    match &space.body {
        SpaceBody::Table(table) => Ok(table),
        _ => Err(Error::invalid(
            "--space",
            format!(
                "`{}` is a cell space; strategies are compared on table spaces (kind = \"table\")",
                space.name
            ),
        )),
    }
}

/// Runs strategy `kind` on table space `space` for `budget` samples from `seed`, with the
/// schedule, batch and strategy settings of `settings`, through the search loop itself
/// (`search::start_temporary`, a run folder deleted afterwards): what `nas search` would pick.
/// `None` when no candidate completed.
pub fn run_one(
    space: &Space,
    kind: StrategyKind,
    budget: usize,
    seed: u64,
    settings: &SearchConfig,
) -> Result<Option<BestOfRun>> {
    table_of(space)?;
    let cfg = SearchConfig {
        space: space.path.display().to_string(),
        strategy: kind,
        samples: budget,
        seed,
        ..settings.clone()
    };
    // A fresh flag: a comparison that is stopped lets its running searches finish.
    let stop = Arc::new(AtomicBool::new(false));
    let (summary, candidates) = search::start_temporary(cfg, stop, &mut |_| {})?;
    let Some(id) = summary.best_id else {
        return Ok(None);
    };
    let Some(best) = candidates.iter().find(|c| c.id == id) else {
        return Ok(None);
    };
    let distinct: HashSet<&str> = candidates.iter().map(|c| c.hash.as_str()).collect();
    Ok(Some(BestOfRun {
        id,
        key: TableSpace::key(&best.decisions),
        reward: summary.best_reward.unwrap_or(best.reward),
        samples: summary.samples,
        distinct: distinct.len(),
    }))
}
