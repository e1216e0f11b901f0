//! TEMPORARY naive stand-in (replaced by the helper's kernels).
use crate::graph::Pool;

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
    pub(crate) fn new(n: usize, c: usize, h: usize, w: usize, pool: &Pool) -> Option<PoolGeom> {
        Some(PoolGeom {
            n,
            c,
            h,
            w,
            oh: pool.out_len(h)?,
            ow: pool.out_len(w)?,
            kernel: pool.kernel,
            stride: pool.stride,
            padding: pool.padding,
        })
    }
}
fn win(g: &PoolGeom, oy: usize, ox: usize, mut f: impl FnMut(usize)) {
    for ki in 0..g.kernel {
        for kj in 0..g.kernel {
            let iy = (oy * g.stride + ki) as isize - g.padding as isize;
            let ix = (ox * g.stride + kj) as isize - g.padding as isize;
            if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                f(iy as usize * g.w + ix as usize)
            }
        }
    }
}
pub(crate) fn max_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32], arg: &mut [u32]) {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    for p in 0..g.n * g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let (mut best, mut bi) = (f32::NEG_INFINITY, 0usize);
                win(g, oy, ox, |i| {
                    let v = x[p * hw + i];
                    if v > best {
                        best = v;
                        bi = i
                    }
                });
                y[p * ohw + oy * g.ow + ox] = best;
                arg[p * ohw + oy * g.ow + ox] = bi as u32;
            }
        }
    }
}
pub(crate) fn max_pool_backward(g: &PoolGeom, dy: &[f32], arg: &[u32], dx: &mut [f32]) {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    dx.fill(0.0);
    for p in 0..g.n * g.c {
        for o in 0..ohw {
            dx[p * hw + arg[p * ohw + o] as usize] += dy[p * ohw + o];
        }
    }
}
pub(crate) fn avg_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let k2 = (g.kernel * g.kernel) as f32;
    for p in 0..g.n * g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut s = 0.0;
                win(g, oy, ox, |i| s += x[p * hw + i]);
                y[p * ohw + oy * g.ow + ox] = s / k2;
            }
        }
    }
}
pub(crate) fn avg_pool_backward(g: &PoolGeom, dy: &[f32], dx: &mut [f32]) {
    let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
    let k2 = (g.kernel * g.kernel) as f32;
    dx.fill(0.0);
    for p in 0..g.n * g.c {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let d = dy[p * ohw + oy * g.ow + ox] / k2;
                win(g, oy, ox, |i| dx[p * hw + i] += d);
            }
        }
    }
}
pub(crate) fn global_avg_pool_forward(planes: usize, hw: usize, x: &[f32], y: &mut [f32]) {
    for p in 0..planes {
        y[p] = x[p * hw..(p + 1) * hw].iter().sum::<f32>() / hw as f32;
    }
}
pub(crate) fn global_avg_pool_backward(planes: usize, hw: usize, dy: &[f32], dx: &mut [f32]) {
    for p in 0..planes {
        dx[p * hw..(p + 1) * hw].fill(dy[p] / hw as f32);
    }
}
