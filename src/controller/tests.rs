//! Tests of the controller on synthetic rewards, and helpers the strategy tests share.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::rng::seeded;
use super::{Controller, ControllerConfig};
use crate::space::decision::{Decision, DecisionKind, Decisions};

/// `n` categorical decisions of `k` options each.
pub(crate) fn choice_space(n: usize, k: usize) -> Vec<Decision> {
    (0..n)
        .map(|i| Decision {
            name: format!("d{i}"),
            options: (0..k).map(|o| o.to_string()).collect(),
            kind: DecisionKind::Choice,
            anchor: None,
        })
        .collect()
}

/// A fixed optimum for `choice_space(n, k)`.
pub(crate) fn optimum(n: usize, k: usize) -> Decisions {
    (0..n).map(|i| (i * 7 + 3) % k).collect()
}

/// Fraction of decisions that match `best`: smooth, with its maximum 1 at `best`.
pub(crate) fn matches(assignment: &[usize], best: &[usize]) -> f64 {
    let hits = assignment.iter().zip(best).filter(|(a, b)| a == b).count();
    hits as f64 / best.len() as f64
}

/// `matches` plus uniform noise in `[-0.05, 0.05]`.
pub(crate) fn noisy_reward(assignment: &[usize], best: &[usize], noise: &mut ChaCha8Rng) -> f64 {
    matches(assignment, best) + noise.random_range(-0.05..0.05)
}

/// Samples `m` children, rewards them and updates, `updates` times.
fn train(
    controller: &mut Controller,
    best: &[usize],
    updates: usize,
    m: usize,
    noise: &mut ChaCha8Rng,
) {
    for _ in 0..updates {
        let children = controller.sample(m).unwrap();
        let results: Vec<(Decisions, f64)> = children
            .into_iter()
            .map(|c| {
                let r = noisy_reward(&c, best, noise);
                (c, r)
            })
            .collect();
        controller.update(&results).unwrap();
    }
}

#[test]
fn probability_of_the_optimum_rises_with_updates() {
    let space = choice_space(6, 4);
    let best = optimum(6, 4);
    let mut controller = Controller::new(&space, &ControllerConfig::default()).unwrap();
    let before = controller.probability(&best).unwrap();
    let mut noise = seeded(99, 0);
    train(&mut controller, &best, 150, 8, &mut noise);
    let after = controller.probability(&best).unwrap();
    eprintln!("before {before} after {after}");
    assert!(
        after > 3.0 * before,
        "p(optimum) went from {before} to {after}"
    );
}

#[test]
fn update_timing() {
    let space = choice_space(6, 4);
    let best = optimum(6, 4);
    let mut controller = Controller::new(&space, &ControllerConfig::default()).unwrap();
    let mut noise = seeded(1, 0);
    let t = std::time::Instant::now();
    for _ in 0..50 {
        controller.sample(8).unwrap();
    }
    let sample = t.elapsed() / 50;
    let children = controller.sample(8).unwrap();
    let results: Vec<(Decisions, f64)> = children
        .into_iter()
        .map(|c| {
            let r = noisy_reward(&c, &best, &mut noise);
            (c, r)
        })
        .collect();
    let t = std::time::Instant::now();
    for _ in 0..50 {
        controller.update(&results).unwrap();
    }
    eprintln!("sample {:?} update {:?}", sample, t.elapsed() / 50);
}
