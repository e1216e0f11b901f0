//! The alternating training of ENAS: each epoch, one pass over the training split where every
//! minibatch trains one child on its share of the weights; then the controller's steps, each
//! rewarding M sampled children with their accuracy on a validation minibatch under the shared
//! weights (batch norm on batch statistics, as ENAS rates them).
//!
//! With `train_from` uniform (the default), and otherwise in the first `warmup` epochs, the
//! pass trains uniformly sampled children instead, so that every part of the space gets
//! trained weights, whatever the controller prefers.
//! With the sandwich rule, every `sandwich`-th minibatch first trains the largest child too,
//! and with `smallest` the smallest after it.
//!
//! Every random stream is seeded from the run's seed and the epoch (or lives in the
//! controller's checkpoint), so an epoch run again after a resume is the same epoch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, Tensor};

use super::config::{EnasConfig, Sampling};
use super::events::{EnasEvent, EpochStats};
use super::shared::{SharedNet, SharedSgd};
use crate::child::Workspace;
use crate::controller::rng::seeded;
use crate::controller::Controller;
use crate::data::{Dataset, SplitKind};
use crate::error::Result;
use crate::graph::Graph;
use crate::search::SearchConfig;
use crate::space::{Decisions, Space};
use crate::train::{learning_rate, TrainConfig};

/// Random streams, per epoch: `base + epoch`.
const STREAM_BATCHES: u64 = 1 << 40;
const STREAM_VALIDATION: u64 = 2 << 40;
const STREAM_DROPOUT: u64 = 3 << 40;
const STREAM_WARMUP: u64 = 5 << 40;

/// The shared network, the controller and what they learn from.
pub(super) struct Trainer<'a> {
    pub cfg: &'a SearchConfig,
    pub enas: &'a EnasConfig,
    pub space: &'a Space,
    pub data: &'a Dataset,
    pub shared: SharedNet,
    pub controller: Controller,
    pub workspace: Workspace,
    /// Architectures rated with shared weights so far.
    pub rated: u64,
    /// The child the sandwich rule trains (`EnasConfig::sandwich`), when it is on.
    pub largest: Option<Graph>,
    /// The smallest child, which the sandwich rule trains too (`EnasConfig::smallest`).
    pub smallest: Option<Graph>,
}

impl Trainer<'_> {
    /// The shared network's schedule: the children's settings over the shared epochs.
    fn schedule(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.enas.epochs,
            lr: self.enas.lr.unwrap_or(self.cfg.train.lr),
            ..self.cfg.train.clone()
        }
    }

    /// Minibatches in one pass over the training split.
    pub fn batches(&self) -> usize {
        self.data.train.len.div_ceil(self.cfg.train.batch_size)
    }

    /// The graph of an assignment and whether the run's limits admit it; `None` when it
    /// does not decode or lower, or the shared network cannot hold it (a failed child, never a
    /// failed search).
    pub fn graph(&mut self, decisions: &Decisions) -> Option<(Graph, bool)> {
        let graph = self.space.decode(decisions).ok()?.lower().ok()?;
        if !self.shared.holds(&graph) {
            return None;
        }
        let admitted = self.cfg.rejection(graph.params(), graph.macs()).is_none();
        Some((graph, admitted))
    }

    /// One epoch (from 1); `None` when the stop flag ended it early.
    pub fn epoch(
        &mut self,
        epoch: usize,
        stop: &AtomicBool,
        events: &mut dyn FnMut(EnasEvent),
    ) -> Result<Option<EpochStats>> {
        let started = Instant::now();
        let Some(shared_loss) = self.shared_pass(epoch, stop, events)? else {
            return Ok(None);
        };
        let controller_started = Instant::now();
        let Some((mean_reward, entropy)) = self.controller_steps(epoch, stop, events)? else {
            return Ok(None);
        };
        Ok(Some(EpochStats {
            epoch,
            epochs: self.enas.epochs,
            shared_loss,
            mean_reward,
            entropy,
            rated: self.rated,
            shared_params: self.shared.params(),
            seconds: started.elapsed().as_secs_f64(),
            controller_seconds: controller_started.elapsed().as_secs_f64(),
        }))
    }

    /// Trains one sampled child per training minibatch; returns the mean finite loss.
    fn shared_pass(
        &mut self,
        epoch: usize,
        stop: &AtomicBool,
        events: &mut dyn FnMut(EnasEvent),
    ) -> Result<Option<f64>> {
        let schedule = self.schedule();
        let batches = self.batches();
        let mut rng = seeded(self.cfg.seed, STREAM_BATCHES + epoch as u64);
        let mut dropout = seeded(self.cfg.seed, STREAM_DROPOUT + epoch as u64);
        // the warm-up's stream, so that a warm-up of every epoch is uniform training draw for draw
        let uniform = self.enas.train_from == Sampling::Uniform || epoch <= self.enas.warmup;
        let mut uniform_draws =
            uniform.then(|| seeded(self.cfg.seed, STREAM_WARMUP + epoch as u64));
        let data = self.data;
        let batcher = data.batches(
            SplitKind::Train,
            self.cfg.train.batch_size,
            Some(&mut rng),
            data.augment,
            &Device::Cpu,
        )?;
        let (mut sum, mut count) = (0.0, 0usize);
        for (index, batch) in batcher.enumerate() {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let (xs, ys) = batch?;
            let decisions = match &mut uniform_draws {
                Some(rng) => self.uniform_one(rng),
                None => self.controller.sample(1)?.remove(0),
            };
            let Some((graph, _)) = self.graph(&decisions) else {
                continue;
            };
            let step = (epoch - 1) * batches + index;
            let sgd = self.sgd(&schedule, learning_rate(&schedule, step, batches));
            if self.enas.sandwich > 0 && index % self.enas.sandwich == 0 {
                for end in [&self.largest, &self.smallest].into_iter().flatten() {
                    self.shared.train_step(
                        end,
                        &xs,
                        &ys,
                        sgd,
                        &mut self.workspace,
                        &mut dropout,
                    )?;
                }
            }
            let loss =
                self.shared
                    .train_step(&graph, &xs, &ys, sgd, &mut self.workspace, &mut dropout)?;
            if loss.is_finite() {
                sum += loss;
                count += 1;
            }
            events(EnasEvent::Batch {
                epoch,
                batch: index + 1,
                batches,
                loss,
            });
        }
        Ok(Some(if count > 0 {
            sum / count as f64
        } else {
            f64::NAN
        }))
    }

    /// The controller's steps of an epoch; returns the mean reward and entropy.
    fn controller_steps(
        &mut self,
        epoch: usize,
        stop: &AtomicBool,
        events: &mut dyn FnMut(EnasEvent),
    ) -> Result<Option<(f64, f64)>> {
        let steps = self.enas.controller_steps;
        let minibatches = self.validation_minibatches(epoch, steps)?;
        let (mut rewards, mut entropies) = (0.0, 0.0);
        for (step, (xs, ys)) in minibatches.iter().enumerate() {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let children = self.controller.sample(self.enas.children)?;
            let mut results = Vec::with_capacity(children.len());
            for decisions in children {
                let reward = match self.graph(&decisions) {
                    Some((graph, true)) => {
                        self.rated += 1;
                        let acc = self.shared.rate(&graph, xs, ys)?;
                        self.cfg.reward(acc, graph.params())
                    }
                    _ => 0.0,
                };
                results.push((decisions, reward));
            }
            let update = self.controller.update(&results)?;
            rewards += update.mean_reward;
            entropies += update.mean_entropy;
            events(EnasEvent::ControllerStep {
                epoch,
                step: step + 1,
                steps,
                mean_reward: update.mean_reward,
                entropy: update.mean_entropy,
            });
        }
        let n = steps.max(1) as f64;
        Ok(Some((rewards / n, entropies / n)))
    }

    /// `steps` validation minibatches of `rate_batch` images, from a fresh shuffle (and more
    /// shuffles when one pass has too few).
    fn validation_minibatches(&self, epoch: usize, steps: usize) -> Result<Vec<(Tensor, Tensor)>> {
        let mut rng = seeded(self.cfg.seed, STREAM_VALIDATION + epoch as u64);
        self.minibatches(SplitKind::Val, self.enas.rate_batch, steps, &mut rng)
    }

    /// `count` minibatches of `size` images of `split`, shuffled by `rng` (and shuffled again
    /// when one pass has too few); training minibatches augmented as the data set says.
    pub(super) fn minibatches(
        &self,
        split: SplitKind,
        size: usize,
        count: usize,
        rng: &mut impl rand::Rng,
    ) -> Result<Vec<(Tensor, Tensor)>> {
        let augment = split == SplitKind::Train && self.data.augment;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let before = out.len();
            let batcher = self
                .data
                .batches(split, size, Some(&mut *rng), augment, &Device::Cpu)?;
            for batch in batcher.take(count - out.len()) {
                out.push(batch?);
            }
            if out.len() == before {
                let (flag, name) = match split {
                    SplitKind::Train => ("--train-size", "training"),
                    SplitKind::Val => ("--val-size", "validation"),
                    SplitKind::Test => ("--dataset", "test"),
                };
                return Err(crate::Error::invalid(
                    flag,
                    format!("the {name} split is empty"),
                ));
            }
        }
        Ok(out)
    }

    /// The SGD settings of a shared step at learning rate `lr`: the rest from `schedule`, the
    /// gradient clip from the ENAS settings.
    pub(super) fn sgd(&self, schedule: &TrainConfig, lr: f64) -> SharedSgd {
        SharedSgd {
            lr,
            momentum: schedule.momentum,
            weight_decay: schedule.weight_decay,
            grad_clip: self.enas.grad_clip,
            label_smoothing: schedule.label_smoothing,
        }
    }
}
