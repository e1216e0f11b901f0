//! Architectures: the settled networks a search space's decisions describe.

mod architecture;
mod lower;

pub use architecture::{Architecture, Block, Cell, Reduce, Stage, Stem};
pub use lower::{bottleneck_width, inception_widths};
