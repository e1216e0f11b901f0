//! The REINFORCE controller of Zoph and Le: an LSTM policy over the decision points, its
//! sampling, log-probabilities and entropy, learning with a moving-average baseline, and its
//! exact checkpoint.

mod adam;
mod checkpoint;
mod config;
#[allow(clippy::module_inception)]
mod controller;
mod policy;
pub mod rng;

pub use config::{ControllerConfig, MAX_HIDDEN};
pub use controller::{Controller, UpdateStats};
pub use policy::{check_assignment, check_decisions};
#[cfg(test)]
pub(crate) mod tests;
