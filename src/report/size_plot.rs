//! Accuracy against size: every completed candidate against its parameters or its
//! multiply-accumulates on a log axis, with each run's Pareto front and best candidate marked.

use plotters::prelude::*;

use super::model::{accuracy, RunReport};
use super::plots::{
    colour, legend, plot_error, short_count, span, svg, FONT, FRONT, GRID, INK, SIZE,
};
use crate::error::Result;
use crate::store::{Candidate, Status};

/// A log axis around `values` spanning at least a decade, so it always has a labelled tick.
fn log_span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = span(values.filter(|v| *v > 0.0).map(f64::log10));
    let (lo, hi) = match hi - lo {
        d if d < 1.0 => ((lo + hi) / 2.0 - 0.5, (lo + hi) / 2.0 + 0.5),
        _ => (lo, hi),
    };
    (10f64.powf(lo), 10f64.powf(hi))
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
            .y_label_area_size(72)
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
