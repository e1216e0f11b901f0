//! The `evolution` strategy: regularised evolution (Real et al. 2019). A population of the last
//! `population` evaluated assignments; the first `population` asks are uniform, later ones are
//! the best of `sample` random members with one decision mutated. Every tell adds the children
//! and kills the oldest members, so a lucky early assignment cannot rule forever.

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::random::uniform;
use super::strategy::{check_results, checkpoint_error, sizes, Strategy};
use crate::controller::rng::{seeded, RngState};
use crate::error::{Error, Result};
use crate::space::decision::{Decision, Decisions};

/// Settings of regularised evolution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvolutionConfig {
    /// Number of living members, P.
    pub population: usize,
    /// Members drawn for each tournament, S.
    pub sample: usize,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        Self {
            population: 20,
            sample: 5,
        }
    }
}

/// Regularised (ageing) evolution.
pub struct Evolution {
    decisions: Vec<Decision>,
    config: EvolutionConfig,
    /// Oldest member first, with its reward.
    population: VecDeque<(Decisions, f64)>,
    /// Assignments asked so far: the first `population` are uniform.
    asked: u64,
    rng: ChaCha8Rng,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    strategy: String,
    sizes: Vec<usize>,
    config: EvolutionConfig,
    /// Members oldest first, rewards as f64 bits so they come back exactly.
    population: Vec<(Decisions, u64)>,
    asked: u64,
    rng: RngState,
}

/// `parent` with exactly one decision (among those with more than one option) moved to another
/// option, both uniform; `parent` itself when no decision has a second option.
pub fn mutate(decisions: &[Decision], parent: &[usize], rng: &mut ChaCha8Rng) -> Decisions {
    let mut child = parent.to_vec();
    let free: Vec<usize> = (0..decisions.len())
        .filter(|&i| decisions[i].len() > 1)
        .collect();
    if free.is_empty() {
        return child;
    }
    let i = free[rng.random_range(0..free.len())];
    // Draw among the other options: skip over the current one.
    let other = rng.random_range(0..decisions[i].len() - 1);
    child[i] = if other >= parent[i] { other + 1 } else { other };
    child
}

impl Evolution {
    /// A fresh evolution seeded with `seed`.
    pub fn new(decisions: &[Decision], config: &EvolutionConfig, seed: u64) -> Result<Self> {
        if config.population == 0 || config.sample == 0 {
            let msg = "population and sample must be at least 1";
            return Err(Error::invalid("evolution settings", msg));
        }
        Ok(Self {
            decisions: decisions.to_vec(),
            config: config.clone(),
            population: VecDeque::new(),
            asked: 0,
            rng: seeded(seed, 0),
        })
    }

    /// The strategy that `checkpoint` saved.
    pub fn restore(decisions: &[Decision], config: &EvolutionConfig, bytes: &[u8]) -> Result<Self> {
        let saved: Saved = serde_json::from_slice(bytes)?;
        if saved.strategy != "evolution" {
            return Err(checkpoint_error(
                "evolution",
                format!("saved by `{}`", saved.strategy),
            ));
        }
        if saved.sizes != sizes(decisions) {
            return Err(checkpoint_error(
                "evolution",
                "saved for other decision points",
            ));
        }
        if &saved.config != config {
            let msg = format!("saved with {:?}, not {:?}", saved.config, config);
            return Err(checkpoint_error("evolution", msg));
        }
        let population = saved
            .population
            .into_iter()
            .map(|(d, bits)| (d, f64::from_bits(bits)))
            .collect();
        Ok(Self {
            decisions: decisions.to_vec(),
            config: saved.config,
            population,
            asked: saved.asked,
            rng: saved.rng.rebuild(),
        })
    }

    /// The living members, oldest first, with their rewards.
    pub fn population(&self) -> impl Iterator<Item = &(Decisions, f64)> {
        self.population.iter()
    }

    /// The best of a tournament of `sample` distinct random members (the earliest drawn on ties).
    fn tournament(&mut self) -> &Decisions {
        let amount = self.config.sample.min(self.population.len());
        let picks = rand::seq::index::sample(&mut self.rng, self.population.len(), amount);
        let mut best = picks.index(0);
        for i in picks.iter().skip(1) {
            if self.population[i].1 > self.population[best].1 {
                best = i;
            }
        }
        &self.population[best].0
    }

    fn child(&mut self) -> Decisions {
        let initial = self.asked < self.config.population as u64;
        self.asked += 1;
        if initial || self.population.is_empty() {
            return uniform(&self.decisions, &mut self.rng);
        }
        let parent = self.tournament().clone();
        mutate(&self.decisions, &parent, &mut self.rng)
    }
}

impl Strategy for Evolution {
    fn ask(&mut self, n: usize) -> Result<Vec<Decisions>> {
        Ok((0..n).map(|_| self.child()).collect())
    }

    fn tell(&mut self, results: &[(Decisions, f64)]) -> Result<()> {
        check_results(&self.decisions, results)?;
        for member in results {
            self.population.push_back(member.clone());
            if self.population.len() > self.config.population {
                self.population.pop_front();
            }
        }
        Ok(())
    }

    fn checkpoint(&self) -> Result<Vec<u8>> {
        let saved = Saved {
            strategy: "evolution".into(),
            sizes: sizes(&self.decisions),
            config: self.config.clone(),
            population: self
                .population
                .iter()
                .map(|(d, r)| (d.clone(), r.to_bits()))
                .collect(),
            asked: self.asked,
            rng: RngState::capture(&self.rng),
        };
        Ok(serde_json::to_vec(&saved)?)
    }

    fn name(&self) -> &'static str {
        "evolution"
    }
}
