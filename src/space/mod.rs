//! Search spaces: the file format, its validation, the decision points and decoding.

mod cells;
pub mod decision;
mod location;
mod raw;
#[allow(clippy::module_inception)]
mod space;
mod table;
mod validate;

pub use cells::{CellType, CellsSpace, Choices, Setting, SETTINGS};
pub use decision::{Decision, DecisionKind, Decisions};
pub use raw::FORMAT_VERSION;
pub use space::{shipped, shipped_dir, Space, SpaceBody};
pub use table::{Fidelity, TableRow, TableSpace};
#[cfg(test)]
mod tests;
