//! What a weight-sharing search reports besides the ordinary search events: the shared
//! network's training, the controller's steps, each epoch's summary, and the deriving.

use serde::{Deserialize, Serialize};

/// The summary of one epoch (a pass over the training split, then the controller's steps);
/// kept with the run, so a resumed search continues the same history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// From 1.
    pub epoch: usize,
    pub epochs: usize,
    /// Mean training loss of the sampled children under the shared weights.
    pub shared_loss: f64,
    /// Mean reward of the controller's children (accuracy on a validation minibatch).
    pub mean_reward: f64,
    /// Mean entropy of the policy along the controller's children.
    pub entropy: f64,
    /// Architectures rated with shared weights so far in the run.
    pub rated: u64,
    /// Shared values (weights, not velocities) created so far.
    pub shared_params: usize,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// Wall time of its controller steps (rating children, updating the policy).
    pub controller_seconds: f64,
}

/// One derived architecture: rated with the shared weights on the fixed validation batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    /// 0 for the best rated.
    pub rank: usize,
    pub decisions: Vec<usize>,
    pub hash: String,
    pub summary: String,
    pub shared_acc: f64,
    pub params: u64,
}

/// Progress of a weight-sharing search.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum EnasEvent {
    /// Training of the shared network starts (or resumes) with epoch `epoch`.
    Training {
        epoch: usize,
        epochs: usize,
        batches: usize,
    },
    /// One minibatch of the shared pass, trained as one sampled child.
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
    },
    /// One controller update over children rated on a validation minibatch.
    ControllerStep {
        epoch: usize,
        step: usize,
        steps: usize,
        mean_reward: f64,
        entropy: f64,
    },
    /// An epoch ended and was checkpointed.
    Epoch(EpochStats),
    /// Deriving: `done` of `total` sampled architectures handled.
    Deriving { done: usize, total: usize },
    /// The derived architectures were rated; the best `top.len()` will be trained stand-alone.
    Derived {
        sampled: usize,
        rated: usize,
        /// Wall time of the sampling and rating.
        seconds: f64,
        top: Vec<Derived>,
    },
    /// Kendall's tau between the shared-weight rating and the stand-alone accuracy of the
    /// derived candidates trained (none with fewer than two).
    Correlation { tau: Option<f64>, candidates: usize },
}
