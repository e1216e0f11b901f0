//! MobileNetV2 (Sandler et al. 2018) as torchvision's `torchvision/models/mobilenetv2.py`
//! defines it at width 1.0: `Conv2dNormActivation` units (conv without bias, BN, ReLU6),
//! inverted residual blocks whose depthwise 3x3 conv is a grouped conv with one group per
//! channel, a residual sum only where stride is 1 and channels are kept, a 1x1 conv to 1280,
//! global average pooling, dropout 0.2 and `classifier.1`.

use crate::error::Result;
use crate::graph::{Conv, Graph, NodeId, Op};

/// torchvision's `inverted_residual_setting`: expansion t, channels c, repeats n, stride s.
const SETTING: [[usize; 4]; 7] = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
];

const STEM: usize = 32;
const LAST: usize = 1280;

/// torchvision's `mobilenet_v2` (width multiplier 1.0).
pub(super) fn mobilenet_v2(input: [usize; 3], classes: usize) -> Result<Graph> {
    let mut g = Graph::new("mobilenet_v2", input);
    let mut x = conv_bn_relu6(&mut g, "features.0", 0, Conv::same(STEM, 3).stride(2))?;
    let mut index = 1;
    for [t, c, n, s] in SETTING {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            x = inverted_residual(&mut g, &format!("features.{index}"), x, t, c, stride)?;
            index += 1;
        }
    }
    x = conv_bn_relu6(&mut g, &format!("features.{index}"), x, Conv::same(LAST, 1))?;
    x = g.unary(Op::GlobalAvgPool, x)?;
    x = g.unary(Op::Dropout { p: 0.2 }, x)?;
    g.linear("classifier.1", x, classes)?;
    Ok(g)
}

/// One inverted residual block at `prefix` (`features.3`); its layers are `prefix.conv.N`.
fn inverted_residual(
    g: &mut Graph,
    prefix: &str,
    x: NodeId,
    expand: usize,
    out: usize,
    stride: usize,
) -> Result<NodeId> {
    let inp = g.shape(x).channels();
    let hidden = inp * expand;
    let mut y = x;
    let mut index = 0;
    if expand != 1 {
        y = conv_bn_relu6(g, &format!("{prefix}.conv.0"), y, Conv::same(hidden, 1))?;
        index += 1;
    }
    let depthwise = Conv::same(hidden, 3).stride(stride).groups(hidden);
    y = conv_bn_relu6(g, &format!("{prefix}.conv.{index}"), y, depthwise)?;
    y = g.conv(
        format!("{prefix}.conv.{}", index + 1),
        y,
        Conv::same(out, 1),
    )?;
    y = g.bn(format!("{prefix}.conv.{}", index + 2), y)?;
    if stride == 1 && inp == out {
        y = g.add(&[x, y])?;
    }
    Ok(y)
}

/// torchvision's `Conv2dNormActivation` with ReLU6: `prefix.0` conv, `prefix.1` BN.
fn conv_bn_relu6(g: &mut Graph, prefix: &str, x: NodeId, conv: Conv) -> Result<NodeId> {
    let x = g.conv(format!("{prefix}.0"), x, conv)?;
    let x = g.bn(format!("{prefix}.1"), x)?;
    g.unary(Op::Relu6, x)
}
