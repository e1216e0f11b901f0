//! The op graph every architecture lowers to, with parameter and MAC counting.

#[allow(clippy::module_inception)]
mod graph;
mod op;

pub use graph::{Graph, Node, NodeId, Shape};
pub use op::{Conv, Op, Pool};
