//! Lowering: an [`Architecture`] becomes an op [`Graph`]. The node names chosen here
//! (`stage1.cell2.a.conv`, ...) are the parameter paths of the child net and of exported code.

use super::architecture::{Architecture, Block, Reduce};
use super::check::MAX_NODES;
use crate::error::{Error, Result};
use crate::graph::{Conv, Graph, NodeId, Op, Pool};

impl Architecture {
    /// The op graph of this architecture.
    pub fn lower(&self) -> Result<Graph> {
        let refuse = |msg: String| Error::Arch { path: None, msg };
        self.check().map_err(refuse)?;
        let mut g = Graph::new(format!("arch-{}", self.hash()), self.input);
        let stem = Conv::same(self.stem.channels, self.stem.kernel);
        let mut x = g.conv_bn_relu("stem", 0, stem)?;
        let mut last_dense = false;
        for (s, stage) in self.stages.iter().enumerate() {
            let prefix = format!("stage{}", s + 1);
            x = reduce(
                &mut g,
                &format!("{prefix}.reduce"),
                x,
                stage.reduce,
                stage.channels,
            )?;
            let mut anchors = vec![x];
            for (j, cell) in stage.cells.iter().enumerate() {
                // Skips in canonical order, so the net is the one its hash and JSON describe.
                let mut skips = cell.skips.clone();
                skips.sort_unstable();
                let mut inputs = vec![anchors[j]];
                inputs.extend(skips.iter().map(|&k| anchors[k]));
                let input = g.concat(&inputs)?;
                let name = format!("{prefix}.cell{}", j + 1);
                let out = block(&mut g, &name, input, &cell.block)?;
                anchors.push(out);
                last_dense = pre_activated(&cell.block);
                if g.nodes.len() > MAX_NODES {
                    return Err(refuse(format!(
                        "more than {MAX_NODES} graph nodes by `stages[{s}].cells[{j}]`: too large a network"
                    )));
                }
            }
            x = *anchors.last().expect("anchors start with the stage input");
        }
        if last_dense {
            // Dense layers and preact cells end on a conv or a sum: BN and ReLU still to come.
            x = g.bn("head.bn", x)?;
            x = g.relu(x)?;
        }
        x = g.unary(Op::GlobalAvgPool, x)?;
        if self.dropout > 0.0 {
            x = g.unary(Op::Dropout { p: self.dropout }, x)?;
        }
        g.linear("classifier", x, self.classes)?;
        Ok(g)
    }
}

fn reduce(g: &mut Graph, name: &str, x: NodeId, how: Option<Reduce>, ch: usize) -> Result<NodeId> {
    match how {
        None => Ok(x),
        Some(Reduce::Conv) => g.conv_bn_relu(name, x, Conv::same(ch, 3).stride(2)),
        Some(Reduce::MaxPool) => g.max_pool(x, Pool::new(2, 2)),
        // the first cell strides
        Some(Reduce::Stride) => Ok(x),
        Some(Reduce::Transition) => {
            let x = g.bn(format!("{name}.bn"), x)?;
            let x = g.relu(x)?;
            let x = g.conv(format!("{name}.conv"), x, Conv::same(ch, 1))?;
            g.avg_pool(x, Pool::new(2, 2))
        }
    }
}

/// Lowers one cell whose (possibly concatenated) input is `x`.
pub(crate) fn block(g: &mut Graph, name: &str, x: NodeId, block: &Block) -> Result<NodeId> {
    match *block {
        Block::Residual {
            kernel,
            out,
            preact: true,
        } => {
            let h = bn_relu(g, &format!("{name}.a"), x)?;
            let a = g.conv(format!("{name}.a.conv"), h, Conv::same(out, kernel))?;
            let a = bn_relu(g, &format!("{name}.b"), a)?;
            let b = g.conv(format!("{name}.b.conv"), a, Conv::same(out, kernel))?;
            preact_residual(g, name, (x, h), b, out)
        }
        Block::Bottleneck {
            kernel,
            out,
            expansion,
            groups,
            preact: true,
        } => {
            let mid = bottleneck_width(out, expansion, groups);
            let h = bn_relu(g, &format!("{name}.reduce"), x)?;
            let a = g.conv(format!("{name}.reduce.conv"), h, Conv::same(mid, 1))?;
            let a = bn_relu(g, &format!("{name}.conv"), a)?;
            let mid_conv = Conv::same(mid, kernel).groups(groups);
            let b = g.conv(format!("{name}.conv.conv"), a, mid_conv)?;
            let b = bn_relu(g, &format!("{name}.expand"), b)?;
            let c = g.conv(format!("{name}.expand.conv"), b, Conv::same(out, 1))?;
            preact_residual(g, name, (x, h), c, out)
        }
        Block::Residual { kernel, out, .. } => {
            let a = g.conv_bn_relu(&format!("{name}.a"), x, Conv::same(out, kernel))?;
            let b = g.conv_bn(&format!("{name}.b"), a, Conv::same(out, kernel))?;
            residual(g, name, x, b, out)
        }
        Block::Bottleneck {
            kernel,
            out,
            expansion,
            groups,
            ..
        } => {
            let mid = bottleneck_width(out, expansion, groups);
            let a = g.conv_bn_relu(&format!("{name}.reduce"), x, Conv::same(mid, 1))?;
            let mid_conv = Conv::same(mid, kernel).groups(groups);
            let b = g.conv_bn_relu(&format!("{name}.conv"), a, mid_conv)?;
            let c = g.conv_bn(&format!("{name}.expand"), b, Conv::same(out, 1))?;
            residual(g, name, x, c, out)
        }
        Block::Inception {
            kernel,
            out,
            branches,
        } => inception(g, name, x, kernel, out, branches),
        Block::Dense {
            kernel,
            growth,
            layers,
        } => {
            let mut features = vec![x];
            for l in 1..=layers {
                let p = format!("{name}.layer{l}");
                let input = g.concat(&features)?;
                let h = g.bn(format!("{p}.bn1"), input)?;
                let h = g.relu(h)?;
                let h = g.conv(format!("{p}.conv1"), h, Conv::same(4 * growth, 1))?;
                let h = g.bn(format!("{p}.bn2"), h)?;
                let h = g.relu(h)?;
                let h = g.conv(format!("{p}.conv2"), h, Conv::same(growth, kernel))?;
                features.push(h);
            }
            g.concat(&features)
        }
        Block::Fire {
            kernel,
            squeeze,
            expand1,
            expand3,
        } => {
            let s = g.conv_bn_relu(&format!("{name}.squeeze"), x, Conv::same(squeeze, 1))?;
            let e1 = g.conv_bn_relu(&format!("{name}.expand1"), s, Conv::same(expand1, 1))?;
            let e3 = Conv::same(expand3, kernel);
            let e3 = g.conv_bn_relu(&format!("{name}.expand3"), s, e3)?;
            g.concat(&[e1, e3])
        }
        Block::Fractal {
            kernel,
            out,
            columns,
        } => fractal(g, name, x, Conv::same(out, kernel), columns),
        Block::Mobile {
            kernel,
            out,
            expansion,
            se,
            stride,
        } => mobile(g, name, x, (kernel, out, expansion, se, stride)),
    }
}

/// FractalNet's local drop-path rate at every join (Larsson et al. 2017 train with 0.15).
pub const FRACTAL_DROP: f32 = 0.15;

/// The fractal expansion of `columns` columns, unrolled: at step `t` of 2^(columns-1), every
/// column whose unit ends there (column c, from 0, has a unit every 2^(columns-1-c) steps)
/// applies it, and their outputs are joined to be all their next input.
fn fractal(g: &mut Graph, name: &str, x: NodeId, conv: Conv, columns: usize) -> Result<NodeId> {
    let depth = 1usize << (columns - 1);
    let mut next = vec![x; columns];
    for t in 1..=depth {
        let ending: Vec<usize> = (0..columns).filter(|&c| t % (depth >> c) == 0).collect();
        let mut outs = Vec::with_capacity(ending.len());
        for &c in &ending {
            let unit = format!("{name}.column{}.unit{}", c + 1, t / (depth >> c));
            outs.push(g.conv_bn_relu(&unit, next[c], conv)?);
        }
        let joined = match outs.as_slice() {
            [one] => *one,
            _ => g.push(
                format!("{name}.join{t}"),
                Op::Join { p: FRACTAL_DROP },
                &outs,
            )?,
        };
        ending.iter().for_each(|&c| next[c] = joined);
    }
    Ok(next[0])
}

/// Whether a cell's output still lacks its batch norm and ReLU (DenseNet, ResNet v2).
fn pre_activated(block: &Block) -> bool {
    match *block {
        Block::Dense { .. } => true,
        Block::Residual { preact, .. } | Block::Bottleneck { preact, .. } => preact,
        _ => false,
    }
}

/// Batch norm at `prefix.bn` and a ReLU: the pre-activation of ResNet v2.
fn bn_relu(g: &mut Graph, prefix: &str, x: NodeId) -> Result<NodeId> {
    let x = g.bn(format!("{prefix}.bn"), x)?;
    g.relu(x)
}

/// ResNet v2's sum: the identity, or a 1x1 conv of the pre-activated input `x.1` when widths
/// differ, plus the body; no ReLU after it.
fn preact_residual(
    g: &mut Graph,
    name: &str,
    x: (NodeId, NodeId),
    body: NodeId,
    out: usize,
) -> Result<NodeId> {
    let shortcut = if g.shape(x.0).channels() == out {
        x.0
    } else {
        g.conv(format!("{name}.proj.conv"), x.1, Conv::same(out, 1))?
    };
    g.push(format!("{name}.add"), Op::Add, &[body, shortcut])
}

/// EfficientNet's MBConv (torchvision's `MBConv`), SiLU throughout; the squeeze width is a
/// quarter of the cell's input, as there.
fn mobile(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    (kernel, out, expansion, se, stride): (usize, usize, usize, bool, usize),
) -> Result<NodeId> {
    let in_ch = g.shape(x).channels();
    let mid = in_ch * expansion;
    let mut h = x;
    if expansion != 1 {
        h = g.conv_bn(&format!("{name}.expand"), h, Conv::same(mid, 1))?;
        h = g.unary(Op::Silu, h)?;
    }
    let depthwise = Conv::same(mid, kernel).stride(stride).groups(mid);
    h = g.conv_bn(&format!("{name}.dw"), h, depthwise)?;
    h = g.unary(Op::Silu, h)?;
    if se {
        h = squeeze_excite(g, &format!("{name}.se"), h, (in_ch / 4).max(1))?;
    }
    let y = g.conv_bn(&format!("{name}.project"), h, Conv::same(out, 1))?;
    if stride == 1 && in_ch == out {
        // named, as residual sums are, so that stochastic depth drops the body
        return g.push(format!("{name}.add"), Op::Add, &[y, x]);
    }
    Ok(y)
}

/// torchvision's `SqueezeExcitation` with SiLU: average to 1x1, 1x1 conv to `squeeze` (`fc1`),
/// SiLU, 1x1 conv back (`fc2`), sigmoid, and the map scaled channel by channel.
pub(crate) fn squeeze_excite(
    g: &mut Graph,
    prefix: &str,
    x: NodeId,
    squeeze: usize,
) -> Result<NodeId> {
    let ch = g.shape(x).channels();
    let s = g.unary(Op::AdaptiveAvgPool { size: 1 }, x)?;
    let s = g.conv(
        format!("{prefix}.fc1"),
        s,
        Conv::same(squeeze, 1).bias(true),
    )?;
    let s = g.unary(Op::Silu, s)?;
    let s = g.conv(format!("{prefix}.fc2"), s, Conv::same(ch, 1).bias(true))?;
    let s = g.unary(Op::Sigmoid, s)?;
    g.push(format!("scale{}", g.nodes.len()), Op::Scale, &[x, s])
}

/// Adds the shortcut (identity, or 1x1 conv + BN when widths differ) and the final ReLU.
fn residual(g: &mut Graph, name: &str, x: NodeId, body: NodeId, out: usize) -> Result<NodeId> {
    let shortcut = if g.shape(x).channels() == out {
        x
    } else {
        g.conv_bn(&format!("{name}.proj"), x, Conv::same(out, 1))?
    };
    // Named, so that stochastic depth can find the sums that have a branch to drop.
    let sum = g.push(format!("{name}.add"), Op::Add, &[body, shortcut])?;
    g.relu(sum)
}

/// Inner width of a bottleneck: `out / expansion`, a multiple of `groups`, at least `groups`.
pub fn bottleneck_width(out: usize, expansion: usize, groups: usize) -> usize {
    ((out / expansion.max(1)) / groups * groups).max(groups)
}

/// Output widths of the first `branches` inception branches, summing to `out`.
pub fn inception_widths(out: usize, branches: usize) -> Vec<usize> {
    let base = out / branches;
    (0..branches)
        .map(|i| {
            if i + 1 == branches {
                out - base * (branches - 1)
            } else {
                base
            }
        })
        .collect()
}

fn inception(
    g: &mut Graph,
    name: &str,
    x: NodeId,
    kernel: usize,
    out: usize,
    branches: usize,
) -> Result<NodeId> {
    let widths = inception_widths(out, branches);
    let mut outs = Vec::with_capacity(branches);
    for (i, &w) in widths.iter().enumerate() {
        let p = format!("{name}.branch{}", i + 1);
        let reduced = (w / 2).max(1);
        let y = match i {
            0 => g.conv_bn_relu(&p, x, Conv::same(w, 1))?,
            1 => {
                let r = g.conv_bn_relu(&format!("{p}.reduce"), x, Conv::same(reduced, 1))?;
                g.conv_bn_relu(&format!("{p}.k"), r, Conv::same(w, kernel))?
            }
            2 => {
                let pool = Pool {
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    ceil: false,
                };
                let pooled = g.max_pool(x, pool)?;
                g.conv_bn_relu(&p, pooled, Conv::same(w, 1))?
            }
            _ => {
                let r = g.conv_bn_relu(&format!("{p}.reduce"), x, Conv::same(reduced, 1))?;
                let k1 = g.conv_bn_relu(&format!("{p}.k1"), r, Conv::same(w, kernel))?;
                g.conv_bn_relu(&format!("{p}.k2"), k1, Conv::same(w, kernel))?
            }
        };
        outs.push(y);
    }
    g.concat(&outs)
}
