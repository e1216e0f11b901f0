//! The pooling kernels and their custom ops against `crate::child::{max_pool, avg_pool}`
//! (candle ops) and candle's autograd, over random shapes, kernels, strides, paddings
//! and ceil mode, on inputs of distinct values so that max pooling has no ties.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::pool::{
    avg_pool_backward, avg_pool_forward, global_avg_pool_backward, global_avg_pool_forward,
    max_pool_backward, max_pool_forward, PoolGeom,
};
use super::{avg_pool2d, global_avg_pool2d, max_pool2d};
use crate::child::{avg_pool, max_pool};
use crate::graph::Pool;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Max,
    Avg,
}

/// `len` distinct values in about `-2..2`: a shuffled ramp.
fn distinct(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..len)
        .map(|i| 4.0 * (i as f32 + 0.5) / len as f32 - 2.0)
        .collect();
    v.shuffle(rng);
    v
}

fn uniform(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// Fails unless `got` and `want` agree to 1e-5 relative to `want`'s largest magnitude
/// (at least 1); NaN anywhere in `got` fails too.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let diff = (g - w).abs();
        assert!(
            diff <= 1e-5 * scale,
            "{what}: element {i}: {g} vs {w} (scale {scale})"
        );
    }
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1()
}

/// `y = pool(x)` and `d/dx sum(y * r)` from the candle-ops pooling and autograd.
fn reference(kind: Kind, x: &Tensor, pool: &Pool, r: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
    let x = Var::from_tensor(x)?;
    let y = match kind {
        Kind::Max => max_pool(&x, pool)?,
        Kind::Avg => avg_pool(&x, pool)?,
    };
    let r = Tensor::from_slice(r, y.dims(), &Device::Cpu)?;
    let grads = (&y * &r)?.sum_all()?.backward()?;
    Ok((
        to_vec(&y)?,
        to_vec(grads.get(&x).expect("reference gradient"))?,
    ))
}

/// The same through the tensor-level custom ops.
fn wrapper(kind: Kind, x: &Tensor, pool: &Pool, r: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
    let x = Var::from_tensor(x)?;
    let y = match kind {
        Kind::Max => max_pool2d(&x, pool)?,
        Kind::Avg => avg_pool2d(&x, pool)?,
    };
    let r = Tensor::from_slice(r, y.dims(), &Device::Cpu)?;
    let grads = (&y * &r)?.sum_all()?.backward()?;
    Ok((to_vec(&y)?, to_vec(grads.get(&x).expect("gradient"))?))
}

/// The same through the slice kernels, with every output buffer pre-filled with garbage.
fn slices(kind: Kind, g: &PoolGeom, x: &[f32], r: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let out = g.n * g.c * g.oh * g.ow;
    let mut y = vec![f32::NAN; out];
    let mut dx = vec![f32::NAN; x.len()];
    match kind {
        Kind::Max => {
            let mut arg = vec![0xdead_beef_u32; out];
            max_pool_forward(g, x, &mut y, &mut arg);
            let plane = (g.h * g.w) as u32;
            assert!(
                arg.iter().all(|&a| a < plane || a == u32::MAX),
                "argmax out of the plane: {g:?}"
            );
            max_pool_backward(g, r, &arg, &mut dx);
        }
        Kind::Avg => {
            avg_pool_forward(g, x, &mut y);
            avg_pool_backward(g, r, &mut dx);
        }
    }
    (y, dx)
}

/// Checks the slice kernels and the custom op against the reference on one case.
fn check(rng: &mut ChaCha8Rng, kind: Kind, dims: [usize; 4], pool: &Pool) -> Result<()> {
    let [n, c, h, w] = dims;
    let g = PoolGeom::new(n, c, h, w, pool).expect("a valid geometry");
    let x = distinct(rng, n * c * h * w);
    let r = uniform(rng, n * c * g.oh * g.ow);
    let xs = Tensor::from_slice(&x, (n, c, h, w), &Device::Cpu)?;
    let (want_y, want_dx) = reference(kind, &xs, pool, &r)?;
    let what = format!("{kind:?} {dims:?} {pool:?}");
    let (y, dx) = slices(kind, &g, &x, &r);
    assert_close(&y, &want_y, &format!("slice forward {what}"));
    assert_close(&dx, &want_dx, &format!("slice dx {what}"));
    let (y, dx) = wrapper(kind, &xs, pool, &r)?;
    assert_close(&y, &want_y, &format!("op forward {what}"));
    assert_close(&dx, &want_dx, &format!("op dx {what}"));
    Ok(())
}

#[test]
fn pool_kernels_match_candle_pooling_on_random_shapes() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let (mut checked, mut ceil_cases, mut padded) = (0, 0, 0);
    while checked < 400 {
        let dims = [
            rng.random_range(1..=3),
            rng.random_range(1..=4),
            rng.random_range(1..=13),
            rng.random_range(1..=13),
        ];
        let kernel = rng.random_range(1..=4);
        let pool = Pool {
            kernel,
            stride: rng.random_range(1..=3),
            padding: rng.random_range(0..=kernel / 2),
            ceil: rng.random_bool(0.5),
        };
        if pool.out_len(dims[2]).is_none() || pool.out_len(dims[3]).is_none() {
            continue;
        }
        for kind in [Kind::Max, Kind::Avg] {
            check(&mut rng, kind, dims, &pool)?;
        }
        checked += 1;
        ceil_cases += pool.ceil as usize;
        padded += (pool.padding > 0) as usize;
    }
    assert!(
        ceil_cases > 100 && padded > 100,
        "{ceil_cases} ceil, {padded} padded"
    );
    Ok(())
}

#[test]
fn pool_kernels_match_candle_pooling_on_the_common_and_parallel_shapes() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(32);
    let cases = [
        // LeNet-style 2x2/2, small (serial) and big enough to go parallel.
        ([2, 6, 28, 28], Pool::new(2, 2)),
        ([4, 16, 30, 30], Pool::new(2, 2)),
        // Inception branch 3x3/1 pad 1, and the 3x3/2 ceil-mode reductions.
        (
            [3, 16, 28, 28],
            Pool {
                kernel: 3,
                stride: 1,
                padding: 1,
                ceil: false,
            },
        ),
        (
            [2, 24, 27, 27],
            Pool {
                kernel: 3,
                stride: 2,
                padding: 0,
                ceil: true,
            },
        ),
        (
            [3, 12, 33, 31],
            Pool {
                kernel: 3,
                stride: 2,
                padding: 1,
                ceil: false,
            },
        ),
    ];
    for (dims, pool) in cases {
        for kind in [Kind::Max, Kind::Avg] {
            check(&mut rng, kind, dims, &pool)?;
        }
    }
    Ok(())
}

#[test]
fn pool_kernels_match_candle_pooling_when_windows_hold_only_padding() -> Result<()> {
    // PyTorch refuses padding over kernel / 2, but `Pool` allows it; the windows that
    // hold no input give `f32::MIN` (max) or 0 (average), as the candle-ops pooling.
    let mut rng = ChaCha8Rng::seed_from_u64(33);
    for (dims, kernel, stride, padding) in [
        ([1, 2, 2, 3], 1, 1, 1),
        ([2, 1, 3, 3], 2, 1, 2),
        ([1, 1, 4, 5], 1, 2, 2),
    ] {
        let pool = Pool {
            kernel,
            stride,
            padding,
            ceil: false,
        };
        for kind in [Kind::Max, Kind::Avg] {
            check(&mut rng, kind, dims, &pool)?;
        }
    }
    Ok(())
}

#[test]
fn max_pool_ties_go_to_the_first_maximum_in_window_order() {
    // All-equal input: each window's argmax is its first in-range element, row-major.
    let pool = Pool {
        kernel: 3,
        stride: 1,
        padding: 1,
        ceil: false,
    };
    let g = PoolGeom::new(1, 1, 4, 5, &pool).unwrap();
    // Also all -inf, which the -inf padding of the max kernel must not win either.
    for value in [1.0, f32::NEG_INFINITY] {
        let x = vec![value; 20];
        let (mut y, mut arg) = (vec![f32::NAN; 20], vec![7u32; 20]);
        max_pool_forward(&g, &x, &mut y, &mut arg);
        assert!(y.iter().all(|&v| v == value));
        for oy in 0..4 {
            for ox in 0..5 {
                let first = oy.max(1) - 1;
                let want = (first * 5 + ox.max(1) - 1) as u32;
                assert_eq!(arg[oy * 5 + ox], want, "{value}: output ({oy}, {ox})");
            }
        }
    }
    // A NaN wins its windows, as in PyTorch.
    let (mut y, mut arg) = (vec![f32::NAN; 20], vec![7u32; 20]);
    let mut x = vec![1.0f32; 20];
    x[7] = f32::NAN;
    max_pool_forward(&g, &x, &mut y, &mut arg);
    assert!(y[7].is_nan() && arg[7] == 7 && y[0] == 1.0);
}

#[test]
fn global_avg_pool_matches_candle_mean() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(34);
    for dims in [[1, 1, 1, 1], [2, 3, 5, 7], [3, 4, 13, 1], [8, 64, 9, 9]] {
        let [n, c, h, w] = dims;
        let x = uniform(&mut rng, n * c * h * w);
        let r = uniform(&mut rng, n * c);
        let xs = Var::from_tensor(&Tensor::from_slice(&x, (n, c, h, w), &Device::Cpu)?)?;
        let want = xs.mean((2, 3))?;
        let rs = Tensor::from_slice(&r, (n, c), &Device::Cpu)?;
        let grads = (&want * &rs)?.sum_all()?.backward()?;
        let want_dx = to_vec(grads.get(&xs).expect("reference gradient"))?;
        let mut y = vec![f32::NAN; n * c];
        global_avg_pool_forward(n * c, h * w, &x, &mut y);
        assert_close(&y, &to_vec(&want)?, &format!("forward {dims:?}"));
        let mut dx = vec![f32::NAN; x.len()];
        global_avg_pool_backward(n * c, h * w, &r, &mut dx);
        assert_close(&dx, &want_dx, &format!("dx {dims:?}"));
        let ys = global_avg_pool2d(&xs)?;
        assert_eq!(ys.dims(), [n, c]);
        assert_close(
            &to_vec(&ys)?,
            &to_vec(&want)?,
            &format!("op forward {dims:?}"),
        );
        let grads = (&ys * &rs)?.sum_all()?.backward()?;
        let dx = to_vec(grads.get(&xs).expect("gradient"))?;
        assert_close(&dx, &want_dx, &format!("op dx {dims:?}"));
    }
    Ok(())
}

#[test]
fn pool_ops_fall_back_to_candle_pooling_for_other_dtypes() -> Result<()> {
    let xs = Tensor::arange(0f64, 50., &Device::Cpu)?.reshape((1, 2, 5, 5))?;
    let pool = Pool {
        kernel: 3,
        stride: 2,
        padding: 1,
        ceil: true,
    };
    let got = max_pool2d(&xs, &pool)?;
    assert_eq!(got.dtype(), DType::F64);
    let want = max_pool(&xs, &pool)?;
    let diff = (got - want)?.abs()?.max_all()?.to_scalar::<f64>()?;
    assert_eq!(diff, 0.0);
    let got = avg_pool2d(&xs, &pool)?;
    let want = avg_pool(&xs, &pool)?;
    let diff = (got - want)?.abs()?.max_all()?.to_scalar::<f64>()?;
    assert!(diff < 1e-12);
    let got = global_avg_pool2d(&xs)?;
    assert_eq!(got.dtype(), DType::F64);
    let diff = (got - xs.mean((2, 3))?)?
        .abs()?
        .max_all()?
        .to_scalar::<f64>()?;
    assert_eq!(diff, 0.0);
    Ok(())
}

/// Times `f` (after one warm-up call) as the best of `reps` runs, in milliseconds.
fn best_ms(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = std::time::Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(best)
}

/// `cargo test --release --lib kernels::pool_tests::bench -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_pool_kernels_against_candle_pooling() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(35);
    let three = Pool {
        kernel: 3,
        stride: 1,
        padding: 1,
        ceil: false,
    };
    let cases = [
        ("max 3x3/1 pad 1", Kind::Max, [128, 16, 28, 28], three),
        ("avg 3x3/1 pad 1", Kind::Avg, [128, 16, 28, 28], three),
        ("max 2x2/2", Kind::Max, [128, 6, 28, 28], Pool::new(2, 2)),
        ("avg 2x2/2", Kind::Avg, [128, 6, 28, 28], Pool::new(2, 2)),
    ];
    println!("threads: {}", rayon::current_num_threads());
    for (name, kind, [n, c, h, w], pool) in cases {
        let g = PoolGeom::new(n, c, h, w, &pool).unwrap();
        let x = distinct(&mut rng, n * c * h * w);
        let out = n * c * g.oh * g.ow;
        let r = uniform(&mut rng, out);
        let xs = Var::from_tensor(&Tensor::from_slice(&x, (n, c, h, w), &Device::Cpu)?)?;
        let rs = Tensor::from_slice(&r, (n, c, g.oh, g.ow), &Device::Cpu)?;
        let (mut y, mut arg, mut dx) = (vec![0f32; out], vec![0u32; out], vec![0f32; x.len()]);
        let fwd = best_ms(10, || {
            match kind {
                Kind::Max => max_pool_forward(&g, &x, &mut y, &mut arg),
                Kind::Avg => avg_pool_forward(&g, &x, &mut y),
            }
            Ok(())
        })?;
        let bwd = best_ms(10, || {
            match kind {
                Kind::Max => max_pool_backward(&g, &r, &arg, &mut dx),
                Kind::Avg => avg_pool_backward(&g, &r, &mut dx),
            }
            Ok(())
        })?;
        let op = best_ms(5, || {
            let y = match kind {
                Kind::Max => max_pool2d(&xs, &pool)?,
                Kind::Avg => avg_pool2d(&xs, &pool)?,
            };
            (y * &rs)?.sum_all()?.backward()?;
            Ok(())
        })?;
        let old_fwd = best_ms(3, || {
            match kind {
                Kind::Max => max_pool(&xs, &pool)?,
                Kind::Avg => avg_pool(&xs, &pool)?,
            };
            Ok(())
        })?;
        let loss = best_ms(5, || {
            let y = Var::from_tensor(&rs)?;
            (y.as_tensor() * &rs)?.sum_all()?.backward()?;
            Ok(())
        })?;
        let old = best_ms(3, || {
            let y = match kind {
                Kind::Max => max_pool(&xs, &pool)?,
                Kind::Avg => avg_pool(&xs, &pool)?,
            };
            (y * &rs)?.sum_all()?.backward()?;
            Ok(())
        })?;
        println!(
            "{name} {:?}: slices fwd {fwd:.2} ms + bwd {bwd:.2} ms; custom op fwd+bwd \
             {op:.2} ms; candle-ops pooling fwd {old_fwd:.2} ms, fwd+bwd {old:.2} ms \
             (both fwd+bwd include {loss:.2} ms for the loss sum(y * r) and its backward)",
            [n, c, h, w]
        );
    }
    Ok(())
}
