//! ENAS (Pham et al. 2018): one shared network holds the weights of every option at every
//! position of a cell space; the LSTM controller samples paths through it; children are
//! trained one minibatch each on their share and rated on validation minibatches under the
//! shared weights, so a CPU search rates thousands of architectures instead of a dozen. The
//! best derived architectures are then trained stand-alone as ordinary candidates.

mod blocks;
mod config;
mod extents;
mod plan;
mod shared;

pub use config::{EnasConfig, KernelSharing};
pub use extents::Extents;
pub use shared::{SharedNet, SharedSgd};

#[cfg(test)]
mod tests;
