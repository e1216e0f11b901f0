//! `train`: one child from a graph to an `Outcome`, and `train_plan`: one piece of a child's
//! training (see `TrainPlan`), possibly continuing from a stored state. Everything that can go
//! wrong inside (a candle error, a NaN loss, a panic, a blown time or memory budget) ends as
//! `Outcome::Failed` with its reason; the stop flag, checked before every batch, ends it as
//! `Outcome::Stopped`.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::memory::{activation_bytes, human_bytes, mem_available};
use super::outcome::{Metrics, Outcome, TrainEvent, Trained};
use super::plan::TrainPlan;
use super::sgd::{cycle_learning_rate, Sgd};
use super::state::{load_state, save_state, Progress as Done};
use super::step::loss_and_grads;
use super::weights::set_weights;
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
    test_acc: Option<f64>,
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
            test_acc: self.test_acc,
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
            state: None,
        }
    }
}

/// Trains a fresh child of `graph` on `data`'s training split for `cfg.epochs`, validating
/// after every epoch. Epochs and batches in events and reasons count from 1. Never panics,
/// never errors.
pub fn train(
    graph: &Graph,
    data: &Dataset,
    cfg: &TrainConfig,
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(TrainEvent),
) -> Trained {
    let plan = TrainPlan::plain(cfg.epochs);
    train_plan(graph, data, cfg, &plan, None, device, stop, events)
}

/// Like [`train`], starting from `weights` (checked by `read_init_weights`) instead of the
/// seeded initialisation: fine-tuning. Never panics, never errors.
pub fn train_from_weights(
    graph: &Graph,
    data: &Dataset,
    cfg: &TrainConfig,
    weights: &HashMap<String, Tensor>,
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(TrainEvent),
) -> Trained {
    let plan = TrainPlan::plain(cfg.epochs);
    let start = Start::Weights(weights);
    train_start(graph, data, cfg, &plan, start, device, stop, events)
}

/// Where training starts from.
#[derive(Clone, Copy)]
enum Start<'a> {
    /// The seeded initialisation.
    Fresh,
    /// A training state handed back by an earlier plan.
    State(&'a [u8]),
    /// Given weights, on a fresh optimiser.
    Weights(&'a HashMap<String, Tensor>),
}

/// Trains a child of `graph` as `plan` says: fresh, or continuing from the training state
/// `from` (which an earlier plan with `keep_state` handed back). Never panics, never errors.
#[allow(clippy::too_many_arguments)]
pub fn train_plan(
    graph: &Graph,
    data: &Dataset,
    cfg: &TrainConfig,
    plan: &TrainPlan,
    from: Option<&[u8]>,
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(TrainEvent),
) -> Trained {
    let start = from.map_or(Start::Fresh, Start::State);
    train_start(graph, data, cfg, plan, start, device, stop, events)
}

#[allow(clippy::too_many_arguments)]
fn train_start(
    graph: &Graph,
    data: &Dataset,
    cfg: &TrainConfig,
    plan: &TrainPlan,
    start: Start,
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
        test_acc: None,
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
        run(
            graph,
            data,
            cfg,
            plan,
            start,
            device,
            stop,
            events,
            &mut progress,
        )
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
        state: None,
    }
}

/// The seeded random stream `stream` of epoch `epoch`: each epoch's batch order and dropout
/// masks depend on the seed and the epoch alone, so training continued from a stored state
/// draws what uninterrupted training would have drawn.
fn epoch_rng(seed: u64, stream: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(stream);
    rng
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

/// The training loop proper; errors and panics are turned into failures by `train_plan`.
#[allow(clippy::too_many_arguments)]
fn run(
    graph: &Graph,
    data: &Dataset,
    cfg: &TrainConfig,
    plan: &TrainPlan,
    start: Start,
    device: &Device,
    stop: &AtomicBool,
    events: &mut dyn FnMut(TrainEvent),
    progress: &mut Progress,
) -> Result<Trained> {
    if plan.until_epoch == 0 || cfg.batch_size == 0 || cfg.eval_batch_size == 0 {
        return Err(Error::invalid(
            "training settings",
            "epochs and batch sizes must be at least 1",
        ));
    }
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    // Drop path has no parameters: the weights are the architecture's own graph's.
    let dropped = graph.with_drop_path(cfg.drop_path as f32)?;
    let net = ChildNet::with_kernels(&dropped, vb, cfg.kernels)?;
    init_weights(graph, &varmap, cfg.seed)?;
    let mut sgd = Sgd::new(&varmap, cfg.momentum, cfg.nesterov, cfg.weight_decay);
    let mut epochs_done = 0;
    if let Start::Weights(weights) = start {
        set_weights(&varmap, weights)?;
    }
    if let Start::State(bytes) = start {
        let done = load_state(bytes, &varmap, &mut sgd)?;
        epochs_done = done.epochs_done;
        progress.val_acc = done.val_acc;
        progress.train_loss = done.train_loss;
        progress.train_images = done.train_images;
        progress.train_seconds = done.train_seconds;
    }
    let mut workspace = Workspace::new();
    let batches = data.train.len.div_ceil(cfg.batch_size);
    for epoch in epochs_done + 1..=plan.until_epoch {
        events(TrainEvent::EpochStarted {
            epoch,
            epochs: plan.until_epoch,
            batches,
        });
        let mut rng = epoch_rng(cfg.seed, STREAM_BATCHES, epoch);
        let mut dropout_rng = epoch_rng(cfg.seed, STREAM_DROPOUT, epoch);
        let first_step = (epoch - 1) * batches;
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
            let step = first_step + index;
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
            sgd.step(
                &grads,
                cycle_learning_rate(cfg, &plan.cycle_ends, step, batches),
            )?;
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
    if plan.evaluate_test {
        progress.test_acc = Some(evaluate(
            &net,
            data,
            SplitKind::Test,
            cfg.eval_batch_size,
            device,
        )?);
    }
    let state = match plan.keep_state {
        true => Some(save_state(
            &varmap,
            &sgd,
            &Done {
                epochs_done: plan.until_epoch,
                val_acc: progress.val_acc.clone(),
                train_loss: progress.train_loss.clone(),
                train_images: progress.train_images,
                train_seconds: progress.train_seconds,
            },
        )?),
        false => None,
    };
    Ok(Trained {
        outcome: Outcome::Completed(progress.metrics()),
        varmap: Some(varmap),
        state,
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
    // buffers reused from batch to batch: bounded memory, no allocation per op
    let mut workspace = Workspace::new();
    for batch in data.batches(split, batch_size, None, false, device)? {
        let (xs, ys) = batch?;
        let predicted = net.predict(&mut workspace, &xs)?;
        let labels: Vec<u32> = ys.to_vec1()?;
        correct += predicted
            .iter()
            .zip(&labels)
            .filter(|(p, y)| p == y)
            .count() as u64;
        total += labels.len();
    }
    if total == 0 {
        return Err(Error::invalid(
            "evaluation",
            format!("the {split:?} split is empty"),
        ));
    }
    Ok(correct as f64 / total as f64)
}
