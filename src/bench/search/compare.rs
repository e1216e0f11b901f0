//! Many table searches side by side: every (strategy, budget, seed) job runs on the rayon pool,
//! and the results are gathered per strategy and budget into means and spreads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ranking::{mean_and_std, Ranking};
use super::run_one::{run_one, table_of, BestOfRun};
use crate::error::{Error, Result};
use crate::search::SearchConfig;
use crate::space::Space;
use crate::strategy::StrategyKind;

/// What to compare.
#[derive(Clone, Debug)]
pub struct CompareConfig {
    pub strategies: Vec<StrategyKind>,
    /// Samples per search.
    pub budgets: Vec<usize>,
    /// Searches per strategy and budget, seeded 0, 1, ...
    pub seeds: u64,
    /// The column that scores a search; `None`: the space's reward column.
    pub metric: Option<String>,
    /// Batch and strategy settings, as `nas search` takes them.
    pub settings: SearchConfig,
}

/// Progress, for the renderer.
#[derive(Clone, Debug)]
pub enum CompareEvent {
    Started { jobs: usize },
    Finished { done: usize, jobs: usize },
}

/// One search's result: its best candidate and that candidate's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub best: BestOfRun,
    /// The metric of the best candidate.
    pub metric: f64,
    /// Its rank in the whole table by the metric (1: the table's best).
    pub rank: usize,
}

/// One strategy at one budget over the seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    pub strategy: StrategyKind,
    pub budget: usize,
    /// Searches scored (a search whose every candidate missed the table has no score).
    pub runs: usize,
    pub mean: f64,
    pub std: f64,
    pub mean_rank: f64,
    /// Mean number of distinct architectures a search evaluated.
    pub mean_distinct: f64,
    pub results: Vec<SeedResult>,
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub space: String,
    pub reward: String,
    pub metric: String,
    /// Rows of the table, and the best metric among them.
    pub table_rows: usize,
    pub table_best: Option<f64>,
    pub seeds: u64,
    pub batch: usize,
    /// Ctrl-C stopped it: the rows hold the searches that finished.
    pub interrupted: bool,
    pub rows: Vec<CompareRow>,
}

struct Job {
    strategy: StrategyKind,
    budget: usize,
    seed: u64,
}

/// Runs every search of `cfg` on table space `space` in parallel. Setting `stop` lets the running
/// searches finish and starts no more.
pub fn compare(
    space: &Space,
    cfg: &CompareConfig,
    stop: &AtomicBool,
    events: &(dyn Fn(CompareEvent) + Sync),
) -> Result<Comparison> {
    let table = table_of(space)?;
    let metric = cfg.metric.clone().unwrap_or_else(|| table.reward.clone());
    let ranking = Ranking::new(table, &metric)?;
    check(cfg)?;
    let mut jobs = Vec::new();
    for &strategy in &cfg.strategies {
        for &budget in &cfg.budgets {
            jobs.extend((0..cfg.seeds).map(|seed| Job {
                strategy,
                budget,
                seed,
            }));
        }
    }
    events(CompareEvent::Started { jobs: jobs.len() });
    let done = AtomicUsize::new(0);
    let results: Vec<Option<SeedResult>> = jobs
        .par_iter()
        .map(|job| {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let best = run_one(space, job.strategy, job.budget, job.seed, &cfg.settings)?;
            let finished = done.fetch_add(1, Ordering::SeqCst) + 1;
            events(CompareEvent::Finished {
                done: finished,
                jobs: jobs.len(),
            });
            Ok(best.and_then(|best| score(table, &ranking, job.seed, best)))
        })
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    for &strategy in &cfg.strategies {
        for &budget in &cfg.budgets {
            let scored: Vec<SeedResult> = jobs
                .iter()
                .zip(&results)
                .filter(|(job, _)| job.strategy == strategy && job.budget == budget)
                .filter_map(|(_, r)| r.clone())
                .collect();
            rows.push(row(strategy, budget, scored));
        }
    }
    Ok(Comparison {
        space: space.name.clone(),
        reward: table.reward.clone(),
        metric,
        table_rows: ranking.len(),
        table_best: ranking.best(),
        seeds: cfg.seeds,
        batch: cfg.settings.batch,
        interrupted: done.load(Ordering::SeqCst) < jobs.len(),
        rows,
    })
}

fn check(cfg: &CompareConfig) -> Result<()> {
    if cfg.strategies.is_empty() {
        return Err(Error::invalid("--strategies", "name at least one strategy"));
    }
    if cfg.budgets.is_empty() || cfg.budgets.contains(&0) {
        return Err(Error::invalid("--samples", "budgets must be at least 1"));
    }
    if cfg.seeds == 0 {
        return Err(Error::invalid("--seeds", "must be at least 1"));
    }
    cfg.settings.validate()
}

fn score(
    table: &crate::space::TableSpace,
    ranking: &Ranking,
    seed: u64,
    best: BestOfRun,
) -> Option<SeedResult> {
    let metric = Ranking::value_of(table, &ranking.metric, &best.key)?;
    Some(SeedResult {
        seed,
        metric,
        rank: ranking.rank(metric),
        best,
    })
}

fn row(strategy: StrategyKind, budget: usize, results: Vec<SeedResult>) -> CompareRow {
    let metrics: Vec<f64> = results.iter().map(|r| r.metric).collect();
    let ranks: Vec<f64> = results.iter().map(|r| r.rank as f64).collect();
    let distinct: Vec<f64> = results.iter().map(|r| r.best.distinct as f64).collect();
    let (mean, std) = mean_and_std(&metrics);
    CompareRow {
        strategy,
        budget,
        runs: results.len(),
        mean,
        std,
        mean_rank: mean_and_std(&ranks).0,
        mean_distinct: mean_and_std(&distinct).0,
        results,
    }
}
