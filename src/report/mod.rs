//! The HTML report of one or more runs: a renderer of what the store holds, never part of the
//! search loop. `model` gathers what to show from the store's read-only `RunView`s; `plots`,
//! `size_plot` and `training_plots` draw the charts as inline SVG with `plotters`;
//! `arch_drawing` draws architectures; `html` assembles one self-contained page.

mod arch_drawing;
mod html;
mod model;
mod page_assets;
mod plots;
mod size_plot;
mod training_plots;

#[cfg(test)]
mod tests;

pub use arch_drawing::draw as draw_architecture;
pub use html::{escape, render, REFRESH_SECONDS};
pub use model::{best_so_far, pareto, Report, RunReport, Update};
