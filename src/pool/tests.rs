//! The pool answers every job, survives panicking children and stops all workers on request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Device;

use super::*;
use crate::data::{load, DatasetSpec, LoadOptions};
use crate::graph::{Node, Op, Shape};
use crate::train::tests::small_net;
use crate::train::{Outcome, TrainConfig, TrainEvent};

fn pool(workers: usize, epochs: usize) -> Pool {
    let opts = LoadOptions {
        train_size: Some(300),
        ..LoadOptions::default()
    };
    let data = Arc::new(load(&DatasetSpec::Synthetic, &opts).unwrap());
    let cfg = PoolConfig {
        workers,
        threads_per_worker: 1,
        devices: vec![Device::Cpu],
        train: TrainConfig {
            epochs,
            batch_size: 32,
            ..TrainConfig::default()
        },
    };
    Pool::new(cfg, data).unwrap()
}

/// Collects messages until `jobs` results have come, calling `on_event` for each event.
fn results(
    pool: &Pool,
    jobs: usize,
    mut on_event: impl FnMut(&PoolEvent),
) -> BTreeMap<u64, JobResult> {
    let mut done = BTreeMap::new();
    while done.len() < jobs {
        match pool
            .messages()
            .recv_timeout(Duration::from_secs(60))
            .expect("a message")
        {
            PoolMessage::Event(event) => on_event(&event),
            PoolMessage::Done(result) => {
                assert!(done.insert(result.id, result).is_none(), "answered twice");
            }
            PoolMessage::Looked(looked) => panic!("a local pool looked a table up: {looked:?}"),
        }
    }
    done
}

#[test]
fn every_job_is_answered_when_one_child_panics() {
    let pool = pool(2, 1);
    let good = small_net([1, 16, 16], 10);
    let mut bad = good.clone();
    bad.nodes.insert(
        1,
        Node {
            name: "bad".into(),
            op: Op::Relu,
            inputs: vec![99],
            shape: Shape::Flat(1),
        },
    );
    for id in 0..4 {
        let graph = if id == 1 { bad.clone() } else { good.clone() };
        pool.submit(Job::plain(id, graph, id, 1)).unwrap();
    }
    let done = results(&pool, 4, |_| {});
    assert_eq!(done.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    for (id, result) in &done {
        match (&result.outcome, *id) {
            (Outcome::Failed { reason, .. }, 1) => {
                assert!(reason.starts_with("panicked"), "{reason}")
            }
            (Outcome::Completed(_), _) => assert!(result.weights.is_some()),
            (other, _) => panic!("job {id}: {other:?}"),
        }
    }
    pool.shutdown();
}

#[test]
fn stopping_the_pool_stops_every_worker_within_a_batch() {
    let pool = pool(2, 1000);
    for id in 0..4 {
        pool.submit(Job::plain(id, small_net([1, 16, 16], 10), id, 1000))
            .unwrap();
    }
    let mut busy = std::collections::HashSet::new();
    let mut stopped_at = None;
    let done = results(&pool, 4, |event| {
        if let PoolEvent::Train {
            worker,
            event: TrainEvent::Batch { .. },
            ..
        } = event
        {
            busy.insert(*worker);
            if busy.len() == 2 && stopped_at.is_none() {
                pool.stop();
                stopped_at = Some(Instant::now());
            }
        }
    });
    assert!(
        done.values().all(|r| r.outcome == Outcome::Stopped),
        "{done:?}"
    );
    assert!(stopped_at.unwrap().elapsed() < Duration::from_secs(5));
    pool.shutdown();
}

#[test]
fn devices_parse_and_cuda_needs_its_feature() {
    assert_eq!(parse_devices("cpu").unwrap().len(), 1);
    assert!(parse_devices("gpu").is_err());
    assert!(parse_devices("").is_err());
    #[cfg(not(feature = "cuda"))]
    {
        let err = parse_devices("cuda:0,cuda:1").unwrap_err().to_string();
        assert!(err.contains("built without the cuda feature"), "{err}");
    }
}
