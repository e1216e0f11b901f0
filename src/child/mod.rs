//! Child networks: candle modules built from op graphs.

mod init;
mod net;
mod pooling;

pub use init::init_weights;
pub use net::{ChildNet, ConvLayer};
pub use pooling::{avg_pool, max_pool};

#[cfg(test)]
mod tests;
