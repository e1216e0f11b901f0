//! AlexNet, VGG-16 and VGG-19 as torchvision defines them (`torchvision/models/alexnet.py`,
//! the single-GPU variant of Krizhevsky et al. 2012 from "One weird trick", and
//! `torchvision/models/vgg.py`, configurations "D" and "E" without batch norm, Simonyan &
//! Zisserman 2014), and ZFNet (Zeiler & Fergus 2013), which torchvision lacks, from the
//! paper's figure 3. Node names follow torchvision's `features.N` / `classifier.N` indices.

use super::retarget::adaptive_flatten;
use crate::error::Result;
use crate::graph::{Conv, Graph, NodeId, Op, Pool};

/// One layer of a torchvision `features` list.
enum Layer {
    /// Conv with bias: out channels, kernel, stride, padding; followed by ReLU.
    Conv(usize, usize, usize, usize),
    /// Max pool: kernel, stride, padding.
    Pool(usize, usize, usize),
}

/// Pushes a `features` list, counting indices as torchvision's `nn.Sequential` does.
fn features(g: &mut Graph, layers: &[Layer]) -> Result<NodeId> {
    let (mut x, mut index) = (0, 0);
    for layer in layers {
        match *layer {
            Layer::Conv(out, kernel, stride, padding) => {
                let conv = Conv::same(out, kernel).stride(stride).padding(padding);
                x = g.conv(format!("features.{index}"), x, conv.bias(true))?;
                x = g.relu(x)?;
                index += 2;
            }
            Layer::Pool(kernel, stride, padding) => {
                let pool = Pool {
                    padding,
                    ..Pool::new(kernel, stride)
                };
                x = g.max_pool(x, pool)?;
                index += 1;
            }
        }
    }
    Ok(x)
}

/// torchvision's `alexnet`.
pub(super) fn alexnet(input: [usize; 3], classes: usize) -> Result<Graph> {
    use Layer::{Conv as C, Pool as P};
    let mut g = Graph::new("alexnet", input);
    let layers = [
        C(64, 11, 4, 2),
        P(3, 2, 0),
        C(192, 5, 1, 2),
        P(3, 2, 0),
        C(384, 3, 1, 1),
        C(256, 3, 1, 1),
        C(256, 3, 1, 1),
        P(3, 2, 0),
    ];
    let x = features(&mut g, &layers)?;
    // torchvision's `AdaptiveAvgPool2d((6, 6))` as it is, at any input
    let x = g.unary(Op::AdaptiveAvgPool { size: 6 }, x)?;
    classifier_6x6(&mut g, x, classes)?;
    Ok(g)
}

/// ZFNet as in Zeiler & Fergus 2013, figure 3: 96 7x7 filters at stride 2 (110x110 at
/// 224x224, hence padding 1), 3x3 max pools at stride 2 (55, 13 and 6: padding 1 on the first
/// two), 256 5x5 filters at stride 2, 384, 384 and 256 3x3 filters, then AlexNet's classifier
/// (dropout 0.5 before each of the two 4096-wide layers). The paper's local contrast
/// normalisation after the first two layers is left out: it has no parameters and no MACs.
pub(super) fn zfnet(input: [usize; 3], classes: usize) -> Result<Graph> {
    use Layer::{Conv as C, Pool as P};
    let mut g = Graph::new("zfnet", input);
    let layers = [
        C(96, 7, 2, 1),
        P(3, 2, 1),
        C(256, 5, 2, 0),
        P(3, 2, 1),
        C(384, 3, 1, 1),
        C(384, 3, 1, 1),
        C(256, 3, 1, 1),
        P(3, 2, 0),
    ];
    let x = features(&mut g, &layers)?;
    classifier_6x6(&mut g, x, classes)?;
    Ok(g)
}

/// AlexNet's `classifier` list, after the adaptive pool to 6x6 (for ZFNet, `adaptive_flatten`'s
/// plain pooling; AlexNet's own adaptive pool comes before and leaves a 6x6 map).
fn classifier_6x6(g: &mut Graph, x: NodeId, classes: usize) -> Result<NodeId> {
    let mut x = adaptive_flatten(g, x, 6)?;
    x = g.unary(Op::Dropout { p: 0.5 }, x)?;
    x = g.linear("classifier.1", x, 4096)?;
    x = g.relu(x)?;
    x = g.unary(Op::Dropout { p: 0.5 }, x)?;
    x = g.linear("classifier.4", x, 4096)?;
    x = g.relu(x)?;
    g.linear("classifier.6", x, classes)
}

/// torchvision's `vgg16` (configuration "D", no batch norm).
pub(super) fn vgg16(input: [usize; 3], classes: usize) -> Result<Graph> {
    vgg("vgg16", [2, 2, 3, 3, 3], input, classes)
}

/// torchvision's `vgg19` (configuration "E", no batch norm).
pub(super) fn vgg19(input: [usize; 3], classes: usize) -> Result<Graph> {
    vgg("vgg19", [2, 2, 4, 4, 4], input, classes)
}

/// A VGG with `repeats` 3x3 convs in each of its five stages of 64..512 channels.
fn vgg(name: &str, repeats: [usize; 5], input: [usize; 3], classes: usize) -> Result<Graph> {
    let mut g = Graph::new(name, input);
    let mut layers = Vec::new();
    for (out, repeat) in [64, 128, 256, 512, 512].into_iter().zip(repeats) {
        layers.extend((0..repeat).map(|_| Layer::Conv(out, 3, 1, 1)));
        layers.push(Layer::Pool(2, 2, 0));
    }
    let x = features(&mut g, &layers)?;
    let mut x = adaptive_flatten(&mut g, x, 7)?;
    x = g.linear("classifier.0", x, 4096)?;
    x = g.relu(x)?;
    x = g.unary(Op::Dropout { p: 0.5 }, x)?;
    x = g.linear("classifier.3", x, 4096)?;
    x = g.relu(x)?;
    x = g.unary(Op::Dropout { p: 0.5 }, x)?;
    g.linear("classifier.6", x, classes)?;
    Ok(g)
}
