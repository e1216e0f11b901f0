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
    assert!(
        after > 3.0 * before,
        "p(optimum) went from {before} to {after}"
    );
}

/// Two cells with anchors, skips between them, and one skip from an anchor never recorded.
fn skip_space() -> Vec<Decision> {
    let choice = |name: &str, anchor| Decision {
        name: name.into(),
        options: vec!["a".into(), "b".into(), "c".into()],
        kind: DecisionKind::Choice,
        anchor: Some(anchor),
    };
    let skip = |name: &str, from, to| Decision {
        name: name.into(),
        options: vec!["no".into(), "yes".into()],
        kind: DecisionKind::Skip { from, to },
        anchor: None,
    };
    vec![
        choice("cell0", 0),
        choice("cell1", 1),
        skip("cell2.from0", 0, 2),
        skip("cell2.from1", 1, 2),
        choice("cell2", 2),
        skip("cell3.from2", 2, 3),
        skip("cell3.from9", 9, 3),
    ]
}

fn skip_indices(space: &[Decision]) -> Vec<usize> {
    (0..space.len())
        .filter(|&i| matches!(space[i].kind, DecisionKind::Skip { .. }))
        .collect()
}

/// Fraction of skip decisions set to `yes` over `n` samples.
fn yes_rate(controller: &mut Controller, skips: &[usize], n: usize) -> f64 {
    let children = controller.sample(n).unwrap();
    for child in &children {
        assert!(skips.iter().all(|&i| child[i] <= 1), "{child:?}");
    }
    let yes: usize = children
        .iter()
        .map(|c| skips.iter().filter(|&&i| c[i] == 1).count())
        .sum();
    yes as f64 / (n * skips.len()) as f64
}

#[test]
fn skip_decisions_are_binary_and_learn_to_connect() {
    let space = skip_space();
    let skips = skip_indices(&space);
    let mut controller = Controller::new(&space, &ControllerConfig::default()).unwrap();
    let before = yes_rate(&mut controller, &skips, 400);
    let mut noise = seeded(5, 0);
    for _ in 0..150 {
        let children = controller.sample(8).unwrap();
        let results: Vec<(Decisions, f64)> = children
            .into_iter()
            .map(|c| {
                let yes = skips.iter().filter(|&&i| c[i] == 1).count() as f64;
                let r = yes / skips.len() as f64 + noise.random_range(-0.05..0.05);
                (c, r)
            })
            .collect();
        controller.update(&results).unwrap();
    }
    let after = yes_rate(&mut controller, &skips, 400);
    assert!(
        (0.35..0.65).contains(&before),
        "untrained yes rate {before}"
    );
    assert!(after > 0.8, "yes rate went from {before} to {after}");
}

#[test]
fn same_seed_samples_the_same_children() {
    let space = skip_space();
    let config = ControllerConfig {
        seed: 11,
        ..ControllerConfig::default()
    };
    let mut a = Controller::new(&space, &config).unwrap();
    let mut b = Controller::new(&space, &config).unwrap();
    assert_eq!(a.sample(16).unwrap(), b.sample(16).unwrap());
    let other = ControllerConfig { seed: 12, ..config };
    let mut c = Controller::new(&space, &other).unwrap();
    assert_ne!(a.sample(16).unwrap(), c.sample(16).unwrap());
}

#[test]
fn restored_controller_samples_and_learns_bit_for_bit() {
    let space = skip_space();
    let best: Decisions = vec![1, 2, 1, 0, 2, 1, 1];
    let config = ControllerConfig {
        seed: 3,
        grad_clip: Some(1.0),
        ..ControllerConfig::default()
    };
    let mut straight = Controller::new(&space, &config).unwrap();
    let mut noise = seeded(8, 0);
    train(&mut straight, &best, 5, 8, &mut noise);
    let bytes = straight.to_bytes().unwrap();
    let mut resumed = Controller::from_bytes(&space, &config, &bytes).unwrap();
    assert_eq!(resumed.to_bytes().unwrap(), bytes);
    for _ in 0..5 {
        let children = straight.sample(8).unwrap();
        assert_eq!(resumed.sample(8).unwrap(), children);
        let results: Vec<(Decisions, f64)> = children
            .into_iter()
            .map(|c| {
                let r = noisy_reward(&c, &best, &mut noise);
                (c, r)
            })
            .collect();
        let (x, y) = (
            straight.update(&results).unwrap(),
            resumed.update(&results).unwrap(),
        );
        assert_eq!(x, y);
    }
    assert_eq!(
        straight.baseline().map(f64::to_bits),
        resumed.baseline().map(f64::to_bits)
    );
    assert_eq!(straight.to_bytes().unwrap(), resumed.to_bytes().unwrap());
}

#[test]
fn checkpoint_refuses_other_decisions_or_settings() {
    let space = choice_space(3, 2);
    let config = ControllerConfig::default();
    let bytes = Controller::new(&space, &config)
        .unwrap()
        .to_bytes()
        .unwrap();
    assert!(Controller::from_bytes(&choice_space(3, 3), &config, &bytes).is_err());
    let hidden = ControllerConfig {
        hidden: 32,
        ..config.clone()
    };
    assert!(Controller::from_bytes(&space, &hidden, &bytes).is_err());
    let reseeded = ControllerConfig { seed: 4, ..config };
    assert!(Controller::from_bytes(&space, &reseeded, &bytes).is_ok());
    assert!(Controller::from_bytes(&space, &ControllerConfig::default(), b"junk").is_err());
}

#[test]
fn bad_assignments_and_rewards_are_errors() {
    let space = choice_space(3, 2);
    let mut controller = Controller::new(&space, &ControllerConfig::default()).unwrap();
    assert!(controller.log_prob(&vec![0, 1]).is_err());
    assert!(controller.log_prob(&vec![0, 1, 2]).is_err());
    assert!(controller.update(&[(vec![0, 1, 2], 1.0)]).is_err());
    assert!(controller.update(&[(vec![0, 1, 1], f64::NAN)]).is_err());
    assert!(controller.update(&[]).is_err());
    assert_eq!(controller.steps(), 0);
}

#[test]
fn probabilities_of_all_assignments_sum_to_one() {
    let space = skip_space();
    let controller = Controller::new(&space, &ControllerConfig::default()).unwrap();
    let mut total = 0.0;
    let sizes: Vec<usize> = space.iter().map(Decision::len).collect();
    let count: usize = sizes.iter().product();
    for mut code in 0..count {
        let assignment: Decisions = sizes
            .iter()
            .map(|&k| {
                let c = code % k;
                code /= k;
                c
            })
            .collect();
        total += controller.probability(&assignment).unwrap();
    }
    assert!((total - 1.0).abs() < 1e-4, "total probability {total}");
}
