//! GoogLeNet (Szegedy et al. 2014) as torchvision's `torchvision/models/googlenet.py` defines
//! it, without the auxiliary heads (`aux_logits=False`) and without `transform_input`. Every
//! conv is a `BasicConv2d` (conv without bias, BN with eps 0.001, ReLU), and, as in torchvision, the "5x5" branch uses a 3x3 kernel.

use crate::error::Result;
use crate::graph::{Conv, Graph, NodeId, Op, Pool};

/// The batch-norm eps of torchvision's `BasicConv2d`.
const BASIC_CONV_EPS: f64 = 1e-3;

/// An inception module's widths, in torchvision's argument order.
struct Inception {
    name: &'static str,
    ch1x1: usize,
    ch3x3red: usize,
    ch3x3: usize,
    ch5x5red: usize,
    ch5x5: usize,
    pool_proj: usize,
}

const fn inception(
    name: &'static str,
    [ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj]: [usize; 6],
) -> Inception {
    Inception {
        name,
        ch1x1,
        ch3x3red,
        ch3x3,
        ch5x5red,
        ch5x5,
        pool_proj,
    }
}

const STAGE3: [Inception; 2] = [
    inception("inception3a", [64, 96, 128, 16, 32, 32]),
    inception("inception3b", [128, 128, 192, 32, 96, 64]),
];

const STAGE4: [Inception; 5] = [
    inception("inception4a", [192, 96, 208, 16, 48, 64]),
    inception("inception4b", [160, 112, 224, 24, 64, 64]),
    inception("inception4c", [128, 128, 256, 24, 64, 64]),
    inception("inception4d", [112, 144, 288, 32, 64, 64]),
    inception("inception4e", [256, 160, 320, 32, 128, 128]),
];

const STAGE5: [Inception; 2] = [
    inception("inception5a", [256, 160, 320, 32, 128, 128]),
    inception("inception5b", [384, 192, 384, 48, 128, 128]),
];

/// A ceil-mode max pool, as every pool of torchvision's GoogLeNet is.
fn ceil_pool(kernel: usize, stride: usize, padding: usize) -> Pool {
    Pool {
        kernel,
        stride,
        padding,
        ceil: true,
    }
}

/// torchvision's `googlenet(aux_logits=False)`.
pub(super) fn googlenet(input: [usize; 3], classes: usize) -> Result<Graph> {
    let mut g = Graph::new("googlenet", input);
    let mut x = basic_conv(&mut g, "conv1", 0, Conv::same(64, 7).stride(2))?;
    x = g.max_pool(x, ceil_pool(3, 2, 0))?;
    x = basic_conv(&mut g, "conv2", x, Conv::same(64, 1))?;
    x = basic_conv(&mut g, "conv3", x, Conv::same(192, 3))?;
    x = g.max_pool(x, ceil_pool(3, 2, 0))?;
    for module in &STAGE3 {
        x = block(&mut g, x, module)?;
    }
    x = g.max_pool(x, ceil_pool(3, 2, 0))?;
    for module in &STAGE4 {
        x = block(&mut g, x, module)?;
    }
    x = g.max_pool(x, ceil_pool(2, 2, 0))?;
    for module in &STAGE5 {
        x = block(&mut g, x, module)?;
    }
    x = g.unary(Op::GlobalAvgPool, x)?;
    x = g.unary(Op::Dropout { p: 0.2 }, x)?;
    g.linear("fc", x, classes)?;
    Ok(g)
}

/// torchvision's `BasicConv2d` at `prefix`: conv without bias, BN with eps 0.001, ReLU.
fn basic_conv(g: &mut Graph, prefix: &str, x: NodeId, conv: Conv) -> Result<NodeId> {
    let x = g.conv(format!("{prefix}.conv"), x, conv)?;
    let x = g.bn_eps(format!("{prefix}.bn"), x, BASIC_CONV_EPS)?;
    g.relu(x)
}

/// One inception module: four branches concatenated along channels.
fn block(g: &mut Graph, x: NodeId, m: &Inception) -> Result<NodeId> {
    let name = m.name;
    let b1 = basic_conv(g, &format!("{name}.branch1"), x, Conv::same(m.ch1x1, 1))?;
    let b2 = basic_conv(
        g,
        &format!("{name}.branch2.0"),
        x,
        Conv::same(m.ch3x3red, 1),
    )?;
    let b2 = basic_conv(g, &format!("{name}.branch2.1"), b2, Conv::same(m.ch3x3, 3))?;
    let b3 = basic_conv(
        g,
        &format!("{name}.branch3.0"),
        x,
        Conv::same(m.ch5x5red, 1),
    )?;
    let b3 = basic_conv(g, &format!("{name}.branch3.1"), b3, Conv::same(m.ch5x5, 3))?;
    let b4 = g.max_pool(x, ceil_pool(3, 1, 1))?;
    let b4 = basic_conv(
        g,
        &format!("{name}.branch4.1"),
        b4,
        Conv::same(m.pool_proj, 1),
    )?;
    g.concat(&[b1, b2, b3, b4])
}
