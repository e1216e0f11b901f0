//! Stochastic depth as a rewrite of a lowered graph: a [`Op::DropPath`] on the branch of every
//! residual sum, with the rate growing linearly with depth (Huang et al. 2016, "linear decay":
//! the l-th of L sums drops its branch with probability `rate * l / L`). It is a training
//! option, not part of an architecture, so it is applied where a child is trained and the
//! architecture's own graph (its hash, counts and exported code) never holds it.

use super::graph::{Graph, NodeId};
use super::op::Op;
use crate::error::Result;

/// Suffix of the node name that lowering gives a residual sum (`stage1.cell2.add`); its first
/// input is the branch, its second the shortcut.
pub const RESIDUAL_SUM: &str = ".add";

impl Graph {
    /// The residual sums that stochastic depth may drop a branch of, in depth order.
    pub fn residual_sums(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&id| {
                let node = &self.nodes[id];
                matches!(node.op, Op::Add)
                    && node.inputs.len() == 2
                    && node.name.ends_with(RESIDUAL_SUM)
            })
            .collect()
    }

    /// This graph with stochastic depth at `rate` (the last sum's drop probability); the graph
    /// itself when `rate` is 0 or it has no residual sum.
    pub fn with_drop_path(&self, rate: f32) -> Result<Graph> {
        let sums = self.residual_sums();
        if rate <= 0.0 || sums.is_empty() {
            return Ok(self.clone());
        }
        let mut out = Graph::new(self.name.clone(), self.input());
        // new id of each old node
        let mut moved: Vec<NodeId> = vec![0];
        for (id, node) in self.nodes.iter().enumerate().skip(1) {
            let mut inputs: Vec<NodeId> = node.inputs.iter().map(|&i| moved[i]).collect();
            if let Some(depth) = sums.iter().position(|&s| s == id) {
                let p = rate * (depth + 1) as f32 / sums.len() as f32;
                let name = format!("{}.drop_path", node.name);
                inputs[0] = out.push(name, Op::DropPath { p }, &inputs[..1])?;
            }
            moved.push(out.push(node.name.clone(), node.op.clone(), &inputs)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::arch::{Architecture, Block, Cell, Stage, Stem};
    use crate::graph::Op;

    fn residual_net(cells: usize) -> Architecture {
        let cell = Cell {
            block: Block::Residual {
                kernel: 3,
                out: 8,
                preact: false,
            },
            skips: vec![],
        };
        Architecture {
            input: [1, 8, 8],
            classes: 3,
            stem: Stem {
                channels: 8,
                kernel: 3,
            },
            stages: vec![Stage {
                reduce: None,
                channels: 8,
                cells: vec![cell; cells],
            }],
            dropout: 0.0,
        }
    }

    #[test]
    fn drop_path_rates_grow_linearly_with_depth_to_the_given_rate() {
        let graph = residual_net(4).lower().unwrap();
        let dropped = graph.with_drop_path(0.2).unwrap();
        let rates: Vec<f32> = dropped
            .nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::DropPath { p } => Some(p),
                _ => None,
            })
            .collect();
        let want = [0.05, 0.1, 0.15, 0.2];
        assert_eq!(rates.len(), want.len());
        assert!(
            rates.iter().zip(want).all(|(r, w)| (r - w).abs() < 1e-6),
            "{rates:?}"
        );
        // the branch, not the shortcut, is dropped, and nothing else changes
        for &sum in &dropped.residual_sums() {
            let branch = dropped.nodes[sum].inputs[0];
            assert!(matches!(dropped.nodes[branch].op, Op::DropPath { .. }));
        }
        assert_eq!(dropped.nodes.len(), graph.nodes.len() + 4);
        assert_eq!(dropped.params(), graph.params());
        assert_eq!(dropped.macs(), graph.macs());
        assert_eq!(graph.with_drop_path(0.0).unwrap(), graph);
    }
}
