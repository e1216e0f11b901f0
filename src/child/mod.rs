//! Child networks: candle modules built from op graphs.

mod infer;
mod init;
mod layers;
mod net;
mod pooling;
mod tape;

pub use init::init_weights;
pub use layers::{BatchNormLayer, ConvLayer, Kernels};
pub use net::ChildNet;
pub use pooling::{adaptive_avg_pool, avg_pool, max_pool};
pub use tape::Workspace;

#[cfg(test)]
mod infer_tests;
#[cfg(test)]
mod tape_tests;
#[cfg(test)]
mod tests;
