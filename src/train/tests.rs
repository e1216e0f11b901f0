//! Training children on the synthetic set: learning, failures, stopping, determinism, weights.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use super::*;
use crate::child::ChildNet;
use crate::data::{load, Dataset, DatasetSpec, LoadOptions, SplitKind};
use crate::graph::{Conv, Graph, Node, Op, Pool, Shape};

fn synthetic() -> Dataset {
    load(&DatasetSpec::Synthetic, &LoadOptions::default()).unwrap()
}

/// The synthetic set cut to 1,000 training images, for tests that need training but no accuracy.
fn small_synthetic() -> Dataset {
    let opts = LoadOptions {
        train_size: Some(1000),
        ..LoadOptions::default()
    };
    load(&DatasetSpec::Synthetic, &opts).unwrap()
}

/// Average pooling to 8x8 (candle's conv backward is slow at full size), then conv-bn-relu
/// twice, max pooling and a linear head: 1x16x16 -> 10.
pub(crate) fn small_net(input: [usize; 3], classes: usize) -> Graph {
    let mut g = Graph::new("small", input);
    let x = g.avg_pool(0, Pool::new(2, 2)).unwrap();
    let x = g.conv_bn_relu("block1", x, Conv::same(8, 3)).unwrap();
    let x = g.conv_bn_relu("block2", x, Conv::same(8, 3)).unwrap();
    let x = g.max_pool(x, Pool::new(2, 2)).unwrap();
    let x = g.unary(Op::Flatten, x).unwrap();
    g.linear("fc", x, classes).unwrap();
    g
}

fn quick() -> TrainConfig {
    TrainConfig {
        epochs: 2,
        batch_size: 64,
        seed: 3,
        ..TrainConfig::default()
    }
}

fn run(graph: &Graph, data: &Dataset, cfg: &TrainConfig) -> (Trained, Vec<TrainEvent>) {
    let mut events = Vec::new();
    let stop = AtomicBool::new(false);
    let trained = train(graph, data, cfg, &Device::Cpu, &stop, &mut |e| {
        events.push(e)
    });
    (trained, events)
}

#[test]
fn a_small_conv_net_learns_the_synthetic_set() {
    let data = synthetic();
    let (trained, events) = run(&small_net(data.input, data.classes), &data, &quick());
    let Outcome::Completed(metrics) = &trained.outcome else {
        panic!("{:?}", trained.outcome);
    };
    assert!(metrics.final_val_acc > 0.95, "{metrics:?}");
    assert_eq!(metrics.epochs, 2);
    assert!(metrics.train_loss[1] < metrics.train_loss[0], "{metrics:?}");
    assert!(metrics.images_per_second > 0.0);
    let validated = events
        .iter()
        .filter(|e| matches!(e, TrainEvent::Validated { .. }))
        .count();
    assert_eq!(validated, 2);
    assert!(matches!(
        events[0],
        TrainEvent::EpochStarted {
            epoch: 1,
            epochs: 2,
            batches: 71
        }
    ));
    assert!(trained.varmap.is_some());
}

#[test]
fn an_exploding_learning_rate_fails_with_nan() {
    let data = small_synthetic();
    let cfg = TrainConfig {
        lr: 1e30,
        ..quick()
    };
    let (trained, _) = run(&small_net(data.input, data.classes), &data, &cfg);
    match trained.outcome {
        Outcome::Failed { reason, metrics } => {
            assert!(
                reason.contains("NaN") || reason.contains("infinite"),
                "{reason}"
            );
            assert!(reason.contains("at epoch 1, batch"), "{reason}");
            assert!(metrics.is_none());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_net_too_big_for_the_memory_limit_fails_before_training() {
    let data = small_synthetic();
    let mut g = Graph::new("wide", data.input);
    let x = g.conv("wide", 0, Conv::same(4096, 3)).unwrap();
    let x = g.unary(Op::GlobalAvgPool, x).unwrap();
    g.linear("fc", x, 10).unwrap();
    let cfg = TrainConfig {
        memory_limit_bytes: Some(1 << 30),
        ..quick()
    };
    let (trained, events) = run(&g, &data, &cfg);
    match trained.outcome {
        Outcome::Failed { reason, .. } => assert!(reason.starts_with("out of memory"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(events.is_empty());
}

#[test]
fn a_panic_while_building_is_a_failure() {
    let data = small_synthetic();
    let mut g = small_net(data.input, data.classes);
    // A node that reads a node that does not exist: `ChildNet::new` indexes out of bounds.
    g.nodes.insert(
        1,
        Node {
            name: "bad".into(),
            op: Op::Relu,
            inputs: vec![99],
            shape: Shape::Flat(1),
        },
    );
    g.nodes[2].op = Op::Conv(Conv::same(8, 3));
    g.nodes[2].inputs = vec![1];
    let (trained, _) = run(&g, &data, &quick());
    match trained.outcome {
        Outcome::Failed { reason, .. } => assert!(reason.starts_with("panicked: "), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_stop_flag_stops_within_a_batch() {
    let data = small_synthetic();
    let graph = small_net(data.input, data.classes);
    let stop = AtomicBool::new(false);
    let mut batches = 0;
    let trained = train(&graph, &data, &quick(), &Device::Cpu, &stop, &mut |e| {
        if let TrainEvent::Batch { .. } = e {
            batches += 1;
            if batches == 3 {
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    assert_eq!(trained.outcome, Outcome::Stopped);
    assert_eq!(batches, 3);
}

#[test]
fn the_same_seed_gives_the_same_accuracy_and_weights() {
    let data = small_synthetic();
    let graph = small_net(data.input, data.classes);
    let cfg = TrainConfig {
        epochs: 1,
        ..quick()
    };
    let (a, _) = run(&graph, &data, &cfg);
    let (b, _) = run(&graph, &data, &cfg);
    let (ma, mb) = (a.outcome.metrics().unwrap(), b.outcome.metrics().unwrap());
    assert_eq!(ma.val_acc, mb.val_acc);
    assert_eq!(ma.train_loss, mb.train_loss);
    let bytes = |t: &Trained| weights_to_safetensors(t.varmap.as_ref().unwrap()).unwrap();
    assert_eq!(bytes(&a), bytes(&b));
    let (c, _) = run(&graph, &data, &TrainConfig { seed: 4, ..cfg });
    assert_ne!(c.outcome.metrics().unwrap().train_loss, ma.train_loss);
}

#[test]
fn saved_weights_load_into_a_fresh_net_with_the_same_accuracy() {
    let data = small_synthetic();
    let graph = small_net(data.input, data.classes);
    let (trained, _) = run(
        &graph,
        &data,
        &TrainConfig {
            epochs: 1,
            ..quick()
        },
    );
    let bytes = weights_to_safetensors(trained.varmap.as_ref().unwrap()).unwrap();
    let names = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap()
        .names()
        .len();
    assert_eq!(
        names,
        2 * (1 + 4) + 2,
        "conv weight and bn x4 per block, fc weight and bias"
    );
    let varmap = VarMap::new();
    let net = ChildNet::new(
        &graph,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .unwrap();
    load_weights(&varmap, &bytes).unwrap();
    let acc = evaluate(&net, &data, SplitKind::Val, 512, &Device::Cpu).unwrap();
    assert_eq!(acc, trained.outcome.metrics().unwrap().final_val_acc);
}

#[test]
fn label_smoothing_matches_the_pytorch_formula() {
    // torch.nn.functional.cross_entropy(torch.tensor([[2., 0., -1.]]), torch.tensor([0]),
    //     label_smoothing=0.3) = 0.7 * 0.1698 + 0.3 * mean(-log_softmax) = 0.6698...
    let logits = candle_core::Tensor::new(&[[2f32, 0., -1.]], &Device::Cpu).unwrap();
    let ys = candle_core::Tensor::new(&[0u32], &Device::Cpu).unwrap();
    let log_z = (2f64.exp() + 1.0 + (-1f64).exp()).ln();
    let nll = log_z - 2.0;
    let uniform = ((log_z - 2.0) + log_z + (log_z + 1.0)) / 3.0;
    let expected = 0.7 * nll + 0.3 * uniform;
    let got = cross_entropy(&logits, &ys, 0.3)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
}

#[test]
fn training_rung_by_rung_from_stored_states_equals_training_straight_through() {
    let data = small_synthetic();
    let graph = small_net(data.input, data.classes);
    let cfg = quick();
    let stop = AtomicBool::new(false);
    let rungs = [1, 3];
    let go = |plan: &TrainPlan, from: Option<&[u8]>| {
        train_plan(
            &graph,
            &data,
            &cfg,
            plan,
            from,
            &Device::Cpu,
            &stop,
            &mut |_| {},
        )
    };
    let straight = go(&TrainPlan::rung(&rungs, 1, false), None);
    let first = go(&TrainPlan::rung(&rungs, 0, true), None);
    let state = first.state.expect("a state was asked for");
    let continued = go(&TrainPlan::rung(&rungs, 1, true), Some(&state));
    let (Outcome::Completed(a), Outcome::Completed(b)) = (&straight.outcome, &continued.outcome)
    else {
        panic!("{:?} {:?}", straight.outcome, continued.outcome);
    };
    assert_eq!(a.val_acc, b.val_acc, "every epoch's accuracy, bit for bit");
    assert_eq!(a.train_loss, b.train_loss);
    assert_eq!(b.epochs, 3);
    assert_eq!(
        weights_to_safetensors(straight.varmap.as_ref().unwrap()).unwrap(),
        weights_to_safetensors(continued.varmap.as_ref().unwrap()).unwrap()
    );
    assert!(continued.state.is_some());
}

#[test]
fn a_finalist_plan_measures_the_test_split() {
    let data = small_synthetic();
    let graph = small_net(data.input, data.classes);
    let plan = TrainPlan {
        evaluate_test: true,
        ..TrainPlan::plain(1)
    };
    let stop = AtomicBool::new(false);
    let trained = train_plan(
        &graph,
        &data,
        &quick(),
        &plan,
        None,
        &Device::Cpu,
        &stop,
        &mut |_| {},
    );
    let metrics = trained.outcome.metrics().expect("completed");
    assert!(metrics.test_acc.is_some_and(|t| t > 0.2), "{metrics:?}");
    assert!(trained.state.is_none());
}
