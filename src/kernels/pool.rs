//! Max, average and global average pooling on f32 NCHW slices, with PyTorch's
//! padding and ceil-mode semantics as `crate::child::{max_pool, avg_pool}` implement
//! them, plus `max_pool2d`, `avg_pool2d` and `global_avg_pool2d` as candle custom ops
//! with their own backward.
//!
//! Every kernel works plane by plane (one `h x w` plane per sample and channel), in
//! parallel over planes when the input is big enough. Inside a plane, each output row
//! is computed across its columns at once with no bounds logic in the loops, so that
//! they vectorise: the valid input rows of an output row are clamped once, and the
//! columns that the padding clips are either done apart with clamped ranges (average
//! pooling) or removed by copying the rows between -inf borders (max pooling).

use std::ops::Range;
use std::sync::{Arc, Mutex};

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::{fast_path, slice, with_slice};
use crate::graph::Pool;

/// Inputs of at least this many floats are pooled in parallel over planes.
const PAR_MIN: usize = 1 << 15;
/// Roughly how many floats of work each parallel task gets at least.
const TASK_GRAIN: usize = 1 << 13;
/// The argmax of a window that holds no input element (padding at least the kernel).
const NO_ARG: u32 = u32::MAX;
/// The max of such an empty window: the padding value `crate::child::max_pool` uses.
const EMPTY_MAX: f32 = f32::MIN;

/// Sizes of one pooling: input `n x c x h x w`, output `n x c x oh x ow`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl PoolGeom {
    /// The geometry of `pool` over an `n x c x h x w` input; `None` where `pool.out_len`
    /// has no output size or the input plane is empty or too big for `u32` indices.
    pub(crate) fn new(n: usize, c: usize, h: usize, w: usize, pool: &Pool) -> Option<PoolGeom> {
        let (oh, ow) = (pool.out_len(h)?, pool.out_len(w)?);
        let hw = h.checked_mul(w)?;
        if hw == 0 || hw >= NO_ARG as usize {
            return None;
        }
        Some(PoolGeom {
            n,
            c,
            h,
            w,
            oh,
            ow,
            kernel: pool.kernel,
            stride: pool.stride,
            padding: pool.padding,
        })
    }

    fn planes(&self) -> usize {
        self.n * self.c
    }

    fn plane_in(&self) -> usize {
        self.h * self.w
    }

    fn plane_out(&self) -> usize {
        self.oh * self.ow
    }

    /// The input indices along an axis of length `len` that window `o` covers.
    fn span(&self, o: usize, len: usize) -> Range<usize> {
        let start = o * self.stride;
        let lo = start.saturating_sub(self.padding).min(len);
        let hi = (start + self.kernel).saturating_sub(self.padding).min(len);
        lo..hi.max(lo)
    }

    fn rows(&self, oy: usize) -> Range<usize> {
        self.span(oy, self.h)
    }

    fn cols(&self, ox: usize) -> Range<usize> {
        self.span(ox, self.w)
    }

    /// The output columns whose windows lie wholly inside the input's columns.
    fn inner_cols(&self) -> Range<usize> {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let lo = p.div_ceil(s).min(self.ow);
        let hi = match (self.w + p).checked_sub(k) {
            Some(last) => (last / s + 1).min(self.ow),
            None => 0,
        };
        lo..hi.max(lo)
    }

    /// Whether to go parallel, and how many planes each parallel task takes.
    fn split(&self) -> Option<usize> {
        let per_plane = (self.plane_in() + self.plane_out() * self.kernel * self.kernel).max(1);
        (self.planes() * self.plane_in() >= PAR_MIN).then(|| TASK_GRAIN.div_ceil(per_plane))
    }
}

/// Runs `f` on groups of whole planes of `out` (`out_plane` floats each) and the matching
/// planes of `x` (`x_plane` each), in parallel when `split` gives a group size.
fn for_planes<T: Send, X: Sync>(
    split: Option<usize>,
    (out, out_plane): (&mut [T], usize),
    (x, x_plane): (&[X], usize),
    f: impl Fn(&mut [T], &[X]) + Sync,
) {
    match split {
        Some(group) => out
            .par_chunks_mut(group * out_plane)
            .zip(x.par_chunks(group * x_plane))
            .for_each(|(o, x)| f(o, x)),
        None => f(out, x),
    }
}

/// Max pooling: `y` gets each window's max and `arg` its index inside the input plane
/// (`h * w`); the first max in row-major window order wins ties, NaN propagates, and
/// padded positions never win. `x` is `n*c*h*w` long, `y` and `arg` `n*c*oh*ow`.
pub(crate) fn max_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32], arg: &mut [u32]) {
    let (hw, ohw) = (g.plane_in(), g.plane_out());
    assert_eq!(x.len(), g.planes() * hw, "max_pool_forward: input length");
    assert_eq!(y.len(), g.planes() * ohw, "max_pool_forward: output length");
    assert_eq!(arg.len(), y.len(), "max_pool_forward: argmax length");
    let body = |y: &mut [f32], arg: &mut [u32], x: &[f32]| {
        let mut padded = Vec::new();
        for ((y, arg), x) in y.chunks_mut(ohw).zip(arg.chunks_mut(ohw)).zip(x.chunks(hw)) {
            match g.stride {
                1 => max_plane::<1>(g, x, y, arg, &mut padded),
                2 => max_plane::<2>(g, x, y, arg, &mut padded),
                _ => max_plane::<0>(g, x, y, arg, &mut padded),
            }
        }
    };
    match g.split() {
        Some(group) => y
            .par_chunks_mut(group * ohw)
            .zip(arg.par_chunks_mut(group * ohw))
            .zip(x.par_chunks(group * hw))
            .for_each(|((y, arg), x)| body(y, arg, x)),
        None => body(y, arg, x),
    }
}

/// The max and its index over rows `rows` and columns `cols` of a `w`-wide plane.
fn max_window(x: &[f32], w: usize, rows: Range<usize>, cols: Range<usize>) -> (f32, u32) {
    if cols.is_empty() || rows.is_empty() {
        return (EMPTY_MAX, NO_ARG);
    }
    let first = rows.start * w + cols.start;
    let (mut best, mut at) = (x[first], first as u32);
    for r in rows {
        let row = &x[r * w..(r + 1) * w];
        for c in cols.clone() {
            let v = row[c];
            let mask = take_mask(v, best);
            best = f32::from_bits(select(mask, v.to_bits(), best.to_bits()));
            at = select(mask, (r * w + c) as u32, at);
        }
    }
    (best, at)
}

/// One plane of max pooling; `S` is the stride when known at compile time, else 0.
///
/// Where windows reach past the input's columns (padding, ceil mode), the rows of each
/// output row are copied into `padded` with -inf around them, so that every window is
/// whole and one vectorised loop does the row. A padded position can then only "win"
/// a window whose inputs are all -inf (or that holds no input); those few outputs are
/// redone on the input with the clamped window.
fn max_plane<const S: usize>(
    g: &PoolGeom,
    x: &[f32],
    y: &mut [f32],
    arg: &mut [u32],
    padded: &mut Vec<f32>,
) {
    let s = if S == 0 { g.stride } else { S };
    let (w, p) = (g.w, g.padding);
    let whole = g.inner_cols() == (0..g.ow);
    // The width that the padded rows need: the last window's right edge.
    let width = (g.ow - 1) * s + g.kernel;
    for (oy, (y, arg)) in y.chunks_mut(g.ow).zip(arg.chunks_mut(g.ow)).enumerate() {
        let rows = g.rows(oy);
        if rows.is_empty() {
            y.fill(EMPTY_MAX);
            arg.fill(NO_ARG);
        } else if whole {
            // No padding here (a padded first window is not whole).
            let base = rows.start * w;
            max_row::<S>(g, &x[base..], w, rows.len(), base as u32, y, arg);
        } else {
            padded.clear();
            for r in rows.clone() {
                let row = &x[r * w..(r + 1) * w];
                let keep = width.saturating_sub(p).min(w);
                padded.resize(padded.len() + p.min(width), f32::NEG_INFINITY);
                padded.extend_from_slice(&row[..keep]);
                padded.resize(
                    padded.len() + width - p.min(width) - keep,
                    f32::NEG_INFINITY,
                );
            }
            // Index of padded position (i, c): (rows.start + i) * w + c - p, wrapping.
            let base = ((rows.start * w) as u32).wrapping_sub(p as u32);
            max_row::<S>(g, padded, width, rows.len(), base, y, arg);
            // Only -inf (not NaN) fails `> -inf`; `fold`, not `any`, so that it vectorises.
            if !y
                .iter()
                .fold(false, |any, &v| any | (v <= f32::NEG_INFINITY))
            {
                continue;
            }
            for ox in 0..g.ow {
                if !(y[ox] > f32::NEG_INFINITY || y[ox].is_nan()) {
                    (y[ox], arg[ox]) = max_window(x, w, rows.clone(), g.cols(ox));
                }
            }
        }
    }
}

// The row kernels below are not inlined on purpose: as functions of their own, their
// slice arguments are known not to alias, which is what lets LLVM vectorise them.

/// One output row of max pooling over whole windows: window `j` covers columns
/// `j * stride..j * stride + kernel` of the `rows` rows `src[i * pitch..]`, and the
/// element at (i, c) has plane index `base + i * w + c` (wrapping).
///
/// It goes in blocks of outputs whose running maxima stay in registers over all the
/// window's taps, the last block overlapping the one before rather than leaving a
/// scalar tail (where LLVM would turn the selects back into branches, which mispredict
/// on every other output).
#[inline(never)]
fn max_row<const S: usize>(
    g: &PoolGeom,
    src: &[f32],
    pitch: usize,
    rows: usize,
    base: u32,
    best: &mut [f32],
    at: &mut [u32],
) {
    let n = best.len();
    let at = &mut at[..n];
    let row = RowSrc {
        src,
        pitch,
        rows,
        base,
    };
    // Whole 2x2 and 3x3 windows (the common cases) get the kernel size at compile time.
    match (n >= 8, g.kernel == rows) {
        (true, true) if rows == 2 => max_blocks::<S, 8, 2>(g, row, best, at),
        (true, true) if rows == 3 => max_blocks::<S, 8, 3>(g, row, best, at),
        (true, _) => max_blocks::<S, 8, 0>(g, row, best, at),
        (false, _) if n >= 4 => max_blocks::<S, 4, 0>(g, row, best, at),
        (false, _) => max_blocks::<S, 1, 0>(g, row, best, at),
    }
}

/// The input rows of one output row, as `max_row` takes them.
#[derive(Clone, Copy)]
struct RowSrc<'a> {
    src: &'a [f32],
    pitch: usize,
    rows: usize,
    base: u32,
}

/// `max_row` in blocks of `L` outputs; `best.len()` is at least `L`. `K` is the kernel
/// size and the number of rows when known at compile time, else 0.
#[inline(always)]
fn max_blocks<const S: usize, const L: usize, const K: usize>(
    g: &PoolGeom,
    row: RowSrc,
    best: &mut [f32],
    at: &mut [u32],
) {
    let s = if S == 0 { g.stride } else { S };
    let (k, rows) = if K == 0 { (g.kernel, row.rows) } else { (K, K) };
    let n = best.len();
    for block in (0..n).step_by(L) {
        let j = block.min(n - L);
        // The lanes track the index of their window's first element at the best tap;
        // lane `l` adds `l * s` at the end. The first tap is compared with itself
        // again below, which changes nothing.
        let mut b: [f32; L] = std::array::from_fn(|l| row.src[(j + l) * s]);
        let first = row.base.wrapping_add((j * s) as u32);
        let mut a = [first; L];
        for i in 0..rows {
            for dx in 0..k {
                let start = i * row.pitch + dx + j * s;
                let src = &row.src[start..start + (L - 1) * s + 1];
                let index = first.wrapping_add((i * g.w + dx) as u32);
                for l in 0..L {
                    max_lane(&mut b[l], &mut a[l], src[l * s], index);
                }
            }
        }
        best[j..j + L].copy_from_slice(&b);
        for (l, (t, a)) in at[j..j + L].iter_mut().zip(a).enumerate() {
            *t = a.wrapping_add((l * s) as u32);
        }
    }
}

/// Takes candidate `v` at index `i` over the running max `best` at `at`.
#[inline(always)]
fn max_lane(best: &mut f32, at: &mut u32, v: f32, i: u32) {
    let mask = take_mask(v, *best);
    *best = f32::from_bits(select(mask, v.to_bits(), best.to_bits()));
    *at = select(mask, i, *at);
}

/// All ones where `v` replaces the running max `best` (greater, or NaN), else zero.
#[inline(always)]
fn take_mask(v: f32, best: f32) -> u32 {
    ((v > best) | v.is_nan()) as u32 * u32::MAX
}

/// `a` where `mask` is all ones, `b` where it is zero: a bit select rather than a
/// branch, so that the max loops vectorise and do not mispredict on random data.
#[inline(always)]
fn select(mask: u32, a: u32, b: u32) -> u32 {
    (a & mask) | (b & !mask)
}

/// Max pooling's input gradient: `dx` (`n*c*h*w`, overwritten) is zero except that each
/// `dy` is added at its window's argmax from `max_pool_forward`.
pub(crate) fn max_pool_backward(g: &PoolGeom, dy: &[f32], arg: &[u32], dx: &mut [f32]) {
    let (hw, ohw) = (g.plane_in(), g.plane_out());
    assert_eq!(dx.len(), g.planes() * hw, "max_pool_backward: input length");
    assert_eq!(
        dy.len(),
        g.planes() * ohw,
        "max_pool_backward: output length"
    );
    assert_eq!(arg.len(), dy.len(), "max_pool_backward: argmax length");
    let body = |dx: &mut [f32], dy: &[f32], arg: &[u32]| {
        for ((dx, dy), arg) in dx.chunks_mut(hw).zip(dy.chunks(ohw)).zip(arg.chunks(ohw)) {
            dx.fill(0.0);
            for (d, &a) in dy.iter().zip(arg) {
                // `NO_ARG` (an empty window) is out of range and takes no gradient.
                if let Some(t) = dx.get_mut(a as usize) {
                    *t += d;
                }
            }
        }
    };
    match g.split() {
        Some(group) => dx
            .par_chunks_mut(group * hw)
            .zip(dy.par_chunks(group * ohw))
            .zip(arg.par_chunks(group * ohw))
            .for_each(|((dx, dy), arg)| body(dx, dy, arg)),
        None => body(dx, dy, arg),
    }
}

/// Average pooling: the sum of each window's in-range inputs over `kernel^2` (padding,
/// also past the padded input in ceil mode, counts as zeros).
pub(crate) fn avg_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    let (hw, ohw) = (g.plane_in(), g.plane_out());
    assert_eq!(x.len(), g.planes() * hw, "avg_pool_forward: input length");
    assert_eq!(y.len(), g.planes() * ohw, "avg_pool_forward: output length");
    for_planes(g.split(), (y, ohw), (x, hw), |y, x| {
        for (y, x) in y.chunks_mut(ohw).zip(x.chunks(hw)) {
            match g.stride {
                1 => avg_plane::<1>(g, x, y),
                2 => avg_plane::<2>(g, x, y),
                _ => avg_plane::<0>(g, x, y),
            }
        }
    });
}

/// One plane of average pooling; `S` is the stride when known at compile time, else 0.
fn avg_plane<const S: usize>(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    let s = if S == 0 { g.stride } else { S };
    let scale = 1.0 / (g.kernel * g.kernel) as f32;
    let inner = g.inner_cols();
    for (oy, y) in y.chunks_mut(g.ow).enumerate() {
        let rows = g.rows(oy);
        for ox in (0..inner.start).chain(inner.end..g.ow) {
            let cols = g.cols(ox);
            let sum: f32 = rows
                .clone()
                .map(|r| {
                    x[r * g.w + cols.start..r * g.w + cols.end]
                        .iter()
                        .sum::<f32>()
                })
                .sum();
            y[ox] = sum * scale;
        }
        let sums = &mut y[inner.clone()];
        if sums.is_empty() {
            continue;
        }
        avg_row_inner::<S>(g, x, rows, inner.start * s - g.padding, sums);
        for t in sums {
            *t *= scale;
        }
    }
}

/// The window sums of the whole-window part of one output row of average pooling;
/// arguments as in `max_row_inner`.
#[inline(never)]
fn avg_row_inner<const S: usize>(
    g: &PoolGeom,
    x: &[f32],
    rows: Range<usize>,
    col0: usize,
    sums: &mut [f32],
) {
    let s = if S == 0 { g.stride } else { S };
    sums.fill(0.0);
    for r in rows {
        for dx in 0..g.kernel {
            let start = r * g.w + col0 + dx;
            let src = &x[start..start + (sums.len() - 1) * s + 1];
            for (j, t) in sums.iter_mut().enumerate() {
                *t += src[j * s];
            }
        }
    }
}

/// Average pooling's input gradient: each input gets `dy / kernel^2` from every window
/// that covers it. `dx` (`n*c*h*w`) is overwritten.
pub(crate) fn avg_pool_backward(g: &PoolGeom, dy: &[f32], dx: &mut [f32]) {
    let (hw, ohw) = (g.plane_in(), g.plane_out());
    assert_eq!(dx.len(), g.planes() * hw, "avg_pool_backward: input length");
    assert_eq!(
        dy.len(),
        g.planes() * ohw,
        "avg_pool_backward: output length"
    );
    for_planes(g.split(), (dx, hw), (dy, ohw), |dx, dy| {
        for (dx, dy) in dx.chunks_mut(hw).zip(dy.chunks(ohw)) {
            match g.stride {
                1 => avg_grad_plane::<1>(g, dy, dx),
                2 => avg_grad_plane::<2>(g, dy, dx),
                _ => avg_grad_plane::<0>(g, dy, dx),
            }
        }
    });
}

/// One plane of the average pooling gradient; `S` as in `avg_plane`.
fn avg_grad_plane<const S: usize>(g: &PoolGeom, dy: &[f32], dx: &mut [f32]) {
    let s = if S == 0 { g.stride } else { S };
    let scale = 1.0 / (g.kernel * g.kernel) as f32;
    let inner = g.inner_cols();
    dx.fill(0.0);
    for (oy, dy) in dy.chunks(g.ow).enumerate() {
        let rows = g.rows(oy);
        for ox in (0..inner.start).chain(inner.end..g.ow) {
            let (cols, d) = (g.cols(ox), dy[ox] * scale);
            for r in rows.clone() {
                for t in &mut dx[r * g.w + cols.start..r * g.w + cols.end] {
                    *t += d;
                }
            }
        }
        let dy = &dy[inner.clone()];
        if dy.is_empty() {
            continue;
        }
        avg_grad_row_inner::<S>(g, dy, scale, rows, inner.start * s - g.padding, dx);
    }
}

/// Adds `dy * scale` of the whole-window part of one output row of average pooling to
/// every input of its windows in the plane `dx`; other arguments as in `max_row_inner`.
#[inline(never)]
fn avg_grad_row_inner<const S: usize>(
    g: &PoolGeom,
    dy: &[f32],
    scale: f32,
    rows: Range<usize>,
    col0: usize,
    dx: &mut [f32],
) {
    let s = if S == 0 { g.stride } else { S };
    for r in rows {
        for kx in 0..g.kernel {
            let start = r * g.w + col0 + kx;
            let dst = &mut dx[start..start + (dy.len() - 1) * s + 1];
            for (j, d) in dy.iter().enumerate() {
                dst[j * s] += d * scale;
            }
        }
    }
}

/// Planes processed per parallel task of the global average pool.
fn global_split(planes: usize, hw: usize) -> Option<usize> {
    (planes * hw >= PAR_MIN).then(|| TASK_GRAIN.div_ceil(hw.max(1)))
}

/// Global average pooling: `y[p]` is the mean of plane `p` of `x` (`planes * hw` long).
pub(crate) fn global_avg_pool_forward(planes: usize, hw: usize, x: &[f32], y: &mut [f32]) {
    assert_eq!(
        x.len(),
        planes * hw,
        "global_avg_pool_forward: input length"
    );
    assert_eq!(y.len(), planes, "global_avg_pool_forward: output length");
    if hw == 0 {
        // The mean of nothing, as candle's `mean` gives it.
        y.fill(f32::NAN);
        return;
    }
    let scale = 1.0 / hw as f32;
    for_planes(global_split(planes, hw), (y, 1), (x, hw), |y, x| {
        for (y, x) in y.iter_mut().zip(x.chunks(hw)) {
            *y = plane_sum(x) * scale;
        }
    });
}

/// The sum of `x` in independent lanes, so that it vectorises.
fn plane_sum(x: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder().iter().sum::<f32>();
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// Global average pooling's input gradient: every element of plane `p` gets `dy[p] / hw`.
pub(crate) fn global_avg_pool_backward(planes: usize, hw: usize, dy: &[f32], dx: &mut [f32]) {
    assert_eq!(
        dx.len(),
        planes * hw,
        "global_avg_pool_backward: input length"
    );
    assert_eq!(dy.len(), planes, "global_avg_pool_backward: output length");
    if hw == 0 {
        return;
    }
    let scale = 1.0 / hw as f32;
    for_planes(global_split(planes, hw), (dx, hw), (dy, 1), |dx, dy| {
        for (dx, d) in dx.chunks_mut(hw).zip(dy) {
            dx.fill(d * scale);
        }
    });
}

/// The geometry of `pool` over NCHW `xs`, if the fast path can take it.
fn geometry(xs: &Tensor, pool: &Pool) -> Result<Option<PoolGeom>> {
    let (n, c, h, w) = xs.dims4()?;
    Ok(PoolGeom::new(n, c, h, w, pool))
}

/// Max pooling of NCHW `xs` with PyTorch's padding and ceil mode, as
/// `crate::child::max_pool`; a custom op with its own backward on the CPU for f32,
/// `crate::child::max_pool` elsewhere.
pub fn max_pool2d(xs: &Tensor, pool: &Pool) -> Result<Tensor> {
    let geom = match fast_path(&[xs]) {
        true => geometry(xs, pool)?,
        false => None,
    };
    let Some(geom) = geom else {
        return crate::child::max_pool(xs, pool);
    };
    let op = MaxPoolOp {
        geom,
        arg: Arc::new(Mutex::new(None)),
    };
    xs.contiguous()?.apply_op1(op)
}

/// Average pooling of NCHW `xs` (padding counted, as PyTorch's `count_include_pad`), as
/// `crate::child::avg_pool`; a custom op with its own backward on the CPU for f32,
/// `crate::child::avg_pool` elsewhere.
pub fn avg_pool2d(xs: &Tensor, pool: &Pool) -> Result<Tensor> {
    let geom = match fast_path(&[xs]) {
        true => geometry(xs, pool)?,
        false => None,
    };
    let Some(geom) = geom else {
        return crate::child::avg_pool(xs, pool);
    };
    xs.contiguous()?.apply_op1(AvgPoolOp { geom })
}

/// Global average pooling of NCHW `xs` to `[n, c]`, as `xs.mean((2, 3))`; a custom op
/// with its own backward on the CPU for f32, that expression elsewhere.
pub fn global_avg_pool2d(xs: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = xs.dims4()?;
    if !fast_path(&[xs]) || h * w == 0 {
        return xs.mean((2, 3));
    }
    xs.contiguous()?.apply_op1(GlobalAvgPoolOp)
}

fn out_shape(g: &PoolGeom) -> Shape {
    Shape::from((g.n, g.c, g.oh, g.ow))
}

/// Checks that the op runs on the input its geometry was made for.
fn check_input(g: &PoolGeom, l: &Layout) -> Result<()> {
    if l.shape().dims() != [g.n, g.c, g.h, g.w] {
        bail!("pool: input {:?} for geometry {g:?}", l.shape())
    }
    Ok(())
}

/// Max pooling as a custom op; the forward keeps the argmax for the backward.
struct MaxPoolOp {
    geom: PoolGeom,
    arg: Arc<Mutex<Option<Vec<u32>>>>,
}

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "nas-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.geom;
        check_input(g, l)?;
        let len = g.planes() * g.plane_out();
        let (mut y, mut arg) = (vec![0f32; len], vec![0u32; len]);
        max_pool_forward(g, slice(s, l)?, &mut y, &mut arg);
        *self.arg.lock().unwrap() = Some(arg);
        Ok((CpuStorage::F32(y), out_shape(g)))
    }

    fn bwd(&self, xs: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = &self.geom;
        let arg = self.arg.lock().unwrap();
        let Some(arg) = arg.as_ref() else {
            bail!("max_pool2d: backward before forward")
        };
        let grad = grad.contiguous()?;
        let mut dx = vec![0f32; xs.elem_count()];
        with_slice(&grad, |dy| {
            max_pool_backward(g, dy, arg, &mut dx);
            Ok(())
        })?;
        Ok(Some(Tensor::from_vec(dx, xs.shape(), xs.device())?))
    }
}

/// Average pooling as a custom op.
struct AvgPoolOp {
    geom: PoolGeom,
}

impl CustomOp1 for AvgPoolOp {
    fn name(&self) -> &'static str {
        "nas-avg-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.geom;
        check_input(g, l)?;
        let mut y = vec![0f32; g.planes() * g.plane_out()];
        avg_pool_forward(g, slice(s, l)?, &mut y);
        Ok((CpuStorage::F32(y), out_shape(g)))
    }

    fn bwd(&self, xs: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let mut dx = vec![0f32; xs.elem_count()];
        with_slice(&grad, |dy| {
            avg_pool_backward(&self.geom, dy, &mut dx);
            Ok(())
        })?;
        Ok(Some(Tensor::from_vec(dx, xs.shape(), xs.device())?))
    }
}

/// Global average pooling as a custom op.
struct GlobalAvgPoolOp;

impl CustomOp1 for GlobalAvgPoolOp {
    fn name(&self) -> &'static str {
        "nas-global-avg-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let mut y = vec![0f32; n * c];
        global_avg_pool_forward(n * c, h * w, slice(s, l)?, &mut y);
        Ok((CpuStorage::F32(y), Shape::from((n, c))))
    }

    fn bwd(&self, xs: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (n, c, h, w) = xs.dims4()?;
        let grad = grad.contiguous()?;
        let mut dx = vec![0f32; xs.elem_count()];
        with_slice(&grad, |dy| {
            global_avg_pool_backward(n * c, h * w, dy, &mut dx);
            Ok(())
        })?;
        Ok(Some(Tensor::from_vec(dx, xs.shape(), xs.device())?))
    }
}
