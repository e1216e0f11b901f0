//! The shared network against stand-alone children: same forward pass, same SGD step, and the
//! slicing rules (leading channels, kernel centres, one block per input source, groups).

use std::collections::HashMap;

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::largest::{extreme, Extreme};
use super::*;
use crate::arch::{Architecture, Block};
use crate::child::{ChildNet, Kernels, Workspace};
use crate::graph::{Graph, Op};
use crate::space::{CellsSpace, Decisions, Space, SpaceBody};
use crate::train::{load_weights, Sgd};

pub(crate) const CELL_SPACES: [&str; 5] = [
    "resnet-cells",
    "bottleneck-cells",
    "inception-cells",
    "dense-cells",
    "mixed-cells",
];

/// A shipped cell space on 1x12x12 inputs (12, 6 and 3 pixels in its three stages).
pub(crate) fn small_space(name: &str) -> (Space, CellsSpace) {
    let space = Space::load(name).unwrap().with_input([1, 12, 12], 10);
    let SpaceBody::Cells(cells) = space.body.clone() else {
        panic!("{name} is not a cell space")
    };
    (space, cells)
}

fn batch(n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let xs: Vec<f32> = (0..n * 144).map(|_| rng.random_range(-1.0..1.0)).collect();
    let ys: Vec<u32> = (0..n).map(|_| rng.random_range(0..10)).collect();
    let xs = Tensor::from_vec(xs, (n, 1, 12, 12), &Device::Cpu).unwrap();
    (xs, Tensor::new(ys, &Device::Cpu).unwrap())
}

fn sgd(lr: f64) -> SharedSgd {
    SharedSgd {
        lr,
        momentum: 0.9,
        weight_decay: 5e-4,
        grad_clip: 1e9,
        label_smoothing: 0.0,
    }
}

/// Shared weights moved away from their initial values by a few steps of random children.
fn trained_shared(space: &Space, cells: &CellsSpace, sharing: KernelSharing) -> SharedNet {
    let mut shared = SharedNet::new(cells, sharing, 5).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut ws = Workspace::new();
    for step in 0..4 {
        let graph = held_child(space, &mut shared, &mut rng);
        let (xs, ys) = batch(4, step);
        let loss = shared
            .train_step(&graph, &xs, &ys, sgd(0.05), &mut ws, &mut rng)
            .unwrap();
        assert!(loss.is_finite());
    }
    shared
}

/// A random child of `space` that `shared` holds: a child with a mobile cell (or some skip
/// wirings into multi-branch cells) is a failed child of weight sharing, never trained on it.
fn held_child(space: &Space, shared: &mut SharedNet, rng: &mut ChaCha8Rng) -> Graph {
    for _ in 0..200 {
        let graph = space.decode(&space.sample(rng)).unwrap().lower().unwrap();
        if shared.holds(&graph) {
            return graph;
        }
    }
    panic!("no child of {} that the shared network holds", space.name)
}

/// An ordinary child of `graph` (a `VarMap`, as the trainer builds one) on `kernels`, with
/// `weights` loaded through safetensors.
fn stand_alone(
    graph: &Graph,
    weights: &HashMap<String, Tensor>,
    kernels: Kernels,
) -> (ChildNet, VarMap) {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = ChildNet::with_kernels(graph, vb, kernels).unwrap();
    let mut sorted: Vec<(&String, &Tensor)> = weights.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let bytes = safetensors::serialize(sorted, None).unwrap();
    load_weights(&varmap, &bytes).unwrap();
    (net, varmap)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn shared_forward_equals_a_stand_alone_child_with_the_shared_weights_copied_in() {
    for name in CELL_SPACES {
        let (space, cells) = small_space(name);
        for sharing in [KernelSharing::Own, KernelSharing::Centre] {
            let mut shared = trained_shared(&space, &cells, sharing);
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            for _ in 0..3 {
                let mut graph = held_child(&space, &mut shared, &mut rng);
                // a fractal join's local drop-path draws are random on candle's path
                for node in &mut graph.nodes {
                    if let Op::Join { p } = &mut node.op {
                        *p = 0.0;
                    }
                }
                let (xs, _) = batch(6, 3);
                let logits = shared.logits(&graph, &xs).unwrap();
                let weights = shared.child_weights(&graph).unwrap();
                // candle's own ops, batch norm in training mode: an independent forward pass
                let (net, _) = stand_alone(&graph, &weights, Kernels::Reference);
                let expected = net.forward_t(&xs, true).unwrap();
                let diff = max_diff(&logits, &expected);
                assert!(diff < 1e-3, "{name} {sharing}: logits differ by {diff}");
            }
        }
    }
}

#[test]
fn a_shared_step_moves_the_childs_weights_as_sgd_moves_a_stand_alone_child() {
    let (space, cells) = small_space("mixed-cells");
    // fresh weights: every velocity is 0, as a stand-alone child's optimiser starts
    let mut shared = SharedNet::new(&cells, KernelSharing::Own, 3).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let graph = held_child(&space, &mut shared, &mut rng);
    let other = held_child(&space, &mut shared, &mut rng);
    let before = shared.child_weights(&graph).unwrap();
    let other_before = shared.child_weights(&other).unwrap();
    let (net, varmap) = stand_alone(&graph, &before, Kernels::Fast);
    let (xs, ys) = batch(8, 7);
    let mut ws = Workspace::new();
    let (loss, grads) = net
        .train_step(&mut ws, &xs, &ys, 0.0, &mut ChaCha8Rng::seed_from_u64(0))
        .unwrap();
    let mut sgd_step = Sgd::new(&varmap, 0.9, false, 5e-4);
    sgd_step.step(&grads, 0.05).unwrap();
    // the same draws as the stand-alone step, for a child with a join or drop-path
    let mut draws = ChaCha8Rng::seed_from_u64(0);
    let shared_loss = shared
        .train_step(&graph, &xs, &ys, sgd(0.05), &mut ws, &mut draws)
        .unwrap();
    assert!((loss - shared_loss).abs() < 1e-6, "{loss} vs {shared_loss}");
    let after = shared.child_weights(&graph).unwrap();
    let data = varmap.data().lock().unwrap();
    for (name, var) in data.iter().filter(|(n, _)| !n.contains("running")) {
        let diff = max_diff(&after[name], var.as_tensor());
        assert!(diff < 1e-6, "{name}: {diff}");
    }
    // a weight of the other child that this one never read has not moved
    let other_after = shared.child_weights(&other).unwrap();
    let untouched = other_before
        .keys()
        .filter(|n| !before.contains_key(*n))
        .filter(|n| max_diff(&other_before[*n], &other_after[*n]) == 0.0)
        .count();
    assert!(untouched > 0, "the other child shares every weight");
}

/// The architecture of the all-zeros assignment of `space` with stage 1's first cell replaced.
fn with_first_cell(space: &Space, block: Block) -> Graph {
    let mut arch: Architecture = space.decode(&vec![0; space.decisions().len()]).unwrap();
    arch.stages[0].cells[0].block = block;
    arch.lower().unwrap()
}

fn weight(shared: &mut SharedNet, graph: &Graph, name: &str) -> Tensor {
    shared.child_weights(graph).unwrap()[name].clone()
}

#[test]
fn a_narrower_cell_takes_the_leading_channels_of_the_widest() {
    let (space, cells) = small_space("resnet-cells");
    let mut shared = trained_shared(&space, &cells, KernelSharing::Own);
    let narrow = with_first_cell(
        &space,
        Block::Residual {
            kernel: 3,
            out: 8,
            preact: false,
        },
    );
    let wide = with_first_cell(
        &space,
        Block::Residual {
            kernel: 3,
            out: 24,
            preact: false,
        },
    );
    let name = "stage1.cell1.b.conv.weight";
    let (n, w) = (
        weight(&mut shared, &narrow, name),
        weight(&mut shared, &wide, name),
    );
    assert_eq!(n.dims(), &[8, 8, 3, 3]);
    let leading = w.narrow(0, 0, 8).unwrap().narrow(1, 0, 8).unwrap();
    assert_eq!(max_diff(&n, &leading), 0.0);
    let bn = "stage1.cell1.b.bn.weight";
    let (n, w) = (
        weight(&mut shared, &narrow, bn),
        weight(&mut shared, &wide, bn),
    );
    assert_eq!(max_diff(&n, &w.narrow(0, 0, 8).unwrap()), 0.0);
}

#[test]
fn a_smaller_kernel_is_the_centre_of_the_largest_or_its_own() {
    let (space, cells) = small_space("resnet-cells");
    for sharing in [KernelSharing::Centre, KernelSharing::Own] {
        let mut shared = trained_shared(&space, &cells, sharing);
        let k3 = with_first_cell(
            &space,
            Block::Residual {
                kernel: 3,
                out: 16,
                preact: false,
            },
        );
        let k5 = with_first_cell(
            &space,
            Block::Residual {
                kernel: 5,
                out: 16,
                preact: false,
            },
        );
        let name = "stage1.cell1.a.conv.weight";
        let (small, large) = (
            weight(&mut shared, &k3, name),
            weight(&mut shared, &k5, name),
        );
        let centre = large.narrow(2, 1, 3).unwrap().narrow(3, 1, 3).unwrap();
        let same = max_diff(&small, &centre) == 0.0;
        assert_eq!(same, sharing == KernelSharing::Centre, "{sharing}");
    }
}

#[test]
fn a_skip_input_adds_its_own_block_beside_the_predecessors() {
    let (space, cells) = small_space("resnet-cells");
    let mut shared = trained_shared(&space, &cells, KernelSharing::Own);
    let mut arch = space.decode(&vec![0; space.decisions().len()]).unwrap();
    arch.stages[0].cells = vec![arch.stages[0].cells[0].clone(); 2];
    let plain = arch.lower().unwrap();
    arch.stages[0].cells[1].skips = vec![0];
    let skipped = arch.lower().unwrap();
    let name = "stage1.cell2.a.conv.weight";
    let (p, s) = (
        weight(&mut shared, &plain, name),
        weight(&mut shared, &skipped, name),
    );
    let c = p.dim(1).unwrap();
    assert_eq!(
        s.dim(1).unwrap(),
        c + 16,
        "the stage input's 16 channels are appended"
    );
    assert_eq!(max_diff(&p, &s.narrow(1, 0, c).unwrap()), 0.0);
}

#[test]
fn a_grouped_convolution_takes_the_block_diagonal_of_the_dense_weight() {
    let (space, cells) = small_space("bottleneck-cells");
    let mut shared = trained_shared(&space, &cells, KernelSharing::Own);
    let block = |groups| Block::Bottleneck {
        kernel: 3,
        out: 32,
        expansion: 2,
        groups,
        preact: false,
    };
    let dense = with_first_cell(&space, block(1));
    let grouped = with_first_cell(&space, block(2));
    let name = "stage1.cell1.conv.conv.weight";
    let (d, g) = (
        weight(&mut shared, &dense, name),
        weight(&mut shared, &grouped, name),
    );
    assert_eq!(
        (d.dims(), g.dims()),
        (&[16, 16, 3, 3][..], &[16, 8, 3, 3][..])
    );
    let first = d.narrow(0, 0, 8).unwrap().narrow(1, 0, 8).unwrap();
    let second = d.narrow(0, 8, 8).unwrap().narrow(1, 8, 8).unwrap();
    assert_eq!(max_diff(&g.narrow(0, 0, 8).unwrap(), &first), 0.0);
    assert_eq!(max_diff(&g.narrow(0, 8, 8).unwrap(), &second), 0.0);
}

#[test]
fn the_next_stage_and_the_classifier_keep_their_weights_whatever_a_stage_s_depth() {
    let (space, cells) = small_space("resnet-cells");
    let mut shared = trained_shared(&space, &cells, KernelSharing::Own);
    let mut arch = space.decode(&vec![0; space.decisions().len()]).unwrap();
    let one = arch.lower().unwrap();
    for s in [0, 2] {
        let cell = arch.stages[s].cells[0].clone();
        arch.stages[s].cells = vec![cell.clone(), cell];
    }
    let two = arch.lower().unwrap();
    for name in ["stage2.reduce.conv.weight", "classifier.weight"] {
        let (a, b) = (
            weight(&mut shared, &one, name),
            weight(&mut shared, &two, name),
        );
        assert_eq!(max_diff(&a, &b), 0.0, "{name}");
    }
    // inside a stage, a cell's weights stay its position's own
    let (a, b) = (
        weight(&mut shared, &two, "stage1.cell1.b.conv.weight"),
        weight(&mut shared, &two, "stage1.cell2.b.conv.weight"),
    );
    assert!(max_diff(&a, &b) > 0.0);
}

#[test]
fn checkpointed_shared_weights_come_back_exactly() {
    let (space, cells) = small_space("dense-cells");
    let shared = trained_shared(&space, &cells, KernelSharing::Centre);
    let tensors: HashMap<String, Tensor> = shared.tensors().unwrap().into_iter().collect();
    let back = SharedNet::from_tensors(&cells, KernelSharing::Centre, 5, &tensors).unwrap();
    let again: HashMap<String, Tensor> = back.tensors().unwrap().into_iter().collect();
    assert_eq!(tensors.len(), again.len());
    for (name, t) in &tensors {
        assert_eq!(max_diff(t, &again[name]), 0.0, "{name}");
    }
    assert_eq!(back.params(), shared.params());
}

/// A measurement, not a check: how fast the shared network learns on MNIST `resnet-cells`
/// with uniformly sampled children (two passes over 3,000 images), then the ratings of ten
/// random children on 256 validation images. Variants as `sharing:lr`, e.g.
/// `NAS_PROBE=centre:0.1,own:0.1 cargo test --release --lib shared_learning_probe -- --ignored --nocapture`.
#[test]
#[ignore]
fn shared_learning_probe() {
    use crate::data::{load, DatasetSpec, LoadOptions, SplitKind};
    let options = LoadOptions {
        train_size: Some(3000),
        val_size: Some(1000),
        ..LoadOptions::default()
    };
    let data = load(&DatasetSpec::Mnist, &options).unwrap();
    let space = Space::load("resnet-cells")
        .unwrap()
        .with_input(data.input, data.classes);
    let SpaceBody::Cells(cells) = space.body.clone() else {
        unreachable!("resnet-cells is a cell space")
    };
    let variants = std::env::var("NAS_PROBE").unwrap_or_else(|_| "centre:0.1".into());
    for variant in variants.split(',') {
        let (sharing, lr) = variant.split_once(':').expect("sharing:lr");
        let (sharing, lr): (KernelSharing, f64) = (sharing.parse().unwrap(), lr.parse().unwrap());
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut shared = SharedNet::new(&cells, sharing, 1).unwrap();
        let mut ws = Workspace::new();
        let started = std::time::Instant::now();
        let (mut average, mut step) = (2.3, 0);
        for epoch in 0..2 {
            let mut order = ChaCha8Rng::seed_from_u64(epoch);
            let batcher = data.batches(SplitKind::Train, 64, Some(&mut order), false, &Device::Cpu);
            for batch in batcher.unwrap() {
                let (xs, ys) = batch.unwrap();
                let graph = held_child(&space, &mut shared, &mut rng);
                let sgd = SharedSgd {
                    grad_clip: 5.0,
                    ..sgd(lr)
                };
                let loss = shared
                    .train_step(&graph, &xs, &ys, sgd, &mut ws, &mut rng)
                    .unwrap();
                average = 0.9 * average + 0.1 * loss;
                step += 1;
                if step % 10 == 0 {
                    let seconds = started.elapsed().as_secs_f64();
                    eprintln!(
                        "{variant} step {step} loss (moving average) {average:.3} {seconds:.1}s"
                    );
                }
            }
        }
        let val = data.batches(SplitKind::Val, 256, None, false, &Device::Cpu);
        let (xs, ys) = val.unwrap().next().unwrap().unwrap();
        let ratings: Vec<f64> = (0..10)
            .map(|_| {
                let graph = held_child(&space, &mut shared, &mut rng);
                shared.rate(&graph, &xs, &ys).unwrap()
            })
            .collect();
        eprintln!("{variant} ratings of ten random children {ratings:?}");
    }
}

/// The sandwich rule's children: on every cell space, the largest has at least as many MACs as
/// any of 300 random children the shared network holds; under a MAC cap (the mean of those),
/// within it and within 2% of the largest of them under it (greedy ascent stops at a local
/// maximum there). The smallest has no more MACs than any of them.
#[test]
fn the_sandwich_children_are_the_largest_and_smallest_the_shared_network_holds() {
    for name in CELL_SPACES {
        let (space, cells) = small_space(name);
        let mut shared = SharedNet::new(&cells, KernelSharing::Centre, 5).unwrap();
        let lens: Vec<usize> = space.decisions().iter().map(|d| d.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let sampled: Vec<u64> = (0..300)
            .map(|_| held_child(&space, &mut shared, &mut rng).macs())
            .collect();
        // the children the shared network holds, within `cap` MACs
        let mut held_under = |d: &Decisions, cap: u64| {
            let graph = space.decode(d).ok()?.lower().ok()?;
            (shared.holds(&graph) && graph.macs() <= cap).then_some(graph)
        };
        for cap in [u64::MAX, sampled.iter().sum::<u64>() / sampled.len() as u64] {
            let (decisions, graph) = extreme(&lens, |d| held_under(d, cap), Extreme::Largest)
                .unwrap_or_else(|| panic!("{name}: no largest child under {cap}"));
            let graph_again = space.decode(&decisions).unwrap().lower().unwrap();
            assert_eq!(graph_again.macs(), graph.macs(), "{name}");
            assert!(graph.macs() <= cap, "{name}: {} over {cap}", graph.macs());
            let best_under = sampled.iter().filter(|&&m| m <= cap).max().unwrap();
            let slack = if cap == u64::MAX { 1.0 } else { 0.98 };
            assert!(
                graph.macs() as f64 >= slack * *best_under as f64,
                "{name}: largest {} < sampled {best_under} (cap {cap})",
                graph.macs()
            );
        }
        let (_, smallest) = extreme(&lens, |d| held_under(d, u64::MAX), Extreme::Smallest)
            .unwrap_or_else(|| panic!("{name}: no smallest child"));
        let least = sampled.iter().min().unwrap();
        assert!(
            smallest.macs() <= *least,
            "{name}: smallest {} > sampled {least}",
            smallest.macs()
        );
    }
}

/// A run stored before the sandwich rule (or the warm-up, uniform training, uniform deriving)
/// existed resumes without it, while a new run has the sandwich every 4th minibatch and trains
/// and derives uniformly.
#[test]
fn settings_stored_before_the_sandwich_rule_read_it_as_off() {
    let old: EnasConfig = serde_json::from_str(r#"{"epochs": 3, "top": 2}"#).unwrap();
    assert_eq!((old.sandwich, old.warmup, old.epochs), (0, 0, 3));
    assert!(!old.smallest);
    assert_eq!(old.calibrate, 0);
    assert_eq!(EnasConfig::default().calibrate, 10);
    assert_eq!(old.train_from, Sampling::Policy);
    assert_eq!(old.derive_from, Sampling::Policy);
    assert_eq!(EnasConfig::default().sandwich, 4);
    assert_eq!(EnasConfig::default().train_from, Sampling::Uniform);
    assert_eq!(EnasConfig::default().derive_from, Sampling::Uniform);
}
