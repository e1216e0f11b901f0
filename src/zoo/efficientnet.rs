//! EfficientNet-B0 (Tan & Le 2019) as torchvision's `torchvision/models/efficientnet.py`
//! defines it (width and depth 1.0): a stride-2 3x3 stem, seven stages of MBConv blocks
//! (1x1 expansion, depthwise kxk, squeeze-and-excitation to a quarter of the block input,
//! 1x1 projection, an identity shortcut at stride 1 and equal widths), a 1x1 conv to 1280,
//! global average pooling, dropout 0.2 and `classifier.1`. SiLU throughout, batch norm with
//! PyTorch's default eps as torchvision's B0 has it. Stochastic depth does nothing in eval mode
//! and has no parameters, so it is left out.

use crate::arch::squeeze_excite;
use crate::error::Result;
use crate::graph::{Conv, Graph, NodeId, Op};

/// torchvision's `MBConvConfig` list for B0: expansion, kernel, stride, out channels, layers.
const SETTING: [[usize; 5]; 7] = [
    [1, 3, 1, 16, 1],
    [6, 3, 2, 24, 2],
    [6, 5, 2, 40, 2],
    [6, 3, 2, 80, 3],
    [6, 5, 1, 112, 3],
    [6, 5, 2, 192, 4],
    [6, 3, 1, 320, 1],
];

const STEM: usize = 32;
const LAST: usize = 1280;

/// torchvision's `efficientnet_b0`.
pub(super) fn efficientnet_b0(input: [usize; 3], classes: usize) -> Result<Graph> {
    let mut g = Graph::new("efficientnet_b0", input);
    let mut x = conv_bn_silu(&mut g, "features.0", 0, Conv::same(STEM, 3).stride(2))?;
    for (stage, [expansion, kernel, stride, out, layers]) in SETTING.into_iter().enumerate() {
        for layer in 0..layers {
            let prefix = format!("features.{}.{layer}.block", stage + 1);
            let stride = if layer == 0 { stride } else { 1 };
            x = mbconv(&mut g, &prefix, x, (expansion, kernel, stride, out))?;
        }
    }
    let head = format!("features.{}", SETTING.len() + 1);
    x = conv_bn_silu(&mut g, &head, x, Conv::same(LAST, 1))?;
    x = g.unary(Op::GlobalAvgPool, x)?;
    x = g.unary(Op::Dropout { p: 0.2 }, x)?;
    g.linear("classifier.1", x, classes)?;
    Ok(g)
}

/// One `MBConv` whose layers are `prefix.N` (`features.2.0.block.1`).
fn mbconv(
    g: &mut Graph,
    prefix: &str,
    x: NodeId,
    (expansion, kernel, stride, out): (usize, usize, usize, usize),
) -> Result<NodeId> {
    let inp = g.shape(x).channels();
    // `_make_divisible(inp * expansion, 8)`: already a multiple of 8 at width 1.0
    let mid = inp * expansion;
    let mut y = x;
    let mut index = 0;
    if mid != inp {
        y = conv_bn_silu(g, &format!("{prefix}.0"), y, Conv::same(mid, 1))?;
        index += 1;
    }
    let depthwise = Conv::same(mid, kernel).stride(stride).groups(mid);
    y = conv_bn_silu(g, &format!("{prefix}.{index}"), y, depthwise)?;
    y = squeeze_excite(g, &format!("{prefix}.{}", index + 1), y, (inp / 4).max(1))?;
    let project = format!("{prefix}.{}", index + 2);
    y = g.conv(format!("{project}.0"), y, Conv::same(out, 1))?;
    y = g.bn(format!("{project}.1"), y)?;
    if stride == 1 && inp == out {
        y = g.add(&[y, x])?;
    }
    Ok(y)
}

/// torchvision's `Conv2dNormActivation` with SiLU: `prefix.0` conv, `prefix.1` BN.
fn conv_bn_silu(g: &mut Graph, prefix: &str, x: NodeId, conv: Conv) -> Result<NodeId> {
    let x = g.conv(format!("{prefix}.0"), x, conv)?;
    let x = g.bn(format!("{prefix}.1"), x)?;
    g.unary(Op::Silu, x)
}
