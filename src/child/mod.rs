//! Child networks: candle modules built from op graphs.

mod net;
mod pooling;

pub use net::{ChildNet, ConvLayer};
pub use pooling::{avg_pool, max_pool};

#[cfg(test)]
mod tests;
