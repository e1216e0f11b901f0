//! The controller of Zoph and Le: an LSTM policy over the decision points, its sampling,
//! log-probabilities and entropy, learning by REINFORCE or PPO from advantages against moving
//! reward statistics, and its exact checkpoint.

mod adam;
mod checkpoint;
mod config;
#[allow(clippy::module_inception)]
mod controller;
mod learn;
mod policy;
pub mod rng;

pub use config::{Advantage, Algorithm, ControllerConfig, MAX_HIDDEN};
pub use controller::{Controller, UpdateStats};
pub use policy::{check_assignment, check_decisions};
#[cfg(test)]
mod learn_tests;
#[cfg(test)]
pub(crate) mod tests;
