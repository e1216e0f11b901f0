//! The reference nets of the benchmark. `bench/pytorch_bench.py` builds the same nets layer for
//! layer; the parameter counts in the tests are the ones PyTorch prints for them.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::arch::{Architecture, Block, Cell, Stage, Stem};
use crate::error::{Error, Result};
use crate::graph::{Conv, Graph, NodeId, Op};
use crate::space::Space;
use crate::zoo;

/// One grey-scale input of MNIST's size, ten classes: the shape of the searched children.
const MNIST: [usize; 3] = [1, 28, 28];

/// The four reference nets, the ones the speed targets are set on.
const NAMES: &[&str] = &["lenet5", "residual", "dense", "inception"];

/// What searches train: one child of each shipped cell space (drawn with [`SAMPLE_SEED`], so
/// `bench/pytorch_bench.py` builds the same net from the graph), then two zoo nets re-targeted
/// to CIFAR's 3x32x32.
const SEARCHED: &[&str] = &[
    "resnet-cells",
    "bottleneck-cells",
    "dense-cells",
    "inception-cells",
    "mixed-cells",
    "fire-cells",
    "mobile-cells",
];
const ZOO: &[&str] = &["mobilenet_v2", "resnet18"];

/// The seed of the sampled children of the cell spaces.
pub const SAMPLE_SEED: u64 = 0;

/// The reference nets, in table order.
pub fn net_names() -> &'static [&'static str] {
    NAMES
}

/// Every net of the benchmark, in table order: the reference nets, one sampled child of each
/// shipped cell space, and the re-targeted zoo nets.
pub fn all_net_names() -> Vec<&'static str> {
    NAMES.iter().chain(SEARCHED).chain(ZOO).copied().collect()
}

/// The graph of benchmark net `name`.
pub fn net(name: &str) -> Result<Graph> {
    if SEARCHED.contains(&name) {
        let space = Space::load(name)?;
        let mut rng = ChaCha8Rng::seed_from_u64(SAMPLE_SEED);
        let mut g = space.decode(&space.sample(&mut rng))?.lower()?;
        g.name = name.to_string();
        return Ok(g);
    }
    if ZOO.contains(&name) {
        return zoo::build(name, [3, 32, 32], 10);
    }
    match name {
        "lenet5" => zoo::build("lenet5", [1, 32, 32], 10),
        "residual" => residual_net(),
        "dense" => two_cells(Block::Dense {
            kernel: 3,
            growth: 12,
            layers: 4,
        }),
        "inception" => two_cells(Block::Inception {
            kernel: 3,
            out: 32,
            branches: 4,
        }),
        _ => Err(Error::invalid(
            "benchmark net",
            format!(
                "unknown net `{name}` (known: {})",
                all_net_names().join(", ")
            ),
        )),
    }
}

/// A small ResNet: stem 1->16, two blocks at 16, a stride-2 block to 32 with a projected
/// shortcut, one more block at 32, global average pooling, linear 32->10 (42,938 parameters).
pub fn residual_net() -> Result<Graph> {
    let mut g = Graph::new("residual", MNIST);
    let mut x = g.conv_bn_relu("stem", 0, Conv::same(16, 3))?;
    x = basic_block(&mut g, "block1", x, 16, 1)?;
    x = basic_block(&mut g, "block2", x, 16, 1)?;
    x = basic_block(&mut g, "block3", x, 32, 2)?;
    x = basic_block(&mut g, "block4", x, 32, 1)?;
    x = g.unary(Op::GlobalAvgPool, x)?;
    g.linear("fc", x, 10)?;
    Ok(g)
}

/// conv3x3 (stride) + BN + ReLU, conv3x3 + BN, plus the shortcut (1x1 conv + BN when the
/// shape changes), then ReLU.
fn basic_block(g: &mut Graph, name: &str, x: NodeId, out: usize, stride: usize) -> Result<NodeId> {
    let a = g.conv_bn_relu(&format!("{name}.a"), x, Conv::same(out, 3).stride(stride))?;
    let b = g.conv_bn(&format!("{name}.b"), a, Conv::same(out, 3))?;
    let shortcut = if stride == 1 && g.shape(x).channels() == out {
        x
    } else {
        g.conv_bn(
            &format!("{name}.proj"),
            x,
            Conv::same(out, 1).stride(stride),
        )?
    };
    let sum = g.add(&[b, shortcut])?;
    g.relu(sum)
}

/// Stem 16, one stage of two `block` cells, lowered as a searched child would be.
fn two_cells(block: Block) -> Result<Graph> {
    let cell = Cell {
        block,
        skips: vec![],
    };
    let arch = Architecture {
        input: MNIST,
        classes: 10,
        stem: Stem {
            channels: 16,
            kernel: 3,
        },
        stages: vec![Stage {
            reduce: None,
            channels: 16,
            cells: vec![cell.clone(), cell],
        }],
        dropout: 0.0,
    };
    let mut g = arch.lower()?;
    g.name = block.kind().to_string();
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_net_has_42938_params() {
        // PyTorch (bench/pytorch_bench.py): sum(p.numel() for p in residual().parameters())
        // = 42938: stem 176, two 16-blocks 9,344, stride-2 block 14,528, 32-block 18,560, fc 330
        let g = residual_net().unwrap();
        assert_eq!(g.params(), 42_938);
        assert_eq!(g.classes(), 10);
        g.validate().unwrap();
    }

    #[test]
    fn every_reference_net_builds_with_the_params_pytorch_counts() {
        // bench/pytorch_bench.py prints the same counts for its nets
        let expected = [61_706, 42_938, 66_970, 4_154];
        for (name, want) in NAMES.iter().zip(expected) {
            let g = net(name).unwrap();
            g.validate().unwrap();
            assert_eq!(g.params(), want, "{name}");
        }
        assert!(net("vgg16").is_err());
    }

    #[test]
    fn the_searched_nets_are_the_same_sample_every_time() {
        for name in all_net_names() {
            let g = net(name).unwrap();
            g.validate().unwrap();
            assert_eq!(g, net(name).unwrap(), "{name}");
            assert_eq!(g.classes(), 10, "{name}");
        }
        assert_eq!(net("resnet18").unwrap().input(), [3, 32, 32]);
    }
}
