//! Strategy tests on the synthetic rewards of the controller tests.

use super::{build, mutate, restore, Strategy, StrategyConfig, StrategyKind};
use crate::controller::rng::seeded;
use crate::controller::tests::{choice_space, matches, noisy_reward, optimum};
use crate::space::decision::{Decision, DecisionKind, Decisions};

/// Runs `rounds` ask/tell rounds of `m` children; returns every assignment asked, in order.
fn run(
    strategy: &mut dyn Strategy,
    best: &[usize],
    rounds: usize,
    m: usize,
    noise_seed: u64,
) -> Vec<Decisions> {
    let mut noise = seeded(noise_seed, 7);
    let mut asked = Vec::new();
    for _ in 0..rounds {
        let children = strategy.ask(m).unwrap();
        let results: Vec<(Decisions, f64)> = children
            .iter()
            .map(|c| (c.clone(), noisy_reward(c, best, &mut noise)))
            .collect();
        strategy.tell(&results).unwrap();
        asked.extend(children);
    }
    asked
}

/// Best noise-free reward among the assignments a strategy asked.
fn best_found(kind: StrategyKind, space: &[Decision], seed: u64, rounds: usize) -> f64 {
    let best = optimum(space.len(), space[0].len());
    let mut config = StrategyConfig::default();
    // A small space and a short budget: a faster learner than the default 6e-4 (which needs about
    // 80 rounds of 8 here to pull ahead of random search by 0.075 +- 0.028).
    config.controller.lr = 3e-3;
    let mut strategy = build(kind, space, &config, seed).unwrap();
    let asked = run(strategy.as_mut(), &best, rounds, 8, seed);
    asked.iter().map(|a| matches(a, &best)).fold(0.0, f64::max)
}

fn mean_and_standard_error(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[test]
fn reinforce_beats_random_search_at_the_same_budget() {
    let space = choice_space(8, 4);
    const ROUNDS: usize = 30;
    let seeds: Vec<u64> = (0..12).collect();
    let diffs: Vec<f64> = seeds
        .iter()
        .map(|&s| {
            best_found(StrategyKind::Reinforce, &space, s, ROUNDS)
                - best_found(StrategyKind::Random, &space, s, ROUNDS)
        })
        .collect();
    let (mean, se) = mean_and_standard_error(&diffs);
    assert!(
        mean > 2.0 * se && mean > 0.05,
        "reinforce - random: mean {mean}, standard error {se}"
    );
}

#[test]
fn same_seed_asks_the_same_assignments() {
    let space = choice_space(5, 3);
    let best = optimum(5, 3);
    for kind in StrategyKind::ALL {
        let config = StrategyConfig::default();
        let mut a = build(kind, &space, &config, 21).unwrap();
        let mut b = build(kind, &space, &config, 21).unwrap();
        let mut c = build(kind, &space, &config, 22).unwrap();
        let asked = run(a.as_mut(), &best, 6, 5, 1);
        assert_eq!(asked, run(b.as_mut(), &best, 6, 5, 1), "{kind}");
        assert_ne!(asked, run(c.as_mut(), &best, 6, 5, 1), "{kind}");
    }
}

#[test]
fn restored_strategies_continue_exactly() {
    let space = choice_space(5, 3);
    let best = optimum(5, 3);
    let config = StrategyConfig::default();
    for kind in StrategyKind::ALL {
        let mut straight = build(kind, &space, &config, 4).unwrap();
        // 5 rounds of 6 = 30 asks: evolution is past its random start into mutation.
        run(straight.as_mut(), &best, 5, 6, 2);
        let bytes = straight.checkpoint().unwrap();
        let mut resumed = restore(kind, &space, &config, &bytes).unwrap();
        assert_eq!(resumed.name(), kind.as_str());
        assert_eq!(resumed.checkpoint().unwrap(), bytes, "{kind}");
        let after = run(straight.as_mut(), &best, 4, 6, 3);
        assert_eq!(after, run(resumed.as_mut(), &best, 4, 6, 3), "{kind}");
        assert_eq!(
            straight.checkpoint().unwrap(),
            resumed.checkpoint().unwrap(),
            "{kind}"
        );
    }
}

#[test]
fn restore_refuses_another_kind_or_space() {
    let space = choice_space(4, 3);
    let config = StrategyConfig::default();
    for kind in StrategyKind::ALL {
        let bytes = build(kind, &space, &config, 0)
            .unwrap()
            .checkpoint()
            .unwrap();
        for other in StrategyKind::ALL.into_iter().filter(|&o| o != kind) {
            assert!(
                restore(other, &space, &config, &bytes).is_err(),
                "{kind} as {other}"
            );
        }
        assert!(
            restore(kind, &choice_space(4, 2), &config, &bytes).is_err(),
            "{kind}"
        );
    }
}

#[test]
fn mutation_changes_exactly_one_decision() {
    let mut space = choice_space(6, 4);
    space[2].options.truncate(1);
    let mut rng = seeded(0, 0);
    for trial in 0..500 {
        let parent: Decisions = space.iter().map(|d| trial % d.len()).collect();
        let child = mutate(&space, &parent, &mut rng);
        let changed: Vec<usize> = (0..6).filter(|&i| child[i] != parent[i]).collect();
        assert_eq!(changed.len(), 1, "{parent:?} -> {child:?}");
        assert_ne!(changed[0], 2, "a one-option decision cannot change");
        assert!(child[changed[0]] < space[changed[0]].len());
    }
}

#[test]
fn evolution_starts_random_then_mutates_tournament_winners_and_ages() {
    let space = choice_space(6, 4);
    let best = optimum(6, 4);
    let config = StrategyConfig::default();
    let mut evolution = super::Evolution::new(&space, &config.evolution, 9).unwrap();
    run(&mut evolution, &best, 5, 4, 0);
    assert_eq!(evolution.population().count(), 20);
    let members: Vec<Decisions> = evolution.population().map(|(d, _)| d.clone()).collect();
    for child in evolution.ask(50).unwrap() {
        let nearest = members
            .iter()
            .map(|m| m.iter().zip(&child).filter(|(a, b)| a != b).count())
            .min()
            .unwrap();
        assert_eq!(nearest, 1, "a child is one mutation from a living member");
    }
    let newest = vec![(best.clone(), 2.0)];
    evolution.tell(&newest).unwrap();
    let population: Vec<&(Decisions, f64)> = evolution.population().collect();
    assert_eq!(population.len(), 20);
    assert_eq!(population[19], &newest[0]);
    assert_eq!(population[0].0, members[1], "the oldest member died");
}

#[test]
fn evolution_improves_on_its_random_start() {
    let space = choice_space(8, 4);
    let best = optimum(8, 4);
    let mut evolution = build(
        StrategyKind::Evolution,
        &space,
        &StrategyConfig::default(),
        3,
    )
    .unwrap();
    let asked = run(evolution.as_mut(), &best, 40, 8, 3);
    let start = asked[..20]
        .iter()
        .map(|a| matches(a, &best))
        .fold(0.0, f64::max);
    let found = asked.iter().map(|a| matches(a, &best)).fold(0.0, f64::max);
    assert!(found >= start + 0.25, "best went from {start} to {found}");
}

#[test]
fn skip_decisions_work_through_every_strategy() {
    let skip = |from, to| Decision {
        name: format!("skip{from}_{to}"),
        options: vec!["no".into(), "yes".into()],
        kind: DecisionKind::Skip { from, to },
        anchor: None,
    };
    let mut space = choice_space(2, 3);
    space[0].anchor = Some(0);
    space[1].anchor = Some(1);
    space.extend([skip(0, 2), skip(1, 2)]);
    for kind in StrategyKind::ALL {
        let mut strategy = build(kind, &space, &StrategyConfig::default(), 1).unwrap();
        let asked = run(strategy.as_mut(), &[0, 0, 1, 1], 4, 8, 0);
        assert!(asked.iter().all(|a| a[2] <= 1 && a[3] <= 1), "{kind}");
    }
}

#[test]
fn tell_rejects_bad_assignments_and_rewards() {
    let space = choice_space(3, 2);
    for kind in StrategyKind::ALL {
        let mut strategy = build(kind, &space, &StrategyConfig::default(), 0).unwrap();
        assert!(strategy.tell(&[(vec![0, 1], 0.5)]).is_err(), "{kind}");
        assert!(strategy.tell(&[(vec![0, 1, 2], 0.5)]).is_err(), "{kind}");
        assert!(
            strategy.tell(&[(vec![0, 1, 1], f64::INFINITY)]).is_err(),
            "{kind}"
        );
        strategy.tell(&[]).unwrap();
        strategy.tell(&[(vec![0, 1, 1], 0.5)]).unwrap();
    }
}

#[test]
fn strategy_kinds_parse_print_and_serialise_by_name() {
    for kind in StrategyKind::ALL {
        assert_eq!(kind.to_string().parse::<StrategyKind>().unwrap(), kind);
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
    }
    assert!("evolve".parse::<StrategyKind>().is_err());
    let config: StrategyConfig =
        serde_json::from_str(r#"{"evolution": {"population": 8}}"#).unwrap();
    assert_eq!(
        (config.evolution.population, config.evolution.sample),
        (8, 5)
    );
    assert!(serde_json::from_str::<StrategyConfig>(r#"{"evolutoin": {}}"#).is_err());
}
