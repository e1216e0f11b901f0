//! Settings of a search: everything that decides which candidates are tried and how they are
//! trained. They are stored with the run, so a resumed search cannot silently change them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::ImageSize;
use crate::error::{Error, Result};
use crate::pool::broker::BrokerConfig;
use crate::strategy::{StrategyConfig, StrategyKind};
use crate::train::TrainConfig;

/// Images a finalist sees by default: one epoch of MNIST's 55,000 training images, which
/// brings a `resnet-cells` child past 99% test accuracy (a sampled 54M-MAC child: 99.16% after
/// one epoch), and enough epochs on a small folder of photos to learn it properly.
pub const FINAL_IMAGES: usize = 50_000;
/// The most epochs a finalist trains by default (a folder of 100 photos).
pub const MAX_AUTO_FINAL_EPOCHS: usize = 100;

/// Exponent of the MnasNet-style soft objective `acc * (params / target)^w`.
pub const SOFT_OBJECTIVE_EXPONENT: f64 = -0.07;

/// A search's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// The space as the user named it (shipped name or path).
    pub space: String,
    /// The file the space was read from (table files are found relative to it).
    pub space_path: PathBuf,
    pub strategy: StrategyKind,
    pub strategy_config: StrategyConfig,
    /// Candidates to evaluate in all (trained, failed, rejected and duplicates).
    pub samples: usize,
    /// Candidates per strategy update (M).
    pub batch: usize,
    /// Children trained in parallel; 0 to choose from the children's size at the start
    /// (`cores::choose_split`), which stores the choice with the run.
    pub workers: usize,
    /// Threads each worker's child uses (0: share the cores evenly).
    pub threads_per_worker: usize,
    /// Devices, e.g. `cpu` or `cuda:0,cuda:1`.
    pub device: String,
    /// The data set (`mnist`, `idx:DIR`, `cifar10:DIR`, `folder:DIR`, `synthetic`).
    pub dataset: String,
    pub train_size: Option<usize>,
    pub val_size: Option<usize>,
    /// The size folder images are fitted to; a search records the size it used (given, or
    /// picked for a mixed-size folder), so a resume and an export fit images the same way.
    pub image_size: Option<ImageSize>,
    pub train: TrainConfig,
    pub seed: u64,
    /// Hard limits: larger architectures are rejected before training.
    pub max_params: Option<u64>,
    pub max_macs: Option<u64>,
    /// Soft objective: reward = accuracy * (params / target)^-0.07.
    pub target_params: Option<u64>,
    /// Trained weights kept for the best this many candidates (for export).
    pub keep_top: usize,
    /// Plain (every candidate trained for the whole budget) or successive halving.
    pub schedule: Schedule,
    /// How long each child trains; resolved into `train.epochs` when the search starts.
    pub budget: Budget,
    /// Stop starting new work once this many epochs (summed over every child and rung; a
    /// table fidelity counts its cost) are spent; for comparing schedules at equal cost.
    pub epoch_budget: Option<f64>,
    /// The best this many candidates are trained again, from scratch, on the whole training
    /// split, after the search (cell spaces).
    pub finalists: usize,
    /// Epochs of a finalist's training; 0 for enough epochs to see `FINAL_IMAGES` images.
    pub final_epochs: usize,
    /// Train the children through this Redis broker; where a search runs, not what it is,
    /// so never stored with the run (its URL may hold a password).
    #[serde(skip)]
    pub broker: Option<BrokerConfig>,
}

/// How a search spends training on its candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// Every candidate trains for `train.epochs`.
    Plain,
    /// Asynchronous successive halving (ASHA): every candidate trains `min_epochs`; the best
    /// `1/eta` of each rung are promoted to train `eta` times longer, up to `train.epochs`.
    Halving { min_epochs: usize, eta: usize },
}

/// How long a child trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Budget {
    /// `train.epochs`, raised until a child takes at least `MIN_STEPS` SGD steps.
    Default,
    /// Exactly this many epochs (what a resumed search reads back).
    Epochs(usize),
    /// About this many images seen: whole epochs, at least one.
    Images(u64),
    /// About this many SGD steps: whole epochs, at least one.
    Steps(u64),
}

/// The least number of SGD steps the default budget gives a child: on a small data set one
/// epoch is a handful of steps, and every child then predicts one class (600 MNIST digits,
/// 10 steps: 18% for every candidate; 80 steps: 74 to 86%).
pub const MIN_STEPS: usize = 40;

impl Budget {
    /// The whole epochs a child trains on `train_images` images in batches of `batch_size`.
    pub fn epochs(self, default_epochs: usize, train_images: usize, batch_size: usize) -> usize {
        let steps_per_epoch = train_images.div_ceil(batch_size.max(1)).max(1);
        let round = |x: f64| (x.round() as usize).max(1);
        match self {
            Budget::Default => default_epochs.max(MIN_STEPS.div_ceil(steps_per_epoch)),
            Budget::Epochs(n) => n.max(1),
            Budget::Images(n) => round(n as f64 / train_images.max(1) as f64),
            Budget::Steps(n) => round(n as f64 / steps_per_epoch as f64),
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        // A short child budget needs a higher peak rate: 94% against 92% validation accuracy
        // for a sampled resnet-cells child on 3,000 MNIST images in one epoch at batch 64.
        let train = TrainConfig {
            epochs: 1,
            lr: 0.2,
            ..TrainConfig::default()
        };
        SearchConfig {
            space: "resnet-cells".into(),
            space_path: PathBuf::new(),
            strategy: StrategyKind::Reinforce,
            strategy_config: StrategyConfig::default(),
            samples: 12,
            batch: 4,
            workers: 1,
            threads_per_worker: 0,
            device: "cpu".into(),
            dataset: "mnist".into(),
            train_size: Some(3000),
            val_size: Some(1000),
            image_size: None,
            train,
            seed: 0,
            max_params: None,
            max_macs: None,
            target_params: None,
            keep_top: 5,
            schedule: Schedule::Plain,
            budget: Budget::Default,
            epoch_budget: None,
            finalists: 1,
            final_epochs: 0,
            broker: None,
        }
    }
}

impl SearchConfig {
    /// Checks values that no type can: counts at least one, limits positive.
    pub fn validate(&self) -> Result<()> {
        let positive = |what: &str, v: usize| {
            if v == 0 {
                Err(Error::invalid(what, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("--samples", self.samples)?;
        positive("--batch", self.batch)?;
        positive("--epochs", self.train.epochs)?;
        if let Schedule::Halving { min_epochs, eta } = self.schedule {
            positive("--min-epochs", min_epochs)?;
            if eta < 2 {
                return Err(Error::invalid("--eta", "must be at least 2"));
            }
            if min_epochs > self.train.epochs {
                return Err(Error::invalid(
                    "--min-epochs",
                    format!(
                        "{min_epochs} is more than --epochs {}: the first rung cannot be longer than the last",
                        self.train.epochs
                    ),
                ));
            }
        }
        if let Some(b) = self.epoch_budget {
            if !(b.is_finite() && b > 0.0) {
                return Err(Error::invalid(
                    "--epoch-budget",
                    "must be a positive number",
                ));
            }
        }
        for (what, v) in [
            ("--max-params", self.max_params),
            ("--max-macs", self.max_macs),
            ("--target-params", self.target_params),
        ] {
            if v == Some(0) {
                return Err(Error::invalid(what, "must be at least 1"));
            }
        }
        self.strategy_config.controller.validate()
    }

    /// The reward of a trained candidate with validation accuracy `acc` and `params` parameters.
    pub fn reward(&self, acc: f64, params: u64) -> f64 {
        match self.target_params {
            Some(target) => acc * (params as f64 / target as f64).powf(SOFT_OBJECTIVE_EXPONENT),
            None => acc,
        }
    }

    /// Why an architecture of this size is rejected before training, if it is.
    pub fn rejection(&self, params: u64, macs: u64) -> Option<String> {
        if let Some(max) = self.max_params.filter(|&m| params > m) {
            return Some(format!("{params} parameters exceed --max-params {max}"));
        }
        if let Some(max) = self.max_macs.filter(|&m| macs > m) {
            return Some(format!("{macs} MACs exceed --max-macs {max}"));
        }
        None
    }

    /// A finalist's epochs on a training split of `train_images`: `final_epochs` when set, or
    /// else the fewest whole epochs that show a finalist `FINAL_IMAGES` images, at most
    /// `MAX_AUTO_FINAL_EPOCHS`.
    pub fn final_epochs_for(&self, train_images: usize) -> usize {
        match self.final_epochs {
            0 => FINAL_IMAGES
                .div_ceil(train_images.max(1))
                .clamp(1, MAX_AUTO_FINAL_EPOCHS),
            epochs => epochs,
        }
    }

    /// Fixes `train.epochs` from the budget for a training split of `train_images`, and
    /// records the result as the budget, so that a resumed search trains the same.
    pub fn resolve_budget(&mut self, train_images: usize) {
        let default = match self.schedule {
            // the last rung is what `--epochs` says, however small the data
            Schedule::Halving { .. } => Budget::Epochs(self.train.epochs),
            Schedule::Plain => self.budget,
        };
        let epochs = default.epochs(self.train.epochs, train_images, self.train.batch_size);
        self.train.epochs = epochs;
        self.budget = Budget::Epochs(epochs);
    }

    /// The training seed of candidate `id`: fixed by the run's seed and the id alone, so a
    /// candidate retrained after a crash is trained exactly as it would have been.
    pub fn candidate_seed(&self, id: u64) -> u64 {
        self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ id.wrapping_mul(0xD1B5_4A32_D192_ED03)
    }
}
