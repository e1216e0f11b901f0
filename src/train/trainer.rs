//! `train`: one child from a graph to an `Outcome`. Everything that can go wrong inside (a candle
//! error, a NaN loss, a panic, a blown time or memory budget) ends as `Outcome::Failed` with its
//! reason; the stop flag, checked before every batch, ends it as `Outcome::Stopped`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::memory::{activation_bytes, human_bytes, mem_available};
use super::outcome::{Metrics, Outcome, TrainEvent, Trained};
use super::sgd::{learning_rate, Sgd};
use super::step::loss_and_grads;
use crate::child::{init_weights, ChildNet, Workspace};
use crate::data::{Dataset, SplitKind};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::panics::panic_message;

/// ChaCha stream of the shuffling and augmentation, apart from the data set's own streams.
const STREAM_BATCHES: u64 = 11;
/// The random stream of the dropout masks (on nas's own backward pass; candle's dropout
/// cannot be seeded).
const STREAM_DROPOUT: u64 = 12;

/// What has been measured so far, kept outside the training closure so that a failure part-way
/// can still report the epochs completed.
struct Progress {
    start: Instant,
    val_acc: Vec<f64>,
    train_loss: Vec<f64>,
    train_images: u64,
    train_seconds: f64,
    params: u64,
    macs: u64,
}

impl Progress {
    fn metrics(&self) -> Metrics {
        let final_val_acc = self.val_acc.last().copied().unwrap_or(0.0);
        Metrics {
            val_acc: self.val_acc.clone(),
            final_val_acc,
            best_val_acc: self.val_acc.iter().copied().fold(final_val_acc, f64::max),
            train_loss: self.train_loss.clone(),
            params: self.params,
            macs: self.macs,
            seconds: self.start.elapsed().as_secs_f64(),
            images_per_second: self.train_images as f64 / self.train_seconds.max(1e-9),
            epochs: self.val_acc.len(),
        }
    }

    /// The metrics of the completed epochs, if any.
    fn partial(&self) -> Option<Metrics> {
        (!self.val_acc.is_empty()).then(|| self.metrics())
    }

    fn failed(&self, reason: String) -> Trained {
        Trained {
            outcome: Outcome::Failed {
                reason,
                metrics: self.partial(),
            },
            varmap: None,
        }
    }
}

/// Trains a fresh child of `graph` on `data`'s training split, validating after every epoch.
/// Epochs and batches in events and reasons count from 1. Never panics, never errors.
pub fn train(
    graph: &Graph,
    data: &Dataset,
    cfg: &TrainConfig,
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(TrainEvent),
) -> Trained {
    let mut progress = Progress {
        start: Instant::now(),
        val_acc: Vec::new(),
        train_loss: Vec::new(),
        train_images: 0,
        train_seconds: 0.0,
        params: 0,
        macs: 0,
    };
    if stop.load(Ordering::Relaxed) {
        return stopped();
    }
    // Counting walks the graph too: a malformed graph may panic there already.
    let result = catch_unwind(AssertUnwindSafe(|| {
        progress.params = graph.params();
        progress.macs = graph.macs();
        if let Some(reason) = memory_check(graph, cfg, device) {
            return Ok(progress.failed(reason));
        }
        run(graph, data, cfg, device, stop, events, &mut progress)
    }));
    match result {
        Ok(Ok(trained)) => trained,
        Ok(Err(err)) => progress.failed(err.to_string()),
        Err(panic) => progress.failed(format!("panicked: {}", panic_message(panic.as_ref()))),
    }
}

fn stopped() -> Trained {
    Trained {
        outcome: Outcome::Stopped,
        varmap: None,
    }
}

/// Why `graph` cannot be trained within the memory limit, if it cannot.
fn memory_check(graph: &Graph, cfg: &TrainConfig, device: &Device) -> Option<String> {
    let limit = cfg
        .memory_limit_bytes
        .or_else(|| device.is_cpu().then(mem_available).flatten())?;
    let training = activation_bytes(graph, cfg.batch_size);
    // Evaluation keeps no values for a backward pass: a third of the training factor.
    let evaluation = activation_bytes(graph, cfg.eval_batch_size) / 3;
    // Weights, gradients, velocities and the update's temporaries.
    let need = training
        .max(evaluation)
        .saturating_add(graph.params().saturating_mul(4 * 4));
    (need > limit).then(|| {
        format!(
            "out of memory: training needs about {} (batch {}, activations of {} values per \
             image), more than the limit of {}; use a smaller batch or a smaller net",
            human_bytes(need),
            cfg.batch_size,
            graph
                .nodes
                .iter()
                .fold(0u64, |sum, n| sum.saturating_add(n.shape.numel() as u64)),
            human_bytes(limit)
        )
    })
}

/// The training loop proper; errors and panics are turned into failures by `train`.
fn run(
    graph: &Graph,
    data: &Dataset,
    cfg: &TrainConfig,
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(TrainEvent),
    progress: &mut Progress,
) -> Result<Trained> {
    if cfg.epochs == 0 || cfg.batch_size == 0 || cfg.eval_batch_size == 0 {
        return Err(Error::invalid(
            "training settings",
            "epochs and batch sizes must be at least 1",
        ));
    }
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let net = ChildNet::with_kernels(graph, vb, cfg.kernels)?;
    init_weights(graph, &varmap, cfg.seed)?;
    let mut sgd = Sgd::new(&varmap, cfg.momentum, cfg.nesterov, cfg.weight_decay);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(STREAM_BATCHES);
    let mut dropout_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    dropout_rng.set_stream(STREAM_DROPOUT);
    let mut workspace = Workspace::new();
    let batches = data.train.len.div_ceil(cfg.batch_size);
    let mut step = 0;
    for epoch in 1..=cfg.epochs {
        events(TrainEvent::EpochStarted {
            epoch,
            epochs: cfg.epochs,
            batches,
        });
        let epoch_start = Instant::now();
        let (mut loss_sum, mut images) = (0.0, 0usize);
        let batcher = data.batches(
            SplitKind::Train,
            cfg.batch_size,
            Some(&mut rng),
            data.augment,
            device,
        )?;
        for (index, batch) in batcher.enumerate() {
            let batch_number = index + 1;
            if stop.load(Ordering::Relaxed) {
                return Ok(stopped());
            }
            if let Some(budget) = cfg.time_budget_seconds {
                if progress.start.elapsed().as_secs_f64() > budget {
                    return Ok(progress.failed(format!(
                        "time budget of {budget} s exhausted at epoch {epoch}, batch {batch_number}"
                    )));
                }
            }
            let (xs, ys) = batch?;
            let (loss_value, grads) = loss_and_grads(
                &net,
                &mut workspace,
                &xs,
                &ys,
                cfg.label_smoothing,
                &mut dropout_rng,
            )?;
            let Some(grads) = grads else {
                let what = if loss_value.is_nan() {
                    "NaN"
                } else {
                    "infinite"
                };
                return Ok(progress.failed(format!(
                    "loss is {what} at epoch {epoch}, batch {batch_number}"
                )));
            };
            sgd.step(&grads, learning_rate(cfg, step, batches))?;
            step += 1;
            let b_sz = ys.dims1()?;
            loss_sum += loss_value * b_sz as f64;
            images += b_sz;
            let seconds = epoch_start.elapsed().as_secs_f64();
            events(TrainEvent::Batch {
                epoch,
                batch: batch_number,
                batches,
                loss: loss_value,
                images_per_second: images as f64 / seconds.max(1e-9),
            });
        }
        progress.train_seconds += epoch_start.elapsed().as_secs_f64();
        progress.train_images += images as u64;
        let train_loss = loss_sum / images.max(1) as f64;
        let val_acc = evaluate(&net, data, SplitKind::Val, cfg.eval_batch_size, device)?;
        progress.train_loss.push(train_loss);
        progress.val_acc.push(val_acc);
        events(TrainEvent::Validated {
            epoch,
            val_acc,
            train_loss,
        });
    }
    Ok(Trained {
        outcome: Outcome::Completed(progress.metrics()),
        varmap: Some(varmap),
    })
}

/// Accuracy (0 to 1) of `net` on `split`, with batch norm and dropout in eval mode.
pub fn evaluate(
    net: &ChildNet,
    data: &Dataset,
    split: SplitKind,
    batch_size: usize,
    device: &Device,
) -> Result<f64> {
    let (mut correct, mut total) = (0u64, 0usize);
    for batch in data.batches(split, batch_size, None, false, device)? {
        let (xs, ys) = batch?;
        let predicted = net.forward_t(&xs, false)?.argmax(1)?;
        let hits: Tensor = predicted.eq(&ys)?.to_dtype(DType::U32)?.sum_all()?;
        correct += hits.to_scalar::<u32>()? as u64;
        total += ys.dims1()?;
    }
    if total == 0 {
        return Err(Error::invalid(
            "evaluation",
            format!("the {split:?} split is empty"),
        ));
    }
    Ok(correct as f64 / total as f64)
}
