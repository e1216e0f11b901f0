//! Architectures: the settled networks a search space's decisions describe.

mod architecture;
mod check;
mod lower;
mod scale;

pub use architecture::{Architecture, Block, Cell, Reduce, Stage, Stem};
pub use check::MAX_COLUMNS;
pub use check::{
    MAX_BRANCHES, MAX_CELLS, MAX_CHANNELS, MAX_EXPANSION, MAX_GROWTH, MAX_KERNEL, MAX_LAYERS,
    MAX_NODES, MAX_STAGES,
};
pub(crate) use lower::squeeze_excite;
pub use lower::{bottleneck_width, inception_widths};
pub use scale::{multipliers, round_filters, round_repeats, MAX_PHI};

#[cfg(test)]
mod tests;
