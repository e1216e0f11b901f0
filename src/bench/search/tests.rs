//! Tests of the strategy comparison on the toy table: one search matches the real search loop
//! candidate for candidate, ranks and spreads are right, and the whole comparison is reproducible.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{compare, mean_and_std, run_one, CompareConfig, Ranking};
use crate::search::{self, SearchConfig};
use crate::space::{Space, SpaceBody, TableSpace};
use crate::store::{RunStore, Status};
use crate::strategy::StrategyKind;

fn toy() -> Space {
    Space::load("toy-table").unwrap()
}

fn table(space: &Space) -> &TableSpace {
    match &space.body {
        SpaceBody::Table(t) => t,
        _ => panic!("toy-table is a table space"),
    }
}

#[test]
fn one_search_picks_the_candidate_the_search_loop_picks() {
    let space = toy();
    // 30 samples in batches of 4: the last batch is cut to 2, as the loop cuts it.
    let settings = SearchConfig {
        space: "toy-table".into(),
        samples: 30,
        batch: 4,
        ..SearchConfig::default()
    };
    for kind in StrategyKind::ALL {
        let best = run_one(&space, kind, 30, 7, &settings).unwrap().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = SearchConfig {
            strategy: kind,
            seed: 7,
            ..settings.clone()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let summary = search::start(dir.path(), cfg, stop, &mut |_| {}).unwrap();
        assert_eq!(best.samples, summary.samples, "{kind}");
        assert_eq!(Some(best.id), summary.best_id, "{kind}");
        assert_eq!(Some(best.reward), summary.best_reward, "{kind}");
        let store = RunStore::open(dir.path()).unwrap();
        let candidates = store.candidates().unwrap();
        let winner = candidates.iter().find(|c| c.id == best.id).unwrap();
        assert_eq!(winner.hash, best.key, "{kind}");
        assert!(candidates.iter().all(|c| c.status == Status::Completed));
        let distinct: std::collections::HashSet<&str> =
            candidates.iter().map(|c| c.hash.as_str()).collect();
        assert_eq!(best.distinct, distinct.len(), "{kind}");
    }
}

#[test]
fn a_search_of_one_candidate_per_batch_counts_every_sample() {
    let space = toy();
    let settings = SearchConfig {
        batch: 1,
        ..SearchConfig::default()
    };
    let best = run_one(&space, StrategyKind::Random, 9, 0, &settings)
        .unwrap()
        .unwrap();
    assert_eq!(best.samples, 9);
    assert!(best.id < 9);
}

#[test]
fn cell_spaces_are_refused_by_name() {
    let space = Space::load("resnet-cells").unwrap();
    let err = run_one(&space, StrategyKind::Random, 5, 0, &SearchConfig::default()).unwrap_err();
    assert!(err.to_string().contains("--space"), "{err}");
    assert!(err.to_string().contains("cell space"), "{err}");
}

#[test]
fn ranks_count_the_rows_above_and_ties_share_a_rank() {
    let space = toy();
    let table = table(&space);
    let ranking = Ranking::new(table, "val_acc").unwrap();
    assert_eq!(ranking.len(), 4096);
    assert_eq!(ranking.best(), Some(0.95));
    assert_eq!(ranking.rank(0.95), 1);
    assert_eq!(ranking.rank(1.0), 1);
    assert_eq!(ranking.rank(-1.0), 4097);
    // the optimum's row, ranked by another column
    let by_params = Ranking::new(table, "params").unwrap();
    let params = Ranking::value_of(table, "params", "3-0-3-1-0-1").unwrap();
    let above = table
        .rows
        .values()
        .filter(|r| r.metrics["params"] > params)
        .count();
    assert_eq!(by_params.rank(params), above + 1);
}

#[test]
fn a_column_the_table_lacks_is_refused_naming_the_flag_and_the_columns() {
    let space = toy();
    let err = Ranking::new(table(&space), "test_200")
        .unwrap_err()
        .to_string();
    assert!(err.contains("--metric"), "{err}");
    assert!(err.contains("params, train_seconds, val_acc"), "{err}");
}

#[test]
fn mean_and_sample_standard_deviation() {
    let (mean, std) = mean_and_std(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(mean, 2.5);
    assert!((std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(mean_and_std(&[7.0]), (7.0, 0.0));
}

fn small_comparison() -> CompareConfig {
    CompareConfig {
        strategies: vec![StrategyKind::Random, StrategyKind::Evolution],
        budgets: vec![8, 24],
        seeds: 3,
        metric: Some("params".into()),
        settings: SearchConfig::default(),
    }
}

#[test]
fn a_comparison_has_one_row_per_strategy_and_budget_and_is_reproducible() {
    let space = toy();
    let cfg = small_comparison();
    let stop = AtomicBool::new(false);
    let events = std::sync::Mutex::new(Vec::new());
    let a = compare(&space, &cfg, &stop, &|e| events.lock().unwrap().push(e)).unwrap();
    assert_eq!(events.lock().unwrap().len(), 1 + 12);
    assert!(!a.interrupted);
    assert_eq!(
        (a.metric.as_str(), a.reward.as_str()),
        ("params", "val_acc")
    );
    let keys: Vec<(StrategyKind, usize)> = a.rows.iter().map(|r| (r.strategy, r.budget)).collect();
    use StrategyKind::{Evolution, Random};
    assert_eq!(
        keys,
        [(Random, 8), (Random, 24), (Evolution, 8), (Evolution, 24)]
    );
    for row in &a.rows {
        assert_eq!(row.runs, 3);
        let seeds: Vec<u64> = row.results.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, [0, 1, 2]);
        let metrics: Vec<f64> = row.results.iter().map(|r| r.metric).collect();
        assert_eq!((row.mean, row.std), mean_and_std(&metrics));
        for r in &row.results {
            assert_eq!(r.best.samples, row.budget);
            let row_of_best = &table(&space).rows[&r.best.key];
            assert_eq!(r.metric, row_of_best.metrics["params"]);
            assert_eq!(r.best.reward, row_of_best.reward);
        }
    }
    let b = compare(&space, &cfg, &stop, &|_| {}).unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_stopped_comparison_starts_no_search() {
    let stop = AtomicBool::new(true);
    let c = compare(&toy(), &small_comparison(), &stop, &|_| {}).unwrap();
    assert!(c.interrupted);
    assert!(c.rows.iter().all(|r| r.runs == 0 && r.results.is_empty()));
}
