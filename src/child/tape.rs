//! One training step of a [`ChildNet`] (forward, cross-entropy, backward) on nas's own CPU
//! kernels, without candle's autograd.
//!
//! Why not candle's `backward`: for every gradient it allocates a zero tensor and adds the
//! contribution into it, and it builds the gradients of ReLU, pooling, concatenation and
//! dropout from several generic ops each. For the small CNNs of a search that bookkeeping
//! (allocation, page faults, extra passes over memory) cost more than the convolutions. Here
//! each node's backward is one kernel writing straight into a buffer, the buffers are reused
//! from step to step through a [`Workspace`], and nodes that only pass a value on (a ReLU
//! fused into its batch norm, a flatten, a dropout of 0) share their input's buffer.
//!
//! The parameters stay candle `Var`s and the gradients come back in a candle `GradStore`, so
//! the optimiser, the weights file and evaluation do not know which path trained the net.
//! Tests check every gradient against candle's autograd on the reference ops.

use candle_core::backprop::GradStore;
use candle_core::{Device, Result, Tensor};
use gemm::Parallelism;
use rand::{Rng, RngCore};
use rayon::prelude::*;

use super::net::{ChildNet, Layer};
use crate::graph::Shape;
use crate::kernels::batch_norm::{train_backward, train_forward, Stats};
use crate::kernels::conv::conv_geom;
use crate::kernels::cpu::with_slice;
use crate::kernels::drop_path;
use crate::kernels::gates;
use crate::kernels::im2col::{self, matmul};
use crate::kernels::planes::{channel_affine, keep_if};
use crate::kernels::pool::{self, PoolGeom};

/// Buffers kept from one training step for the next, so that a step allocates nothing once
/// the first has run: the sizes repeat exactly from step to step.
#[derive(Debug, Default)]
pub struct Workspace {
    floats: Vec<Vec<f32>>,
    indices: Vec<Vec<u32>>,
}

impl Workspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// A buffer of at least `len` floats (the smallest kept one that fits), contents unspecified.
    pub(super) fn take(&mut self, len: usize) -> Vec<f32> {
        take_from(&mut self.floats, len)
    }

    fn take_indices(&mut self, len: usize) -> Vec<u32> {
        take_from(&mut self.indices, len)
    }

    pub(super) fn give(&mut self, buf: Vec<f32>) {
        if !buf.is_empty() {
            self.floats.push(buf);
        }
    }
}

/// Removes the smallest buffer of at least `len` from `kept`, or makes one. Buffers are
/// always fully initialised (`len() == capacity` in use), so no read sees uninitialised memory.
fn take_from<T: Copy + Default>(kept: &mut Vec<Vec<T>>, len: usize) -> Vec<T> {
    let best = kept
        .iter()
        .enumerate()
        .filter(|(_, b)| b.len() >= len)
        .min_by_key(|(_, b)| b.len())
        .map(|(i, _)| i);
    match best {
        Some(i) => kept.swap_remove(i),
        None => vec![T::default(); len],
    }
}

/// What a node's forward keeps for its backward, besides the values themselves.
enum Saved {
    Nothing,
    BatchNorm(Stats),
    /// Max pooling: the input position of each output's maximum.
    Argmax(Vec<u32>),
    /// Dropout: 0 or 1 / (1 - p) per value; drop path: the same per example.
    Mask(Vec<f32>),
}

/// Elementwise loops on more values than this are split across threads.
const PAR_MIN: usize = 1 << 15;

/// `f(out, a, b)` over matching chunks, across threads for long slices.
fn zip_map(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(&mut f32, f32, f32) + Sync) {
    let run = |(o, (a, b)): (&mut [f32], (&[f32], &[f32]))| {
        o.iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (a, b))| f(o, *a, *b))
    };
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(PAR_MIN / 4)
            .zip(a.par_chunks(PAR_MIN / 4).zip(b.par_chunks(PAR_MIN / 4)))
            .for_each(run);
    } else {
        run((out, (a, b)));
    }
}

/// `sum += part`, across threads for long slices.
fn add_into(sum: &mut [f32], part: &[f32]) {
    map(sum, part, |s, p| *s += p);
}

/// `f(out, a)` over matching chunks, across threads for long slices.
fn map(out: &mut [f32], a: &[f32], f: impl Fn(&mut f32, f32) + Sync) {
    let run = |(o, a): (&mut [f32], &[f32])| o.iter_mut().zip(a).for_each(|(o, a)| f(o, *a));
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(PAR_MIN / 4)
            .zip(a.par_chunks(PAR_MIN / 4))
            .for_each(run);
    } else {
        run((out, a));
    }
}

/// The state of one step: every node's value, what its backward needs, and its gradient.
pub(super) struct Step<'a> {
    pub(super) net: &'a ChildNet,
    pub(super) ws: &'a mut Workspace,
    /// Training mode (batch statistics, dropout, values kept for the backward pass), or
    /// evaluation (running statistics, no dropout, see `super::infer`).
    pub(super) train: bool,
    pub(super) batch: usize,
    /// The node whose buffer holds each node's value (itself, or its input for pass-through nodes).
    pub(super) src: Vec<usize>,
    pub(super) values: Vec<Option<Vec<f32>>>,
    saved: Vec<Saved>,
    grads: Vec<Option<Vec<f32>>>,
    /// Whether a node's value depends on a parameter, i.e. whether its gradient is wanted.
    wants_grad: Vec<bool>,
    params: GradStore,
}

impl ChildNet {
    /// Whether [`ChildNet::train_step`] can train this net on `xs`: fast kernels, CPU, f32.
    pub fn has_own_backward(&self, xs: &Tensor) -> bool {
        self.kernels() == super::Kernels::Fast
            && xs.device().is_cpu()
            && xs.dtype() == candle_core::DType::F32
    }

    /// One training step's forward pass (batch norm in training mode, dropout drawn from
    /// `rng`), the mean cross-entropy against `ys` with `smoothing`, and the gradients of every
    /// parameter. Batch-norm running statistics are updated as `forward_t(xs, true)` does.
    /// Requires [`ChildNet::has_own_backward`].
    pub fn train_step(
        &self,
        ws: &mut Workspace,
        xs: &Tensor,
        ys: &Tensor,
        smoothing: f64,
        rng: &mut dyn RngCore,
    ) -> Result<(f64, GradStore)> {
        if !self.has_own_backward(xs) {
            candle_core::bail!("train_step: needs the fast kernels and an f32 CPU batch")
        }
        let batch = xs.dim(0)?;
        let labels: Vec<u32> = ys.to_vec1()?;
        if labels.len() != batch {
            candle_core::bail!("train_step: {batch} images, {} labels", labels.len())
        }
        let mut step = Step::new(self, ws, xs, true)?;
        let result = step.run(&labels, smoothing, rng);
        step.recycle();
        result.map(|loss| (loss, std::mem::take(&mut step.params)))
    }

    /// Nodes whose value is their input's, unchanged in memory (in training mode when `train`).
    pub(super) fn passes_through(&self, id: usize, train: bool) -> bool {
        match &self.layers[id] {
            Layer::Fused | Layer::Flatten => true,
            Layer::Dropout(p) | Layer::DropPath(p) => *p <= 0.0 || !train,
            _ => false,
        }
    }

    fn has_params(&self, id: usize) -> bool {
        matches!(
            self.layers[id],
            Layer::Conv(_) | Layer::BatchNorm(_) | Layer::Linear(_)
        )
    }
}

impl<'a> Step<'a> {
    /// A step of `net` on the batch `xs` (copied into the workspace as node 0's value).
    pub(super) fn new(
        net: &'a ChildNet,
        ws: &'a mut Workspace,
        xs: &Tensor,
        train: bool,
    ) -> Result<Self> {
        let n = net.layers.len();
        let mut src: Vec<usize> = (0..n).collect();
        let mut wants_grad = vec![false; n];
        for id in 1..n {
            if net.passes_through(id, train) {
                src[id] = src[net.inputs[id][0]];
            }
            let wanted = net.has_params(id) || net.inputs[id].iter().any(|&i| wants_grad[i]);
            wants_grad[id] = train && wanted;
        }
        let input = xs.contiguous()?;
        let mut first = ws.take(input.elem_count());
        with_slice(&input, |x| {
            first[..x.len()].copy_from_slice(x);
            Ok(())
        })?;
        let mut values: Vec<Option<Vec<f32>>> = (0..n).map(|_| None).collect();
        values[0] = Some(first);
        Ok(Step {
            net,
            ws,
            train,
            batch: xs.dim(0)?,
            src,
            values,
            saved: (0..n).map(|_| Saved::Nothing).collect(),
            grads: (0..n).map(|_| None).collect(),
            wants_grad,
            params: GradStore::default(),
        })
    }

    fn run(&mut self, labels: &[u32], smoothing: f64, rng: &mut dyn RngCore) -> Result<f64> {
        let n = self.net.layers.len();
        for id in 1..n {
            if self.src[id] != id {
                continue;
            }
            self.forward(id, rng)?;
        }
        let last = n - 1;
        let classes = self.numel(last);
        let (loss, dlogits) = {
            let mut d = self.ws.take(self.batch * classes);
            let logits = self.value(last);
            let loss = cross_entropy(logits, labels, classes, smoothing, &mut d)?;
            (loss, d)
        };
        if !loss.is_finite() {
            // the caller reports the loss; there is nothing sensible to differentiate
            self.ws.give(dlogits);
            return Ok(loss);
        }
        self.grads[last] = Some(dlogits);
        for id in (1..n).rev() {
            if let Some(dy) = self.grads[id].take() {
                if self.src[id] != id {
                    let input = self.net.inputs[id][0];
                    let len = self.len(id);
                    self.add_grad_buf(input, dy, len);
                } else {
                    self.backward(id, &dy)?;
                    self.ws.give(dy);
                }
            }
            // every reader of this value has a larger id, so its backward has run: the
            // buffer can serve the gradients still to come
            if let Some(value) = self.values[id].take() {
                self.ws.give(value);
            }
        }
        Ok(loss)
    }

    /// Values per example of node `id`.
    fn numel(&self, id: usize) -> usize {
        self.net.shapes[id].numel()
    }

    /// Values of node `id` in the whole batch.
    fn len(&self, id: usize) -> usize {
        self.batch * self.numel(id)
    }

    pub(super) fn value(&self, id: usize) -> &[f32] {
        let buf = self.values[self.src[id]]
            .as_ref()
            .expect("inputs are computed before their readers");
        &buf[..self.len(id)]
    }

    /// `(channels, height, width)` of node `id`; a flat vector is `(len, 1, 1)`.
    fn chw(&self, id: usize) -> (usize, usize, usize) {
        match self.net.shapes[id] {
            Shape::Map([c, h, w]) => (c, h, w),
            Shape::Flat(len) => (len, 1, 1),
        }
    }

    pub(super) fn forward(&mut self, id: usize, rng: &mut dyn RngCore) -> Result<()> {
        let net = self.net;
        let ins = &net.inputs[id];
        let x0 = ins.first().copied().unwrap_or(0);
        let mut y = self.ws.take(self.len(id));
        let out = &mut y[..self.len(id)];
        let (n, (c, h, w)) = (self.batch, self.chw(x0));
        match &net.layers[id] {
            Layer::Input | Layer::Fused | Layer::Flatten => {
                candle_core::bail!("node {id} has no forward of its own")
            }
            Layer::Conv(conv) => {
                let (weight, bias, params) = conv.parts();
                let g = conv_geom((n, c, h, w), weight.dims4()?, params)?;
                let x = self.value(x0);
                with_slice(weight, |wt| match bias {
                    Some(b) => with_slice(b, |b| {
                        im2col::forward_into(&g, x, wt, Some(b), out);
                        Ok(())
                    }),
                    None => {
                        im2col::forward_into(&g, x, wt, None, out);
                        Ok(())
                    }
                })?;
            }
            Layer::BatchNorm(bn) if !self.train => {
                let (scale, shift) = bn.eval_affine()?;
                channel_affine(self.value(x0), out, &scale, &shift, h * w, bn.parts().2);
            }
            Layer::BatchNorm(bn) => {
                let (gamma, beta, relu) = bn.parts();
                let eps = bn.eps();
                let x = self.value(x0);
                let stats = with_slice(gamma, |gm| {
                    with_slice(beta, |bt| {
                        Ok(train_forward(x, gm, bt, h * w, eps, relu, out))
                    })
                })?;
                bn.update_running(&stats.mean, &stats.var, n * h * w)?;
                self.saved[id] = Saved::BatchNorm(stats);
            }
            Layer::Relu => map(out, self.value(x0), |o, x| *o = x.max(0.0)),
            Layer::Relu6 => map(out, self.value(x0), |o, x| *o = x.clamp(0.0, 6.0)),
            Layer::MaxPool(p) => {
                let g = pool_geom(n, c, h, w, p)?;
                let mut arg = self.ws.take_indices(out.len());
                pool::max_pool_forward(&g, self.value(x0), out, &mut arg[..out.len()]);
                match self.train {
                    true => self.saved[id] = Saved::Argmax(arg),
                    false => self.ws.indices.push(arg),
                }
            }
            Layer::AvgPool(p) => {
                pool::avg_pool_forward(&pool_geom(n, c, h, w, p)?, self.value(x0), out)
            }
            Layer::GlobalAvgPool => {
                pool::global_avg_pool_forward(n * c, h * w, self.value(x0), out)
            }
            Layer::Concat => {
                let total = self.numel(id);
                let mut offset = 0;
                for &i in ins {
                    let (x, len) = (self.value(i), self.numel(i));
                    for (dst, src) in out.chunks_mut(total).zip(x.chunks(len)) {
                        dst[offset..offset + len].copy_from_slice(src);
                    }
                    offset += len;
                }
            }
            Layer::Add => {
                zip_map(out, self.value(ins[0]), self.value(ins[1]), |o, a, b| {
                    *o = a + b
                });
                for &i in &ins[2..] {
                    add_into(out, self.value(i));
                }
            }
            Layer::Linear(linear) => {
                let (inp, outp) = (self.numel(x0), self.numel(id));
                let x = self.value(x0);
                with_slice(linear.weight(), |wt| {
                    if let Some(b) = linear.bias() {
                        with_slice(b, |b| {
                            out.chunks_mut(outp).for_each(|row| row.copy_from_slice(b));
                            Ok(())
                        })?;
                    }
                    // y (n x out) = x (n x in) * W^T, W stored out x in
                    let par = gemm_par(n * inp * outp);
                    let acc = linear.bias().is_some();
                    matmul((n, outp, inp), out, acc, x, (inp, 1), wt, (1, inp), par);
                    Ok(())
                })?;
            }
            Layer::Dropout(p) => {
                let keep = 1.0 - *p;
                let mut mask = self.ws.take(out.len());
                for m in &mut mask[..out.len()] {
                    *m = if rng.random::<f32>() < keep {
                        1.0 / keep
                    } else {
                        0.0
                    };
                }
                zip_map(out, self.value(x0), &mask[..out.len()], |o, x, m| {
                    *o = x * m
                });
                self.saved[id] = Saved::Mask(mask);
            }
            Layer::DropPath(p) => {
                let mut mask = self.ws.take(n);
                drop_path::draw_mask(*p, rng, &mut mask[..n]);
                drop_path::scale_examples(self.value(x0), &mask[..n], out);
                self.saved[id] = Saved::Mask(mask);
            }
            Layer::Join(p) => {
                let k = ins.len();
                let mut weights = self.ws.take(n * k);
                match self.train && *p > 0.0 {
                    true => drop_path::draw_join_weights(*p, k, rng, &mut weights[..n * k]),
                    false => weights[..n * k].fill(1.0 / k as f32),
                }
                let xs: Vec<&[f32]> = ins.iter().map(|&i| self.value(i)).collect();
                drop_path::join_forward(&xs, &weights[..n * k], out);
                match self.train {
                    true => self.saved[id] = Saved::Mask(weights),
                    false => self.ws.give(weights),
                }
            }
            Layer::Silu => gates::silu_forward(self.value(x0), out),
            Layer::Sigmoid => gates::sigmoid_forward(self.value(x0), out),
            Layer::AdaptiveAvgPool(size) => {
                gates::adaptive_avg_forward(self.value(x0), (h, w), *size, out)
            }
            Layer::Scale => gates::scale_forward(self.value(x0), self.value(ins[1]), h * w, out),
        }
        self.values[id] = Some(y);
        Ok(())
    }

    /// Adds `write`'s gradient (it overwrites the slice it is given) to node `id`'s gradient,
    /// writing straight into a fresh buffer when it is the first contribution. `write` sees
    /// the step, to read values from.
    fn add_grad(
        &mut self,
        id: usize,
        write: impl FnOnce(&Self, &mut [f32]) -> Result<()>,
    ) -> Result<()> {
        if !self.wants_grad[id] {
            return Ok(());
        }
        let len = self.len(id);
        let sum = self.grads[id].take();
        let mut part = self.ws.take(len);
        write(self, &mut part[..len])?;
        match sum {
            None => self.grads[id] = Some(part),
            Some(mut sum) => {
                add_into(&mut sum[..len], &part[..len]);
                self.ws.give(part);
                self.grads[id] = Some(sum);
            }
        }
        Ok(())
    }

    /// Adds a whole gradient buffer to node `id`'s, moving it when it is the first.
    fn add_grad_buf(&mut self, id: usize, buf: Vec<f32>, len: usize) {
        if !self.wants_grad[id] {
            return self.ws.give(buf);
        }
        match self.grads[id].take() {
            None => self.grads[id] = Some(buf),
            Some(mut sum) => {
                add_into(&mut sum[..len], &buf[..len]);
                self.ws.give(buf);
                self.grads[id] = Some(sum);
            }
        }
    }

    fn param_grad(&mut self, param: &Tensor, grad: Vec<f32>) -> Result<()> {
        let grad = Tensor::from_vec(grad, param.shape(), &Device::Cpu)?;
        self.params.insert(param, grad);
        Ok(())
    }

    fn backward(&mut self, id: usize, dy: &[f32]) -> Result<()> {
        let net = self.net;
        let ins = &net.inputs[id];
        let x0 = ins.first().copied().unwrap_or(0);
        let dy = &dy[..self.len(id)];
        let (n, (c, h, w)) = (self.batch, self.chw(x0));
        match &net.layers[id] {
            Layer::Input | Layer::Fused | Layer::Flatten => {}
            Layer::Conv(conv) => {
                let (weight, bias, params) = conv.parts();
                let g = conv_geom((n, c, h, w), weight.dims4()?, params)?;
                let dw = im2col::grad_kernel(&g, self.value(x0), dy);
                self.param_grad(weight, dw)?;
                if let Some(b) = bias {
                    self.param_grad(b, im2col::grad_bias(&g, dy))?;
                }
                if self.wants_grad[x0] {
                    // the GEMM adds onto a gradient already there instead of a temporary
                    let len = self.len(x0);
                    let (mut dx, accumulate) = match self.grads[x0].take() {
                        Some(sum) => (sum, true),
                        None => (self.ws.take(len), false),
                    };
                    with_slice(weight, |wt| {
                        im2col::grad_input_into(&g, dy, wt, accumulate, &mut dx[..len]);
                        Ok(())
                    })?;
                    self.grads[x0] = Some(dx);
                }
            }
            Layer::BatchNorm(bn) => {
                let (gamma, beta, relu) = bn.parts();
                let Saved::BatchNorm(stats) =
                    std::mem::replace(&mut self.saved[id], Saved::Nothing)
                else {
                    candle_core::bail!("batch norm {id}: no statistics from the forward pass")
                };
                let gm: Vec<f32> = gamma.to_vec1()?;
                let len = self.len(x0);
                let mut dx = self.wants_grad[x0].then(|| self.ws.take(len));
                let (x, y) = (self.value(x0), self.value(id));
                let dx_out = dx.as_mut().map(|d| &mut d[..len]);
                let (dgamma, dbeta) = train_backward(x, y, dy, &gm, &stats, h * w, relu, dx_out);
                if let Some(dx) = dx {
                    self.add_grad_buf(x0, dx, len);
                }
                self.param_grad(gamma, dgamma)?;
                self.param_grad(beta, dbeta)?;
            }
            Layer::Relu | Layer::Relu6 => {
                let six = matches!(net.layers[id], Layer::Relu6);
                self.add_grad(x0, |step, dx| {
                    let top = if six { 6.0 } else { f32::INFINITY };
                    zip_map(dx, step.value(id), dy, |d, y, g| {
                        *d = keep_if((y > 0.0) & (y < top), g)
                    });
                    Ok(())
                })?;
            }
            Layer::MaxPool(p) => {
                let g = pool_geom(n, c, h, w, p)?;
                let Saved::Argmax(arg) = std::mem::replace(&mut self.saved[id], Saved::Nothing)
                else {
                    candle_core::bail!("max pool {id}: no argmax from the forward pass")
                };
                self.add_grad(x0, |_, dx| {
                    pool::max_pool_backward(&g, dy, &arg[..dy.len()], dx);
                    Ok(())
                })?;
                self.ws.indices.push(arg);
            }
            Layer::AvgPool(p) => {
                let g = pool_geom(n, c, h, w, p)?;
                self.add_grad(x0, |_, dx| {
                    pool::avg_pool_backward(&g, dy, dx);
                    Ok(())
                })?;
            }
            Layer::GlobalAvgPool => self.add_grad(x0, |_, dx| {
                pool::global_avg_pool_backward(n * c, h * w, dy, dx);
                Ok(())
            })?,
            Layer::Concat => {
                let total = self.numel(id);
                let mut offset = 0;
                for &i in ins {
                    let len = self.numel(i);
                    self.add_grad(i, |_, dx| {
                        for (dst, src) in dx.chunks_mut(len).zip(dy.chunks(total)) {
                            dst.copy_from_slice(&src[offset..offset + len]);
                        }
                        Ok(())
                    })?;
                    offset += len;
                }
            }
            Layer::Add => {
                for &i in ins {
                    self.add_grad(i, |_, dx| {
                        dx.copy_from_slice(dy);
                        Ok(())
                    })?;
                }
            }
            Layer::Linear(linear) => {
                let (inp, outp) = (self.numel(x0), self.numel(id));
                let x = self.value(x0);
                // dW (out x in) = dy^T (out x n) * x (n x in)
                let mut dw = vec![0f32; outp * inp];
                matmul(
                    (outp, inp, n),
                    &mut dw,
                    false,
                    dy,
                    (1, outp),
                    x,
                    (inp, 1),
                    gemm_par(n * inp * outp),
                );
                self.param_grad(linear.weight(), dw)?;
                if let Some(b) = linear.bias() {
                    let mut db = vec![0f64; outp];
                    for row in dy.chunks(outp) {
                        db.iter_mut().zip(row).for_each(|(d, g)| *d += *g as f64);
                    }
                    self.param_grad(b, db.into_iter().map(|v| v as f32).collect())?;
                }
                self.add_grad(x0, |_, dx| {
                    // dx (n x in) = dy (n x out) * W (out x in)
                    with_slice(linear.weight(), |wt| {
                        matmul(
                            (n, inp, outp),
                            dx,
                            false,
                            dy,
                            (outp, 1),
                            wt,
                            (inp, 1),
                            gemm_par(n * inp * outp),
                        );
                        Ok(())
                    })
                })?;
            }
            Layer::Dropout(_) => {
                let Saved::Mask(mask) = std::mem::replace(&mut self.saved[id], Saved::Nothing)
                else {
                    candle_core::bail!("dropout {id}: no mask from the forward pass")
                };
                self.add_grad(x0, |_, dx| {
                    zip_map(dx, &mask[..dy.len()], dy, |d, m, g| *d = m * g);
                    Ok(())
                })?;
                self.ws.give(mask);
            }
            Layer::DropPath(_) => {
                let Saved::Mask(mask) = std::mem::replace(&mut self.saved[id], Saved::Nothing)
                else {
                    candle_core::bail!("drop path {id}: no mask from the forward pass")
                };
                self.add_grad(x0, |_, dx| {
                    drop_path::scale_examples(dy, &mask[..n], dx);
                    Ok(())
                })?;
                self.ws.give(mask);
            }
            Layer::Join(_) => {
                let Saved::Mask(weights) = std::mem::replace(&mut self.saved[id], Saved::Nothing)
                else {
                    candle_core::bail!("join {id}: no weights from the forward pass")
                };
                let k = ins.len();
                for (i, &input) in ins.iter().enumerate() {
                    self.add_grad(input, |_, dx| {
                        drop_path::join_backward(dy, &weights[..n * k], i, k, dx);
                        Ok(())
                    })?;
                }
                self.ws.give(weights);
            }
            Layer::Silu => self.add_grad(x0, |step, dx| {
                gates::silu_backward(step.value(x0), dy, dx);
                Ok(())
            })?,
            Layer::Sigmoid => self.add_grad(x0, |step, dx| {
                gates::sigmoid_backward(step.value(id), dy, dx);
                Ok(())
            })?,
            Layer::AdaptiveAvgPool(size) => self.add_grad(x0, |_, dx| {
                gates::adaptive_avg_backward(dy, (h, w), *size, dx);
                Ok(())
            })?,
            Layer::Scale => {
                let gate = ins[1];
                self.add_grad(x0, |step, dx| {
                    gates::scale_backward_map(dy, step.value(gate), h * w, dx);
                    Ok(())
                })?;
                self.add_grad(gate, |step, dgate| {
                    gates::scale_backward_gate(dy, step.value(x0), h * w, dgate);
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    /// Hands every buffer still held back to the workspace.
    pub(super) fn recycle(&mut self) {
        for buf in self.values.drain(..).chain(self.grads.drain(..)).flatten() {
            self.ws.give(buf);
        }
        for saved in self.saved.drain(..) {
            match saved {
                Saved::Argmax(arg) => self.ws.indices.push(arg),
                Saved::Mask(mask) => self.ws.give(mask),
                Saved::Nothing | Saved::BatchNorm(_) => {}
            }
        }
    }
}

fn pool_geom(n: usize, c: usize, h: usize, w: usize, p: &crate::graph::Pool) -> Result<PoolGeom> {
    PoolGeom::new(n, c, h, w, p)
        .ok_or_else(|| candle_core::Error::Msg(format!("pool {p:?} does not fit {h}x{w}")))
}

/// Lets a GEMM split itself across threads only when it is big enough to pay for it.
fn gemm_par(macs: usize) -> Parallelism {
    if macs >= 1 << 20 {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    }
}

/// Mean cross-entropy of `logits` (`labels.len() x classes`) with label smoothing, as
/// [`crate::train::cross_entropy`]; writes its gradient with respect to the logits into `d`.
fn cross_entropy(
    logits: &[f32],
    labels: &[u32],
    classes: usize,
    smoothing: f64,
    d: &mut [f32],
) -> Result<f64> {
    let batch = labels.len();
    let off = smoothing / classes as f64;
    let mut loss = 0f64;
    for ((row, grad), &label) in logits
        .chunks(classes)
        .zip(d.chunks_mut(classes))
        .zip(labels)
    {
        let label = label as usize;
        if label >= classes {
            candle_core::bail!("label {label} out of range for {classes} classes")
        }
        let max = row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)) as f64;
        let sum: f64 = row.iter().map(|v| (*v as f64 - max).exp()).sum();
        let log_z = max + sum.ln();
        let mean_log_p = row.iter().map(|v| *v as f64 - log_z).sum::<f64>() / classes as f64;
        loss += -(1.0 - smoothing) * (row[label] as f64 - log_z) - smoothing * mean_log_p;
        for (k, (g, v)) in grad.iter_mut().zip(row).enumerate() {
            let p = (*v as f64 - log_z).exp();
            let target = off + if k == label { 1.0 - smoothing } else { 0.0 };
            *g = ((p - target) / batch as f64) as f32;
        }
    }
    Ok(loss / batch as f64)
}
