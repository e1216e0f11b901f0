//! `nas search --strategy enas`: its flags, and its progress drawn from `EnasEvent`s: a bar of
//! epochs with the shared-weight loss and the controller's mean reward and entropy, a line for
//! the running pass, a bar for the deriving; with `--json`, one line per epoch and one for the
//! deriving.

use std::time::Duration;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use nas::enas::{EnasConfig, EnasEvent, EpochStats, KernelSharing, Sampling};
use serde_json::json;

use super::table::render;

/// The settings of a weight-sharing search (defaults in `nas::enas::EnasConfig`).
#[derive(Args, Debug)]
pub struct EnasArgs {
    /// Epochs of shared-weight training (passes over the training split).
    #[arg(long, value_parser = super::values::positive_usize)]
    enas_epochs: Option<usize>,
    /// Controller updates after each epoch.
    #[arg(long, value_parser = super::values::positive_usize)]
    enas_steps: Option<usize>,
    /// Children sampled and rated per controller update.
    #[arg(long, value_parser = super::values::positive_usize)]
    enas_children: Option<usize>,
    /// Validation images each controller child is rated on.
    #[arg(long, value_parser = super::values::positive_usize)]
    enas_rate_batch: Option<usize>,
    /// Architectures drawn at the end (see --enas-derive-from) and rated with shared weights.
    #[arg(long, value_parser = super::values::positive_usize)]
    enas_derive: Option<usize>,
    /// Validation images (always the same) each derived architecture is rated on.
    #[arg(long, value_parser = super::values::positive_usize)]
    enas_derive_batch: Option<usize>,
    /// The best-rated derived architectures trained stand-alone as candidates.
    #[arg(long, value_parser = super::values::positive_usize)]
    enas_top: Option<usize>,
    /// Kernel sizes at one position: own weights each, or the centre of the largest.
    #[arg(long, value_name = "own|centre")]
    enas_kernels: Option<KernelSharing>,
    /// Peak learning rate of the shared weights (default: --lr).
    #[arg(long, value_parser = super::values::positive_f64)]
    enas_lr: Option<f64>,
    /// Draw the derived architectures uniformly (default: the shared weights pick the best of
    /// the whole space) or from the controller's trained policy (ENAS's own derivation).
    #[arg(long, value_name = "policy|uniform")]
    enas_derive_from: Option<Sampling>,
    /// Train the shared weights on uniformly drawn children (default: single-path one-shot
    /// training, which ranks the space better) or on the controller's (plain ENAS).
    #[arg(long, value_name = "uniform|policy")]
    enas_train_from: Option<Sampling>,
    /// With --enas-train-from policy: first epochs whose shared pass trains uniformly sampled
    /// children rather than the controller's, so the whole space gets trained weights before
    /// the policy narrows (default 0).
    #[arg(long)]
    enas_warmup: Option<usize>,
    /// Every K training minibatches, also train the largest child the shared network holds
    /// (the sandwich rule), so that wide and deep children are rated on trained weights
    /// (default 4; 0: never).
    #[arg(long, value_name = "K")]
    enas_sandwich: Option<usize>,
    /// Whether the sandwich rule's minibatches also train the smallest child (Yu and Huang's
    /// rule in full, as BigNAS trains it).
    #[arg(long, value_name = "true|false")]
    enas_sandwich_smallest: Option<bool>,
    /// SGD steps each of the best-rated derived architectures is fine-tuned for, on a copy of
    /// the shared weights, before it is rated again (default 10; 0: rated as the weights stand).
    #[arg(long, value_name = "STEPS")]
    enas_calibrate: Option<usize>,
}

impl EnasArgs {
    /// Whether any flag was given.
    pub fn any(&self) -> bool {
        self.enas_epochs.is_some()
            || self.enas_steps.is_some()
            || self.enas_children.is_some()
            || self.enas_rate_batch.is_some()
            || self.enas_derive.is_some()
            || self.enas_derive_batch.is_some()
            || self.enas_top.is_some()
            || self.enas_kernels.is_some()
            || self.enas_lr.is_some()
            || self.enas_derive_from.is_some()
            || self.enas_train_from.is_some()
            || self.enas_warmup.is_some()
            || self.enas_sandwich.is_some()
            || self.enas_sandwich_smallest.is_some()
            || self.enas_calibrate.is_some()
    }

    /// Sets the given flags in `cfg`.
    pub fn apply(&self, cfg: &mut EnasConfig) {
        let set = |slot: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut cfg.epochs, self.enas_epochs);
        set(&mut cfg.controller_steps, self.enas_steps);
        set(&mut cfg.children, self.enas_children);
        set(&mut cfg.rate_batch, self.enas_rate_batch);
        set(&mut cfg.derive, self.enas_derive);
        set(&mut cfg.derive_batch, self.enas_derive_batch);
        set(&mut cfg.top, self.enas_top);
        set(&mut cfg.warmup, self.enas_warmup);
        set(&mut cfg.sandwich, self.enas_sandwich);
        set(&mut cfg.calibrate, self.enas_calibrate);
        if let Some(smallest) = self.enas_sandwich_smallest {
            cfg.smallest = smallest;
        }
        if let Some(k) = self.enas_kernels {
            cfg.kernels = k;
        }
        if self.enas_lr.is_some() {
            cfg.lr = self.enas_lr;
        }
        if let Some(from) = self.enas_derive_from {
            cfg.derive_from = from;
        }
        if let Some(from) = self.enas_train_from {
            cfg.train_from = from;
        }
    }
}

/// Bars of a weight-sharing search, below the search's own.
#[derive(Default)]
pub struct EnasView {
    epochs: Option<ProgressBar>,
    phase: Option<ProgressBar>,
    deriving: Option<ProgressBar>,
    last: Option<EpochStats>,
    derived: Option<(usize, usize, f64)>,
    tau: Option<(Option<f64>, usize)>,
}

fn bar(multi: &MultiProgress, len: u64, template: &str) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(len));
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

impl EnasView {
    /// Draws one event (or prints its JSON line).
    pub fn on(&mut self, multi: &MultiProgress, json: bool, event: EnasEvent) {
        match event {
            EnasEvent::Epoch(stats) if json => {
                let mut line = serde_json::to_value(&stats).unwrap_or_default();
                line["event"] = json!("epoch");
                println!("{line}");
                self.last = Some(stats);
            }
            EnasEvent::Derived {
                sampled,
                rated,
                seconds,
                ..
            } => {
                if json {
                    // `rated` counts the distinct admitted architectures, which the configured
                    // `--enas-derive` only bounds
                    let mut line = serde_json::to_value(&event).unwrap_or_default();
                    line["per_minute"] = json!(per_minute(rated, seconds));
                    println!("{line}");
                }
                self.derived = Some((sampled, rated, seconds));
            }
            EnasEvent::Correlation { tau, candidates } => self.tau = Some((tau, candidates)),
            _ if json => {}
            EnasEvent::Training { epoch, epochs, .. } => {
                let template = "{bar:30} epoch {pos}/{len}  {msg}  [{elapsed_precise}, eta {eta}]";
                let epochs_bar = bar(multi, epochs as u64, template);
                epochs_bar.set_position(epoch as u64 - 1);
                self.epochs = Some(epochs_bar);
                self.phase = Some(bar(multi, 0, "  {wide_msg}"));
            }
            EnasEvent::Batch {
                epoch,
                batch,
                batches,
                loss,
            } => self.phase_message(format!(
                "epoch {epoch}: shared pass, batch {batch}/{batches}, loss {loss:.3}"
            )),
            EnasEvent::ControllerStep {
                epoch,
                step,
                steps,
                mean_reward,
                entropy,
            } => self.phase_message(format!(
                "epoch {epoch}: controller step {step}/{steps}, reward {mean_reward:.4}, entropy {entropy:.2}"
            )),
            EnasEvent::Epoch(stats) => {
                if let Some(bar) = &self.epochs {
                    bar.set_position(stats.epoch as u64);
                    bar.set_message(format!(
                        "shared loss {:.3}  reward {:.4}  entropy {:.2}  rated {}",
                        stats.shared_loss, stats.mean_reward, stats.entropy, stats.rated
                    ));
                }
                self.last = Some(stats);
            }
            EnasEvent::Deriving { done, total } => {
                if let Some(phase) = self.phase.take() {
                    phase.finish_and_clear();
                }
                let deriving = self.deriving.get_or_insert_with(|| {
                    bar(multi, total as u64, "{bar:30} derived {pos}/{len} rated  [{elapsed_precise}, eta {eta}]")
                });
                deriving.set_position(done as u64);
            }
        }
    }

    fn phase_message(&self, msg: String) {
        if let Some(phase) = &self.phase {
            phase.set_message(msg);
        }
    }

    /// Clears the bars.
    pub fn clear(&mut self) {
        for bar in [self.epochs.take(), self.phase.take(), self.deriving.take()]
            .into_iter()
            .flatten()
        {
            bar.finish_and_clear();
        }
    }

    /// What the weight sharing did, under the table of candidates.
    pub fn print_summary(&self) {
        if let Some(s) = &self.last {
            println!(
                "shared weights: {} of {} epochs, last loss {:.3}, controller reward {:.4}, entropy {:.2}; {} architectures rated, {} shared values",
                s.epoch, s.epochs, s.shared_loss, s.mean_reward, s.entropy, s.rated, s.shared_params
            );
        }
        if let Some((sampled, rated, seconds)) = self.derived {
            println!(
                "derived: {sampled} drawn, {rated} distinct rated in {seconds:.1}s ({:.0} a minute)",
                per_minute(rated, seconds)
            );
        }
        match self.tau {
            Some((Some(tau), n)) => println!(
                "Kendall's tau between shared rating and stand-alone accuracy over {n} candidates: {tau:.3}"
            ),
            Some((None, n)) => {
                println!("Kendall's tau needs two or more trained candidates with distinct ratings ({n})")
            }
            None => {}
        }
    }
}

/// Architectures rated a minute, for the summary and the `derived` JSON line.
fn per_minute(rated: usize, seconds: f64) -> f64 {
    rated as f64 * 60.0 / seconds.max(1e-9)
}

/// The epochs of a weight-sharing run (its stored progress, `nas::enas::progress`) as a table.
pub fn history_table(progress: &serde_json::Value) -> String {
    let Some(history) = progress["history"].as_array() else {
        return String::new();
    };
    let rows: Vec<Vec<String>> = history
        .iter()
        .map(|e| {
            let num = |k: &str, digits: usize| {
                e[k].as_f64()
                    .map(|v| format!("{v:.digits$}"))
                    .unwrap_or_else(|| "-".into())
            };
            vec![
                e["epoch"].to_string(),
                num("shared_loss", 3),
                num("mean_reward", 4),
                num("entropy", 2),
                e["rated"].to_string(),
                num("seconds", 1),
                num("controller_seconds", 1),
            ]
        })
        .collect();
    render(
        &[
            "EPOCH",
            "SHARED_LOSS",
            "REWARD",
            "ENTROPY",
            "RATED",
            "SECONDS",
            "CONTROLLER_S",
        ],
        &rows,
    )
}
