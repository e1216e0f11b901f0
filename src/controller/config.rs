//! Settings of the REINFORCE controller, with the published defaults of ENAS and NASNet.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest LSTM hidden size (ENAS uses 100; this is forty times that, still megabytes).
pub const MAX_HIDDEN: usize = 4096;

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
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            hidden: 64,
            lr: 1e-3,
            tanh_c: 2.5,
            temperature: 5.0,
            entropy_weight: 1e-4,
            baseline_decay: 0.95,
            grad_clip: None,
            seed: 0,
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
        Ok(())
    }
}
