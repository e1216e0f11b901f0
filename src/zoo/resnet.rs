//! ResNet-18, -50 and -152 (He et al. 2015), ResNeXt-50 32x4d (Xie et al. 2016) and Wide
//! ResNet-50-2 (Zagoruyko & Komodakis 2016) as torchvision's `torchvision/models/resnet.py`
//! defines them: stride on the 3x3 conv of a bottleneck (ResNet v1.5), projection shortcuts
//! (`downsample.0` conv 1x1, `downsample.1` BN) only where the shape changes, no conv biases.

use crate::error::Result;
use crate::graph::{Conv, Graph, NodeId, Op, Pool};

/// Which residual block a ResNet stacks, with the bottleneck's grouping.
#[derive(Clone, Copy)]
enum Block {
    /// Two 3x3 convs, expansion 1.
    Basic,
    /// 1x1, 3x3 (grouped), 1x1 convs, expansion 4; torchvision's `groups` and `width_per_group`.
    Bottleneck {
        groups: usize,
        width_per_group: usize,
    },
}

impl Block {
    fn expansion(self) -> usize {
        match self {
            Block::Basic => 1,
            Block::Bottleneck { .. } => 4,
        }
    }
}

/// torchvision's `resnet18`.
pub(super) fn resnet18(input: [usize; 3], classes: usize) -> Result<Graph> {
    resnet("resnet18", Block::Basic, [2, 2, 2, 2], input, classes)
}

/// torchvision's `resnet50`.
pub(super) fn resnet50(input: [usize; 3], classes: usize) -> Result<Graph> {
    let block = Block::Bottleneck {
        groups: 1,
        width_per_group: 64,
    };
    resnet("resnet50", block, [3, 4, 6, 3], input, classes)
}

/// torchvision's `resnet152`.
pub(super) fn resnet152(input: [usize; 3], classes: usize) -> Result<Graph> {
    let block = Block::Bottleneck {
        groups: 1,
        width_per_group: 64,
    };
    resnet("resnet152", block, [3, 8, 36, 3], input, classes)
}

/// torchvision's `resnext50_32x4d`.
pub(super) fn resnext50_32x4d(input: [usize; 3], classes: usize) -> Result<Graph> {
    let block = Block::Bottleneck {
        groups: 32,
        width_per_group: 4,
    };
    resnet("resnext50_32x4d", block, [3, 4, 6, 3], input, classes)
}

/// torchvision's `wide_resnet50_2`.
pub(super) fn wide_resnet50_2(input: [usize; 3], classes: usize) -> Result<Graph> {
    let block = Block::Bottleneck {
        groups: 1,
        width_per_group: 128,
    };
    resnet("wide_resnet50_2", block, [3, 4, 6, 3], input, classes)
}

/// The stem, four stages of `depths` blocks with 64..512 planes, global pooling and `fc`.
fn resnet(
    name: &str,
    block: Block,
    depths: [usize; 4],
    input: [usize; 3],
    classes: usize,
) -> Result<Graph> {
    let mut g = Graph::new(name, input);
    let mut x = g.conv("conv1", 0, Conv::same(64, 7).stride(2))?;
    x = g.bn("bn1", x)?;
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
    for (stage, (&depth, planes)) in depths.iter().zip([64, 128, 256, 512]).enumerate() {
        for i in 0..depth {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let prefix = format!("layer{}.{i}", stage + 1);
            x = residual(&mut g, &prefix, x, block, planes, stride)?;
        }
    }
    x = g.unary(Op::GlobalAvgPool, x)?;
    g.linear("fc", x, classes)?;
    Ok(g)
}

/// One block at `prefix` (`layer2.0`): its branch, shortcut, sum and ReLU.
fn residual(
    g: &mut Graph,
    prefix: &str,
    x: NodeId,
    block: Block,
    planes: usize,
    stride: usize,
) -> Result<NodeId> {
    let out = planes * block.expansion();
    let branch = match block {
        Block::Basic => {
            let y = conv_bn(g, prefix, 1, x, Conv::same(planes, 3).stride(stride))?;
            let y = g.relu(y)?;
            conv_bn(g, prefix, 2, y, Conv::same(planes, 3))?
        }
        Block::Bottleneck {
            groups,
            width_per_group,
        } => {
            let width = planes * width_per_group / 64 * groups;
            let y = conv_bn(g, prefix, 1, x, Conv::same(width, 1))?;
            let y = g.relu(y)?;
            let mid = Conv::same(width, 3).stride(stride).groups(groups);
            let y = conv_bn(g, prefix, 2, y, mid)?;
            let y = g.relu(y)?;
            conv_bn(g, prefix, 3, y, Conv::same(out, 1))?
        }
    };
    let shortcut = if stride != 1 || g.shape(x).channels() != out {
        let s = g.conv(
            format!("{prefix}.downsample.0"),
            x,
            Conv::same(out, 1).stride(stride),
        )?;
        g.bn(format!("{prefix}.downsample.1"), s)?
    } else {
        x
    };
    let sum = g.add(&[branch, shortcut])?;
    g.relu(sum)
}

/// torchvision's numbered `convN` / `bnN` pair inside a block.
fn conv_bn(g: &mut Graph, prefix: &str, n: usize, x: NodeId, conv: Conv) -> Result<NodeId> {
    let x = g.conv(format!("{prefix}.conv{n}"), x, conv)?;
    g.bn(format!("{prefix}.bn{n}"), x)
}
