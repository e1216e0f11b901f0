//! Batch norm over NCHW as fused custom ops: training mode computes the batch
//! statistics in one pass and normalises, scales, shifts (and optionally applies
//! ReLU) in a second; its backward gives dx, dgamma and dbeta in two passes.
//! Eval mode is one fused per-channel affine (+ ReLU) with the running statistics.

use std::sync::{Arc, Mutex};

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::cpu::{fast_path, slice, with_scratch, with_slice};

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
        scale: scale.to_vec1()?,
        shift: shift.to_vec1()?,
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
#[derive(Clone)]
struct Stats {
    mean: Vec<f32>,
    var: Vec<f32>,
    inv_std: Vec<f32>,
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

/// Sums `f(sample, plane)` over the samples' planes of channel `ch`, in f64.
fn channel_sum<T: Into<[f64; 2]>>(
    samples: usize,
    c: usize,
    hw: usize,
    ch: usize,
    mut f: impl FnMut(std::ops::Range<usize>) -> T,
) -> [f64; 2] {
    (0..samples).fold([0.0; 2], |acc, s| {
        let start = (s * c + ch) * hw;
        let [a, b] = f(start..start + hw).into();
        [acc[0] + a, acc[1] + b]
    })
}

/// Two f32 sums of one plane, widened for the running total across planes.
struct Pair(f32, f32);

impl From<Pair> for [f64; 2] {
    fn from(p: Pair) -> Self {
        [p.0 as f64, p.1 as f64]
    }
}

/// Independent partial sums per plane, so that the loops vectorise.
const LANES: usize = 16;

/// `(sum (x - k), sum (x - k)^2)` over one plane.
fn plane_moments(x: &[f32], k: f32) -> Pair {
    let (mut a, mut b) = ([0f32; LANES], [0f32; LANES]);
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for l in 0..LANES {
            let d = chunk[l] - k;
            a[l] += d;
            b[l] += d * d;
        }
    }
    let tail = rest.iter().map(|v| v - k);
    let sum_a = a.iter().sum::<f32>() + tail.clone().sum::<f32>();
    Pair(
        sum_a,
        b.iter().sum::<f32>() + tail.map(|d| d * d).sum::<f32>(),
    )
}

/// `g` where `y > 0` or there is no ReLU, else 0; a bit mask, not a branch, so that
/// loops over half-zero activations vectorise instead of mispredicting.
#[inline(always)]
fn relu_mask(relu: bool, y: f32, g: f32) -> f32 {
    let keep = (!relu || y > 0.0) as u32;
    f32::from_bits(g.to_bits() & keep.wrapping_neg())
}

/// `(sum g, sum g * (x - m))` over one plane.
fn plane_grad_sums(x: &[f32], g: &[f32], m: f32) -> Pair {
    let (mut a, mut b) = ([0f32; LANES], [0f32; LANES]);
    let (xc, gc) = (x.chunks_exact(LANES), g.chunks_exact(LANES));
    let tail = xc.remainder().iter().zip(gc.remainder());
    for (x, g) in xc.zip(gc) {
        for l in 0..LANES {
            a[l] += g[l];
            b[l] += g[l] * (x[l] - m);
        }
    }
    let (mut sum_a, mut sum_b) = (a.iter().sum::<f32>(), b.iter().sum::<f32>());
    for (x, g) in tail {
        sum_a += g;
        sum_b += g * (x - m);
    }
    Pair(sum_a, sum_b)
}

/// Mean and biased variance of each channel in one pass, shifted by the channel's
/// first value so that a large mean does not cancel the variance away.
fn moments(x: &[f32], c: usize, hw: usize) -> Vec<(f32, f32)> {
    let samples = x.len() / (c * hw).max(1);
    let count = (samples * hw).max(1) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let k = x.get(ch * hw).copied().unwrap_or(0.0);
            let [s1, s2] = channel_sum(samples, c, hw, ch, |r| plane_moments(&x[r], k));
            let mean = s1 / count;
            let var = (s2 / count - mean * mean).max(0.0);
            ((mean + k as f64) as f32, var as f32)
        })
        .collect()
}

/// `out = x * a[ch] + b[ch]` (then ReLU) for every plane, across threads by sample.
fn channel_affine(x: &[f32], out: &mut [f32], a: &[f32], b: &[f32], hw: usize, relu: bool) {
    let c = a.len();
    out.par_chunks_mut((c * hw).max(1))
        .zip(x.par_chunks((c * hw).max(1)))
        .for_each(|(out, x)| {
            for ch in 0..c {
                let (o, x) = (&mut out[ch * hw..(ch + 1) * hw], &x[ch * hw..(ch + 1) * hw]);
                let (a, b) = (a[ch], b[ch]);
                if relu {
                    o.iter_mut()
                        .zip(x)
                        .for_each(|(o, x)| *o = (x * a + b).max(0.0));
                } else {
                    o.iter_mut().zip(x).for_each(|(o, x)| *o = x * a + b);
                }
            }
        });
}

/// Per-channel `(sum dy, sum dy * (x - mean))`, with `dy` masked by `y > 0` after a ReLU.
fn grad_sums(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    mean: &[f32],
    hw: usize,
    relu: bool,
) -> Vec<[f64; 2]> {
    let c = mean.len();
    let samples = x.len() / (c * hw).max(1);
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let m = mean[ch];
            with_scratch(hw, |masked| {
                channel_sum(samples, c, hw, ch, |r| {
                    if !relu {
                        return plane_grad_sums(&x[r.clone()], &dy[r], m);
                    }
                    // Masking first keeps the summing loop free of selects, which
                    // stopped it vectorising.
                    let (y, dy) = (&y[r.clone()], &dy[r.clone()]);
                    for ((g, y), dy) in masked.iter_mut().zip(y).zip(dy) {
                        *g = relu_mask(true, *y, *dy);
                    }
                    plane_grad_sums(&x[r], masked, m)
                })
            })
        })
        .collect()
}

/// `dx = a[ch] * dy' + b[ch] * x + k[ch]`, `dy'` masked by `y > 0` after a ReLU.
fn grad_input(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    coef: &[[f32; 3]],
    hw: usize,
    relu: bool,
) -> Vec<f32> {
    let c = coef.len();
    let chunk = (c * hw).max(1);
    let mut dx = vec![0f32; x.len()];
    dx.par_chunks_mut(chunk)
        .zip(
            x.par_chunks(chunk)
                .zip(y.par_chunks(chunk))
                .zip(dy.par_chunks(chunk)),
        )
        .for_each(|(dx, ((x, y), dy))| {
            for (ch, [a, b, k]) in coef.iter().enumerate() {
                let r = ch * hw..(ch + 1) * hw;
                let (dx, x, y, dy) = (&mut dx[r.clone()], &x[r.clone()], &y[r.clone()], &dy[r]);
                for ((dx, x), (y, dy)) in dx.iter_mut().zip(x).zip(y.iter().zip(dy)) {
                    *dx = a * relu_mask(relu, *y, *dy) + b * x + k;
                }
            }
        });
    dx
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
        let (_, c, hw) = dims(l1.shape())?;
        let (mean, var): (Vec<f32>, Vec<f32>) = moments(x, c, hw).into_iter().unzip();
        let inv_std: Vec<f32> = var
            .iter()
            .map(|v| 1.0 / (v + self.eps as f32).sqrt())
            .collect();
        let a: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
        let b: Vec<f32> = (0..c).map(|ch| beta[ch] - mean[ch] * a[ch]).collect();
        let mut y = vec![0f32; x.len()];
        channel_affine(x, &mut y, &a, &b, hw, self.relu);
        *self.stats.lock().unwrap() = Some(Stats { mean, var, inv_std });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Stats { mean, inv_std, .. } = self.stats()?;
        let (n, c, hw) = dims(xs.shape())?;
        let count = (n * hw).max(1) as f32;
        let (grad, dev) = (grad.contiguous()?, xs.device());
        let gamma = gamma.to_vec1::<f32>()?;
        with_slice(xs, |x| {
            with_slice(res, |y| {
                with_slice(&grad, |dy| {
                    let sums = grad_sums(x, y, dy, &mean, hw, self.relu);
                    let dgamma: Vec<f32> = sums
                        .iter()
                        .zip(&inv_std)
                        .map(|(s, i)| s[1] as f32 * i)
                        .collect();
                    let dbeta: Vec<f32> = sums.iter().map(|s| s[0] as f32).collect();
                    let dx = if xs.track_op() {
                        let coef: Vec<[f32; 3]> = (0..c)
                            .map(|ch| {
                                let a = gamma[ch] * inv_std[ch];
                                let b = -a * inv_std[ch] * inv_std[ch] * sums[ch][1] as f32 / count;
                                [a, b, -a * sums[ch][0] as f32 / count - b * mean[ch]]
                            })
                            .collect();
                        let dx = grad_input(x, y, dy, &coef, hw, self.relu);
                        Some(Tensor::from_vec(dx, xs.shape(), dev)?)
                    } else {
                        None
                    };
                    Ok((
                        dx,
                        Some(Tensor::from_vec(dgamma, c, dev)?),
                        Some(Tensor::from_vec(dbeta, c, dev)?),
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
