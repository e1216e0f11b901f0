//! What training a child produces (`Outcome`, `Metrics`) and what it reports on the way
//! (`TrainEvent`), all serialisable so the store and `--json` can keep them as they are.

use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

/// Measurements of one training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Validation accuracy after each epoch, 0 to 1.
    pub val_acc: Vec<f64>,
    pub final_val_acc: f64,
    pub best_val_acc: f64,
    /// Mean training loss of each epoch.
    pub train_loss: Vec<f64>,
    pub params: u64,
    pub macs: u64,
    /// Wall time of the whole run, evaluation included.
    pub seconds: f64,
    /// Training images per second of training time (evaluation excluded).
    pub images_per_second: f64,
    /// Epochs completed.
    pub epochs: usize,
    /// Accuracy on the test split, measured only for finalists (and reported, never used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_acc: Option<f64>,
}

/// How a child's training ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed(Metrics),
    /// NaN loss, out of memory, a candle error, a panic, an exhausted time budget; `metrics`
    /// holds the epochs completed before the failure, if any.
    Failed {
        reason: String,
        metrics: Option<Metrics>,
    },
    /// The stop flag was set.
    Stopped,
}

impl Outcome {
    /// A failure without metrics.
    pub fn failed(reason: impl Into<String>) -> Self {
        Outcome::Failed {
            reason: reason.into(),
            metrics: None,
        }
    }

    /// The metrics of a completed run.
    pub fn metrics(&self) -> Option<&Metrics> {
        match self {
            Outcome::Completed(m) => Some(m),
            _ => None,
        }
    }
}

/// Progress of one training run, for progress bars and logs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum TrainEvent {
    EpochStarted {
        epoch: usize,
        epochs: usize,
        batches: usize,
    },
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        loss: f64,
        images_per_second: f64,
    },
    Validated {
        epoch: usize,
        val_acc: f64,
        train_loss: f64,
    },
}

/// The outcome and, for a completed run, the trained weights and (when the plan asks) the
/// state to continue from.
pub struct Trained {
    pub outcome: Outcome,
    pub varmap: Option<VarMap>,
    pub state: Option<Vec<u8>>,
}

impl std::fmt::Debug for Trained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trained")
            .field("outcome", &self.outcome)
            .field("varmap", &self.varmap.as_ref().map(|_| "VarMap"))
            .finish()
    }
}
