//! The two layers that dominate a CNN's training time, convolution and batch norm, each able
//! to run on nas's own CPU kernels (`crate::kernels`, the default) or on candle's reference ops
//! (kept for checking). Parameters are created through `VarBuilder` under candle-nn's names,
//! so weights are interchangeable between the two paths and with exported code.

use candle_core::{DType, Module, ModuleT, Result, Tensor, Var};
use candle_nn::{BatchNorm, BatchNormConfig, Init, VarBuilder};

use crate::graph::Conv;
use crate::kernels::{self, ConvParams};

/// Which implementation the layers use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kernels {
    /// im2col + GEMM convolution and fused batch norm with their own backward (CPU, f32;
    /// other devices fall back to candle inside the kernels).
    #[default]
    Fast,
    /// candle's own ops.
    Reference,
}

/// A convolution that keeps its settings, so it can run on either implementation.
#[derive(Clone, Debug)]
pub struct ConvLayer {
    weight: Tensor,
    bias: Option<Tensor>,
    conv: Conv,
    kernels: Kernels,
}

impl ConvLayer {
    /// Creates the weights under `vb` with candle-nn's initialisation (Kaiming normal).
    pub fn new(in_channels: usize, conv: Conv, kernels: Kernels, vb: VarBuilder) -> Result<Self> {
        let cfg = candle_nn::Conv2dConfig {
            padding: conv.padding,
            stride: conv.stride,
            dilation: conv.dilation,
            groups: conv.groups,
            cudnn_fwd_algo: None,
        };
        let layer = if conv.bias {
            candle_nn::conv2d(in_channels, conv.out, conv.kernel, cfg, vb)?
        } else {
            candle_nn::conv2d_no_bias(in_channels, conv.out, conv.kernel, cfg, vb)?
        };
        Ok(ConvLayer {
            weight: layer.weight().clone(),
            bias: layer.bias().cloned(),
            conv,
            kernels,
        })
    }

    /// The kernel, the bias and the settings, for nas's own backward pass (`super::tape`).
    pub(crate) fn parts(&self) -> (&Tensor, Option<&Tensor>, ConvParams) {
        let c = &self.conv;
        let params = ConvParams {
            stride: c.stride,
            padding: c.padding,
            dilation: c.dilation,
            groups: c.groups,
        };
        (&self.weight, self.bias.as_ref(), params)
    }
}

impl Module for ConvLayer {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let c = &self.conv;
        if self.kernels == Kernels::Fast {
            let (weight, bias, params) = self.parts();
            return kernels::conv2d(xs, weight, bias, params);
        }
        let ys = xs.conv2d(&self.weight, c.padding, c.stride, c.dilation, c.groups)?;
        match &self.bias {
            Some(b) => ys.broadcast_add(&b.reshape((1, (), 1, 1))?),
            None => Ok(ys),
        }
    }
}

/// Batch norm (momentum 0.1, PyTorch's default; eps from the graph), optionally fused with
/// the ReLU that follows it. Training normalises with batch statistics and updates the running ones;
/// evaluation uses the running ones.
#[derive(Clone, Debug)]
pub struct BatchNormLayer {
    running_mean: Var,
    running_var: Var,
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    relu: bool,
    kernels: Kernels,
    reference: BatchNorm,
}

const MOMENTUM: f64 = 0.1;

impl BatchNormLayer {
    /// Creates `weight`, `bias`, `running_mean` and `running_var` under `vb`.
    pub fn new(
        channels: usize,
        eps: f64,
        relu: bool,
        kernels: Kernels,
        vb: VarBuilder,
    ) -> Result<Self> {
        let reference = candle_nn::batch_norm(
            channels,
            BatchNormConfig {
                eps,
                momentum: MOMENTUM,
                ..Default::default()
            },
            vb.clone(),
        )?;
        let running_mean =
            Var::from_tensor(&vb.get_with_hints(channels, "running_mean", Init::Const(0.))?)?;
        let running_var =
            Var::from_tensor(&vb.get_with_hints(channels, "running_var", Init::Const(1.))?)?;
        let weight = vb.get_with_hints(channels, "weight", Init::Const(1.))?;
        let bias = vb.get_with_hints(channels, "bias", Init::Const(0.))?;
        Ok(BatchNormLayer {
            running_mean,
            running_var,
            weight,
            bias,
            eps,
            relu,
            kernels,
            reference,
        })
    }

    fn fast_train(&self, xs: &Tensor) -> Result<Tensor> {
        let (y, mean, var) = if self.relu {
            kernels::batch_norm_relu_train(xs, &self.weight, &self.bias, self.eps)?
        } else {
            kernels::batch_norm_train(xs, &self.weight, &self.bias, self.eps)?
        };
        let count = xs.elem_count() / xs.dim(1)?;
        self.update_running(&mean.to_vec1()?, &var.to_vec1()?, count)?;
        Ok(y)
    }

    /// Moves the running statistics towards a batch's mean and biased variance over `count`
    /// values per channel, with PyTorch's momentum and its unbiased variance.
    pub(crate) fn update_running(&self, mean: &[f32], var: &[f32], count: usize) -> Result<()> {
        let n = count as f64;
        let unbiased = n / (n - 1.0).max(1.0);
        let blend = |running: &Var, batch: &[f32], scale: f64| -> Result<()> {
            let old: Vec<f32> = running.as_tensor().to_vec1()?;
            let new: Vec<f32> = old
                .iter()
                .zip(batch)
                .map(|(r, b)| ((1.0 - MOMENTUM) * *r as f64 + MOMENTUM * scale * *b as f64) as f32)
                .collect();
            running.set(&Tensor::from_vec(new, old.len(), running.device())?)
        };
        blend(&self.running_mean, mean, 1.0)?;
        blend(&self.running_var, var, unbiased)
    }

    /// Evaluation mode folded into one per-channel affine map `x * scale + shift`, computed
    /// as `kernels::batch_norm_eval` computes it.
    pub(crate) fn eval_affine(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let gamma: Vec<f32> = self.weight.to_vec1()?;
        let beta: Vec<f32> = self.bias.to_vec1()?;
        let mean: Vec<f32> = self.running_mean.as_tensor().to_vec1()?;
        let var: Vec<f32> = self.running_var.as_tensor().to_vec1()?;
        let scale: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + self.eps as f32).sqrt())
            .collect();
        let shift = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Ok((scale, shift))
    }

    /// The eps added to the variance.
    pub(crate) fn eps(&self) -> f64 {
        self.eps
    }

    /// `(gamma, beta, fused ReLU)`, for nas's own backward pass (`super::tape`).
    pub(crate) fn parts(&self) -> (&Tensor, &Tensor, bool) {
        (&self.weight, &self.bias, self.relu)
    }
}

impl ModuleT for BatchNormLayer {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let fast =
            self.kernels == Kernels::Fast && xs.device().is_cpu() && xs.dtype() == DType::F32;
        match (fast, train) {
            (true, true) => self.fast_train(xs),
            (true, false) => kernels::batch_norm_eval(
                xs,
                &self.weight,
                &self.bias,
                self.running_mean.as_tensor(),
                self.running_var.as_tensor(),
                self.eps,
                self.relu,
            ),
            (false, _) => {
                let ys = self.reference.forward_t(xs, train)?;
                if self.relu {
                    ys.relu()
                } else {
                    Ok(ys)
                }
            }
        }
    }
}
