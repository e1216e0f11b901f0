//! `SharedNet`: the weights of every option at every position of a cell space, and the two
//! things done with them: one SGD step of a sampled child, and rating a child on a batch.
//!
//! A child is never computed by a network of its own kind: its parameters are gathered from
//! the shared blocks into an ordinary [`ChildNet`] (built over the gathered tensors), trained
//! one step by the trainer's own backward pass (`ChildNet::train_step`, the fast CPU kernels
//! and a reused [`Workspace`]), and its gradients are scattered back into the blocks it read.
//! Only those values move: SGD with momentum and weight decay, PyTorch's rule, applied to the
//! child's share alone, with the child's gradient clipped to a global norm as ENAS does.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use rand::RngCore;

use super::blocks::{bad_checkpoint, Blocks};
use super::config::KernelSharing;
use super::extents::Extents;
use super::plan::{plan, ChildPlan};
use crate::child::{ChildNet, Workspace};
use crate::error::Result;
use crate::graph::Graph;
use crate::space::CellsSpace;

/// SGD settings of one shared step.
#[derive(Clone, Copy, Debug)]
pub struct SharedSgd {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub label_smoothing: f64,
}

/// The shared weights of a cell space.
#[derive(Clone)]
pub struct SharedNet {
    extents: Extents,
    sharing: KernelSharing,
    blocks: Blocks,
}

impl SharedNet {
    /// Empty shared weights for `space`: blocks are created, from `seed`, as children need them.
    pub fn new(space: &CellsSpace, sharing: KernelSharing, seed: u64) -> Result<Self> {
        Ok(SharedNet {
            extents: Extents::of(space)?,
            sharing,
            blocks: Blocks::new(seed),
        })
    }

    /// Sets every momentum buffer to zero: a copy fine-tuned for one child starts its SGD
    /// afresh rather than on the shared pass's velocity (`EnasConfig::calibrate`).
    pub fn reset_velocity(&mut self) {
        for block in &mut self.blocks.list {
            block.velocity.fill(0.0);
        }
    }

    /// Number of shared values created so far.
    pub fn params(&self) -> usize {
        self.blocks.params()
    }

    /// The child of `graph` over the shared weights: a plan, the gathered tensors (by
    /// `VarBuilder` name) and the net built over them.
    fn child(&mut self, graph: &Graph) -> Result<(ChildPlan, HashMap<String, Tensor>, ChildNet)> {
        let plan = plan(graph, &self.extents, self.sharing, &mut self.blocks)?;
        let tensors = self.gather(&plan)?;
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
        let net = ChildNet::new(graph, vb)?;
        Ok((plan, tensors, net))
    }

    /// Copies a child's parameters out of the blocks; running statistics start fresh.
    fn gather(&self, plan: &ChildPlan) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::with_capacity(plan.params.len() + 2 * plan.norms.len());
        for p in &plan.params {
            let mut values = vec![0f32; p.shape.iter().product()];
            for r in &p.runs {
                let block = &self.blocks.list[r.block].values;
                values[r.child..r.child + r.len]
                    .copy_from_slice(&block[r.offset..r.offset + r.len]);
            }
            let t = Tensor::from_vec(values, p.shape.as_slice(), &Device::Cpu)?;
            out.insert(p.name.clone(), t);
        }
        for (name, channels) in &plan.norms {
            let zeros = Tensor::zeros(*channels, DType::F32, &Device::Cpu)?;
            out.insert(format!("{name}.running_mean"), zeros);
            let ones = Tensor::ones(*channels, DType::F32, &Device::Cpu)?;
            out.insert(format!("{name}.running_var"), ones);
        }
        Ok(out)
    }

    /// Whether the shared network can hold `graph`: some wirings of skip inputs into
    /// multi-branch cells (a node read twice by one block) have no place in its blocks yet, and
    /// such a child is a failed child (reward 0, never trained or derived), not a failed search.
    pub fn holds(&mut self, graph: &Graph) -> bool {
        plan(graph, &self.extents, self.sharing, &mut self.blocks).is_ok()
    }

    /// The parameters of `graph` as a stand-alone child would hold them (running statistics at
    /// 0 and 1), by `VarBuilder` name.
    pub fn child_weights(&mut self, graph: &Graph) -> Result<HashMap<String, Tensor>> {
        let plan = plan(graph, &self.extents, self.sharing, &mut self.blocks)?;
        self.gather(&plan)
    }

    /// One training step of the child `graph` on `xs`, `ys`: returns the loss; the shared
    /// values the child read move by SGD unless the loss is not finite.
    pub fn train_step(
        &mut self,
        graph: &Graph,
        xs: &Tensor,
        ys: &Tensor,
        sgd: SharedSgd,
        workspace: &mut Workspace,
        rng: &mut dyn RngCore,
    ) -> Result<f64> {
        let (plan, tensors, net) = self.child(graph)?;
        let (loss, grads) = net.train_step(workspace, xs, ys, sgd.label_smoothing, rng)?;
        if !loss.is_finite() {
            return Ok(loss);
        }
        let mut child_grads = Vec::with_capacity(plan.params.len());
        let mut norm = 0f64;
        for p in &plan.params {
            let g: Option<Vec<f32>> = grads
                .get(&tensors[&p.name])
                .map(|g| g.flatten_all()?.to_vec1())
                .transpose()?;
            if let Some(g) = &g {
                norm += g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
            }
            child_grads.push(g);
        }
        let norm = norm.sqrt();
        let scale = if norm > sgd.grad_clip {
            (sgd.grad_clip / norm) as f32
        } else {
            1.0
        };
        let (lr, mu, wd) = (sgd.lr as f32, sgd.momentum as f32, sgd.weight_decay as f32);
        for (p, g) in plan.params.iter().zip(&child_grads) {
            let Some(g) = g else { continue };
            for r in &p.runs {
                let block = &mut self.blocks.list[r.block];
                let values = &mut block.values[r.offset..r.offset + r.len];
                let velocity = &mut block.velocity[r.offset..r.offset + r.len];
                for ((w, v), g) in values.iter_mut().zip(velocity).zip(&g[r.child..]) {
                    let d = g * scale + wd * *w;
                    *v = mu * *v + d;
                    *w -= lr * *v;
                }
            }
        }
        Ok(loss)
    }

    /// Accuracy (0 to 1) of the child `graph` on `xs`, `ys` under the shared weights, batch
    /// norm on the batch's statistics.
    pub fn rate(&mut self, graph: &Graph, xs: &Tensor, ys: &Tensor) -> Result<f64> {
        let predicted = self.logits(graph, xs)?.argmax(1)?;
        let hits = predicted.eq(ys)?.to_dtype(DType::F32)?.sum_all()?;
        Ok(hits.to_scalar::<f32>()? as f64 / ys.dims1()? as f64)
    }

    /// The logits of the child `graph` on `xs` under the shared weights, batch norm on the
    /// batch's statistics, dropout off.
    pub fn logits(&mut self, graph: &Graph, xs: &Tensor) -> Result<Tensor> {
        let (_, _, net) = self.child(graph)?;
        Ok(net.forward_batch_stats(xs)?)
    }

    /// The shared values and velocities as named tensors, for a checkpoint.
    pub fn tensors(&self) -> Result<std::collections::BTreeMap<String, Tensor>> {
        self.blocks.tensors()
    }

    /// Shared weights for `space` restored from [`SharedNet::tensors`].
    pub fn from_tensors(
        space: &CellsSpace,
        sharing: KernelSharing,
        seed: u64,
        tensors: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        let blocks = Blocks::from_tensors(seed, tensors)?;
        if blocks.list.is_empty() && !tensors.is_empty() {
            return Err(bad_checkpoint("no shared blocks among the tensors"));
        }
        Ok(SharedNet {
            extents: Extents::of(space)?,
            sharing,
            blocks,
        })
    }
}
