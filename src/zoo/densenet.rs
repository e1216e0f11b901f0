//! DenseNet-121 (Huang et al. 2016) as torchvision's `torchvision/models/densenet.py` defines
//! it: growth rate 32, blocks of (6, 12, 24, 16) pre-activated bottleneck layers (BN, ReLU,
//! conv 1x1 to 4x32, BN, ReLU, conv 3x3 to 32, no conv biases), transitions halving channels
//! and size, a final `features.norm5` with ReLU, global average pooling and `classifier`.

use crate::error::Result;
use crate::graph::{Conv, Graph, NodeId, Op, Pool};

const GROWTH: usize = 32;
const BN_SIZE: usize = 4;
const BLOCKS: [usize; 4] = [6, 12, 24, 16];
const INIT_FEATURES: usize = 64;

/// torchvision's `densenet121`.
pub(super) fn densenet121(input: [usize; 3], classes: usize) -> Result<Graph> {
    let mut g = Graph::new("densenet121", input);
    let mut x = g.conv("features.conv0", 0, Conv::same(INIT_FEATURES, 7).stride(2))?;
    x = g.bn("features.norm0", x)?;
    x = g.relu(x)?;
    x = g.max_pool(
        x,
        Pool {
            kernel: 3,
            stride: 2,
            padding: 1,
            ceil: false,
        },
    )?;
    for (b, &layers) in BLOCKS.iter().enumerate() {
        x = dense_block(&mut g, &format!("features.denseblock{}", b + 1), x, layers)?;
        if b + 1 < BLOCKS.len() {
            x = transition(&mut g, &format!("features.transition{}", b + 1), x)?;
        }
    }
    x = g.bn("features.norm5", x)?;
    x = g.relu(x)?;
    x = g.unary(Op::GlobalAvgPool, x)?;
    g.linear("classifier", x, classes)?;
    Ok(g)
}

/// `layers` dense layers, each reading the concatenation of the block input and all earlier
/// layers; returns the concatenation of everything.
fn dense_block(g: &mut Graph, prefix: &str, x: NodeId, layers: usize) -> Result<NodeId> {
    let mut features = vec![x];
    for i in 1..=layers {
        let input = g.concat(&features)?;
        let name = format!("{prefix}.denselayer{i}");
        let y = pre_activated(g, &name, 1, input, Conv::same(BN_SIZE * GROWTH, 1))?;
        let y = pre_activated(g, &name, 2, y, Conv::same(GROWTH, 3))?;
        features.push(y);
    }
    g.concat(&features)
}

/// torchvision's `normN`, ReLU, `convN`.
fn pre_activated(g: &mut Graph, name: &str, n: usize, x: NodeId, conv: Conv) -> Result<NodeId> {
    let x = g.bn(format!("{name}.norm{n}"), x)?;
    let x = g.relu(x)?;
    g.conv(format!("{name}.conv{n}"), x, conv)
}

/// BN, ReLU, conv 1x1 to half the channels, average pool 2x2.
fn transition(g: &mut Graph, prefix: &str, x: NodeId) -> Result<NodeId> {
    let half = g.shape(x).channels() / 2;
    let x = g.bn(format!("{prefix}.norm"), x)?;
    let x = g.relu(x)?;
    let x = g.conv(format!("{prefix}.conv"), x, Conv::same(half, 1))?;
    g.avg_pool(x, Pool::new(2, 2))
}
