//! The `random` strategy: every decision uniform and independent, from a seeded stream. The
//! baseline any learning strategy has to beat.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::strategy::{check_results, checkpoint_error, sizes, Strategy};
use crate::controller::rng::{seeded, RngState};
use crate::error::Result;
use crate::space::decision::{Decision, Decisions};

/// Uniform random search.
pub struct RandomSearch {
    decisions: Vec<Decision>,
    rng: ChaCha8Rng,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    strategy: String,
    sizes: Vec<usize>,
    rng: RngState,
}

/// One assignment with every decision drawn uniformly.
pub(super) fn uniform(decisions: &[Decision], rng: &mut ChaCha8Rng) -> Decisions {
    decisions
        .iter()
        .map(|d| rng.random_range(0..d.len()))
        .collect()
}

impl RandomSearch {
    /// A fresh random search seeded with `seed`.
    pub fn new(decisions: &[Decision], seed: u64) -> Self {
        Self {
            decisions: decisions.to_vec(),
            rng: seeded(seed, 0),
        }
    }

    /// The strategy that `checkpoint` saved.
    pub fn restore(decisions: &[Decision], bytes: &[u8]) -> Result<Self> {
        let saved: Saved = serde_json::from_slice(bytes)?;
        if saved.strategy != "random" {
            return Err(checkpoint_error(
                "random",
                format!("saved by `{}`", saved.strategy),
            ));
        }
        if saved.sizes != sizes(decisions) {
            return Err(checkpoint_error(
                "random",
                "saved for other decision points",
            ));
        }
        Ok(Self {
            decisions: decisions.to_vec(),
            rng: saved.rng.rebuild(),
        })
    }
}

impl Strategy for RandomSearch {
    fn ask(&mut self, n: usize) -> Result<Vec<Decisions>> {
        Ok((0..n)
            .map(|_| uniform(&self.decisions, &mut self.rng))
            .collect())
    }

    fn tell(&mut self, results: &[(Decisions, f64)]) -> Result<()> {
        check_results(&self.decisions, results)
    }

    fn checkpoint(&self) -> Result<Vec<u8>> {
        let saved = Saved {
            strategy: "random".into(),
            sizes: sizes(&self.decisions),
            rng: RngState::capture(&self.rng),
        };
        Ok(serde_json::to_vec(&saved)?)
    }

    fn name(&self) -> &'static str {
        "random"
    }
}
