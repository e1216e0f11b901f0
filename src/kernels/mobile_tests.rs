//! The depthwise kernel and the gates against candle's own ops and autograd: depthwise
//! convolutions over kernels, strides, paddings and dilations (the grouped path of
//! `conv2d` that mobile cells take), and adaptive average pooling over sizes that divide the
//! input and sizes that do not.

use candle_core::{Result, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::conv_tests::{assert_close, uniform};
use super::im2col::Geom;
use super::{conv2d, depthwise, gates, ConvParams};

#[test]
fn depthwise_convolution_matches_candle_forward_and_gradients() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (n, c, k, stride, padding, dilation, (h, w)) in [
        (2, 4, 3, 1, 1, 1, (7, 9)),
        (3, 8, 5, 2, 2, 1, (11, 8)),
        (1, 3, 7, 1, 3, 1, (6, 6)),
        (2, 5, 3, 2, 0, 1, (9, 9)),
        (2, 4, 3, 1, 2, 2, (8, 7)),
        (1, 6, 5, 3, 1, 1, (13, 10)),
        (3, 8, 5, 2, 2, 1, (11, 9)),
        (1, 6, 5, 3, 1, 1, (12, 9)),
    ] {
        let cfg = ConvParams {
            stride,
            padding,
            dilation,
            groups: c,
        };
        let xs = Var::from_tensor(&uniform(&mut rng, &[n, c, h, w])?)?;
        let ws = Var::from_tensor(&uniform(&mut rng, &[c, 1, k, k])?)?;
        let bs = Var::from_tensor(&uniform(&mut rng, &[c])?)?;
        let ys = conv2d(&xs, &ws, Some(&bs), cfg)?;
        let want = xs
            .conv2d(&ws, padding, stride, dilation, c)?
            .broadcast_add(&bs.reshape((1, c, 1, 1))?)?;
        let what = format!("n{n} c{c} k{k} s{stride} p{padding} d{dilation} {h}x{w}");
        assert_close(&ys, &want, &format!("forward {what}"))?;
        // candle's own conv2d backward sizes its input gradient wrongly when the strided
        // windows leave input rows or columns unread: gradients only where they fit exactly
        let fits = |len: usize| (len + 2 * padding - dilation * (k - 1) - 1).is_multiple_of(stride);
        if !(fits(h) && fits(w)) {
            continue;
        }
        let r = uniform(&mut rng, want.dims())?;
        let grads = (&ys * &r)?.sum_all()?.backward()?;
        let want_grads = (&want * &r)?.sum_all()?.backward()?;
        for (name, var) in [("dx", &xs), ("dw", &ws), ("db", &bs)] {
            let got = grads.get(var.as_tensor()).expect("gradient");
            let exp = want_grads.get(var.as_tensor()).expect("gradient");
            assert_close(got, exp, &format!("{name} {what}"))?;
        }
    }
    Ok(())
}

#[test]
fn the_depthwise_kernel_takes_only_one_group_per_channel() {
    let geom = |c, o, groups| Geom {
        n: 1,
        c,
        h: 4,
        w: 4,
        o,
        kh: 3,
        kw: 3,
        oh: 4,
        ow: 4,
        stride: 1,
        pad: 1,
        dil: 1,
        groups,
    };
    assert!(depthwise::applies(&geom(8, 8, 8)));
    assert!(!depthwise::applies(&geom(8, 16, 8)), "a channel multiplier");
    assert!(
        !depthwise::applies(&geom(8, 8, 4)),
        "grouped, not depthwise"
    );
    assert!(!depthwise::applies(&geom(1, 1, 1)), "a plain convolution");
}

#[test]
fn adaptive_average_pooling_matches_candle_over_uneven_windows() -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for ((h, w), size) in [
        ((6, 6), 6),
        ((7, 5), 3),
        ((1, 1), 6),
        ((8, 8), 1),
        ((5, 9), 4),
    ] {
        let xs = uniform(&mut rng, &[2, 3, h, w])?;
        let want = crate::child::adaptive_avg_pool(&xs, size)?;
        let x: Vec<f32> = xs.flatten_all()?.to_vec1()?;
        let mut y = vec![0f32; 2 * 3 * size * size];
        gates::adaptive_avg_forward(&x, (h, w), size, &mut y);
        let got = candle_core::Tensor::from_vec(y, want.dims(), xs.device())?;
        assert_close(&got, &want, &format!("{h}x{w} to {size}"))?;
        // backward: the gradient of sum(y * r) against candle's autograd
        let xv = Var::from_tensor(&xs)?;
        let r = uniform(&mut rng, want.dims())?;
        let grads = (crate::child::adaptive_avg_pool(&xv, size)? * &r)?
            .sum_all()?
            .backward()?;
        let mut dx = vec![0f32; x.len()];
        let dy: Vec<f32> = r.flatten_all()?.to_vec1()?;
        gates::adaptive_avg_backward(&dy, (h, w), size, &mut dx);
        let got = candle_core::Tensor::from_vec(dx, xs.dims(), xs.device())?;
        assert_close(
            &got,
            grads.get(xv.as_tensor()).unwrap(),
            "adaptive backward",
        )?;
    }
    Ok(())
}
