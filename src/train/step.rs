//! One training batch's loss and gradients, by whichever backward pass the net can use.

use candle_core::backprop::GradStore;
use candle_core::{DType, ModuleT, Tensor};
use rand::RngCore;

use super::loss::cross_entropy;
use crate::child::{ChildNet, Workspace};
use crate::error::Result;

/// The mean cross-entropy of `net` on the batch `xs`, `ys` (training mode) and, when it is
/// finite, the gradients of every parameter: from nas's own backward pass
/// ([`ChildNet::train_step`], buffers in `workspace`, dropout from `rng`) where the net runs on
/// the fast CPU kernels, else from candle's autograd. A non-finite loss has no gradients, so
/// that a caller cannot step on them by mistake.
pub fn loss_and_grads(
    net: &ChildNet,
    workspace: &mut Workspace,
    xs: &Tensor,
    ys: &Tensor,
    smoothing: f64,
    rng: &mut dyn RngCore,
) -> Result<(f64, Option<GradStore>)> {
    let (loss, grads) = if net.has_own_backward(xs) {
        let (loss, grads) = net.train_step(workspace, xs, ys, smoothing, rng)?;
        (loss, Some(grads))
    } else {
        let loss = cross_entropy(&net.forward_t(xs, true)?, ys, smoothing)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let grads = value.is_finite().then(|| loss.backward()).transpose()?;
        (value, grads)
    };
    Ok((loss, grads.filter(|_| loss.is_finite())))
}
