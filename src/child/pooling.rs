//! Max and average pooling with PyTorch's padding and ceil-mode semantics. candle's pooling
//! has neither, so the input is padded explicitly (with -inf for max, zeros for average,
//! which is PyTorch's `count_include_pad=True`) before a plain strided window.

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
    let low = if xs.dtype() == DType::F32 {
        f32::MIN as f64
    } else {
        f64::MIN
    };
    let xs = pad_for(xs, pool, low)?;
    xs.max_pool2d_with_stride(pool.kernel, pool.stride)
}

/// Average pooling over NCHW input; padded zeros count in the average, as in PyTorch.
pub fn avg_pool(xs: &Tensor, pool: &Pool) -> Result<Tensor> {
    let xs = pad_for(xs, pool, 0.0)?;
    xs.avg_pool2d_with_stride(pool.kernel, pool.stride)
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
}
