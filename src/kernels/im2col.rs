//! The arithmetic of convolution on plain NCHW f32 slices: im2col, col2im and the
//! three GEMM-based passes (forward, input gradient, kernel gradient).

use gemm::Parallelism;
use rayon::prelude::*;

use super::cpu::{with_partials, with_scratch};

/// Sizes of one convolution, all derived once from the tensor shapes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub oh: usize,
    pub ow: usize,
    pub stride: usize,
    pub pad: usize,
    pub dil: usize,
    pub groups: usize,
}

impl Geom {
    fn cg(&self) -> usize {
        self.c / self.groups
    }
    fn og(&self) -> usize {
        self.o / self.groups
    }
    /// Rows of the column matrix of one group: input channels times kernel taps.
    fn kdim(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    fn hw(&self) -> usize {
        self.h * self.w
    }
    fn ohw(&self) -> usize {
        self.oh * self.ow
    }
    /// A 1x1 stride-1 unpadded conv reads its input as the column matrix itself.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
    /// Whether to split the batch across threads (each GEMM serial) rather than
    /// let the GEMM split itself, for a batch too small to feed every thread.
    fn batch_parallel(&self) -> bool {
        self.n >= rayon::current_num_threads()
    }
    fn gemm_par(&self) -> Parallelism {
        if self.batch_parallel() {
            Parallelism::None
        } else {
            Parallelism::Rayon(rayon::current_num_threads())
        }
    }
}

/// The range of output columns `ox` whose input column `ox*stride + off` lies in `0..w`.
fn valid_cols(off: isize, stride: usize, w: usize, ow: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
    let hi = if (w as isize) > off {
        (w as isize - off + s - 1) / s
    } else {
        0
    };
    let hi = (hi as usize).min(ow);
    ((lo as usize).min(hi), hi)
}

/// Calls `f(row, ki, kj, channel)` for every row of the column matrix of one group.
fn for_each_row(g: &Geom, mut f: impl FnMut(usize, usize, usize, usize)) {
    let mut row = 0;
    for ch in 0..g.cg() {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                f(row, ki, kj, ch);
                row += 1;
            }
        }
    }
}

/// Fills `col` (`kdim x ohw`) from one group of one sample `x` (`cg x h x w`).
fn im2col(g: &Geom, x: &[f32], col: &mut [f32]) {
    let (ohw, ow) = (g.ohw(), g.ow);
    for_each_row(g, |row, ki, kj, ch| {
        let out = &mut col[row * ohw..(row + 1) * ohw];
        let plane = &x[ch * g.hw()..(ch + 1) * g.hw()];
        if g.stride == 1 && ow == g.w {
            return shifted_row(g, plane, out, ki, kj);
        }
        let off = (kj * g.dil) as isize - g.pad as isize;
        let (lo, hi) = valid_cols(off, g.stride, g.w, ow);
        for oy in 0..g.oh {
            let out = &mut out[oy * ow..(oy + 1) * ow];
            let iy = (oy * g.stride + ki * g.dil) as isize - g.pad as isize;
            if iy < 0 || iy >= g.h as isize {
                out.fill(0.0);
                continue;
            }
            let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
            zero_short(&mut out[..lo]);
            zero_short(&mut out[hi..]);
            let start = (lo * g.stride) as isize + off;
            if g.stride == 1 {
                let start = start as usize;
                out[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
            } else {
                for (i, v) in out[lo..hi].iter_mut().enumerate() {
                    *v = src[start as usize + i * g.stride];
                }
            }
        }
    });
}

/// One row of `im2col` for stride 1 and `ow == w` (a "same" conv): the row is the
/// plane shifted by `(ki*d - p) * w + kj*d - p`, so one copy moves all of it, and
/// only the border columns, which wrapped onto the neighbouring image row, are
/// zeroed afterwards. This replaces a short copy and two fills per output row.
fn shifted_row(g: &Geom, plane: &[f32], out: &mut [f32], ki: usize, kj: usize) {
    let off = (kj * g.dil) as isize - g.pad as isize;
    let shift = ((ki * g.dil) as isize - g.pad as isize) * g.w as isize + off;
    let len = out.len() as isize;
    let lo = (-shift).clamp(0, len) as usize;
    let hi = ((plane.len() as isize - shift).clamp(0, len) as usize).max(lo);
    out[..lo].fill(0.0);
    out[hi..].fill(0.0);
    if hi > lo {
        // only here is `lo + shift` inside the plane (a tiny plane can be shifted past it)
        let src = (lo as isize + shift) as usize;
        out[lo..hi].copy_from_slice(&plane[src..src + hi - lo]);
    }
    let (first, end) = valid_cols(off, 1, g.w, g.ow);
    for row in out.chunks_exact_mut(g.ow) {
        zero_short(&mut row[..first]);
        zero_short(&mut row[end..]);
    }
}

/// Zeroes a slice that is usually one or two floats long (a padding border) with plain
/// stores: `fill` becomes a call to `memset`, which cost more than the stores themselves
/// once per image row.
#[inline(always)]
fn zero_short(xs: &mut [f32]) {
    match xs {
        [] => {}
        [a] => *a = 0.0,
        [a, b] => (*a, *b) = (0.0, 0.0),
        _ => xs.fill(0.0),
    }
}

/// Adds the column matrix `col` back onto one group of one sample `dx` (the adjoint of `im2col`).
fn col2im(g: &Geom, col: &[f32], dx: &mut [f32]) {
    let (ohw, ow) = (g.ohw(), g.ow);
    for_each_row(g, |row, ki, kj, ch| {
        let src = &col[row * ohw..(row + 1) * ohw];
        let hw = g.hw();
        let plane = &mut dx[ch * hw..(ch + 1) * hw];
        let off = (kj * g.dil) as isize - g.pad as isize;
        let (lo, hi) = valid_cols(off, g.stride, g.w, ow);
        for oy in 0..g.oh {
            let iy = (oy * g.stride + ki * g.dil) as isize - g.pad as isize;
            if iy < 0 || iy >= g.h as isize {
                continue;
            }
            let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
            let src = &src[oy * ow + lo..oy * ow + hi];
            let start = ((lo * g.stride) as isize + off) as usize;
            if g.stride == 1 {
                for (d, s) in dst[start..start + src.len()].iter_mut().zip(src) {
                    *d += s;
                }
            } else {
                for (i, s) in src.iter().enumerate() {
                    dst[start + i * g.stride] += s;
                }
            }
        }
    });
}

/// `dst (m x n) [+]= lhs (m x k) * rhs (k x n)`, each given by row and column strides.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    par: Parallelism,
) {
    debug_assert!(dst.len() >= m * n);
    debug_assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    debug_assert!(n == 0 || k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the debug assertions above state the bounds every caller guarantees by
    // construction from `Geom`; `dst` is an exclusive borrow of `m * n` row-major floats.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// Runs `f(sample, x_sample, out_sample)` for every sample, across threads when the
/// batch is large enough.
pub(super) fn per_sample(
    g: &Geom,
    x: &[f32],
    x_len: usize,
    out: &mut [f32],
    out_len: usize,
    f: impl Fn(&[f32], &mut [f32]) + Sync,
) {
    if g.batch_parallel() {
        out.par_chunks_mut(out_len)
            .zip(x.par_chunks(x_len))
            .for_each(|(o, x)| f(x, o));
    } else {
        out.chunks_mut(out_len)
            .zip(x.chunks(x_len))
            .for_each(|(o, x)| f(x, o));
    }
}

/// Forward: `y[n] = W * im2col(x[n]) (+ bias)`, group by group.
pub(crate) fn forward(g: &Geom, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let mut y = vec![0f32; g.n * g.o * g.ohw()];
    forward_into(g, x, w, bias, &mut y);
    y
}

/// `forward` into `y` (`n * o * oh * ow` floats), which it overwrites whatever it held.
pub(crate) fn forward_into(g: &Geom, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    conv_into(g, x, w, bias, false, y)
}

/// `forward` added onto `y` when `accumulate` (then without bias), else written over it.
fn conv_into(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    accumulate: bool,
    y: &mut [f32],
) {
    debug_assert!(!(accumulate && bias.is_some()));
    if super::depthwise::applies(g) {
        return super::depthwise::conv_into(g, x, w, bias, accumulate, y);
    }
    if super::direct::applies(g) {
        return super::direct::conv_into(g, x, w, bias, accumulate, y);
    }
    let (og, kdim, ohw) = (g.og(), g.kdim(), g.ohw());
    let y = &mut y[..g.n * g.o * ohw];
    per_sample(g, x, g.c * g.hw(), y, g.o * ohw, |xs, ys| {
        for grp in 0..g.groups {
            let xg = &xs[grp * g.cg() * g.hw()..(grp + 1) * g.cg() * g.hw()];
            let yg = &mut ys[grp * og * ohw..(grp + 1) * og * ohw];
            let wg = &w[grp * og * kdim..(grp + 1) * og * kdim];
            if let Some(b) = bias {
                for (row, bv) in yg.chunks_mut(ohw).zip(&b[grp * og..(grp + 1) * og]) {
                    row.fill(*bv);
                }
            }
            let dims = (og, ohw, kdim);
            let acc = bias.is_some() || accumulate;
            if g.pointwise() {
                matmul(dims, yg, acc, wg, (kdim, 1), xg, (ohw, 1), g.gemm_par());
            } else {
                with_scratch(kdim * ohw, |col| {
                    im2col(g, xg, col);
                    matmul(dims, yg, acc, wg, (kdim, 1), col, (ohw, 1), g.gemm_par());
                });
            }
        }
    });
}

/// For stride 1 and a square kernel, the input gradient is itself a convolution:
/// of `dy` with the kernel flipped in space and with inputs and outputs swapped,
/// padded by `dilation * (k - 1) - padding`. Its GEMM sums over `og * k * k`
/// instead of `og`, and im2col reads where col2im would scatter.
fn transposed(g: &Geom) -> Option<Geom> {
    let span = g.dil * (g.kh - 1);
    let fits = g.stride == 1 && g.kh == g.kw && g.pad <= span;
    fits.then(|| Geom {
        c: g.o,
        h: g.oh,
        w: g.ow,
        o: g.c,
        oh: g.h,
        ow: g.w,
        pad: span - g.pad,
        ..*g
    })
}

/// The kernel of `transposed`: `w'[grp][ci][oi][ki][kj] = w[grp][oi][ci][kh-1-ki][kw-1-kj]`.
fn flip_kernel(g: &Geom, w: &[f32]) -> Vec<f32> {
    let (og, cg, taps) = (g.og(), g.cg(), g.kh * g.kw);
    let mut flipped = vec![0f32; w.len()];
    for grp in 0..g.groups {
        for oi in 0..og {
            for ci in 0..cg {
                let src = &w[((grp * og + oi) * cg + ci) * taps..][..taps];
                let dst = &mut flipped[((grp * cg + ci) * og + oi) * taps..][..taps];
                dst.iter_mut()
                    .zip(src.iter().rev())
                    .for_each(|(d, s)| *d = *s);
            }
        }
    }
    flipped
}

/// Input gradient: a convolution of `dy` where `transposed` applies, else
/// `dx[n] = col2im(W^T * dy[n])`, group by group.
pub(crate) fn grad_input(g: &Geom, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let mut dx = vec![0f32; g.n * g.c * g.hw()];
    grad_input_into(g, dy, w, false, &mut dx);
    dx
}

/// `grad_input` into `dx` (`n * c * h * w` floats): added onto what it holds when
/// `accumulate` (a value read by several nodes sums their gradients), else written over it.
pub(crate) fn grad_input_into(g: &Geom, dy: &[f32], w: &[f32], accumulate: bool, dx: &mut [f32]) {
    let dx = &mut dx[..g.n * g.c * g.hw()];
    if super::depthwise::applies(g) {
        return super::depthwise::grad_input_into(g, dy, w, accumulate, dx);
    }
    if let Some(t) = transposed(g) {
        return conv_into(&t, dy, &flip_kernel(g, w), None, accumulate, dx);
    }
    if !g.pointwise() && !accumulate {
        // col2im adds into it
        dx.fill(0.0);
    }
    let (og, kdim, ohw, hw) = (g.og(), g.kdim(), g.ohw(), g.hw());
    per_sample(g, dy, g.o * ohw, dx, g.c * hw, |dys, dxs| {
        for grp in 0..g.groups {
            let dyg = &dys[grp * og * ohw..(grp + 1) * og * ohw];
            let dxg = &mut dxs[grp * g.cg() * hw..(grp + 1) * g.cg() * hw];
            let wg = &w[grp * og * kdim..(grp + 1) * og * kdim];
            let dims = (kdim, ohw, og);
            if g.pointwise() {
                matmul(
                    dims,
                    dxg,
                    accumulate,
                    wg,
                    (1, kdim),
                    dyg,
                    (ohw, 1),
                    g.gemm_par(),
                );
            } else {
                with_scratch(kdim * ohw, |col| {
                    matmul(dims, col, false, wg, (1, kdim), dyg, (ohw, 1), g.gemm_par());
                    col2im(g, col, dxg);
                });
            }
        }
    });
}

/// Kernel gradient of a run of samples: `dw += sum_n dy[n] * im2col(x[n])^T`.
fn grad_kernel_chunk(g: &Geom, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    if super::direct::applies(g) && super::direct::grad_kernel_into(g, x, dy, dw) {
        return;
    }
    let (og, kdim, ohw, hw) = (g.og(), g.kdim(), g.ohw(), g.hw());
    let par = g.gemm_par();
    for (xs, dys) in x.chunks(g.c * hw).zip(dy.chunks(g.o * ohw)) {
        for grp in 0..g.groups {
            let xg = &xs[grp * g.cg() * hw..(grp + 1) * g.cg() * hw];
            let dyg = &dys[grp * og * ohw..(grp + 1) * og * ohw];
            let dwg = &mut dw[grp * og * kdim..(grp + 1) * og * kdim];
            let dims = (og, kdim, ohw);
            if g.pointwise() {
                matmul(dims, dwg, true, dyg, (ohw, 1), xg, (1, ohw), par);
            } else {
                with_scratch(kdim * ohw, |col| {
                    im2col(g, xg, col);
                    matmul(dims, dwg, true, dyg, (ohw, 1), col, (1, ohw), par);
                });
            }
        }
    }
}

/// Samples per partial sum of the kernel gradient. Fixed, not derived from the thread count,
/// so that the order of the sum, and so its bits, are the same on any number of threads: a
/// seed gives the same search whether its children train on one thread or two.
const GRAD_CHUNK: usize = 8;

/// Kernel gradient summed over the batch: each task sums a run of `GRAD_CHUNK` samples into
/// its own buffer, then the buffers are added in batch order, so that the sum does not depend
/// on how many threads shared the work or how they stole it.
pub(crate) fn grad_kernel(g: &Geom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    if super::depthwise::applies(g) {
        return super::depthwise::grad_kernel(g, x, dy);
    }
    let len = g.o * g.kdim();
    let (x_run, dy_run) = (GRAD_CHUNK * g.c * g.hw(), GRAD_CHUNK * g.o * g.ohw());
    let runs = g.n.div_ceil(GRAD_CHUNK).max(1);
    with_partials(runs * len, |parts| {
        let partial = |(part, (x, dy)): (&mut [f32], (&[f32], &[f32]))| {
            part.fill(0.0);
            grad_kernel_chunk(g, x, dy, part);
        };
        if g.batch_parallel() {
            parts
                .par_chunks_mut(len)
                .zip(x.par_chunks(x_run).zip(dy.par_chunks(dy_run)))
                .for_each(partial);
        } else {
            parts
                .chunks_mut(len)
                .zip(x.chunks(x_run).zip(dy.chunks(dy_run)))
                .for_each(partial);
        }
        let mut dw = vec![0f32; len];
        let used = g.n.div_ceil(GRAD_CHUNK);
        for part in parts.chunks(len).take(used) {
            dw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        dw
    })
}

/// Bias gradient: `dy` summed over the batch and the output positions.
pub(crate) fn grad_bias(g: &Geom, dy: &[f32]) -> Vec<f32> {
    let mut db = vec![0f64; g.o];
    for (i, plane) in dy.chunks(g.ohw()).enumerate() {
        db[i % g.o] += plane.iter().sum::<f32>() as f64;
    }
    db.into_iter().map(|v| v as f32).collect()
}
