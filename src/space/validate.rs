//! The second phase of reading a space file: checking the raw values and building the
//! validated [`CellsSpace`]. Every check reports the line and field of the offending value.

use std::collections::HashSet;

use toml::Spanned;

use super::cells::{CellType, CellsSpace, Choices, Setting};
use super::location::Source;
use super::raw::{RawCellsSpace, RawChoices, FORMAT_VERSION};
use crate::arch::{Reduce, MAX_KERNEL};
use crate::error::{Error, Result};
use crate::graph::{MAX_CLASSES, MAX_INPUT_CHANNELS, MAX_INPUT_SIDE};

/// Largest stage count, cell count and channel count a space may ask for (kernels: as an
/// architecture may have).
const MAX_STAGES: usize = 6;
const MAX_CELLS: usize = 8;
const MAX_CHANNELS: usize = 4096;

/// Checks the `version` field of any space file.
pub fn check_version(src: &Source, version: &Spanned<u32>) -> Result<()> {
    if *version.get_ref() != FORMAT_VERSION {
        return Err(src.error(
            version.span(),
            "version",
            format!(
                "format version {} is not supported; this nas reads version {FORMAT_VERSION}",
                version.get_ref()
            ),
        ));
    }
    Ok(())
}

/// Validates a raw cell space.
pub fn cells(src: &Source, raw: RawCellsSpace) -> Result<CellsSpace> {
    check_version(src, &raw.version)?;
    let (input, classes) = match &raw.input {
        None => ([1, 28, 28], 10),
        Some(inp) => {
            let shape = inp.shape.get_ref();
            if shape.len() != 3 || shape.contains(&0) {
                return Err(src.error(
                    inp.shape.span(),
                    "input.shape",
                    "must be three positive numbers: [channels, height, width]",
                ));
            }
            if shape[0] > MAX_INPUT_CHANNELS || shape[1..].iter().any(|&d| d > MAX_INPUT_SIDE) {
                return Err(src.error(
                    inp.shape.span(),
                    "input.shape",
                    format!("{shape:?} is too large: at most {MAX_INPUT_CHANNELS} channels and sides of {MAX_INPUT_SIDE}"),
                ));
            }
            positive(src, &inp.classes, "input.classes", 2, MAX_CLASSES)?;
            ([shape[0], shape[1], shape[2]], *inp.classes.get_ref())
        }
    };
    let sk = &raw.skeleton;
    positive(
        src,
        &sk.stem_channels,
        "skeleton.stem_channels",
        1,
        MAX_CHANNELS,
    )?;
    positive(src, &sk.stages, "skeleton.stages", 1, MAX_STAGES)?;
    let stem_kernel = match &sk.stem_kernel {
        Some(k) => odd_kernel(src, k.span(), "skeleton.stem_kernel", *k.get_ref())?,
        None => 3,
    };
    let reduce = match sk.reduce.get_ref().as_str() {
        "conv" => Reduce::Conv,
        "max_pool" => Reduce::MaxPool,
        "transition" => Reduce::Transition,
        "stride" => Reduce::Stride,
        other => {
            return Err(src.error(
                sk.reduce.span(),
                "skeleton.reduce",
                format!(
                    "unknown reduction `{other}`; expected conv, max_pool, transition or stride"
                ),
            ))
        }
    };
    let growth = *sk.channel_growth.get_ref();
    if !(1.0..=4.0).contains(&growth) {
        return Err(src.error(
            sk.channel_growth.span(),
            "skeleton.channel_growth",
            format!("{growth} is out of range; expected 1.0 to 4.0"),
        ));
    }
    let dropout = match &sk.dropout {
        Some(d) if !(0.0..1.0).contains(d.get_ref()) => {
            return Err(src.error(d.span(), "skeleton.dropout", "must be in [0, 1)"))
        }
        Some(d) => *d.get_ref(),
        None => 0.0,
    };
    let choices = choices(src, &raw.choices)?;
    if reduce == Reduce::Stride {
        stride_reduce(src, &raw.choices, &choices, sk.reduce.span())?;
    }
    let space = CellsSpace {
        input,
        classes,
        stem_channels: *sk.stem_channels.get_ref(),
        stem_kernel,
        stages: *sk.stages.get_ref(),
        reduce,
        channel_growth: growth,
        dropout,
        choices,
    };
    if space.stage_channels(space.stages - 1) > MAX_CHANNELS {
        return Err(src.error(
            sk.channel_growth.span(),
            "skeleton.channel_growth",
            format!("the last stage would have more than {MAX_CHANNELS} channels"),
        ));
    }
    Ok(space)
}

fn choices(src: &Source, raw: &RawChoices) -> Result<Choices> {
    let cells_per_stage = list(
        src,
        &raw.cells_per_stage,
        "choices.cells_per_stage",
        1,
        MAX_CELLS,
    )?;
    let cell = cell_types(src, &raw.cell)?;
    let kernel = list(src, &raw.kernel, "choices.kernel", 1, MAX_KERNEL)?;
    for &k in &kernel {
        odd_kernel(src, raw.kernel.span(), "choices.kernel", k)?;
    }
    let used = |s: Setting| cell.iter().any(|c| c.settings().contains(&s));
    let setting = |opt: &Option<Spanned<Vec<usize>>>, s: Setting, lo, hi| -> Result<Vec<usize>> {
        let field = format!("choices.{}", s.name());
        match (opt, used(s)) {
            (Some(v), true) => list(src, v, &field, lo, hi),
            (Some(v), false) => Err(unused(src, v.span(), &field, s)),
            (None, true) => Err(src.error(
                raw.cell.span(),
                &field,
                format!("required because `cell` includes {}", users(s)),
            )),
            (None, false) => Ok(vec![]),
        }
    };
    let expansion = setting(&raw.expansion, Setting::Expansion, 1, 16)?;
    let groups = setting(&raw.groups, Setting::Groups, 1, 64)?;
    let branches = setting(&raw.branches, Setting::Branches, 1, 4)?;
    let growth = setting(&raw.growth, Setting::Growth, 1, 256)?;
    let layers = setting(&raw.layers, Setting::Layers, 1, 16)?;
    let columns = setting(&raw.columns, Setting::Columns, 2, 4)?;
    let se = match (&raw.se, used(Setting::Se)) {
        (Some(v), true) => flags(src, v, "choices.se")?,
        (Some(v), false) => return Err(unused(src, v.span(), "choices.se", Setting::Se)),
        (None, true) => {
            return Err(src.error(
                raw.cell.span(),
                "choices.se",
                format!("required because `cell` includes {}", users(Setting::Se)),
            ))
        }
        (None, false) => vec![],
    };
    if let (Some(p), Some(s)) = (&raw.per_stage, &raw.skip_inputs) {
        if *p.get_ref() && *s.get_ref() {
            return Err(src.error(
                s.span(),
                "choices.skip_inputs",
                "cannot be used with per_stage = true: skip inputs are chosen cell by cell",
            ));
        }
    }
    let width = match (&raw.width, used(Setting::Width)) {
        (Some(w), true) => fractions(src, w, "choices.width", 0.0625, 8.0)?,
        (Some(w), false) => return Err(unused(src, w.span(), "choices.width", Setting::Width)),
        (None, _) => vec![1.0],
    };
    let fraction = |list: &Option<Spanned<Vec<f64>>>, s: Setting, lo, hi| match (list, used(s)) {
        (Some(v), true) => fractions(src, v, &format!("choices.{}", s.name()), lo, hi),
        (Some(v), false) => Err(unused(src, v.span(), &format!("choices.{}", s.name()), s)),
        (None, true) => Err(src.error(
            raw.cell.span(),
            &format!("choices.{}", s.name()),
            format!("required because `cell` includes {}", users(s)),
        )),
        (None, false) => Ok(vec![]),
    };
    let squeeze = fraction(&raw.squeeze, Setting::Squeeze, 0.0625, 1.0)?;
    let split = fraction(&raw.split, Setting::Split, 0.05, 0.95)?;
    let preact = match (&raw.preact, used(Setting::Preact)) {
        (Some(p), true) => flags(src, p, "choices.preact")?,
        (Some(p), false) => return Err(unused(src, p.span(), "choices.preact", Setting::Preact)),
        (None, _) => vec![false],
    };
    Ok(Choices {
        cells_per_stage,
        cell,
        kernel,
        width,
        expansion,
        groups,
        branches,
        growth,
        layers,
        skip_inputs: raw
            .skip_inputs
            .as_ref()
            .map(|s| *s.get_ref())
            .unwrap_or(false),
        squeeze,
        split,
        preact,
        columns,
        se,
        per_stage: raw.per_stage.as_ref().is_some_and(|p| *p.get_ref()),
    })
}

/// `reduce = "stride"` hands the stride to each stage's first cell, so every cell must be a
/// mobile cell, and no cell may read the stage input, which is at the previous resolution.
fn stride_reduce(
    src: &Source,
    raw: &RawChoices,
    choices: &Choices,
    span: std::ops::Range<usize>,
) -> Result<()> {
    if choices.cell.iter().any(|c| *c != CellType::Mobile) {
        return Err(src.error(
            span,
            "skeleton.reduce",
            "\"stride\" strides the first cell of a stage, so `choices.cell` must be [\"mobile\"]",
        ));
    }
    match &raw.skip_inputs {
        Some(s) if *s.get_ref() => Err(src.error(
            s.span(),
            "choices.skip_inputs",
            "cannot be used with reduce = \"stride\": the stage input is at the previous resolution",
        )),
        _ => Ok(()),
    }
}

fn users(s: Setting) -> String {
    let kinds: Vec<&str> = CellType::ALL
        .iter()
        .filter(|c| c.settings().contains(&s))
        .map(|c| c.name())
        .collect();
    kinds.join(" or ")
}

fn unused(src: &Source, span: std::ops::Range<usize>, field: &str, s: Setting) -> Error {
    src.error(
        span,
        field,
        format!(
            "applies only to {} cells, which `cell` does not include",
            users(s)
        ),
    )
}

fn cell_types(src: &Source, raw: &Spanned<Vec<String>>) -> Result<Vec<CellType>> {
    let mut out = Vec::new();
    for name in raw.get_ref() {
        let Some(t) = CellType::ALL.iter().find(|c| c.name() == name) else {
            return Err(src.error(
                raw.span(),
                "choices.cell",
                format!(
                    "unknown cell type `{name}`; expected residual, bottleneck, inception, dense, fire, fractal or mobile"
                ),
            ));
        };
        if out.contains(t) {
            return Err(src.error(
                raw.span(),
                "choices.cell",
                format!("`{name}` is listed twice"),
            ));
        }
        out.push(*t);
    }
    if out.is_empty() {
        return Err(src.error(
            raw.span(),
            "choices.cell",
            "must list at least one cell type",
        ));
    }
    Ok(out)
}

fn list(
    src: &Source,
    raw: &Spanned<Vec<usize>>,
    field: &str,
    lo: usize,
    hi: usize,
) -> Result<Vec<usize>> {
    let values = raw.get_ref();
    if values.is_empty() {
        return Err(src.error(raw.span(), field, "must list at least one option"));
    }
    let mut seen = HashSet::new();
    for &v in values {
        if v < lo || v > hi {
            return Err(src.error(
                raw.span(),
                field,
                format!("{v} is out of range {lo} to {hi}"),
            ));
        }
        if !seen.insert(v) {
            return Err(src.error(raw.span(), field, format!("{v} is listed twice")));
        }
    }
    Ok(values.clone())
}

/// A list of distinct numbers in `lo..=hi` (widths and fire fractions).
fn fractions(
    src: &Source,
    raw: &Spanned<Vec<f64>>,
    field: &str,
    lo: f64,
    hi: f64,
) -> Result<Vec<f64>> {
    let values = raw.get_ref();
    if values.is_empty() {
        return Err(src.error(raw.span(), field, "must list at least one option"));
    }
    for (i, &w) in values.iter().enumerate() {
        if !(lo..=hi).contains(&w) {
            return Err(src.error(
                raw.span(),
                field,
                format!("{w} is out of range {lo} to {hi}"),
            ));
        }
        if values[..i].contains(&w) {
            return Err(src.error(raw.span(), field, format!("{w} is listed twice")));
        }
    }
    Ok(values.clone())
}

/// A list of distinct booleans (`[false, true]` makes the setting a decision).
fn flags(src: &Source, raw: &Spanned<Vec<bool>>, field: &str) -> Result<Vec<bool>> {
    let values = raw.get_ref();
    if values.is_empty() {
        return Err(src.error(raw.span(), field, "must list at least one option"));
    }
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(src.error(raw.span(), field, format!("{v} is listed twice")));
        }
    }
    Ok(values.clone())
}

fn positive(src: &Source, v: &Spanned<usize>, field: &str, lo: usize, hi: usize) -> Result<()> {
    let x = *v.get_ref();
    if x < lo || x > hi {
        return Err(src.error(v.span(), field, format!("{x} is out of range {lo} to {hi}")));
    }
    Ok(())
}

fn odd_kernel(src: &Source, span: std::ops::Range<usize>, field: &str, k: usize) -> Result<usize> {
    if k.is_multiple_of(2) || k > MAX_KERNEL {
        return Err(src.error(
            span,
            field,
            format!("kernel {k} must be odd, 1 to {MAX_KERNEL}"),
        ));
    }
    Ok(k)
}
