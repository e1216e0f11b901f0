//! Child networks built from sampled architectures: shapes, names, train/eval behaviour.

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;

use super::ChildNet;
use crate::space::shipped;

#[test]
fn twenty_sampled_architectures_of_each_space_run_forward() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let xs = Tensor::randn(0f32, 1., (2, 1, 28, 28), &Device::Cpu).unwrap();
    for space in shipped()
        .unwrap()
        .into_iter()
        .filter(|s| s.kind() == "cells")
    {
        for _ in 0..20 {
            let arch = space.decode(&space.sample(&mut rng)).unwrap();
            let graph = arch.lower().unwrap();
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            let net = ChildNet::new(&graph, vb).unwrap();
            for train in [true, false] {
                let logits = net.forward_t(&xs, train).unwrap();
                assert_eq!(logits.dims(), &[2, 10], "{}", space.name);
                let values = logits.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                assert!(
                    values.iter().all(|v| v.is_finite()),
                    "{}: {}",
                    space.name,
                    arch.summary()
                );
            }
            let learned: usize = varmap
                .data()
                .lock()
                .unwrap()
                .iter()
                .filter(|(name, _)| !name.contains("running_"))
                .map(|(_, v)| v.elem_count())
                .sum();
            assert_eq!(learned as u64, graph.params(), "{}", arch.summary());
        }
    }
}

#[test]
fn batch_norm_uses_batch_statistics_in_training_and_running_ones_in_evaluation() {
    let mut g = crate::graph::Graph::new("bn", [2, 3, 3]);
    let x = g.bn("bn", 0).unwrap();
    let x = g.unary(crate::graph::Op::GlobalAvgPool, x).unwrap();
    g.linear("fc", x, 2).unwrap();
    let varmap = VarMap::new();
    let net = ChildNet::new(
        &g,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .unwrap();
    // seeded: an unseeded draw put a channel's batch mean near 0 about once in 500 runs
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let values: Vec<f32> = (0..72)
        .map(|_| rand::Rng::random_range(&mut rng, 0f32..10f32))
        .collect();
    let xs = Tensor::from_vec(values, (4, 2, 3, 3), &Device::Cpu).unwrap();
    let before = net.forward_t(&xs, false).unwrap();
    net.forward_t(&xs, true).unwrap();
    let after = net.forward_t(&xs, false).unwrap();
    let diff = (before - after)
        .unwrap()
        .abs()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        diff > 1e-3,
        "evaluation must use running statistics updated by training"
    );
    let vars = varmap.data().lock().unwrap();
    let mean = vars["bn.running_mean"]
        .as_tensor()
        .to_vec1::<f32>()
        .unwrap();
    assert!(
        mean.iter().all(|m| *m > 0.1),
        "running mean moved towards the batch mean: {mean:?}"
    );
}

#[test]
fn fast_kernels_match_candles_reference_ops_on_a_sampled_net() {
    use super::Kernels;
    let space = crate::space::Space::load("mixed-cells").unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let xs = Tensor::randn(0f32, 1., (3, 1, 28, 28), &Device::Cpu).unwrap();
    for _ in 0..3 {
        let graph = space
            .decode(&space.sample(&mut rng))
            .unwrap()
            .lower()
            .unwrap();
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let fast = ChildNet::with_kernels(&graph, vb.clone(), Kernels::Fast).unwrap();
        let reference = ChildNet::with_kernels(&graph, vb, Kernels::Reference).unwrap();
        for train in [false, true] {
            let a = fast.forward_t(&xs, train).unwrap();
            let b = reference.forward_t(&xs, train).unwrap();
            let scale = b
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                .max(1.0);
            let diff = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                diff <= 1e-4 * scale,
                "train={train}: {diff} vs scale {scale}"
            );
        }
    }
}
