//! What an architecture may ask for. An architecture file is user input: every number in it
//! is checked here, against limits well above what the search spaces produce, before anything
//! is lowered, so a file describing an absurd network is refused at once with the field that is
//! wrong (`stages[1].cells[0].block.kernel`), never lowered into a giant graph, a wrapped
//! count or a panic.

use super::architecture::{Architecture, Block, Cell, Reduce, Stage};
use crate::graph::check_input;

/// Largest kernel side (the spaces allow the same).
pub const MAX_KERNEL: usize = 11;
/// Most channels of a stem, a stage or a cell output (4,096 stage channels at width 8).
pub const MAX_CHANNELS: usize = 32_768;
/// Most stages.
pub const MAX_STAGES: usize = 16;
/// Most cells in one stage.
pub const MAX_CELLS: usize = 64;
/// Most layers of a dense cell.
pub const MAX_LAYERS: usize = 64;
/// Largest growth rate of a dense cell.
pub const MAX_GROWTH: usize = 1024;
/// Largest bottleneck expansion.
pub const MAX_EXPANSION: usize = 64;
/// Most inception branches (the four of GoogLeNet).
pub const MAX_BRANCHES: usize = 4;
/// Most columns of a fractal cell (FractalNet's 4 is 15 conv units a cell).
pub const MAX_COLUMNS: usize = 4;
/// Most graph nodes a lowered architecture may have, so lowering stays cheap.
pub const MAX_NODES: usize = 20_000;

impl Architecture {
    /// Checks every setting against the limits above; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        check_input("input", self.input, self.classes).map_err(|e| e.to_string())?;
        in_range("stem.channels", self.stem.channels, 1, MAX_CHANNELS)?;
        odd_kernel("stem.kernel", self.stem.kernel)?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "`dropout`: {} is out of range: must be at least 0 and below 1",
                self.dropout
            ));
        }
        if self.stages.len() > MAX_STAGES {
            return Err(format!(
                "`stages`: {} stages, at most {MAX_STAGES} are allowed",
                self.stages.len()
            ));
        }
        for (s, stage) in self.stages.iter().enumerate() {
            let at = format!("stages[{s}]");
            in_range(&format!("{at}.channels"), stage.channels, 1, MAX_CHANNELS)?;
            if stage.cells.len() > MAX_CELLS {
                return Err(format!(
                    "`{at}.cells`: {} cells, at most {MAX_CELLS} are allowed",
                    stage.cells.len()
                ));
            }
            for (j, cell) in stage.cells.iter().enumerate() {
                check_cell(&format!("{at}.cells[{j}]"), j, cell)?;
            }
            if stage.reduce == Some(Reduce::Stride) {
                check_stride_stage(&at, stage)?;
            }
        }
        Ok(())
    }
}

fn check_cell(at: &str, index: usize, cell: &Cell) -> Result<(), String> {
    for (i, &k) in cell.skips.iter().enumerate() {
        if k >= index {
            return Err(format!(
                "`{at}.skips`: {k} is not an earlier anchor of the stage (0 to {})",
                index as isize - 1
            ));
        }
        if cell.skips[..i].contains(&k) {
            return Err(format!("`{at}.skips`: {k} is listed twice"));
        }
    }
    let field = |name: &str| format!("{at}.block.{name}");
    match cell.block {
        Block::Residual { kernel, out, .. } => {
            odd_kernel(&field("kernel"), kernel)?;
            in_range(&field("out"), out, 1, MAX_CHANNELS)
        }
        Block::Bottleneck {
            kernel,
            out,
            expansion,
            groups,
            ..
        } => {
            odd_kernel(&field("kernel"), kernel)?;
            in_range(&field("out"), out, 1, MAX_CHANNELS)?;
            in_range(&field("expansion"), expansion, 1, MAX_EXPANSION)?;
            in_range(&field("groups"), groups, 1, MAX_CHANNELS)
        }
        Block::Inception {
            kernel,
            out,
            branches,
        } => {
            odd_kernel(&field("kernel"), kernel)?;
            in_range(&field("out"), out, 1, MAX_CHANNELS)?;
            in_range(&field("branches"), branches, 1, MAX_BRANCHES)?;
            if out < branches {
                return Err(format!(
                    "`{}`: {out} channels cannot be split into {branches} branches",
                    field("out")
                ));
            }
            Ok(())
        }
        Block::Dense {
            kernel,
            growth,
            layers,
        } => {
            odd_kernel(&field("kernel"), kernel)?;
            in_range(&field("growth"), growth, 1, MAX_GROWTH)?;
            in_range(&field("layers"), layers, 1, MAX_LAYERS)
        }
        Block::Fire {
            kernel,
            squeeze,
            expand1,
            expand3,
        } => {
            odd_kernel(&field("kernel"), kernel)?;
            in_range(&field("squeeze"), squeeze, 1, MAX_CHANNELS)?;
            in_range(&field("expand1"), expand1, 1, MAX_CHANNELS)?;
            in_range(&field("expand3"), expand3, 1, MAX_CHANNELS)
        }
        Block::Fractal {
            kernel,
            out,
            columns,
        } => {
            odd_kernel(&field("kernel"), kernel)?;
            in_range(&field("out"), out, 1, MAX_CHANNELS)?;
            in_range(&field("columns"), columns, 1, MAX_COLUMNS)
        }
        Block::Mobile {
            kernel,
            out,
            expansion,
            stride,
            ..
        } => {
            odd_kernel(&field("kernel"), kernel)?;
            in_range(&field("out"), out, 1, MAX_CHANNELS)?;
            in_range(&field("expansion"), expansion, 1, MAX_EXPANSION)?;
            in_range(&field("stride"), stride, 1, 2)
        }
    }
}

/// A stage entered by its first cell's stride: that cell must be a stride-2 mobile cell, and
/// no later cell may read the stage input, which is at the previous resolution.
fn check_stride_stage(at: &str, stage: &Stage) -> Result<(), String> {
    match stage.cells.first().map(|c| &c.block) {
        Some(Block::Mobile { stride: 2, .. }) => {}
        _ => {
            return Err(format!(
                "`{at}.reduce`: \"stride\" needs a first cell of type mobile with stride 2"
            ))
        }
    }
    if let Some(j) = stage.cells.iter().position(|c| c.skips.contains(&0)) {
        return Err(format!(
            "`{at}.cells[{j}].skips`: the stage input is at the previous resolution (reduce \"stride\")"
        ));
    }
    Ok(())
}

fn in_range(field: &str, value: usize, lo: usize, hi: usize) -> Result<(), String> {
    if value < lo || value > hi {
        return Err(format!("`{field}`: {value} is out of range {lo} to {hi}"));
    }
    Ok(())
}

fn odd_kernel(field: &str, kernel: usize) -> Result<(), String> {
    if kernel.is_multiple_of(2) || kernel > MAX_KERNEL {
        return Err(format!(
            "`{field}`: kernel {kernel} must be odd, 1 to {MAX_KERNEL}"
        ));
    }
    Ok(())
}
