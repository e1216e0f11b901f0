//! Running zoo nets at inputs they were not defined for. Two rules, both chosen so that a net
//! at its standard input is exactly torchvision's:
//!
//! - AlexNet has torchvision's `AdaptiveAvgPool2d((6, 6))` as an op, exact at any input. The
//!   `AdaptiveAvgPool2d((7, 7))` before VGG's classifier (and ZFNet's 6x6, after AlexNet's)
//!   is the identity at 224x224. Elsewhere, a square map whose side is a multiple
//!   of the target is average-pooled to the target (what the adaptive pool does there too);
//!   any other map is flattened as it is and the first linear layer is sized from it. LeNet-5,
//!   which has no such pool, always sizes its first linear layer from the map it gets.
//! - A net whose down-sampling would shrink the input below 1x1 is refused with
//!   `Error::Invalid` naming the net and the smallest square input it takes (e.g. AlexNet
//!   needs 63x63); nothing is silently changed in the stem.

use super::Builder;
use crate::error::{Error, Result};
use crate::graph::{check_input, Graph, NodeId, Op, Pool, Shape};

/// Largest side searched for when working out a net's minimum input.
const MAX_SIDE: usize = 1024;

/// Builds `name`, turning a shape failure into an error that gives the smallest input that works.
pub(super) fn build_checked(
    name: &str,
    build: Builder,
    input: [usize; 3],
    classes: usize,
) -> Result<Graph> {
    let [c, h, w] = input;
    check_input(&format!("input for {name}"), input, classes)?;
    let err = match build(input, classes) {
        Ok(graph) => return graph.validate().map(|()| graph),
        Err(err @ Error::Graph { .. }) => err,
        Err(other) => return Err(other),
    };
    match min_side(build, c, h.min(w), classes) {
        Some(min) => Err(Error::invalid(
            format!("input {c}x{h}x{w} for {name}"),
            format!(
                "its down-sampling shrinks the feature map below 1x1 ({err}); \
                 the smallest input {name} takes is {min}x{min}"
            ),
        )),
        None => Err(err),
    }
}

/// The smallest square side above `failed` that builds, by bisection (output sizes only grow
/// with the input, so whether a side builds is monotonic).
fn min_side(build: Builder, c: usize, failed: usize, classes: usize) -> Option<usize> {
    let works = |side: usize| build([c, side, side], classes).is_ok();
    let (mut bad, mut good) = (failed, MAX_SIDE);
    if !works(good) {
        return None;
    }
    while good - bad > 1 {
        let mid = bad + (good - bad) / 2;
        if works(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(good)
}

/// torchvision's `AdaptiveAvgPool2d((target, target))` where it is a plain pooling (see the
/// module docs), followed by the flatten before the classifier.
pub(super) fn adaptive_flatten(g: &mut Graph, x: NodeId, target: usize) -> Result<NodeId> {
    let x = match g.shape(x) {
        Shape::Map([_, h, w]) if h == w && h != target && h % target == 0 => {
            g.avg_pool(x, Pool::new(h / target, h / target))?
        }
        _ => x,
    };
    g.unary(Op::Flatten, x)
}
