//! Cell spaces: a validated skeleton plus the choices, the flat decision list a strategy fills,
//! and `decode`, which turns one assignment into an [`Architecture`].

use num_bigint::BigUint;
use serde::Serialize;

use super::decision::{Decision, DecisionKind};
use crate::arch::{Architecture, Block, Cell, Reduce, Stage, Stem};
use crate::error::{Error, Result};

/// The kinds of cell a space can offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellType {
    Residual,
    Bottleneck,
    Inception,
    Dense,
    Fire,
    Fractal,
    Mobile,
}

impl CellType {
    /// All kinds, in file order.
    pub const ALL: [CellType; 7] = [
        CellType::Residual,
        CellType::Bottleneck,
        CellType::Inception,
        CellType::Dense,
        CellType::Fire,
        CellType::Fractal,
        CellType::Mobile,
    ];

    /// The name used in space files.
    pub fn name(self) -> &'static str {
        match self {
            CellType::Residual => "residual",
            CellType::Bottleneck => "bottleneck",
            CellType::Inception => "inception",
            CellType::Dense => "dense",
            CellType::Fire => "fire",
            CellType::Fractal => "fractal",
            CellType::Mobile => "mobile",
        }
    }

    /// The settings (besides `kernel`) that shape a cell of this kind.
    pub fn settings(self) -> &'static [Setting] {
        match self {
            CellType::Residual => &[Setting::Width, Setting::Preact],
            CellType::Bottleneck => &[
                Setting::Width,
                Setting::Expansion,
                Setting::Groups,
                Setting::Preact,
            ],
            CellType::Inception => &[Setting::Width, Setting::Branches],
            CellType::Dense => &[Setting::Growth, Setting::Layers],
            CellType::Fire => &[Setting::Width, Setting::Squeeze, Setting::Split],
            CellType::Fractal => &[Setting::Width, Setting::Columns],
            CellType::Mobile => &[Setting::Width, Setting::Expansion, Setting::Se],
        }
    }
}

/// A per-cell setting the controller may choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    Type,
    Kernel,
    Width,
    Expansion,
    Groups,
    Branches,
    Growth,
    Layers,
    Squeeze,
    Split,
    Preact,
    Columns,
    Se,
}

/// Number of settings: the length of the option-index array `CellsSpace::block` reads.
pub const SETTINGS: usize = 13;

impl Setting {
    /// Field name in the `[choices]` table.
    pub fn name(self) -> &'static str {
        match self {
            Setting::Type => "cell",
            Setting::Kernel => "kernel",
            Setting::Width => "width",
            Setting::Expansion => "expansion",
            Setting::Groups => "groups",
            Setting::Branches => "branches",
            Setting::Growth => "growth",
            Setting::Layers => "layers",
            Setting::Squeeze => "squeeze",
            Setting::Split => "split",
            Setting::Preact => "preact",
            Setting::Columns => "columns",
            Setting::Se => "se",
        }
    }

    /// Every setting, in decision order (`Setting as usize`).
    pub const ORDER: [Setting; SETTINGS] = [
        Setting::Type,
        Setting::Kernel,
        Setting::Width,
        Setting::Expansion,
        Setting::Groups,
        Setting::Branches,
        Setting::Growth,
        Setting::Layers,
        Setting::Squeeze,
        Setting::Split,
        Setting::Preact,
        Setting::Columns,
        Setting::Se,
    ];
}

/// The validated choices of a cell space.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Choices {
    pub cells_per_stage: Vec<usize>,
    pub cell: Vec<CellType>,
    pub kernel: Vec<usize>,
    pub width: Vec<f64>,
    pub expansion: Vec<usize>,
    pub groups: Vec<usize>,
    pub branches: Vec<usize>,
    pub growth: Vec<usize>,
    pub layers: Vec<usize>,
    pub skip_inputs: bool,
    /// Fire squeeze widths, as fractions of the cell's output width.
    pub squeeze: Vec<f64>,
    /// Fire expand splits: the fraction of the output width that the kxk expansion takes.
    pub split: Vec<f64>,
    /// Pre-activation (ResNet v2) of residual and bottleneck cells, off or on.
    pub preact: Vec<bool>,
    /// Columns of fractal cells.
    pub columns: Vec<usize>,
    /// Squeeze-and-excitation off or on (mobile cells).
    pub se: Vec<bool>,
    /// Settings chosen once per stage for all its cells (MnasNet's factorised space), not per cell.
    pub per_stage: bool,
}

impl Choices {
    /// Number of options of a setting (1 for a setting the space does not use).
    pub fn count(&self, setting: Setting) -> usize {
        let n = match setting {
            Setting::Type => self.cell.len(),
            Setting::Kernel => self.kernel.len(),
            Setting::Width => self.width.len(),
            Setting::Expansion => self.expansion.len(),
            Setting::Groups => self.groups.len(),
            Setting::Branches => self.branches.len(),
            Setting::Growth => self.growth.len(),
            Setting::Layers => self.layers.len(),
            Setting::Squeeze => self.squeeze.len(),
            Setting::Split => self.split.len(),
            Setting::Preact => self.preact.len(),
            Setting::Columns => self.columns.len(),
            Setting::Se => self.se.len(),
        };
        n.max(1)
    }

    /// Labels of a setting's options.
    pub fn labels(&self, setting: Setting) -> Vec<String> {
        fn list<T: ToString>(v: &[T]) -> Vec<String> {
            v.iter().map(|x| x.to_string()).collect()
        }
        match setting {
            Setting::Type => self.cell.iter().map(|c| c.name().to_string()).collect(),
            Setting::Kernel => list(&self.kernel),
            Setting::Width => list(&self.width),
            Setting::Expansion => list(&self.expansion),
            Setting::Groups => list(&self.groups),
            Setting::Branches => list(&self.branches),
            Setting::Growth => list(&self.growth),
            Setting::Layers => list(&self.layers),
            Setting::Squeeze => list(&self.squeeze),
            Setting::Split => list(&self.split),
            Setting::Preact => list(&self.preact),
            Setting::Columns => list(&self.columns),
            Setting::Se => self.se.iter().map(|&on| on_off(on).to_string()).collect(),
        }
    }

    /// True when some offered cell kind uses the setting.
    fn used(&self, setting: Setting) -> bool {
        matches!(setting, Setting::Type | Setting::Kernel)
            || self.cell.iter().any(|c| c.settings().contains(&setting))
    }
}

/// A validated cell space.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellsSpace {
    pub input: [usize; 3],
    pub classes: usize,
    pub stem_channels: usize,
    pub stem_kernel: usize,
    pub stages: usize,
    pub reduce: Reduce,
    pub channel_growth: f64,
    pub dropout: f64,
    pub choices: Choices,
}

/// What one decision point sets: the structure `decode` walks alongside the decision list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Cells {
        stage: usize,
    },
    Setting {
        stage: usize,
        cell: usize,
        setting: Setting,
    },
    Skip {
        stage: usize,
        cell: usize,
        from: usize,
    },
}

impl CellsSpace {
    /// Base channel count of stage `s` (0-based).
    pub fn stage_channels(&self, s: usize) -> usize {
        let c = self.stem_channels as f64 * self.channel_growth.powi(s as i32);
        (c.round() as usize).max(1)
    }

    fn max_cells(&self) -> usize {
        self.choices
            .cells_per_stage
            .iter()
            .copied()
            .max()
            .unwrap_or(1)
    }

    /// Global anchor id of anchor `k` of stage `s` (0 is the stage input).
    fn anchor_id(&self, s: usize, k: usize) -> usize {
        s * (self.max_cells() + 1) + k
    }

    /// The decision points, in the order a controller visits them, with what each sets.
    fn slots(&self) -> Vec<(Decision, Slot)> {
        let ch = &self.choices;
        let mut out = Vec::new();
        for s in 0..self.stages {
            if ch.cells_per_stage.len() > 1 {
                let options = ch.cells_per_stage.iter().map(|n| n.to_string()).collect();
                let d = decision(format!("stage{}.cells", s + 1), options, None);
                out.push((d, Slot::Cells { stage: s }));
            }
            if ch.per_stage {
                for setting in Setting::ORDER {
                    if ch.count(setting) > 1 && ch.used(setting) {
                        let name = format!("stage{}.{}", s + 1, setting.name());
                        let slot = Slot::Setting {
                            stage: s,
                            cell: 0,
                            setting,
                        };
                        out.push((decision(name, ch.labels(setting), None), slot));
                    }
                }
                continue;
            }
            for j in 0..self.max_cells() {
                let first = out.len();
                let prefix = format!("stage{}.cell{}", s + 1, j + 1);
                for setting in Setting::ORDER {
                    if ch.count(setting) > 1 && ch.used(setting) {
                        let name = format!("{prefix}.{}", setting.name());
                        let slot = Slot::Setting {
                            stage: s,
                            cell: j,
                            setting,
                        };
                        out.push((decision(name, ch.labels(setting), None), slot));
                    }
                }
                if ch.skip_inputs {
                    for k in 0..j {
                        let from = self.anchor_id(s, k);
                        let to = self.anchor_id(s, j + 1);
                        let source = if k == 0 {
                            "input".to_string()
                        } else {
                            format!("cell{k}")
                        };
                        let mut d = decision(
                            format!("{prefix}.skip_from_{source}"),
                            vec!["no".into(), "yes".into()],
                            None,
                        );
                        d.kind = DecisionKind::Skip { from, to };
                        out.push((
                            d,
                            Slot::Skip {
                                stage: s,
                                cell: j,
                                from: k,
                            },
                        ));
                    }
                }
                if let Some((d, _)) = out.get_mut(first) {
                    d.anchor = Some(self.anchor_id(s, j + 1));
                }
            }
        }
        out
    }

    /// The decision points a strategy fills.
    pub fn decisions(&self) -> Vec<Decision> {
        self.slots().into_iter().map(|(d, _)| d).collect()
    }

    /// The architecture that `values` (one option index per decision) describes.
    pub fn decode(&self, values: &[usize]) -> Result<Architecture> {
        let slots = self.slots();
        check_values(&slots, values)?;
        let max = self.max_cells();
        let mut cells = vec![self.choices.cells_per_stage[0]; self.stages];
        let mut settings = vec![[0usize; SETTINGS]; self.stages * max];
        let mut skips = vec![Vec::new(); self.stages * max];
        for ((_, slot), &v) in slots.iter().zip(values) {
            match *slot {
                Slot::Cells { stage } => cells[stage] = self.choices.cells_per_stage[v],
                Slot::Setting {
                    stage,
                    cell,
                    setting,
                } => settings[stage * max + cell][setting as usize] = v,
                Slot::Skip { stage, cell, from } if v == 1 => skips[stage * max + cell].push(from),
                Slot::Skip { .. } => {}
            }
        }
        let stages = (0..self.stages)
            .map(|s| {
                let channels = self.stage_channels(s);
                let cells = (0..cells[s])
                    .map(|j| {
                        let at = s * max + if self.choices.per_stage { 0 } else { j };
                        let mut block = self.block(channels, &settings[at]);
                        if let Block::Mobile { stride, .. } = &mut block {
                            let strides = s > 0 && j == 0 && self.reduce == Reduce::Stride;
                            *stride = if strides { 2 } else { 1 };
                        }
                        Cell {
                            block,
                            skips: skips[s * max + j].clone(),
                        }
                    })
                    .collect();
                Stage {
                    reduce: (s > 0).then_some(self.reduce),
                    channels,
                    cells,
                }
            })
            .collect();
        Ok(Architecture {
            input: self.input,
            classes: self.classes,
            stem: Stem {
                channels: self.stem_channels,
                kernel: self.stem_kernel,
            },
            stages,
            dropout: self.dropout as f32,
        })
    }

    /// The block of one cell of a stage of `channels` base channels, from the option index of
    /// each setting (indexed by `Setting as usize`); weight sharing enumerates them all.
    pub(crate) fn block(&self, channels: usize, idx: &[usize; SETTINGS]) -> Block {
        let ch = &self.choices;
        let pick = |v: &Vec<usize>, s: Setting| v.get(idx[s as usize]).copied().unwrap_or(1);
        let kernel = pick(&ch.kernel, Setting::Kernel);
        let width = ch
            .width
            .get(idx[Setting::Width as usize])
            .copied()
            .unwrap_or(1.0);
        let out = ((channels as f64 * width).round() as usize).max(1);
        let fraction = |v: &Vec<f64>, s: Setting| v.get(idx[s as usize]).copied().unwrap_or(0.5);
        let preact = ch.preact.get(idx[Setting::Preact as usize]) == Some(&true);
        match ch.cell[idx[Setting::Type as usize]] {
            CellType::Residual => Block::Residual {
                kernel,
                out,
                preact,
            },
            CellType::Bottleneck => Block::Bottleneck {
                kernel,
                out,
                expansion: pick(&ch.expansion, Setting::Expansion),
                groups: pick(&ch.groups, Setting::Groups),
                preact,
            },
            CellType::Inception => Block::Inception {
                kernel,
                out,
                branches: pick(&ch.branches, Setting::Branches),
            },
            CellType::Dense => Block::Dense {
                kernel,
                growth: pick(&ch.growth, Setting::Growth),
                layers: pick(&ch.layers, Setting::Layers),
            },
            CellType::Fire => {
                let out = out.max(2);
                let squeeze = fraction(&ch.squeeze, Setting::Squeeze) * out as f64;
                let expand3 = (fraction(&ch.split, Setting::Split) * out as f64).round() as usize;
                let expand3 = expand3.clamp(1, out - 1);
                Block::Fire {
                    kernel,
                    squeeze: (squeeze.round() as usize).max(1),
                    expand1: out - expand3,
                    expand3,
                }
            }
            CellType::Fractal => Block::Fractal {
                kernel,
                out,
                columns: pick(&ch.columns, Setting::Columns),
            },
            // `decode` sets the stride of a stage's first cell
            CellType::Mobile => Block::Mobile {
                kernel,
                out,
                expansion: pick(&ch.expansion, Setting::Expansion),
                se: ch
                    .se
                    .get(idx[Setting::Se as usize])
                    .copied()
                    .unwrap_or(false),
                stride: 1,
            },
        }
    }

    /// Exact number of distinct networks: settings a cell kind ignores and cells beyond the
    /// chosen count are not counted twice.
    pub fn size(&self) -> BigUint {
        let ch = &self.choices;
        let per_cell: u64 = ch
            .cell
            .iter()
            .map(|c| {
                c.settings()
                    .iter()
                    .map(|&s| ch.count(s) as u64)
                    .product::<u64>()
            })
            .sum::<u64>()
            * ch.kernel.len() as u64;
        let mut stage = BigUint::from(0u32);
        if ch.per_stage {
            stage = BigUint::from(per_cell) * ch.cells_per_stage.len();
        }
        for &n in ch.cells_per_stage.iter().filter(|_| !ch.per_stage) {
            let mut ways = BigUint::from(1u32);
            for j in 0..n {
                ways *= per_cell;
                if ch.skip_inputs {
                    ways <<= j;
                }
            }
            stage += ways;
        }
        (0..self.stages).fold(BigUint::from(1u32), |acc, _| acc * &stage)
    }
}

/// The label of a yes/no setting's option.
fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn decision(name: String, options: Vec<String>, anchor: Option<usize>) -> Decision {
    Decision {
        name,
        options,
        kind: DecisionKind::Choice,
        anchor,
    }
}

fn check_values(slots: &[(Decision, Slot)], values: &[usize]) -> Result<()> {
    if values.len() != slots.len() {
        return Err(Error::Arch {
            path: None,
            msg: format!("expected {} decisions, got {}", slots.len(), values.len()),
        });
    }
    for ((d, _), &v) in slots.iter().zip(values) {
        if v >= d.options.len() {
            return Err(Error::Arch {
                path: None,
                msg: format!(
                    "decision `{}` has {} options, got index {v}",
                    d.name,
                    d.options.len()
                ),
            });
        }
    }
    Ok(())
}
