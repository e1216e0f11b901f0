//! SqueezeNet 1.0 and 1.1 (Iandola et al. 2016; version 1.1 from the SqueezeNet repository)
//! as torchvision's `torchvision/models/squeezenet.py` defines them: convs with biases, ceil-mode
//! max pools, Fire modules (squeeze 1x1, then expand 1x1 and 3x3 concatenated), and a
//! classifier of dropout 0.5, conv 1x1 to the classes, ReLU and global average pooling.

use crate::error::Result;
use crate::graph::{Conv, Graph, NodeId, Op, Pool};

/// A layer of torchvision's `features` list after the stem.
enum Layer {
    /// Fire module: squeeze planes, expand 1x1 planes, expand 3x3 planes.
    Fire(usize, usize, usize),
    /// Ceil-mode max pool 3, stride 2.
    Pool,
}

/// Version 1.0's `features.3` onwards; index 0 is the 7x7 stem conv, 1 its ReLU, 2 a pool.
const FEATURES_1_0: [Layer; 10] = [
    Layer::Fire(16, 64, 64),
    Layer::Fire(16, 64, 64),
    Layer::Fire(32, 128, 128),
    Layer::Pool,
    Layer::Fire(32, 128, 128),
    Layer::Fire(48, 192, 192),
    Layer::Fire(48, 192, 192),
    Layer::Fire(64, 256, 256),
    Layer::Pool,
    Layer::Fire(64, 256, 256),
];

/// Version 1.1's `features.3` onwards; index 0 is the 3x3 stem conv, 1 its ReLU, 2 a pool.
const FEATURES_1_1: [Layer; 10] = [
    Layer::Fire(16, 64, 64),
    Layer::Fire(16, 64, 64),
    Layer::Pool,
    Layer::Fire(32, 128, 128),
    Layer::Fire(32, 128, 128),
    Layer::Pool,
    Layer::Fire(48, 192, 192),
    Layer::Fire(48, 192, 192),
    Layer::Fire(64, 256, 256),
    Layer::Fire(64, 256, 256),
];

const CEIL_POOL: Pool = Pool {
    kernel: 3,
    stride: 2,
    padding: 0,
    ceil: true,
};

/// torchvision's `squeezenet1_0`.
pub(super) fn squeezenet1_0(input: [usize; 3], classes: usize) -> Result<Graph> {
    let stem = Conv::same(96, 7).stride(2).padding(0).bias(true);
    squeezenet("squeezenet1_0", stem, &FEATURES_1_0, input, classes)
}

/// torchvision's `squeezenet1_1`.
pub(super) fn squeezenet1_1(input: [usize; 3], classes: usize) -> Result<Graph> {
    let stem = Conv::same(64, 3).stride(2).padding(0).bias(true);
    squeezenet("squeezenet1_1", stem, &FEATURES_1_1, input, classes)
}

/// The stem conv, ReLU and pool, the `features` list, and the conv classifier.
fn squeezenet(
    name: &str,
    stem: Conv,
    features: &[Layer],
    input: [usize; 3],
    classes: usize,
) -> Result<Graph> {
    let mut g = Graph::new(name, input);
    let mut x = g.conv("features.0", 0, stem)?;
    x = g.relu(x)?;
    x = g.max_pool(x, CEIL_POOL)?;
    for (i, layer) in features.iter().enumerate() {
        x = match *layer {
            Layer::Fire(squeeze, e1, e3) => {
                fire(&mut g, &format!("features.{}", i + 3), x, squeeze, e1, e3)?
            }
            Layer::Pool => g.max_pool(x, CEIL_POOL)?,
        };
    }
    x = g.unary(Op::Dropout { p: 0.5 }, x)?;
    x = g.conv("classifier.1", x, Conv::same(classes, 1).bias(true))?;
    x = g.relu(x)?;
    g.unary(Op::GlobalAvgPool, x)?;
    Ok(g)
}

/// A Fire module at `prefix`: squeeze 1x1 + ReLU, then expand 1x1 and 3x3 (+ ReLU) concatenated.
fn fire(
    g: &mut Graph,
    prefix: &str,
    x: NodeId,
    squeeze: usize,
    expand1x1: usize,
    expand3x3: usize,
) -> Result<NodeId> {
    let s = g.conv(
        format!("{prefix}.squeeze"),
        x,
        Conv::same(squeeze, 1).bias(true),
    )?;
    let s = g.relu(s)?;
    let a = g.conv(
        format!("{prefix}.expand1x1"),
        s,
        Conv::same(expand1x1, 1).bias(true),
    )?;
    let a = g.relu(a)?;
    let b = g.conv(
        format!("{prefix}.expand3x3"),
        s,
        Conv::same(expand3x3, 3).bias(true),
    )?;
    let b = g.relu(b)?;
    g.concat(&[a, b])
}
