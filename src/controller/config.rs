//! Settings of the controller, with the published defaults of ENAS and NASNet for the policy
//! and the measured defaults of `nas bench search` on NAS-Bench-201 for the learning.
//!
//! Settings added after the first release default, when a stored run or checkpoint lacks them, to
//! the behaviour that run was started with (plain REINFORCE), so a resume never changes learner.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest LSTM hidden size (ENAS uses 100; this is forty times that, still megabytes).
pub const MAX_HIDDEN: usize = 4096;

/// How the controller learns from a batch of children.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// One policy-gradient step per batch (Williams 1992; Zoph and Le 2017).
    Reinforce,
    /// PPO's clipped surrogate (Schulman et al. 2017), `ppo_epochs` steps per batch.
    Ppo,
}

/// How a reward becomes the advantage that weighs its child's log-probability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Advantage {
    /// Reward minus the moving-average baseline.
    Baseline,
    /// Reward minus the baseline, over the moving standard deviation of the rewards.
    Normalized,
    /// The reward's quantile among every reward told so far, minus one half.
    Quantile,
}

macro_rules! named {
    ($ty:ty, $what:literal, $($variant:ident => $name:literal),+) => {
        impl $ty {
            /// The name on the command line and in files.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(Error::invalid($what, format!("`{s}` (known: {})", [$($name),+].join(", ")))),
                }
            }
        }
    };
}
named!(Algorithm, "controller algorithm", Reinforce => "reinforce", Ppo => "ppo");
named!(Advantage, "advantage", Baseline => "baseline", Normalized => "normalized", Quantile => "quantile");

/// Everything that shapes the controller's policy and its learning; serde, all optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerConfig {
    /// LSTM hidden size, also the size of the choice embeddings.
    pub hidden: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// `c` in the logit squashing `c * tanh(l / T)`.
    pub tanh_c: f64,
    /// `T` in the logit squashing `c * tanh(l / T)`.
    pub temperature: f64,
    /// Weight of the entropy bonus in the loss.
    pub entropy_weight: f64,
    /// Decay of the exponential moving-average reward baseline.
    pub baseline_decay: f64,
    /// Largest global gradient norm; larger gradients are scaled down to it.
    pub grad_clip: Option<f64>,
    /// Seed of the weight initialisation and of the sampling stream.
    pub seed: u64,
    /// Plain REINFORCE or PPO.
    #[serde(default = "legacy::algorithm")]
    pub algorithm: Algorithm,
    /// PPO: optimiser steps over each batch.
    #[serde(default = "legacy::ppo_epochs")]
    pub ppo_epochs: usize,
    /// PPO: the probability ratio is clipped to `[1 - clip, 1 + clip]`.
    #[serde(default = "legacy::ppo_clip")]
    pub ppo_clip: f64,
    /// How rewards become advantages.
    #[serde(default = "legacy::advantage")]
    pub advantage: Advantage,
    /// Quantile advantages: among the last this many rewards told, this batch's included
    /// (0: all).
    #[serde(default)]
    pub window: usize,
    /// The best this many children told so far join every update (0: none).
    #[serde(default)]
    pub replay: usize,
    /// A child already told (or drawn twice in one ask) is drawn again, up to this many rounds
    /// (0: duplicates are asked as drawn).
    #[serde(default)]
    pub redraws: usize,
}

/// What the settings added later were before they existed.
mod legacy {
    use super::{Advantage, Algorithm};

    pub fn algorithm() -> Algorithm {
        Algorithm::Reinforce
    }
    pub fn ppo_epochs() -> usize {
        4
    }
    pub fn ppo_clip() -> f64 {
        0.2
    }
    pub fn advantage() -> Advantage {
        Advantage::Baseline
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            hidden: 64,
            lr: 5e-3,
            tanh_c: 2.5,
            temperature: 5.0,
            entropy_weight: 1e-4,
            baseline_decay: 0.95,
            grad_clip: None,
            seed: 0,
            algorithm: Algorithm::Ppo,
            ppo_epochs: 4,
            ppo_clip: 0.2,
            advantage: Advantage::Quantile,
            window: 0,
            replay: 4,
            redraws: 5,
        }
    }
}

impl ControllerConfig {
    /// Checks every setting is in its range.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, msg: &str| Err(Error::invalid(format!("controller.{field}"), msg));
        if self.hidden == 0 || self.hidden > MAX_HIDDEN {
            return bad("hidden", &format!("must be 1 to {MAX_HIDDEN}"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", "must be a positive number");
        }
        if !(self.tanh_c.is_finite() && self.tanh_c > 0.0) {
            return bad("tanh_c", "must be a positive number");
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad("temperature", "must be a positive number");
        }
        if !(self.entropy_weight.is_finite() && self.entropy_weight >= 0.0) {
            return bad("entropy_weight", "must be zero or positive");
        }
        if !(0.0..1.0).contains(&self.baseline_decay) {
            return bad("baseline_decay", "must be in [0, 1)");
        }
        if let Some(clip) = self.grad_clip {
            if !(clip.is_finite() && clip > 0.0) {
                return bad("grad_clip", "must be a positive number");
            }
        }
        if self.ppo_epochs == 0 {
            return bad("ppo_epochs", "must be at least 1");
        }
        if !(self.ppo_clip.is_finite() && self.ppo_clip > 0.0) {
            return bad("ppo_clip", "must be a positive number");
        }
        Ok(())
    }
}
