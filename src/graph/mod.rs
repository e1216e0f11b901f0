//! The op graph every architecture lowers to, with parameter and MAC counting.

mod drop_path;
#[allow(clippy::module_inception)]
mod graph;
mod limits;
mod op;

pub use graph::{Graph, Node, NodeId, Shape};
pub use limits::{check_input, MAX_CLASSES, MAX_INPUT_CHANNELS, MAX_INPUT_SIDE};
pub use op::{Conv, Op, Pool, BN_EPS};
