//! The op graph: a topologically ordered list of named nodes with their inferred shapes.
//! Shapes are inferred as nodes are pushed, so a graph that exists is a graph whose shapes fit,
//! and parameter and MAC counts come from it without allocating a tensor.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::op::{Conv, Op, Pool, BN_EPS};
use crate::error::{Error, Result};

/// Shape of one example (no batch dimension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Shape {
    /// A feature map: channels, height, width.
    Map([usize; 3]),
    /// A flat feature vector.
    Flat(usize),
}

impl Shape {
    /// Number of scalars in one example (saturating: a count too big for `usize` is refused
    /// wherever it matters, never wrapped).
    pub fn numel(&self) -> usize {
        match self {
            Shape::Map([c, h, w]) => c.saturating_mul(*h).saturating_mul(*w),
            Shape::Flat(n) => *n,
        }
    }

    /// Channel count of a map, length of a vector.
    pub fn channels(&self) -> usize {
        match self {
            Shape::Map([c, _, _]) => *c,
            Shape::Flat(n) => *n,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Map([c, h, w]) => write!(f, "{c}x{h}x{w}"),
            Shape::Flat(n) => write!(f, "{n}"),
        }
    }
}

/// Node index inside a graph.
pub type NodeId = usize;

/// One node: an op applied to earlier nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The `VarBuilder` path of the node's parameters (unique among nodes with parameters).
    pub name: String,
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub shape: Shape,
}

/// A whole network: node 0 is the input, the last node is the output (logits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
}

impl Graph {
    /// A graph holding only its input node, for images of shape `input` (C, H, W).
    pub fn new(name: impl Into<String>, input: [usize; 3]) -> Self {
        let input_node = Node {
            name: "input".into(),
            op: Op::Input,
            inputs: vec![],
            shape: Shape::Map(input),
        };
        Graph {
            name: name.into(),
            nodes: vec![input_node],
        }
    }

    /// The input shape (C, H, W).
    pub fn input(&self) -> [usize; 3] {
        match self.nodes[0].shape {
            Shape::Map(s) => s,
            Shape::Flat(n) => [n, 1, 1],
        }
    }

    /// The node whose value is the network's output.
    pub fn output(&self) -> NodeId {
        self.nodes.len() - 1
    }

    /// Number of classes: the length of the output vector.
    pub fn classes(&self) -> usize {
        self.nodes[self.output()].shape.channels()
    }

    /// Shape of a node's output.
    pub fn shape(&self, id: NodeId) -> Shape {
        self.nodes[id].shape
    }

    /// Appends a node after checking that its inputs exist and their shapes fit the op.
    pub fn push(&mut self, name: impl Into<String>, op: Op, inputs: &[NodeId]) -> Result<NodeId> {
        let name = name.into();
        let fail = |msg: String| Error::Graph {
            node: name.clone(),
            msg,
        };
        if let Some(bad) = inputs.iter().find(|&&i| i >= self.nodes.len()) {
            return Err(fail(format!("input {bad} does not exist yet")));
        }
        let arity_ok = match op {
            Op::Input => false,
            Op::Concat | Op::Add | Op::Join { .. } => !inputs.is_empty(),
            Op::Scale => inputs.len() == 2,
            _ => inputs.len() == 1,
        };
        if !arity_ok {
            return Err(fail(format!(
                "{} cannot take {} inputs",
                op.kind(),
                inputs.len()
            )));
        }
        if op.has_params()
            && self
                .nodes
                .iter()
                .any(|n| n.op.has_params() && n.name == name)
        {
            return Err(fail("another node with parameters has this name".into()));
        }
        let shapes: Vec<Shape> = inputs.iter().map(|&i| self.nodes[i].shape).collect();
        let shape = infer(&op, &shapes).map_err(fail)?;
        self.nodes.push(Node {
            name,
            op,
            inputs: inputs.to_vec(),
            shape,
        });
        Ok(self.nodes.len() - 1)
    }

    /// A node name for an op without parameters, unique within the graph.
    fn auto_name(&self, kind: &str) -> String {
        format!("{kind}{}", self.nodes.len())
    }

    /// Convolution at path `name`.
    pub fn conv(&mut self, name: impl Into<String>, x: NodeId, conv: Conv) -> Result<NodeId> {
        self.push(name, Op::Conv(conv), &[x])
    }

    /// Batch norm at path `name`, with PyTorch's default eps.
    pub fn bn(&mut self, name: impl Into<String>, x: NodeId) -> Result<NodeId> {
        self.bn_eps(name, x, BN_EPS)
    }

    /// Batch norm at path `name` with the given eps.
    pub fn bn_eps(&mut self, name: impl Into<String>, x: NodeId, eps: f64) -> Result<NodeId> {
        self.push(name, Op::BatchNorm { eps }, &[x])
    }

    /// Fully connected layer at path `name`.
    pub fn linear(&mut self, name: impl Into<String>, x: NodeId, out: usize) -> Result<NodeId> {
        self.push(name, Op::Linear { out, bias: true }, &[x])
    }

    /// A parameter-free op on one input.
    pub fn unary(&mut self, op: Op, x: NodeId) -> Result<NodeId> {
        self.push(self.auto_name(op.kind()), op, &[x])
    }

    /// ReLU.
    pub fn relu(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(Op::Relu, x)
    }

    /// Max pooling.
    pub fn max_pool(&mut self, x: NodeId, pool: Pool) -> Result<NodeId> {
        self.unary(Op::MaxPool(pool), x)
    }

    /// Average pooling.
    pub fn avg_pool(&mut self, x: NodeId, pool: Pool) -> Result<NodeId> {
        self.unary(Op::AvgPool(pool), x)
    }

    /// Channel concatenation (a single input passes through unchanged).
    pub fn concat(&mut self, xs: &[NodeId]) -> Result<NodeId> {
        if let [x] = xs {
            return Ok(*x);
        }
        self.push(self.auto_name("concat"), Op::Concat, xs)
    }

    /// Element-wise sum.
    pub fn add(&mut self, xs: &[NodeId]) -> Result<NodeId> {
        self.push(self.auto_name("add"), Op::Add, xs)
    }

    /// Conv, batch norm and ReLU at `prefix.conv` and `prefix.bn`: the unit most nets repeat.
    pub fn conv_bn_relu(&mut self, prefix: &str, x: NodeId, conv: Conv) -> Result<NodeId> {
        let x = self.conv_bn(prefix, x, conv)?;
        self.relu(x)
    }

    /// Conv and batch norm at `prefix.conv` and `prefix.bn`.
    pub fn conv_bn(&mut self, prefix: &str, x: NodeId, conv: Conv) -> Result<NodeId> {
        let x = self.conv(format!("{prefix}.conv"), x, conv)?;
        self.bn(format!("{prefix}.bn"), x)
    }

    /// Learned parameters of one node, counted as torchvision counts them (no BN buffers).
    /// Counts saturate at `u64::MAX` rather than wrap, so a net too big to count is too big for
    /// any limit.
    pub fn node_params(&self, id: NodeId) -> u64 {
        let node = &self.nodes[id];
        let input = node.inputs.first().map(|&i| self.nodes[i].shape);
        let in_ch = input.map(|s| s.channels()).unwrap_or(0) as u64;
        match node.op {
            Op::Conv(c) => {
                let k = (c.kernel as u64).saturating_mul(c.kernel as u64);
                let bias = if c.bias { c.out as u64 } else { 0 };
                product(&[c.out as u64, in_ch / c.groups.max(1) as u64, k]).saturating_add(bias)
            }
            Op::BatchNorm { .. } => in_ch.saturating_mul(2),
            Op::Linear { out, bias } => {
                let bias = if bias { out as u64 } else { 0 };
                in_ch.saturating_mul(out as u64).saturating_add(bias)
            }
            _ => 0,
        }
    }

    /// Multiply-accumulates of one node for one example; only convolutions and linear layers
    /// count. Saturating, as [`Graph::node_params`].
    pub fn node_macs(&self, id: NodeId) -> u64 {
        let node = &self.nodes[id];
        let in_ch = |n: &Node| self.nodes[n.inputs[0]].shape.channels() as u64;
        match (&node.op, node.shape) {
            (Op::Conv(c), Shape::Map([_, h, w])) => product(&[
                c.out as u64,
                h as u64,
                w as u64,
                in_ch(node) / c.groups.max(1) as u64,
                c.kernel as u64,
                c.kernel as u64,
            ]),
            (Op::Linear { out, .. }, _) => in_ch(node).saturating_mul(*out as u64),
            _ => 0,
        }
    }

    /// Learned parameters of the whole net.
    pub fn params(&self) -> u64 {
        (0..self.nodes.len()).fold(0, |sum, i| sum.saturating_add(self.node_params(i)))
    }

    /// Conv and linear multiply-accumulates of one forward pass on one example.
    pub fn macs(&self) -> u64 {
        (0..self.nodes.len()).fold(0, |sum, i| sum.saturating_add(self.node_macs(i)))
    }

    /// Checks invariants that `push` cannot see: unique parameter paths, a flat output.
    pub fn validate(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for node in self.nodes.iter().filter(|n| n.op.has_params()) {
            if !seen.insert(node.name.as_str()) {
                return Err(Error::Graph {
                    node: node.name.clone(),
                    msg: "duplicate parameter path".into(),
                });
            }
        }
        match self.nodes[self.output()].shape {
            Shape::Flat(_) => Ok(()),
            other => Err(Error::Graph {
                node: self.nodes[self.output()].name.clone(),
                msg: format!("the output must be a vector of logits, not a {other} map"),
            }),
        }
    }
}

/// The product of `factors`, saturating at `u64::MAX`.
fn product(factors: &[u64]) -> u64 {
    factors.iter().fold(1u64, |p, &f| p.saturating_mul(f))
}

/// Output shape of `op` applied to inputs of `shapes`, or why it cannot be applied.
fn infer(op: &Op, shapes: &[Shape]) -> std::result::Result<Shape, String> {
    let map = |s: &Shape| match s {
        Shape::Map(m) => Ok(*m),
        Shape::Flat(n) => Err(format!("needs a feature map, got a vector of {n}")),
    };
    match op {
        Op::Input => Err("input nodes are created by Graph::new".into()),
        Op::Conv(c) => {
            let [ch, h, w] = map(&shapes[0])?;
            if c.kernel == 0 || c.stride == 0 || c.dilation == 0 || c.groups == 0 || c.out == 0 {
                return Err(format!("zero in conv settings {c:?}"));
            }
            if ch % c.groups != 0 || c.out % c.groups != 0 {
                return Err(format!(
                    "groups {} must divide input channels {ch} and output channels {}",
                    c.groups, c.out
                ));
            }
            let too_big = || format!("conv settings {c:?} are too large");
            let reach = c
                .dilation
                .checked_mul(c.kernel - 1)
                .and_then(|r| r.checked_add(1))
                .ok_or_else(too_big)?;
            let out_len = |len: usize| {
                let padded = c
                    .padding
                    .checked_mul(2)
                    .and_then(|p| p.checked_add(len))
                    .ok_or_else(too_big)?;
                padded
                    .checked_sub(reach)
                    .map(|span| span / c.stride + 1)
                    .ok_or_else(|| format!("kernel {} does not fit input {len}", c.kernel))
            };
            Ok(Shape::Map([c.out, out_len(h)?, out_len(w)?]))
        }
        Op::BatchNorm { .. } => Ok(Shape::Map(map(&shapes[0])?)),
        Op::Relu | Op::Relu6 | Op::Dropout { .. } | Op::DropPath { .. } => Ok(shapes[0]),
        Op::MaxPool(p) | Op::AvgPool(p) => {
            let [ch, h, w] = map(&shapes[0])?;
            if matches!(op, Op::AvgPool(_)) && p.ceil {
                return Err("average pooling in ceil mode is not supported".into());
            }
            if p.padding > p.kernel / 2 {
                return Err(format!(
                    "padding {} exceeds half the kernel {}",
                    p.padding, p.kernel
                ));
            }
            let fit = |len| {
                p.out_len(len)
                    .ok_or_else(|| format!("window {} does not fit input {len}", p.kernel))
            };
            Ok(Shape::Map([ch, fit(h)?, fit(w)?]))
        }
        Op::GlobalAvgPool => Ok(Shape::Flat(map(&shapes[0])?[0])),
        Op::Flatten => Ok(Shape::Flat(shapes[0].numel())),
        Op::Concat => {
            let maps = shapes
                .iter()
                .map(map)
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let [_, h, w] = maps[0];
            if maps.iter().any(|m| m[1] != h || m[2] != w) {
                return Err(format!("concat of maps with different sizes: {shapes:?}"));
            }
            let channels = maps
                .iter()
                .try_fold(0usize, |sum, m| sum.checked_add(m[0]))
                .ok_or_else(|| "concat of too many channels".to_string())?;
            Ok(Shape::Map([channels, h, w]))
        }
        Op::Add | Op::Join { .. } => {
            if shapes.iter().any(|s| *s != shapes[0]) {
                let list: Vec<String> = shapes.iter().map(|s| s.to_string()).collect();
                return Err(format!("add of different shapes: {}", list.join(", ")));
            }
            Ok(shapes[0])
        }
        Op::Linear { out, .. } => match shapes[0] {
            Shape::Flat(_) if *out > 0 => Ok(Shape::Flat(*out)),
            Shape::Flat(_) => Err("a linear layer needs at least one output".into()),
            Shape::Map(m) => Err(format!(
                "linear needs a vector, got a {m:?} map: flatten first"
            )),
        },
        Op::Silu | Op::Sigmoid => Ok(shapes[0]),
        Op::AdaptiveAvgPool { size } => {
            let [ch, h, w] = map(&shapes[0])?;
            match *size {
                0 => Err(format!("adaptive pooling of {h}x{w} to 0x0")),
                s => Ok(Shape::Map([ch, s, s])),
            }
        }
        Op::Scale => {
            let [ch, _, _] = map(&shapes[0])?;
            match map(&shapes[1])? {
                [c, 1, 1] if c == ch => Ok(shapes[0]),
                gate => Err(format!(
                    "scale of a map of {ch} channels by a gate of shape {gate:?}, not [{ch}, 1, 1]"
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_out_len_follows_pytorch_ceil_mode() {
        // torch.nn.MaxPool2d(3, 2, ceil_mode=True) on 112 -> 56; on 55 -> 27 (SqueezeNet)
        let p = Pool {
            kernel: 3,
            stride: 2,
            padding: 0,
            ceil: true,
        };
        assert_eq!(p.out_len(112), Some(56));
        assert_eq!(p.out_len(55), Some(27));
        let p = Pool {
            kernel: 3,
            stride: 2,
            padding: 1,
            ceil: false,
        };
        assert_eq!(p.out_len(112), Some(56));
    }

    #[test]
    fn lenet_counts_match_the_reference() {
        let mut g = Graph::new("lenet", [1, 32, 32]);
        let x = g
            .conv("c1", 0, Conv::same(6, 5).padding(0).bias(true))
            .unwrap();
        let x = g.max_pool(x, Pool::new(2, 2)).unwrap();
        let x = g
            .conv("c2", x, Conv::same(16, 5).padding(0).bias(true))
            .unwrap();
        let x = g.max_pool(x, Pool::new(2, 2)).unwrap();
        let x = g.unary(Op::Flatten, x).unwrap();
        let x = g.linear("f1", x, 120).unwrap();
        let x = g.linear("f2", x, 84).unwrap();
        g.linear("f3", x, 10).unwrap();
        assert_eq!(g.params(), 61_706);
        assert_eq!(g.macs(), 416_520);
        assert_eq!(g.classes(), 10);
        g.validate().unwrap();
    }

    #[test]
    fn mismatched_shapes_are_refused_with_the_node_name() {
        let mut g = Graph::new("bad", [3, 8, 8]);
        let a = g.conv("a", 0, Conv::same(4, 3)).unwrap();
        let err = g.add(&[a, 0]).unwrap_err().to_string();
        assert!(
            err.contains("add of different shapes: 4x8x8, 3x8x8"),
            "{err}"
        );
        let err = g
            .conv("g", 0, Conv::same(4, 3).groups(2))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("graph node `g`"), "{err}");
        let err = g.conv("a", 0, Conv::same(4, 3)).unwrap_err().to_string();
        assert!(err.contains("another node"), "{err}");
    }
}
