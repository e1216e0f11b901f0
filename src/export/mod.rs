//! Export: a searched architecture or a zoo net as readable candle-nn Rust code whose parameter
//! paths are the engine's, its weights as safetensors, its description as JSON, and optionally
//! a ready crate that classifies images with it.

mod cells;
mod files;
mod info;
mod krate;
mod source;
mod walk;
mod weights;

pub use files::{
    best_candidates, candidate_arch, export_arch, export_candidate, export_zoo, Exported,
};
pub use info::{identifier, ExportInfo, ExportOptions, ExportTarget, Normalisation};
pub use krate::{main_source, manifest};
pub use source::{rust_source, rustfmt};
pub use weights::fresh_weights;

#[cfg(test)]
mod tests;
