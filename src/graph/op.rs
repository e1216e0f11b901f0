//! The operations a child network is made of. Every architecture, searched or from the zoo,
//! is a list of these; the child builder, the parameter/MAC counter and the code exporter all
//! read the same list, so they cannot disagree about what a network is.

use serde::{Deserialize, Serialize};

/// Settings of a 2-D convolution (square kernel, symmetric padding, as in the zoo and spaces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    pub out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
    pub bias: bool,
}

impl Conv {
    /// A bias-free convolution with stride 1 and "same" padding, the common case in cells.
    pub fn same(out: usize, kernel: usize) -> Self {
        Conv {
            out,
            kernel,
            stride: 1,
            padding: kernel / 2,
            dilation: 1,
            groups: 1,
            bias: false,
        }
    }

    /// Builder-style stride.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Builder-style padding.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Builder-style groups.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Builder-style bias.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

/// Settings of a max or average pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// torchvision's `ceil_mode`: round the output size up (GoogLeNet, SqueezeNet).
    pub ceil: bool,
}

impl Pool {
    /// A window of `kernel` with the given stride, no padding, floor mode.
    pub fn new(kernel: usize, stride: usize) -> Self {
        Pool {
            kernel,
            stride,
            padding: 0,
            ceil: false,
        }
    }

    /// Output length along one axis of length `len`, with PyTorch's rules.
    pub fn out_len(&self, len: usize) -> Option<usize> {
        if self.stride == 0 || self.kernel == 0 {
            return None;
        }
        let int = |v: usize| i64::try_from(v).ok().filter(|&v| v < i64::MAX / 4);
        let (len_i, pad, k, s) = (
            int(len)?,
            int(self.padding)?,
            int(self.kernel)?,
            int(self.stride)?,
        );
        // PyTorch's pooling_output_shape: C integer division, then the ceil-mode correction.
        let span = len_i + 2 * pad - k + if self.ceil { s - 1 } else { 0 };
        if span < 0 && !(self.ceil && span + s > 0) {
            return None;
        }
        let mut out = span / s + 1;
        // The last window must start inside the input or the left padding.
        if self.ceil && (out - 1) * s >= len_i + pad {
            out -= 1;
        }
        (out >= 1).then_some(out as usize)
    }
}

/// PyTorch's default batch-norm eps.
pub const BN_EPS: f64 = 1e-5;

fn default_bn_eps() -> f64 {
    BN_EPS
}

/// One operation of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// The network's input image.
    Input,
    Conv(Conv),
    /// Batch norm over channels with momentum 0.1; `eps` is PyTorch's 1e-5 unless the net says
    /// otherwise (torchvision's GoogLeNet uses 1e-3). Graphs stored before eps was an
    /// attribute read back with the default.
    BatchNorm {
        #[serde(default = "default_bn_eps")]
        eps: f64,
    },
    Relu,
    Relu6,
    MaxPool(Pool),
    AvgPool(Pool),
    GlobalAvgPool,
    /// Channel-wise concatenation of all inputs.
    Concat,
    /// Element-wise sum of all inputs.
    Add,
    Linear {
        out: usize,
        bias: bool,
    },
    Dropout {
        p: f32,
    },
    Flatten,
    /// Stochastic depth (Huang et al. 2016): in training, each example's whole value is zeroed
    /// with probability `p` and the kept ones are scaled by 1 / (1 - p); identity in
    /// evaluation. Put on a residual branch, it drops the branch, not single values.
    DropPath {
        p: f32,
    },
    /// FractalNet's join: the mean of its inputs. In training, each example drops each input
    /// with probability `p` (local drop-path), keeping at least one, and averages the kept.
    Join {
        p: f32,
    },
    /// `x * sigmoid(x)` (swish), EfficientNet's activation.
    Silu,
    Sigmoid,
    /// PyTorch's `AdaptiveAvgPool2d(size)`: windows cut so that the output is `size x size`.
    AdaptiveAvgPool {
        size: usize,
    },
    /// Squeeze-and-excitation's product: the first input `[C, H, W]` times the second, a
    /// per-channel gate `[C, 1, 1]`, broadcast over the map.
    Scale,
}

impl Op {
    /// Short lower-case name for tables and generated code.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Conv(_) => "conv",
            Op::BatchNorm { .. } => "batch_norm",
            Op::Relu => "relu",
            Op::Relu6 => "relu6",
            Op::MaxPool(_) => "max_pool",
            Op::AvgPool(_) => "avg_pool",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Concat => "concat",
            Op::Add => "add",
            Op::Linear { .. } => "linear",
            Op::Dropout { .. } => "dropout",
            Op::Flatten => "flatten",
            Op::DropPath { .. } => "drop_path",
            Op::Join { .. } => "join",
            Op::Silu => "silu",
            Op::Sigmoid => "sigmoid",
            Op::AdaptiveAvgPool { .. } => "adaptive_avg_pool",
            Op::Scale => "scale",
        }
    }

    /// True for ops that own parameters and therefore need a unique `VarBuilder` path.
    pub fn has_params(&self) -> bool {
        matches!(self, Op::Conv(_) | Op::BatchNorm { .. } | Op::Linear { .. })
    }
}
