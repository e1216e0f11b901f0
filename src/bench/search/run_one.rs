//! One table search, the way the search loop runs it: the strategy asks a batch of `--batch`
//! children (the last batch cut to the budget), each child is looked up in the table and counts
//! as a sample (duplicates included, with the reward of their row), the strategy is told the
//! batch. Candidate ids are the loop's (step * batch + position), and the best candidate is the
//! first with the highest reward, as the loop's summary reports it. Nothing is written: no run
//! folder, no checkpoint (a checkpoint never changes what a strategy does next).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::search::SearchConfig;
use crate::space::{Decisions, Space, SpaceBody, TableSpace};
use crate::strategy::{self, StrategyKind};

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
/// batch and strategy settings of `settings`; `None` when no candidate had a table row.
pub fn run_one(
    space: &Space,
    kind: StrategyKind,
    budget: usize,
    seed: u64,
    settings: &SearchConfig,
) -> Result<Option<BestOfRun>> {
    let table = table_of(space)?;
    let cfg = SearchConfig {
        strategy: kind,
        samples: budget,
        seed,
        ..settings.clone()
    };
    cfg.validate()?;
    let mut strategy = strategy::build(kind, space.decisions(), &cfg.strategy_config, seed)?;
    let mut best: Option<BestOfRun> = None;
    let mut seen: HashSet<Decisions> = HashSet::new();
    let mut done = 0usize;
    while done < cfg.samples {
        let n = cfg.batch.min(cfg.samples - done);
        let asks = strategy.ask(n)?;
        let mut results: Vec<(Decisions, f64)> = Vec::with_capacity(n);
        for (i, decisions) in asks.into_iter().enumerate() {
            // A key missing from the table is a failed candidate: reward 0, never the best.
            let reward = match table.lookup(&decisions) {
                Some(row) => {
                    if best.as_ref().is_none_or(|b| row.reward > b.reward) {
                        best = Some(BestOfRun {
                            id: (done + i) as u64,
                            key: TableSpace::key(&decisions),
                            reward: row.reward,
                            samples: 0,
                            distinct: 0,
                        });
                    }
                    row.reward
                }
                None => 0.0,
            };
            seen.insert(decisions.clone());
            results.push((decisions, reward));
        }
        strategy.tell(&results)?;
        done += n;
    }
    Ok(best.map(|b| BestOfRun {
        samples: done,
        distinct: seen.len(),
        ..b
    }))
}
