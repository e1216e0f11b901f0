//! `conv2d` against candle's own `Tensor::conv2d` and its autograd, over strides,
//! paddings, dilations, groups, kernel sizes and batch sizes.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{conv2d, ConvParams};

/// A tensor of uniform values in `-1..1`, reproducible from `rng`.
pub(super) fn uniform(rng: &mut ChaCha8Rng, dims: &[usize]) -> Result<Tensor> {
    let len = dims.iter().product();
    let data: Vec<f32> = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(data, dims, &Device::Cpu)
}

/// Fails unless `got` and `want` agree to 1e-4 relative to `want`'s largest magnitude.
pub(super) fn assert_close(got: &Tensor, want: &Tensor, what: &str) -> Result<()> {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes differ");
    let scale = want.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
    let diff = (got - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert!(
        diff <= 1e-4 * scale,
        "{what}: max abs diff {diff} (scale {scale})"
    );
    Ok(())
}

struct Case {
    n: usize,
    c: usize,
    o: usize,
    k: usize,
    cfg: ConvParams,
    bias: bool,
}

/// Runs one case through both implementations and compares output and gradients.
fn check(rng: &mut ChaCha8Rng, case: &Case, (h, w): (usize, usize)) -> Result<()> {
    let Case {
        n, c, o, k, cfg, ..
    } = *case;
    let xs = Var::from_tensor(&uniform(rng, &[n, c, h, w])?)?;
    let ws = Var::from_tensor(&uniform(rng, &[o, c / cfg.groups, k, k])?)?;
    let bs = Var::from_tensor(&uniform(rng, &[o])?)?;
    let bias = case.bias.then_some(bs.as_tensor());
    let ys = conv2d(&xs, &ws, bias, cfg)?;
    let mut want = xs.conv2d(&ws, cfg.padding, cfg.stride, cfg.dilation, cfg.groups)?;
    if let Some(b) = bias {
        want = want.broadcast_add(&b.reshape((1, o, 1, 1))?)?;
    }
    let what = format!("n{n} c{c} o{o} k{k} h{h} w{w} {cfg:?} bias {}", case.bias);
    assert_close(&ys, &want, &format!("forward {what}"))?;
    let r = uniform(rng, want.dims())?;
    let grads = (&ys * &r)?.sum_all()?.backward()?;
    let want_grads = (&want * &r)?.sum_all()?.backward()?;
    let mut vars = vec![("dx", &xs), ("dw", &ws)];
    if case.bias {
        vars.push(("db", &bs));
    }
    for (name, var) in vars {
        let got = grads.get(var).expect("gradient");
        let expected = want_grads.get(var).expect("reference gradient");
        assert_close(got, expected, &format!("{name} {what}"))?;
    }
    Ok(())
}

#[test]
fn conv2d_matches_candle_over_strides_paddings_dilations_groups_and_kernels() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut checked = 0;
    for k in [1, 3, 5, 7] {
        for stride in [1, 2] {
            for padding in [0, 1, 2] {
                for dilation in [1, 2] {
                    for (c, o, groups) in [(3, 5, 1), (4, 6, 2), (4, 4, 4)] {
                        for n in [1, 3] {
                            let (h, w) = (9 + n, 7 + n);
                            if dilation * (k - 1) + 1 > w.min(h) + 2 * padding {
                                continue;
                            }
                            let cfg = ConvParams {
                                stride,
                                padding,
                                dilation,
                                groups,
                            };
                            let bias = (k + n + padding) % 2 == 0;
                            check(
                                &mut rng,
                                &Case {
                                    n,
                                    c,
                                    o,
                                    k,
                                    cfg,
                                    bias,
                                },
                                (h, w),
                            )?;
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 200, "only {checked} cases ran");
    Ok(())
}

#[test]
fn conv2d_depthwise_with_channel_multiplier_matches_candle() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let cfg = ConvParams {
        stride: 2,
        padding: 1,
        dilation: 1,
        groups: 3,
    };
    let case = Case {
        n: 2,
        c: 3,
        o: 6,
        k: 3,
        cfg,
        bias: true,
    };
    check(&mut rng, &case, (7, 7))
}

#[test]
fn conv2d_batch_larger_than_threads_and_wider_channels_matches_candle() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let cfg = ConvParams {
        stride: 1,
        padding: 1,
        dilation: 1,
        groups: 1,
    };
    let case = Case {
        n: 9,
        c: 16,
        o: 32,
        k: 3,
        cfg,
        bias: false,
    };
    check(&mut rng, &case, (12, 12))?;
    let cfg = ConvParams {
        stride: 1,
        padding: 0,
        dilation: 1,
        groups: 1,
    };
    let case = Case {
        n: 9,
        c: 16,
        o: 8,
        k: 1,
        cfg,
        bias: true,
    };
    check(&mut rng, &case, (5, 7))
}

#[test]
fn conv2d_reads_non_contiguous_input() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let xs = uniform(&mut rng, &[2, 6, 5, 3])?.transpose(2, 3)?;
    let ws = uniform(&mut rng, &[4, 3, 3, 3])?;
    let cfg = ConvParams {
        stride: 1,
        padding: 1,
        dilation: 1,
        groups: 2,
    };
    let ys = conv2d(&xs, &ws, None, cfg)?;
    assert_close(&ys, &xs.conv2d(&ws, 1, 1, 1, 2)?, "transposed input")
}

#[test]
fn conv2d_gives_no_input_gradient_to_a_constant_input() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let xs = uniform(&mut rng, &[2, 1, 6, 6])?;
    let ws = Var::from_tensor(&uniform(&mut rng, &[4, 1, 3, 3])?)?;
    let grads = conv2d(&xs, &ws, None, ConvParams::default())?
        .sum_all()?
        .backward()?;
    assert!(grads.get(&xs).is_none());
    assert!(grads.get(&ws).is_some());
    Ok(())
}

#[test]
fn conv2d_falls_back_to_candle_for_f64() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let xs = uniform(&mut rng, &[1, 2, 5, 5])?.to_dtype(DType::F64)?;
    let ws = uniform(&mut rng, &[3, 2, 3, 3])?.to_dtype(DType::F64)?;
    let ys = conv2d(&xs, &ws, None, ConvParams::default())?;
    let diff = (ys - xs.conv2d(&ws, 0, 1, 1, 1)?)?
        .abs()?
        .max_all()?
        .to_scalar::<f64>()?;
    assert_eq!(diff, 0.0);
    Ok(())
}

#[test]
fn conv2d_rejects_mismatched_groups_and_zero_stride() -> Result<()> {
    let xs = Tensor::zeros((1, 4, 5, 5), DType::F32, &Device::Cpu)?;
    let ws = Tensor::zeros((3, 2, 3, 3), DType::F32, &Device::Cpu)?;
    let cfg = ConvParams {
        groups: 2,
        ..Default::default()
    };
    assert!(conv2d(&xs, &ws, None, cfg).is_err());
    Ok(())
}

/// `sum(a * b)` as an f32.
fn dot(a: &Tensor, b: &Tensor) -> Result<f32> {
    (a * b)?.sum_all()?.to_scalar::<f32>()
}

/// candle 0.11.1's own conv2d backward takes the output padding of the width from
/// the height, so it cannot be the reference when the two differ in parity under
/// stride 2. There the forward is checked against candle and the gradients by
/// adjointness: `<conv(x', w), r> = <x', dx>` and `<conv(x, w'), r> = <w', dw>`.
#[test]
fn conv2d_gradients_are_the_adjoint_of_the_forward_on_odd_shapes() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for (k, padding, dilation, groups) in [(3, 1, 1, 1), (5, 2, 1, 2), (3, 0, 2, 4), (1, 0, 1, 1)] {
        let cfg = ConvParams {
            stride: 2,
            padding,
            dilation,
            groups,
        };
        let xs = Var::from_tensor(&uniform(&mut rng, &[2, 4, 10, 9])?)?;
        let ws = Var::from_tensor(&uniform(&mut rng, &[4, 4 / groups, k, k])?)?;
        let ys = conv2d(&xs, &ws, None, cfg)?;
        let want = xs.conv2d(&ws, padding, 2, dilation, groups)?;
        assert_close(&ys, &want, &format!("forward {cfg:?}"))?;
        let r = uniform(&mut rng, ys.dims())?;
        let grads = (&ys * &r)?.sum_all()?.backward()?;
        let (dx, dw) = (grads.get(&xs).unwrap(), grads.get(&ws).unwrap());
        let x2 = uniform(&mut rng, xs.dims())?;
        let w2 = uniform(&mut rng, ws.dims())?;
        let pairs = [
            (dot(&conv2d(&x2, &ws, None, cfg)?, &r)?, dot(&x2, dx)?),
            (dot(&conv2d(&xs, &w2, None, cfg)?, &r)?, dot(&w2, dw)?),
        ];
        for (lhs, rhs) in pairs {
            let tol = 1e-4 * lhs.abs().max(rhs.abs()).max(1.0);
            assert!((lhs - rhs).abs() <= tol, "{cfg:?}: {lhs} vs {rhs}");
        }
    }
    Ok(())
}

#[test]
fn conv2d_with_non_square_kernels_matches_candle() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    for (kh, kw, padding, groups) in [(1, 3, 1, 1), (3, 1, 0, 2), (5, 3, 2, 4)] {
        let cfg = ConvParams {
            stride: 1,
            padding,
            dilation: 1,
            groups,
        };
        let xs = Var::from_tensor(&uniform(&mut rng, &[3, 4, 9, 8])?)?;
        let ws = Var::from_tensor(&uniform(&mut rng, &[4, 4 / groups, kh, kw])?)?;
        let ys = conv2d(&xs, &ws, None, cfg)?;
        let want = xs.conv2d(&ws, padding, 1, 1, groups)?;
        assert_close(&ys, &want, &format!("forward {kh}x{kw} {cfg:?}"))?;
        let r = uniform(&mut rng, want.dims())?;
        let grads = (&ys * &r)?.sum_all()?.backward()?;
        let want_grads = (&want * &r)?.sum_all()?.backward()?;
        for (name, var) in [("dx", &xs), ("dw", &ws)] {
            let (got, expected) = (grads.get(var).unwrap(), want_grads.get(var).unwrap());
            assert_close(got, expected, &format!("{name} {kh}x{kw} {cfg:?}"))?;
        }
    }
    Ok(())
}
