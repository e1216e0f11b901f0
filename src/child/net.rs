//! A child network: a candle `ModuleT` built from a graph. Parameters live under the node
//! names as `VarBuilder` paths, so the names in a `VarMap`, in `weights.safetensors` and in
//! exported code are one and the same.

use candle_core::{Module, ModuleT, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::layers::{BatchNormLayer, ConvLayer, Kernels};

use super::pooling::{adaptive_avg_pool, avg_pool, max_pool};
use crate::graph::{Graph, Op, Pool, Shape};
use crate::kernels;

/// One built node.
#[derive(Clone, Debug)]
pub(super) enum Layer {
    Input,
    Conv(ConvLayer),
    BatchNorm(BatchNormLayer),
    /// A ReLU already applied by the batch norm before it.
    Fused,
    Relu,
    Relu6,
    MaxPool(Pool),
    AvgPool(Pool),
    GlobalAvgPool,
    Concat,
    Add,
    Linear(Linear),
    Dropout(f32),
    Flatten,
    DropPath(f32),
    Join(f32),
    Silu,
    Sigmoid,
    AdaptiveAvgPool(usize),
    Scale,
}

/// A network built from a [`Graph`]; `forward_t(xs, train)` switches batch norm and dropout.
#[derive(Clone, Debug)]
pub struct ChildNet {
    pub(super) layers: Vec<Layer>,
    pub(super) inputs: Vec<Vec<usize>>,
    /// Each node's shape for one example.
    pub(super) shapes: Vec<Shape>,
    /// For each node, the last node that reads it, so intermediate values are freed early.
    last_use: Vec<usize>,
    kernels: Kernels,
}

impl ChildNet {
    /// Builds every node of `graph` with its parameters under `vb.pp(node.name)`, on nas's
    /// fast CPU kernels.
    pub fn new(graph: &Graph, vb: VarBuilder) -> Result<Self> {
        Self::with_kernels(graph, vb, Kernels::Fast)
    }

    /// Like [`ChildNet::new`], choosing the kernels.
    pub fn with_kernels(graph: &Graph, vb: VarBuilder, kernels: Kernels) -> Result<Self> {
        let fused = fusable_relus(graph);
        let mut layers = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let in_ch = node
                .inputs
                .first()
                .map(|&i| graph.shape(i).channels())
                .unwrap_or(0);
            let vb = vb.pp(&node.name);
            let id = layers.len();
            layers.push(match &node.op {
                Op::Input => Layer::Input,
                Op::Conv(c) => Layer::Conv(ConvLayer::new(in_ch, *c, kernels, vb)?),
                Op::BatchNorm { eps } => {
                    let relu = fused.iter().any(|&(bn, _)| bn == id);
                    Layer::BatchNorm(BatchNormLayer::new(in_ch, *eps, relu, kernels, vb)?)
                }
                Op::Relu if fused.iter().any(|&(_, relu)| relu == id) => Layer::Fused,
                Op::Relu => Layer::Relu,
                Op::Relu6 => Layer::Relu6,
                Op::MaxPool(p) => Layer::MaxPool(*p),
                Op::AvgPool(p) => Layer::AvgPool(*p),
                Op::GlobalAvgPool => Layer::GlobalAvgPool,
                Op::Concat => Layer::Concat,
                Op::Add => Layer::Add,
                Op::Linear { out, bias: true } => {
                    Layer::Linear(candle_nn::linear(in_ch, *out, vb)?)
                }
                Op::Linear { out, bias: false } => {
                    Layer::Linear(candle_nn::linear_no_bias(in_ch, *out, vb)?)
                }
                Op::Dropout { p } => Layer::Dropout(*p),
                Op::Flatten => Layer::Flatten,
                Op::DropPath { p } => Layer::DropPath(*p),
                Op::Join { p } => Layer::Join(*p),
                Op::Silu => Layer::Silu,
                Op::Sigmoid => Layer::Sigmoid,
                Op::AdaptiveAvgPool { size } => Layer::AdaptiveAvgPool(*size),
                Op::Scale => Layer::Scale,
            });
        }
        let inputs: Vec<Vec<usize>> = graph.nodes.iter().map(|n| n.inputs.clone()).collect();
        let mut last_use: Vec<usize> = (0..inputs.len()).collect();
        for (reader, ins) in inputs.iter().enumerate() {
            for &i in ins {
                last_use[i] = reader;
            }
        }
        Ok(ChildNet {
            layers,
            inputs,
            shapes: graph.nodes.iter().map(|n| n.shape).collect(),
            last_use,
            kernels,
        })
    }

    /// The kernels the layers run on.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The forward pass with batch norm on the batch's own statistics and dropout off: how a
    /// child is rated under weights shared with other architectures, whose running statistics
    /// fit none of them (ENAS does the same).
    pub fn forward_batch_stats(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_mode(xs, true, false)
    }

    fn apply(&self, id: usize, xs: &[&Tensor], train: bool, dropout: bool) -> Result<Tensor> {
        let x = xs.first().copied();
        let one = || x.ok_or_else(|| candle_core::Error::Msg(format!("node {id} has no input")));
        let fast = self.kernels == Kernels::Fast;
        match &self.layers[id] {
            Layer::Input => Err(candle_core::Error::Msg("input node applied".into())),
            Layer::Conv(conv) => conv.forward(one()?),
            Layer::BatchNorm(bn) => bn.forward_t(one()?, train),
            Layer::Relu => one()?.relu(),
            Layer::Fused => Ok(one()?.clone()),
            Layer::Relu6 => one()?.clamp(0f32, 6f32),
            Layer::MaxPool(p) if fast => kernels::max_pool2d(one()?, p),
            Layer::AvgPool(p) if fast => kernels::avg_pool2d(one()?, p),
            Layer::GlobalAvgPool if fast => kernels::global_avg_pool2d(one()?),
            Layer::MaxPool(p) => max_pool(one()?, p),
            Layer::AvgPool(p) => avg_pool(one()?, p),
            Layer::GlobalAvgPool => one()?.mean((2, 3)),
            Layer::Concat => Tensor::cat(xs, 1),
            Layer::Add => {
                let mut sum = xs[0].clone();
                for x in &xs[1..] {
                    sum = (sum + *x)?;
                }
                Ok(sum)
            }
            Layer::Linear(linear) => linear.forward(one()?),
            Layer::Dropout(p) if dropout && *p > 0.0 => candle_nn::ops::dropout(one()?, *p),
            Layer::Dropout(_) => Ok(one()?.clone()),
            Layer::Flatten => one()?.flatten_from(1),
            Layer::DropPath(p) if dropout && *p > 0.0 => kernels::drop_path(one()?, *p),
            Layer::DropPath(_) => Ok(one()?.clone()),
            Layer::Join(p) if dropout && *p > 0.0 => kernels::join_drop(xs, *p),
            Layer::Join(_) => kernels::join_drop(xs, 0.0),
            Layer::Silu => candle_nn::ops::silu(one()?),
            Layer::Sigmoid => candle_nn::ops::sigmoid(one()?),
            Layer::AdaptiveAvgPool(size) => adaptive_avg_pool(one()?, *size),
            Layer::Scale => xs[0].broadcast_mul(xs[1]),
        }
    }
}

impl ModuleT for ChildNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_mode(xs, train, train)
    }
}

impl ChildNet {
    /// The forward pass with batch norm in training mode or not, and dropout on or not.
    fn forward_mode(&self, xs: &Tensor, train: bool, dropout: bool) -> Result<Tensor> {
        let mut values: Vec<Option<Tensor>> = vec![None; self.layers.len()];
        values[0] = Some(xs.clone());
        for id in 1..self.layers.len() {
            let ins: Vec<&Tensor> = self.inputs[id]
                .iter()
                .map(|&i| values[i].as_ref().expect("inputs precede readers"))
                .collect();
            let y = self.apply(id, &ins, train, dropout)?;
            values[id] = Some(y);
            for &i in &self.inputs[id] {
                if self.last_use[i] == id {
                    values[i] = None;
                }
            }
        }
        Ok(values.pop().flatten().expect("graph has an output"))
    }
}

/// (batch norm, ReLU) node pairs where the ReLU is the batch norm's only reader, so the two
/// can run as one fused op.
fn fusable_relus(graph: &Graph) -> Vec<(usize, usize)> {
    let mut readers = vec![0usize; graph.nodes.len()];
    for node in &graph.nodes {
        for &i in &node.inputs {
            readers[i] += 1;
        }
    }
    graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(id, node)| match (&node.op, node.inputs.as_slice()) {
            (Op::Relu, &[bn])
                if matches!(graph.nodes[bn].op, Op::BatchNorm { .. }) && readers[bn] == 1 =>
            {
                Some((bn, id))
            }
            _ => None,
        })
        .collect()
}
