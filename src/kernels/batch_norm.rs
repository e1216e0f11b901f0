//! Batch norm over NCHW as fused custom ops: training mode computes the batch
//! statistics in one pass and normalises, scales, shifts (and optionally applies
//! ReLU) in a second; its backward gives dx, dgamma and dbeta in two passes.
//! Eval mode is one fused per-channel affine (+ ReLU) with the running statistics.

use std::sync::{Arc, Mutex};

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor, D};

use super::cpu::{fast_path, slice, with_slice};
use super::planes::{channel_affine, grad_input, grad_input_into, grad_sums, moments};

/// Training-mode batch norm; returns `(y, batch mean, biased batch variance)`.
/// The mean and variance carry no gradient: they are for the running statistics.
pub fn batch_norm_train(
    xs: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    train(xs, gamma, beta, eps, false)
}

/// `relu(batch_norm_train(..).0)` fused into the same two passes.
pub fn batch_norm_relu_train(
    xs: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    train(xs, gamma, beta, eps, true)
}

/// Eval-mode batch norm (+ ReLU when `relu`) with running statistics. On the CPU
/// fast path only `xs` receives a gradient; `gamma` and `beta` do not.
pub fn batch_norm_eval(
    xs: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<Tensor> {
    let scale = (gamma / (running_var + eps)?.sqrt()?)?;
    let shift = (beta - (running_mean * &scale)?)?;
    if !fast_path(&[xs, &scale, &shift]) {
        let ys = xs
            .broadcast_mul(&channel(&scale)?)?
            .broadcast_add(&channel(&shift)?)?;
        return if relu { ys.relu() } else { Ok(ys) };
    }
    let op = ChannelAffine {
        scale: scale.flatten_all()?.to_vec1()?,
        shift: shift.flatten_all()?.to_vec1()?,
        relu,
    };
    xs.contiguous()?.apply_op1(op)
}

/// A per-channel vector shaped to broadcast against NCHW.
fn channel(v: &Tensor) -> Result<Tensor> {
    v.reshape((1, (), 1, 1))
}

fn train(
    xs: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    if !fast_path(&[xs, gamma, beta]) {
        return reference_train(xs, gamma, beta, eps, relu);
    }
    let (_, c, _, _) = xs.dims4()?;
    if gamma.elem_count() != c || beta.elem_count() != c {
        bail!("batch_norm: gamma and beta need {c} elements")
    }
    let stats = Arc::new(Mutex::new(None));
    let op = BatchNormOp {
        eps,
        relu,
        stats: stats.clone(),
    };
    let ys = xs
        .contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
    let stats = stats.lock().unwrap().clone();
    let Some(stats) = stats else {
        bail!("batch_norm: forward kept no statistics")
    };
    let dev = xs.device();
    let mean = Tensor::from_vec(stats.mean, c, dev)?;
    Ok((ys, mean, Tensor::from_vec(stats.var, c, dev)?))
}

/// The plain candle expression, for devices and dtypes the fast path does not cover.
fn reference_train(
    xs: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let c = xs.dim(1)?;
    let flat = xs.transpose(0, 1)?.reshape((c, ()))?;
    let mean = flat.mean(D::Minus1)?;
    let var = flat
        .broadcast_sub(&mean.unsqueeze(1)?)?
        .sqr()?
        .mean(D::Minus1)?;
    let ys = xs
        .broadcast_sub(&channel(&mean)?)?
        .broadcast_div(&channel(&(&var + eps)?.sqrt()?)?)?
        .broadcast_mul(&channel(gamma)?)?
        .broadcast_add(&channel(beta)?)?;
    let ys = if relu { ys.relu()? } else { ys };
    Ok((ys, mean.detach(), var.detach()))
}

/// Per-channel batch statistics, kept by the forward pass for the backward pass.
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    pub mean: Vec<f32>,
    /// Biased batch variance.
    pub var: Vec<f32>,
    pub inv_std: Vec<f32>,
}

/// Training-mode batch norm (+ ReLU) of NCHW `x` (`c` channels of `hw` values) into `y`,
/// which it overwrites; returns the batch statistics for the backward pass.
pub(crate) fn train_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    hw: usize,
    eps: f64,
    relu: bool,
    y: &mut [f32],
) -> Stats {
    let c = gamma.len();
    let (mean, var): (Vec<f32>, Vec<f32>) = moments(x, c, hw).into_iter().unzip();
    let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps as f32).sqrt()).collect();
    let a: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
    let b: Vec<f32> = (0..c).map(|ch| beta[ch] - mean[ch] * a[ch]).collect();
    channel_affine(x, &mut y[..x.len()], &a, &b, hw, relu);
    Stats { mean, var, inv_std }
}

/// The backward pass of `train_forward`: returns `(dgamma, dbeta)` and, when `dx` is given,
/// overwrites it with the input gradient. `y` is the forward output (for the ReLU mask).
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_backward(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    gamma: &[f32],
    stats: &Stats,
    hw: usize,
    relu: bool,
    dx: Option<&mut [f32]>,
) -> (Vec<f32>, Vec<f32>) {
    let Stats { mean, inv_std, .. } = stats;
    let c = gamma.len();
    let count = (x.len() / c.max(1)).max(1) as f32;
    let sums = grad_sums(x, y, dy, mean, hw, relu);
    let dgamma: Vec<f32> = sums
        .iter()
        .zip(inv_std)
        .map(|(s, i)| s[1] as f32 * i)
        .collect();
    let dbeta: Vec<f32> = sums.iter().map(|s| s[0] as f32).collect();
    if let Some(dx) = dx {
        let coef: Vec<[f32; 3]> = (0..c)
            .map(|ch| {
                let a = gamma[ch] * inv_std[ch];
                let b = -a * inv_std[ch] * inv_std[ch] * sums[ch][1] as f32 / count;
                [a, b, -a * sums[ch][0] as f32 / count - b * mean[ch]]
            })
            .collect();
        grad_input_into(x, y, dy, &coef, hw, relu, dx);
    }
    (dgamma, dbeta)
}

struct BatchNormOp {
    eps: f64,
    relu: bool,
    stats: Arc<Mutex<Option<Stats>>>,
}

/// Sizes of an NCHW tensor as batch, channels and plane size.
fn dims(shape: &Shape) -> Result<(usize, usize, usize)> {
    let (n, c, h, w) = shape.dims4()?;
    Ok((n, c, h * w))
}

impl BatchNormOp {
    fn stats(&self) -> Result<Stats> {
        match self.stats.lock().unwrap().clone() {
            Some(stats) => Ok(stats),
            None => bail!("batch_norm: backward before forward"),
        }
    }
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        if self.relu {
            "nas-batch-norm-relu"
        } else {
            "nas-batch-norm"
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, gamma, beta) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (_, _, hw) = dims(l1.shape())?;
        let mut y = vec![0f32; x.len()];
        let stats = train_forward(x, gamma, beta, hw, self.eps, self.relu, &mut y);
        *self.stats.lock().unwrap() = Some(stats);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let stats = self.stats()?;
        let (_, _, hw) = dims(xs.shape())?;
        let (grad, dev) = (grad.contiguous()?, xs.device());
        let gamma_shape = gamma.shape().clone();
        let gamma = gamma.flatten_all()?.to_vec1::<f32>()?;
        with_slice(xs, |x| {
            with_slice(res, |y| {
                with_slice(&grad, |dy| {
                    let mut dx = xs.track_op().then(|| vec![0f32; x.len()]);
                    let (dgamma, dbeta) =
                        train_backward(x, y, dy, &gamma, &stats, hw, self.relu, dx.as_deref_mut());
                    Ok((
                        dx.map(|dx| Tensor::from_vec(dx, xs.shape(), dev))
                            .transpose()?,
                        Some(Tensor::from_vec(dgamma, gamma_shape.clone(), dev)?),
                        Some(Tensor::from_vec(dbeta, beta.shape(), dev)?),
                    ))
                })
            })
        })
    }
}

/// Eval-mode batch norm folded into one per-channel affine map (+ ReLU).
struct ChannelAffine {
    scale: Vec<f32>,
    shift: Vec<f32>,
    relu: bool,
}

impl CustomOp1 for ChannelAffine {
    fn name(&self) -> &'static str {
        "nas-channel-affine"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let (_, c, hw) = dims(l.shape())?;
        if c != self.scale.len() {
            bail!(
                "batch_norm_eval: {c} channels, {} statistics",
                self.scale.len()
            )
        }
        let mut y = vec![0f32; x.len()];
        channel_affine(x, &mut y, &self.scale, &self.shift, hw, self.relu);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, xs: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, hw) = dims(xs.shape())?;
        let coef: Vec<[f32; 3]> = self.scale.iter().map(|s| [*s, 0.0, 0.0]).collect();
        let grad = grad.contiguous()?;
        let dx = with_slice(res, |y| {
            with_slice(&grad, |dy| Ok(grad_input(dy, y, dy, &coef, hw, self.relu)))
        })?;
        Ok(Some(Tensor::from_vec(dx, xs.shape(), xs.device())?))
    }
}
