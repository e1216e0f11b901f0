//! Adam over a fixed, named list of variables, with moments that can be saved and loaded so that
//! a resumed controller learns exactly as an uninterrupted one would.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::error::Result;

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// Adam's state: the step count and the first and second moments of each variable.
pub(crate) struct Adam {
    pub lr: f64,
    pub step: u64,
    /// `(m, v)` per variable, in the order of the variables given to `step`.
    pub moments: Vec<(Tensor, Tensor)>,
}

impl Adam {
    /// Zero moments for `vars`.
    pub fn new(lr: f64, vars: &[(String, Var)]) -> Result<Self> {
        let moments = vars
            .iter()
            .map(|(_, var)| Ok((var.zeros_like()?, var.zeros_like()?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            lr,
            step: 0,
            moments,
        })
    }

    /// Global L2 norm of the gradients of `vars`.
    pub fn grad_norm(vars: &[(String, Var)], grads: &GradStore) -> Result<f64> {
        let mut total = 0f64;
        for (_, var) in vars {
            if let Some(g) = grads.get(var) {
                total += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        Ok(total.sqrt())
    }

    /// One Adam step on `vars` with their gradients scaled by `scale` (for clipping). A variable
    /// that got no gradient keeps its value and moments.
    pub fn step(&mut self, vars: &[(String, Var)], grads: &GradStore, scale: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let correction1 = 1.0 - BETA1.powi(t);
        let correction2 = 1.0 - BETA2.powi(t);
        for ((_, var), (m, v)) in vars.iter().zip(self.moments.iter_mut()) {
            let Some(g) = grads.get(var) else { continue };
            let g = g.detach().affine(scale, 0.0)?;
            *m = ((m.affine(BETA1, 0.0)?) + g.affine(1.0 - BETA1, 0.0)?)?;
            *v = ((v.affine(BETA2, 0.0)?) + g.sqr()?.affine(1.0 - BETA2, 0.0)?)?;
            let m_hat = m.affine(1.0 / correction1, 0.0)?;
            let v_hat = v.affine(1.0 / correction2, 0.0)?;
            let delta = (m_hat / v_hat.sqrt()?.affine(1.0, EPS)?)?.affine(self.lr, 0.0)?;
            var.set(&(var.as_tensor().detach() - delta)?)?;
        }
        Ok(())
    }
}
