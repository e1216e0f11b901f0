//! `EnasConfig`: the settings of a weight-sharing search, stored with the run as part of the
//! strategy settings so that a resumed search runs the same schedule.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How convolutions of different kernel sizes at one position share weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelSharing {
    /// A smaller kernel is the centre of the largest (Once-for-All without its transform
    /// matrix): the default, since it shares more and learns faster (see `crate::enas`).
    #[default]
    Centre,
    /// Each kernel size has its own weights (and its own batch norm), as ENAS's macro space
    /// gives each operation its own.
    Own,
}

impl KernelSharing {
    /// The name on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::Centre => "centre",
        }
    }
}

impl fmt::Display for KernelSharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KernelSharing {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "own" => Ok(Self::Own),
            "centre" | "center" => Ok(Self::Centre),
            other => Err(Error::invalid(
                "kernel sharing",
                format!("`{other}` (known: own, centre)"),
            )),
        }
    }
}

/// Where a phase of the search draws its architectures from: the shared pass's children
/// (`EnasConfig::train_from`) and the derived ones (`EnasConfig::derive_from`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// The controller's policy: plain ENAS, and for deriving, the search's answer.
    #[default]
    Policy,
    /// Every decision uniform. For training, every part of the space gets trained weights
    /// (single-path one-shot training, Guo et al. 2020); for deriving, architectures spread
    /// over the whole space, so that the shared weights pick among all of it (and the Kendall
    /// tau between shared rating and stand-alone accuracy measures how well they rank the
    /// space), not among the few near-identical architectures a converged policy draws.
    Uniform,
}

impl Sampling {
    /// The name on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Uniform => "uniform",
        }
    }
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Sampling {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "policy" => Ok(Self::Policy),
            "uniform" => Ok(Self::Uniform),
            other => Err(Error::invalid(
                "sampling",
                format!("`{other}` (known: policy, uniform)"),
            )),
        }
    }
}

/// The schedule of a weight-sharing search. The shared network trains with the children's
/// settings (`SearchConfig::train`: batch size, learning rate, momentum, weight decay) over
/// `epochs` passes of the training split, on a cosine schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnasConfig {
    /// Passes over the training split, each followed by the controller's steps.
    pub epochs: usize,
    /// Controller updates after each pass.
    pub controller_steps: usize,
    /// Children sampled and rated per controller update (M).
    pub children: usize,
    /// Validation images each child of a controller update is rated on.
    pub rate_batch: usize,
    /// Architectures drawn at the end (`derive_from`) and rated to derive the result (N).
    pub derive: usize,
    /// Validation images (always the same ones) each derived architecture is rated on; the
    /// best `4 * top` are rated again on four times as many.
    pub derive_batch: usize,
    /// The best-rated derived architectures trained stand-alone as candidates (K). Five, not
    /// ten: ten cost about 100 CPU seconds more a run and, against `reinforce` given the same CPU
    /// seconds, moved nothing the seeds can tell apart (`bench/enas_topup.sh ... -- --enas-top
    /// 10` over seeds 12-19: -0.28 ± 0.40 points, against -0.07 ± 0.63 with five), because at
    /// the default child budget the shared rating does not pick better-than-average children at
    /// the top: ranks 1-5 trained to 90.4%, ranks 6-10 to 90.9%, `reinforce`'s children to 90.3%.
    pub top: usize,
    pub kernels: KernelSharing,
    /// Peak learning rate of the shared weights for a batch of 128 (default: the children's).
    pub lr: Option<f64>,
    /// Largest global gradient norm of one shared step (ENAS: 5).
    pub grad_clip: f64,
    /// Where the derived architectures are drawn from: uniformly by default, so that the shared
    /// weights pick the best of architectures spread over the whole space (where their ranking
    /// was measured: Kendall tau 0.52, see `train_from`), rather than of the few near-identical
    /// ones the controller's policy settles on, which the shared weights rate within a point of
    /// each other and which train stand-alone little better than the space at large (90.8%
    /// against 90.3% for uniformly drawn architectures). The controller still learns from its
    /// shared-weight rewards meanwhile (its policy is checkpointed and shown), and `policy`
    /// derives from it, as ENAS does. Measured on MNIST `resnet-cells` at the default child
    /// budget (`bench/enas.sh --threads 1 --retrain 10`'s protocol, the ENAS side rerun beside
    /// the stored `reinforce` runs, see the README): over seeds 0-11 its five
    /// derived children trained stand-alone to 91.1% on average against 90.7% from the policy,
    /// its best retrained to 91.9% against 91.5% (`reinforce` in as many CPU seconds: 92.2%;
    /// over seeds 0-19, the last eight run whole by `bench/enas.sh`, 91.9% against 92.1%),
    /// and the default run took 7 min 17 s on 2 cores against 9 min 47 s, its derived children
    /// being smaller. Runs stored before this default read it as `policy`, so they resume as
    /// they began.
    #[serde(default)]
    pub derive_from: Sampling,
    /// Where the shared pass draws the child each minibatch trains: uniformly (the default,
    /// single-path one-shot training, Guo et al. 2020; the controller still learns on top of
    /// the weights) or from the controller's policy (plain ENAS). The policy settles within a
    /// few epochs, and weights trained only on its choices rate the rest of the space poorly,
    /// on whatever trained most, not on what trains best (see `crate::enas`).
    /// Measured on MNIST `resnet-cells` at the default child budget (one epoch on 3,000
    /// images), against the mean of three stand-alone trainings of 20 uniformly drawn
    /// architectures: five uniform passes rank them at Kendall tau 0.52 (`bench/enas.sh --tau
    /// 20 --repeats 3 -- --enas-derive-from uniform --enas-warmup 1000 --enas-epochs 5`), ten
    /// at -0.06 (the shared weights, trained ten times over the same 3,000 images, rank by
    /// something else than how a child trains on them; one pass over 30,000 images, as many
    /// steps, ranks at 0.49), the policy-driven default before it at 0.06. In `bench/enas.sh
    /// --retrain 10`, deriving from the policy, its best derived children retrained to 91.8%
    /// over seeds 0-19 against `reinforce`'s 92.4% in the same CPU seconds (ENAS ahead in 7 of
    /// 20; per-seed difference -0.60 points, standard error 0.28), where the policy-driven
    /// default reached 90.9% against 92.0% (seeds 0-2).
    /// Runs stored before this setting existed read it as `policy`, so they resume as they
    /// began.
    #[serde(default)]
    pub train_from: Sampling,
    /// Epochs (the first ones) whose shared pass trains uniformly sampled children instead of
    /// the controller's (single-path one-shot warm-up, Guo et al. 2020): the controller
    /// collapses within a few epochs, and weights trained only on its choices rate the rest of
    /// the space poorly (see `crate::enas`). The controller's steps run as usual meanwhile.
    /// Only with `train_from` policy. Measured on MNIST `resnet-cells` (`bench/enas.sh --tau 20
    /// -- --enas-derive-from uniform --finalists 0`), 3 warm-up epochs of the ten the default
    /// then was gave Kendall tau -0.01 over 20 architectures against +0.10 without, both within
    /// the noise of 20 items. More than `epochs` makes every pass uniform, as `train_from`
    /// uniform does, with the same random draws.
    /// Runs stored before this setting existed read it as 0, so they resume as they began.
    #[serde(default)]
    pub warmup: usize,
    /// Every this many training minibatches (0: never), the shared pass also trains the
    /// largest child the shared network holds within the run's limits, on the same minibatch,
    /// before the sampled one: the sandwich rule of slimmable networks (Yu and Huang 2019) and
    /// BigNAS. Without it a narrower or shallower child reads the leading channels and the
    /// stage-end cells that every child trains, while the channels and cells only large
    /// children read stay undertrained, so the shared ratings favour small children, and the
    /// controller, training what it favours, narrows on them (see `crate::enas`).
    /// 4 by default: measured on MNIST `resnet-cells` (`bench/enas.sh`), the five derived
    /// children of seed 0 trained stand-alone to 88.6% on average without it, 90.9% with 4 and
    /// 92.0% with 1, but 1 costs 5.5 times the CPU of a run without (1,086 s against 198 s on
    /// one core) and 4 about 2.8 times (557 s).
    /// Runs stored before this setting existed read it as 0, so they resume as they began.
    #[serde(default)]
    pub sandwich: usize,
    /// Whether the sandwich rule's minibatches also train the smallest child the shared
    /// network holds within the run's limits, after the largest: Yu and Huang's rule in full,
    /// as BigNAS trains it. The largest alone trains the cells only deep children read, and the
    /// stage-end cells on the deep inputs they then see, so under shared weights deep children
    /// rate above what they reach stand-alone; the smallest trains each stage's last cell on
    /// the stage's own input, as a one-cell stage feeds it.
    /// Off by default: measured on MNIST `resnet-cells` (`bench/enas.sh --seeds S --threads 1
    /// --retrain 10 -- --enas-sandwich-smallest true`, seeds 0-2), the derived children grew to
    /// 92-142 million MACs and retrained to 90.5% on average against 90.9% without it.
    /// Runs stored before this setting existed read it as off, so they resume as they began.
    #[serde(default)]
    pub smallest: bool,
    /// SGD steps each of the best `4 * top` derived architectures is fine-tuned for, on a copy
    /// of the shared weights and the same training minibatches for all, before it is rated
    /// again (0: rated as the shared weights stand). A calibrated rating: under shared weights
    /// every child reads a compromise fitted to all of them, and a few steps of its own let it
    /// show how it trains, as "few-shot" evaluation of one-shot supernets does.
    /// 10 by default: measured on MNIST `resnet-cells` at the default child budget over seeds
    /// 12-19 (`bench/enas_topup.sh ... -- --enas-calibrate 10`, against the stored runs of the
    /// uncalibrated default), ENAS's best retrained 0.29 ± 0.34 points higher than without
    /// (better in 6 of 8 seeds), and against `reinforce` given the same CPU seconds it tied
    /// (92.23% against 92.23%, ahead in 4 of 8; without it, -0.07 ± 0.63 on those seeds; with
    /// seeds 20-31 run whole by `bench/enas.sh`, 92.13% against 92.21% over twenty, ahead in
    /// 8, -0.08 ± 0.34 points). It costs about 35 CPU seconds a run (-11 to +69): 200 child
    /// steps and the clones.
    /// Runs stored before this setting existed read it as 0, so they resume as they began.
    #[serde(default)]
    pub calibrate: usize,
}

impl Default for EnasConfig {
    fn default() -> Self {
        EnasConfig {
            epochs: 5,
            controller_steps: 20,
            children: 8,
            rate_batch: 64,
            derive: 300,
            derive_batch: 128,
            top: 5,
            kernels: KernelSharing::Centre,
            lr: None,
            grad_clip: 5.0,
            derive_from: Sampling::Uniform,
            train_from: Sampling::Uniform,
            warmup: 0,
            sandwich: 4,
            smallest: false,
            calibrate: 10,
        }
    }
}

impl EnasConfig {
    /// Checks every count is at least 1 and the rates are positive.
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [
            ("--enas-epochs", self.epochs),
            ("--enas-steps", self.controller_steps),
            ("--enas-children", self.children),
            ("--enas-rate-batch", self.rate_batch),
            ("--enas-derive", self.derive),
            ("--enas-derive-batch", self.derive_batch),
            ("--enas-top", self.top),
        ] {
            if v == 0 {
                return Err(Error::invalid(flag, "must be at least 1"));
            }
        }
        if self.lr.is_some_and(|lr| !(lr.is_finite() && lr > 0.0)) {
            return Err(Error::invalid("--enas-lr", "must be a positive number"));
        }
        if !(self.grad_clip.is_finite() && self.grad_clip > 0.0) {
            return Err(Error::invalid(
                "enas.grad_clip",
                "must be a positive number",
            ));
        }
        Ok(())
    }

    /// Architectures rated with shared weights in a whole run (controller steps and deriving).
    pub fn rated(&self) -> usize {
        self.epochs * self.controller_steps * self.children + self.derive
    }
}
