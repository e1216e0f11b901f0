//! Where each parameter of a child lives in the shared network.
//!
//! Every value a child computes is a list of segments, each a run of channels of one feature
//! source (the stem's output, a cell's first convolution, a residual sum, ...) named for the
//! node that made it. A convolution, batch norm or linear layer keeps one shared block per
//! input source it has ever read, so its weights for an input do not depend on which other
//! inputs a cell happens to concatenate (ENAS's macro space does the same for skip inputs).
//! Within a block, a child takes the leading output channels and the leading channels of each
//! input source (slimmable / Once-for-All), and a kernel either the centre of the largest or
//! its own block; a grouped convolution takes the block-diagonal part of the dense weight.

use super::blocks::{Block, Blocks, Init};
use super::config::KernelSharing;
use super::extents::Extents;
use crate::error::{Error, Result};
use crate::graph::{Conv, Graph, Node, Op, Shape};

/// A run of `len` values at `child` in a child's parameter and at `offset` in block `block`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Run {
    pub child: usize,
    pub block: usize,
    pub offset: usize,
    pub len: usize,
}

/// One parameter of a child: its `VarBuilder` name, shape, and where its values live.
#[derive(Clone, Debug)]
pub(super) struct ParamPlan {
    pub name: String,
    pub shape: Vec<usize>,
    pub runs: Vec<Run>,
}

/// A child's view of the shared network.
#[derive(Clone, Debug, Default)]
pub(super) struct ChildPlan {
    pub params: Vec<ParamPlan>,
    /// Batch norms (name, channels): their running statistics are not shared (a shared
    /// network's statistics fit no child), so every child gets fresh ones.
    pub norms: Vec<(String, usize)>,
}

/// A run of channels of one source: `len` of at most `max`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    key: String,
    len: usize,
    max: usize,
}

/// Builds the plan of `graph`, creating the blocks it needs.
pub(super) fn plan(
    graph: &Graph,
    extents: &Extents,
    sharing: KernelSharing,
    blocks: &mut Blocks,
) -> Result<ChildPlan> {
    let mut planner = Planner {
        graph,
        extents,
        sharing,
        blocks,
        last_cell: last_cells(graph),
        plan: ChildPlan::default(),
    };
    let mut layouts: Vec<Vec<Segment>> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let layout = planner.node(node, &layouts)?;
        check(node, &layout)?;
        layouts.push(layout);
    }
    Ok(planner.plan)
}

struct Planner<'a> {
    graph: &'a Graph,
    extents: &'a Extents,
    sharing: KernelSharing,
    blocks: &'a mut Blocks,
    /// Per stage (from 1), the number of its last cell in this child.
    last_cell: Vec<usize>,
    plan: ChildPlan,
}

impl Planner<'_> {
    /// Plans the parameters of `node` and returns the layout of its value.
    fn node(&mut self, node: &Node, layouts: &[Vec<Segment>]) -> Result<Vec<Segment>> {
        let input = |k: usize| &layouts[node.inputs[k]];
        Ok(match &node.op {
            Op::Input => {
                let c = node.shape.channels();
                vec![segment("input", c, c)]
            }
            Op::Conv(conv) => {
                self.conv(node, conv, &self.seen_from(&node.name, input(0)))?;
                let max = self.extents.out(&node.name)?;
                vec![segment(&node.name, conv.out, max)]
            }
            Op::BatchNorm { .. } => {
                self.norm(node, &self.seen_from(&node.name, input(0)))?;
                input(0).clone()
            }
            Op::Linear { out, bias } => {
                let seen = self.seen_from(&node.name, input(0));
                self.linear(node, *out, *bias, &seen)?;
                let max = self.extents.out(&node.name)?;
                vec![segment(&node.name, *out, max)]
            }
            Op::Relu
            | Op::Relu6
            | Op::MaxPool(_)
            | Op::AvgPool(_)
            | Op::GlobalAvgPool
            | Op::Dropout { .. }
            | Op::DropPath { .. } => input(0).clone(),
            // a mobile cell's widths follow its input's, which no block's extent bounds yet
            Op::Silu | Op::Sigmoid | Op::AdaptiveAvgPool { .. } | Op::Scale => {
                return Err(unsupported(node, "mobile cells are not shared"))
            }
            Op::Flatten => match self.graph.shape(node.inputs[0]) {
                Shape::Flat(_) | Shape::Map([_, 1, 1]) => input(0).clone(),
                Shape::Map(m) => return Err(unsupported(node, &format!("flatten of a {m:?} map"))),
            },
            Op::Concat => {
                // a dense cell's output holds its input, which a skip may bring in again: the
                // second reading of a source is a source of its own
                let mut layout: Vec<Segment> = Vec::new();
                for seg in node.inputs.iter().flat_map(|&i| layouts[i].iter()) {
                    let mut seg = seg.clone();
                    let seen = layout.iter().filter(|s| s.key == seg.key).count();
                    if seen > 0 {
                        seg.key = format!("{}#{}", seg.key, seen + 1);
                    }
                    layout.push(seg);
                }
                layout
            }
            Op::Add | Op::Join { .. } => {
                // a sum is a new source, named after its first input's
                let first = input(0);
                let keys: Vec<&str> = first.iter().map(|s| s.key.as_str()).collect();
                let max = first.iter().map(|s| s.max).sum();
                let key = format!("{}.sum", keys.join("+"));
                vec![segment(&key, node.shape.channels(), max)]
            }
        })
    }

    /// A layout as `consumer` reads it. Outside a stage only its last cell's output is seen,
    /// so there a source is named for its distance from the stage's end (`stage1.last-0.b`),
    /// not for its cell: the next stage and the classifier keep their weights whether the
    /// stage has one cell or three (Once-for-All's elastic depth does the same).
    fn seen_from(&self, consumer: &str, layout: &[Segment]) -> Vec<Segment> {
        let consumer_stage = stage_of(consumer).map(|(s, _)| s);
        layout
            .iter()
            .map(|seg| match stage_of(&seg.key) {
                Some((s, Some((cell, rest)))) if consumer_stage != Some(s) => {
                    let last = self.last_cell.get(s).copied().unwrap_or(cell);
                    let key = format!("stage{s}.last-{}.{rest}", last.saturating_sub(cell));
                    Segment { key, ..seg.clone() }
                }
                _ => seg.clone(),
            })
            .collect()
    }

    /// The kernel-size tag of a block: empty when kernels share, else `@kK`.
    fn tag(&self, kernel: usize) -> String {
        match self.sharing {
            KernelSharing::Centre => String::new(),
            KernelSharing::Own => format!("@k{kernel}"),
        }
    }

    fn conv(&mut self, node: &Node, conv: &Conv, input: &[Segment]) -> Result<()> {
        let k = conv.kernel;
        let full = match self.sharing {
            KernelSharing::Centre => self.extents.kernel(&node.name)?,
            KernelSharing::Own => k,
        };
        let max_out = self.extents.out(&node.name)?;
        let tag = self.tag(k);
        let mut ids = Vec::with_capacity(input.len());
        for seg in input {
            let bound = 1.0 / ((seg.max * full * full) as f64).sqrt();
            let name = format!("{}{tag}|{}", node.name, seg.key);
            let shape = vec![max_out, seg.max, full, full];
            ids.push(
                self.blocks
                    .get_or_create(name, shape, Init::Uniform(bound))?,
            );
        }
        let in_ch: usize = input.iter().map(|s| s.len).sum();
        let (g, out) = (conv.groups, conv.out);
        let (in_g, out_g) = (in_ch / g, out / g);
        let off = (full - k) / 2;
        let mut runs = Vec::new();
        for o in 0..out {
            for il in 0..in_g {
                let (s, idx) = locate(input, (o / out_g) * in_g + il);
                let block = &self.blocks.list[ids[s]];
                for ky in 0..k {
                    let child = ((o * in_g + il) * k + ky) * k;
                    let at = [o, idx, ky + off, off];
                    push_run(&mut runs, child, ids[s], offset(block, &at), k);
                }
            }
        }
        self.push(&node.name, "weight", vec![out, in_g, k, k], runs);
        if conv.bias {
            let name = format!("{}{tag}|bias", node.name);
            let id = self
                .blocks
                .get_or_create(name, vec![max_out], Init::Const(0.0))?;
            self.push(&node.name, "bias", vec![out], vec![run(0, id, 0, out)]);
        }
        Ok(())
    }

    fn norm(&mut self, node: &Node, input: &[Segment]) -> Result<()> {
        let tag = match &self.graph.nodes[node.inputs[0]].op {
            Op::Conv(c) => self.tag(c.kernel),
            _ => String::new(),
        };
        let channels: usize = input.iter().map(|s| s.len).sum();
        for (suffix, value) in [("weight", 1.0), ("bias", 0.0)] {
            let mut runs = Vec::new();
            let mut child = 0;
            for seg in input {
                let name = format!("{}{tag}|{}|{suffix}", node.name, seg.key);
                let id = self
                    .blocks
                    .get_or_create(name, vec![seg.max], Init::Const(value))?;
                runs.push(run(child, id, 0, seg.len));
                child += seg.len;
            }
            self.push(&node.name, suffix, vec![channels], runs);
        }
        self.plan.norms.push((node.name.clone(), channels));
        Ok(())
    }

    fn linear(&mut self, node: &Node, out: usize, bias: bool, input: &[Segment]) -> Result<()> {
        let max_out = self.extents.out(&node.name)?;
        let in_ch: usize = input.iter().map(|s| s.len).sum();
        let mut runs = Vec::new();
        let mut ids = Vec::with_capacity(input.len());
        for seg in input {
            let bound = 1.0 / (seg.max as f64).sqrt();
            let name = format!("{}|{}", node.name, seg.key);
            let shape = vec![max_out, seg.max];
            ids.push(
                self.blocks
                    .get_or_create(name, shape, Init::Uniform(bound))?,
            );
        }
        for o in 0..out {
            let mut child = o * in_ch;
            for (seg, &id) in input.iter().zip(&ids) {
                runs.push(run(child, id, o * seg.max, seg.len));
                child += seg.len;
            }
        }
        self.push(&node.name, "weight", vec![out, in_ch], runs);
        if bias {
            let name = format!("{}|bias", node.name);
            let id = self
                .blocks
                .get_or_create(name, vec![max_out], Init::Const(0.0))?;
            self.push(&node.name, "bias", vec![out], vec![run(0, id, 0, out)]);
        }
        Ok(())
    }

    fn push(&mut self, node: &str, suffix: &str, shape: Vec<usize>, runs: Vec<Run>) {
        self.plan.params.push(ParamPlan {
            name: format!("{node}.{suffix}"),
            shape,
            runs,
        });
    }
}

fn segment(key: &str, len: usize, max: usize) -> Segment {
    Segment {
        key: key.to_string(),
        len,
        max,
    }
}

fn run(child: usize, block: usize, offset: usize, len: usize) -> Run {
    Run {
        child,
        block,
        offset,
        len,
    }
}

/// Appends a run, merging it into the last one when both are contiguous.
fn push_run(runs: &mut Vec<Run>, child: usize, block: usize, offset: usize, len: usize) {
    if let Some(last) = runs.last_mut() {
        if last.block == block && last.child + last.len == child && last.offset + last.len == offset
        {
            last.len += len;
            return;
        }
    }
    runs.push(run(child, block, offset, len));
}

/// Row-major offset of index `at` in `block`.
fn offset(block: &Block, at: &[usize]) -> usize {
    at.iter()
        .zip(&block.shape)
        .fold(0, |acc, (&i, &dim)| acc * dim + i)
}

/// The segment holding channel `c` of a layout, and the channel's index within it.
fn locate(layout: &[Segment], mut c: usize) -> (usize, usize) {
    for (i, seg) in layout.iter().enumerate() {
        if c < seg.len {
            return (i, c);
        }
        c -= seg.len;
    }
    unreachable!("channel beyond the layout")
}

/// `stageS.cellJ.rest` as `(S, Some((J, rest)))`, `stageS.rest` as `(S, None)`.
fn stage_of(name: &str) -> Option<(usize, Option<(usize, &str)>)> {
    let rest = name.strip_prefix("stage")?;
    let (stage, rest) = rest.split_once('.')?;
    let stage = stage.parse().ok()?;
    let cell = rest.strip_prefix("cell").and_then(|r| {
        let (cell, rest) = r.split_once('.')?;
        Some((cell.parse().ok()?, rest))
    });
    Some((stage, cell))
}

/// The number of the last cell of each stage (index = stage number; 0 where none).
fn last_cells(graph: &Graph) -> Vec<usize> {
    let mut last = Vec::new();
    for node in &graph.nodes {
        if let Some((stage, Some((cell, _)))) = stage_of(&node.name) {
            if last.len() <= stage {
                last.resize(stage + 1, 0);
            }
            last[stage] = last[stage].max(cell);
        }
    }
    last
}

/// A layout must name each source once and fit its blocks.
fn check(node: &Node, layout: &[Segment]) -> Result<()> {
    for (i, seg) in layout.iter().enumerate() {
        if seg.len > seg.max {
            return Err(unsupported(
                node,
                &format!("{} channels of `{}`, at most {}", seg.len, seg.key, seg.max),
            ));
        }
        if layout[..i].iter().any(|s| s.key == seg.key) {
            return Err(unsupported(node, &format!("`{}` read twice", seg.key)));
        }
    }
    Ok(())
}

fn unsupported(node: &Node, what: &str) -> Error {
    Error::Graph {
        node: node.name.clone(),
        msg: format!("the shared network cannot hold this node: {what}"),
    }
}
