//! What training did: the controller's mean reward, baseline and entropy per update, and one
//! candidate's validation accuracy per epoch, per halving rung and in its finalist training.

use plotters::prelude::*;

use super::model::{RunReport, Update};
use super::plots::{colour, legend, mesh, plot_error, span, svg, SMALL};
use crate::error::Result;
use crate::store::Candidate;

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
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..steps, rewards.0..rewards.1)
            .map_err(plot_error)?;
        mesh(&mut chart, "update", "reward")?;
        for &(i, run) in &learning {
            let c = colour(i);
            let series = |f: fn(&Update) -> Option<f64>| -> Vec<(f64, f64)> {
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
            .y_label_area_size(72)
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
            .y_label_area_size(72)
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
