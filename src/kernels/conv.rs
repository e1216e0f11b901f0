//! `conv2d` as a candle custom op: im2col + GEMM forward, and a backward that
//! gives the input, kernel and bias gradients without candle's direct-loop
//! `conv_transpose2d`.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::cpu::{fast_path, slice, with_slice};
use super::im2col::{self, Geom};

/// Settings of a 2-D convolution, as in `candle_nn::Conv2dConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvParams {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
}

impl Default for ConvParams {
    fn default() -> Self {
        Self {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }
}

impl From<candle_nn::Conv2dConfig> for ConvParams {
    fn from(cfg: candle_nn::Conv2dConfig) -> Self {
        Self {
            stride: cfg.stride,
            padding: cfg.padding,
            dilation: cfg.dilation,
            groups: cfg.groups,
        }
    }
}

/// 2-D convolution of NCHW `xs` with `w` (`out x in/groups x kh x kw`) and an optional
/// bias; fast on the CPU for f32, candle's own `conv2d` elsewhere.
pub fn conv2d(xs: &Tensor, w: &Tensor, bias: Option<&Tensor>, cfg: ConvParams) -> Result<Tensor> {
    let mut all = vec![xs, w];
    all.extend(bias);
    if !fast_path(&all) {
        let ys = xs.conv2d(w, cfg.padding, cfg.stride, cfg.dilation, cfg.groups)?;
        return match bias {
            Some(b) => ys.broadcast_add(&b.reshape((1, (), 1, 1))?),
            None => Ok(ys),
        };
    }
    let op = ConvOp {
        geom: geometry(xs, w, cfg)?,
    };
    if let Some(b) = bias.filter(|b| b.elem_count() != op.geom.o) {
        bail!(
            "conv2d: bias of shape {:?} for {} output channels",
            b.shape(),
            op.geom.o
        )
    }
    let (xs, w) = (xs.contiguous()?, w.contiguous()?);
    match bias {
        Some(b) => xs.apply_op3(&w, &b.contiguous()?, op),
        None => xs.apply_op2(&w, op),
    }
}

/// Checks the shapes the way candle does and derives every size once.
fn geometry(xs: &Tensor, w: &Tensor, cfg: ConvParams) -> Result<Geom> {
    conv_geom(xs.dims4()?, w.dims4()?, cfg)
}

/// The geometry of a convolution of an `(n, c, h, w)` input with an `(o, c/groups, kh, kw)`
/// kernel, checked as candle checks it.
pub(crate) fn conv_geom(
    (n, c, h, iw): (usize, usize, usize, usize),
    (o, cg, kh, kw): (usize, usize, usize, usize),
    cfg: ConvParams,
) -> Result<Geom> {
    let groups = cfg.groups.max(1);
    if cfg.stride == 0 || cfg.dilation == 0 {
        bail!("conv2d: stride and dilation must be at least 1, got {cfg:?}")
    }
    if c != cg * groups || o % groups != 0 {
        bail!("conv2d: input {c} channels, kernel {o}x{cg}, {groups} groups do not fit")
    }
    let out = |size: usize, k: usize| {
        let span = cfg.dilation * (k - 1) + 1;
        (size + 2 * cfg.padding)
            .checked_sub(span)
            .map(|v| v / cfg.stride + 1)
    };
    let (Some(oh), Some(ow)) = (out(h, kh), out(iw, kw)) else {
        bail!("conv2d: kernel {kh}x{kw} larger than padded input {h}x{iw}")
    };
    Ok(Geom {
        n,
        c,
        h,
        w: iw,
        o,
        kh,
        kw,
        oh,
        ow,
        stride: cfg.stride,
        pad: cfg.padding,
        dil: cfg.dilation,
        groups,
    })
}

/// The custom op; `Geom` is fixed at construction from the operands' shapes.
struct ConvOp {
    geom: Geom,
}

impl ConvOp {
    fn out_shape(&self) -> Shape {
        let g = &self.geom;
        Shape::from((g.n, g.o, g.oh, g.ow))
    }

    fn backward(
        &self,
        xs: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        grad: &Tensor,
    ) -> Result<[Option<Tensor>; 3]> {
        let g = &self.geom;
        let grad = grad.contiguous()?;
        with_slice(&grad, |dy| {
            let dx = match xs.track_op() {
                true => with_slice(w, |w| Ok(Some(im2col::grad_input(g, dy, w))))?,
                false => None,
            };
            let dw = match w.track_op() {
                true => with_slice(xs, |x| Ok(Some(im2col::grad_kernel(g, x, dy))))?,
                false => None,
            };
            let db = bias
                .filter(|b| b.track_op())
                .map(|b| (im2col::grad_bias(g, dy), b.shape()));
            let dev = xs.device();
            Ok([
                dx.map(|v| Tensor::from_vec(v, xs.shape(), dev))
                    .transpose()?,
                dw.map(|v| Tensor::from_vec(v, w.shape(), dev))
                    .transpose()?,
                db.map(|(v, shape)| Tensor::from_vec(v, shape, dev))
                    .transpose()?,
            ])
        })
    }
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        "nas-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = im2col::forward(&self.geom, slice(s1, l1)?, slice(s2, l2)?, None);
        Ok((CpuStorage::F32(y), self.out_shape()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let [dx, dw, _] = self.backward(xs, w, None, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "nas-conv2d-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let bias = slice(s3, l3)?;
        let y = im2col::forward(&self.geom, slice(s1, l1)?, slice(s2, l2)?, Some(bias));
        Ok((CpuStorage::F32(y), self.out_shape()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let [dx, dw, db] = self.backward(xs, w, Some(bias), grad)?;
        Ok((dx, dw, db))
    }
}
