//! `Architecture`: the settled result of a space's decisions. It holds only what shapes the
//! network (concrete channel counts, kernels, connections), never the decisions themselves, so
//! two decision vectors that build the same network give the same architecture and hash.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{one_line, Error, Result};

/// A searched network: stem, stages of cells, classifier head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    /// Input shape (C, H, W).
    pub input: [usize; 3],
    pub classes: usize,
    pub stem: Stem,
    pub stages: Vec<Stage>,
    /// Dropout before the classifier (0 for none).
    #[serde(default)]
    pub dropout: f32,
}

/// The first convolution (conv, batch norm, ReLU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stem {
    pub channels: usize,
    pub kernel: usize,
}

/// A run of cells at one resolution, entered through an optional down-sampling step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// How the stage halves the resolution; `None` for the first stage.
    pub reduce: Option<Reduce>,
    /// Base channel count of the stage (the output of a conv or transition reduction).
    pub channels: usize,
    pub cells: Vec<Cell>,
}

/// Down-sampling between stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduce {
    /// 3x3 stride-2 conv, batch norm, ReLU to the stage's channels.
    Conv,
    /// 2x2 max pooling; channels unchanged.
    MaxPool,
    /// DenseNet transition: batch norm, ReLU, 1x1 conv to the stage's channels, 2x2 avg pooling.
    Transition,
    /// No layer of its own: the stage's first cell strides by 2 (MnasNet, EfficientNet).
    Stride,
}

/// One cell and the earlier anchors of its stage that feed it besides its predecessor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    pub block: Block,
    /// Extra inputs, as anchor indices within the stage: 0 is the stage input, `k` is the
    /// output of cell `k - 1`. A cell always reads its predecessor (anchor of its own index).
    #[serde(default)]
    pub skips: Vec<usize>,
}

/// The kinds of cell and their settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Block {
    /// Basic residual block: two kxk convs and a shortcut (projected when widths differ).
    Residual {
        kernel: usize,
        out: usize,
        /// ResNet v2 ordering (BN, ReLU, conv; nothing after the sum); absent means false, so
        /// the hashes of architectures from before the setting do not change.
        #[serde(default, skip_serializing_if = "is_false")]
        preact: bool,
    },
    /// 1x1 reduce to `out / expansion`, grouped kxk, 1x1 expand, shortcut.
    Bottleneck {
        kernel: usize,
        out: usize,
        expansion: usize,
        groups: usize,
        /// As for `Residual`.
        #[serde(default, skip_serializing_if = "is_false")]
        preact: bool,
    },
    /// Parallel 1x1, 1x1-kxk, pool-1x1 and 1x1-kxk-kxk branches (the first `branches` of
    /// them), concatenated to `out` channels.
    Inception {
        kernel: usize,
        out: usize,
        branches: usize,
    },
    /// DenseNet-BC layers, each adding `growth` channels to the concatenation.
    Dense {
        kernel: usize,
        growth: usize,
        layers: usize,
    },
    /// SqueezeNet fire module: a 1x1 squeeze to `squeeze` channels, then parallel 1x1 and kxk
    /// expansions (`expand1` and `expand3` channels), concatenated.
    Fire {
        kernel: usize,
        squeeze: usize,
        expand1: usize,
        expand3: usize,
    },
    /// FractalNet block: `columns` columns of kxk conv-BN-ReLU units to `out` channels, the
    /// c-th holding 2^(c-1) units, joined by their mean wherever they meet.
    Fractal {
        kernel: usize,
        out: usize,
        columns: usize,
    },
    /// MBConv (MobileNetV2, EfficientNet): 1x1 expansion to `expansion` times the input
    /// (none at 1), depthwise kxk at `stride`, squeeze-and-excitation when `se`, 1x1
    /// projection to `out`; SiLU activations, identity shortcut at stride 1 and equal widths.
    Mobile {
        kernel: usize,
        out: usize,
        expansion: usize,
        se: bool,
        stride: usize,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Block {
    /// Lower-case name of the cell kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Block::Residual { .. } => "residual",
            Block::Bottleneck { .. } => "bottleneck",
            Block::Inception { .. } => "inception",
            Block::Dense { .. } => "dense",
            Block::Fire { .. } => "fire",
            Block::Fractal { .. } => "fractal",
            Block::Mobile { .. } => "mobile",
        }
    }
}

impl Architecture {
    /// Canonical hash: SHA-256 of the canonical JSON (sorted keys, sorted skips), 16 hex digits.
    pub fn hash(&self) -> String {
        let value = serde_json::to_value(self.canonical()).expect("architecture serialises");
        let digest = Sha256::digest(canonical_json(&value).as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The same network with its order-free parts (skip sets) in canonical order.
    pub fn canonical(&self) -> Architecture {
        let mut arch = self.clone();
        for cell in arch.stages.iter_mut().flat_map(|s| s.cells.iter_mut()) {
            cell.skips.sort_unstable();
            cell.skips.dedup();
        }
        arch
    }

    /// One-line description, e.g. `stem 16 | residual k3 16, residual k3 16 | ...`.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("stem {}", self.stem.channels)];
        for stage in &self.stages {
            let cells: Vec<String> = stage.cells.iter().map(cell_summary).collect();
            parts.push(cells.join(", "));
        }
        parts.join(" | ")
    }

    /// Parses an architecture from JSON text and checks it against the limits; `path` only
    /// labels errors.
    pub fn from_json(text: &str, path: Option<&Path>) -> Result<Architecture> {
        let error = |msg: String| Error::Arch {
            path: path.map(Path::to_path_buf),
            msg,
        };
        let arch: Architecture = serde_json::from_str(text).map_err(|e| {
            error(format!(
                "line {} column {}: {}",
                e.line(),
                e.column(),
                one_line(&e.to_string())
            ))
        })?;
        arch.check().map_err(error)?;
        Ok(arch)
    }

    /// Pretty JSON of the canonical form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.canonical()).expect("architecture serialises")
    }
}

fn cell_summary(cell: &Cell) -> String {
    let body = match cell.block {
        Block::Residual {
            kernel,
            out,
            preact,
        } => format!("residual k{kernel} {out}{}", pre(preact)),
        Block::Bottleneck {
            kernel,
            out,
            expansion,
            groups,
            preact,
        } => {
            format!(
                "bottleneck k{kernel} {out} e{expansion} g{groups}{}",
                pre(preact)
            )
        }
        Block::Inception {
            kernel,
            out,
            branches,
        } => format!("inception k{kernel} {out} b{branches}"),
        Block::Dense {
            kernel,
            growth,
            layers,
        } => format!("dense k{kernel} g{growth} x{layers}"),
        Block::Fire {
            kernel,
            squeeze,
            expand1,
            expand3,
        } => format!("fire k{kernel} s{squeeze} {expand1}+{expand3}"),
        Block::Fractal {
            kernel,
            out,
            columns,
        } => format!("fractal k{kernel} {out} c{columns}"),
        Block::Mobile {
            kernel,
            out,
            expansion,
            se,
            stride,
        } => {
            let se = if se { " se" } else { "" };
            let stride = if stride > 1 {
                format!(" s{stride}")
            } else {
                String::new()
            };
            format!("mobile k{kernel} {out} e{expansion}{se}{stride}")
        }
    };
    if cell.skips.is_empty() {
        body
    } else {
        let skips: Vec<String> = cell.skips.iter().map(|s| s.to_string()).collect();
        format!("{body} +skip[{}]", skips.join(","))
    }
}

fn pre(preact: bool) -> &'static str {
    if preact {
        " preact"
    } else {
        ""
    }
}

/// JSON with object keys sorted at every level, whatever map type serde_json was built with.
fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String((*k).clone()),
                        canonical_json(&map[*k])
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}
