//! The report's charts, drawn by `plotters` into SVG strings: search progress, accuracy against
//! size (log x), the controller's updates and a candidate's accuracy per epoch. Each function
//! takes the gathered `model` and returns one `<svg>` element; none reads the store.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::model::{accuracy, best_so_far, RunReport};
use crate::error::{Error, Result};
use crate::store::{Candidate, Status};

/// Chart size in SVG user units; the page scales it to the screen through its viewBox.
const SIZE: (u32, u32) = (640, 380);
const SMALL: (u32, u32) = (520, 320);
const FONT: &str = "sans-serif";

/// Colours of runs 0, 1, 2, ... (a colour-blind-safe palette).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
];
const FRONT: RGBColor = RGBColor(200, 30, 45);
const GRID: RGBColor = RGBColor(235, 235, 235);
const INK: RGBColor = RGBColor(60, 60, 60);

/// The colour of run `i`.
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The CSS form of run `i`'s colour, for legends drawn in HTML.
pub fn css_colour(i: usize) -> String {
    let RGBColor(r, g, b) = colour(i);
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Invalid {
        what: "report plot".into(),
        msg: e.to_string(),
    }
}

/// Draws into a fresh SVG of `size` and returns its text.
fn svg(
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
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
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

/// A log axis around `values` spanning at least a decade, so it always has a labelled tick.
fn log_span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = span(values.filter(|v| *v > 0.0).map(f64::log10));
    let (lo, hi) = match hi - lo {
        d if d < 1.0 => ((lo + hi) / 2.0 - 0.5, (lo + hi) / 2.0 + 0.5),
        _ => (lo, hi),
    };
    (10f64.powf(lo), 10f64.powf(hi))
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
            .y_label_area_size(56)
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
fn steps(best: &[(u64, f64)], x_end: f64) -> Vec<(f64, f64)> {
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

/// Which size a size plot puts on its x axis.
#[derive(Clone, Copy)]
pub enum SizeAxis {
    Params,
    Macs,
}

impl SizeAxis {
    fn of(self, c: &Candidate) -> u64 {
        match self {
            SizeAxis::Params => c.params,
            SizeAxis::Macs => c.macs,
        }
    }

    fn label(self) -> &'static str {
        match self {
            SizeAxis::Params => "parameters (log scale)",
            SizeAxis::Macs => "multiply-accumulates (log scale)",
        }
    }

    fn front(self, run: &RunReport) -> &[u64] {
        match self {
            SizeAxis::Params => &run.pareto_params,
            SizeAxis::Macs => &run.pareto_macs,
        }
    }
}

/// Whether any completed candidate of `runs` has this size measured.
pub fn has_size(runs: &[RunReport], axis: SizeAxis) -> bool {
    runs.iter()
        .flat_map(|r| &r.candidates)
        .any(|c| c.status == Status::Completed && axis.of(c) > 0)
}

/// Accuracy against size on a log axis: every completed candidate, each run's Pareto front as
/// a red staircase, and each run's best candidate labelled.
pub fn accuracy_vs_size(runs: &[RunReport], axis: SizeAxis) -> Result<String> {
    let measured = |r: &RunReport| -> Vec<(f64, f64, u64)> {
        r.candidates
            .iter()
            .filter(|c| c.status == Status::Completed && axis.of(c) > 0 && accuracy(c).is_finite())
            .map(|c| (axis.of(c) as f64, accuracy(c), c.id))
            .collect()
    };
    let points: Vec<Vec<(f64, f64, u64)>> = runs.iter().map(measured).collect();
    let (x_lo, x_hi) = log_span(points.iter().flatten().map(|p| p.0));
    let (y_lo, y_hi) = span(points.iter().flatten().map(|p| p.1));
    svg(SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d((x_lo..x_hi).log_scale(), y_lo..y_hi)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(GRID)
            .axis_style(INK)
            .x_desc(axis.label())
            .y_desc("accuracy")
            .x_labels(6)
            .x_label_formatter(&|v| short_count(*v))
            .label_style((FONT, 16))
            .axis_desc_style((FONT, 17))
            .draw()
            .map_err(plot_error)?;
        for (i, (run, pts)) in runs.iter().zip(&points).enumerate() {
            let c = colour(i);
            chart
                .draw_series(
                    pts.iter()
                        .map(|&(x, y, _)| Circle::new((x, y), 3, c.mix(0.45).filled())),
                )
                .map_err(plot_error)?
                .label(run.name.clone())
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.filled()));
            let front: Vec<(f64, f64)> = axis
                .front(run)
                .iter()
                .filter_map(|id| pts.iter().find(|p| p.2 == *id))
                .map(|p| (p.0, p.1))
                .collect();
            chart
                .draw_series(LineSeries::new(front_steps(&front), FRONT.stroke_width(2)))
                .map_err(plot_error)?;
            chart
                .draw_series(
                    front
                        .iter()
                        .map(|&p| Circle::new(p, 4, FRONT.stroke_width(2))),
                )
                .map_err(plot_error)?;
            if let Some(best) = run.best.first().filter(|b| axis.of(b) > 0) {
                let at = (axis.of(best) as f64, accuracy(best));
                chart
                    .draw_series([EmptyElement::at(at)
                        + Circle::new((0, 0), 6, BLACK.stroke_width(2))
                        + Text::new(
                            format!("best #{}", best.id),
                            (8, -18),
                            (FONT, 14).into_font().color(&BLACK),
                        )])
                    .map_err(plot_error)?;
            }
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                Vec::<(f64, f64)>::new(),
                FRONT,
            )))
            .map_err(plot_error)?
            .label("Pareto front")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], FRONT.stroke_width(2)));
        legend(&mut chart)
    })
}

/// A front's points joined as a staircase (accuracy holds until the next, larger net).
fn front_steps(front: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (i, &(x, y)) in front.iter().enumerate() {
        if i > 0 {
            out.push((x, front[i - 1].1));
        }
        out.push((x, y));
    }
    out
}

/// The controller's mean reward and baseline per update, and its entropy per update beside
/// them, for the runs whose strategy learns.
pub fn controller(runs: &[RunReport]) -> Result<(String, String)> {
    let learning: Vec<(usize, &RunReport)> = runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.has_controller())
        .collect();
    let steps = learning
        .iter()
        .flat_map(|(_, r)| r.updates.iter().map(|u| u.step))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let rewards = span(learning.iter().flat_map(|(_, r)| {
        r.updates
            .iter()
            .flat_map(|u| [u.mean_reward, u.baseline])
            .flatten()
    }));
    let entropy = span(
        learning
            .iter()
            .flat_map(|(_, r)| r.updates.iter().filter_map(|u| u.entropy)),
    );
    let reward_svg = svg(SMALL, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..steps, rewards.0..rewards.1)
            .map_err(plot_error)?;
        mesh(&mut chart, "update", "reward")?;
        for &(i, run) in &learning {
            let c = colour(i);
            let series = |f: fn(&super::model::Update) -> Option<f64>| -> Vec<(f64, f64)> {
                run.updates
                    .iter()
                    .filter_map(|u| f(u).map(|v| (u.step as f64, v)))
                    .collect()
            };
            chart
                .draw_series(LineSeries::new(
                    series(|u| u.mean_reward),
                    c.stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(format!("{} mean reward", run.name))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            chart
                .draw_series(DashedLineSeries::new(
                    series(|u| u.baseline),
                    6,
                    4,
                    c.mix(0.8).stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(format!("{} baseline", run.name))
                .legend(move |(x, y)| {
                    plotters::element::DashedPathElement::new(
                        vec![(x, y), (x + 18, y)],
                        4,
                        3,
                        c.stroke_width(2),
                    )
                });
        }
        legend(&mut chart)
    })?;
    let entropy_svg = svg(SMALL, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..steps, entropy.0..entropy.1)
            .map_err(plot_error)?;
        mesh(&mut chart, "update", "policy entropy (nats)")?;
        for &(i, run) in &learning {
            let c = colour(i);
            let pts: Vec<(f64, f64)> = run
                .updates
                .iter()
                .filter_map(|u| u.entropy.map(|e| (u.step as f64, e)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(plot_error)?
                .label(run.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        legend(&mut chart)
    })?;
    Ok((reward_svg, entropy_svg))
}

/// A candidate's validation accuracy per epoch, the accuracy at each halving rung, and its
/// finalist training's curve, where those exist; `None` when there is nothing to draw.
pub fn epochs(c: &Candidate) -> Result<Option<String>> {
    let curve: Vec<(f64, f64)> = c
        .epochs_val_acc
        .iter()
        .enumerate()
        .map(|(i, a)| ((i + 1) as f64, *a))
        .collect();
    let rungs: Vec<(f64, f64)> = c
        .rungs
        .iter()
        .map(|r| (r.epochs as f64, r.val_acc))
        .collect();
    let finalist: Vec<(f64, f64)> = c
        .finalist
        .iter()
        .flat_map(|f| {
            f.epochs_val_acc
                .iter()
                .enumerate()
                .map(|(i, a)| ((i + 1) as f64, *a))
        })
        .collect();
    if curve.is_empty() && rungs.is_empty() && finalist.is_empty() {
        return Ok(None);
    }
    let all = || curve.iter().chain(&rungs).chain(&finalist);
    let x_max = all().map(|p| p.0).fold(1.0, f64::max) + 0.5;
    let (y_lo, y_hi) = span(all().map(|p| p.1));
    svg(SMALL, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5f64..x_max, y_lo..y_hi)
            .map_err(plot_error)?;
        mesh(&mut chart, "epoch", "validation accuracy")?;
        let c0 = colour(0);
        if !curve.is_empty() {
            chart
                .draw_series(LineSeries::new(curve.clone(), c0.stroke_width(2)).point_size(3))
                .map_err(plot_error)?
                .label("search training")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c0.stroke_width(2))
                });
        }
        if !rungs.is_empty() {
            let c1 = colour(1);
            chart
                .draw_series(
                    rungs
                        .iter()
                        .map(|&p| TriangleMarker::new(p, 7, c1.filled())),
                )
                .map_err(plot_error)?
                .label("halving rungs")
                .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 6, c1.filled()));
        }
        if !finalist.is_empty() {
            let c2 = colour(2);
            chart
                .draw_series(LineSeries::new(finalist.clone(), c2.stroke_width(2)).point_size(3))
                .map_err(plot_error)?
                .label("finalist (whole training split)")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c2.stroke_width(2))
                });
        }
        legend(&mut chart)
    })
    .map(Some)
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn mesh(chart: &mut Chart, x: &str, y: &str) -> Result<()> {
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

fn legend<'a, 'b: 'a, CT: CoordTranslate>(
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
fn whole(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}
