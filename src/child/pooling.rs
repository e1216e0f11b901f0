//! Max and average pooling with PyTorch's padding and ceil-mode semantics. candle's pooling
//! has neither, so the input is padded explicitly (with -inf for max, zeros for average,
//! which is PyTorch's `count_include_pad=True`) before a plain strided window. Adaptive average
//! pooling cuts its windows as PyTorch does.

use candle_core::{DType, Result, Tensor};

use crate::graph::Pool;

/// Pads `xs` along `dim` with `before` and `after` slices holding `value`.
fn pad_value(xs: &Tensor, dim: usize, before: usize, after: usize, value: f64) -> Result<Tensor> {
    if before == 0 && after == 0 {
        return Ok(xs.clone());
    }
    let slab = |len: usize| -> Result<Tensor> {
        let mut dims = xs.dims().to_vec();
        dims[dim] = len;
        Tensor::full(value, dims, xs.device())?.to_dtype(xs.dtype())
    };
    let mut parts = Vec::with_capacity(3);
    if before > 0 {
        parts.push(slab(before)?);
    }
    parts.push(xs.clone());
    if after > 0 {
        parts.push(slab(after)?);
    }
    Tensor::cat(&parts, dim)
}

/// Pads both spatial axes so that a plain strided window gives PyTorch's output size.
fn pad_for(xs: &Tensor, pool: &Pool, value: f64) -> Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    let mut xs = xs.clone();
    for (dim, len) in [(2, h), (3, w)] {
        let out = pool
            .out_len(len)
            .ok_or_else(|| candle_core::Error::Msg(format!("pool window too large for {len}")))?;
        let needed = (out - 1) * pool.stride + pool.kernel;
        let after = needed.saturating_sub(len + pool.padding);
        xs = pad_value(&xs, dim, pool.padding, after, value)?;
    }
    Ok(xs)
}

/// Max pooling over NCHW input.
pub fn max_pool(xs: &Tensor, pool: &Pool) -> Result<Tensor> {
    if pool.kernel == pool.stride && pool.padding == 0 && !pool.ceil {
        return windows(xs, pool.kernel)?.max(5)?.max(3);
    }
    let low = if xs.dtype() == DType::F32 {
        f32::MIN as f64
    } else {
        f64::MIN
    };
    fold_views(xs, pool, low, |acc, view| acc.maximum(&view))
}

/// Average pooling over NCHW input; padded zeros count in the average, as in PyTorch.
pub fn avg_pool(xs: &Tensor, pool: &Pool) -> Result<Tensor> {
    if pool.kernel == pool.stride && pool.padding == 0 && !pool.ceil {
        return windows(xs, pool.kernel)?.mean(5)?.mean(3);
    }
    let sum = fold_views(xs, pool, 0.0, |acc, view| acc + view)?;
    sum.affine(1.0 / (pool.kernel * pool.kernel) as f64, 0.0)
}

/// Pads `xs` with `fill` and combines its shifted views element-wise with `combine`.
fn fold_views(
    xs: &Tensor,
    pool: &Pool,
    fill: f64,
    combine: impl Fn(Tensor, Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    let padded = pad_for(xs, pool, fill)?;
    let mut views = shifted_views(&padded, pool, h, w)?.into_iter();
    let first = views
        .next()
        .ok_or_else(|| candle_core::Error::Msg("empty pooling window".into()))?;
    views.try_fold(first, combine)
}

/// Non-overlapping k x k windows as a [n, c, oh, k, ow, k] tensor. Pooling by a reduction
/// over it has exact gradients: candle 0.11.1's `max_pool2d` backward scales the gradient by
/// (maxima in the window) / k^2, its `avg_pool2d` backward misplaces it when the size is not a
/// multiple of k, and both refuse windows that overlap.
fn windows(xs: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, h, w) = xs.dims4()?;
    let (oh, ow) = (h / k, w / k);
    let xs = xs
        .narrow(2, 0, oh * k)?
        .narrow(3, 0, ow * k)?
        .contiguous()?;
    xs.reshape((n, c, oh, k, ow, k))
}

/// The k^2 views of a padded input, one per window offset, each of the output's size; an
/// element-wise max or sum over them is the pooling, with candle's exact element-wise gradients.
fn shifted_views(padded: &Tensor, pool: &Pool, h: usize, w: usize) -> Result<Vec<Tensor>> {
    let fail = || candle_core::Error::Msg("pool window too large".into());
    let (oh, ow) = (
        pool.out_len(h).ok_or_else(fail)?,
        pool.out_len(w).ok_or_else(fail)?,
    );
    let s = pool.stride;
    let pick = |len: usize| -> Result<Option<Tensor>> {
        if s == 1 {
            return Ok(None);
        }
        let idx: Vec<u32> = (0..len).map(|i| (i * s) as u32).collect();
        Ok(Some(Tensor::new(idx, padded.device())?))
    };
    let (rows, cols) = (pick(oh)?, pick(ow)?);
    let mut views = Vec::with_capacity(pool.kernel * pool.kernel);
    for di in 0..pool.kernel {
        for dj in 0..pool.kernel {
            let mut v = padded
                .narrow(2, di, (oh - 1) * s + 1)?
                .narrow(3, dj, (ow - 1) * s + 1)?;
            if let Some(r) = &rows {
                v = v.contiguous()?.index_select(r, 2)?;
            }
            if let Some(c) = &cols {
                v = v.contiguous()?.index_select(c, 3)?;
            }
            views.push(v);
        }
    }
    Ok(views)
}

/// PyTorch's `adaptive_avg_pool2d` to `size x size`: window `i` of `size` over a side of `len`
/// runs from `floor(i * len / size)` to `ceil((i + 1) * len / size)`. Built from narrow, mean
/// and concatenation, so candle's autograd differentiates it; the fast path has its own kernel.
pub fn adaptive_avg_pool(xs: &Tensor, size: usize) -> Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    if size == 1 {
        return xs.mean_keepdim((2, 3));
    }
    let window = |i: usize, len: usize| (i * len / size, ((i + 1) * len).div_ceil(size));
    let mut rows = Vec::with_capacity(size);
    for oy in 0..size {
        let (y0, y1) = window(oy, h);
        let band = xs.narrow(2, y0, y1 - y0)?;
        let mut cells = Vec::with_capacity(size);
        for ox in 0..size {
            let (x0, x1) = window(ox, w);
            cells.push(band.narrow(3, x0, x1 - x0)?.mean_keepdim((2, 3))?);
        }
        rows.push(Tensor::cat(&cells, 3)?);
    }
    Tensor::cat(&rows, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn padded_max_pool_matches_pytorch() {
        // torch.nn.functional.max_pool2d(torch.arange(16.).reshape(1,1,4,4), 3, 2, 1)
        // -> [[5, 7], [13, 15]]
        let xs = Tensor::arange(0f32, 16., &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 4, 4))
            .unwrap();
        let pool = Pool {
            kernel: 3,
            stride: 2,
            padding: 1,
            ceil: false,
        };
        let ys = max_pool(&xs, &pool)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(ys, vec![5., 7., 13., 15.]);
    }

    #[test]
    fn ceil_mode_keeps_the_partial_window() {
        // torch.nn.functional.max_pool2d(torch.arange(25.).reshape(1,1,5,5), 2, 2, ceil_mode=True)
        // -> [[6, 8, 9], [16, 18, 19], [21, 23, 24]]
        let xs = Tensor::arange(0f32, 25., &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 5, 5))
            .unwrap();
        let pool = Pool {
            kernel: 2,
            stride: 2,
            padding: 0,
            ceil: true,
        };
        let ys = max_pool(&xs, &pool)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(ys, vec![6., 8., 9., 16., 18., 19., 21., 23., 24.]);
    }

    #[test]
    fn padded_avg_pool_counts_the_padding() {
        // torch.nn.functional.avg_pool2d(torch.ones(1,1,2,2), 3, 1, 1) -> all 4/9
        let xs = Tensor::ones((1, 1, 2, 2), DType::F32, &Device::Cpu).unwrap();
        let pool = Pool {
            kernel: 3,
            stride: 1,
            padding: 1,
            ceil: false,
        };
        let ys = avg_pool(&xs, &pool)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for y in ys {
            assert!((y - 4.0 / 9.0).abs() < 1e-6);
        }
    }

    #[test]
    fn max_pool_gradient_reaches_each_window_maximum_whole() {
        // torch: x = torch.arange(16.).reshape(1, 1, 4, 4).requires_grad_()
        // F.max_pool2d(x, 2).sum().backward() -> x.grad is 1 at 5, 7, 13, 15 and 0 elsewhere
        let xs = candle_core::Var::from_tensor(
            &Tensor::arange(0f32, 16., &candle_core::Device::Cpu)
                .unwrap()
                .reshape((1, 1, 4, 4))
                .unwrap(),
        )
        .unwrap();
        let ys = max_pool(xs.as_tensor(), &Pool::new(2, 2)).unwrap();
        let grads = ys.sum_all().unwrap().backward().unwrap();
        let grad: Vec<f32> = grads
            .get(xs.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let expected: Vec<f32> = (0..16)
            .map(|i| if [5, 7, 13, 15].contains(&i) { 1. } else { 0. })
            .collect();
        assert_eq!(grad, expected);
    }

    #[test]
    fn overlapping_pools_have_pytorchs_gradients() {
        // x = torch.arange(16.).reshape(1,1,4,4).requires_grad_()
        // F.max_pool2d(x, 3, 2, 1).sum().backward() -> x.grad is 1 at 5, 7, 13, 15
        let x = candle_core::Var::from_tensor(
            &Tensor::arange(0f32, 16., &Device::Cpu)
                .unwrap()
                .reshape((1, 1, 4, 4))
                .unwrap(),
        )
        .unwrap();
        let pool = Pool {
            kernel: 3,
            stride: 2,
            padding: 1,
            ceil: false,
        };
        let grads = max_pool(x.as_tensor(), &pool)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let want: Vec<f32> = (0..16)
            .map(|i| if [5, 7, 13, 15].contains(&i) { 1. } else { 0. })
            .collect();
        assert_eq!(g, want);
        // y = torch.ones(1,1,4,4).requires_grad_(); F.avg_pool2d(y, 3, 1, 1).sum().backward()
        // -> y.grad = windows covering each pixel / 9: corners 4/9, edges 6/9, inside 1
        let y = candle_core::Var::from_tensor(
            &Tensor::ones((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap(),
        )
        .unwrap();
        let pool = Pool {
            kernel: 3,
            stride: 1,
            padding: 1,
            ceil: false,
        };
        let grads = avg_pool(y.as_tensor(), &pool)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = grads
            .get(y.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let cover = |i: usize| if i == 0 || i == 3 { 2.0 } else { 3.0 };
        for (k, v) in g.iter().enumerate() {
            let want = cover(k / 4) * cover(k % 4) / 9.0;
            assert!((v - want).abs() < 1e-6, "{k}: {v} vs {want}");
        }
    }
}
