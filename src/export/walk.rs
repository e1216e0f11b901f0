//! Code for a zoo net: a `Net` with one field per layer that has parameters (named after its
//! path, `layer1.0.conv1` -> `layer1_0_conv1`) and a `forward_t` with one statement per graph
//! node, each result in a variable named after what it is, with its shape in a comment.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::info::identifier;
use super::source::{ADAPTIVE_POOL_HELPER, AVG_POOL_HELPER, MAX_POOL_HELPER, POOLING_HELPERS};
use crate::error::Result;
use crate::graph::{Conv, Graph, Op, Pool};

/// The module's imports, and its body after the constants, for a zoo graph.
pub(super) fn graph_source(graph: &Graph) -> Result<(String, String)> {
    let names = variable_names(graph);
    let has = |f: fn(&Op) -> bool| graph.nodes.iter().any(|n| f(&n.op));
    let padded = |p: &Pool| p.padding > 0 || p.ceil;
    let padded_max = has(|op| matches!(op, Op::MaxPool(p) if p.padding > 0 || p.ceil));
    let padded_avg = has(|op| matches!(op, Op::AvgPool(p) if p.padding > 0 || p.ceil));
    let mut types = vec![];
    if has(|op| matches!(op, Op::BatchNorm { .. })) {
        types.push("BatchNorm");
    }
    if has(|op| matches!(op, Op::Conv(_))) {
        types.extend(["Conv2d", "Conv2dConfig"]);
    }
    if has(|op| matches!(op, Op::Linear { .. })) {
        types.push("Linear");
    }
    types.push("VarBuilder");
    let imports = format!(
        "use candle_core::{{Module, ModuleT, Result, Tensor}};\nuse candle_nn::{{{}}};\n",
        types.join(", ")
    );
    let mut out = String::from("\n/// The whole network, one field per layer with parameters.\n");
    out.push_str("#[derive(Clone, Debug)]\npub struct Net {\n");
    for (id, node) in graph.nodes.iter().enumerate() {
        if let Some(ty) = field_type(&node.op) {
            let _ = writeln!(out, "    /// `{}`: {}.", node.name, describe(graph, id));
            let _ = writeln!(out, "    {}: {ty},", names[id]);
        }
    }
    out.push_str(
        "}\n\nimpl Net {\n    /// Builds the network with its parameters under `vb` \
         (the engine's paths).\n    pub fn new(vb: VarBuilder) -> Result<Self> {\n        Ok(Self {\n",
    );
    for (id, name) in names.iter().enumerate().take(graph.nodes.len()) {
        if let Some(init) = constructor(graph, id) {
            let _ = writeln!(out, "            {name}: {init},");
        }
    }
    out.push_str(
        "        })\n    }\n}\n\nimpl ModuleT for Net {\n    \
         fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {\n",
    );
    for (id, node) in graph.nodes.iter().enumerate().skip(1) {
        // Node 0 is the argument `xs`, already a reference.
        let inputs: Vec<String> = node
            .inputs
            .iter()
            .map(|&i| {
                if i == 0 {
                    "xs".into()
                } else {
                    format!("&{}", names[i])
                }
            })
            .collect();
        let expr = expression(&node.op, &names[id], &inputs, padded);
        let _ = writeln!(out, "        let {} = {expr}; // {}", names[id], node.shape);
    }
    let _ = writeln!(out, "        Ok({})\n    }}\n}}", names[graph.output()]);
    if padded_max || padded_avg {
        out.push_str(POOLING_HELPERS);
    }
    if padded_max {
        out.push_str(MAX_POOL_HELPER);
    }
    if padded_avg {
        out.push_str(AVG_POOL_HELPER);
    }
    if has(|op| matches!(op, Op::AdaptiveAvgPool { size } if *size > 1)) {
        out.push_str(ADAPTIVE_POOL_HELPER);
    }
    if has(|op| matches!(op, Op::Conv(_))) {
        out.push_str(CONV_CONFIG);
    }
    Ok((imports, out))
}

const CONV_CONFIG: &str = r#"
/// A conv's settings in the order PyTorch's `nn.Conv2d` takes them.
fn conv_config(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dConfig {
    Conv2dConfig {
        padding,
        stride,
        dilation,
        groups,
        ..Default::default()
    }
}
"#;

/// One variable name per node: the input is `xs`, a layer with parameters is named after its
/// path, a parameter-free op after the value it reads and what it does (`bn1_relu`).
fn variable_names(graph: &Graph) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut names = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let base = match &node.op {
            Op::Input => "xs".to_string(),
            op if op.has_params() => identifier(&node.name),
            Op::Add | Op::Concat => identifier(&node.name),
            op => format!("{}_{}", names[node.inputs[0]], suffix(op)),
        };
        let mut name = base.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        taken.insert(name.clone());
        names.push(name);
    }
    names
}

fn suffix(op: &Op) -> &'static str {
    match op {
        Op::Relu => "relu",
        Op::Relu6 => "relu6",
        Op::MaxPool(_) => "max_pool",
        Op::AvgPool(_) => "avg_pool",
        Op::GlobalAvgPool => "pooled",
        Op::Dropout { .. } => "dropout",
        Op::Flatten => "flat",
        Op::AdaptiveAvgPool { .. } => "pooled",
        Op::Scale => "scaled",
        other => other.kind(),
    }
}

fn field_type(op: &Op) -> Option<&'static str> {
    match op {
        Op::Conv(_) => Some("Conv2d"),
        Op::BatchNorm { .. } => Some("BatchNorm"),
        Op::Linear { .. } => Some("Linear"),
        _ => None,
    }
}

fn in_channels(graph: &Graph, id: usize) -> usize {
    graph.shape(graph.nodes[id].inputs[0]).channels()
}

/// A one-line description of a layer for its field's doc comment.
fn describe(graph: &Graph, id: usize) -> String {
    let in_ch = in_channels(graph, id);
    match graph.nodes[id].op {
        Op::Conv(c) => {
            let mut text = format!("{k}x{k} conv, {in_ch} -> {}", c.out, k = c.kernel);
            for (what, value, default) in [
                ("stride", c.stride, 1),
                ("padding", c.padding, 0),
                ("dilation", c.dilation, 1),
                ("groups", c.groups, 1),
            ] {
                if value != default {
                    let _ = write!(text, ", {what} {value}");
                }
            }
            if c.bias {
                text.push_str(", with bias");
            }
            text
        }
        Op::BatchNorm { .. } => format!("batch norm over {in_ch} channels"),
        Op::Linear { out, .. } => format!("linear, {in_ch} -> {out}"),
        _ => String::new(),
    }
}

fn constructor(graph: &Graph, id: usize) -> Option<String> {
    let node = &graph.nodes[id];
    let vb = format!("vb.pp(\"{}\")", node.name);
    let in_ch = || in_channels(graph, id);
    Some(match node.op {
        Op::Conv(Conv {
            out,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
        }) => {
            let f = if bias { "conv2d" } else { "conv2d_no_bias" };
            format!(
                "candle_nn::{f}({}, {out}, {kernel}, conv_config({stride}, {padding}, {dilation}, {groups}), {vb})?",
                in_ch()
            )
        }
        Op::BatchNorm { eps } => format!("candle_nn::batch_norm({}, {eps:?}, {vb})?", in_ch()),
        Op::Linear { out, bias } => {
            let f = if bias { "linear" } else { "linear_no_bias" };
            format!("candle_nn::{f}({}, {out}, {vb})?", in_ch())
        }
        _ => return None,
    })
}

/// The right-hand side computing one node from references to its input variables.
fn expression(op: &Op, name: &str, inputs: &[String], padded: impl Fn(&Pool) -> bool) -> String {
    let x = inputs.first().map(String::as_str).unwrap_or("xs");
    // Methods take the variable itself: `bn1.relu()`, not `&bn1.relu()`.
    let v = x.trim_start_matches('&');
    match op {
        Op::Input => "xs".into(),
        Op::Conv(_) | Op::Linear { .. } => format!("self.{name}.forward({x})?"),
        Op::BatchNorm { .. } => format!("self.{name}.forward_t({x}, train)?"),
        Op::Relu => format!("{v}.relu()?"),
        Op::Relu6 => format!("{v}.clamp(0f32, 6f32)?"),
        Op::MaxPool(p) if padded(p) => format!(
            "max_pool({x}, {}, {}, {}, {})?",
            p.kernel, p.stride, p.padding, p.ceil
        ),
        Op::MaxPool(p) => format!("{v}.max_pool2d_with_stride({}, {})?", p.kernel, p.stride),
        Op::AvgPool(p) if padded(p) => {
            format!("avg_pool({x}, {}, {}, {})?", p.kernel, p.stride, p.padding)
        }
        Op::AvgPool(p) => format!("{v}.avg_pool2d_with_stride({}, {})?", p.kernel, p.stride),
        Op::GlobalAvgPool => format!("{v}.mean((2, 3))?"),
        Op::Concat => {
            format!("Tensor::cat(&[{}], 1)?", inputs.join(", "))
        }
        Op::Add if inputs.len() == 1 => format!("{v}.clone()"),
        Op::Add => {
            let mut sum = format!("({} + {})?", inputs[0], inputs[1]);
            for v in &inputs[2..] {
                sum = format!("({sum} + {v})?");
            }
            sum
        }
        Op::Dropout { p } if *p > 0.0 => {
            format!("candle_nn::Dropout::new({p:?}).forward_t({x}, train)?")
        }
        Op::Dropout { .. } => format!("{v}.clone()"),
        Op::Flatten => format!("{v}.flatten_from(1)?"),
        // stochastic depth is a training device: identity at inference
        Op::DropPath { .. } => format!("{v}.clone()"),
        // local drop-path is a training device too: the plain mean at inference
        Op::Join { .. } => {
            let n = inputs.len();
            format!(
                "(Tensor::stack(&[{}], 0)?.sum(0)? / {n}f64)?",
                inputs.join(", ")
            )
        }
        Op::Silu => format!("candle_nn::ops::silu({x})?"),
        Op::Sigmoid => format!("candle_nn::ops::sigmoid({x})?"),
        Op::AdaptiveAvgPool { size: 1 } => format!("{v}.mean_keepdim((2, 3))?"),
        Op::AdaptiveAvgPool { size } => format!("adaptive_avg_pool({x}, {size})?"),
        Op::Scale => format!("{v}.broadcast_mul({})?", inputs[1]),
    }
}
