//! Batch norm against the plain candle expression: forward, statistics and the
//! gradients of x, gamma and beta, with and without the fused ReLU.

use candle_core::{Result, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::conv_tests::{assert_close, uniform};
use super::{batch_norm_eval, batch_norm_relu_train, batch_norm_train};

/// `v` shaped to broadcast over NCHW channels.
fn channel(v: &Tensor) -> Result<Tensor> {
    v.reshape((1, (), 1, 1))
}

/// Training-mode batch norm written out op by op; returns `(y, mean, biased var)`.
fn reference(xs: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<[Tensor; 3]> {
    let mean = xs.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
    let centred = xs.broadcast_sub(&mean)?;
    let var = centred
        .sqr()?
        .mean_keepdim(0)?
        .mean_keepdim(2)?
        .mean_keepdim(3)?;
    let ys = centred
        .broadcast_div(&(var.clone() + eps)?.sqrt()?)?
        .broadcast_mul(&channel(gamma)?)?
        .broadcast_add(&channel(beta)?)?;
    Ok([ys, mean.flatten_all()?, var.flatten_all()?])
}

fn check(rng: &mut ChaCha8Rng, dims: [usize; 4], offset: f64, relu: bool) -> Result<()> {
    let eps = 1e-5;
    let xs = Var::from_tensor(&uniform(rng, &dims)?.affine(3.0, offset)?)?;
    let gamma = Var::from_tensor(&(uniform(rng, &[dims[1]])? + 1.5)?)?;
    let beta = Var::from_tensor(&uniform(rng, &[dims[1]])?)?;
    let train = if relu {
        batch_norm_relu_train
    } else {
        batch_norm_train
    };
    let (ys, mean, var) = train(&xs, &gamma, &beta, eps)?;
    let [want, want_mean, want_var] = reference(&xs, &gamma, &beta, eps)?;
    let want = if relu { want.relu()? } else { want };
    let what = format!("{dims:?} offset {offset} relu {relu}");
    assert_close(&ys, &want, &format!("y {what}"))?;
    assert_close(&mean, &want_mean, &format!("mean {what}"))?;
    assert_close(&var, &want_var, &format!("var {what}"))?;
    let r = uniform(rng, &dims)?;
    let grads = (&ys * &r)?.sum_all()?.backward()?;
    let want_grads = (&want * &r)?.sum_all()?.backward()?;
    for (name, var) in [("dx", &xs), ("dgamma", &gamma), ("dbeta", &beta)] {
        let got = grads.get(var).expect("gradient");
        let expected = want_grads.get(var).expect("reference gradient");
        assert_close(got, expected, &format!("{name} {what}"))?;
    }
    Ok(())
}

#[test]
fn batch_norm_train_matches_the_candle_expression() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for dims in [[1, 3, 4, 5], [3, 4, 7, 7], [8, 16, 6, 6], [5, 2, 1, 1]] {
        for relu in [false, true] {
            check(&mut rng, dims, 0.0, relu)?;
        }
    }
    Ok(())
}

#[test]
fn batch_norm_train_keeps_the_variance_under_a_large_mean() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    check(&mut rng, [4, 3, 5, 5], 1000.0, false)
}

#[test]
fn batch_norm_eval_matches_the_candle_expression() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let xs = Var::from_tensor(&uniform(&mut rng, &[3, 4, 5, 6])?)?;
    let gamma = (uniform(&mut rng, &[4])? + 1.5)?;
    let beta = uniform(&mut rng, &[4])?;
    let mean = uniform(&mut rng, &[4])?;
    let var = (uniform(&mut rng, &[4])? + 1.2)?;
    for relu in [false, true] {
        let ys = batch_norm_eval(&xs, &gamma, &beta, &mean, &var, 1e-5, relu)?;
        let want = xs
            .broadcast_sub(&channel(&mean)?)?
            .broadcast_div(&channel(&(&var + 1e-5)?.sqrt()?)?)?
            .broadcast_mul(&channel(&gamma)?)?
            .broadcast_add(&channel(&beta)?)?;
        let want = if relu { want.relu()? } else { want };
        assert_close(&ys, &want, &format!("eval y relu {relu}"))?;
        let r = uniform(&mut rng, xs.dims())?;
        let got = (&ys * &r)?.sum_all()?.backward()?;
        let expected = (&want * &r)?.sum_all()?.backward()?;
        assert_close(got.get(&xs).unwrap(), expected.get(&xs).unwrap(), "eval dx")?;
    }
    Ok(())
}
