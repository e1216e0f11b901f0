//! `ChildNet::eval_logits` and `predict` against candle's `forward_t(xs, false)` on the fast
//! kernels' custom ops, after a few training steps so that the running statistics are not the
//! initial ones.

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{init_weights, ChildNet, Kernels, Workspace};
use crate::graph::Graph;
use crate::space::shipped;

fn random_images(graph: &Graph, batch: usize, rng: &mut ChaCha8Rng) -> Tensor {
    let [c, h, w] = graph.input();
    let pixels: Vec<f32> = (0..batch * c * h * w)
        .map(|_| rng.random_range(-1f32..1f32))
        .collect();
    Tensor::from_vec(pixels, (batch, c, h, w), &Device::Cpu).unwrap()
}

/// Trains `graph` two steps, then compares the eval pass with candle's, twice (the second
/// time on reused buffers) and at two batch sizes.
fn check(graph: &Graph, seed: u64) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = ChildNet::with_kernels(graph, vb, Kernels::Fast).unwrap();
    init_weights(graph, &varmap, seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ws = Workspace::new();
    let xs = random_images(graph, 8, &mut rng);
    let labels: Vec<u32> = (0..8)
        .map(|_| rng.random_range(0..graph.classes() as u32))
        .collect();
    let ys = Tensor::new(labels.as_slice(), &Device::Cpu).unwrap();
    for _ in 0..2 {
        net.train_step(&mut ws, &xs, &ys, 0.0, &mut rng).unwrap();
    }
    for batch in [5, 3, 5] {
        let xs = random_images(graph, batch, &mut rng);
        let want = net.forward_t(&xs, false).unwrap();
        let got = net.eval_logits(&mut ws, &xs).unwrap();
        let want_values: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(got.len(), want_values.len(), "{}", graph.name);
        let scale = want_values.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (a, b) in got.iter().zip(&want_values) {
            assert!((a - b).abs() <= 1e-4 * scale, "{}: {a} vs {b}", graph.name);
        }
        let classes: Vec<u32> = want.argmax(1).unwrap().to_vec1().unwrap();
        assert_eq!(
            net.predict(&mut ws, &xs).unwrap(),
            classes,
            "{}",
            graph.name
        );
    }
}

#[test]
fn the_eval_pass_gives_candles_eval_logits_on_the_benchmark_nets_and_sampled_children() {
    for name in crate::bench::net_names() {
        check(&crate::bench::net(name).unwrap(), 1);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for space in shipped()
        .unwrap()
        .into_iter()
        .filter(|s| s.kind() == "cells")
    {
        for i in 0..2 {
            let arch = space.decode(&space.sample(&mut rng)).unwrap();
            check(&arch.lower().unwrap(), 20 + i);
        }
    }
}

#[test]
fn the_eval_pass_gives_candles_eval_logits_on_zoo_nets_with_dropout_and_relu6() {
    for name in ["lenet5", "alexnet", "mobilenet_v2", "squeezenet1_1"] {
        let input = crate::zoo::small_input(name).unwrap();
        check(&crate::zoo::build(name, input, 10).unwrap(), 3);
    }
}

#[test]
fn predict_falls_back_to_candle_on_the_reference_kernels() {
    let graph = crate::bench::net("residual").unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = ChildNet::with_kernels(&graph, vb, Kernels::Reference).unwrap();
    let xs = random_images(&graph, 3, &mut ChaCha8Rng::seed_from_u64(1));
    let want: Vec<u32> = net
        .forward_t(&xs, false)
        .unwrap()
        .argmax(1)
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(net.predict(&mut Workspace::new(), &xs).unwrap(), want);
    assert!(net.eval_logits(&mut Workspace::new(), &xs).is_err());
}

#[test]
fn a_batch_larger_than_the_eval_chunk_runs_in_pieces_with_the_same_logits() {
    let graph = crate::bench::net("lenet5").unwrap();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = ChildNet::with_kernels(&graph, vb, Kernels::Fast).unwrap();
    init_weights(&graph, &varmap, 5).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let batch = 2 * super::infer::EVAL_CHUNK + 3;
    let xs = random_images(&graph, batch, &mut rng);
    let want: Vec<f32> = net
        .forward_t(&xs, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let mut ws = Workspace::new();
    let got = net.eval_logits(&mut ws, &xs).unwrap();
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!((a - b).abs() <= 1e-4 * scale, "value {i}: {a} vs {b}");
    }
    // the last piece's image is where the whole batch puts it
    let classes = graph.classes();
    let alone = net
        .eval_logits(&mut ws, &xs.narrow(0, batch - 1, 1).unwrap())
        .unwrap();
    for (a, b) in got[got.len() - classes..].iter().zip(&alone) {
        assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b}");
    }
}
