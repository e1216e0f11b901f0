//! AlexNet and VGG-16 as torchvision defines them (`torchvision/models/alexnet.py`, the
//! single-GPU variant of Krizhevsky et al. 2012 from "One weird trick", and
//! `torchvision/models/vgg.py`, configuration "D" without batch norm, Simonyan & Zisserman
//! 2014). Node names follow torchvision's `features.N` / `classifier.N` indices.

use super::retarget::adaptive_flatten;
use crate::error::Result;
use crate::graph::{Conv, Graph, NodeId, Op, Pool};

/// One layer of a torchvision `features` list.
enum Layer {
    /// Conv with bias: out channels, kernel, stride, padding; followed by ReLU.
    Conv(usize, usize, usize, usize),
    /// Max pool: kernel, stride.
    Pool(usize, usize),
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
            Layer::Pool(kernel, stride) => {
                x = g.max_pool(x, Pool::new(kernel, stride))?;
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
        P(3, 2),
        C(192, 5, 1, 2),
        P(3, 2),
        C(384, 3, 1, 1),
        C(256, 3, 1, 1),
        C(256, 3, 1, 1),
        P(3, 2),
    ];
    let x = features(&mut g, &layers)?;
    let mut x = adaptive_flatten(&mut g, x, 6)?;
    x = g.unary(Op::Dropout { p: 0.5 }, x)?;
    x = g.linear("classifier.1", x, 4096)?;
    x = g.relu(x)?;
    x = g.unary(Op::Dropout { p: 0.5 }, x)?;
    x = g.linear("classifier.4", x, 4096)?;
    x = g.relu(x)?;
    g.linear("classifier.6", x, classes)?;
    Ok(g)
}

/// torchvision's `vgg16` (configuration "D", no batch norm).
pub(super) fn vgg16(input: [usize; 3], classes: usize) -> Result<Graph> {
    let mut g = Graph::new("vgg16", input);
    let mut layers = Vec::new();
    for (out, repeat) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)] {
        layers.extend((0..repeat).map(|_| Layer::Conv(out, 3, 1, 1)));
        layers.push(Layer::Pool(2, 2));
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
