//! The strategy settings on the command line, shared by `nas search` and `nas bench search`.

use clap::Args;
use nas::strategy::StrategyConfig;

use super::values;

#[derive(Args, Debug, Clone, Default)]
pub struct StrategyArgs {
    /// Controller: Adam learning rate (default 1e-3).
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
