//! Tests of the learning settings: PPO, advantages, replay and redraws restore bit for bit,
//! proposals avoid children already told, and runs saved before these settings existed still
//! load as the plain REINFORCE they ran.

use std::collections::{HashMap, HashSet};

use safetensors::tensor::{SafeTensors, TensorView};

use super::config::{Advantage, Algorithm};
use super::learn::RewardScale;
use super::rng::seeded;
use super::tests::{choice_space, noisy_reward, optimum};
use super::{Controller, ControllerConfig};
use crate::space::decision::Decisions;

/// Every setting of the new learner switched on.
fn full(seed: u64) -> ControllerConfig {
    ControllerConfig {
        seed,
        temperature: 1.0,
        tanh_c: 2.0,
        lr: 3e-3,
        algorithm: Algorithm::Ppo,
        advantage: Advantage::Quantile,
        window: 12,
        replay: 3,
        redraws: 5,
        ..ControllerConfig::default()
    }
}

/// The learner of the first release.
fn legacy(seed: u64) -> ControllerConfig {
    ControllerConfig {
        seed,
        lr: 1e-3,
        algorithm: Algorithm::Reinforce,
        advantage: Advantage::Baseline,
        replay: 0,
        redraws: 0,
        window: 0,
        ..ControllerConfig::default()
    }
}

/// Proposes `m` children, rewards them and updates, `rounds` times; returns the children.
fn rounds(controller: &mut Controller, rounds: usize, m: usize, noise: u64) -> Vec<Decisions> {
    let best = optimum(
        controller.decisions().len(),
        controller.decisions()[0].len(),
    );
    let mut noise = seeded(noise, 0);
    let mut asked = Vec::new();
    for _ in 0..rounds {
        let children = controller.propose(m).unwrap();
        let results: Vec<(Decisions, f64)> = children
            .iter()
            .map(|c| (c.clone(), noisy_reward(c, &best, &mut noise)))
            .collect();
        controller.update(&results).unwrap();
        asked.extend(children);
    }
    asked
}

#[test]
fn every_learner_restores_and_continues_bit_for_bit() {
    let space = choice_space(5, 4);
    let normalized = ControllerConfig {
        advantage: Advantage::Normalized,
        ..legacy(2)
    };
    for config in [full(1), legacy(2), normalized] {
        let mut straight = Controller::new(&space, &config).unwrap();
        rounds(&mut straight, 4, 5, 3);
        let bytes = straight.to_bytes().unwrap();
        let mut resumed = Controller::from_bytes(&space, &config, &bytes).unwrap();
        assert_eq!(resumed.to_bytes().unwrap(), bytes, "{config:?}");
        let a = rounds(&mut straight, 4, 5, 4);
        assert_eq!(a, rounds(&mut resumed, 4, 5, 4), "{config:?}");
        assert_eq!(straight.to_bytes().unwrap(), resumed.to_bytes().unwrap());
    }
}

#[test]
fn ppo_takes_its_epochs_and_raises_the_probability_of_the_optimum() {
    let space = choice_space(6, 4);
    let best = optimum(6, 4);
    let mut controller = Controller::new(
        &space,
        &ControllerConfig {
            redraws: 0,
            ..full(5)
        },
    )
    .unwrap();
    let before = controller.probability(&best).unwrap();
    rounds(&mut controller, 40, 8, 6);
    assert_eq!(controller.steps(), 40 * 4);
    let after = controller.probability(&best).unwrap();
    assert!(
        after > 3.0 * before,
        "p(optimum) went from {before} to {after}"
    );
}

#[test]
fn proposals_skip_children_already_told_and_repeat_none() {
    let space = choice_space(3, 4); // 64 assignments
    let config = ControllerConfig {
        redraws: 50,
        ..full(7)
    };
    let mut controller = Controller::new(&space, &config).unwrap();
    let mut told: HashSet<Decisions> = HashSet::new();
    for _ in 0..8 {
        let children = rounds(&mut controller, 1, 4, 8);
        for child in children {
            assert!(told.insert(child.clone()), "{child:?} asked twice");
        }
    }
}

#[test]
fn once_every_child_is_told_duplicates_are_asked() {
    let space = choice_space(2, 2); // 4 assignments
    let mut controller = Controller::new(&space, &full(9)).unwrap();
    let all: Vec<Decisions> = vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]];
    let results: Vec<(Decisions, f64)> = all.iter().map(|c| (c.clone(), 0.5)).collect();
    controller.update(&results).unwrap();
    let asked = controller.propose(6).unwrap();
    assert_eq!(asked.len(), 6);
    assert!(asked.iter().all(|c| all.contains(c)));
}

#[test]
fn quantile_advantages_place_a_reward_among_those_told() {
    let config = full(0);
    let scale = RewardScale::new(&config, &[2.0], None);
    let told = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(scale.advantage(Advantage::Quantile, 4.0, &told), 0.375);
    assert_eq!(scale.advantage(Advantage::Quantile, 2.0, &told), -0.125);
    assert_eq!(scale.advantage(Advantage::Quantile, 0.0, &told), -0.5);
    assert_eq!(scale.advantage(Advantage::Baseline, 3.0, &told), 1.0);
}

#[test]
fn normalized_advantages_divide_by_the_moving_spread() {
    let config = ControllerConfig {
        baseline_decay: 0.5,
        ..full(0)
    };
    // first batch: baseline its mean 2, variance its mean square deviation 1
    let first = RewardScale::new(&config, &[1.0, 3.0], None);
    assert_eq!((first.baseline, first.variance), (2.0, 1.0));
    assert_eq!(first.advantage(Advantage::Normalized, 3.0, &[]), 1.0);
    // later: the old baseline, the variance moved halfway to this batch's (9)
    let later = RewardScale::new(&config, &[5.0], Some((2.0, 1.0)));
    assert_eq!((later.baseline, later.variance), (2.0, 5.0));
    let constant = RewardScale::new(&config, &[2.0, 2.0], None);
    assert_eq!(constant.advantage(Advantage::Normalized, 2.0, &[]), 0.0);
}

#[test]
fn settings_saved_before_the_learner_settings_mean_plain_reinforce() {
    let old = r#"{"hidden":64,"lr":0.001,"tanh_c":2.5,"temperature":5.0,"entropy_weight":0.0001,
                  "baseline_decay":0.95,"grad_clip":null,"seed":0}"#;
    let config: ControllerConfig = serde_json::from_str(old).unwrap();
    assert_eq!(config, legacy(0));
    assert!(serde_json::from_str::<ControllerConfig>(r#"{"algorithm":"a2c"}"#).is_err());
    assert_eq!("ppo".parse::<Algorithm>().unwrap(), Algorithm::Ppo);
    assert!("quantiles".parse::<Advantage>().is_err());
}

/// `bytes` rewritten as layout 1 wrote them: no reward variance, no told children, settings
/// without the learner settings.
fn as_layout_1(bytes: &[u8]) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, metadata) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta: HashMap<String, String> = metadata.metadata().clone().unwrap();
    let mut header: serde_json::Value = serde_json::from_str(&meta["nas.controller"]).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(header["config"].as_str().unwrap()).unwrap();
    for key in [
        "algorithm",
        "ppo_epochs",
        "ppo_clip",
        "advantage",
        "window",
        "replay",
        "redraws",
    ] {
        config.as_object_mut().unwrap().remove(key).unwrap();
    }
    let object = header.as_object_mut().unwrap();
    object.remove("variance_bits").unwrap();
    object.remove("told").unwrap();
    object.insert("version".into(), 1.into());
    object.insert("config".into(), config.to_string().into());
    meta.insert("nas.controller".into(), header.to_string());
    let tensors: Vec<(String, TensorView)> = st.tensors();
    safetensors::tensor::serialize(tensors, Some(meta)).unwrap()
}

#[test]
fn a_layout_1_checkpoint_loads_and_learns_as_before() {
    let space = choice_space(4, 3);
    let config = legacy(4);
    let mut straight = Controller::new(&space, &config).unwrap();
    rounds(&mut straight, 3, 4, 1);
    let old = as_layout_1(&straight.to_bytes().unwrap());
    let mut resumed = Controller::from_bytes(&space, &config, &old).unwrap();
    assert_eq!(
        rounds(&mut straight, 3, 4, 2),
        rounds(&mut resumed, 3, 4, 2)
    );
    let other = ControllerConfig {
        replay: 2,
        ..config
    };
    assert!(Controller::from_bytes(&space, &other, &old).is_err());
}

#[test]
fn the_best_told_are_the_highest_rewards_earliest_first() {
    let told: Vec<(Decisions, f64)> = [3.0, 1.0, 5.0, 3.0, 5.0, 0.0]
        .iter()
        .enumerate()
        .map(|(i, &r)| (vec![i], r))
        .collect();
    let ids = |k| -> Vec<usize> {
        super::learn::best_told(&told, k)
            .iter()
            .map(|(d, _)| d[0])
            .collect()
    };
    assert_eq!(ids(3), [2, 4, 0]);
    assert_eq!(ids(0), Vec::<usize>::new());
    assert_eq!(ids(10), [2, 4, 0, 3, 1, 5]);
}
