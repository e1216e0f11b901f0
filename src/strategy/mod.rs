//! One interface over the search strategies (REINFORCE, random search, regularised evolution):
//! `ask` for assignments, `tell` their rewards, `checkpoint` the whole state for the store.

mod evolution;
mod random;
mod reinforce;
#[allow(clippy::module_inception)]
mod strategy;
#[cfg(test)]
mod tests;

pub use evolution::{mutate, Evolution, EvolutionConfig};
pub use random::RandomSearch;
pub use reinforce::Reinforce;
pub use strategy::{build, restore, Strategy, StrategyConfig, StrategyKind};
