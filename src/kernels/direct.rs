//! Direct stride-1 convolution with AVX-512, for the small channel counts of searched children.
//!
//! Why not im2col + GEMM there: with 16 or 32 channels the column matrix is nine times the
//! input, written once and then packed again by the GEMM, and those two copies cost as much as
//! the multiply itself. Here a block of up to 8 output channels times 3 output rows of 16
//! pixels lives in 24 vector registers; each input vector, loaded straight from the NCHW plane
//! (masked at the padding), feeds one FMA per output channel with the weight broadcast once for
//! the three rows. No copy of the input is made.
//!
//! It covers stride 1, dilation 1, one group, kernels up to 7x7 (the forward pass and, through
//! the transposed convolution of `im2col::grad_input_into`, the input gradient); everything
//! else, and CPUs without AVX-512, stays on im2col + GEMM.

use super::im2col::{per_sample, Geom};

/// Largest kernel side the masks are kept for.
const MAX_K: usize = 7;
/// Input channels times taps above which the weights of a block no longer sit in L1 and GEMM
/// wins.
const MAX_KDIM: usize = 2304;

/// Whether `g` runs on the direct kernel on this CPU.
pub(crate) fn applies(g: &Geom) -> bool {
    let shape = g.stride == 1 && g.dil == 1 && g.groups == 1 && g.kh == g.kw && g.kh <= MAX_K;
    let worth = g.kh > 1 && g.ow >= 4 && g.c * g.kh * g.kw <= MAX_KDIM;
    shape && worth && avx512()
}

#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512() -> bool {
    false
}

/// `y = conv(x, w) (+ bias)`, or `y += conv(x, w)` when `accumulate`; requires [`applies`].
pub(crate) fn conv_into(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    accumulate: bool,
    y: &mut [f32],
) {
    assert!(applies(g), "direct convolution on {g:?}");
    let kdim = g.c * g.kh * g.kw;
    let (packed, blocks) = (pack(g, w), blocks(g.o, kdim));
    let ohw = g.oh * g.ow;
    let y = &mut y[..g.n * g.o * ohw];
    per_sample(g, x, g.c * g.h * g.w, y, g.o * ohw, |xs, ys| {
        for &(first, len, offset) in &blocks {
            let wb = &packed[offset..offset + len * kdim];
            // SAFETY: `applies` checked AVX-512 on this CPU; the slices have the sizes of `g`.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                let b = bias.map(|b| &b[first..first + len]);
                match len {
                    8 => x86::block::<8>(g, xs, wb, b, accumulate, first, ys),
                    4 => x86::block::<4>(g, xs, wb, b, accumulate, first, ys),
                    _ => x86::block::<1>(g, xs, wb, b, accumulate, first, ys),
                }
            }
        }
    });
}

/// Adds the kernel gradient of a run of samples, `sum dy (x) x` over its pixels, onto `dw`
/// (`o x c x k x k`), without an im2col copy; returns false, touching nothing, for kernel sizes
/// other than 3 and 5 (the caller then takes im2col + GEMM). Requires [`applies`].
pub(crate) fn grad_kernel_into(g: &Geom, x: &[f32], dy: &[f32], dw: &mut [f32]) -> bool {
    assert!(applies(g), "direct convolution on {g:?}");
    if g.kh != 3 && g.kh != 5 {
        return false;
    }
    let samples = x.len() / (g.c * g.h * g.w).max(1);
    let mut first = 0;
    while first < g.o {
        let len = if g.o - first >= 4 { 4 } else { 1 };
        // SAFETY: `applies` checked AVX-512 on this CPU; the slices have the sizes of `g`.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            match (len, g.kh) {
                (4, 3) => x86::grad_block::<4, 3>(g, samples, x, dy, first, dw),
                (4, _) => x86::grad_block::<4, 5>(g, samples, x, dy, first, dw),
                (_, 3) => x86::grad_block::<1, 3>(g, samples, x, dy, first, dw),
                _ => x86::grad_block::<1, 5>(g, samples, x, dy, first, dw),
            }
        }
        first += len;
    }
    true
}

/// The output channel blocks: `(first channel, channels, offset of its packed weights)`, in
/// blocks of 8, then 4 and 1 for the rest.
fn blocks(o: usize, kdim: usize) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut first = 0;
    while first < o {
        let len = [8, 4, 1].into_iter().find(|&b| b <= o - first).unwrap_or(1);
        out.push((first, len, first * kdim));
        first += len;
    }
    out
}

/// The weights `[o][c][ki][kj]` regrouped per block as `[c][ki][kj][o in block]`, so that the
/// block's weights for one tap are adjacent.
fn pack(g: &Geom, w: &[f32]) -> Vec<f32> {
    let kdim = g.c * g.kh * g.kw;
    let mut packed = vec![0f32; g.o * kdim];
    for (first, len, offset) in blocks(g.o, kdim) {
        for tap in 0..kdim {
            for o in 0..len {
                packed[offset + tap * len + o] = w[(first + o) * kdim + tap];
            }
        }
    }
    packed
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Geom, MAX_K};

    /// Lanes `l` of the 16 output columns from `ox0` that are inside the output row and, for
    /// tap `kj`, whose input column `ox0 + l + kj - pad` is inside the input row.
    fn mask(g: &Geom, ox0: usize, kj: Option<usize>) -> u16 {
        let mut m = 0u16;
        for l in 0..16 {
            let inside = kj.is_none_or(|kj| {
                let ix = (ox0 + l + kj) as isize - g.pad as isize;
                ix >= 0 && (ix as usize) < g.w
            });
            if ox0 + l < g.ow && inside {
                m |= 1 << l;
            }
        }
        m
    }

    /// Output rows computed together: each broadcast weight then feeds `ROWS` FMAs, so that
    /// loads (one per FMA with a single row) stop limiting the FMA units.
    const ROWS: usize = 3;

    /// Output channels `first..first + OB` of one sample: `xs` is the sample's input
    /// (`c x h x w`), `wb` the block's packed weights, `ys` the sample's output. `OB x ROWS`
    /// vectors of 16 output pixels are summed in registers.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block<const OB: usize>(
        g: &Geom,
        xs: &[f32],
        wb: &[f32],
        bias: Option<&[f32]>,
        accumulate: bool,
        first: usize,
        ys: &mut [f32],
    ) {
        let (k, hw, ohw) = (g.kh, g.h * g.w, g.oh * g.ow);
        let x = xs.as_ptr();
        let y = ys.as_mut_ptr().add(first * ohw);
        for ox0 in (0..g.ow).step_by(16) {
            let out_mask: __mmask16 = mask(g, ox0, None);
            let mut masks = [0u16; MAX_K];
            for (kj, m) in masks.iter_mut().enumerate().take(k) {
                *m = mask(g, ox0, Some(kj));
            }
            for oy0 in (0..g.oh).step_by(ROWS) {
                let rows = (g.oh - oy0).min(ROWS);
                let mut acc = [[_mm512_setzero_ps(); ROWS]; OB];
                for (o, a) in acc.iter_mut().enumerate() {
                    for (r, a) in a.iter_mut().enumerate().take(rows) {
                        let at = y.add(o * ohw + (oy0 + r) * g.ow + ox0);
                        if accumulate {
                            *a = _mm512_maskz_loadu_ps(out_mask, at);
                        } else if let Some(b) = bias {
                            *a = _mm512_set1_ps(b[o]);
                        }
                    }
                }
                for c in 0..g.c {
                    for ki in 0..k {
                        // the input row of each output row, and a mask that is empty where
                        // that row is padding or past the last output row
                        let mut row = [x; ROWS];
                        let mut keep = [0u16; ROWS];
                        for r in 0..ROWS {
                            let iy = (oy0 + r + ki) as isize - g.pad as isize;
                            if r < rows && iy >= 0 && iy < g.h as isize {
                                keep[r] = u16::MAX;
                                row[r] = x.add(c * hw + iy as usize * g.w);
                            }
                        }
                        let wt = wb.as_ptr().add(((c * k + ki) * k) * OB);
                        for (kj, m) in masks.iter().enumerate().take(k) {
                            let mut xv = [_mm512_setzero_ps(); ROWS];
                            for r in 0..ROWS {
                                // may point outside the row: masked lanes are never read, so
                                // no fault and no stray value
                                let src =
                                    row[r].wrapping_offset((ox0 + kj) as isize - g.pad as isize);
                                xv[r] = _mm512_maskz_loadu_ps(*m & keep[r], src);
                            }
                            let wk = wt.add(kj * OB);
                            for (o, a) in acc.iter_mut().enumerate() {
                                let wv = _mm512_set1_ps(*wk.add(o));
                                for r in 0..ROWS {
                                    a[r] = _mm512_fmadd_ps(xv[r], wv, a[r]);
                                }
                            }
                        }
                    }
                }
                for (o, a) in acc.iter().enumerate() {
                    for (r, a) in a.iter().enumerate().take(rows) {
                        _mm512_mask_storeu_ps(
                            y.add(o * ohw + (oy0 + r) * g.ow + ox0),
                            out_mask,
                            *a,
                        );
                    }
                }
            }
        }
    }

    /// `dw[first..first + OB]` += the kernel gradient of `samples` samples: for each input
    /// channel and kernel row, `OB x K` vector sums over every output pixel, one FMA per
    /// (output channel, tap) for each pair of vectors loaded.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn grad_block<const OB: usize, const K: usize>(
        g: &Geom,
        samples: usize,
        xs: &[f32],
        dys: &[f32],
        first: usize,
        dw: &mut [f32],
    ) {
        let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
        let chunks: Vec<(usize, u16, [u16; MAX_K])> = (0..g.ow)
            .step_by(16)
            .map(|ox0| {
                let mut masks = [0u16; MAX_K];
                for (kj, m) in masks.iter_mut().enumerate().take(K) {
                    *m = mask(g, ox0, Some(kj));
                }
                (ox0, mask(g, ox0, None), masks)
            })
            .collect();
        for c in 0..g.c {
            for ki in 0..K {
                let mut acc = [[_mm512_setzero_ps(); K]; OB];
                for s in 0..samples {
                    let x = xs.as_ptr().add((s * g.c + c) * hw);
                    let dy = dys.as_ptr().add((s * g.o + first) * ohw);
                    for oy in 0..g.oh {
                        let iy = (oy + ki) as isize - g.pad as isize;
                        if iy < 0 || iy >= g.h as isize {
                            continue;
                        }
                        let row = x.add(iy as usize * g.w);
                        for &(ox0, out_mask, masks) in &chunks {
                            let mut d = [_mm512_setzero_ps(); OB];
                            for (o, d) in d.iter_mut().enumerate() {
                                *d = _mm512_maskz_loadu_ps(
                                    out_mask,
                                    dy.add(o * ohw + oy * g.ow + ox0),
                                );
                            }
                            for kj in 0..K {
                                let src = row.wrapping_offset((ox0 + kj) as isize - g.pad as isize);
                                let xv = _mm512_maskz_loadu_ps(masks[kj], src);
                                for o in 0..OB {
                                    acc[o][kj] = _mm512_fmadd_ps(d[o], xv, acc[o][kj]);
                                }
                            }
                        }
                    }
                }
                for (o, taps) in acc.iter().enumerate() {
                    for (kj, a) in taps.iter().enumerate() {
                        dw[(((first + o) * g.c + c) * K + ki) * K + kj] += _mm512_reduce_add_ps(*a);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::kernels::conv::conv_geom;
    use crate::kernels::ConvParams;

    /// The plain definition of a stride-1 convolution, in f64.
    fn naive(g: &Geom, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let mut y = vec![0f32; g.n * g.o * g.oh * g.ow];
        for (i, out) in y.iter_mut().enumerate() {
            let (ox, oy, o, n) = (
                i % g.ow,
                i / g.ow % g.oh,
                i / (g.ow * g.oh) % g.o,
                i / (g.ow * g.oh * g.o),
            );
            let mut sum = bias.map_or(0.0, |b| b[o] as f64);
            for c in 0..g.c {
                for ki in 0..g.kh {
                    for kj in 0..g.kw {
                        let (iy, ix) = (
                            (oy + ki) as isize - g.pad as isize,
                            (ox + kj) as isize - g.pad as isize,
                        );
                        if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                            let xv = x[((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize];
                            sum += xv as f64 * w[((o * g.c + c) * g.kh + ki) * g.kw + kj] as f64;
                        }
                    }
                }
            }
            *out = sum as f32;
        }
        y
    }

    #[test]
    fn the_direct_kernel_is_the_convolution_for_every_block_size_padding_and_width() {
        if !avx512() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // (n, c, o, k, pad, h, w): same, valid and full padding; rows of 5 to 33 columns
        let shapes = [
            (2, 16, 16, 3, 1, 28, 28),
            (3, 1, 6, 5, 0, 12, 32),
            (2, 6, 29, 5, 4, 10, 10),
            (2, 12, 12, 3, 1, 7, 33),
            (1, 3, 8, 7, 3, 9, 17),
            (2, 4, 5, 3, 2, 5, 5),
        ];
        for (n, c, o, k, pad, h, w) in shapes {
            let params = ConvParams {
                padding: pad,
                ..Default::default()
            };
            let g = conv_geom((n, c, h, w), (o, c, k, k), params).unwrap();
            assert!(applies(&g), "{g:?}");
            let mut draw = |len: usize| -> Vec<f32> {
                (0..len).map(|_| rng.random_range(-1f32..1f32)).collect()
            };
            let (x, wt, b) = (draw(n * c * h * w), draw(o * c * k * k), draw(o));
            let before = draw(n * o * g.oh * g.ow);
            let want = naive(&g, &x, &wt, Some(&b));
            let mut got = before.clone();
            conv_into(&g, &x, &wt, Some(&b), false, &mut got);
            let close = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .all(|(a, b)| (a - b).abs() <= 1e-4 * (1.0 + b.abs()))
            };
            assert!(close(&got, &want), "{g:?}");
            let plain = naive(&g, &x, &wt, None);
            let mut summed = before.clone();
            conv_into(&g, &x, &wt, None, true, &mut summed);
            let want: Vec<f32> = before.iter().zip(&plain).map(|(a, b)| a + b).collect();
            assert!(close(&summed, &want), "{g:?} accumulating");
            if k != 3 && k != 5 {
                continue;
            }
            // the kernel gradient: dw[o][c][ki][kj] = sum dy[o][p] x[c][p + tap], from dw0
            let dy = draw(n * o * g.oh * g.ow);
            let dw0 = draw(o * c * k * k);
            let mut want = dw0.clone();
            for (i, dw) in want.iter_mut().enumerate() {
                let (kj, ki, ci, oi) = (i % k, i / k % k, i / (k * k) % c, i / (k * k * c));
                let mut sum = 0f64;
                for s in 0..n {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let (iy, ix) = (
                                (oy + ki) as isize - pad as isize,
                                (ox + kj) as isize - pad as isize,
                            );
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                let xv = x[((s * c + ci) * h + iy as usize) * w + ix as usize];
                                sum +=
                                    xv as f64 * dy[((s * o + oi) * g.oh + oy) * g.ow + ox] as f64;
                            }
                        }
                    }
                }
                *dw += sum as f32;
            }
            let mut got = dw0.clone();
            assert!(grad_kernel_into(&g, &x, &dy, &mut got));
            let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| (a - b).abs() <= 1e-4 * scale),
                "{g:?} dw"
            );
        }
    }
}
