//! How the controller learns from told children: rewards become advantages (against the moving
//! baseline, normalised by the moving spread, or as quantiles among all rewards told), the best
//! children told so far can join each batch, and the loss is plain REINFORCE's or PPO's clipped
//! surrogate.

use candle_core::{Device, Tensor};

use super::config::{Advantage, ControllerConfig};
use super::policy::Scores;
use crate::error::Result;
use crate::space::decision::Decisions;

/// The reward statistics the advantages are measured against.
pub(super) struct RewardScale {
    pub baseline: f64,
    /// Moving variance of the rewards around the baseline, this batch included.
    pub variance: f64,
}

impl RewardScale {
    /// The scale for a batch of `rewards`, from the moving statistics before it.
    pub fn new(config: &ControllerConfig, rewards: &[f64], old: Option<(f64, f64)>) -> Self {
        let mean = rewards.iter().sum::<f64>() / rewards.len() as f64;
        let baseline = old.map_or(mean, |(b, _)| b);
        let square =
            rewards.iter().map(|r| (r - baseline).powi(2)).sum::<f64>() / rewards.len() as f64;
        let decay = config.baseline_decay;
        let variance = match old {
            Some((_, v)) => decay * v + (1.0 - decay) * square,
            None => square,
        };
        Self { baseline, variance }
    }

    /// The advantage of `reward`; `told` holds every reward told so far, this batch included.
    pub fn advantage(&self, kind: Advantage, reward: f64, told: &[f64]) -> f64 {
        match kind {
            Advantage::Baseline => reward - self.baseline,
            Advantage::Normalized => match self.variance.sqrt() {
                sd if sd > 0.0 => (reward - self.baseline) / sd,
                _ => 0.0,
            },
            Advantage::Quantile => {
                let below = told.iter().filter(|&&r| r < reward).count() as f64;
                let equal = told.iter().filter(|&&r| r == reward).count() as f64;
                (below + 0.5 * equal) / told.len().max(1) as f64 - 0.5
            }
        }
    }
}

/// The best `k` children of `told` (highest reward first, earliest first on ties), in one pass.
pub(super) fn best_told(told: &[(Decisions, f64)], k: usize) -> Vec<(Decisions, f64)> {
    let mut best: Vec<usize> = Vec::with_capacity(k + 1);
    for (i, (_, reward)) in told.iter().enumerate() {
        // after the earlier children of the same reward
        let at = best.partition_point(|&j| told[j].1 >= *reward);
        if at < k {
            best.insert(at, i);
            best.truncate(k);
        }
    }
    best.into_iter().map(|i| told[i].clone()).collect()
}

/// REINFORCE's loss `-(A * log p) - w * entropy`, averaged over the children.
pub(super) fn reinforce_loss(
    scores: &Scores,
    advantages: &Tensor,
    entropy_weight: f64,
) -> Result<Tensor> {
    let per_child =
        ((&scores.log_prob * advantages)?.neg()? - scores.entropy.affine(entropy_weight, 0.0)?)?;
    Ok(per_child.mean_all()?)
}

/// PPO's loss: `-min(ratio * A, clip(ratio) * A) - w * entropy`, averaged over the children,
/// with `ratio = p / p_old`.
pub(super) fn ppo_loss(
    scores: &Scores,
    old_log_prob: &Tensor,
    advantages: &Tensor,
    clip: f64,
    entropy_weight: f64,
) -> Result<Tensor> {
    let ratio = (&scores.log_prob - old_log_prob)?.exp()?;
    let clipped = ratio.clamp(1.0 - clip, 1.0 + clip)?;
    let surrogate = (&ratio * advantages)?.minimum(&(clipped * advantages)?)?;
    let per_child = (surrogate.neg()? - scores.entropy.affine(entropy_weight, 0.0)?)?;
    Ok(per_child.mean_all()?)
}

/// Advantages as a `[batch]` tensor.
pub(super) fn tensor(advantages: &[f64]) -> Result<Tensor> {
    let values: Vec<f32> = advantages.iter().map(|&a| a as f32).collect();
    Ok(Tensor::new(values.as_slice(), &Device::Cpu)?)
}
