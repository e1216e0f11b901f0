//! SGD with momentum, optional Nesterov and weight decay (candle-nn's `SGD` has neither), with
//! PyTorch's update rule, and the per-step cosine learning rate with linear warm-up.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::VarMap;

use super::config::TrainConfig;

/// The optimiser state: the trainable variables and one velocity each.
pub struct Sgd {
    /// The variables' `VarMap` names, in the order of `vars`.
    names: Vec<String>,
    vars: Vec<Var>,
    velocity: Vec<Option<Tensor>>,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
}

/// Batch-norm running statistics live in the `VarMap` but are not trained.
fn is_running_stat(name: &str) -> bool {
    name.ends_with(".running_mean") || name.ends_with(".running_var")
}

impl Sgd {
    /// Takes every variable of `varmap` except batch-norm running statistics, in name order.
    pub fn new(varmap: &VarMap, momentum: f64, nesterov: bool, weight_decay: f64) -> Self {
        let data = varmap.data().lock().expect("VarMap lock poisoned");
        let mut named: Vec<(&String, &Var)> =
            data.iter().filter(|(n, _)| !is_running_stat(n)).collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        let names: Vec<String> = named.iter().map(|(n, _)| n.to_string()).collect();
        let vars: Vec<Var> = named.into_iter().map(|(_, v)| v.clone()).collect();
        Sgd {
            velocity: vec![None; vars.len()],
            names,
            vars,
            momentum,
            nesterov,
            weight_decay,
        }
    }

    /// The number of trainable variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// True when there is nothing to train.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Each variable's name and velocity (none before its first step), for a training state.
    pub fn velocities(&self) -> impl Iterator<Item = (&str, Option<&Tensor>)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.velocity.iter().map(Option::as_ref))
    }

    /// Sets the velocity of the variable named `name`; false if there is no such variable.
    pub fn set_velocity(&mut self, name: &str, velocity: Tensor) -> bool {
        match self.names.iter().position(|n| n == name) {
            Some(i) => {
                self.velocity[i] = Some(velocity);
                true
            }
            None => false,
        }
    }

    /// One step at learning rate `lr`: `g = grad + wd * p; v = mu * v + g (v = g at first);
    /// g = g + mu * v (Nesterov) or v; p -= lr * g`, as `torch.optim.SGD` with dampening 0.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        for (var, velocity) in self.vars.iter().zip(self.velocity.iter_mut()) {
            let Some(grad) = grads.get(var.as_tensor()) else {
                continue;
            };
            let param = var.as_tensor().detach();
            let mut g = grad.detach();
            if self.weight_decay != 0.0 {
                g = (g + (&param * self.weight_decay)?)?;
            }
            if self.momentum != 0.0 {
                let v = match velocity.take() {
                    Some(v) => ((v * self.momentum)? + &g)?,
                    None => g.clone(),
                };
                g = if self.nesterov {
                    (g + (&v * self.momentum)?)?
                } else {
                    v.clone()
                };
                *velocity = Some(v);
            }
            var.set(&(param - (g * lr)?)?)?;
        }
        Ok(())
    }
}

/// The learning rate of step `step` (from 0) of a run of `cfg.epochs * steps_per_epoch` steps:
/// linear warm-up to the peak `cfg.lr * batch_size / 128`, then cosine decay towards 0.
pub fn learning_rate(cfg: &TrainConfig, step: usize, steps_per_epoch: usize) -> f64 {
    cycle_learning_rate(cfg, &[cfg.epochs], step, steps_per_epoch)
}

/// The learning rate of step `step` of a run whose cosine cycles end at epochs `cycle_ends`
/// (increasing; the last is the end of training): each cycle decays from the peak towards 0,
/// and the next starts again from the peak (a warm restart, as in SGDR). Only the first cycle
/// warms up. One cycle ending at `cfg.epochs` is `learning_rate`.
pub fn cycle_learning_rate(
    cfg: &TrainConfig,
    cycle_ends: &[usize],
    step: usize,
    steps_per_epoch: usize,
) -> f64 {
    let peak = cfg.lr * cfg.batch_size as f64 / 128.0;
    let mut start = 0;
    let mut end = cycle_ends.last().copied().unwrap_or(cfg.epochs).max(1);
    for &cycle_end in cycle_ends {
        if step < cycle_end * steps_per_epoch {
            end = cycle_end;
            break;
        }
        start = cycle_end;
    }
    if start >= end {
        // past the last cycle (never asked by the trainer): keep to its end
        start = cycle_ends.iter().rev().nth(1).copied().unwrap_or(0);
    }
    let first = start * steps_per_epoch;
    let total = ((end - start) * steps_per_epoch).max(1);
    let local = step.saturating_sub(first);
    let warmup = match start {
        0 => ((cfg.warmup_epochs * steps_per_epoch as f64).round() as usize).min(total),
        _ => 0,
    };
    if local < warmup {
        return peak * (local + 1) as f64 / warmup as f64;
    }
    let progress = (local - warmup) as f64 / (total - warmup).max(1) as f64;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;

    #[test]
    fn momentum_and_weight_decay_follow_pytorch() {
        // torch: p = torch.tensor([1., -2.], requires_grad=True)
        // opt = torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=N)
        // two steps of loss = (p * p).sum() -> N=False: [0.457501, -0.915002]
        //                                      N=True:  [0.219238, -0.438475]
        // (worked by hand from torch.optim.SGD's documented algorithm; torch is not installed)
        for (nesterov, expected) in [
            (false, [0.457501, -0.915002]),
            (true, [0.219238, -0.438475]),
        ] {
            let varmap = VarMap::new();
            let p = varmap
                .get(
                    2,
                    "p",
                    candle_nn::Init::Const(0.0),
                    DType::F32,
                    &Device::Cpu,
                )
                .unwrap();
            let var = varmap.data().lock().unwrap()["p"].clone();
            var.set(&Tensor::new(&[1f32, -2.], &Device::Cpu).unwrap())
                .unwrap();
            let mut sgd = Sgd::new(&varmap, 0.9, nesterov, 0.01);
            for _ in 0..2 {
                let loss = p.sqr().unwrap().sum_all().unwrap();
                sgd.step(&loss.backward().unwrap(), 0.1).unwrap();
            }
            let got: Vec<f32> = var.as_tensor().to_vec1().unwrap();
            for (g, e) in got.iter().zip(expected) {
                assert!((*g as f64 - e).abs() < 1e-5, "nesterov {nesterov}: {got:?}");
            }
        }
    }

    #[test]
    fn running_stats_are_not_trained() {
        let varmap = VarMap::new();
        for name in ["bn.weight", "bn.running_mean", "bn.running_var", "fc.bias"] {
            varmap
                .get(
                    3,
                    name,
                    candle_nn::Init::Const(0.0),
                    DType::F32,
                    &Device::Cpu,
                )
                .unwrap();
        }
        assert_eq!(Sgd::new(&varmap, 0.9, false, 0.0).len(), 2);
    }

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let cfg = TrainConfig {
            epochs: 2,
            batch_size: 256,
            lr: 0.1,
            warmup_epochs: 0.5,
            ..Default::default()
        };
        // peak = 0.1 * 256 / 128 = 0.2; 10 steps per epoch, 5 warm-up steps
        assert!((learning_rate(&cfg, 0, 10) - 0.04).abs() < 1e-12);
        assert!((learning_rate(&cfg, 4, 10) - 0.2).abs() < 1e-12);
        assert!((learning_rate(&cfg, 5, 10) - 0.2).abs() < 1e-12);
        assert!(learning_rate(&cfg, 19, 10) < 0.01);
        let mid = learning_rate(&cfg, 5 + 15 / 2, 10);
        assert!(
            (mid - 0.2 * 0.5 * (1.0 + (std::f64::consts::PI * 7.0 / 15.0).cos())).abs() < 1e-12
        );
    }

    #[test]
    fn each_cycle_restarts_from_the_peak_and_one_cycle_is_the_plain_schedule() {
        let cfg = TrainConfig {
            epochs: 9,
            batch_size: 128,
            lr: 0.1,
            ..Default::default()
        };
        for step in 0..90 {
            assert_eq!(
                learning_rate(&cfg, step, 10),
                cycle_learning_rate(&cfg, &[9], step, 10)
            );
        }
        let rungs = [1, 3, 9];
        assert!((cycle_learning_rate(&cfg, &rungs, 0, 10) - 0.1).abs() < 1e-12);
        assert!(
            cycle_learning_rate(&cfg, &rungs, 9, 10) < 0.01,
            "annealed at rung 0"
        );
        assert!((cycle_learning_rate(&cfg, &rungs, 10, 10) - 0.1).abs() < 1e-12);
        assert!(
            cycle_learning_rate(&cfg, &rungs, 29, 10) < 0.01,
            "annealed at rung 1"
        );
        assert!((cycle_learning_rate(&cfg, &rungs, 30, 10) - 0.1).abs() < 1e-12);
        assert!(cycle_learning_rate(&cfg, &rungs, 89, 10) < 0.001);
    }
}
