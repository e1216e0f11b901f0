//! The strategy settings on the command line, shared by `nas search` and `nas bench search`.

use clap::Args;
use nas::controller::{Advantage, Algorithm};
use nas::strategy::StrategyConfig;

use super::values;

#[derive(Args, Debug, Clone, Default)]
pub struct StrategyArgs {
    /// Controller: Adam learning rate (default 5e-3).
    #[arg(long, value_parser = values::positive_f64)]
    controller_lr: Option<f64>,
    /// Controller: LSTM hidden size (default 64).
    #[arg(long, value_parser = values::count_up_to::<{ nas::controller::MAX_HIDDEN }>)]
    controller_hidden: Option<usize>,
    /// Controller: entropy bonus weight (default 1e-4).
    #[arg(long, value_parser = values::non_negative_f64)]
    entropy_weight: Option<f64>,
    /// Controller: decay of the moving-average reward baseline (default 0.95).
    #[arg(long, value_parser = values::unit_fraction)]
    baseline_decay: Option<f64>,
    /// Controller: c in the logits c * tanh(l / T) (default 2.5).
    #[arg(long, value_parser = values::positive_f64)]
    tanh_c: Option<f64>,
    /// Controller: T in the logits c * tanh(l / T) (default 5).
    #[arg(long, value_parser = values::positive_f64)]
    temperature: Option<f64>,
    /// Controller: how it learns, reinforce (one step per batch) or ppo (clipped, several;
    /// the default).
    #[arg(long)]
    controller_algo: Option<Algorithm>,
    /// Controller, PPO: optimiser steps over each batch (default 4).
    #[arg(long, value_parser = values::positive_usize)]
    ppo_epochs: Option<usize>,
    /// Controller, PPO: the probability ratio is clipped to [1 - clip, 1 + clip] (default 0.2).
    #[arg(long, value_parser = values::positive_f64)]
    ppo_clip: Option<f64>,
    /// Controller: advantage of a reward: baseline (r - b), normalized ((r - b) / sd) or
    /// quantile (among all rewards told, minus 1/2; the default).
    #[arg(long)]
    advantage: Option<Advantage>,
    /// Controller, quantile advantages: among the last N rewards told (0: all).
    #[arg(long)]
    window: Option<usize>,
    /// Controller: the best K children told so far join every update (0: none; default 4).
    #[arg(long)]
    replay: Option<usize>,
    /// Controller: redraw a child already told, up to N rounds (0: ask duplicates as drawn;
    /// default 5).
    #[arg(long)]
    redraws: Option<usize>,
    /// Evolution: population size (default 20).
    #[arg(long, value_parser = values::positive_usize)]
    population: Option<usize>,
    /// Evolution: tournament size (default 5).
    #[arg(long, value_parser = values::positive_usize)]
    tournament: Option<usize>,
}

impl StrategyArgs {
    /// Overrides the settings of `config` that were given.
    pub fn apply(&self, config: &mut StrategyConfig) {
        let controller = &mut config.controller;
        set(&mut controller.lr, self.controller_lr);
        set(&mut controller.hidden, self.controller_hidden);
        set(&mut controller.entropy_weight, self.entropy_weight);
        set(&mut controller.baseline_decay, self.baseline_decay);
        set(&mut controller.tanh_c, self.tanh_c);
        set(&mut controller.temperature, self.temperature);
        set(&mut controller.algorithm, self.controller_algo);
        set(&mut controller.ppo_epochs, self.ppo_epochs);
        set(&mut controller.ppo_clip, self.ppo_clip);
        set(&mut controller.advantage, self.advantage);
        set(&mut controller.window, self.window);
        set(&mut controller.replay, self.replay);
        set(&mut controller.redraws, self.redraws);
        let evolution = &mut config.evolution;
        set(&mut evolution.population, self.population);
        set(&mut evolution.sample, self.tournament);
    }
}

/// Puts `value` into `slot` when it was given.
pub fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}
