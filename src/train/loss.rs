//! Cross-entropy with optional label smoothing, as PyTorch's `CrossEntropyLoss(label_smoothing)`.

use candle_core::{Result, Tensor};

/// Mean cross-entropy of `logits` [B, K] against `targets` u32 [B]; with `smoothing` e the
/// target is (1 - e) on the label plus e / K on every class.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, smoothing: f64) -> Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, 1)?;
    let nll = candle_nn::loss::nll(&log_p, targets)?;
    if smoothing == 0.0 {
        return Ok(nll);
    }
    let uniform = log_p.mean_all()?.neg()?;
    (nll * (1.0 - smoothing))? + (uniform * smoothing)?
}
