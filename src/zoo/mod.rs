//! The zoo: classic CNNs written as op graphs, layer for layer as torchvision defines them
//! (LeNet-5 as in LeCun et al. 1998 with ReLU and max pooling; ZFNet, which torchvision
//! lacks, from its paper's layer table). Node names are torchvision's
//! module paths, so a torchvision state dict maps onto our `VarBuilder` paths key for key.
//! Every net can be re-targeted to another input shape and class count; `retarget` says how.

mod densenet;
mod efficientnet;
mod googlenet;
mod lenet;
mod mobilenet;
mod resnet;
mod retarget;
mod squeezenet;
mod vgg;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod torch_tests;

use crate::error::{Error, Result};
use crate::graph::Graph;

/// A builder: input shape and class count in, graph out.
type Builder = fn([usize; 3], usize) -> Result<Graph>;

/// One zoo entry: name, builder, standard input, standard classes, small input for tests.
struct Entry {
    name: &'static str,
    build: Builder,
    input: [usize; 3],
    classes: usize,
    small: [usize; 3],
}

const IMAGENET: [usize; 3] = [3, 224, 224];
const MNIST: [usize; 3] = [1, 28, 28];
const CIFAR: [usize; 3] = [3, 32, 32];

#[rustfmt::skip]
const ZOO: &[Entry] = &[
    Entry { name: "lenet5", build: lenet::lenet5, input: [1, 32, 32], classes: 10, small: MNIST },
    Entry { name: "alexnet", build: vgg::alexnet, input: IMAGENET, classes: 1000, small: [3, 64, 64] },
    Entry { name: "vgg16", build: vgg::vgg16, input: IMAGENET, classes: 1000, small: CIFAR },
    Entry { name: "googlenet", build: googlenet::googlenet, input: IMAGENET, classes: 1000, small: CIFAR },
    Entry { name: "resnet18", build: resnet::resnet18, input: IMAGENET, classes: 1000, small: MNIST },
    Entry { name: "resnet50", build: resnet::resnet50, input: IMAGENET, classes: 1000, small: MNIST },
    Entry { name: "densenet121", build: densenet::densenet121, input: IMAGENET, classes: 1000, small: CIFAR },
    Entry { name: "resnext50_32x4d", build: resnet::resnext50_32x4d, input: IMAGENET, classes: 1000, small: MNIST },
    Entry { name: "wide_resnet50_2", build: resnet::wide_resnet50_2, input: IMAGENET, classes: 1000, small: MNIST },
    Entry { name: "mobilenet_v2", build: mobilenet::mobilenet_v2, input: IMAGENET, classes: 1000, small: MNIST },
    Entry { name: "squeezenet1_1", build: squeezenet::squeezenet1_1, input: IMAGENET, classes: 1000, small: MNIST },
    Entry { name: "vgg19", build: vgg::vgg19, input: IMAGENET, classes: 1000, small: CIFAR },
    Entry { name: "resnet152", build: resnet::resnet152, input: IMAGENET, classes: 1000, small: MNIST },
    Entry { name: "squeezenet1_0", build: squeezenet::squeezenet1_0, input: IMAGENET, classes: 1000, small: CIFAR },
    Entry { name: "zfnet", build: vgg::zfnet, input: IMAGENET, classes: 1000, small: [3, 64, 64] },
    Entry { name: "efficientnet_b0", build: efficientnet::efficientnet_b0, input: IMAGENET, classes: 1000, small: MNIST },
];

const NAMES: &[&str] = &[
    "lenet5",
    "alexnet",
    "vgg16",
    "googlenet",
    "resnet18",
    "resnet50",
    "densenet121",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "mobilenet_v2",
    "squeezenet1_1",
    "vgg19",
    "resnet152",
    "squeezenet1_0",
    "zfnet",
    "efficientnet_b0",
];

/// The names of all zoo networks, in table order.
pub fn names() -> &'static [&'static str] {
    NAMES
}

fn entry(name: &str) -> Result<&'static Entry> {
    ZOO.iter()
        .find(|e| e.name == name)
        .ok_or_else(|| Error::UnknownZoo {
            name: name.to_string(),
            known: NAMES.join(", "),
        })
}

/// The graph of zoo net `name` for images of shape `input` (C, H, W) and `classes` outputs.
pub fn build(name: &str, input: [usize; 3], classes: usize) -> Result<Graph> {
    let entry = entry(name)?;
    retarget::build_checked(entry.name, entry.build, input, classes)
}

/// The input shape and class count the net was defined for (ImageNet's, MNIST's for LeNet-5).
pub fn standard_input(name: &str) -> Result<([usize; 3], usize)> {
    entry(name).map(|e| (e.input, e.classes))
}

/// A small input the net builds at (1x28x28 where the net's down-sampling allows it).
pub fn small_input(name: &str) -> Result<[usize; 3]> {
    entry(name).map(|e| e.small)
}
