//! Deriving the result of a weight-sharing search: N architectures are drawn (uniformly by
//! default, or from the trained controller's policy: `EnasConfig::derive_from`), each distinct
//! admitted one is rated with the shared weights on one fixed validation batch, the best 4K are
//! rated again on four times the images (on one batch of 128, the best ratings differ by an
//! image or tie: 94.5%, 94.5%, 93.8% in a default MNIST run), each after a few SGD steps of
//! its own on a copy of the shared weights (`EnasConfig::calibrate`), and the best K go on to
//! be trained stand-alone. Also Kendall's tau, to say how far the shared ratings could be trusted.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor};
use rand::Rng;

use super::alternate::Trainer;
use super::config::Sampling;
use super::events::{Derived, EnasEvent};
use super::shared::SharedNet;
use crate::controller::rng::seeded;
use crate::data::SplitKind;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::space::Decisions;
use crate::train::{learning_rate, TrainConfig};

/// How often (in architectures) deriving reports its progress.
const PROGRESS_EVERY: usize = 10;
/// The best `REFINE * K` are rated again on `REFINE` times the images.
const REFINE: usize = 4;
/// The random stream of uniform derived architectures (apart from `alternate`'s per-epoch ones).
const STREAM_UNIFORM: u64 = 4 << 40;
/// The random streams of the calibration's minibatches and its dropout.
const STREAM_CALIBRATE: u64 = 6 << 40;

impl Trainer<'_> {
    /// Samples and rates the derived architectures; returns how many were sampled and the
    /// best `top` by shared rating (ties in sampling order), or `None` when stopped.
    pub fn derive(
        &mut self,
        stop: &AtomicBool,
        events: &mut dyn FnMut(EnasEvent),
    ) -> Result<Option<(usize, f64, Vec<Derived>)>> {
        let started = std::time::Instant::now();
        let total = self.enas.derive;
        let (xs, ys) = self.fixed_batch(self.enas.derive_batch)?;
        let samples = match self.enas.derive_from {
            Sampling::Policy => self.controller.sample(total)?,
            Sampling::Uniform => self.uniform(total),
        };
        let mut rated: Vec<Derived> = Vec::new();
        for (i, decisions) in samples.into_iter().enumerate() {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            if let Some((graph, true)) = self.graph(&decisions) {
                let arch = self.space.decode(&decisions)?;
                let hash = arch.hash();
                if !rated.iter().any(|d| d.hash == hash) {
                    let shared_acc = self.shared.rate(&graph, &xs, &ys)?;
                    self.rated += 1;
                    rated.push(Derived {
                        rank: 0,
                        decisions,
                        hash,
                        summary: arch.summary(),
                        shared_acc,
                        params: graph.params(),
                    });
                }
            }
            if (i + 1) % PROGRESS_EVERY == 0 || i + 1 == total {
                events(EnasEvent::Deriving { done: i + 1, total });
            }
        }
        rated.sort_by(|a, b| b.shared_acc.total_cmp(&a.shared_acc));
        let count = rated.len();
        rated.truncate(REFINE * self.enas.top);
        let (xs, ys) = self.fixed_batch(REFINE * self.enas.derive_batch)?;
        let tuning = self.calibration_batches()?;
        for d in &mut rated {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            if let Some((graph, _)) = self.graph(&d.decisions) {
                d.shared_acc = if tuning.is_empty() {
                    self.shared.rate(&graph, &xs, &ys)?
                } else {
                    self.calibrated(&graph, &tuning)?.rate(&graph, &xs, &ys)?
                };
            }
        }
        rated.sort_by(|a, b| b.shared_acc.total_cmp(&a.shared_acc));
        rated.truncate(self.enas.top);
        for (rank, d) in rated.iter_mut().enumerate() {
            d.rank = rank;
        }
        let seconds = started.elapsed().as_secs_f64();
        events(EnasEvent::Derived {
            sampled: total,
            rated: count,
            seconds,
            top: rated.clone(),
        });
        Ok(Some((total, seconds, rated)))
    }
}

impl Trainer<'_> {
    /// The training minibatches every calibrated architecture is fine-tuned on
    /// (`EnasConfig::calibrate`), the same for all, from a stream of the run's seed.
    fn calibration_batches(&self) -> Result<Vec<(Tensor, Tensor)>> {
        let mut rng = seeded(self.cfg.seed, STREAM_CALIBRATE);
        let size = self.cfg.train.batch_size;
        self.minibatches(SplitKind::Train, size, self.enas.calibrate, &mut rng)
    }

    /// A copy of the shared weights fine-tuned for `graph` alone: SGD from zero velocity, the
    /// children's learning rate on a cosine over the steps, as a short training of its own.
    fn calibrated(&mut self, graph: &Graph, batches: &[(Tensor, Tensor)]) -> Result<SharedNet> {
        let mut tuned = self.shared.clone();
        tuned.reset_velocity();
        let schedule = TrainConfig {
            epochs: 1,
            warmup_epochs: 0.0,
            ..self.cfg.train.clone()
        };
        let mut dropout = seeded(self.cfg.seed, STREAM_CALIBRATE + 1);
        for (step, (xs, ys)) in batches.iter().enumerate() {
            let sgd = self.sgd(&schedule, learning_rate(&schedule, step, batches.len()));
            tuned.train_step(graph, xs, ys, sgd, &mut self.workspace, &mut dropout)?;
        }
        Ok(tuned)
    }

    /// `n` assignments with every decision uniform, from a stream of the run's seed.
    fn uniform(&self, n: usize) -> Vec<Decisions> {
        let mut rng = seeded(self.cfg.seed, STREAM_UNIFORM);
        (0..n).map(|_| self.uniform_one(&mut rng)).collect()
    }

    /// One assignment with every decision uniform.
    pub(super) fn uniform_one(&self, rng: &mut impl Rng) -> Decisions {
        self.space
            .decisions()
            .iter()
            .map(|d| rng.random_range(0..d.len()))
            .collect()
    }

    /// The first `n` validation images (fewer when the split is smaller), always the same.
    fn fixed_batch(&self, n: usize) -> Result<(candle_core::Tensor, candle_core::Tensor)> {
        self.data
            .batches(SplitKind::Val, n, None, false, &Device::Cpu)?
            .next()
            .ok_or_else(|| Error::invalid("--val-size", "the validation split is empty"))?
    }
}

/// Kendall's tau-b between two rankings of the same items (ties count as neither concordant
/// nor discordant); `None` for fewer than two items or a constant ranking.
pub fn kendall_tau(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len().min(ys.len());
    let (mut concordant, mut discordant, mut ties_x, mut ties_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let (dx, dy) = (xs[i].total_cmp(&xs[j]), ys[i].total_cmp(&ys[j]));
            match (dx.is_eq(), dy.is_eq()) {
                (true, true) => {}
                (true, false) => ties_x += 1,
                (false, true) => ties_y += 1,
                (false, false) if dx == dy => concordant += 1,
                (false, false) => discordant += 1,
            }
        }
    }
    let pairs_x = (concordant + discordant + ties_y) as f64;
    let pairs_y = (concordant + discordant + ties_x) as f64;
    (pairs_x > 0.0 && pairs_y > 0.0)
        .then(|| (concordant - discordant) as f64 / (pairs_x * pairs_y).sqrt())
}

#[cfg(test)]
mod tests {
    use super::kendall_tau;

    #[test]
    fn kendall_tau_matches_scipy() {
        // scipy.stats.kendalltau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]) -> 0.4
        let tau = kendall_tau(&[1., 2., 3., 4., 5.], &[3., 1., 2., 5., 4.]).unwrap();
        assert!((tau - 0.4).abs() < 1e-12, "{tau}");
        // with ties: kendalltau([1, 1, 2, 3], [1, 2, 2, 3]) -> 0.8 (tau-b)
        let tau = kendall_tau(&[1., 1., 2., 3.], &[1., 2., 2., 3.]).unwrap();
        assert!((tau - 0.8).abs() < 1e-12, "{tau}");
        assert_eq!(kendall_tau(&[1., 2.], &[3., 3.]), None);
        assert_eq!(kendall_tau(&[1.], &[1.]), None);
    }
}
