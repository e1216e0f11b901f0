//! EfficientNet's compound scaling (Tan & Le 2019) of a settled architecture: depth (cells per
//! stage) by 1.2^phi, width (every channel count) by 1.1^phi and input resolution by 1.15^phi,
//! rounded as the paper's code rounds them (`round_repeats`, `round_filters`). It lets a net
//! found small and cheap grow for a bigger budget without searching again: the coefficients
//! are the paper's grid-searched ones, with alpha * beta^2 * gamma^2 close to 2, so each step of
//! phi about doubles the MACs.

use super::architecture::{Architecture, Block, Cell};
use crate::error::{Error, Result};

/// Depth coefficient (alpha): cells per stage grow by DEPTH^phi.
pub const DEPTH: f64 = 1.2;
/// Width coefficient (beta): channel counts grow by WIDTH^phi.
pub const WIDTH: f64 = 1.1;
/// Resolution coefficient (gamma): the input side grows by RESOLUTION^phi.
pub const RESOLUTION: f64 = 1.15;
/// Channel counts are rounded to multiples of this (the paper's `depth_divisor`).
pub const DIVISOR: usize = 8;
/// Largest phi accepted: 1.2^20 is 38 times the cells, more than any limit admits anyway.
pub const MAX_PHI: u32 = 20;

/// The three multipliers of compound coefficient `phi`: depth, width, resolution.
pub fn multipliers(phi: u32) -> (f64, f64, f64) {
    let phi = phi as i32;
    (DEPTH.powi(phi), WIDTH.powi(phi), RESOLUTION.powi(phi))
}

/// The paper's `round_filters`: `channels * multiplier` to the nearest multiple of 8, at least
/// 8, and never below 90% of the scaled value.
pub fn round_filters(channels: usize, multiplier: f64) -> usize {
    let scaled = channels as f64 * multiplier;
    let d = DIVISOR as f64;
    let mut rounded = (((scaled + d / 2.0) / d).floor() * d).max(d);
    if rounded < 0.9 * scaled {
        rounded += d;
    }
    rounded as usize
}

/// The paper's `round_repeats`: `ceil(repeats * multiplier)`. The product is taken down by a
/// hair first, so that 5 * 1.2 (which floats make 6.000000000000001) stays 6.
pub fn round_repeats(repeats: usize, multiplier: f64) -> usize {
    ((repeats as f64 * multiplier) - 1e-9).ceil().max(0.0) as usize
}

impl Architecture {
    /// This architecture scaled by compound coefficient `phi`: every stage's cell count by
    /// [`round_repeats`] (a stage grows by copies of its last cell, at stride 1 and without skip
    /// inputs, as EfficientNet repeats a stage's block), every channel count (stem, stages,
    /// cell widths, dense growth rates, fire squeeze and expand widths) by [`round_filters`],
    /// and the input's height and width by `1.15^phi`, rounded. The classes, kernels,
    /// expansions, groups and branches are kept. `phi = 0` only rounds the widths.
    pub fn scaled(&self, phi: u32) -> Result<Architecture> {
        if phi > MAX_PHI {
            return Err(Error::invalid(
                "--phi",
                format!("{phi} is out of range 0 to {MAX_PHI}"),
            ));
        }
        let (depth, width, resolution) = multipliers(phi);
        let mut out = self.clone();
        let [_, h, w] = &mut out.input;
        *h = ((*h as f64 * resolution).round() as usize).max(1);
        *w = ((*w as f64 * resolution).round() as usize).max(1);
        out.stem.channels = round_filters(out.stem.channels, width);
        for stage in &mut out.stages {
            stage.channels = round_filters(stage.channels, width);
            for cell in &mut stage.cells {
                cell.block = widen(cell.block, width);
            }
            let n = stage.cells.len();
            if let Some(last) = stage.cells.last() {
                let copy = Cell {
                    block: at_stride_one(last.block),
                    skips: Vec::new(),
                };
                stage.cells.resize(round_repeats(n, depth).max(n), copy);
            }
        }
        out.check().map_err(|msg| Error::Arch {
            path: None,
            msg: format!("scaled by phi {phi}: {msg}"),
        })?;
        Ok(out)
    }
}

/// A block with every channel count scaled by `m`.
fn widen(mut block: Block, m: f64) -> Block {
    let r = |c: &mut usize| *c = round_filters(*c, m);
    match &mut block {
        Block::Residual { out, .. }
        | Block::Bottleneck { out, .. }
        | Block::Inception { out, .. }
        | Block::Fractal { out, .. }
        | Block::Mobile { out, .. } => r(out),
        Block::Dense { growth, .. } => r(growth),
        Block::Fire {
            squeeze,
            expand1,
            expand3,
            ..
        } => {
            r(squeeze);
            r(expand1);
            r(expand3);
        }
    }
    block
}

/// The block a repeat of `block` is: the same, except that only a stage's first cell strides.
fn at_stride_one(mut block: Block) -> Block {
    if let Block::Mobile { stride, .. } = &mut block {
        *stride = 1;
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Reduce, Stage, Stem};

    #[test]
    fn round_filters_is_the_papers_rounding() {
        // values from EfficientNet's `round_filters` (divisor 8, min_depth 8)
        assert_eq!(round_filters(32, 1.0), 32);
        assert_eq!(round_filters(32, 1.1), 32); // 35.2 -> 32, above 90%
        assert_eq!(round_filters(16, 1.1), 16); // 17.6 -> 16
        assert_eq!(round_filters(40, 1.1), 48); // 44 -> 48 (int(48) // 8 * 8)
        assert_eq!(round_filters(36, 1.0), 40);
        assert_eq!(round_filters(2, 1.1), 8); // never below the divisor
        assert_eq!(round_filters(320, 1.4), 448); // B4's head stage
                                                  // 90% rule: 11 * 1.0 -> int(15) // 8 * 8 = 8 < 9.9, so 16
        assert_eq!(round_filters(11, 1.0), 16);
    }

    #[test]
    fn round_repeats_rounds_up_without_float_noise() {
        assert_eq!(round_repeats(5, 1.2), 6);
        assert_eq!(round_repeats(1, 1.2), 2);
        assert_eq!(round_repeats(3, 1.0), 3);
        assert_eq!(round_repeats(25, 1.44), 36);
        assert_eq!(round_repeats(2, 1.728), 4);
    }

    fn mobile(out: usize, stride: usize) -> Cell {
        Cell {
            block: Block::Mobile {
                kernel: 3,
                out,
                expansion: 6,
                se: true,
                stride,
            },
            skips: vec![],
        }
    }

    fn arch() -> Architecture {
        Architecture {
            input: [1, 28, 28],
            classes: 10,
            stem: Stem {
                channels: 16,
                kernel: 3,
            },
            stages: vec![
                Stage {
                    reduce: None,
                    channels: 16,
                    cells: vec![mobile(16, 1)],
                },
                Stage {
                    reduce: Some(Reduce::Stride),
                    channels: 24,
                    cells: vec![mobile(24, 2), mobile(30, 1)],
                },
            ],
            dropout: 0.0,
        }
    }

    #[test]
    fn scaling_grows_depth_width_and_resolution_as_efficientnet_does() {
        let scaled = arch().scaled(2).unwrap();
        // 28 * 1.3225 = 37.03
        assert_eq!(scaled.input, [1, 37, 37]);
        assert_eq!(scaled.stem.channels, round_filters(16, 1.21));
        // 1 cell * 1.44 -> 2, 2 cells * 1.44 -> 3
        let counts: Vec<usize> = scaled.stages.iter().map(|s| s.cells.len()).collect();
        assert_eq!(counts, [2, 3]);
        // the repeats copy the last cell at stride 1; the first cell keeps its stride
        let strides: Vec<usize> = scaled.stages[1]
            .cells
            .iter()
            .map(|c| match c.block {
                Block::Mobile { stride, out, .. } => {
                    assert_eq!(out, if stride == 2 { 32 } else { 40 });
                    stride
                }
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(strides, [2, 1, 1]);
        assert!(scaled.lower().unwrap().macs() > arch().lower().unwrap().macs() * 2);
    }

    #[test]
    fn phi_zero_only_rounds_widths_and_a_huge_phi_is_refused() {
        let same = arch().scaled(0).unwrap();
        assert_eq!(same.input, [1, 28, 28]);
        assert_eq!(same.stages[1].cells.len(), 2);
        // 30 -> 32: the width is rounded to a multiple of 8 even at phi 0
        assert!(matches!(
            same.stages[1].cells[1].block,
            Block::Mobile { out: 32, .. }
        ));
        let err = arch().scaled(MAX_PHI + 1).unwrap_err().to_string();
        assert!(err.contains("--phi"), "{err}");
    }
}
