//! The largest output width and kernel of every convolution and linear layer that any
//! architecture of a cell space can have, by node name: the shapes of the shared blocks.
//!
//! They come from the space's own decoding and lowering, not from a second copy of their rules:
//! every distinct cell the space offers at a stage is lowered alone (behind a one-channel stem,
//! so that its projection shortcut exists) and renamed to every cell position of the stage;
//! the fixed parts (stem, reductions, classifier) come from one decoded architecture.

use std::collections::HashMap;

use crate::arch::{Architecture, Block, Cell, Stage, Stem};
use crate::error::{Error, Result};
use crate::graph::{Graph, Op};
use crate::space::{CellsSpace, Setting, SETTINGS};

/// Largest output channels and kernel per parameter node name.
#[derive(Clone, Debug, Default)]
pub struct Extents {
    out: HashMap<String, usize>,
    kernel: HashMap<String, usize>,
}

impl Extents {
    /// The extents of every node any architecture of `space` can have.
    pub fn of(space: &CellsSpace) -> Result<Extents> {
        let mut extents = Extents::default();
        let first = vec![0; space.decisions().len()];
        extents.add(&space.decode(&first)?.lower()?, None);
        let max_cells = space.choices.cells_per_stage.iter().copied().max();
        let counts = Setting::ORDER.map(|s| space.choices.count(s));
        for stage in 0..space.stages {
            let channels = space.stage_channels(stage);
            let mut blocks: Vec<Block> = Vec::new();
            for idx in assignments(counts) {
                let block = space.block(channels, &idx);
                // the shared network holds no mobile cell (`plan` refuses their ops)
                if !blocks.contains(&block) && !matches!(block, Block::Mobile { .. }) {
                    blocks.push(block);
                }
            }
            for block in blocks {
                // a one- or two-channel input makes every cell project its shortcut
                for stem in [1, 2] {
                    let graph = lone_cell(space, channels, block, stem).lower()?;
                    for cell in 0..max_cells.unwrap_or(1) {
                        extents.add(&graph, Some((stage, cell)));
                    }
                }
            }
        }
        Ok(extents)
    }

    /// Records the nodes of `graph`; with `at`, only those of its one cell, renamed to stage
    /// `at.0`, cell `at.1` (both from 0).
    fn add(&mut self, graph: &Graph, at: Option<(usize, usize)>) {
        for node in &graph.nodes {
            let name = match at {
                None => node.name.clone(),
                Some((s, j)) => match node.name.strip_prefix("stage1.cell1.") {
                    Some(rest) => format!("stage{}.cell{}.{rest}", s + 1, j + 1),
                    None => continue,
                },
            };
            let (out, kernel) = match node.op {
                Op::Conv(c) => (c.out, c.kernel),
                Op::Linear { out, .. } => (out, 1),
                _ => continue,
            };
            let o = self.out.entry(name.clone()).or_default();
            *o = (*o).max(out);
            let k = self.kernel.entry(name).or_default();
            *k = (*k).max(kernel);
        }
    }

    /// Largest output width of node `name`.
    pub fn out(&self, name: &str) -> Result<usize> {
        self.out.get(name).copied().ok_or_else(|| unknown(name))
    }

    /// Largest kernel of node `name`.
    pub fn kernel(&self, name: &str) -> Result<usize> {
        self.kernel.get(name).copied().ok_or_else(|| unknown(name))
    }

    /// Number of parameter nodes known.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when no node is known.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}

fn unknown(name: &str) -> Error {
    Error::Graph {
        node: name.to_string(),
        msg: "not a node of any architecture of the space, so the shared network has no weights for it".into(),
    }
}

/// Every assignment of option indices to the settings, `counts[i]` options each.
fn assignments(counts: [usize; SETTINGS]) -> Vec<[usize; SETTINGS]> {
    let mut out = vec![[0usize; SETTINGS]];
    for (i, &n) in counts.iter().enumerate() {
        out = out
            .into_iter()
            .flat_map(|a| {
                (0..n).map(move |v| {
                    let mut a = a;
                    a[i] = v;
                    a
                })
            })
            .collect();
    }
    out
}

/// A network of one stage holding only `block`, behind a stem of `stem` channels.
fn lone_cell(space: &CellsSpace, channels: usize, block: Block, stem: usize) -> Architecture {
    Architecture {
        input: [1, 3, 3],
        classes: space.classes,
        stem: Stem {
            channels: stem,
            kernel: 1,
        },
        stages: vec![Stage {
            reduce: None,
            channels,
            cells: vec![Cell {
                block,
                skips: vec![],
            }],
        }],
        dropout: 0.0,
    }
}
