//! The `Strategy` trait, the names of the strategies, their settings and the constructors that
//! build one fresh or from a checkpoint.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::evolution::{Evolution, EvolutionConfig};
use super::random::RandomSearch;
use super::reinforce::Reinforce;
use crate::controller::ControllerConfig;
use crate::enas::EnasConfig;
use crate::error::{Error, Result};
use crate::space::decision::{Decision, Decisions};

/// A search strategy: proposes assignments and learns from their rewards.
pub trait Strategy: Send {
    /// Proposes the next `n` assignments to evaluate.
    fn ask(&mut self, n: usize) -> Result<Vec<Decisions>>;
    /// Reports rewards for assignments previously asked (same order/length as the ask).
    fn tell(&mut self, results: &[(Decisions, f64)]) -> Result<()>;
    /// The whole state, for the store; `restore` brings it back exactly.
    fn checkpoint(&self) -> Result<Vec<u8>>;
    /// The strategy's name, as `StrategyKind` spells it.
    fn name(&self) -> &'static str;
    /// What the last `tell` did to the strategy's learning state (for a controller: loss,
    /// baseline, entropy), for reports; `None` for strategies without one.
    fn stats(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Which strategy to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// The LSTM controller trained with REINFORCE.
    Reinforce,
    /// Uniform random search.
    Random,
    /// Regularised (ageing) evolution.
    Evolution,
    /// ENAS: the controller over a weight-sharing network (`crate::enas`); it runs its own
    /// loop, so it has no ask/tell form and is not in `ALL`.
    Enas,
}

impl StrategyKind {
    /// Every ask/tell kind, in the order they are documented.
    pub const ALL: [StrategyKind; 3] = [Self::Reinforce, Self::Random, Self::Evolution];

    /// The kind's name on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reinforce => "reinforce",
            Self::Random => "random",
            Self::Evolution => "evolution",
            Self::Enas => "enas",
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StrategyKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .chain([Self::Enas])
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "strategy",
                    format!("`{s}` (known: reinforce, random, evolution, enas)"),
                )
            })
    }
}

/// Settings of every strategy; each uses its own part.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StrategyConfig {
    /// Settings of `reinforce` (its `seed` is replaced by the seed given to `build`).
    pub controller: ControllerConfig,
    /// Settings of `evolution`.
    pub evolution: EvolutionConfig,
    /// Settings of `enas` (which also uses `controller`).
    pub enas: EnasConfig,
}

/// A fresh strategy of `kind` over `decisions`, seeded with `seed`.
pub fn build(
    kind: StrategyKind,
    decisions: &[Decision],
    config: &StrategyConfig,
    seed: u64,
) -> Result<Box<dyn Strategy>> {
    crate::controller::check_decisions(decisions)?;
    Ok(match kind {
        StrategyKind::Reinforce => Box::new(Reinforce::new(decisions, &config.controller, seed)?),
        StrategyKind::Random => Box::new(RandomSearch::new(decisions, seed)),
        StrategyKind::Evolution => Box::new(Evolution::new(decisions, &config.evolution, seed)?),
        StrategyKind::Enas => return Err(no_ask_tell()),
    })
}

/// The strategy of `kind` in the state its `checkpoint` saved; an error if the bytes belong to
/// another kind, other decisions or other settings.
pub fn restore(
    kind: StrategyKind,
    decisions: &[Decision],
    config: &StrategyConfig,
    bytes: &[u8],
) -> Result<Box<dyn Strategy>> {
    crate::controller::check_decisions(decisions)?;
    Ok(match kind {
        StrategyKind::Reinforce => {
            Box::new(Reinforce::restore(decisions, &config.controller, bytes)?)
        }
        StrategyKind::Random => Box::new(RandomSearch::restore(decisions, bytes)?),
        StrategyKind::Evolution => {
            Box::new(Evolution::restore(decisions, &config.evolution, bytes)?)
        }
        StrategyKind::Enas => return Err(no_ask_tell()),
    })
}

fn no_ask_tell() -> Error {
    Error::invalid(
        "strategy",
        "enas runs its own loop (crate::enas), not ask and tell",
    )
}

/// An error unless every result is a valid assignment with a finite reward.
pub(super) fn check_results(decisions: &[Decision], results: &[(Decisions, f64)]) -> Result<()> {
    for (assignment, reward) in results {
        crate::controller::check_assignment(decisions, assignment)?;
        if !reward.is_finite() {
            return Err(Error::invalid(
                "reward",
                format!("{reward} is not a finite number"),
            ));
        }
    }
    Ok(())
}

/// Number of options of each decision: what a checkpoint must agree on with its space.
pub(super) fn sizes(decisions: &[Decision]) -> Vec<usize> {
    decisions.iter().map(Decision::len).collect()
}

/// A `Checkpoint` error for strategy `what`.
pub(super) fn checkpoint_error(what: &str, msg: impl Into<String>) -> Error {
    Error::Checkpoint {
        what: what.into(),
        msg: msg.into(),
    }
}
