//! Evaluation of a [`ChildNet`] (batch norm on its running statistics, no dropout) on nas's own
//! CPU kernels, through the training tape's forward arms.
//!
//! Why not `forward_t(xs, false)`: candle allocates a fresh tensor for every op, and at an
//! evaluation batch of 512 each is tens of megabytes, mapped and zeroed by the kernel page by
//! page; that cost more than the convolutions, and the peak memory of an evaluation was twice
//! PyTorch's. Here every value goes back to the [`Workspace`] as soon as its last reader has
//! run, so an evaluation holds a few activations at a time and, from the second batch on,
//! allocates nothing.

use candle_core::{ModuleT, Result, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::net::ChildNet;
use super::tape::{Step, Workspace};

/// Images evaluated at once. A larger evaluation batch runs in pieces of this many: in eval
/// mode every image is computed alone (batch norm on running statistics), so the logits are the
/// same, and the peak memory is that of this many images whatever the batch, served by the
/// buffers a training step at batch 128 left in the workspace. Measured with `nas bench train
/// --net dense` at evaluation batch 512: peak RSS 1,916 MB in one piece (the training step's
/// buffers, too small for 512 images, stayed idle beside the evaluation's own) against 965 MB
/// at evaluation batch 64; PyTorch needs 1,612 MB (channels_last) to 2,101 MB (NCHW).
pub const EVAL_CHUNK: usize = 128;

impl ChildNet {
    /// Eval-mode logits of `xs` (`batch x classes`, row-major), as `forward_t(xs, false)`
    /// gives them, with buffers from `ws`, [`EVAL_CHUNK`] images at a time. Requires
    /// [`ChildNet::has_own_backward`].
    pub fn eval_logits(&self, ws: &mut Workspace, xs: &Tensor) -> Result<Vec<f32>> {
        if !self.has_own_backward(xs) {
            candle_core::bail!("eval_logits: needs the fast kernels and an f32 CPU batch")
        }
        let batch = xs.dim(0)?;
        if batch <= EVAL_CHUNK {
            return self.eval_piece(ws, xs);
        }
        let mut logits = Vec::new();
        for start in (0..batch).step_by(EVAL_CHUNK) {
            let piece = xs.narrow(0, start, EVAL_CHUNK.min(batch - start))?;
            logits.extend(self.eval_piece(ws, &piece)?);
        }
        Ok(logits)
    }

    fn eval_piece(&self, ws: &mut Workspace, xs: &Tensor) -> Result<Vec<f32>> {
        let mut step = Step::new(self, ws, xs, false)?;
        let result = step.run_eval();
        step.recycle();
        result
    }

    /// The predicted class of each image of `xs` (the largest logit, the first on ties), in
    /// eval mode: on nas's own kernels with buffers from `ws` where the net runs on them,
    /// through candle's `forward_t` elsewhere.
    pub fn predict(&self, ws: &mut Workspace, xs: &Tensor) -> Result<Vec<u32>> {
        if !self.has_own_backward(xs) {
            return self.forward_t(xs, false)?.argmax(1)?.to_vec1();
        }
        let logits = self.eval_logits(ws, xs)?;
        let classes = logits.len() / xs.dim(0)?.max(1);
        Ok(logits.chunks(classes.max(1)).map(argmax).collect())
    }
}

/// The index of the first largest value (NaN never wins).
fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best as u32
}

impl Step<'_> {
    /// Every node forward in eval mode, each buffer handed back after its last reader; returns
    /// the output node's values.
    fn run_eval(&mut self) -> Result<Vec<f32>> {
        let net = self.net;
        let n = net.layers.len();
        // the last node that reads each buffer; the output's is never released
        let mut last = vec![0usize; n];
        for id in 1..n {
            if self.src[id] == id {
                for &i in &net.inputs[id] {
                    let buf = self.src[i];
                    last[buf] = last[buf].max(id);
                }
            }
        }
        last[self.src[n - 1]] = usize::MAX;
        // dropout, the only reader of the RNG, passes its input through in eval mode
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for id in 1..n {
            if self.src[id] != id {
                continue;
            }
            self.forward(id, &mut rng)?;
            for &i in &net.inputs[id] {
                let buf = self.src[i];
                if last[buf] == id {
                    if let Some(values) = self.values[buf].take() {
                        self.ws.give(values);
                    }
                }
            }
        }
        Ok(self.value(n - 1).to_vec())
    }
}
