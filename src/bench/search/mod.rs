//! `nas bench search`: strategies compared on a table space over budgets and seeds, as NASLib
//! does. Every (strategy, budget, seed) search runs on its own, in parallel over the cores, and
//! is scored by a column of the table (e.g. the 200-epoch test accuracy) of the candidate it
//! rated best.

mod compare;
mod ranking;
mod run_one;
#[cfg(test)]
mod tests;

pub use compare::{compare, CompareConfig, CompareEvent, CompareRow, Comparison, SeedResult};
pub use ranking::{mean_and_std, Ranking};
pub use run_one::{run_one, BestOfRun};
