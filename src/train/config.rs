//! `TrainConfig`: every setting of a child's training, with defaults that train LeNet-5 on
//! MNIST to about 99% in three epochs.

use serde::{Deserialize, Serialize};

use crate::child::Kernels;

/// How to train one child.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate for a batch of 128 images; scaled linearly with `batch_size`.
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Epochs of linear warm-up before the cosine decay (may be fractional).
    pub warmup_epochs: f64,
    pub label_smoothing: f64,
    /// Give up (as `Failed`, with the epochs done so far) after this much wall time.
    pub time_budget_seconds: Option<f64>,
    pub eval_batch_size: usize,
    /// Seed of the initial weights, the shuffling and the augmentation.
    pub seed: u64,
    /// Fail before training when the activation estimate exceeds this; `None` means the
    /// available memory (`/proc/meminfo`'s MemAvailable) on the CPU and no limit on CUDA.
    pub memory_limit_bytes: Option<u64>,
    /// nas's own CPU kernels and backward pass (the default), or candle's ops and autograd,
    /// kept for checking.
    pub kernels: Kernels,
    /// Stochastic depth: the drop-path rate of the deepest residual cell, the others' growing
    /// linearly to it (`Graph::with_drop_path`); 0 for none.
    pub drop_path: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 3,
            batch_size: 64,
            lr: 0.05,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 5e-4,
            warmup_epochs: 0.0,
            label_smoothing: 0.0,
            time_budget_seconds: None,
            eval_batch_size: 512,
            seed: 0,
            memory_limit_bytes: None,
            kernels: Kernels::Fast,
            drop_path: 0.0,
        }
    }
}
