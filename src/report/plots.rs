//! The report's charts, drawn by `plotters` into SVG strings, and what they share: sizes,
//! colours, axes and legends. Search progress lives here; accuracy against size in
//! `size_plot`, the controller and the epochs of training in `training_plots`. Each chart takes
//! the gathered `model` and returns one `<svg>` element; none reads the store.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::model::{best_so_far, RunReport};
use crate::error::{Error, Result};
use crate::store::Status;

/// Chart size in SVG user units; the page scales it to the screen through its viewBox.
pub(super) const SIZE: (u32, u32) = (640, 380);
pub(super) const SMALL: (u32, u32) = (520, 320);
pub(super) const FONT: &str = "sans-serif";

/// Colours of runs 0, 1, 2, ... (a colour-blind-safe palette).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
];
pub(super) const FRONT: RGBColor = RGBColor(200, 30, 45);
pub(super) const GRID: RGBColor = RGBColor(235, 235, 235);
pub(super) const INK: RGBColor = RGBColor(60, 60, 60);

/// The colour of run `i`.
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The CSS form of run `i`'s colour, for legends drawn in HTML.
pub fn css_colour(i: usize) -> String {
    let RGBColor(r, g, b) = colour(i);
    format!("#{r:02x}{g:02x}{b:02x}")
}

pub(super) fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Invalid {
        what: "report plot".into(),
        msg: e.to_string(),
    }
}

/// Draws into a fresh SVG of `size` and returns its text.
pub(super) fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    Ok(out)
}

/// A range around `values` with a little room, never empty.
pub(super) fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.06).max(1e-3);
    (lo - pad, hi + pad)
}

/// Reward of every completed candidate against its index, and the best so far, one colour
/// per run.
pub fn progress(runs: &[RunReport]) -> Result<String> {
    let done = |r: &RunReport| -> Vec<(f64, f64)> {
        r.candidates
            .iter()
            .filter(|c| c.status == Status::Completed && c.reward.is_finite())
            .map(|c| (c.id as f64, c.reward))
            .collect()
    };
    let points: Vec<Vec<(f64, f64)>> = runs.iter().map(done).collect();
    let x_max = runs
        .iter()
        .map(|r| r.candidates.len())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (y_lo, y_hi) = span(points.iter().flatten().map(|p| p.1));
    svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(42)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..x_max, y_lo..y_hi)
            .map_err(plot_error)?;
        mesh(&mut chart, "candidate (in search order)", "reward")?;
        for (i, (run, pts)) in runs.iter().zip(&points).enumerate() {
            let c = colour(i);
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.mix(0.45).filled())))
                .map_err(plot_error)?;
            let steps = steps(&best_so_far(&run.candidates), x_max);
            chart
                .draw_series(LineSeries::new(steps, c.stroke_width(3)))
                .map_err(plot_error)?
                .label(format!("{} best so far", run.name))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                });
        }
        legend(&mut chart)
    })
}

/// A best-so-far series as a staircase that runs on to `x_end`.
pub(super) fn steps(best: &[(u64, f64)], x_end: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for &(id, b) in best {
        if let Some(&(_, last)) = out.last() {
            if last != b {
                out.push((id as f64, last));
            }
        }
        out.push((id as f64, b));
    }
    if let Some(&(_, last)) = out.last() {
        out.push((x_end, last));
    }
    out
}

pub(super) type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

pub(super) fn mesh(chart: &mut Chart, x: &str, y: &str) -> Result<()> {
    chart
        .configure_mesh()
        .max_light_lines(0)
        .bold_line_style(GRID)
        .axis_style(INK)
        .x_desc(x)
        .y_desc(y)
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|v| whole(*v))
        .label_style((FONT, 16))
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(plot_error)
}

pub(super) fn legend<'a, 'b: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, CT>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font((FONT, 15))
        .draw()
        .map_err(plot_error)
}

/// 1234 -> "1.2k", 3400000 -> "3.4M": short tick labels for a log axis.
pub fn short_count(v: f64) -> String {
    let (scaled, unit) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let text = if scaled.fract().abs() < 1e-9 || scaled >= 100.0 {
        format!("{scaled:.0}")
    } else {
        format!("{scaled:.1}")
    };
    format!("{text}{unit}")
}

/// Tick labels of a whole-number axis (candidates, updates, epochs): no decimals.
pub(super) fn whole(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}
