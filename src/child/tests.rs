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
        let mut graph = space
            .decode(&space.sample(&mut rng))
            .unwrap()
            .lower()
            .unwrap();
        // a fractal join's local drop-path draws are random on both paths
        for node in &mut graph.nodes {
            if let crate::graph::Op::Join { p } = &mut node.op {
                *p = 0.0;
            }
        }
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

#[test]
fn batch_norm_eps_comes_from_the_graph_on_every_path() {
    use super::{Kernels, Workspace};
    // an eps of 1 makes a path that kept PyTorch's default 1e-5 obvious
    let mut g = crate::graph::Graph::new("eps", [1, 2, 2]);
    let x = g.bn_eps("bn", 0, 1.0).unwrap();
    g.unary(crate::graph::Op::Flatten, x).unwrap();
    let values: Vec<f32> = (0..8).map(|v| v as f32).collect();
    let xs = Tensor::from_vec(values.clone(), (2, 1, 2, 2), &Device::Cpu).unwrap();
    // batch mean 3.5, biased variance 5.25: (x - 3.5) / sqrt(5.25 + 1); running ones 0 and 1
    let train: Vec<f32> = values.iter().map(|v| (v - 3.5) / 2.5).collect();
    let eval: Vec<f32> = values.iter().map(|v| v / 2f32.sqrt()).collect();
    let close = |got: Vec<f32>, want: &[f32], what: &str| {
        let diff = got
            .iter()
            .zip(want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff < 1e-5, "{what}: {got:?} vs {want:?}");
    };
    for kernels in [Kernels::Fast, Kernels::Reference] {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let net = ChildNet::with_kernels(&g, vb, kernels).unwrap();
        let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        close(flat(net.forward_t(&xs, false).unwrap()), &eval, "eval");
        if kernels == Kernels::Fast {
            let logits = net.eval_logits(&mut Workspace::new(), &xs).unwrap();
            close(logits, &eval, "eval_logits");
        }
        close(flat(net.forward_t(&xs, true).unwrap()), &train, "train");
    }
}

#[test]
fn graphs_stored_before_batch_norm_had_an_eps_read_back_with_pytorchs_default() {
    let old = r#"{"name":"bn","op":{"op":"batch_norm"},"inputs":[0],"shape":[1,2,2]}"#;
    let node: crate::graph::Node = serde_json::from_str(old).unwrap();
    assert_eq!(node.op, crate::graph::Op::BatchNorm { eps: 1e-5 });
    let googlenet = crate::zoo::build("googlenet", [3, 32, 32], 10).unwrap();
    assert!(googlenet
        .nodes
        .iter()
        .filter(|n| n.op.kind() == "batch_norm")
        .all(|n| n.op == crate::graph::Op::BatchNorm { eps: 1e-3 }));
}
