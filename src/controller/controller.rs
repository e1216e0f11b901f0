//! The controller: the LSTM policy, its Adam optimiser, the moving reward statistics, the
//! children told so far (when a setting needs them) and the sampling stream, as one value that
//! checkpoints to bytes and back exactly.
//!
//! Measured on the development machine (2 shared cores, debug build with optimised
//! dependencies, hidden 64, 6 decisions of 4 options): one `update` over M = 8 children takes
//! about 4 ms, and sampling 8 children about 1.2 ms.

use std::collections::HashSet;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::adam::Adam;
use super::config::{Advantage, Algorithm, ControllerConfig};
use super::learn::{self, RewardScale};
use super::policy::Policy;
use super::rng::{seeded, RngState};
use crate::error::{Error, Result};
use crate::space::decision::{Decision, Decisions};

/// Weights are drawn uniformly from `[-INIT_SCALE, INIT_SCALE]`, as in ENAS.
const INIT_SCALE: f32 = 0.1;
/// Stream of the seed used for sampling; the initialisation uses another.
const SAMPLE_STREAM: u64 = 0;
const INIT_STREAM: u64 = 1;

/// What one update did, for events and logs.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct UpdateStats {
    /// Mean loss over the children of the update (its first step, for PPO).
    pub loss: f64,
    /// Mean reward of the children.
    pub mean_reward: f64,
    /// The baseline the advantages were measured against.
    pub baseline: f64,
    /// Mean entropy of the policy along the children's paths.
    pub mean_entropy: f64,
    /// Global gradient norm before clipping (of the first step, for PPO).
    pub grad_norm: f64,
}

/// The LSTM policy with its learning state.
pub struct Controller {
    pub(super) config: ControllerConfig,
    pub(super) decisions: Vec<Decision>,
    /// Variables sorted by name: the order of Adam's moments and of the checkpoint.
    pub(super) vars: Vec<(String, Var)>,
    policy: Policy,
    pub(super) adam: Adam,
    pub(super) baseline: Option<f64>,
    /// Moving variance of the rewards around the baseline (`None` before the first update).
    pub(super) variance: Option<f64>,
    /// Every child told, in order, with its reward; kept only when a setting reads it.
    pub(super) told: Vec<(Decisions, f64)>,
    /// The children of `told`, to recognise duplicates.
    pub(super) seen: HashSet<Decisions>,
    pub(super) rng: ChaCha8Rng,
}

impl Controller {
    /// A fresh controller for `decisions`, initialised and seeded from `config.seed`.
    pub fn new(decisions: &[Decision], config: &ControllerConfig) -> Result<Self> {
        config.validate()?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let policy = Policy::new(
            decisions,
            config.hidden,
            config.tanh_c,
            config.temperature,
            vb,
        )?;
        let mut vars: Vec<(String, Var)> =
            varmap.data().lock().unwrap().clone().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut init = seeded(config.seed, INIT_STREAM);
        for (_, var) in &vars {
            let values: Vec<f32> = (0..var.elem_count())
                .map(|_| init.random_range(-INIT_SCALE..INIT_SCALE))
                .collect();
            var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu)?)?;
        }
        let adam = Adam::new(config.lr, &vars)?;
        Ok(Self {
            config: config.clone(),
            decisions: decisions.to_vec(),
            vars,
            policy,
            adam,
            baseline: None,
            variance: None,
            told: Vec::new(),
            seen: HashSet::new(),
            rng: seeded(config.seed, SAMPLE_STREAM),
        })
    }

    /// Draws `n` assignments from the policy.
    pub fn sample(&mut self, n: usize) -> Result<Vec<Decisions>> {
        self.policy.sample(n, &mut self.rng)
    }

    /// Natural log of the probability that the policy samples `assignment`.
    pub fn log_prob(&self, assignment: &Decisions) -> Result<f64> {
        let scores = self.policy.score(std::slice::from_ref(assignment))?;
        Ok(scores.log_prob.to_vec1::<f32>()?[0] as f64)
    }

    /// Probability that the policy samples `assignment`.
    pub fn probability(&self, assignment: &Decisions) -> Result<f64> {
        Ok(self.log_prob(assignment)?.exp())
    }

    /// Draws `n` children to evaluate: plain samples, except that with `redraws` set, a child
    /// already told or drawn twice in this ask is drawn again, for up to `redraws` rounds (each
    /// round draws every missing child at once, four candidates for each).
    pub fn propose(&mut self, n: usize) -> Result<Vec<Decisions>> {
        let mut out = self.sample(n)?;
        if self.config.redraws == 0 || n == 0 {
            return Ok(out);
        }
        let mut taken: HashSet<Decisions> = HashSet::new();
        let mut missing: Vec<usize> = Vec::new();
        for (i, child) in out.iter().enumerate() {
            if self.seen.contains(child) || !taken.insert(child.clone()) {
                missing.push(i);
            }
        }
        for _ in 0..self.config.redraws {
            if missing.is_empty() {
                break;
            }
            let mut fresh = self.sample(4 * missing.len())?.into_iter();
            missing.retain(|&i| {
                match fresh.find(|c| !self.seen.contains(c) && !taken.contains(c)) {
                    Some(child) => {
                        taken.insert(child.clone());
                        out[i] = child;
                        false
                    }
                    None => true,
                }
            });
        }
        Ok(out)
    }

    /// One update over the children of `results` (and the best children told before, with
    /// `replay`): for REINFORCE one step on `-A * log p - entropy_weight * entropy`, for PPO
    /// `ppo_epochs` steps on the clipped surrogate, averaged over the children.
    pub fn update(&mut self, results: &[(Decisions, f64)]) -> Result<UpdateStats> {
        if results.is_empty() {
            return Err(Error::invalid(
                "controller update",
                "no children to learn from",
            ));
        }
        if let Some((_, r)) = results.iter().find(|(_, r)| !r.is_finite()) {
            return Err(Error::invalid(
                "reward",
                format!("{r} is not a finite number"),
            ));
        }
        let rewards: Vec<f64> = results.iter().map(|(_, r)| *r).collect();
        let mean_reward = rewards.iter().sum::<f64>() / rewards.len() as f64;
        let old = self.baseline.zip(self.variance.or(Some(0.0)));
        let scale = RewardScale::new(&self.config, &rewards, old);
        let replayed = learn::best_told(&self.told, self.config.replay);
        self.remember(results);
        let told_rewards: Vec<f64> = match self.config.advantage {
            Advantage::Quantile => {
                let from = match self.config.window {
                    0 => 0,
                    w => self.told.len().saturating_sub(w),
                };
                self.told[from..].iter().map(|(_, r)| *r).collect()
            }
            _ => Vec::new(),
        };
        let batch: Vec<(Decisions, f64)> = results.iter().cloned().chain(replayed).collect();
        let advantages: Vec<f64> = batch
            .iter()
            .map(|(_, r)| scale.advantage(self.config.advantage, *r, &told_rewards))
            .collect();
        let children: Vec<Decisions> = batch.into_iter().map(|(d, _)| d).collect();
        let (loss, mean_entropy, grad_norm) =
            self.learn(&children, &learn::tensor(&advantages)?)?;
        let decay = self.config.baseline_decay;
        self.baseline = Some(match self.baseline {
            Some(old) => decay * old + (1.0 - decay) * mean_reward,
            None => mean_reward,
        });
        self.variance = Some(scale.variance);
        Ok(UpdateStats {
            loss,
            mean_reward,
            baseline: scale.baseline,
            mean_entropy,
            grad_norm,
        })
    }

    /// Keeps the told children when a setting reads them.
    fn remember(&mut self, results: &[(Decisions, f64)]) {
        let config = &self.config;
        if config.replay == 0 && config.redraws == 0 && config.advantage != Advantage::Quantile {
            return;
        }
        for (child, reward) in results {
            self.seen.insert(child.clone());
            self.told.push((child.clone(), *reward));
        }
    }

    /// The optimiser steps of one update; returns the first step's loss, mean entropy and
    /// gradient norm.
    fn learn(&mut self, children: &[Decisions], advantages: &Tensor) -> Result<(f64, f64, f64)> {
        let (steps, old_log_prob) = match self.config.algorithm {
            Algorithm::Reinforce => (1, None),
            Algorithm::Ppo => (
                self.config.ppo_epochs,
                Some(self.policy.score(children)?.log_prob.detach()),
            ),
        };
        let mut first = None;
        for _ in 0..steps {
            let scores = self.policy.score(children)?;
            let loss = match &old_log_prob {
                None => learn::reinforce_loss(&scores, advantages, self.config.entropy_weight)?,
                Some(old) => learn::ppo_loss(
                    &scores,
                    old,
                    advantages,
                    self.config.ppo_clip,
                    self.config.entropy_weight,
                )?,
            };
            let grads = loss.backward()?;
            let grad_norm = Adam::grad_norm(&self.vars, &grads)?;
            let scale = match self.config.grad_clip {
                Some(clip) if grad_norm > clip => clip / grad_norm,
                _ => 1.0,
            };
            self.adam.step(&self.vars, &grads, scale)?;
            if first.is_none() {
                let entropy = scores.entropy.mean_all()?.to_scalar::<f32>()? as f64;
                first = Some((loss.to_scalar::<f32>()? as f64, entropy, grad_norm));
            }
        }
        Ok(first.expect("at least one step"))
    }

    /// The moving-average baseline, `None` before the first update.
    pub fn baseline(&self) -> Option<f64> {
        self.baseline
    }

    /// Number of optimiser steps made so far (one per update, `ppo_epochs` with PPO).
    pub fn steps(&self) -> u64 {
        self.adam.step
    }

    /// The settings the controller was built with.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The decision points the controller fills.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    pub(super) fn set_rng(&mut self, state: &RngState) {
        self.rng = state.rebuild();
    }
}
