//! Direct depthwise convolution (one group per channel, one output channel per group), the
//! convolution of MobileNet's and EfficientNet's inverted residuals.
//!
//! Why not im2col + GEMM there: each group is a 1-row GEMM over `k * k` taps, so the column
//! matrix costs `k * k` copies of the input for a multiply of the same size, and the GEMM's
//! packing dominates. Here each output plane is the sum of `k * k` shifted, scaled rows of its
//! input plane: for stride 1 the inner loop runs over contiguous pixels and vectorises. The
//! input and kernel gradients are the same loops read the other way. Planes run in parallel;
//! the kernel gradient sums each channel over the batch in batch order on one thread, so its
//! bits do not depend on the thread count.

use rayon::prelude::*;

use super::im2col::Geom;

/// Whether `g` is a depthwise convolution this kernel runs: `groups == in == out > 1`.
pub(crate) fn applies(g: &Geom) -> bool {
    g.groups > 1 && g.groups == g.c && g.o == g.c
}

/// For kernel offset `k` along an axis: the output range whose input index
/// `o * stride + k * dil - pad` falls inside `0..len`, as `(first, end)`.
fn valid(out: usize, len: usize, k: usize, g: &Geom) -> (usize, usize) {
    let shift = (k * g.dil) as isize - g.pad as isize;
    let s = g.stride as isize;
    // first o with o*s + shift >= 0
    let first = if shift >= 0 { 0 } else { (-shift + s - 1) / s };
    // last o with o*s + shift <= len - 1
    let last = (len as isize - 1 - shift).div_euclid(s);
    let end = (last + 1).clamp(0, out as isize);
    (
        first.min(out as isize) as usize,
        end.max(first.min(out as isize)) as usize,
    )
}

/// Calls `f(ky, kx, oy, ox_first, ox_end, iy, ix_first)` for every tap and output row, with
/// the output columns whose input lies inside the plane.
fn taps(g: &Geom, mut f: impl FnMut(usize, usize, usize, usize, usize, usize, usize)) {
    for ky in 0..g.kh {
        let (oy0, oy1) = valid(g.oh, g.h, ky, g);
        for kx in 0..g.kw {
            let (ox0, ox1) = valid(g.ow, g.w, kx, g);
            if ox0 >= ox1 {
                continue;
            }
            for oy in oy0..oy1 {
                let iy = oy * g.stride + ky * g.dil - g.pad;
                let ix0 = ox0 * g.stride + kx * g.dil - g.pad;
                f(ky, kx, oy, ox0, ox1, iy, ix0);
            }
        }
    }
}

/// `y = depthwise(x, w) (+ bias)`, or `y += depthwise(x, w)` when `accumulate`.
pub(crate) fn conv_into(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    accumulate: bool,
    y: &mut [f32],
) {
    let (hw, ohw, taps_len) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    y[..g.n * g.c * ohw]
        .par_chunks_mut(ohw)
        .zip(x[..g.n * g.c * hw].par_chunks(hw))
        .enumerate()
        .for_each(|(plane, (ys, xs))| {
            let c = plane % g.c;
            if !accumulate {
                ys.fill(bias.map_or(0.0, |b| b[c]));
            }
            let wc = &w[c * taps_len..(c + 1) * taps_len];
            taps(g, |ky, kx, oy, ox0, ox1, iy, ix0| {
                let wv = wc[ky * g.kw + kx];
                let row = &mut ys[oy * g.ow + ox0..oy * g.ow + ox1];
                let src = &xs[iy * g.w + ix0..];
                if g.stride == 1 {
                    row.iter_mut().zip(src).for_each(|(y, x)| *y += wv * x);
                } else {
                    let step = src.iter().step_by(g.stride);
                    row.iter_mut().zip(step).for_each(|(y, x)| *y += wv * x);
                }
            });
        });
}

/// `dx = depthwise^T(dy, w)`, added onto `dx` when `accumulate`.
pub(crate) fn grad_input_into(g: &Geom, dy: &[f32], w: &[f32], accumulate: bool, dx: &mut [f32]) {
    let (hw, ohw, taps_len) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    dx[..g.n * g.c * hw]
        .par_chunks_mut(hw)
        .zip(dy[..g.n * g.c * ohw].par_chunks(ohw))
        .enumerate()
        .for_each(|(plane, (dxs, dys))| {
            let c = plane % g.c;
            if !accumulate {
                dxs.fill(0.0);
            }
            let wc = &w[c * taps_len..(c + 1) * taps_len];
            taps(g, |ky, kx, oy, ox0, ox1, iy, ix0| {
                let wv = wc[ky * g.kw + kx];
                let row = &dys[oy * g.ow + ox0..oy * g.ow + ox1];
                let dst = &mut dxs[iy * g.w + ix0..];
                if g.stride == 1 {
                    dst.iter_mut().zip(row).for_each(|(d, g)| *d += wv * g);
                } else {
                    let step = dst.iter_mut().step_by(g.stride);
                    step.zip(row).for_each(|(d, g)| *d += wv * g);
                }
            });
        });
}

/// Kernel gradient `dw[c] = sum over samples and pixels of dy[n, c] (x) x[n, c]`, one
/// channel per task, samples summed in batch order.
pub(crate) fn grad_kernel(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (hw, ohw, taps_len) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    let mut dw = vec![0f32; g.c * taps_len];
    dw.par_chunks_mut(taps_len)
        .enumerate()
        .for_each(|(c, dwc)| {
            for n in 0..g.n {
                let plane = n * g.c + c;
                let xs = &x[plane * hw..(plane + 1) * hw];
                let dys = &dy[plane * ohw..(plane + 1) * ohw];
                taps(g, |ky, kx, oy, ox0, ox1, iy, ix0| {
                    let row = &dys[oy * g.ow + ox0..oy * g.ow + ox1];
                    let src = &xs[iy * g.w + ix0..];
                    let dot: f32 = if g.stride == 1 {
                        row.iter().zip(src).map(|(d, x)| d * x).sum()
                    } else {
                        row.iter()
                            .zip(src.iter().step_by(g.stride))
                            .map(|(d, x)| d * x)
                            .sum()
                    };
                    dwc[ky * g.kw + kx] += dot;
                });
            }
        });
    dw
}
