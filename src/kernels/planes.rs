//! The loops of batch norm over the channel planes of NCHW f32 data: statistics,
//! the per-channel affine map, and the sums and map of the backward pass. Kept
//! apart from the custom ops so that their vectorisation can be read and tuned.

use rayon::prelude::*;

use super::cpu::with_scratch;

/// Sums `f(range of one plane)` over every sample's plane of channel `ch`, in f64.
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

/// `g` if `keep`, else 0; a bit mask, not a branch, so that loops over half-zero
/// activations (ReLU gradients) vectorise instead of mispredicting.
#[inline(always)]
pub(crate) fn keep_if(keep: bool, g: f32) -> f32 {
    f32::from_bits(g.to_bits() & (keep as u32).wrapping_neg())
}

/// `g` where `y > 0` or there is no ReLU, else 0.
#[inline(always)]
fn relu_mask(relu: bool, y: f32, g: f32) -> f32 {
    keep_if(!relu || y > 0.0, g)
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
pub(crate) fn moments(x: &[f32], c: usize, hw: usize) -> Vec<(f32, f32)> {
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
pub(crate) fn channel_affine(
    x: &[f32],
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    hw: usize,
    relu: bool,
) {
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
pub(crate) fn grad_sums(
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
pub(crate) fn grad_input(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    coef: &[[f32; 3]],
    hw: usize,
    relu: bool,
) -> Vec<f32> {
    let mut dx = vec![0f32; x.len()];
    grad_input_into(x, y, dy, coef, hw, relu, &mut dx);
    dx
}

/// `grad_input` into `dx` (as long as `x`), which it overwrites.
pub(crate) fn grad_input_into(
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    coef: &[[f32; 3]],
    hw: usize,
    relu: bool,
    dx: &mut [f32],
) {
    let c = coef.len();
    let chunk = (c * hw).max(1);
    dx[..x.len()]
        .par_chunks_mut(chunk)
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
}
