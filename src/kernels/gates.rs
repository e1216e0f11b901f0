//! The gates of squeeze-and-excitation and of EfficientNet's activations, on plain f32
//! slices: SiLU (`x * sigmoid(x)`), sigmoid, and the per-channel scale that multiplies a map
//! `[N, C, H, W]` by a gate `[N, C, 1, 1]`, each with its backward. Long slices are split
//! across threads; every value is computed independently, so the bits never depend on it.

use rayon::prelude::*;

/// Elementwise loops on more values than this are split across threads.
const PAR_MIN: usize = 1 << 15;

/// The logistic function, computed as PyTorch computes it in f32.
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn each(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(&mut f32, f32, f32) + Sync) {
    let run = |(o, (a, b)): (&mut [f32], (&[f32], &[f32]))| {
        o.iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (a, b))| f(o, *a, *b))
    };
    if out.len() >= PAR_MIN {
        let chunk = PAR_MIN / 4;
        out.par_chunks_mut(chunk)
            .zip(a.par_chunks(chunk).zip(b.par_chunks(chunk)))
            .for_each(run);
    } else {
        run((out, (a, b)));
    }
}

/// `y = x * sigmoid(x)`.
pub(crate) fn silu_forward(x: &[f32], y: &mut [f32]) {
    each(y, x, x, |y, x, _| *y = x * sigmoid(x));
}

/// `dx = dy * s * (1 + x * (1 - s))` with `s = sigmoid(x)`.
pub(crate) fn silu_backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    each(dx, x, dy, |d, x, g| {
        let s = sigmoid(x);
        *d = g * s * (1.0 + x * (1.0 - s));
    });
}

/// `y = sigmoid(x)`.
pub(crate) fn sigmoid_forward(x: &[f32], y: &mut [f32]) {
    each(y, x, x, |y, x, _| *y = sigmoid(x));
}

/// `dx = dy * y * (1 - y)`, from the forward's output `y`.
pub(crate) fn sigmoid_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    each(dx, y, dy, |d, y, g| *d = g * y * (1.0 - y));
}

/// `y[p] = x[p] * gate[p / hw]`: every plane of `hw` values times its channel's gate.
pub(crate) fn scale_forward(x: &[f32], gate: &[f32], hw: usize, y: &mut [f32]) {
    y.par_chunks_mut(hw)
        .zip(x.par_chunks(hw).zip(gate))
        .for_each(|(ys, (xs, s))| ys.iter_mut().zip(xs).for_each(|(y, x)| *y = x * s));
}

/// The map's gradient `dx = dy * gate`.
pub(crate) fn scale_backward_map(dy: &[f32], gate: &[f32], hw: usize, dx: &mut [f32]) {
    scale_forward(dy, gate, hw, dx)
}

/// The gate's gradient: `dgate[p] = sum over its plane of dy * x`.
pub(crate) fn scale_backward_gate(dy: &[f32], x: &[f32], hw: usize, dgate: &mut [f32]) {
    dgate
        .par_iter_mut()
        .zip(dy.par_chunks(hw).zip(x.par_chunks(hw)))
        .for_each(|(d, (g, x))| *d = g.iter().zip(x).map(|(g, x)| g * x).sum());
}

/// Start and end of adaptive pooling window `i` of `out` over `len`, as PyTorch cuts them.
pub(crate) fn adaptive_window(i: usize, out: usize, len: usize) -> (usize, usize) {
    (i * len / out, ((i + 1) * len).div_ceil(out))
}

/// PyTorch's `adaptive_avg_pool2d` to `out x out`, plane by plane (`h x w` in, `out x out` out).
pub(crate) fn adaptive_avg_forward(x: &[f32], (h, w): (usize, usize), out: usize, y: &mut [f32]) {
    y.par_chunks_mut(out * out)
        .zip(x.par_chunks(h * w))
        .for_each(|(ys, xs)| {
            for oy in 0..out {
                let (y0, y1) = adaptive_window(oy, out, h);
                for ox in 0..out {
                    let (x0, x1) = adaptive_window(ox, out, w);
                    let mut sum = 0f32;
                    for row in y0..y1 {
                        sum += xs[row * w + x0..row * w + x1].iter().sum::<f32>();
                    }
                    ys[oy * out + ox] = sum / ((y1 - y0) * (x1 - x0)) as f32;
                }
            }
        });
}

/// The input gradient of [`adaptive_avg_forward`]: each output's gradient spread evenly over
/// its window, summed where windows overlap.
pub(crate) fn adaptive_avg_backward(
    dy: &[f32],
    (h, w): (usize, usize),
    out: usize,
    dx: &mut [f32],
) {
    dx.par_chunks_mut(h * w)
        .zip(dy.par_chunks(out * out))
        .for_each(|(dxs, dys)| {
            dxs.fill(0.0);
            for oy in 0..out {
                let (y0, y1) = adaptive_window(oy, out, h);
                for ox in 0..out {
                    let (x0, x1) = adaptive_window(ox, out, w);
                    let g = dys[oy * out + ox] / ((y1 - y0) * (x1 - x0)) as f32;
                    for row in y0..y1 {
                        dxs[row * w + x0..row * w + x1]
                            .iter_mut()
                            .for_each(|d| *d += g);
                    }
                }
            }
        });
}
