//! The search-space file format as written: serde types that mirror the TOML one to one,
//! reject unknown fields and keep the byte span of every value, so validation can say which
//! line is wrong. `validate` turns them into a [`super::Space`].

use serde::Deserialize;
use toml::Spanned;

/// The file format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// A `kind = "cells"` space: a skeleton and the choices the controller fills.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCellsSpace {
    pub version: Spanned<u32>,
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// Read in phase one from the plain TOML table; here only so the field is not unknown.
    #[serde(default)]
    #[allow(dead_code)]
    pub kind: Option<Spanned<String>>,
    pub input: Option<RawInput>,
    pub skeleton: RawSkeleton,
    pub choices: RawChoices,
}

/// Default input shape and class count; a data set overrides both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    pub shape: Spanned<Vec<usize>>,
    pub classes: Spanned<usize>,
}

/// The fixed macro structure around the cells.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSkeleton {
    pub stem_channels: Spanned<usize>,
    #[serde(default)]
    pub stem_kernel: Option<Spanned<usize>>,
    pub stages: Spanned<usize>,
    pub reduce: Spanned<String>,
    pub channel_growth: Spanned<f64>,
    #[serde(default)]
    pub dropout: Option<Spanned<f64>>,
}

/// The decision points: each list holds the options of one setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChoices {
    pub cells_per_stage: Spanned<Vec<usize>>,
    pub cell: Spanned<Vec<String>>,
    pub kernel: Spanned<Vec<usize>>,
    #[serde(default)]
    pub width: Option<Spanned<Vec<f64>>>,
    #[serde(default)]
    pub expansion: Option<Spanned<Vec<usize>>>,
    #[serde(default)]
    pub groups: Option<Spanned<Vec<usize>>>,
    #[serde(default)]
    pub branches: Option<Spanned<Vec<usize>>>,
    #[serde(default)]
    pub growth: Option<Spanned<Vec<usize>>>,
    #[serde(default)]
    pub layers: Option<Spanned<Vec<usize>>>,
    #[serde(default)]
    pub skip_inputs: Option<Spanned<bool>>,
    #[serde(default)]
    pub squeeze: Option<Spanned<Vec<f64>>>,
    #[serde(default)]
    pub split: Option<Spanned<Vec<f64>>>,
    #[serde(default)]
    pub preact: Option<Spanned<Vec<bool>>>,
    #[serde(default)]
    pub columns: Option<Spanned<Vec<usize>>>,
    /// Squeeze-and-excitation options of mobile cells, `[false, true]` to search it.
    #[serde(default)]
    pub se: Option<Spanned<Vec<bool>>>,
    /// Choose the settings once per stage instead of once per cell.
    #[serde(default)]
    pub per_stage: Option<Spanned<bool>>,
}

/// A `kind = "table"` space: categorical decisions whose rewards come from a CSV file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTableSpace {
    pub version: Spanned<u32>,
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub kind: Spanned<String>,
    pub table: Spanned<String>,
    pub reward: Spanned<String>,
    #[serde(default)]
    pub decision: Vec<RawTableDecision>,
    /// Reward columns at several training costs, for successive halving without training.
    #[serde(default)]
    pub fidelity: Vec<RawFidelity>,
}

/// One fidelity of a table space: a reward column and what it cost to measure, in epochs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFidelity {
    pub column: Spanned<String>,
    pub epochs: Spanned<usize>,
}

/// One decision of a table space.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTableDecision {
    pub name: Spanned<String>,
    pub choices: Spanned<Vec<String>>,
}
