//! Code for a searched architecture: one struct per cell kind the net uses, the helpers they
//! share (`ConvBn`, `Transition`, padded max pooling) and a `Net` with one field per stem,
//! reduction and cell, whose `forward_t` reads like the architecture: stage by stage, with each
//! cell's skip inputs concatenated where the engine concatenates them.

use std::fmt::Write as _;

use crate::arch::{Architecture, Block, Reduce};
use crate::error::Result;
use crate::graph::{Graph, Shape};

/// The module's imports, and its body after the constants: `Net`, the cells and the helpers.
pub(super) fn arch_source(arch: &Architecture, graph: &Graph) -> Result<(String, String)> {
    let blocks: Vec<&Block> = arch
        .stages
        .iter()
        .flat_map(|s| s.cells.iter().map(|c| &c.block))
        .collect();
    let uses = |kind: &str| blocks.iter().any(|b| struct_kind(b) == kind);
    let imports = "use candle_core::{Module, ModuleT, Result, Tensor};\n\
                   use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, Linear, VarBuilder};\n";
    let mut out = net(arch, graph);
    for (kind, text) in [
        ("residual", RESIDUAL),
        ("bottleneck", BOTTLENECK),
        ("inception", INCEPTION),
        ("dense", DENSE),
        ("fire", FIRE),
        ("preact_residual", PREACT_RESIDUAL),
        ("preact_bottleneck", PREACT_BOTTLENECK),
        ("fractal", FRACTAL),
        ("mobile", MOBILE),
    ] {
        if uses(kind) {
            out.push_str(text);
        }
    }
    out.push_str(CONV_BN);
    if uses("preact_residual") || uses("preact_bottleneck") {
        out.push_str(BN_CONV);
    }
    let transition = arch
        .stages
        .iter()
        .any(|s| s.reduce == Some(Reduce::Transition));
    if transition {
        out.push_str(TRANSITION);
    }
    // `InceptionBranch::Pooled` calls it whether or not this net has a third branch.
    if uses("inception") {
        out.push_str(MAX_POOL_SAME);
    }
    Ok((imports.to_string(), out))
}

/// The kind of cell struct a block needs: its kind, with `preact_` before it for ResNet v2.
fn struct_kind(block: &Block) -> String {
    match *block {
        Block::Residual { preact: true, .. } | Block::Bottleneck { preact: true, .. } => {
            format!("preact_{}", block.kind())
        }
        _ => block.kind().to_string(),
    }
}

/// What the generator knows about one cell while writing `Net`.
struct CellCode {
    field: String,
    ty: &'static str,
    constructor: String,
    forward: String,
}

/// Channels out of a cell whose input has `in_ch` channels.
fn cell_out(block: &Block, in_ch: usize) -> usize {
    match *block {
        Block::Residual { out, .. }
        | Block::Bottleneck { out, .. }
        | Block::Inception { out, .. } => out,
        Block::Dense { growth, layers, .. } => in_ch + growth * layers,
        Block::Fire {
            expand1, expand3, ..
        } => expand1 + expand3,
        Block::Fractal { out, .. } => out,
        Block::Mobile { out, .. } => out,
    }
}

fn cell_code(stage: usize, index: usize, block: &Block, in_ch: usize, input: &str) -> CellCode {
    let field = format!("stage{stage}_cell{index}");
    let path = format!("stage{stage}.cell{index}");
    let (ty, args) = match *block {
        Block::Residual {
            kernel,
            out,
            preact,
        } => (
            if preact {
                "PreactResidualCell"
            } else {
                "ResidualCell"
            },
            format!("{in_ch}, {out}, {kernel}"),
        ),
        Block::Bottleneck {
            kernel,
            out,
            expansion,
            groups,
            preact,
        } => (
            if preact {
                "PreactBottleneckCell"
            } else {
                "BottleneckCell"
            },
            format!("{in_ch}, {out}, {kernel}, {expansion}, {groups}"),
        ),
        Block::Inception {
            kernel,
            out,
            branches,
        } => (
            "InceptionCell",
            format!("{in_ch}, {out}, {kernel}, {branches}"),
        ),
        Block::Dense {
            kernel,
            growth,
            layers,
        } => (
            "DenseCell",
            format!("{in_ch}, {growth}, {layers}, {kernel}"),
        ),
        Block::Fire {
            kernel,
            squeeze,
            expand1,
            expand3,
        } => (
            "FireCell",
            format!("{in_ch}, {squeeze}, {expand1}, {expand3}, {kernel}"),
        ),
        Block::Fractal {
            kernel,
            out,
            columns,
        } => (
            "FractalCell",
            format!("{in_ch}, {out}, {kernel}, {columns}"),
        ),
        Block::Mobile {
            kernel,
            out,
            expansion,
            se,
            stride,
        } => (
            "MobileCell",
            format!("{in_ch}, {out}, {kernel}, {expansion}, {se}, {stride}"),
        ),
    };
    CellCode {
        constructor: format!("{ty}::new({args}, vb.pp(\"{path}\"))?"),
        forward: format!("let {field} = self.{field}.forward_t({input}, train)?;"),
        field,
        ty,
    }
}

/// `struct Net`, `Net::new` and `impl ModuleT for Net`.
fn net(arch: &Architecture, graph: &Graph) -> String {
    let mut fields = vec![("stem".to_string(), "ConvBn".to_string(), String::new())];
    let mut init = vec![format!(
        "stem: ConvBn::new({}, {}, {}, vb.pp(\"stem\"))?,",
        arch.input[0], arch.stem.channels, arch.stem.kernel
    )];
    let mut forward = vec!["let stem = self.stem.forward_t(xs, train)?.relu()?;".to_string()];
    let mut channels = arch.stem.channels;
    let mut previous = "stem".to_string();
    for (s, stage) in arch.stages.iter().enumerate() {
        let s = s + 1;
        let input = format!("stage{s}_input");
        let field = format!("stage{s}_reduce");
        let path = format!("stage{s}.reduce");
        let (h, w) = stage_size(graph, arch, s);
        forward.push(String::new());
        let reduce_note = match stage.reduce {
            None => String::new(),
            Some(Reduce::Conv) => ", entered by a stride-2 conv".into(),
            Some(Reduce::MaxPool) => ", entered by 2x2 max pooling".into(),
            Some(Reduce::Transition) => ", entered by a DenseNet transition".into(),
            Some(Reduce::Stride) => ", entered by its first cell's stride 2".into(),
        };
        let out_ch = match stage.reduce {
            Some(Reduce::Conv | Reduce::Transition) => stage.channels,
            _ => channels,
        };
        forward.push(format!(
            "// Stage {s}: {out_ch} channels at {h}x{w}{reduce_note}."
        ));
        match stage.reduce {
            None | Some(Reduce::Stride) => forward.push(format!("let {input} = {previous};")),
            Some(Reduce::Conv) => {
                fields.push((field.clone(), "ConvBn".into(), String::new()));
                init.push(format!(
                    "{field}: ConvBn::with_stride({channels}, {}, 3, 2, 1, vb.pp(\"{path}\"))?,",
                    stage.channels
                ));
                forward.push(format!(
                    "let {input} = self.{field}.forward_t(&{previous}, train)?.relu()?;"
                ));
                channels = stage.channels;
            }
            Some(Reduce::MaxPool) => {
                forward.push(format!("let {input} = {previous}.max_pool2d(2)?;"));
            }
            Some(Reduce::Transition) => {
                fields.push((field.clone(), "Transition".into(), String::new()));
                init.push(format!(
                    "{field}: Transition::new({channels}, {}, vb.pp(\"{path}\"))?,",
                    stage.channels
                ));
                forward.push(format!(
                    "let {input} = self.{field}.forward_t(&{previous}, train)?;"
                ));
                channels = stage.channels;
            }
        }
        // Anchor 0 is the stage input, anchor k the output of cell k.
        let mut anchors = vec![(input.clone(), channels)];
        for (j, cell) in stage.cells.iter().enumerate() {
            let mut reads = vec![anchors[j].clone()];
            reads.extend(cell.skips.iter().map(|&k| anchors[k].clone()));
            let in_ch: usize = reads.iter().map(|(_, c)| c).sum();
            let input_expr = if reads.len() == 1 {
                format!("&{}", reads[0].0)
            } else {
                let list: Vec<String> = reads.iter().map(|(v, _)| format!("&{v}")).collect();
                format!("&Tensor::cat(&[{}], 1)?", list.join(", "))
            };
            let code = cell_code(s, j + 1, &cell.block, in_ch, &input_expr);
            fields.push((code.field.clone(), code.ty.into(), String::new()));
            init.push(format!("{}: {},", code.field, code.constructor));
            forward.push(code.forward);
            anchors.push((code.field, cell_out(&cell.block, in_ch)));
        }
        let (last, ch) = anchors
            .last()
            .expect("anchors start with the stage input")
            .clone();
        previous = last;
        channels = ch;
    }
    forward.push(String::new());
    forward.push("// Head.".into());
    let last = arch
        .stages
        .last()
        .and_then(|s| s.cells.last())
        .map(|c| &c.block);
    let last_dense = matches!(last, Some(Block::Dense { .. }));
    let last_preact = last.is_some_and(|b| struct_kind(b).starts_with("preact_"));
    if last_dense || last_preact {
        let why = if last_dense {
            "the dense layers are pre-activated"
        } else {
            "the last cell is pre-activated"
        };
        fields.push(("head_bn".into(), "BatchNorm".into(), why.into()));
        init.push(format!(
            "head_bn: candle_nn::batch_norm({channels}, 1e-5, vb.pp(\"head.bn\"))?,"
        ));
        forward.push(format!(
            "let {previous} = self.head_bn.forward_t(&{previous}, train)?.relu()?;"
        ));
    }
    forward.push(format!("let pooled = {previous}.mean((2, 3))?;"));
    if arch.dropout > 0.0 {
        fields.push(("dropout".into(), "candle_nn::Dropout".into(), String::new()));
        init.push(format!(
            "dropout: candle_nn::Dropout::new({:?}),",
            arch.dropout
        ));
        forward.push("let pooled = self.dropout.forward_t(&pooled, train)?;".into());
    }
    fields.push(("classifier".into(), "Linear".into(), String::new()));
    init.push(format!(
        "classifier: candle_nn::linear({channels}, {}, vb.pp(\"classifier\"))?,",
        arch.classes
    ));
    forward.push("self.classifier.forward(&pooled)".into());
    render_net(&fields, &init, &forward)
}

/// The spatial size of a stage's cells, read from the lowered graph.
fn stage_size(graph: &Graph, arch: &Architecture, stage: usize) -> (usize, usize) {
    let prefix = format!("stage{stage}.cell1.");
    let node = graph.nodes.iter().find(|n| n.name.starts_with(&prefix));
    match node.and_then(|n| n.inputs.first()).map(|&i| graph.shape(i)) {
        Some(Shape::Map([_, h, w])) => (h, w),
        _ => (arch.input[1], arch.input[2]),
    }
}

fn render_net(fields: &[(String, String, String)], init: &[String], forward: &[String]) -> String {
    let mut out = String::from(
        "\n/// The whole network: stem, stages of cells, global average pooling and classifier.\n\
         #[derive(Clone, Debug)]\npub struct Net {\n",
    );
    for (name, ty, note) in fields {
        if !note.is_empty() {
            let _ = writeln!(out, "    // {note}");
        }
        let _ = writeln!(out, "    {name}: {ty},");
    }
    out.push_str(
        "}\n\nimpl Net {\n    /// Builds the network with its parameters under `vb` \
         (the engine's paths).\n    pub fn new(vb: VarBuilder) -> Result<Self> {\n        Ok(Self {\n",
    );
    for line in init {
        let _ = writeln!(out, "            {line}");
    }
    out.push_str(
        "        })\n    }\n}\n\nimpl ModuleT for Net {\n    \
         fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {\n",
    );
    for line in forward {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "        {line}");
        }
    }
    out.push_str("    }\n}\n");
    out
}

const RESIDUAL: &str = r#"
/// Basic residual cell: two kxk conv-BN units and a shortcut, projected by a 1x1 conv-BN when
/// the widths differ; ReLU after the sum.
#[derive(Clone, Debug)]
pub struct ResidualCell {
    a: ConvBn,
    b: ConvBn,
    proj: Option<ConvBn>,
}

impl ResidualCell {
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        let proj = if in_channels == out_channels {
            None
        } else {
            Some(ConvBn::new(in_channels, out_channels, 1, vb.pp("proj"))?)
        };
        Ok(Self {
            a: ConvBn::new(in_channels, out_channels, kernel, vb.pp("a"))?,
            b: ConvBn::new(out_channels, out_channels, kernel, vb.pp("b"))?,
            proj,
        })
    }
}

impl ModuleT for ResidualCell {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let body = self.a.forward_t(xs, train)?.relu()?;
        let body = self.b.forward_t(&body, train)?;
        let shortcut = match &self.proj {
            Some(proj) => proj.forward_t(xs, train)?,
            None => xs.clone(),
        };
        (body + shortcut)?.relu()
    }
}
"#;

const BOTTLENECK: &str = r#"
/// Bottleneck cell: 1x1 reduction to `out / expansion` channels (a multiple of `groups`), a
/// grouped kxk conv, a 1x1 expansion and a shortcut (projected when the widths differ).
#[derive(Clone, Debug)]
pub struct BottleneckCell {
    reduce: ConvBn,
    conv: ConvBn,
    expand: ConvBn,
    proj: Option<ConvBn>,
}

impl BottleneckCell {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        expansion: usize,
        groups: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let mid = ((out_channels / expansion.max(1)) / groups * groups).max(groups);
        let proj = if in_channels == out_channels {
            None
        } else {
            Some(ConvBn::new(in_channels, out_channels, 1, vb.pp("proj"))?)
        };
        Ok(Self {
            reduce: ConvBn::new(in_channels, mid, 1, vb.pp("reduce"))?,
            conv: ConvBn::with_stride(mid, mid, kernel, 1, groups, vb.pp("conv"))?,
            expand: ConvBn::new(mid, out_channels, 1, vb.pp("expand"))?,
            proj,
        })
    }
}

impl ModuleT for BottleneckCell {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let body = self.reduce.forward_t(xs, train)?.relu()?;
        let body = self.conv.forward_t(&body, train)?.relu()?;
        let body = self.expand.forward_t(&body, train)?;
        let shortcut = match &self.proj {
            Some(proj) => proj.forward_t(xs, train)?,
            None => xs.clone(),
        };
        (body + shortcut)?.relu()
    }
}
"#;

const INCEPTION: &str = r#"
/// Inception cell: the first `branches` of four parallel branches, concatenated to
/// `out_channels` (split evenly, the last branch taking the remainder).
#[derive(Clone, Debug)]
pub struct InceptionCell {
    branches: Vec<InceptionBranch>,
}

/// One branch of an inception cell; every conv is followed by batch norm and ReLU.
#[derive(Clone, Debug)]
pub enum InceptionBranch {
    /// A 1x1 conv.
    Pointwise(ConvBn),
    /// A 1x1 reduction to half the width, then a kxk conv.
    Reduced { reduce: ConvBn, conv: ConvBn },
    /// 3x3 max pooling (stride 1, padding 1), then a 1x1 conv.
    Pooled(ConvBn),
    /// A 1x1 reduction to half the width, then two kxk convs.
    DoubleReduced { reduce: ConvBn, first: ConvBn, second: ConvBn },
}

impl InceptionCell {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        branches: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let base = out_channels / branches;
        let mut list = Vec::with_capacity(branches);
        for i in 0..branches {
            let width = if i + 1 == branches {
                out_channels - base * (branches - 1)
            } else {
                base
            };
            let reduced = (width / 2).max(1);
            let vb = vb.pp(format!("branch{}", i + 1));
            list.push(match i {
                0 => InceptionBranch::Pointwise(ConvBn::new(in_channels, width, 1, vb)?),
                1 => InceptionBranch::Reduced {
                    reduce: ConvBn::new(in_channels, reduced, 1, vb.pp("reduce"))?,
                    conv: ConvBn::new(reduced, width, kernel, vb.pp("k"))?,
                },
                2 => InceptionBranch::Pooled(ConvBn::new(in_channels, width, 1, vb)?),
                _ => InceptionBranch::DoubleReduced {
                    reduce: ConvBn::new(in_channels, reduced, 1, vb.pp("reduce"))?,
                    first: ConvBn::new(reduced, width, kernel, vb.pp("k1"))?,
                    second: ConvBn::new(width, width, kernel, vb.pp("k2"))?,
                },
            });
        }
        Ok(Self { branches: list })
    }
}

impl ModuleT for InceptionBranch {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            InceptionBranch::Pointwise(conv) => conv.forward_t(xs, train)?.relu(),
            InceptionBranch::Reduced { reduce, conv } => {
                let ys = reduce.forward_t(xs, train)?.relu()?;
                conv.forward_t(&ys, train)?.relu()
            }
            InceptionBranch::Pooled(conv) => conv.forward_t(&max_pool_3x3_same(xs)?, train)?.relu(),
            InceptionBranch::DoubleReduced { reduce, first, second } => {
                let ys = reduce.forward_t(xs, train)?.relu()?;
                let ys = first.forward_t(&ys, train)?.relu()?;
                second.forward_t(&ys, train)?.relu()
            }
        }
    }
}

impl ModuleT for InceptionCell {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let outs = self
            .branches
            .iter()
            .map(|branch| branch.forward_t(xs, train))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&outs, 1)
    }
}
"#;

const DENSE: &str = r#"
/// DenseNet-BC cell: `layers` layers, each reading the concatenation of the cell input and all
/// earlier layers and adding `growth` channels; the cell outputs the whole concatenation.
#[derive(Clone, Debug)]
pub struct DenseCell {
    layers: Vec<DenseLayer>,
}

/// One pre-activated dense layer: BN, ReLU, 1x1 conv to `4 * growth`, BN, ReLU, kxk conv to
/// `growth`.
#[derive(Clone, Debug)]
pub struct DenseLayer {
    bn1: BatchNorm,
    conv1: Conv2d,
    bn2: BatchNorm,
    conv2: Conv2d,
}

impl DenseCell {
    pub fn new(in_channels: usize, growth: usize, layers: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        let layers = (0..layers)
            .map(|l| {
                let vb = vb.pp(format!("layer{}", l + 1));
                DenseLayer::new(in_channels + l * growth, growth, kernel, vb)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }
}

impl DenseLayer {
    pub fn new(in_channels: usize, growth: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            bn1: candle_nn::batch_norm(in_channels, 1e-5, vb.pp("bn1"))?,
            conv1: conv(in_channels, 4 * growth, 1, 1, 1, vb.pp("conv1"))?,
            bn2: candle_nn::batch_norm(4 * growth, 1e-5, vb.pp("bn2"))?,
            conv2: conv(4 * growth, growth, kernel, 1, 1, vb.pp("conv2"))?,
        })
    }
}

impl ModuleT for DenseLayer {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let ys = self.bn1.forward_t(xs, train)?.relu()?;
        let ys = self.conv1.forward(&ys)?;
        let ys = self.bn2.forward_t(&ys, train)?.relu()?;
        self.conv2.forward(&ys)
    }
}

impl ModuleT for DenseCell {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut features = vec![xs.clone()];
        for layer in &self.layers {
            let input = Tensor::cat(&features, 1)?;
            features.push(layer.forward_t(&input, train)?);
        }
        Tensor::cat(&features, 1)
    }
}
"#;

const FIRE: &str = r#"
/// SqueezeNet fire cell: a 1x1 squeeze, then a 1x1 and a kxk expansion side by side,
/// concatenated; every conv is followed by batch norm and ReLU.
#[derive(Clone, Debug)]
pub struct FireCell {
    squeeze: ConvBn,
    expand1: ConvBn,
    expand3: ConvBn,
}

impl FireCell {
    pub fn new(
        in_channels: usize,
        squeeze: usize,
        expand1: usize,
        expand3: usize,
        kernel: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            squeeze: ConvBn::new(in_channels, squeeze, 1, vb.pp("squeeze"))?,
            expand1: ConvBn::new(squeeze, expand1, 1, vb.pp("expand1"))?,
            expand3: ConvBn::new(squeeze, expand3, kernel, vb.pp("expand3"))?,
        })
    }
}

impl ModuleT for FireCell {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let squeezed = self.squeeze.forward_t(xs, train)?.relu()?;
        let ones = self.expand1.forward_t(&squeezed, train)?.relu()?;
        let wide = self.expand3.forward_t(&squeezed, train)?.relu()?;
        Tensor::cat(&[ones, wide], 1)
    }
}
"#;

const PREACT_RESIDUAL: &str = r#"
/// Pre-activated residual cell (ResNet v2): BN, ReLU, kxk conv, twice; the shortcut is the
/// input, or a 1x1 conv of the pre-activated input when the widths differ; nothing after
/// the sum.
#[derive(Clone, Debug)]
pub struct PreactResidualCell {
    a: BnConv,
    b: BnConv,
    proj: Option<Conv2d>,
}

impl PreactResidualCell {
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        let proj = if in_channels == out_channels {
            None
        } else {
            Some(conv(in_channels, out_channels, 1, 1, 1, vb.pp("proj.conv"))?)
        };
        Ok(Self {
            a: BnConv::new(in_channels, out_channels, kernel, 1, vb.pp("a"))?,
            b: BnConv::new(out_channels, out_channels, kernel, 1, vb.pp("b"))?,
            proj,
        })
    }
}

impl ModuleT for PreactResidualCell {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let activated = self.a.bn.forward_t(xs, train)?.relu()?;
        let body = self.a.conv.forward(&activated)?;
        let body = self.b.forward_t(&body, train)?;
        let shortcut = match &self.proj {
            Some(proj) => proj.forward(&activated)?,
            None => xs.clone(),
        };
        body + shortcut
    }
}
"#;

const FRACTAL: &str = r#"
/// FractalNet cell: `columns` columns of kxk conv-BN-ReLU units, the c-th (from 1) holding
/// 2^(c-1) of them; wherever columns meet, their outputs are averaged and the mean feeds all
/// of them. (The engine trains the joins with local drop-path, a mean of a random subset;
/// at inference a join is the plain mean, as here.)
#[derive(Clone, Debug)]
pub struct FractalCell {
    columns: Vec<Vec<ConvBn>>,
}

impl FractalCell {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        columns: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let columns = (0..columns)
            .map(|c| {
                (0..1usize << c)
                    .map(|j| {
                        let from = if j == 0 { in_channels } else { out_channels };
                        let vb = vb.pp(format!("column{}.unit{}", c + 1, j + 1));
                        ConvBn::new(from, out_channels, kernel, vb)
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { columns })
    }
}

impl ModuleT for FractalCell {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let depth = self.columns.last().map_or(1, |c| c.len());
        let mut inputs = vec![xs.clone(); self.columns.len()];
        for step in 1..=depth {
            let mut outs = Vec::new();
            let mut ending = Vec::new();
            for (c, units) in self.columns.iter().enumerate() {
                let span = depth / units.len();
                if step % span == 0 {
                    outs.push(units[step / span - 1].forward_t(&inputs[c], train)?.relu()?);
                    ending.push(c);
                }
            }
            let joined = (Tensor::stack(&outs, 0)?.sum(0)? / outs.len() as f64)?;
            for c in ending {
                inputs[c] = joined.clone();
            }
        }
        Ok(inputs.swap_remove(0))
    }
}
"#;

const BN_CONV: &str = r#"
/// Batch norm at `NAME.bn`, ReLU, then a bias-free conv at `NAME.conv`.
#[derive(Clone, Debug)]
pub struct BnConv {
    bn: BatchNorm,
    conv: Conv2d,
}

impl BnConv {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        groups: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            bn: candle_nn::batch_norm(in_channels, 1e-5, vb.pp("bn"))?,
            conv: conv(in_channels, out_channels, kernel, 1, groups, vb.pp("conv"))?,
        })
    }
}

impl ModuleT for BnConv {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.conv.forward(&self.bn.forward_t(xs, train)?.relu()?)
    }
}
"#;

const PREACT_BOTTLENECK: &str = r#"
/// Pre-activated bottleneck cell (ResNet v2 ordering): BN-ReLU-conv for the 1x1 reduction,
/// the grouped kxk conv and the 1x1 expansion; the shortcut as in `PreactResidualCell`.
#[derive(Clone, Debug)]
pub struct PreactBottleneckCell {
    reduce: BnConv,
    conv: BnConv,
    expand: BnConv,
    proj: Option<Conv2d>,
}

impl PreactBottleneckCell {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        expansion: usize,
        groups: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let mid = ((out_channels / expansion.max(1)) / groups * groups).max(groups);
        let proj = if in_channels == out_channels {
            None
        } else {
            Some(conv(in_channels, out_channels, 1, 1, 1, vb.pp("proj.conv"))?)
        };
        Ok(Self {
            reduce: BnConv::new(in_channels, mid, 1, 1, vb.pp("reduce"))?,
            conv: BnConv::new(mid, mid, kernel, groups, vb.pp("conv"))?,
            expand: BnConv::new(mid, out_channels, 1, 1, vb.pp("expand"))?,
            proj,
        })
    }
}

impl ModuleT for PreactBottleneckCell {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let activated = self.reduce.bn.forward_t(xs, train)?.relu()?;
        let body = self.reduce.conv.forward(&activated)?;
        let body = self.conv.forward_t(&body, train)?;
        let body = self.expand.forward_t(&body, train)?;
        let shortcut = match &self.proj {
            Some(proj) => proj.forward(&activated)?,
            None => xs.clone(),
        };
        body + shortcut
    }
}
"#;

const MOBILE: &str = r#"
/// MBConv cell (MobileNetV2's inverted residual with EfficientNet's squeeze-and-excitation):
/// a 1x1 expansion to `expansion` times the input (none at 1), a depthwise kxk conv at
/// `stride`, optional squeeze-and-excitation, a 1x1 projection; SiLU after the first two, and
/// the input added back at stride 1 when the widths match.
#[derive(Clone, Debug)]
pub struct MobileCell {
    expand: Option<ConvBn>,
    dw: ConvBn,
    se: Option<SqueezeExcite>,
    project: ConvBn,
    residual: bool,
}

/// Squeeze-and-excitation: average to 1x1, 1x1 conv to a quarter of the cell input, SiLU,
/// 1x1 conv back, sigmoid, and the map scaled channel by channel.
#[derive(Clone, Debug)]
pub struct SqueezeExcite {
    fc1: Conv2d,
    fc2: Conv2d,
}

impl MobileCell {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        expansion: usize,
        se: bool,
        stride: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let mid = in_channels * expansion;
        let expand = if expansion == 1 {
            None
        } else {
            Some(ConvBn::new(in_channels, mid, 1, vb.pp("expand"))?)
        };
        let se = if se {
            let squeeze = (in_channels / 4).max(1);
            Some(SqueezeExcite::new(mid, squeeze, vb.pp("se"))?)
        } else {
            None
        };
        Ok(Self {
            expand,
            dw: ConvBn::with_stride(mid, mid, kernel, stride, mid, vb.pp("dw"))?,
            se,
            project: ConvBn::new(mid, out_channels, 1, vb.pp("project"))?,
            residual: stride == 1 && in_channels == out_channels,
        })
    }
}

impl ModuleT for MobileCell {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut ys = xs.clone();
        if let Some(expand) = &self.expand {
            ys = candle_nn::ops::silu(&expand.forward_t(&ys, train)?)?;
        }
        ys = candle_nn::ops::silu(&self.dw.forward_t(&ys, train)?)?;
        if let Some(se) = &self.se {
            ys = se.forward(&ys)?;
        }
        let ys = self.project.forward_t(&ys, train)?;
        if self.residual {
            ys + xs
        } else {
            Ok(ys)
        }
    }
}

impl SqueezeExcite {
    pub fn new(channels: usize, squeeze: usize, vb: VarBuilder) -> Result<Self> {
        let config = Conv2dConfig::default();
        Ok(Self {
            fc1: candle_nn::conv2d(channels, squeeze, 1, config, vb.pp("fc1"))?,
            fc2: candle_nn::conv2d(squeeze, channels, 1, config, vb.pp("fc2"))?,
        })
    }
}

impl Module for SqueezeExcite {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let scale = xs.mean_keepdim((2, 3))?;
        let scale = candle_nn::ops::silu(&self.fc1.forward(&scale)?)?;
        let scale = candle_nn::ops::sigmoid(&self.fc2.forward(&scale)?)?;
        xs.broadcast_mul(&scale)
    }
}
"#;

const CONV_BN: &str = r#"
/// A bias-free kxk conv with "same" padding (`kernel / 2`) at `NAME.conv`, then batch norm at
/// `NAME.bn`; callers add the ReLU where the architecture has one.
#[derive(Clone, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        Self::with_stride(in_channels, out_channels, kernel, 1, 1, vb)
    }

    pub fn with_stride(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            conv: conv(in_channels, out_channels, kernel, stride, groups, vb.pp("conv"))?,
            bn: candle_nn::batch_norm(out_channels, 1e-5, vb.pp("bn"))?,
        })
    }
}

impl ModuleT for ConvBn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_t(&self.conv.forward(xs)?, train)
    }
}

/// A bias-free conv with "same" padding (`kernel / 2`).
fn conv(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let config = Conv2dConfig {
        padding: kernel / 2,
        stride,
        groups,
        ..Default::default()
    };
    candle_nn::conv2d_no_bias(in_channels, out_channels, kernel, config, vb)
}
"#;

const TRANSITION: &str = r#"
/// DenseNet transition between stages: BN, ReLU, 1x1 conv, 2x2 average pooling.
#[derive(Clone, Debug)]
pub struct Transition {
    bn: BatchNorm,
    conv: Conv2d,
}

impl Transition {
    pub fn new(in_channels: usize, out_channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            bn: candle_nn::batch_norm(in_channels, 1e-5, vb.pp("bn"))?,
            conv: conv(in_channels, out_channels, 1, 1, 1, vb.pp("conv"))?,
        })
    }
}

impl ModuleT for Transition {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let ys = self.bn.forward_t(xs, train)?.relu()?;
        self.conv.forward(&ys)?.avg_pool2d(2)
    }
}
"#;

const MAX_POOL_SAME: &str = r#"
/// 3x3 max pooling with stride 1 and padding 1 (PyTorch's `MaxPool2d(3, 1, 1)`): candle's
/// pooling has no padding, so the border is first padded with the lowest f32.
fn max_pool_3x3_same(xs: &Tensor) -> Result<Tensor> {
    let (b_sz, channels, h, w) = xs.dims4()?;
    let rows = Tensor::full(f32::MIN, (b_sz, channels, 1, w), xs.device())?;
    let xs = Tensor::cat(&[&rows, xs, &rows], 2)?;
    let cols = Tensor::full(f32::MIN, (b_sz, channels, h + 2, 1), xs.device())?;
    Tensor::cat(&[&cols, &xs, &cols], 3)?.max_pool2d_with_stride(3, 1)
}
"#;
