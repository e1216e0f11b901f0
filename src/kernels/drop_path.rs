//! Drop path (stochastic depth): one keep-or-drop draw per example, applied to the example's
//! whole value; and FractalNet's join, a mean whose inputs each example may drop (local
//! drop-path). The same scaling is its own backward (the gradient of `x * m` is `dy * m`),
//! so one kernel serves both directions of `child::tape`; `drop_path` is the candle version
//! for the reference path, whose draws (like candle's dropout) cannot be seeded.

use candle_core::{DType, Result, Tensor};
use rand::{Rng, RngCore};

/// Fills `mask` with one factor per example: 0 with probability `p`, else 1 / (1 - p).
/// Draws exactly `mask.len()` numbers from `rng`, so seeded runs repeat bit for bit.
pub(crate) fn draw_mask(p: f32, rng: &mut dyn RngCore, mask: &mut [f32]) {
    let keep = 1.0 - p;
    for m in mask {
        *m = if rng.random::<f32>() < keep {
            1.0 / keep
        } else {
            0.0
        };
    }
}

/// `out = x * mask[example]`, the examples being `mask.len()` equal chunks of `x`.
pub(crate) fn scale_examples(x: &[f32], mask: &[f32], out: &mut [f32]) {
    let per = x.len() / mask.len().max(1);
    if per == 0 {
        return;
    }
    for ((o, x), &m) in out.chunks_mut(per).zip(x.chunks(per)).zip(mask) {
        if m == 0.0 {
            o.fill(0.0);
        } else {
            o.iter_mut().zip(x).for_each(|(o, x)| *o = x * m);
        }
    }
}

/// Drop path on a candle tensor whose first dimension is the batch, with candle's random
/// numbers: the reference path's training forward.
pub fn drop_path(xs: &Tensor, p: f32) -> Result<Tensor> {
    let b_sz = xs.dim(0)?;
    let mut shape = vec![1usize; xs.rank()];
    shape[0] = b_sz;
    let draws = Tensor::rand(0f32, 1f32, shape, xs.device())?;
    let keep = 1.0 - p as f64;
    let mask = (draws.lt(keep)?.to_dtype(DType::F32)? / keep)?.to_dtype(xs.dtype())?;
    xs.broadcast_mul(&mask)
}

/// FractalNet's local drop-path weights of a join of `k` inputs, for `weights.len() / k`
/// examples (row `b` holds example `b`'s): each input is kept with probability 1 - p, at
/// least one per example (drawn uniformly when none was), and the kept share the mean.
pub(crate) fn draw_join_weights(p: f32, k: usize, rng: &mut dyn RngCore, weights: &mut [f32]) {
    let keep = 1.0 - p;
    for row in weights.chunks_mut(k) {
        for w in row.iter_mut() {
            *w = if rng.random::<f32>() < keep { 1.0 } else { 0.0 };
        }
        if row.iter().all(|&w| w == 0.0) {
            row[rng.random_range(0..k)] = 1.0;
        }
        let kept = row.iter().sum::<f32>();
        row.iter_mut().for_each(|w| *w /= kept);
    }
}

/// `out[b] = sum_i weights[b][i] * xs[i][b]`: a join's forward, one example at a time.
pub(crate) fn join_forward(xs: &[&[f32]], weights: &[f32], out: &mut [f32]) {
    let k = xs.len();
    let per = out.len() / (weights.len() / k).max(1);
    for (b, (o, row)) in out.chunks_mut(per).zip(weights.chunks(k)).enumerate() {
        o.fill(0.0);
        for (x, &w) in xs.iter().zip(row) {
            if w != 0.0 {
                let x = &x[b * per..(b + 1) * per];
                o.iter_mut().zip(x).for_each(|(o, x)| *o += w * x);
            }
        }
    }
}

/// The gradient of a join's input `i`: `dx[b] = weights[b][i] * dy[b]`.
pub(crate) fn join_backward(dy: &[f32], weights: &[f32], i: usize, k: usize, dx: &mut [f32]) {
    let per = dy.len() / (weights.len() / k).max(1);
    for ((d, g), row) in dx
        .chunks_mut(per)
        .zip(dy.chunks(per))
        .zip(weights.chunks(k))
    {
        let w = row[i];
        d.iter_mut().zip(g).for_each(|(d, g)| *d = w * g);
    }
}

/// A join on candle tensors: the mean of `xs` when `p` is 0, else local drop-path with
/// unseeded draws (the reference path's training forward).
pub fn join_drop(xs: &[&Tensor], p: f32) -> Result<Tensor> {
    let k = xs.len();
    if p <= 0.0 {
        return Tensor::stack(xs, 0)?.sum(0)? / k as f64;
    }
    let b_sz = xs[0].dim(0)?;
    let mut weights = vec![0f32; b_sz * k];
    draw_join_weights(p, k, &mut rand::rng(), &mut weights);
    let weights = Tensor::from_vec(weights, (b_sz, k), xs[0].device())?;
    let mut shape = vec![1usize; xs[0].rank()];
    shape[0] = b_sz;
    let mut sum = xs[0].zeros_like()?;
    for (i, x) in xs.iter().enumerate() {
        let w = weights.narrow(1, i, 1)?.reshape(shape.as_slice())?;
        sum = (sum + x.broadcast_mul(&w.to_dtype(x.dtype())?)?)?;
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn drop_path_zeroes_whole_examples_and_scales_the_kept_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut mask = vec![0f32; 64];
        draw_mask(0.25, &mut rng, &mut mask);
        let kept = mask.iter().filter(|&&m| m != 0.0).count();
        assert!((36..=60).contains(&kept), "{kept} of 64 kept at p = 0.25");
        assert!(mask
            .iter()
            .all(|&m| m == 0.0 || (m - 4.0 / 3.0).abs() < 1e-6));
        let x: Vec<f32> = (0..64 * 3).map(|i| i as f32).collect();
        let mut out = vec![f32::NAN; x.len()];
        scale_examples(&x, &mask, &mut out);
        for (b, &m) in mask.iter().enumerate() {
            for k in 0..3 {
                assert_eq!(out[b * 3 + k], x[b * 3 + k] * m);
            }
        }
    }

    #[test]
    fn candle_drop_path_keeps_or_drops_each_example_whole() {
        let xs = Tensor::ones((32, 2, 3, 3), DType::F32, &candle_core::Device::Cpu).unwrap();
        let ys = drop_path(&xs, 0.5).unwrap();
        let per: Vec<f32> = ys
            .flatten_from(1)
            .unwrap()
            .max(1)
            .unwrap()
            .to_vec1()
            .unwrap();
        let mins: Vec<f32> = ys
            .flatten_from(1)
            .unwrap()
            .min(1)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(per, mins, "an example is scaled as a whole");
        assert!(per.iter().all(|&v| v == 0.0 || v == 2.0));
    }

    #[test]
    fn a_join_keeps_at_least_one_input_and_averages_the_kept() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (k, batch) = (3, 200);
        let mut weights = vec![0f32; batch * k];
        draw_join_weights(0.6, k, &mut rng, &mut weights);
        for row in weights.chunks(k) {
            let kept: Vec<f32> = row.iter().copied().filter(|&w| w > 0.0).collect();
            assert!(!kept.is_empty());
            assert!(kept
                .iter()
                .all(|&w| (w - 1.0 / kept.len() as f32).abs() < 1e-6));
        }
        let dropped = weights.iter().filter(|&&w| w == 0.0).count();
        assert!(
            dropped > batch && dropped < 2 * batch,
            "{dropped} of {}",
            batch * k
        );
        // forward: the weighted mean; backward: the weights again
        let xs: Vec<Vec<f32>> = (0..k).map(|i| vec![i as f32 + 1.0; batch * 2]).collect();
        let refs: Vec<&[f32]> = xs.iter().map(|x| x.as_slice()).collect();
        let mut out = vec![0f32; batch * 2];
        join_forward(&refs, &weights, &mut out);
        let mut dx = vec![0f32; batch * 2];
        join_backward(&vec![1.0; batch * 2], &weights, 2, k, &mut dx);
        for (b, row) in weights.chunks(k).enumerate() {
            let want: f32 = row
                .iter()
                .enumerate()
                .map(|(i, w)| w * (i as f32 + 1.0))
                .sum();
            assert!((out[b * 2] - want).abs() < 1e-6 && out[b * 2 + 1] == out[b * 2]);
            assert_eq!(dx[b * 2], row[2]);
        }
    }
}
